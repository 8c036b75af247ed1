// Package testenv holds helpers that integration tests share: finding the
// external tools they drive and deciding whether a missing tool skips or
// fails the test.
package testenv

import (
	"os"
	"os/exec"
	"testing"
)

// InCI reports whether the tests run under CI (CI=true). There every tool
// the test script installs must be present.
func InCI() bool {
	return os.Getenv("CI") == "true"
}

// RequireTool returns the path of the named executable. When it is missing
// the test fails under CI and is skipped elsewhere, with a message that names
// the Debian package to install.
func RequireTool(t testing.TB, name, debianPackage string) string {
	t.Helper()

	path, err := exec.LookPath(name)
	if err == nil {
		return path
	}
	msg := name + " not found in PATH: install the Debian package " + debianPackage + " (scripts/test.sh does)"
	if InCI() {
		t.Fatal(msg)
	}
	t.Skip(msg)
	return ""
}

// RequireRoot skips the test, or fails it under CI, when the process is not
// root. Tests that create network namespaces or start dockerd need it.
func RequireRoot(t testing.TB) {
	t.Helper()

	if os.Geteuid() == 0 {
		return
	}
	if InCI() {
		t.Fatal("this test needs root (network namespaces, dockerd)")
	}
	t.Skip("this test needs root (network namespaces, dockerd)")
}
