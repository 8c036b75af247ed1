package systemd

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/decnet/decnet/internal/testenv"
)

func TestUnitsShape(t *testing.T) {
	units, err := Units(Options{User: "honey", Prefix: "/opt/decnet"})
	if err != nil {
		t.Fatalf("Units: %v", err)
	}
	if got, want := len(units), len(Workers())+1; got != want {
		t.Fatalf("Units returned %d files, want %d", got, want)
	}

	byName := map[string]string{}
	for _, u := range units {
		byName[u.Name] = u.Content
	}
	tests := []struct {
		unit string
		want []string
		not  []string
	}{
		{"decnet-reconciler.service", []string{
			"ExecStart=/opt/decnet/bin/decnet reconcile --interval 30", "User=honey", "Group=honey",
			"SupplementaryGroups=docker", "CapabilityBoundingSet=CAP_NET_ADMIN", "AF_NETLINK", "TimeoutStopSec=25",
			"After=network-online.target decnet-bus.service", "NoNewPrivileges=yes", "ProtectSystem=strict",
		}, nil},
		{"decnet-api.service", []string{"CapabilityBoundingSet=\n", "AmbientCapabilities=\n", "TimeoutStopSec=15"}, []string{"SupplementaryGroups", "AF_PACKET"}},
		{"decnet-bus.service", []string{"RuntimeDirectory=decnet", "After=network-online.target\n"}, []string{"decnet-bus.service\n"}},
		{"decnet-sniffer.service", []string{"CAP_NET_RAW", "AF_PACKET"}, nil},
		{"decnet.target", []string{"Wants=decnet-bus.service decnet-api.service", "WantedBy=multi-user.target"}, nil},
	}
	for _, tt := range tests {
		content, ok := byName[tt.unit]
		if !ok {
			t.Errorf("no unit %s", tt.unit)
			continue
		}
		for _, w := range tt.want {
			if !strings.Contains(content, w) {
				t.Errorf("%s lacks %q:\n%s", tt.unit, w, content)
			}
		}
		for _, n := range tt.not {
			if strings.Contains(content, n) {
				t.Errorf("%s holds %q:\n%s", tt.unit, n, content)
			}
		}
	}
}

func TestUnitsRejectBadOptions(t *testing.T) {
	for _, o := range []Options{
		{User: "root;rm"},
		{Binary: "relative/decnet"},
		{Binary: "/opt/my decnet"},
		{EnvFile: "/etc/decnet/%h.env"},
	} {
		if _, err := Units(o); err == nil {
			t.Errorf("Units(%+v) = nil error, want one", o)
		}
	}
}

// TestSystemdAnalyzeVerify runs systemd's own checker over every generated
// unit.
func TestSystemdAnalyzeVerify(t *testing.T) {
	analyze := testenv.RequireTool(t, "systemd-analyze", "systemd")

	// verify checks that ExecStart names an executable file, so point the
	// units at a real one.
	dir := t.TempDir()
	bin := filepath.Join(dir, "bin", "decnet")
	if err := os.MkdirAll(filepath.Dir(bin), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bin, []byte("#!/bin/sh\nexit 0\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	units, err := Units(Options{Prefix: dir})
	if err != nil {
		t.Fatalf("Units: %v", err)
	}
	unitDir := filepath.Join(dir, "units")
	if err := Write(unitDir, units, false); err != nil {
		t.Fatalf("Write: %v", err)
	}

	args := []string{"verify", "--man=no"}
	for _, u := range units {
		args = append(args, filepath.Join(unitDir, u.Name))
	}
	cmd := exec.Command(analyze, args...)
	cmd.Env = append(os.Environ(), "SYSTEMD_LOG_LEVEL=notice")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("systemd-analyze verify: %v:\n%s", err, out)
	}
	// verify exits 0 on warnings; any line naming one of our files is one.
	for _, line := range strings.Split(string(out), "\n") {
		if strings.Contains(line, unitDir) || strings.Contains(line, "decnet") {
			t.Errorf("systemd-analyze verify: %s", line)
		}
	}
}

func TestWriteRefusesToReplaceWithoutForce(t *testing.T) {
	dir := t.TempDir()
	u := []Unit{{Name: "decnet.target", Content: "a"}}
	if err := Write(dir, u, false); err != nil {
		t.Fatalf("first Write: %v", err)
	}
	if err := Write(dir, []Unit{{Name: "decnet.target", Content: "b"}}, false); !errors.Is(err, ErrExists) {
		t.Fatalf("second Write without force: err = %v, want ErrExists", err)
	}
	if err := Write(dir, []Unit{{Name: "decnet.target", Content: "b"}}, true); err != nil {
		t.Fatalf("Write with force: %v", err)
	}
	got, _ := os.ReadFile(filepath.Join(dir, "decnet.target"))
	if string(got) != "b" {
		t.Errorf("decnet.target = %q, want %q", got, "b")
	}
}
