package planter

import (
	"context"
	"errors"
	"fmt"

	"github.com/decnet/decnet/internal/decky"
	"github.com/decnet/decnet/internal/fleet"
	"github.com/decnet/decnet/internal/store"
)

// StateFileDeckies looks deckies up in the fleet state file at path, the
// desired state every deploy writes.
func StateFileDeckies(path string) DeckyLookup {
	return func(ctx context.Context, name string) (decky.Decky, error) {
		st, err := fleet.LoadState(path)
		if errors.Is(err, fleet.ErrNoState) {
			return decky.Decky{}, fmt.Errorf("decky %s: no fleet deployed: %w", name, store.ErrNotFound)
		}
		if err != nil {
			return decky.Decky{}, fmt.Errorf("load fleet state: %w", err)
		}
		for _, d := range st.Deckies {
			if d.Name == name {
				return d, nil
			}
		}
		return decky.Decky{}, fmt.Errorf("decky %s: %w", name, store.ErrNotFound)
	}
}
