package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/decnet/decnet/internal/config"
	"github.com/decnet/decnet/internal/fleet"
	"github.com/decnet/decnet/internal/store/sqlstore"
)

// dataFlags are the flags every command that reads the data directory takes.
type dataFlags struct {
	dataDir string
	jsonOut bool
}

func (f *dataFlags) register(cmd *cobra.Command, withJSON bool) {
	cmd.Flags().StringVar(&f.dataDir, "data-dir", "", "data directory (env DECNET_DATA_DIR, default ./decnet-data)")
	if withJSON {
		cmd.Flags().BoolVar(&f.jsonOut, "json", false, "print JSON instead of a table")
	}
}

// loadConfig reads DECNET_* variables and applies the --data-dir flag.
func (f *dataFlags) loadConfig() (config.Config, error) {
	cfg, err := config.FromEnv()
	if err != nil {
		return cfg, err
	}
	if f.dataDir != "" {
		cfg.DataDir = f.dataDir
		if _, set := os.LookupEnv("DECNET_DB_PATH"); !set {
			cfg.DBPath = filepath.Join(f.dataDir, "decnet.db")
		}
	}
	return cfg, cfg.Validate()
}

// openRead prepares a read-only command: it builds the logger, loads the
// configuration, refuses a data directory without a database (instead of
// creating an empty one) and opens the store, which the caller closes.
func (f *dataFlags) openRead(ctx context.Context, g *globals) (config.Config, *sqlstore.Store, error) {
	log, err := g.logger()
	if err != nil {
		return config.Config{}, nil, err
	}
	cfg, err := f.loadConfig()
	if err != nil {
		return cfg, nil, err
	}
	if err := requireDataDir(cfg); err != nil {
		return cfg, nil, err
	}
	st, err := openStore(ctx, cfg, log)
	return cfg, st, err
}

func statePath(cfg config.Config) string {
	return filepath.Join(cfg.DataDir, fleet.StateFileName)
}

func openStore(ctx context.Context, cfg config.Config, log *slog.Logger) (*sqlstore.Store, error) {
	st, err := sqlstore.Open(ctx, cfg.DBPath, sqlstore.Options{Logger: log})
	if err != nil {
		return nil, fmt.Errorf("%w (check DECNET_DATA_DIR or --data-dir)", err)
	}
	return st, nil
}

func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// printJSONLine writes v as one compact JSON line, for streams of records.
func printJSONLine(g *globals, v any) error {
	return json.NewEncoder(g.stdout).Encode(v)
}

// lockDataDir takes an exclusive lock on the data directory, so that a
// second `decnet up` on it fails at once instead of sharing the bus store
// and the deckies' addresses. The returned function releases the lock.
func lockDataDir(dir string) (func(), error) {
	path := filepath.Join(dir, "decnet.lock")
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("lock data directory: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		owner, _ := os.ReadFile(path)
		f.Close()
		return nil, fmt.Errorf("data directory %s is in use by another decnet up (pid %s): stop it or use another --data-dir", dir, strings.TrimSpace(string(owner)))
	}
	f.Truncate(0)
	fmt.Fprintf(f, "%d\n", os.Getpid())
	return func() {
		f.Truncate(0)
		syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
		f.Close()
	}, nil
}

// requireDataDir fails when a read-only command is pointed at a data
// directory that holds no decnet data, instead of creating an empty one.
func requireDataDir(cfg config.Config) error {
	if _, err := os.Stat(cfg.DBPath); err != nil {
		return fmt.Errorf("no decnet database at %s: check --data-dir or DECNET_DATA_DIR (decnet up creates it)", cfg.DBPath)
	}
	return nil
}

// checkLimit validates a --limit flag of a read view.
func checkLimit(limit int) error {
	if limit < 1 || limit > 100000 {
		return fmt.Errorf("invalid --limit %d: use 1 to 100000", limit)
	}
	return nil
}
