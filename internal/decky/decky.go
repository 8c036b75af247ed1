// Package decky holds the model of a decoy host: its persona, distro,
// archetype and services, and the catalogues those are chosen from.
package decky

// Persona is the operating-system family a decky imitates. It decides the
// TCP/IP personality and the shape of the fake filesystem.
type Persona string

// Personas, named as nmap's OS families.
const (
	PersonaLinux         Persona = "linux"
	PersonaWindows       Persona = "windows"
	PersonaWindowsServer Persona = "windows_server"
	PersonaBSD           Persona = "bsd"
	PersonaEmbedded      Persona = "embedded"
)

// Service is one emulated protocol on a decky.
type Service struct {
	Name   string            `json:"name"`
	Port   int               `json:"port"`
	Config map[string]string `json:"config,omitempty"`
}

// Decky is one fake host. Seed makes every random choice about the decky
// (versions, uptime, users, file contents) repeatable and distinct from
// other deckies.
type Decky struct {
	Name      string    `json:"name"`
	IP        string    `json:"ip"`
	Hostname  string    `json:"hostname"`
	Persona   Persona   `json:"persona"`
	Distro    string    `json:"distro"`
	Archetype string    `json:"archetype,omitempty"`
	Services  []Service `json:"services"`
	Seed      uint64    `json:"seed"`
}

// Service returns the named service and whether the decky runs it.
func (d Decky) Service(name string) (Service, bool) {
	for _, s := range d.Services {
		if s.Name == name {
			return s, true
		}
	}
	return Service{}, false
}
