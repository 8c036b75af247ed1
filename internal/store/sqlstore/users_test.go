package sqlstore

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/decnet/decnet/internal/store"
)

func openUserStore(t *testing.T, now func() time.Time) *Store {
	t.Helper()
	s, err := Open(context.Background(), filepath.Join(t.TempDir(), "decnet.db"), Options{Now: now})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestUsersCreateGetList(t *testing.T) {
	ctx := context.Background()
	s := openUserStore(t, nil)

	admin, err := s.CreateUser(ctx, store.User{Username: "admin", PasswordHash: "h1", Role: store.RoleAdmin, MustChangePassword: true})
	if err != nil {
		t.Fatalf("CreateUser(admin): %v", err)
	}
	if _, err := s.CreateUser(ctx, store.User{Username: "bob", PasswordHash: "h2"}); err != nil {
		t.Fatalf("CreateUser(bob): %v", err)
	}

	_, err = s.CreateUser(ctx, store.User{Username: "admin", PasswordHash: "h3"})
	if !errors.Is(err, store.ErrConflict) {
		t.Errorf("CreateUser(duplicate) error = %v, want store.ErrConflict", err)
	}

	got, err := s.GetUserByUsername(ctx, "admin")
	if err != nil {
		t.Fatalf("GetUserByUsername: %v", err)
	}
	if diff := cmp.Diff(got, admin); diff != "" {
		t.Errorf("GetUserByUsername(admin) (-got +want):\n%s", diff)
	}

	if _, err := s.GetUser(ctx, "missing"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("GetUser(missing) error = %v, want store.ErrNotFound", err)
	}

	page, total, err := s.ListUsers(ctx, store.Page{Limit: 1, Offset: 1})
	if err != nil {
		t.Fatalf("ListUsers: %v", err)
	}
	if total != 2 || len(page) != 1 || page[0].Username != "bob" || page[0].Role != store.RoleViewer {
		t.Errorf("ListUsers(limit 1, offset 1) = %+v total %d, want [bob viewer] total 2", page, total)
	}
}

func TestUsersUpdatesBumpValidFrom(t *testing.T) {
	ctx := context.Background()
	clock := time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
	s := openUserStore(t, func() time.Time { return clock })

	u, err := s.CreateUser(ctx, store.User{Username: "carol", PasswordHash: "old", Role: store.RoleAdmin})
	if err != nil {
		t.Fatalf("CreateUser: %v", err)
	}
	if _, err := s.CreateUser(ctx, store.User{Username: "dave", PasswordHash: "x", Role: store.RoleAdmin}); err != nil {
		t.Fatalf("CreateUser: %v", err)
	}

	steps := []struct {
		name string
		run  func() error
	}{
		{"password", func() error { return s.SetUserPassword(ctx, u.UUID, "new", false) }},
		{"role", func() error { return s.SetUserRole(ctx, u.UUID, store.RoleViewer) }},
		{"disabled", func() error { return s.SetUserDisabled(ctx, u.UUID, true) }},
	}
	for _, step := range steps {
		clock = clock.Add(time.Minute)
		if err := step.run(); err != nil {
			t.Fatalf("%s: %v", step.name, err)
		}
		got, err := s.GetUser(ctx, u.UUID)
		if err != nil {
			t.Fatalf("GetUser after %s: %v", step.name, err)
		}
		if got.TokensValidFrom == nil || !got.TokensValidFrom.Equal(clock) {
			t.Errorf("after %s TokensValidFrom = %v, want %v", step.name, got.TokensValidFrom, clock)
		}
	}

	got, _ := s.GetUser(ctx, u.UUID)
	want := store.User{PasswordHash: "new", Role: store.RoleViewer, Disabled: true}
	if got.PasswordHash != want.PasswordHash || got.Role != want.Role || !got.Disabled {
		t.Errorf("GetUser = %+v, want hash %q role %q disabled", got, want.PasswordHash, want.Role)
	}

	if err := s.SetUserRole(ctx, "missing", store.RoleAdmin); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("SetUserRole(missing) error = %v, want store.ErrNotFound", err)
	}
}

func TestUsersLastAdminGuard(t *testing.T) {
	ctx := context.Background()
	s := openUserStore(t, nil)

	admin, err := s.CreateUser(ctx, store.User{Username: "admin", PasswordHash: "h", Role: store.RoleAdmin})
	if err != nil {
		t.Fatalf("CreateUser: %v", err)
	}
	viewer, err := s.CreateUser(ctx, store.User{Username: "viewer", PasswordHash: "h"})
	if err != nil {
		t.Fatalf("CreateUser: %v", err)
	}

	tests := []struct {
		name string
		run  func() error
		want error
	}{
		{"demote last admin", func() error { return s.SetUserRole(ctx, admin.UUID, store.RoleViewer) }, ErrLastAdmin},
		{"disable last admin", func() error { return s.SetUserDisabled(ctx, admin.UUID, true) }, ErrLastAdmin},
		{"delete last admin", func() error { return s.DeleteUser(ctx, admin.UUID) }, ErrLastAdmin},
		{"delete viewer", func() error { return s.DeleteUser(ctx, viewer.UUID) }, nil},
		{"delete missing", func() error { return s.DeleteUser(ctx, viewer.UUID) }, store.ErrNotFound},
		{"promote keeps admin", func() error { return s.SetUserRole(ctx, admin.UUID, store.RoleAdmin) }, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.run()
			if !errors.Is(err, tt.want) {
				t.Errorf("error = %v, want %v", err, tt.want)
			}
		})
	}
	if !errors.Is(ErrLastAdmin, store.ErrConflict) {
		t.Errorf("ErrLastAdmin does not wrap store.ErrConflict")
	}
}

func TestRevokedTokens(t *testing.T) {
	ctx := context.Background()
	now := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	s := openUserStore(t, func() time.Time { return now })

	if err := s.RevokeToken(ctx, "jti-1", "u1", now.Add(time.Hour)); err != nil {
		t.Fatalf("RevokeToken: %v", err)
	}
	if err := s.RevokeToken(ctx, "jti-1", "u1", now.Add(time.Hour)); err != nil {
		t.Fatalf("RevokeToken twice: %v", err)
	}
	if err := s.RevokeToken(ctx, "jti-2", "u1", now.Add(-time.Hour)); err != nil {
		t.Fatalf("RevokeToken: %v", err)
	}

	for jti, want := range map[string]bool{"jti-1": true, "jti-2": true, "jti-3": false} {
		got, err := s.IsTokenRevoked(ctx, jti)
		if err != nil || got != want {
			t.Errorf("IsTokenRevoked(%s) = %v, %v, want %v", jti, got, err, want)
		}
	}

	n, err := s.PruneRevokedTokens(ctx, now)
	if err != nil || n != 1 {
		t.Errorf("PruneRevokedTokens = %d, %v, want 1", n, err)
	}
	if got, _ := s.IsTokenRevoked(ctx, "jti-2"); got {
		t.Errorf("IsTokenRevoked(jti-2) after prune = true, want false")
	}
}
