// Package systemd generates the systemd units that run decnet's workers as
// separate services on a production host: one unit per worker, a
// decnet.target that groups them, and the environment file they share.
//
// decnet is one static binary, so every unit can use the strict end of
// systemd's sandboxing. The filesystem is read-only apart from the state and
// log directories, and a worker gets no new privileges, no capabilities
// beyond the few it needs, and only the address families it uses.
package systemd

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"text/template"
)

// Options select who runs the units and where decnet lives.
type Options struct {
	// User and Group run every worker. Default "decnet" for both.
	User  string
	Group string
	// Prefix is the installation prefix; the binary is Prefix/bin/decnet.
	// Default /usr/local.
	Prefix string
	// Binary overrides the path of the decnet executable.
	Binary string
	// EnvFile is the environment file every unit reads. Default
	// /etc/decnet/decnet.env.
	EnvFile string
	// DockerGroup is the group that may use the Docker socket; workers
	// that drive deckies join it. Default "docker".
	DockerGroup string
}

func (o Options) withDefaults() Options {
	if o.User == "" {
		o.User = "decnet"
	}
	if o.Group == "" {
		o.Group = o.User
	}
	if o.Prefix == "" {
		o.Prefix = "/usr/local"
	}
	if o.Binary == "" {
		o.Binary = filepath.Join(o.Prefix, "bin", "decnet")
	}
	if o.EnvFile == "" {
		o.EnvFile = "/etc/decnet/decnet.env"
	}
	if o.DockerGroup == "" {
		o.DockerGroup = "docker"
	}
	return o
}

var accountName = regexp.MustCompile(`^[a-z_][a-z0-9_-]{0,31}$`)

func (o Options) validate() error {
	for _, v := range []struct{ what, val string }{{"user", o.User}, {"group", o.Group}, {"docker group", o.DockerGroup}} {
		if !accountName.MatchString(v.val) {
			return fmt.Errorf("systemd: %s %q is not a valid account name", v.what, v.val)
		}
	}
	for _, p := range []string{o.Binary, o.EnvFile} {
		if !filepath.IsAbs(p) || strings.ContainsAny(p, " \t\n\"'\\%$") {
			return fmt.Errorf("systemd: path %q must be absolute and free of spaces, quotes, '%%' and '$'", p)
		}
	}
	return nil
}

// Worker is one long-running decnet command run as its own unit.
type Worker struct {
	// Name is the unit suffix: decnet-<Name>.service.
	Name string
	// Description is the unit's one-line description.
	Description string
	// Args follow the binary on the command line.
	Args []string
	// Caps are the capabilities the worker keeps (bounding and ambient).
	Caps []string
	// Families are the socket address families it may open besides
	// AF_UNIX, AF_INET and AF_INET6.
	Families []string
	// Docker adds the docker group so the worker can reach the engine.
	Docker bool
	// AfterBus orders the unit after decnet-bus.service.
	AfterBus bool
	// RuntimeDir makes systemd create /run/decnet.
	RuntimeDir bool
	// StopTimeout in seconds; 0 means 15.
	StopTimeout int
}

// Workers lists every worker unit, in the order they start.
func Workers() []Worker {
	return []Worker{
		{Name: "bus", Description: "decnet message bus (embedded NATS)", Args: []string{"bus"}, RuntimeDir: true},
		{Name: "api", Description: "decnet REST API and dashboard", Args: []string{"api"}, AfterBus: true},
		{Name: "ingester", Description: "decnet event ingester", Args: []string{"ingest"}, AfterBus: true},
		{Name: "canary", Description: "decnet canary callback receivers", Args: []string{"canary", "worker"}, Caps: []string{"CAP_NET_BIND_SERVICE"}, AfterBus: true},
		{Name: "clusterer", Description: "decnet attacker identity clusterer", Args: []string{"clusterer"}, AfterBus: true},
		{Name: "campaign-clusterer", Description: "decnet campaign clusterer", Args: []string{"campaign-clusterer"}, AfterBus: true},
		{
			Name: "reconciler", Description: "decnet fleet reconciler", Args: []string{"reconcile", "--interval", "30"},
			Docker: true, Caps: []string{"CAP_NET_ADMIN"}, Families: []string{"AF_NETLINK"}, AfterBus: true, StopTimeout: 25,
		},
		{Name: "orchestrator", Description: "decnet synthetic traffic between deckies", Args: []string{"orchestrate"}, Docker: true, AfterBus: true},
		{Name: "emailgen", Description: "decnet persona mail generator", Args: []string{"emailgen"}, Docker: true, AfterBus: true},
		{
			Name: "sniffer", Description: "decnet passive TCP/IP fingerprinting", Args: []string{"sniffer"},
			Caps: []string{"CAP_NET_RAW", "CAP_NET_ADMIN"}, Families: []string{"AF_PACKET", "AF_NETLINK"}, AfterBus: true,
		},
		{Name: "webhook", Description: "decnet SIEM and webhook fan-out", Args: []string{"webhook"}, AfterBus: true},
	}
}

// Unit is one generated file.
type Unit struct {
	Name    string // file name, such as decnet-api.service
	Content string
}

// Units returns decnet.target and one service unit per worker.
func Units(opts Options) ([]Unit, error) {
	opts = opts.withDefaults()
	if err := opts.validate(); err != nil {
		return nil, err
	}

	var units []Unit
	var names []string
	for _, w := range Workers() {
		var buf bytes.Buffer
		if err := serviceTmpl.Execute(&buf, struct {
			Options
			W Worker
		}{opts, w}); err != nil {
			return nil, fmt.Errorf("systemd: render decnet-%s.service: %w", w.Name, err)
		}
		name := "decnet-" + w.Name + ".service"
		units = append(units, Unit{Name: name, Content: buf.String()})
		names = append(names, name)
	}

	var buf bytes.Buffer
	if err := targetTmpl.Execute(&buf, names); err != nil {
		return nil, fmt.Errorf("systemd: render decnet.target: %w", err)
	}
	units = append(units, Unit{Name: "decnet.target", Content: buf.String()})
	return units, nil
}

// EnvFile returns the content of the shared environment file.
func EnvFile(hostID string) string {
	if hostID == "" {
		hostID = "local"
	}
	return `# Environment of every decnet unit. Lines are NAME=value; see
# ` + "`decnet config vars`" + ` for every variable.
DECNET_DATA_DIR=/var/lib/decnet
DECNET_LOG_FORMAT=json
DECNET_LOG_LEVEL=info
DECNET_BUS_URL=nats://127.0.0.1:4222
DECNET_HOST_ID=` + hostID + `
# The docker driver reaches the engine the standard way:
#DOCKER_HOST=unix:///run/docker.sock
`
}

// Write puts every unit into dir. Each file is written to a temporary name
// and renamed, so systemd never reads half a unit. An existing file is
// replaced only with force.
func Write(dir string, units []Unit, force bool) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("systemd: %w", err)
	}
	for _, u := range units {
		if err := WriteFile(filepath.Join(dir, u.Name), []byte(u.Content), 0o644, force); err != nil {
			return err
		}
	}
	return nil
}

// ErrExists reports that a file is in the way and force was not given.
var ErrExists = errors.New("systemd: file exists")

// WriteFile writes data to path atomically with the given mode.
func WriteFile(path string, data []byte, mode os.FileMode, force bool) error {
	if !force {
		if _, err := os.Lstat(path); err == nil {
			return fmt.Errorf("%w: %s (use --force to replace it)", ErrExists, path)
		}
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return fmt.Errorf("systemd: %w", err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return fmt.Errorf("systemd: write %s: %w", path, err)
	}
	if err := tmp.Chmod(mode); err != nil {
		tmp.Close()
		return fmt.Errorf("systemd: write %s: %w", path, err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("systemd: write %s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("systemd: write %s: %w", path, err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("systemd: write %s: %w", path, err)
	}
	return nil
}

var funcs = template.FuncMap{"join": strings.Join}

var serviceTmpl = template.Must(template.New("service").Funcs(funcs).Parse(`# Generated by decnet init. Changes are lost on the next run.
[Unit]
Description={{.W.Description}}
Documentation=man:decnet(1)
PartOf=decnet.target
Wants=network-online.target{{if .W.AfterBus}} decnet-bus.service{{end}}
After=network-online.target{{if .W.AfterBus}} decnet-bus.service{{end}}

[Service]
Type=simple
User={{.User}}
Group={{.Group}}
{{- if .W.Docker}}
SupplementaryGroups={{.DockerGroup}}
{{- end}}
EnvironmentFile=-{{.EnvFile}}
ExecStart={{.Binary}} {{join .W.Args " "}}
Restart=on-failure
RestartSec=5
TimeoutStopSec={{if .W.StopTimeout}}{{.W.StopTimeout}}{{else}}15{{end}}
UMask=0027
StateDirectory=decnet
StateDirectoryMode=0750
LogsDirectory=decnet
{{- if .W.RuntimeDir}}
RuntimeDirectory=decnet
RuntimeDirectoryMode=0755
RuntimeDirectoryPreserve=yes
{{- end}}
WorkingDirectory=/var/lib/decnet

# Sandbox. decnet is a single static binary: it needs no shared libraries,
# no interpreter and no writable path outside its state and log directories.
NoNewPrivileges=yes
ProtectSystem=strict
ProtectHome=yes
PrivateTmp=yes
PrivateDevices=yes
ProtectKernelTunables=yes
ProtectKernelModules=yes
ProtectKernelLogs=yes
ProtectControlGroups=yes
ProtectClock=yes
ProtectHostname=yes
ProtectProc=invisible
RestrictSUIDSGID=yes
RestrictRealtime=yes
RestrictNamespaces=yes
LockPersonality=yes
MemoryDenyWriteExecute=yes
SystemCallArchitectures=native
SystemCallFilter=@system-service
SystemCallErrorNumber=EPERM
RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6{{range .W.Families}} {{.}}{{end}}
CapabilityBoundingSet={{join .W.Caps " "}}
AmbientCapabilities={{join .W.Caps " "}}

[Install]
WantedBy=decnet.target
`))

var targetTmpl = template.Must(template.New("target").Funcs(funcs).Parse(`# Generated by decnet init. Changes are lost on the next run.
[Unit]
Description=decnet deception network (every worker)
Documentation=man:decnet(1)
Wants={{join . " "}}
After=network-online.target

[Install]
WantedBy=multi-user.target
`))
