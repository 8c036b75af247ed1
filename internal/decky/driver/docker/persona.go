package docker

import (
	"strconv"

	"github.com/decnet/decnet/internal/decky"
)

// stack holds the TCP/IP knobs that make a network namespace answer like
// one operating-system family. Every key lives under net.ipv4 and is
// scoped to the namespace, so the engine applies it to the base container.
type stack struct {
	ttl, synRetries, timestamps, windowScaling, sack, ecn, noPMTUDisc, finTimeout, icmpRateLimit, icmpRateMask int
}

var stacks = map[decky.Persona]stack{
	decky.PersonaLinux:         {64, 6, 1, 1, 1, 2, 0, 60, 1000, 6168},
	decky.PersonaWindows:       {128, 2, 1, 1, 1, 0, 0, 30, 0, 0},
	decky.PersonaWindowsServer: {128, 2, 1, 1, 1, 1, 0, 30, 0, 0},
	decky.PersonaBSD:           {64, 6, 1, 1, 1, 0, 0, 60, 250, 6168},
	decky.PersonaEmbedded:      {255, 3, 0, 0, 0, 0, 1, 15, 0, 0},
}

// Sysctls returns the namespace sysctls of a persona. An unknown persona
// gets the Linux values.
func Sysctls(p decky.Persona) map[string]string {
	s, ok := stacks[p]
	if !ok {
		s = stacks[decky.PersonaLinux]
	}
	v := strconv.Itoa
	return map[string]string{
		"net.ipv4.ip_default_ttl":     v(s.ttl),
		"net.ipv4.tcp_syn_retries":    v(s.synRetries),
		"net.ipv4.tcp_timestamps":     v(s.timestamps),
		"net.ipv4.tcp_window_scaling": v(s.windowScaling),
		"net.ipv4.tcp_sack":           v(s.sack),
		"net.ipv4.tcp_ecn":            v(s.ecn),
		"net.ipv4.ip_no_pmtu_disc":    v(s.noPMTUDisc),
		"net.ipv4.tcp_fin_timeout":    v(s.finTimeout),
		"net.ipv4.icmp_ratelimit":     v(s.icmpRateLimit),
		"net.ipv4.icmp_ratemask":      v(s.icmpRateMask),
	}
}
