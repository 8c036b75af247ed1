// Package config turns DECNET_* environment variables and command-line flags
// into a validated Config. Flags override the environment; validation runs
// once at start and names the variable and the fix.
package config

import (
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
)

// Config is the validated configuration shared by decnet's workers.
type Config struct {
	DataDir   string
	BusURL    string
	BusListen string
	DBType    string
	DBPath    string
	HostID    string
	Subnet    netip.Prefix
	Deckies   int
	Ports     map[string]int
}

// Lookup returns an environment variable and whether it is set; os.LookupEnv
// in production, a map in tests.
type Lookup func(name string) (string, bool)

// FromEnv reads the configuration from the process environment.
func FromEnv() (Config, error) {
	return Load(os.LookupEnv)
}

// Load reads every variable in Vars through lookup and validates the result.
func Load(lookup Lookup) (Config, error) {
	get := func(name, def string) string {
		if v, ok := lookup(name); ok && strings.TrimSpace(v) != "" {
			return strings.TrimSpace(v)
		}
		return def
	}

	cfg := Config{
		DataDir:   get("DECNET_DATA_DIR", "./decnet-data"),
		BusURL:    get("DECNET_BUS_URL", ""),
		BusListen: get("DECNET_BUS_LISTEN", "127.0.0.1:4222"),
		DBType:    get("DECNET_DB_TYPE", "sqlite"),
		DBPath:    get("DECNET_DB_PATH", ""),
		HostID:    get("DECNET_HOST_ID", "local"),
	}

	subnet, err := ParseSubnet(get("DECNET_SUBNET", "127.77.0.0/24"))
	if err != nil {
		return Config{}, fmt.Errorf("DECNET_SUBNET: %w", err)
	}
	cfg.Subnet = subnet

	n, err := strconv.Atoi(get("DECNET_DECKIES", "3"))
	if err != nil || n < 0 || n > 250 {
		return Config{}, fmt.Errorf("DECNET_DECKIES: invalid value %q: use a whole number from 0 to 250", get("DECNET_DECKIES", "3"))
	}
	cfg.Deckies = n

	ports, err := ParsePorts(get("DECNET_PORTS", ""))
	if err != nil {
		return Config{}, fmt.Errorf("DECNET_PORTS: %w", err)
	}
	cfg.Ports = ports

	if err := cfg.Validate(); err != nil {
		return Config{}, err
	}
	return cfg, nil
}

// Validate checks values that flags may have changed after Load.
func (c *Config) Validate() error {
	if c.DataDir == "" {
		return fmt.Errorf("DECNET_DATA_DIR: empty: set a directory such as ./decnet-data")
	}
	if c.DBType != "sqlite" {
		return fmt.Errorf("DECNET_DB_TYPE: unsupported value %q: only sqlite is implemented", c.DBType)
	}
	if c.DBPath == "" {
		c.DBPath = filepath.Join(c.DataDir, "decnet.db")
	}
	if !validHostID(c.HostID) {
		return fmt.Errorf("DECNET_HOST_ID: invalid value %q: use letters, digits, '-' and '_' (1 to 64 characters)", c.HostID)
	}
	if c.BusURL != "" && !strings.Contains(c.BusURL, "://") {
		return fmt.Errorf("DECNET_BUS_URL: invalid value %q: use a URL such as nats://127.0.0.1:4222", c.BusURL)
	}
	return nil
}

// ParseSubnet parses an IPv4 CIDR with room for at least one decky.
func ParseSubnet(s string) (netip.Prefix, error) {
	p, err := netip.ParsePrefix(s)
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("invalid subnet %q: use CIDR notation such as 127.77.0.0/24", s)
	}
	if !p.Addr().Is4() || p.Bits() > 30 {
		return netip.Prefix{}, fmt.Errorf("invalid subnet %q: use an IPv4 prefix of /30 or wider", s)
	}
	return p.Masked(), nil
}

// ParsePorts parses "ssh=2222,http=8080" into a service-to-port map.
func ParsePorts(s string) (map[string]int, error) {
	ports := map[string]int{}
	if strings.TrimSpace(s) == "" {
		return ports, nil
	}
	for _, item := range strings.Split(s, ",") {
		name, value, ok := strings.Cut(strings.TrimSpace(item), "=")
		if !ok || name == "" {
			return nil, fmt.Errorf("invalid entry %q: use service=port, such as ssh=2222", item)
		}
		port, err := strconv.Atoi(value)
		if err != nil || port < 1 || port > 65535 {
			return nil, fmt.Errorf("invalid port %q for %s: use a number from 1 to 65535", value, name)
		}
		ports[strings.ToLower(name)] = port
	}
	return ports, nil
}

// FormatPorts is the inverse of ParsePorts, sorted by service name.
func FormatPorts(ports map[string]int) string {
	names := make([]string, 0, len(ports))
	for n := range ports {
		names = append(names, n)
	}
	sort.Strings(names)
	parts := make([]string, 0, len(names))
	for _, n := range names {
		parts = append(parts, n+"="+strconv.Itoa(ports[n]))
	}
	return strings.Join(parts, ",")
}

func validHostID(s string) bool {
	if len(s) == 0 || len(s) > 64 {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_') {
			return false
		}
	}
	return true
}
