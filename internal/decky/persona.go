package decky

// IsWindows reports whether the persona imitates a Windows host, which
// changes the filesystem layout and the banners services send.
func (p Persona) IsWindows() bool {
	return p == PersonaWindows || p == PersonaWindowsServer
}

// ParsePersona returns the persona named s. Unknown names fall back to
// linux, the family most deckies run.
func ParsePersona(s string) Persona {
	switch p := Persona(s); p {
	case PersonaLinux, PersonaWindows, PersonaWindowsServer, PersonaBSD, PersonaEmbedded:
		return p
	}
	return PersonaLinux
}
