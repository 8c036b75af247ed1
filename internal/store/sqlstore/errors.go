package sqlstore

import "github.com/decnet/decnet/internal/store"

var (
	errNotFound = store.ErrNotFound
	errConflict = store.ErrConflict
)
