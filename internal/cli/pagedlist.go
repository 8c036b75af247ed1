package cli

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/decnet/decnet/internal/store"
	"github.com/decnet/decnet/internal/store/sqlstore"
)

// pagedList describes a read-only command that prints one page of a
// listing, as a table or with --json as {total, limit, offset, data}.
type pagedList[T any] struct {
	use, short, long string
	noun             string // plural, for the flag help
	list             func(ctx context.Context, st *sqlstore.Store, p store.Page) ([]T, int, error)
	print            func(g *globals, items []T, total int) error
}

func newPagedListCmd[T any](g *globals, l pagedList[T]) *cobra.Command {
	var (
		df     dataFlags
		limit  int
		offset int
	)
	cmd := &cobra.Command{
		Use:   l.use,
		Short: l.short,
		Long:  l.long,
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if limit < 1 || limit > 1000 {
				return fmt.Errorf("invalid --limit %d: use a number from 1 to 1000", limit)
			}
			if offset < 0 {
				return fmt.Errorf("invalid --offset %d: use 0 or more", offset)
			}
			_, st, err := df.openRead(cmd.Context(), g)
			if err != nil {
				return err
			}
			defer st.Close()

			items, total, err := l.list(cmd.Context(), st, store.Page{Limit: limit, Offset: offset})
			if err != nil {
				return err
			}
			if df.jsonOut {
				return printJSON(g.stdout, map[string]any{"total": total, "limit": limit, "offset": offset, "data": items})
			}
			return l.print(g, items, total)
		},
	}
	df.register(cmd, true)
	cmd.Flags().IntVar(&limit, "limit", 50, "number of "+l.noun+" to list, 1 to 1000")
	cmd.Flags().IntVar(&offset, "offset", 0, "number of "+l.noun+" to skip")
	return cmd
}
