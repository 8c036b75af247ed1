package decky

import (
	"math/rand/v2"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestLookupArchetypeUnknown(t *testing.T) {
	_, err := LookupArchetype("mainframe")
	if err == nil {
		t.Fatal("LookupArchetype(mainframe) = nil error, want error")
	}
	want := strings.Join(ArchetypeSlugs(), ", ")
	if !strings.Contains(err.Error(), want) {
		t.Errorf("LookupArchetype(mainframe) error = %q, want it to list %q", err, want)
	}
	if got := ArchetypeSlugs(); got[0] != "database-server" || got[len(got)-1] != "windows-workstation" {
		t.Errorf("ArchetypeSlugs() = %v, want sorted", got)
	}
}

func TestArchetypeCatalogue(t *testing.T) {
	tests := []struct {
		slug     string
		services []string
		distros  []string
		persona  Persona
	}{
		{"windows-workstation", []string{"smb", "rdp"}, []string{"debian", "ubuntu22"}, PersonaWindows},
		{"domain-controller", []string{"ldap", "smb", "rdp", "llmnr"}, []string{"debian", "ubuntu22"}, PersonaWindowsServer},
		{"linux-server", []string{"ssh", "http"}, []string{"debian", "ubuntu22", "rocky9", "fedora"}, PersonaLinux},
		{"iot-device", []string{"mqtt", "snmp", "telnet"}, []string{"alpine"}, PersonaEmbedded},
		{"deaddeck", []string{"ssh"}, []string{"debian", "ubuntu22"}, PersonaLinux},
	}
	for _, tt := range tests {
		t.Run(tt.slug, func(t *testing.T) {
			a, err := LookupArchetype(tt.slug)
			if err != nil {
				t.Fatalf("LookupArchetype(%q): %v", tt.slug, err)
			}
			want := Archetype{Slug: tt.slug, Services: tt.services, Distros: tt.distros, Persona: tt.persona}
			if diff := cmp.Diff(a, want); diff != "" {
				t.Errorf("LookupArchetype(%q) (-got +want):\n%s", tt.slug, diff)
			}
		})
	}
	if n := len(Archetypes()); n != 15 {
		t.Errorf("len(Archetypes()) = %d, want 15", n)
	}
}

func TestArchetypeServicesCatalogued(t *testing.T) {
	for _, a := range Archetypes() {
		for _, s := range a.Services {
			if _, ok := DefaultPort(s); !ok {
				t.Errorf("archetype %s: service %q has no default port", a.Slug, s)
			}
		}
		for _, slug := range a.Distros {
			if _, err := LookupDistro(slug); err != nil {
				t.Errorf("archetype %s: %v", a.Slug, err)
			}
		}
	}
}

func TestDistroCatalogue(t *testing.T) {
	want := []string{"debian", "ubuntu22", "ubuntu20", "rocky9", "centos7", "alpine", "fedora", "kali", "arch"}
	if diff := cmp.Diff(DistroSlugs(), want); diff != "" {
		t.Errorf("DistroSlugs() (-got +want):\n%s", diff)
	}
	for _, d := range Distros() {
		if !strings.Contains(d.OSRelease, "PRETTY_NAME=\""+d.PrettyName+"\"") {
			t.Errorf("distro %s: os-release lacks PRETTY_NAME %q", d.Slug, d.PrettyName)
		}
		if len(d.Kernels) == 0 {
			t.Errorf("distro %s: no kernels", d.Slug)
		}
	}
	if _, err := LookupDistro("gentoo"); err == nil || !strings.Contains(err.Error(), "alpine, arch") {
		t.Errorf("LookupDistro(gentoo) error = %v, want a sorted list of slugs", err)
	}
}

func TestGenerateHostname(t *testing.T) {
	tests := []struct {
		style   HostnameStyle
		pattern string
	}{
		{HostnameGeneric, `^SRV-[A-Z]+-[1-9][0-9]$`},
		{HostnameRHEL, `^[a-z]+[1-9][0-9]\.localdomain$`},
		{HostnameMinimal, `^[a-z]+-[1-9][0-9]$`},
		{HostnameRolling, `^([a-z]+)-([a-z]+)$`},
	}
	for _, tt := range tests {
		t.Run(string(tt.style), func(t *testing.T) {
			re := regexp.MustCompile(tt.pattern)
			r := rand.New(rand.NewPCG(1, 2))
			for range 500 {
				h := GenerateHostname(tt.style, r)
				m := re.FindStringSubmatch(h)
				if m == nil {
					t.Fatalf("GenerateHostname(%s) = %q, want match for %s", tt.style, h, tt.pattern)
				}
				if tt.style == HostnameRolling && m[1] == m[2] {
					t.Fatalf("GenerateHostname(rolling) = %q, want two different words", h)
				}
			}
		})
	}
}

func TestParsePorts(t *testing.T) {
	tests := []struct {
		in      string
		want    map[string]int
		wantErr string
	}{
		{in: "", want: map[string]int{}},
		{in: "ssh=2222,http=8080", want: map[string]int{"ssh": 2222, "http": 8080}},
		{in: " ssh = 2222 ", want: map[string]int{"ssh": 2222}},
		{in: "ssh", wantErr: "want service=port"},
		{in: "gopher=70", wantErr: "unknown service"},
		{in: "ssh=0", wantErr: "1 to 65535"},
		{in: "ssh=65536", wantErr: "1 to 65535"},
		{in: "ssh=x", wantErr: "1 to 65535"},
		{in: "ssh=1,ssh=2", wantErr: "given twice"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParsePorts(tt.in)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("ParsePorts(%q) error = %v, want containing %q", tt.in, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParsePorts(%q): %v", tt.in, err)
			}
			if diff := cmp.Diff(got, tt.want); diff != "" {
				t.Errorf("ParsePorts(%q) (-got +want):\n%s", tt.in, diff)
			}
		})
	}
}

func FuzzParsePorts(f *testing.F) {
	for _, s := range []string{"ssh=2222,http=8080", "", "ssh", "=,=", "ssh=99999999999999999999"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		ports, err := ParsePorts(s)
		if err != nil {
			return
		}
		for name, port := range ports {
			if _, ok := DefaultPort(name); !ok || port < 1 || port > 65535 {
				t.Fatalf("ParsePorts(%q) accepted %s=%d", s, name, port)
			}
		}
	})
}

func TestValidateName(t *testing.T) {
	tests := []struct {
		name string
		ok   bool
	}{
		{"decky-01", true},
		{"a", true},
		{strings.Repeat("a", 63), true},
		{strings.Repeat("a", 64), false},
		{"-decky", false},
		{"Decky", false},
		{"decky.01", false},
		{"decky_01", false},
		{"", false},
	}
	for _, tt := range tests {
		err := ValidateName(tt.name)
		if (err == nil) != tt.ok {
			t.Errorf("ValidateName(%q) = %v, want ok=%v", tt.name, err, tt.ok)
		}
	}
}

func TestUptime(t *testing.T) {
	d := Decky{Name: "decky-01", Seed: SeedFor(7, "decky-01")}
	now := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	up := d.Uptime(now)
	if up < time.Hour || up >= 45*24*time.Hour {
		t.Fatalf("Uptime = %v, want within [1h, 45d)", up)
	}
	if got := d.BootTime(now); !got.Equal(now.Add(-up)) {
		t.Errorf("BootTime = %v, want %v", got, now.Add(-up))
	}
	other := Decky{Name: "decky-02", Seed: SeedFor(7, "decky-02")}
	if other.Uptime(now) == up {
		t.Errorf("two deckies report the same uptime %v", up)
	}
}
