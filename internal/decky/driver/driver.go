// Package driver defines the seam between the fleet and the runtime that
// hosts deckies. The native driver runs deckies inside the decnet process;
// the docker driver runs them as containers.
package driver

import (
	"context"
	"errors"
	"io/fs"
	"time"

	"github.com/decnet/decnet/internal/decky"
)

// State is the runtime condition of one decky as a driver sees it.
type State string

// Runtime states.
const (
	StateRunning  State = "running"
	StateFailed   State = "failed"
	StateDegraded State = "degraded"
	StateTornDown State = "torn_down"
	StateUnknown  State = "unknown"
)

// Status is what Inspect reports for one decky.
type Status struct {
	Name     string
	State    State
	IP       string
	Services map[string]State // service name to its own state
	Detail   string
}

// File is a file to place inside a decky's filesystem.
type File struct {
	Path    string // absolute path inside the decky
	Data    []byte
	Mode    fs.FileMode // permission bits
	ModTime time.Time   // zero keeps the write time
	UID     int
	GID     int
}

// ErrUnreachable reports that the runtime could not be asked at all (for
// example the container engine is down). Callers must not treat it as "no
// deckies are running".
var ErrUnreachable = errors.New("driver: runtime unreachable")

// ErrNotFound reports that a decky or file does not exist.
var ErrNotFound = errors.New("driver: not found")

// Driver deploys deckies and reaches into their filesystems.
type Driver interface {
	// Name returns the driver's name, such as "native" or "docker".
	Name() string
	// Deploy starts the decky, or updates it in place when it runs already.
	Deploy(ctx context.Context, d decky.Decky) error
	// Teardown stops the decky and removes its runtime resources.
	Teardown(ctx context.Context, name string) error
	// Inspect reports every decky this driver runs. It wraps ErrUnreachable
	// when the runtime cannot be asked.
	Inspect(ctx context.Context) ([]Status, error)
	// WriteFile writes f inside the decky, creating parent directories.
	WriteFile(ctx context.Context, name string, f File) error
	// RemoveFile removes one file inside the decky.
	RemoveFile(ctx context.Context, name, path string) error
	// ReadFile reads one file inside the decky.
	ReadFile(ctx context.Context, name, path string) ([]byte, error)
}
