// Package generators synthesises canary artifacts from scratch: cloud
// credentials, repository and environment files, an SSH key, office
// documents and a database dump. Every generator is a pure function of
// the token context, so regenerating an artifact gives identical bytes.
// All variation (names, dates, secrets) is derived from the slug. No
// generated file contains a word that names the trap.
package generators

import (
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"strings"
	"time"

	"github.com/decnet/decnet/internal/canary/artifact"
	"github.com/decnet/decnet/internal/canary/placement"
)

// Generator builds one kind of artifact.
type Generator interface {
	// Name is the registry name, such as "aws_creds".
	Name() string
	// Kinds lists the token kinds the artifact can serve.
	Kinds() []artifact.Kind
	// Generate builds the artifact for tc.
	Generate(tc artifact.Context) (artifact.Artifact, error)
}

// registry lists the generators in a fixed order.
var registry = []Generator{
	awsCreds{}, gitConfig{}, envFile{}, sshKey{}, htmlReport{},
	docxReport{}, xlsxReport{}, pdfReport{}, mysqlDump{},
}

// Names returns the generator names in registry order.
func Names() []string {
	out := make([]string, len(registry))
	for i, g := range registry {
		out[i] = g.Name()
	}
	return out
}

// Get returns the generator with the given name.
func Get(name string) (Generator, error) {
	for _, g := range registry {
		if g.Name() == name {
			return g, nil
		}
	}
	return nil, fmt.Errorf("generator %q (want one of %s): %w", name, strings.Join(Names(), ", "), artifact.ErrUnknown)
}

// Generate validates tc, runs the named generator and fills in the
// generator name and default placement path.
func Generate(name string, tc artifact.Context) (artifact.Artifact, error) {
	g, err := Get(name)
	if err != nil {
		return artifact.Artifact{}, err
	}
	if err := tc.Validate(); err != nil {
		return artifact.Artifact{}, fmt.Errorf("generate %s: %w", name, err)
	}

	a, err := g.Generate(tc)
	if err != nil {
		return artifact.Artifact{}, fmt.Errorf("generate %s: %w", name, err)
	}
	a.Generator = name
	if a.Path, err = placement.Default(name, tc.Persona); err != nil {
		return artifact.Artifact{}, err
	}
	return a, nil
}

// derive returns 32 bytes that depend only on the slug and a label, so
// that each field of an artifact varies independently between tokens.
func derive(tc artifact.Context, label string) []byte {
	h := sha256.Sum256([]byte(label + "|" + strings.ToLower(tc.Slug)))
	return h[:]
}

// number returns a value in [0, n) derived from the slug and label.
func number(tc artifact.Context, label string, n int) int {
	return int(binary.BigEndian.Uint32(derive(tc, label)) % uint32(n))
}

// pick returns one element of pool chosen by the slug and label.
func pick(tc artifact.Context, label string, pool []string) string {
	return pool[number(tc, label, len(pool))]
}

// stamp returns a plausible past time derived from the slug: a day within
// 2024 and 2025 at office hours. Generators use it instead of the clock so
// output stays deterministic.
func stamp(tc artifact.Context, label string) time.Time {
	base := time.Date(2024, 1, 8, 0, 0, 0, 0, time.UTC)
	day := number(tc, label+"/day", 700)
	sec := 8*3600 + number(tc, label+"/sec", 9*3600)
	return base.AddDate(0, 0, day).Add(time.Duration(sec) * time.Second)
}

// dnsRequired returns an error when tc has no DNS zone.
func dnsRequired(name string, tc artifact.Context) error {
	if tc.DNSHost() == "" {
		return fmt.Errorf("%s needs a DNS zone (set dns_zone): %w", name, artifact.ErrKindMismatch)
	}
	return nil
}

// userName is the account name the persona's files belong to.
func userName(tc artifact.Context) string {
	if tc.Persona.IsWindows() {
		return "Administrator"
	}
	return "admin"
}
