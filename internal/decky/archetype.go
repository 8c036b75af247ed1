package decky

import (
	"fmt"
	"slices"
	"strings"
)

// Archetype is a preset role for a decky: the services it runs, the distros
// it prefers (cycled across a fleet) and the persona it presents.
type Archetype struct {
	Slug     string
	Services []string
	Distros  []string
	Persona  Persona
}

var archetypes = []Archetype{
	{"windows-workstation", []string{"smb", "rdp"}, []string{"debian", "ubuntu22"}, PersonaWindows},
	{"windows-server", []string{"smb", "rdp", "ldap"}, []string{"debian", "ubuntu22"}, PersonaWindowsServer},
	{"domain-controller", []string{"ldap", "smb", "rdp", "llmnr"}, []string{"debian", "ubuntu22"}, PersonaWindowsServer},
	{"linux-server", []string{"ssh", "http"}, []string{"debian", "ubuntu22", "rocky9", "fedora"}, PersonaLinux},
	{"web-server", []string{"http", "ftp"}, []string{"debian", "ubuntu22", "ubuntu20"}, PersonaLinux},
	{"database-server", []string{"mysql", "postgres", "redis"}, []string{"debian", "ubuntu22"}, PersonaLinux},
	{"mail-server", []string{"smtp", "pop3", "imap"}, []string{"debian", "ubuntu22"}, PersonaLinux},
	{"file-server", []string{"smb", "ftp", "ssh"}, []string{"debian", "ubuntu22", "rocky9"}, PersonaLinux},
	{"printer", []string{"snmp", "ftp"}, []string{"alpine", "debian"}, PersonaEmbedded},
	{"iot-device", []string{"mqtt", "snmp", "telnet"}, []string{"alpine"}, PersonaEmbedded},
	{"industrial-control", []string{"conpot", "snmp"}, []string{"debian"}, PersonaEmbedded},
	{"voip-server", []string{"sip"}, []string{"debian", "ubuntu22"}, PersonaLinux},
	{"monitoring-node", []string{"snmp", "ssh"}, []string{"debian", "rocky9"}, PersonaLinux},
	{"devops-host", []string{"docker_api", "ssh", "k8s"}, []string{"ubuntu22", "debian"}, PersonaLinux},
	// deaddeck is the interactive SSH entry point of a fleet.
	{"deaddeck", []string{"ssh"}, []string{"debian", "ubuntu22"}, PersonaLinux},
}

// Archetypes returns every archetype, in catalogue order. The slices are
// copies, so callers may change them.
func Archetypes() []Archetype {
	out := make([]Archetype, len(archetypes))
	for i, a := range archetypes {
		out[i] = a.clone()
	}
	return out
}

// ArchetypeSlugs returns the archetype slugs in sorted order.
func ArchetypeSlugs() []string {
	slugs := make([]string, len(archetypes))
	for i, a := range archetypes {
		slugs[i] = a.Slug
	}
	slices.Sort(slugs)
	return slugs
}

// LookupArchetype returns the archetype with the given slug. An unknown slug
// yields an error that lists the valid ones.
func LookupArchetype(slug string) (Archetype, error) {
	for _, a := range archetypes {
		if a.Slug == slug {
			return a.clone(), nil
		}
	}
	return Archetype{}, fmt.Errorf("unknown archetype %q: valid archetypes are %s", slug, strings.Join(ArchetypeSlugs(), ", "))
}

func (a Archetype) clone() Archetype {
	a.Services = slices.Clone(a.Services)
	a.Distros = slices.Clone(a.Distros)
	return a
}
