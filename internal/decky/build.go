package decky

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"slices"
	"strings"
)

// DefaultSubnet is the loopback range deckies get addresses from when the
// caller names none. Linux routes all of 127.0.0.0/8 to lo, so the native
// driver can bind these addresses without any setup.
var DefaultSubnet = netip.MustParsePrefix("127.77.0.0/24")

// BuildOptions describes a fleet to generate. Only Count is required.
type BuildOptions struct {
	// Count is the number of deckies to create, at least 1.
	Count int
	// Archetype is an archetype slug; empty means none.
	Archetype string
	// Services, when set, is the service list of every decky.
	Services []string
	// RandomizeServices gives each decky 1 to 3 random services even when
	// an archetype is set. Explicit Services win over it.
	RandomizeServices bool
	// Distros, when set, are cycled across the deckies (or drawn from at
	// random with RandomizeDistros). Otherwise the archetype's preferred
	// distros are cycled, or all distros when there is no archetype.
	Distros []string
	// RandomizeDistros draws each decky's distro at random from Distros, or
	// from all distros when Distros is empty.
	RandomizeDistros bool
	// Subnet is the range addresses are allocated from. The zero value means
	// DefaultSubnet. Only IPv4 is supported.
	Subnet netip.Prefix
	// Ports overrides the default port of a service on every decky, such as
	// {"ssh": 2222} on a host whose own sshd holds port 22.
	Ports map[string]int
	// Implemented, when non-nil, limits services to the ones the caller can
	// run. Explicit services outside it are an error; archetype services
	// outside it are dropped, and an archetype left with none is an error.
	Implemented []string
	// ExistingNames and ExistingIPs are taken already and are skipped.
	ExistingNames []string
	ExistingIPs   []string
	// FleetSeed makes the fleet repeatable. Zero means a random seed.
	FleetSeed uint64
}

// maxRandomServices caps how many services a decky with random services gets.
const maxRandomServices = 3

// Build generates Count deckies named decky-01, decky-02, ... (skipping
// ExistingNames), each with its own address, distro, hostname, services and
// seed. It returns an error, and no deckies, when an option is invalid or
// the subnet has too few free addresses.
func Build(opts BuildOptions) ([]Decky, error) {
	plan, err := newBuildPlan(opts)
	if err != nil {
		return nil, fmt.Errorf("build fleet: %w", err)
	}

	fleet := make([]Decky, 0, opts.Count)
	var previous []string
	for i := range opts.Count {
		d, err := plan.decky(i, previous)
		if err != nil {
			return nil, fmt.Errorf("build fleet: %w", err)
		}
		previous = serviceNames(d.Services)
		fleet = append(fleet, d)
	}
	return fleet, nil
}

// buildPlan contains the validated options and the allocation state of one
// Build call.
type buildPlan struct {
	opts        BuildOptions
	archetype   *Archetype
	implemented map[string]bool // nil: every catalogued service
	distroPool  []string
	randomPool  []string // services random sets are drawn from
	fleetSeed   uint64

	subnet    netip.Prefix
	nextAddr  netip.Addr
	takenIPs  map[netip.Addr]bool
	names     map[string]bool
	hostnames map[string]bool
	nameIndex int
}

func newBuildPlan(opts BuildOptions) (*buildPlan, error) {
	if opts.Count < 1 {
		return nil, fmt.Errorf("invalid count %d: need at least 1 decky", opts.Count)
	}
	p := &buildPlan{
		opts:      opts,
		fleetSeed: opts.FleetSeed,
		takenIPs:  make(map[netip.Addr]bool),
		names:     make(map[string]bool),
		hostnames: make(map[string]bool),
	}
	if p.fleetSeed == 0 {
		p.fleetSeed = rand.Uint64()
	}

	if err := p.setServices(); err != nil {
		return nil, err
	}
	if err := p.setDistros(); err != nil {
		return nil, err
	}
	if err := p.setSubnet(); err != nil {
		return nil, err
	}
	for _, name := range opts.ExistingNames {
		p.names[name] = true
	}
	return p, nil
}

func (p *buildPlan) setServices() error {
	opts := p.opts
	if opts.Implemented != nil {
		p.implemented = make(map[string]bool)
		for _, name := range opts.Implemented {
			if _, ok := defaultPorts[name]; !ok {
				return fmt.Errorf("unknown implemented service %q", name)
			}
			p.implemented[name] = true
		}
	}

	for name, port := range opts.Ports {
		if _, ok := defaultPorts[name]; !ok {
			return fmt.Errorf("port override for unknown service %q (valid: %s)", name, strings.Join(ServiceNames(), ", "))
		}
		if port < 1 || port > 65535 {
			return fmt.Errorf("port override %s=%d: port must be from 1 to 65535", name, port)
		}
	}

	if len(opts.Services) > 0 {
		if err := p.checkServices(opts.Services); err != nil {
			return err
		}
	}

	if opts.Archetype != "" {
		a, err := LookupArchetype(opts.Archetype)
		if err != nil {
			return err
		}
		var kept []string
		for _, name := range a.Services {
			if p.isImplemented(name) {
				kept = append(kept, name)
			}
		}
		useArchetype := len(opts.Services) == 0 && !opts.RandomizeServices
		if useArchetype && len(kept) == 0 {
			return fmt.Errorf("archetype %s runs none of the implemented services (it needs %s; implemented: %s)",
				a.Slug, strings.Join(a.Services, ", "), strings.Join(p.implementedNames(), ", "))
		}
		a.Services = kept
		p.archetype = &a
	}

	for _, name := range ServiceNames() {
		if p.isImplemented(name) {
			p.randomPool = append(p.randomPool, name)
		}
	}
	if len(p.randomPool) == 0 {
		return errors.New("no implemented service to choose from")
	}
	return nil
}

// checkServices validates an explicit service list: catalogued, implemented,
// no duplicates and no two services on one port.
func (p *buildPlan) checkServices(names []string) error {
	ports := make(map[int]string)
	for _, name := range names {
		if _, ok := defaultPorts[name]; !ok {
			return fmt.Errorf("unknown service %q (valid: %s)", name, strings.Join(ServiceNames(), ", "))
		}
		if !p.isImplemented(name) {
			return fmt.Errorf("service %q is not implemented (implemented: %s)", name, strings.Join(p.implementedNames(), ", "))
		}
		port := p.port(name)
		if other, dup := ports[port]; dup {
			if other == name {
				return fmt.Errorf("service %q is listed twice", name)
			}
			return fmt.Errorf("services %q and %q both use port %d: override one with a port setting", other, name, port)
		}
		ports[port] = name
	}
	return nil
}

func (p *buildPlan) setDistros() error {
	for _, slug := range p.opts.Distros {
		if _, err := LookupDistro(slug); err != nil {
			return err
		}
	}

	switch {
	case len(p.opts.Distros) > 0:
		p.distroPool = slices.Clone(p.opts.Distros)
	case p.opts.RandomizeDistros:
		p.distroPool = DistroSlugs()
	case p.archetype != nil:
		p.distroPool = p.archetype.Distros
	default:
		p.distroPool = DistroSlugs()
	}
	return nil
}

func (p *buildPlan) setSubnet() error {
	subnet := p.opts.Subnet
	if !subnet.IsValid() {
		subnet = DefaultSubnet
	}
	subnet = subnet.Masked()
	if !subnet.Addr().Is4() {
		return fmt.Errorf("invalid subnet %s: only IPv4 subnets are supported", subnet)
	}
	if subnet.Bits() > 30 {
		return fmt.Errorf("invalid subnet %s: need a /30 or larger", subnet)
	}
	p.subnet = subnet

	for _, s := range p.opts.ExistingIPs {
		addr, err := netip.ParseAddr(s)
		if err != nil {
			return fmt.Errorf("invalid existing address %q: %w", s, err)
		}
		p.takenIPs[addr.Unmap()] = true
	}

	// Skip the network address and the first host address, which a LAN
	// gives its gateway.
	p.nextAddr = subnet.Addr().Next().Next()
	return nil
}

func (p *buildPlan) decky(i int, previous []string) (Decky, error) {
	name := p.nextName()
	d := Decky{
		Name:    name,
		Persona: PersonaLinux,
		Seed:    SeedFor(p.fleetSeed, name),
	}
	if p.archetype != nil {
		d.Archetype = p.archetype.Slug
		d.Persona = p.archetype.Persona
	}

	ip, err := p.nextIP()
	if err != nil {
		return Decky{}, err
	}
	d.IP = ip.String()

	if p.opts.RandomizeDistros {
		d.Distro = p.distroPool[d.Rand("distro").IntN(len(p.distroPool))]
	} else {
		d.Distro = p.distroPool[i%len(p.distroPool)]
	}
	d.Hostname = p.hostname(d)

	for _, svc := range p.services(d, previous) {
		d.Services = append(d.Services, Service{Name: svc, Port: p.port(svc)})
	}
	return d, nil
}

func (p *buildPlan) nextName() string {
	for {
		p.nameIndex++
		name := fmt.Sprintf("decky-%02d", p.nameIndex)
		if !p.names[name] {
			p.names[name] = true
			return name
		}
	}
}

func (p *buildPlan) nextIP() (netip.Addr, error) {
	for addr := p.nextAddr; p.subnet.Contains(addr); addr = addr.Next() {
		if p.takenIPs[addr] || isBroadcast(p.subnet, addr) {
			continue
		}
		p.takenIPs[addr] = true
		p.nextAddr = addr.Next()
		return addr, nil
	}
	return netip.Addr{}, fmt.Errorf("subnet %s has no free address left: use a larger subnet or fewer deckies", p.subnet)
}

// hostname draws hostnames until one is unused in this build. After 64
// collisions it appends the decky name, which is unique.
func (p *buildPlan) hostname(d Decky) string {
	dist, err := LookupDistro(d.Distro)
	if err != nil {
		dist = distros[0]
	}
	r := d.Rand("hostname")
	for range 64 {
		h := GenerateHostname(dist.Style, r)
		if !p.hostnames[h] {
			p.hostnames[h] = true
			return h
		}
	}
	h := GenerateHostname(dist.Style, r) + "-" + d.Name
	p.hostnames[h] = true
	return h
}

func (p *buildPlan) services(d Decky, previous []string) []string {
	switch {
	case len(p.opts.Services) > 0:
		return slices.Clone(p.opts.Services)
	case !p.opts.RandomizeServices && p.archetype != nil:
		return slices.Clone(p.archetype.Services)
	}

	// Random sets avoid repeating the previous decky's set, so neighbours
	// differ; 20 draws is plenty unless the pool is tiny.
	r := d.Rand("services")
	var set []string
	for range 20 {
		set = p.randomServices(r)
		if !slices.Equal(set, previous) {
			break
		}
	}
	return set
}

// randomServices draws 1 to 3 distinct services from the pool, never two
// on the same port, and returns them sorted.
func (p *buildPlan) randomServices(r *rand.Rand) []string {
	want := 1 + r.IntN(min(maxRandomServices, len(p.randomPool)))
	used := make(map[int]bool)
	var set []string
	for _, idx := range r.Perm(len(p.randomPool)) {
		name := p.randomPool[idx]
		if used[p.port(name)] {
			continue
		}
		used[p.port(name)] = true
		set = append(set, name)
		if len(set) == want {
			break
		}
	}
	slices.Sort(set)
	return set
}

func (p *buildPlan) port(service string) int {
	if port, ok := p.opts.Ports[service]; ok {
		return port
	}
	return defaultPorts[service]
}

func (p *buildPlan) isImplemented(service string) bool {
	return p.implemented == nil || p.implemented[service]
}

func (p *buildPlan) implementedNames() []string {
	if p.implemented == nil {
		return ServiceNames()
	}
	var names []string
	for name := range p.implemented {
		names = append(names, name)
	}
	slices.Sort(names)
	return names
}

func isBroadcast(subnet netip.Prefix, addr netip.Addr) bool {
	b := addr.As4()
	hostBits := 32 - subnet.Bits()
	v := uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
	mask := uint32(1)<<hostBits - 1
	return v&mask == mask
}

func serviceNames(services []Service) []string {
	names := make([]string, len(services))
	for i, s := range services {
		names[i] = s.Name
	}
	return names
}
