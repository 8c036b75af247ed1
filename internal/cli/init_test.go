package cli

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestInitWritesUnitsAndKeepsEnvFile(t *testing.T) {
	dir := t.TempDir()
	envFile := filepath.Join(dir, "etc", "decnet.env")
	run := func(args ...string) string {
		t.Helper()
		var out bytes.Buffer
		g := &globals{logFormat: "text", logLevel: "error", stdout: &out, stderr: &out}
		cmd := newInitCmd(g)
		cmd.SetArgs(append([]string{"--unit-dir", filepath.Join(dir, "units"), "--env-file", envFile, "--prefix", "/opt/decnet", "--user", "honey"}, args...))
		cmd.SetOut(&out)
		cmd.SetErr(&out)
		if err := cmd.Execute(); err != nil {
			t.Fatalf("init %v: %v\n%s", args, err, out.String())
		}
		return out.String()
	}

	run("--host-id", "edge-7")
	unit, err := os.ReadFile(filepath.Join(dir, "units", "decnet-reconciler.service"))
	if err != nil {
		t.Fatalf("read unit: %v", err)
	}
	if !strings.Contains(string(unit), "ExecStart=/opt/decnet/bin/decnet reconcile") || !strings.Contains(string(unit), "User=honey") {
		t.Errorf("reconciler unit:\n%s", unit)
	}
	if _, err := os.Stat(filepath.Join(dir, "units", "decnet.target")); err != nil {
		t.Errorf("decnet.target: %v", err)
	}
	env, _ := os.ReadFile(envFile)
	if !strings.Contains(string(env), "DECNET_HOST_ID=edge-7") {
		t.Errorf("env file:\n%s", env)
	}

	// The operator edits the env file; a forced rerun replaces units only.
	if err := os.WriteFile(envFile, []byte("DECNET_HOST_ID=mine\n"), 0o640); err != nil {
		t.Fatal(err)
	}
	out := run("--force")
	if !strings.Contains(out, "kept "+envFile) {
		t.Errorf("second run output lacks %q:\n%s", "kept "+envFile, out)
	}
	env, _ = os.ReadFile(envFile)
	if string(env) != "DECNET_HOST_ID=mine\n" {
		t.Errorf("env file was replaced:\n%s", env)
	}
}

func TestParseInterval(t *testing.T) {
	tests := []struct {
		in   string
		want time.Duration
		fail bool
	}{
		{in: "30", want: 30 * time.Second},
		{in: "1m", want: time.Minute},
		{in: "0", fail: true},
		{in: "-5s", fail: true},
		{in: "soon", fail: true},
	}
	for _, tt := range tests {
		got, err := parseInterval(tt.in)
		if (err != nil) != tt.fail || got != tt.want {
			t.Errorf("parseInterval(%q) = %v, %v; want %v, fail %v", tt.in, got, err, tt.want, tt.fail)
		}
	}
}
