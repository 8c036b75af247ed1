// Package fleet keeps the desired state of the decky fleet. The deployer is
// the single writer of the state file and of fleet_deckies; the reconciler
// compares both with what the runtime reports.
package fleet

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/decnet/decnet/internal/decky"
)

// StateFileName is the state file's name inside the data directory.
const StateFileName = "decnet-state.json"

// stateVersion is the format version written to the state file.
const stateVersion = 1

// State is the content of decnet-state.json: the fleet this host should run.
// Generation grows by one with every write, and fleet_deckies rows carry the
// generation of the deploy that wrote them.
type State struct {
	Version    int           `json:"version"`
	HostID     string        `json:"host_id"`
	Driver     string        `json:"driver"`
	Generation int64         `json:"generation"`
	Subnet     string        `json:"subnet,omitempty"`
	Deckies    []decky.Decky `json:"deckies"`
}

// ErrNoState reports that the state file does not exist. It wraps
// fs.ErrNotExist. A reconciler must treat it as "unknown", never as "empty".
var ErrNoState = fmt.Errorf("fleet: no state file: %w", fs.ErrNotExist)

// LoadState reads the state file at path. A missing file returns ErrNoState;
// an unreadable or corrupt file returns an error naming the path.
func LoadState(path string) (State, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return State{}, fmt.Errorf("%w: %s", ErrNoState, path)
	}
	if err != nil {
		return State{}, fmt.Errorf("fleet: read state file: %w", err)
	}

	var st State
	if err := json.Unmarshal(data, &st); err != nil {
		return State{}, fmt.Errorf("fleet: state file %s is corrupt (restore it or remove it and redeploy): %w", path, err)
	}
	if st.Version != stateVersion {
		return State{}, fmt.Errorf("fleet: state file %s has version %d, this decnet reads %d", path, st.Version, stateVersion)
	}
	return st, nil
}

// SaveState writes st to path atomically: a temporary file in the same
// directory is written, synced and renamed over the old one, so a reader sees
// either the old or the new state and never a partial file.
func SaveState(path string, st State) error {
	st.Version = stateVersion
	if st.Deckies == nil {
		st.Deckies = []decky.Decky{}
	}
	data, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return fmt.Errorf("fleet: encode state: %w", err)
	}
	return writeFileAtomic(path, append(data, '\n'), 0o640)
}

func writeFileAtomic(path string, data []byte, mode fs.FileMode) error {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return fmt.Errorf("fleet: write %s: %w", path, err)
	}
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".*")
	if err != nil {
		return fmt.Errorf("fleet: write %s: %w", path, err)
	}
	defer os.Remove(tmp.Name())

	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return fmt.Errorf("fleet: write %s: %w", path, err)
	}
	if err := tmp.Chmod(mode); err != nil {
		tmp.Close()
		return fmt.Errorf("fleet: write %s: %w", path, err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("fleet: write %s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("fleet: write %s: %w", path, err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("fleet: write %s: %w", path, err)
	}
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
	return nil
}
