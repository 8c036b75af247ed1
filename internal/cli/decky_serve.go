package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/sync/errgroup"

	"github.com/decnet/decnet/internal/decky"
	"github.com/decnet/decnet/internal/services"
	httpsvc "github.com/decnet/decnet/internal/services/http"
	"github.com/decnet/decnet/internal/services/shell"
	sshsvc "github.com/decnet/decnet/internal/services/ssh"
)

// deckyEnv is the environment variable that carries a decky's full JSON
// description into its containers.
const deckyEnv = "DECNET_DECKY"

// serviceEnv is what one emulator gets when it runs inside a decky
// container.
type serviceEnv struct {
	Decky   decky.Decky
	Service decky.Service
	Root    string // the decky's filesystem, read-only
	Sink    services.Sink
	Log     *slog.Logger
}

// deckyService runs one emulator until ctx ends.
type deckyService func(ctx context.Context, env serviceEnv) error

type deckyServeArgs struct {
	base     bool
	name     string
	services string
	root     string
}

func newDeckyCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "decky",
		Short: "Commands that run inside a decky container",
	}
	cmd.AddCommand(newDeckyServeCmd(g))
	return cmd
}

func newDeckyServeCmd(g *globals) *cobra.Command {
	var a deckyServeArgs
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run a decky's service emulators in the foreground (the entry point of the decky image)",
		Long: `Run the emulators of one decky in the foreground and write every service
event to stdout as one JSON object per line. The docker driver starts this
command as the entry point of each service container and reads the events
back from the container's log stream.

The decky's description comes from the DECNET_DECKY environment variable
(JSON); --name and --services select from it. With --base the command only
holds the decky's network namespace until it is stopped.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runDeckyServe(cmd.Context(), g, a)
		},
	}
	f := cmd.Flags()
	f.BoolVar(&a.base, "base", false, "hold the network namespace and run no service")
	f.StringVar(&a.name, "name", "", "decky name")
	f.StringVar(&a.services, "services", "", "comma-separated services to run (default: all of the decky's)")
	f.StringVar(&a.root, "root", "/srv/decky", "directory holding the decky's filesystem")
	return cmd
}

func runDeckyServe(ctx context.Context, g *globals, a deckyServeArgs) error {
	log, err := g.logger()
	if err != nil {
		return err
	}
	if a.base {
		log.Info("holding decky network namespace", "decky", a.name)
		<-ctx.Done()
		return nil
	}

	dk, err := deckyFromEnv(a.name)
	if err != nil {
		return err
	}
	selected, err := selectServices(dk, a.services)
	if err != nil {
		return err
	}

	sink := newJSONLineSink(g.stdout)
	grp, ctx := errgroup.WithContext(ctx)
	for _, s := range selected {
		run, ok := deckyServices[s.Name]
		if !ok {
			return fmt.Errorf("decky serve: service %s has no emulator in this build", s.Name)
		}
		env := serviceEnv{Decky: dk, Service: s, Root: a.root, Sink: sink, Log: log.With("decky", dk.Name, "service", s.Name)}
		grp.Go(func() error {
			if err := run(ctx, env); err != nil && !errors.Is(err, context.Canceled) {
				return fmt.Errorf("decky serve: %s: %w", s.Name, err)
			}
			return nil
		})
	}
	log.Info("decky services running", "decky", dk.Name, "services", a.services)
	return grp.Wait()
}

// deckyFromEnv decodes the decky description the driver put into the
// container's environment.
func deckyFromEnv(name string) (decky.Decky, error) {
	raw := os.Getenv(deckyEnv)
	if raw == "" {
		return decky.Decky{}, fmt.Errorf("decky serve: %s is not set", deckyEnv)
	}
	var dk decky.Decky
	if err := json.Unmarshal([]byte(raw), &dk); err != nil {
		return decky.Decky{}, fmt.Errorf("decky serve: decode %s: %w", deckyEnv, err)
	}
	if name != "" && dk.Name != name {
		return decky.Decky{}, fmt.Errorf("decky serve: %s describes decky %q, not %q", deckyEnv, dk.Name, name)
	}
	return dk, nil
}

func selectServices(dk decky.Decky, list string) ([]decky.Service, error) {
	if strings.TrimSpace(list) == "" {
		return dk.Services, nil
	}
	var out []decky.Service
	for name := range strings.SplitSeq(list, ",") {
		name = strings.TrimSpace(name)
		s, ok := dk.Service(name)
		if !ok {
			return nil, fmt.Errorf("decky serve: decky %s does not run service %q", dk.Name, name)
		}
		out = append(out, s)
	}
	return out, nil
}

// jsonLineSink writes each event as one JSON line. Emulators call Emit from
// many goroutines; the mutex keeps lines whole.
type jsonLineSink struct {
	mu  sync.Mutex
	enc *json.Encoder
}

func newJSONLineSink(w io.Writer) *jsonLineSink {
	return &jsonLineSink{enc: json.NewEncoder(w)}
}

// Emit implements services.Sink.
func (s *jsonLineSink) Emit(e services.Event) {
	s.mu.Lock()
	defer s.mu.Unlock()
	_ = s.enc.Encode(e)
}

// deckyServices maps a service name to the emulator decky serve runs.
// They are the same emulators the native driver runs in-process.
var deckyServices = map[string]deckyService{
	sshsvc.ServiceName: serveSSH,
	httpsvc.Service:    serveHTTP,
}

// server is the shape every emulator shares with net/http.
type server interface {
	Serve(l net.Listener) error
	Shutdown(ctx context.Context) error
}

// serveOn runs srv on the service's TCP port until ctx ends, then gives it
// five seconds to finish open connections.
func serveOn(ctx context.Context, env serviceEnv, srv server) error {
	ln, err := net.Listen("tcp", ":"+strconv.Itoa(env.Service.Port))
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()

	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		env.Log.Warn("shutdown", "err", err)
	}
	<-errc
	return nil
}

func serveSSH(ctx context.Context, env serviceEnv) error {
	dk := env.Decky
	now := time.Now()
	kernel := dk.Kernel()
	osName := ""
	if d, err := decky.LookupDistro(dk.Distro); err == nil {
		osName = d.PrettyName
	}
	srv, err := sshsvc.NewServer(sshsvc.Config{
		Decky:    dk.Name,
		Hostname: hostnameOf(dk),
		Distro:   dk.Distro,
		Seed:     dk.Seed,
		Policy:   sshPolicy(env.Service),
		Root:     env.Root,
		Shell: shell.Env{
			OSName:        osName,
			Kernel:        kernel.Release,
			KernelVersion: kernel.Version,
			IP:            dk.IP,
			Boot:          dk.BootTime(now),
		},
		Sink:   env.Sink,
		Logger: env.Log,
	})
	if err != nil {
		return err
	}
	return serveOn(ctx, env, srv)
}

// sshPolicy reads the login policy from the service's config: "passwords"
// is a comma-separated list accepted for every user (default: the common
// weak passwords); "accept_nth" lets the Nth password attempt in whatever
// it holds.
func sshPolicy(s decky.Service) sshsvc.Policy {
	words := sshsvc.DefaultWeakPasswords
	if v, ok := s.Config["passwords"]; ok {
		words = strings.Split(v, ",")
	}
	policies := []sshsvc.Policy{sshsvc.WeakPasswords{"*": words}}
	if n, err := strconv.Atoi(s.Config["accept_nth"]); err == nil && n > 0 {
		policies = append(policies, sshsvc.NthAttempt{N: n, PerSource: true})
	}
	return sshsvc.AnyOf(policies...)
}

func serveHTTP(ctx context.Context, env serviceEnv) error {
	dk := env.Decky
	srv, err := httpsvc.New(httpsvc.Config{
		Decky:    dk.Name,
		Hostname: hostnameOf(dk),
		Persona:  dk.Persona,
		Distro:   dk.Distro,
		Root:     env.Root,
		Sink:     env.Sink,
		Logger:   env.Log,
	})
	if err != nil {
		return err
	}
	return serveOn(ctx, env, srv)
}

func hostnameOf(dk decky.Decky) string {
	if dk.Hostname != "" {
		return dk.Hostname
	}
	return dk.Name
}
