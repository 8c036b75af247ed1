package auth

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// SecretFileName is the file in the data directory that keeps the generated
// signing secret when DECNET_JWT_SECRET is not set.
const SecretFileName = "jwt.secret"

// weakSecrets are values people paste from examples; they are rejected even
// when long enough.
var weakSecrets = []string{"secret", "changeme", "password", "admin", "decnet"}

// LoadSecret returns the signing secret: fromEnv when it is set, else the
// content of dataDir/jwt.secret, which is created with 64 random hex
// characters and mode 0600 when missing. A secret file readable by group or
// others has its mode tightened to 0600.
func LoadSecret(fromEnv, dataDir string) ([]byte, error) {
	if fromEnv != "" {
		if err := checkSecret(fromEnv); err != nil {
			return nil, fmt.Errorf("DECNET_JWT_SECRET: %w", err)
		}
		return []byte(fromEnv), nil
	}

	path := filepath.Join(dataDir, SecretFileName)
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return createSecret(path)
	}
	if err != nil {
		return nil, fmt.Errorf("auth: read %s: %w", path, err)
	}

	info, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("auth: stat %s: %w", path, err)
	}
	if info.Mode().Perm()&0o077 != 0 {
		if err := os.Chmod(path, 0o600); err != nil {
			return nil, fmt.Errorf("auth: restrict %s to mode 0600: %w", path, err)
		}
	}

	secret := strings.TrimSpace(string(b))
	if err := checkSecret(secret); err != nil {
		return nil, fmt.Errorf("auth: %s: %w: delete the file to generate a new secret", path, err)
	}
	return []byte(secret), nil
}

func createSecret(path string) ([]byte, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
		return nil, fmt.Errorf("auth: create directory for %s: %w", path, err)
	}
	secret, err := randomHex(32)
	if err != nil {
		return nil, err
	}

	// Write a temporary file, then hard-link it into place: the link fails
	// when the file exists, so when two workers start together one creates
	// the secret and the other reads the complete file.
	tmp, err := os.CreateTemp(filepath.Dir(path), ".jwt-secret-*")
	if err != nil {
		return nil, fmt.Errorf("auth: create %s: %w", path, err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.WriteString(secret + "\n"); err != nil {
		tmp.Close()
		return nil, fmt.Errorf("auth: write %s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return nil, fmt.Errorf("auth: write %s: %w", path, err)
	}

	err = os.Link(tmp.Name(), path)
	if errors.Is(err, fs.ErrExist) {
		return LoadSecret("", filepath.Dir(path))
	}
	if err != nil {
		return nil, fmt.Errorf("auth: create %s: %w", path, err)
	}
	return []byte(secret), nil
}

func checkSecret(s string) error {
	if len(s) < MinSecretLen {
		return fmt.Errorf("secret has %d bytes, need at least %d", len(s), MinSecretLen)
	}
	lower := strings.ToLower(s)
	for _, w := range weakSecrets {
		if strings.Trim(lower, w) == "" {
			return fmt.Errorf("secret is a repetition of %q", w)
		}
	}
	return nil
}
