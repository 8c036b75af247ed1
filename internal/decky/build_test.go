package decky

import (
	"net/netip"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestBuildNamesAndAddresses(t *testing.T) {
	fleet, err := Build(BuildOptions{
		Count:         4,
		Archetype:     "deaddeck",
		ExistingNames: []string{"decky-02"},
		ExistingIPs:   []string{"127.77.0.3"},
		FleetSeed:     42,
	})
	if err != nil {
		t.Fatalf("Build: %v", err)
	}

	var names, ips []string
	for _, d := range fleet {
		names = append(names, d.Name)
		ips = append(ips, d.IP)
	}
	if diff := cmp.Diff(names, []string{"decky-01", "decky-03", "decky-04", "decky-05"}); diff != "" {
		t.Errorf("names (-got +want):\n%s", diff)
	}
	if diff := cmp.Diff(ips, []string{"127.77.0.2", "127.77.0.4", "127.77.0.5", "127.77.0.6"}); diff != "" {
		t.Errorf("addresses (-got +want):\n%s", diff)
	}
}

func TestBuildArchetype(t *testing.T) {
	fleet, err := Build(BuildOptions{Count: 5, Archetype: "linux-server", FleetSeed: 1, Ports: map[string]int{"ssh": 2222}})
	if err != nil {
		t.Fatalf("Build: %v", err)
	}

	var distros []string
	seeds := make(map[uint64]bool)
	for _, d := range fleet {
		distros = append(distros, d.Distro)
		seeds[d.Seed] = true
		want := []Service{{Name: "ssh", Port: 2222}, {Name: "http", Port: 80}}
		if diff := cmp.Diff(d.Services, want); diff != "" {
			t.Errorf("%s services (-got +want):\n%s", d.Name, diff)
		}
		if d.Persona != PersonaLinux || d.Archetype != "linux-server" {
			t.Errorf("%s persona, archetype = %s, %s, want linux, linux-server", d.Name, d.Persona, d.Archetype)
		}
	}
	if diff := cmp.Diff(distros, []string{"debian", "ubuntu22", "rocky9", "fedora", "debian"}); diff != "" {
		t.Errorf("distros (-got +want):\n%s", diff)
	}
	if len(seeds) != len(fleet) {
		t.Errorf("got %d distinct seeds for %d deckies", len(seeds), len(fleet))
	}
	if h := fleet[2].Hostname; !strings.HasSuffix(h, ".localdomain") {
		t.Errorf("rocky9 hostname = %q, want rhel style", h)
	}
}

func TestBuildRepeatable(t *testing.T) {
	opts := BuildOptions{Count: 6, RandomizeDistros: true, FleetSeed: 99}
	a, err := Build(opts)
	if err != nil {
		t.Fatalf("Build: %v", err)
	}
	b, err := Build(opts)
	if err != nil {
		t.Fatalf("Build: %v", err)
	}
	if diff := cmp.Diff(a, b); diff != "" {
		t.Errorf("two builds with one seed differ (-first +second):\n%s", diff)
	}

	opts.FleetSeed = 100
	c, err := Build(opts)
	if err != nil {
		t.Fatalf("Build: %v", err)
	}
	if cmp.Equal(a, c) {
		t.Error("builds with different seeds are equal")
	}
}

func TestBuildRandomServices(t *testing.T) {
	fleet, err := Build(BuildOptions{Count: 10, FleetSeed: 5, Implemented: []string{"ssh", "http"}})
	if err != nil {
		t.Fatalf("Build: %v", err)
	}
	for i, d := range fleet {
		names := serviceNames(d.Services)
		if len(names) < 1 || len(names) > 2 {
			t.Errorf("%s services = %v, want 1 or 2 of ssh, http", d.Name, names)
		}
		for _, n := range names {
			if n != "ssh" && n != "http" {
				t.Errorf("%s runs unimplemented %q", d.Name, n)
			}
		}
		if i > 0 && slices.Equal(names, serviceNames(fleet[i-1].Services)) {
			t.Errorf("%s repeats the service set %v of its predecessor", d.Name, names)
		}
	}
}

func TestBuildImplementedFiltersArchetype(t *testing.T) {
	fleet, err := Build(BuildOptions{Count: 1, Archetype: "web-server", Implemented: []string{"ssh", "http"}})
	if err != nil {
		t.Fatalf("Build: %v", err)
	}
	if diff := cmp.Diff(fleet[0].Services, []Service{{Name: "http", Port: 80}}); diff != "" {
		t.Errorf("services (-got +want):\n%s", diff)
	}
}

func TestBuildErrors(t *testing.T) {
	tests := []struct {
		name    string
		opts    BuildOptions
		wantErr string
	}{
		{"zero count", BuildOptions{}, "at least 1"},
		{"unknown archetype", BuildOptions{Count: 1, Archetype: "x"}, "database-server, deaddeck"},
		{"unknown distro", BuildOptions{Count: 1, Distros: []string{"gentoo"}}, "unknown distro"},
		{"unknown service", BuildOptions{Count: 1, Services: []string{"gopher"}}, "unknown service"},
		{"unimplemented service", BuildOptions{Count: 1, Services: []string{"smb"}, Implemented: []string{"ssh"}}, "not implemented"},
		{"archetype without implemented", BuildOptions{Count: 1, Archetype: "windows-workstation", Implemented: []string{"ssh", "http"}}, "none of the implemented"},
		{"port clash", BuildOptions{Count: 1, Services: []string{"ssh", "http"}, Ports: map[string]int{"http": 22}}, "both use port 22"},
		{"duplicate service", BuildOptions{Count: 1, Services: []string{"ssh", "ssh"}}, "listed twice"},
		{"bad port", BuildOptions{Count: 1, Ports: map[string]int{"ssh": 70000}}, "1 to 65535"},
		{"ipv6", BuildOptions{Count: 1, Subnet: netip.MustParsePrefix("fd00::/64")}, "IPv4"},
		{"full subnet", BuildOptions{Count: 2, Subnet: netip.MustParsePrefix("10.0.0.0/30")}, "no free address"},
		{"bad existing ip", BuildOptions{Count: 1, ExistingIPs: []string{"nope"}}, "invalid existing address"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Build(tt.opts)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("Build error = %v, want containing %q", err, tt.wantErr)
			}
		})
	}
}

func TestBuildSmallSubnetSkipsBroadcast(t *testing.T) {
	fleet, err := Build(BuildOptions{Count: 1, Subnet: netip.MustParsePrefix("10.0.0.0/30")})
	if err != nil {
		t.Fatalf("Build: %v", err)
	}
	if fleet[0].IP != "10.0.0.2" {
		t.Errorf("IP = %s, want 10.0.0.2 (.0 network, .1 gateway, .3 broadcast)", fleet[0].IP)
	}
}
