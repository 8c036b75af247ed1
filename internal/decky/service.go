package decky

import (
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
)

// defaultPorts maps every catalogued service to the TCP (or, for dns, llmnr,
// snmp and tftp, UDP) port it listens on by default.
var defaultPorts = map[string]int{
	"conpot":        502,
	"dns":           53,
	"docker_api":    2375,
	"elasticsearch": 9200,
	"ftp":           21,
	"http":          80,
	"https":         443,
	"imap":          143,
	"k8s":           6443,
	"ldap":          389,
	"llmnr":         5355,
	"mongodb":       27017,
	"mqtt":          1883,
	"mssql":         1433,
	"mysql":         3306,
	"pop3":          110,
	"postgres":      5432,
	"rdp":           3389,
	"redis":         6379,
	"sip":           5060,
	"smb":           445,
	"smtp":          25,
	"smtp_relay":    25,
	"snmp":          161,
	"ssh":           22,
	"telnet":        23,
	"tftp":          69,
	"vnc":           5900,
}

// ServiceNames returns every catalogued service name in sorted order.
func ServiceNames() []string {
	return slices.Sorted(maps.Keys(defaultPorts))
}

// DefaultPort returns the port a service listens on unless overridden, and
// whether the service is catalogued.
func DefaultPort(service string) (int, bool) {
	port, ok := defaultPorts[service]
	return port, ok
}

// ParsePorts parses per-service port overrides written as a comma-separated
// list of service=port pairs, such as "ssh=2222,http=8080". Services must be
// catalogued and ports must lie in 1-65535. An empty string yields an empty
// map.
func ParsePorts(s string) (map[string]int, error) {
	ports := make(map[string]int)
	if strings.TrimSpace(s) == "" {
		return ports, nil
	}

	for pair := range strings.SplitSeq(s, ",") {
		name, value, ok := strings.Cut(strings.TrimSpace(pair), "=")
		if !ok {
			return nil, fmt.Errorf("invalid port override %q: want service=port, such as ssh=2222", pair)
		}
		name = strings.TrimSpace(name)
		if _, known := defaultPorts[name]; !known {
			return nil, fmt.Errorf("invalid port override %q: unknown service %q (valid: %s)", pair, name, strings.Join(ServiceNames(), ", "))
		}
		port, err := strconv.Atoi(strings.TrimSpace(value))
		if err != nil || port < 1 || port > 65535 {
			return nil, fmt.Errorf("invalid port override %q: port must be a number from 1 to 65535", pair)
		}
		if _, dup := ports[name]; dup {
			return nil, fmt.Errorf("invalid port override %q: service %q is given twice", pair, name)
		}
		ports[name] = port
	}
	return ports, nil
}
