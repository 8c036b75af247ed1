package ingest

import (
	"encoding/base64"
	"regexp"
	"strconv"

	"github.com/decnet/decnet/internal/services"
	"github.com/decnet/decnet/internal/store"
	"github.com/decnet/decnet/internal/store/sqlstore"
)

var base64Text = regexp.MustCompile(`^[A-Za-z0-9+/]*={0,2}$`)

// maxSecretBytes caps a decoded secret; longer secret_b64 values are dropped
// as credentials (the log row keeps them).
const maxSecretBytes = 64 << 10

// Observe derives what one decoded event adds to its attacker row and to the
// credentials table.
func Observe(e services.Event) sqlstore.Observation {
	o := sqlstore.Observation{Event: e}
	f := e.Fields

	if e.Kind == services.KindCommand {
		o.Command = f[services.FieldCommand]
		o.C2Endpoints = ExtractC2(o.Command)
		if u := f[services.FieldURL]; u != "" {
			if url, host := parseURLish(u); url != "" {
				o.C2Endpoints = appendNew(o.C2Endpoints, url, host)
			}
		}
	}

	fps := map[string]string{}
	for field, kind := range map[string]string{
		services.FieldHASSH:            store.FPHASSH,
		services.FieldHASSHAlgorithms:  store.FPHASSHAlgorithms,
		services.FieldSSHClientVersion: store.FPSSHClientVersion,
		"ja3":                          store.FPJA3,
	} {
		if v := f[field]; v != "" {
			fps[kind] = v
		}
	}
	if e.Kind == services.KindRequest && f[services.FieldUserAgent] != "" {
		fps[store.FPUserAgent] = f[services.FieldUserAgent]
	}
	if len(fps) > 0 {
		o.Fingerprints = fps
	}

	if h := f[services.FieldPayloadSHA256]; h != "" {
		o.PayloadHashes = append(o.PayloadHashes, h)
	}
	if h := f[services.FieldBodySHA256]; h != "" {
		if n, _ := strconv.ParseInt(f[services.FieldBodySize], 10, 64); n > 0 {
			o.PayloadHashes = append(o.PayloadHashes, h)
		}
	}

	if e.Kind == services.KindAuthAttempt {
		o.Credential = credential(f)
	}
	return o
}

// credential reads the secret of an auth_attempt event. A secret_b64 that is
// not base64 drops the credential; the log row still records the attempt.
func credential(f map[string]string) *sqlstore.CredentialAttempt {
	b64, ok := f[services.FieldSecretB64]
	if !ok || len(b64) > maxSecretBytes*4/3+4 || !base64Text.MatchString(b64) {
		return nil
	}
	secret, err := base64.StdEncoding.DecodeString(b64)
	if err != nil {
		return nil
	}
	return &sqlstore.CredentialAttempt{
		Principal:       f[services.FieldUsername],
		SecretKind:      f[services.FieldSecretKind],
		Secret:          secret,
		SecretPrintable: f[services.FieldSecretPrintable],
		Outcome:         f[services.FieldOutcome],
	}
}

func appendNew(list []string, vs ...string) []string {
	for _, v := range vs {
		found := false
		for _, x := range list {
			if x == v {
				found = true
				break
			}
		}
		if !found && v != "" {
			list = append(list, v)
		}
	}
	return list
}
