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
	"github.com/decnet/decnet/internal/decky/driver/native"
	"github.com/decnet/decnet/internal/services"
	"github.com/decnet/decnet/internal/services/catalog"
)

// deckyEnv is the environment variable that carries a decky's full JSON
// description into its containers.
const deckyEnv = "DECNET_DECKY"

// serviceEnv holds the inputs of one emulator inside a decky container.
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
	runners := deckyServices()
	for _, s := range selected {
		run, ok := runners[s.Name]
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

// deckyServices returns the runner of each service decky serve can run.
// They build the same emulators, from the same catalog, as the native
// driver does in process.
func deckyServices() map[string]deckyService {
	out := map[string]deckyService{}
	for name, factory := range catalog.Factories() {
		out[name] = func(ctx context.Context, env serviceEnv) error {
			srv, err := factory(native.ServiceContext{Decky: env.Decky, Service: env.Service, Root: env.Root, Sink: env.Sink, Logger: env.Log})
			if err != nil {
				return err
			}
			return serveOn(ctx, env, srv)
		}
	}
	return out
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
