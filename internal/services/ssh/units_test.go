package ssh

import (
	"strings"
	"testing"

	"github.com/decnet/decnet/internal/services"
)

func TestEscape(t *testing.T) {
	tests := []struct {
		in   string
		want string
	}{
		{"ls -la", "ls -la"},
		{"café ünï", "café ünï"},
		{"a\x00b", `a\x00b`},
		{"\xff\xfe", `\xff\xfe`},
		{`back\slash`, `back\\slash`},
		{"tab\there\r\n", `tab\x09here\x0d\x0a`},
		{"\x1b[31mred", `\x1b[31mred`},
		{"\u200b", `\u200b`},
		{"\xc3", `\xc3`},
	}
	for _, tc := range tests {
		if got := escape(tc.in); got != tc.want {
			t.Errorf("escape(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestEscapeCap(t *testing.T) {
	tests := []string{
		strings.Repeat("\xff", services.MaxFieldBytes),
		strings.Repeat("é", services.MaxFieldBytes),
		strings.Repeat("a", services.MaxFieldBytes+1),
	}
	for _, in := range tests {
		got := escape(in)
		if len(got) > services.MaxFieldBytes {
			t.Errorf("escape of %d bytes gave %d bytes, cap %d", len(in), len(got), services.MaxFieldBytes)
		}
		if strings.HasSuffix(got, `\`) || strings.HasSuffix(got, `\x`) {
			t.Errorf("escape cut inside an escape: ...%q", got[len(got)-8:])
		}
	}
}

func TestSecretFields(t *testing.T) {
	tests := []struct {
		secret        string
		wantPrintable string
		wantB64       string
	}{
		{"toor", "toor", "dG9vcg=="},
		{"p\x00ss\xff", "p?ss?", "cABzc/8="},
		{"", "", ""},
		{"pässwörd", "p??ssw??rd", "cMOkc3N3w7ZyZA=="},
	}
	for _, tc := range tests {
		p, b := secretFields([]byte(tc.secret))
		if p != tc.wantPrintable || b != tc.wantB64 {
			t.Errorf("secretFields(%q) = %q, %q; want %q, %q", tc.secret, p, b, tc.wantPrintable, tc.wantB64)
		}
	}
	_, b := secretFields([]byte(strings.Repeat("x", 100000)))
	if len(b) > services.MaxFieldBytes {
		t.Errorf("secret_b64 of a 100000-byte secret is %d bytes, cap %d", len(b), services.MaxFieldBytes)
	}
}

func TestPolicies(t *testing.T) {
	weak := WeakPasswords{"root": {"toor"}, "*": {"123456"}}
	tests := []struct {
		name   string
		policy Policy
		a      Attempt
		want   bool
	}{
		{"weak exact", weak, Attempt{User: "root", Method: MethodPassword, Password: []byte("toor")}, true},
		{"weak other user", weak, Attempt{User: "admin", Method: MethodPassword, Password: []byte("toor")}, false},
		{"weak wildcard", weak, Attempt{User: "admin", Method: MethodPassword, Password: []byte("123456")}, true},
		{"weak keyboard-interactive", weak, Attempt{User: "root", Method: MethodKeyboardInteractive, Password: []byte("toor")}, true},
		{"weak never a key", weak, Attempt{User: "root", Method: MethodPublicKey}, false},
		{"nth before", NthAttempt{N: 3}, Attempt{Method: MethodPassword, N: 2}, false},
		{"nth reached", NthAttempt{N: 3}, Attempt{Method: MethodPassword, N: 3}, true},
		{"nth per source", NthAttempt{N: 3, PerSource: true}, Attempt{Method: MethodPassword, N: 1, SourceN: 3}, true},
		{"nth zero", NthAttempt{}, Attempt{Method: MethodPassword, N: 5}, false},
		{"reject all", RejectAll, Attempt{Method: MethodPassword, N: 1}, false},
		{"any of", AnyOf(RejectAll, NthAttempt{N: 1}), Attempt{Method: MethodPassword, N: 1}, true},
	}
	for _, tc := range tests {
		if got := tc.policy.Allow(tc.a); got != tc.want {
			t.Errorf("%s: Allow(%+v) = %v, want %v", tc.name, tc.a, got, tc.want)
		}
	}
}

func TestVersionForDistro(t *testing.T) {
	tests := []struct {
		distro string
		want   string
	}{
		{"debian", "OpenSSH_9.2p1 Debian-2+deb12u3"},
		{"ubuntu22", "OpenSSH_8.9p1 Ubuntu-3ubuntu0.10"},
		{"Ubuntu-22.04", "OpenSSH_8.9p1 Ubuntu-3ubuntu0.10"},
		{"ubuntu20", "OpenSSH_8.2p1 Ubuntu-4ubuntu0.11"},
		{"rocky9", "OpenSSH_8.7"},
		{"centos7", "OpenSSH_7.4"},
		{"alpine", "OpenSSH_9.6"},
		{"fedora", "OpenSSH_9.3"},
		{"kali", "OpenSSH_9.7p1 Debian-7"},
		{"arch", "OpenSSH_9.7"},
		{"plan9", "OpenSSH_9.2p1 Debian-2+deb12u3"},
	}
	for _, tc := range tests {
		if got := VersionForDistro(tc.distro); got != tc.want {
			t.Errorf("VersionForDistro(%q) = %q, want %q", tc.distro, got, tc.want)
		}
	}
}

func TestProfilesHandshake(t *testing.T) {
	for distro := range profiles {
		t.Run(distro, func(t *testing.T) {
			p := ProfileForDistro(distro)
			if len(p.KeyExchanges) == 0 || len(p.Ciphers) == 0 || len(p.MACs) == 0 {
				t.Fatalf("profile %s has an empty algorithm list: %+v", distro, p)
			}
			ts := startServer(t, Config{Distro: distro, Policy: WeakPasswords{"*": {"pw"}}})
			client := goClient(t, ts.addr)
			defer client.Close()
			if got, want := string(client.ServerVersion()), "SSH-2.0-"+p.Version; got != want {
				t.Errorf("server version = %q, want %q", got, want)
			}
		})
	}
}

func TestHostKeyFromSeed(t *testing.T) {
	a1, err := HostKeyFromSeed(1)
	if err != nil {
		t.Fatal(err)
	}
	a2, _ := HostKeyFromSeed(1)
	b, _ := HostKeyFromSeed(2)
	if string(a1.PublicKey().Marshal()) != string(a2.PublicKey().Marshal()) {
		t.Error("HostKeyFromSeed(1) differs between calls")
	}
	if string(a1.PublicKey().Marshal()) == string(b.PublicKey().Marshal()) {
		t.Error("HostKeyFromSeed(1) equals HostKeyFromSeed(2)")
	}
	if a1.PublicKey().Type() != "ssh-ed25519" {
		t.Errorf("host key type = %s, want ssh-ed25519", a1.PublicKey().Type())
	}
}
