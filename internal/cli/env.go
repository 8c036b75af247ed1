package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"

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
