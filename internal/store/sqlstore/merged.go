package sqlstore

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	"github.com/decnet/decnet/internal/store"
)

// listPage runs count, which returns one integer, and list, which gets
// args followed by p's limit and offset, and scans every listed row.
// what names the rows in errors ("store: list <what>: ...").
func listPage[T any](ctx context.Context, s *Store, what, count, list string, args []any, p store.Page,
	scan func(scanner) (T, error)) ([]T, int, error) {
	p = normalizePage(p)

	var total int
	if err := s.db.QueryRowContext(ctx, count, args...).Scan(&total); err != nil {
		return nil, 0, fmt.Errorf("store: count %s: %w", what, err)
	}
	rows, err := s.db.QueryContext(ctx, list, append(args, p.Limit, p.Offset)...)
	if err != nil {
		return nil, 0, fmt.Errorf("store: list %s: %w", what, err)
	}
	defer rows.Close()

	out := []T{}
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, 0, err
		}
		out = append(out, v)
	}
	if err := rows.Err(); err != nil {
		return nil, 0, fmt.Errorf("store: list %s: %w", what, err)
	}
	return out, total, nil
}

// followMerges returns the row uuid resolves to: the row itself, or the
// row at the end of its merge chain, read with get. mergedInto returns a
// row's merge target, or "" for an active row. Chains longer than
// MaxMergeHops stop at the last row reached, and so does a chain whose
// next row is missing.
func followMerges[T any](ctx context.Context, uuid string, get func(context.Context, string) (T, error),
	mergedInto func(T) string) (T, error) {
	row, err := get(ctx, uuid)
	if err != nil {
		var zero T
		return zero, err
	}
	for hop := 0; hop < MaxMergeHops; hop++ {
		target := mergedInto(row)
		if target == "" {
			break
		}
		next, err := get(ctx, target)
		if errors.Is(err, store.ErrNotFound) {
			break
		}
		if err != nil {
			var zero T
			return zero, err
		}
		row = next
	}
	return row, nil
}

// mergeTree returns a recursive query prefix over the rows of table whose
// merge chain ends at its first argument: the winner and everything merged
// into it, directly or through other losers, up to MaxMergeHops deep.
func mergeTree(table string) string {
	return `WITH RECURSIVE tree(uuid, depth) AS (
		SELECT ?, 0
		UNION
		SELECT m.uuid, t.depth + 1 FROM ` + table + ` m JOIN tree t ON m.merged_into_uuid = t.uuid
		WHERE t.depth < ` + strconv.Itoa(MaxMergeHops) + `
	)`
}
