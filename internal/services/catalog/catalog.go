// Package catalog maps service names to the emulators that implement them,
// so the native driver and the decky container entry point build services
// the same way.
package catalog

import (
	"fmt"
	"net/netip"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/decnet/decnet/internal/decky"
	"github.com/decnet/decnet/internal/decky/driver/native"
	httpsvc "github.com/decnet/decnet/internal/services/http"
	"github.com/decnet/decnet/internal/services/shell"
	sshsvc "github.com/decnet/decnet/internal/services/ssh"
)

// Per-service configuration keys read from decky.Service.Config.
const (
	// ConfigPasswords lists logins the SSH service accepts, as
	// "user:password,user2:password2"; "*" as the user matches any user.
	ConfigPasswords = "passwords"
	// ConfigAcceptNth makes the SSH service accept the Nth password attempt
	// of a source address, whatever it is. 0 turns it off.
	ConfigAcceptNth = "accept_nth"
)

// Factories returns a constructor for every implemented service.
func Factories() map[string]native.Factory {
	return map[string]native.Factory{
		"ssh":  newSSH,
		"http": newHTTP,
	}
}

// Implemented returns the sorted names of the implemented services.
func Implemented() []string {
	var names []string
	for n := range Factories() {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

func newSSH(sc native.ServiceContext) (native.Server, error) {
	d := sc.Decky
	policy, err := SSHPolicy(sc.Service.Config)
	if err != nil {
		return nil, fmt.Errorf("decky %s: ssh: %w", d.Name, err)
	}

	env := shell.Env{Hostname: d.Hostname, IP: d.IP, PrefixLen: 24, Boot: d.BootTime(time.Now())}
	if dist, err := decky.LookupDistro(d.Distro); err == nil {
		env.OSName = dist.PrettyName
	}
	k := d.Kernel()
	env.Kernel, env.KernelVersion = k.Release, k.Version
	if addr, err := netip.ParseAddr(d.IP); err == nil && addr.Is4() {
		b := addr.As4()
		env.MAC = fmt.Sprintf("52:54:00:%02x:%02x:%02x", b[1], b[2], b[3])
	}

	return sshsvc.NewServer(sshsvc.Config{
		Decky:    d.Name,
		Hostname: d.Hostname,
		Distro:   d.Distro,
		Seed:     d.Seed,
		Policy:   policy,
		Root:     sc.Root,
		Shell:    env,
		Sink:     sc.Sink,
		Logger:   sc.Logger,
	})
}

// SSHPolicy builds the login policy of an SSH service from its
// configuration. Without configuration the decky accepts the passwords that
// brute-force lists try first, which is what a neglected host does.
func SSHPolicy(cfg map[string]string) (sshsvc.Policy, error) {
	var policies []sshsvc.Policy

	if raw := strings.TrimSpace(cfg[ConfigPasswords]); raw != "" {
		weak := sshsvc.WeakPasswords{}
		for _, pair := range strings.Split(raw, ",") {
			user, pw, ok := strings.Cut(strings.TrimSpace(pair), ":")
			if !ok || user == "" {
				return nil, fmt.Errorf("invalid %s entry %q: use user:password", ConfigPasswords, pair)
			}
			weak[user] = append(weak[user], pw)
		}
		policies = append(policies, weak)
	} else {
		policies = append(policies, sshsvc.WeakPasswords{"*": sshsvc.DefaultWeakPasswords})
	}

	if raw := strings.TrimSpace(cfg[ConfigAcceptNth]); raw != "" {
		n, err := strconv.Atoi(raw)
		if err != nil || n < 0 {
			return nil, fmt.Errorf("invalid %s %q: use a whole number, 0 to turn it off", ConfigAcceptNth, raw)
		}
		if n > 0 {
			policies = append(policies, sshsvc.NthAttempt{N: n, PerSource: true})
		}
	}
	return sshsvc.AnyOf(policies...), nil
}

func newHTTP(sc native.ServiceContext) (native.Server, error) {
	d := sc.Decky
	return httpsvc.New(httpsvc.Config{
		Decky:    d.Name,
		Hostname: d.Hostname,
		Persona:  d.Persona,
		Distro:   d.Distro,
		Root:     sc.Root,
		Sink:     sc.Sink,
		Logger:   sc.Logger,
	})
}
