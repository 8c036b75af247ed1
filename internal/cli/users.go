package cli

import (
	"errors"
	"fmt"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/decnet/decnet/internal/auth"
	"github.com/decnet/decnet/internal/store"
)

func newUsersCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "users",
		Short: "Manage API accounts on this host's database",
		Long: `Manage API accounts directly in the database, for the host operator (for example
to recover a lost admin password). Passwords are read from stdin with
--password-stdin; without it a strong password is generated, printed once and
must be changed at first login.`,
	}
	cmd.AddCommand(newUsersAddCmd(g), newUsersListCmd(g), newUsersPasswdCmd(g))
	return cmd
}

// userPassword returns the password from stdin, or a generated one.
func userPassword(cmd *cobra.Command, fromStdin bool) (pw string, generated bool, err error) {
	if fromStdin {
		pw, err = readPasswordLine(cmd.InOrStdin())
		if err != nil {
			return "", false, err
		}
		if err := auth.ValidatePassword(pw); err != nil {
			return "", false, fmt.Errorf("password from stdin: %w", err)
		}
		return pw, false, nil
	}
	pw, err = auth.GeneratePassword(24)
	return pw, true, err
}

func newUsersAddCmd(g *globals) *cobra.Command {
	var (
		df        dataFlags
		role      string
		fromStdin bool
	)
	cmd := &cobra.Command{
		Use:   "add USERNAME",
		Short: "Create an account",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if !auth.ValidRole(role) {
				return fmt.Errorf("invalid --role %q: use admin or viewer", role)
			}
			cfg, err := df.loadConfig()
			if err != nil {
				return err
			}
			log, err := g.logger()
			if err != nil {
				return err
			}
			st, err := openStore(cmd.Context(), cfg, log)
			if err != nil {
				return err
			}
			defer st.Close()

			pw, generated, err := userPassword(cmd, fromStdin)
			if err != nil {
				return err
			}
			hash, err := auth.HashPassword(pw, 0)
			if err != nil {
				return err
			}
			u, err := st.CreateUser(cmd.Context(), store.User{Username: args[0], PasswordHash: hash, Role: role, MustChangePassword: generated})
			if errors.Is(err, store.ErrConflict) {
				return fmt.Errorf("user %q already exists: use `decnet users passwd %s` to reset its password", args[0], args[0])
			}
			if err != nil {
				return err
			}
			fmt.Fprintf(g.stdout, "created %s user %q (%s)\n", u.Role, u.Username, u.UUID)
			if generated {
				fmt.Fprintf(g.stdout, "password: %s\n(shown once; it must be changed at first login)\n", pw)
			}
			return nil
		},
	}
	df.register(cmd, false)
	cmd.Flags().StringVar(&role, "role", auth.RoleViewer, "role of the account: admin or viewer")
	cmd.Flags().BoolVar(&fromStdin, "password-stdin", false, "read the password (12 to 72 bytes) from the first line of stdin")
	return cmd
}

func newUsersListCmd(g *globals) *cobra.Command {
	var df dataFlags
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List accounts",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := df.loadConfig()
			if err != nil {
				return err
			}
			log, err := g.logger()
			if err != nil {
				return err
			}
			st, err := openStore(cmd.Context(), cfg, log)
			if err != nil {
				return err
			}
			defer st.Close()

			users, _, err := st.ListUsers(cmd.Context(), store.Page{Limit: 1000})
			if err != nil {
				return err
			}
			if df.jsonOut {
				return printJSON(g.stdout, users)
			}
			tw := tabwriter.NewWriter(g.stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "USERNAME\tROLE\tDISABLED\tMUST CHANGE PASSWORD\tUUID")
			for _, u := range users {
				fmt.Fprintf(tw, "%s\t%s\t%v\t%v\t%s\n", u.Username, u.Role, u.Disabled, u.MustChangePassword, u.UUID)
			}
			return tw.Flush()
		},
	}
	df.register(cmd, true)
	return cmd
}

func newUsersPasswdCmd(g *globals) *cobra.Command {
	var (
		df        dataFlags
		fromStdin bool
	)
	cmd := &cobra.Command{
		Use:   "passwd USERNAME",
		Short: "Set an account's password and end its sessions",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, err := df.loadConfig()
			if err != nil {
				return err
			}
			log, err := g.logger()
			if err != nil {
				return err
			}
			st, err := openStore(cmd.Context(), cfg, log)
			if err != nil {
				return err
			}
			defer st.Close()

			u, err := st.GetUserByUsername(cmd.Context(), args[0])
			if errors.Is(err, store.ErrNotFound) {
				return fmt.Errorf("user %q not found: `decnet users list` shows the accounts", args[0])
			}
			if err != nil {
				return err
			}
			pw, generated, err := userPassword(cmd, fromStdin)
			if err != nil {
				return err
			}
			hash, err := auth.HashPassword(pw, 0)
			if err != nil {
				return err
			}
			if err := st.SetUserPassword(cmd.Context(), u.UUID, hash, generated); err != nil {
				return err
			}
			fmt.Fprintf(g.stdout, "password of %q changed; its earlier tokens no longer work\n", u.Username)
			if generated {
				fmt.Fprintf(g.stdout, "password: %s\n(shown once; it must be changed at first login)\n", pw)
			}
			return nil
		},
	}
	df.register(cmd, false)
	cmd.Flags().BoolVar(&fromStdin, "password-stdin", false, "read the password (12 to 72 bytes) from the first line of stdin")
	return cmd
}
