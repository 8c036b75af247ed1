package rootfs

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/decnet/decnet/internal/decky"
	"github.com/google/go-cmp/cmp"
)

var testNow = time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)

func testDecky(name, distro string, persona decky.Persona, services ...string) decky.Decky {
	d := decky.Decky{Name: name, IP: "127.77.0.2", Hostname: "SRV-ATLAS-42", Persona: persona, Distro: distro, Seed: decky.SeedFor(1, name)}
	for _, s := range services {
		port, _ := decky.DefaultPort(s)
		d.Services = append(d.Services, decky.Service{Name: s, Port: port})
	}
	return d
}

func TestHostPath(t *testing.T) {
	tests := []struct {
		in, want string
		wantErr  bool
	}{
		{in: "/etc/passwd", want: "etc/passwd"},
		{in: "/", want: "."},
		{in: "/var//www/./html/", want: "var/www/html"},
		{in: `C:\Users\jsmith\Documents`, want: "C/Users/jsmith/Documents"},
		{in: "c:/inetpub/wwwroot", want: "C/inetpub/wwwroot"},
		{in: "C:", want: "C"},
		{in: "etc/passwd", wantErr: true},
		{in: "/etc/../../x", wantErr: true},
		{in: `C:\..\x`, wantErr: true},
		{in: "C:Users", wantErr: true},
	}
	for _, tt := range tests {
		got, err := HostPath(tt.in)
		if tt.wantErr {
			if err == nil {
				t.Errorf("HostPath(%q) = %q, want error", tt.in, got)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("HostPath(%q) = %q, %v, want %q", tt.in, got, err, tt.want)
		}
	}
}

func TestUsers(t *testing.T) {
	tests := []struct {
		name      string
		d         decky.Decky
		first     User
		homeStart string
	}{
		{"linux", testDecky("decky-01", "debian", decky.PersonaLinux), User{Name: "root", Home: "/root", Shell: "/bin/bash"}, "/home/"},
		{"alpine", testDecky("decky-02", "alpine", decky.PersonaEmbedded), User{Name: "root", Home: "/root", Shell: "/bin/ash"}, "/home/"},
		{"windows", testDecky("decky-03", "debian", decky.PersonaWindows), User{Name: "Administrator", UID: 500, GID: 513, Home: "C:/Users/Administrator"}, "C:/Users/"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			users := Users(tt.d)
			if n := len(users); n < 3 || n > 5 {
				t.Fatalf("len(Users) = %d, want root plus 2 to 4", n)
			}
			if diff := cmp.Diff(users[0], tt.first); diff != "" {
				t.Errorf("Users[0] (-got +want):\n%s", diff)
			}
			names := map[string]bool{}
			for _, u := range users[1:] {
				if names[u.Name] {
					t.Errorf("duplicate user %q", u.Name)
				}
				names[u.Name] = true
				if !strings.HasPrefix(u.Home, tt.homeStart) || u.UID < 1000 {
					t.Errorf("user %+v: want home under %s and uid >= 1000", u, tt.homeStart)
				}
			}
			if diff := cmp.Diff(Users(tt.d), users); diff != "" {
				t.Errorf("Users is not repeatable (-second +first):\n%s", diff)
			}
		})
	}
}

func TestSeedLinux(t *testing.T) {
	tests := []struct {
		name   string
		d      decky.Decky
		files  []string
		checks map[string]string // file to a substring it must contain
	}{
		{
			name:  "debian web",
			d:     testDecky("decky-01", "debian", decky.PersonaLinux, "ssh", "http"),
			files: []string{"etc/shadow", "etc/issue", "var/www/html/index.html", "etc/nginx/sites-available/default", "etc/ssh/sshd_config", "root/.bash_history", "root/notes.txt", "opt/app/config.yml"},
			checks: map[string]string{
				"etc/hostname":   "SRV-ATLAS-42\n",
				"etc/os-release": `PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"`,
				"etc/passwd":     "www-data:x:33:33:",
				"etc/group":      "sudo:x:27:",
			},
		},
		{
			name:  "rocky apache",
			d:     testDecky("decky-02", "rocky9", decky.PersonaLinux, "http", "mysql"),
			files: []string{"etc/httpd/conf/httpd.conf", "var/www/html/index.html"},
			checks: map[string]string{
				"etc/passwd": "apache:x:48:48:",
				"etc/group":  "wheel:x:10:",
			},
		},
		{
			name:   "alpine ash",
			d:      testDecky("decky-03", "alpine", decky.PersonaEmbedded),
			files:  []string{"root/.ash_history"},
			checks: map[string]string{"etc/passwd": "root:x:0:0:root:/root:/bin/ash"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			if err := SeedAt(dir, tt.d, testNow); err != nil {
				t.Fatalf("SeedAt: %v", err)
			}
			for _, f := range tt.files {
				info, err := os.Stat(filepath.Join(dir, f))
				if err != nil {
					t.Errorf("missing %s: %v", f, err)
					continue
				}
				if !info.ModTime().Before(testNow) {
					t.Errorf("%s mtime %v is not before %v", f, info.ModTime(), testNow)
				}
			}
			for f, want := range tt.checks {
				data, err := os.ReadFile(filepath.Join(dir, f))
				if err != nil {
					t.Errorf("read %s: %v", f, err)
					continue
				}
				if !strings.Contains(string(data), want) {
					t.Errorf("%s = %q, want it to contain %q", f, data, want)
				}
			}
			passwd, _ := os.ReadFile(filepath.Join(dir, "etc/passwd"))
			for _, u := range Users(tt.d)[1:] {
				if !strings.Contains(string(passwd), "\n"+u.Name+":x:") {
					t.Errorf("/etc/passwd lacks user %s", u.Name)
				}
				if _, err := os.Stat(filepath.Join(dir, "home", u.Name)); err != nil {
					t.Errorf("home of %s: %v", u.Name, err)
				}
			}
		})
	}
}

func TestSeedWindows(t *testing.T) {
	d := testDecky("decky-04", "debian", decky.PersonaWindowsServer, "http")
	dir := t.TempDir()
	if err := SeedAt(dir, d, testNow); err != nil {
		t.Fatalf("SeedAt: %v", err)
	}
	for _, p := range []string{"C/Users/Administrator/Documents", "C/Windows/System32/drivers/etc/hosts", "C/inetpub/wwwroot",
		"C/Users/Administrator/AppData/Roaming/Microsoft/Windows/PowerShell/PSReadLine/ConsoleHost_history.txt"} {
		if _, err := os.Stat(filepath.Join(dir, p)); err != nil {
			t.Errorf("missing %s: %v", p, err)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "etc")); err == nil {
		t.Error("Windows persona got a Linux /etc")
	}
	hosts, _ := os.ReadFile(filepath.Join(dir, "C/Windows/System32/drivers/etc/hosts"))
	if !strings.Contains(string(hosts), "\r\n") {
		t.Errorf("hosts = %q, want CRLF line endings", hosts)
	}
}

func TestSeedKeepsExistingFiles(t *testing.T) {
	d := testDecky("decky-05", "ubuntu22", decky.PersonaLinux, "ssh")
	dir := t.TempDir()
	if err := SeedAt(dir, d, testNow); err != nil {
		t.Fatalf("SeedAt: %v", err)
	}

	changed := filepath.Join(dir, "root/notes.txt")
	planted := filepath.Join(dir, "tmp/.x/payload.sh")
	if err := os.WriteFile(changed, []byte("attacker was here\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Dir(planted), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(planted, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(filepath.Join(dir, "etc/issue")); err != nil {
		t.Fatal(err)
	}

	if err := SeedAt(dir, d, testNow.Add(time.Hour)); err != nil {
		t.Fatalf("second SeedAt: %v", err)
	}
	if data, _ := os.ReadFile(changed); string(data) != "attacker was here\n" {
		t.Errorf("notes.txt = %q after reseed, want the changed content", data)
	}
	if _, err := os.Stat(planted); err != nil {
		t.Errorf("planted file gone after reseed: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "etc/issue")); err != nil {
		t.Errorf("removed /etc/issue not restored: %v", err)
	}
}

func TestSeedStaysInsideRoot(t *testing.T) {
	outside := t.TempDir()
	dir := t.TempDir()
	if err := os.Symlink(outside, filepath.Join(dir, "etc")); err != nil {
		t.Fatal(err)
	}

	d := testDecky("decky-06", "debian", decky.PersonaLinux)
	if err := SeedAt(dir, d, testNow); err == nil {
		t.Error("SeedAt through an escaping symlink = nil error, want error")
	}
	entries, _ := os.ReadDir(outside)
	if len(entries) != 0 {
		t.Errorf("SeedAt wrote %d entries outside the root", len(entries))
	}
}

func TestFilesDifferAcrossDeckies(t *testing.T) {
	a := Files(testDecky("decky-01", "debian", decky.PersonaLinux, "ssh"), testNow)
	b := Files(testDecky("decky-02", "debian", decky.PersonaLinux, "ssh"), testNow)
	if cmp.Equal(a, b) {
		t.Error("two deckies with different seeds got the same tree")
	}
	if diff := cmp.Diff(Files(testDecky("decky-01", "debian", decky.PersonaLinux, "ssh"), testNow), a); diff != "" {
		t.Errorf("Files is not repeatable (-second +first):\n%s", diff)
	}
}
