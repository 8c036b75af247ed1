package webhook

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"

	"go.yaml.in/yaml/v3"
)

// maxConfigBytes caps the YAML target file.
const maxConfigBytes = 1 << 20

// fileConfig is the YAML file layout:
//
//	targets:
//	  - name: siem
//	    kind: syslog
//	    subjects: [">"]
type fileConfig struct {
	Targets []Target `yaml:"targets"`
}

// LoadFile reads and validates the targets of a YAML file. Unknown keys are
// errors, so a typo does not silently disable a setting.
func LoadFile(path string, allowUnsafe bool) ([]Target, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("webhook: read %s: %w", path, err)
	}
	if len(b) > maxConfigBytes {
		return nil, fmt.Errorf("webhook: %s is larger than %d bytes", path, maxConfigBytes)
	}
	return ParseConfig(b, allowUnsafe)
}

// ParseConfig parses and validates YAML target definitions.
func ParseConfig(b []byte, allowUnsafe bool) ([]Target, error) {
	var cfg fileConfig
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(&cfg); err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("webhook: parse config: %w", err)
	}

	seen := map[string]bool{}
	for i, t := range cfg.Targets {
		if err := Validate(t, allowUnsafe); err != nil {
			return nil, fmt.Errorf("webhook: config target %d: %w", i+1, err)
		}
		if seen[t.Name] {
			return nil, fmt.Errorf("webhook: config: target name %q used twice", t.Name)
		}
		seen[t.Name] = true
	}
	return cfg.Targets, nil
}
