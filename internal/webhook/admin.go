package webhook

import (
	"context"
	"fmt"
	"sort"

	"github.com/decnet/decnet/internal/store"
)

// Target sources in TargetInfo.
const (
	SourceFile = "file"
	SourceAPI  = "api"
)

// TargetInfo is a target as the API lists it: secrets hidden, where it was
// defined, and its counters when the worker runs in the same process.
type TargetInfo struct {
	Target
	Source string `json:"source"`
	Stats  *Stats `json:"stats,omitempty"`
}

// Notifier signals running workers that the stored targets changed, usually
// by publishing on system.webhook.subscriptions_changed.
type Notifier func(ctx context.Context)

// Admin implements the API's target management over the file targets and
// the Store.
type Admin struct {
	store       *Store
	file        []Target
	allowUnsafe bool
	notify      Notifier
	// Worker, when set, supplies delivery counters.
	Worker *Worker
}

// NewAdmin returns an Admin. notify may be nil.
func NewAdmin(st *Store, fileTargets []Target, allowUnsafe bool, notify Notifier) *Admin {
	return &Admin{store: st, file: fileTargets, allowUnsafe: allowUnsafe, notify: notify}
}

// ListTargets returns every target, file targets first, each group by name.
func (a *Admin) ListTargets(ctx context.Context) ([]TargetInfo, error) {
	var stats map[string]Stats
	if a.Worker != nil {
		stats = a.Worker.Stats()
	}
	info := func(t Target, source string) TargetInfo {
		ti := TargetInfo{Target: t.withDefaults().Redacted(), Source: source}
		if s, ok := stats[t.Name]; ok {
			ti.Stats = &s
		}
		return ti
	}

	out := []TargetInfo{}
	file := append([]Target(nil), a.file...)
	sort.Slice(file, func(i, j int) bool { return file[i].Name < file[j].Name })
	for _, t := range file {
		out = append(out, info(t, SourceFile))
	}
	if a.store == nil {
		return out, nil
	}
	stored, err := a.store.ListTargets(ctx)
	if err != nil {
		return nil, err
	}
	for _, t := range stored {
		out = append(out, info(t, SourceAPI))
	}
	return out, nil
}

// CreateTarget validates and stores a target. Invalid targets wrap
// ErrInvalidTarget; a name taken by a file or stored target wraps
// store.ErrConflict.
func (a *Admin) CreateTarget(ctx context.Context, t Target) (TargetInfo, error) {
	if a.store == nil {
		return TargetInfo{}, errNoStore
	}
	if err := Validate(t, a.allowUnsafe); err != nil {
		return TargetInfo{}, err
	}
	for _, f := range a.file {
		if f.Name == t.Name {
			return TargetInfo{}, fmt.Errorf("webhook target %q is defined in the config file: %w", t.Name, store.ErrConflict)
		}
	}
	if err := a.store.CreateTarget(ctx, t); err != nil {
		return TargetInfo{}, err
	}
	a.changed(ctx)
	return TargetInfo{Target: t.withDefaults().Redacted(), Source: SourceAPI}, nil
}

// DeleteTarget removes a stored target. File targets cannot be deleted
// (store.ErrConflict); unknown names wrap store.ErrNotFound.
func (a *Admin) DeleteTarget(ctx context.Context, name string) error {
	for _, f := range a.file {
		if f.Name == name {
			return fmt.Errorf("webhook target %q is defined in the config file, edit the file to remove it: %w", name, store.ErrConflict)
		}
	}
	if a.store == nil {
		return fmt.Errorf("webhook target %q: %w", name, store.ErrNotFound)
	}
	if err := a.store.DeleteTarget(ctx, name); err != nil {
		return err
	}
	a.changed(ctx)
	return nil
}

// ListDeadLetters pages through dead letters of one target or all ("").
func (a *Admin) ListDeadLetters(ctx context.Context, target string, p store.Page) ([]DeadLetter, int, error) {
	if a.store == nil {
		return []DeadLetter{}, 0, nil
	}
	return a.store.ListDeadLetters(ctx, target, p)
}

// TestTarget sends one test event to a configured target.
func (a *Admin) TestTarget(ctx context.Context, name string) (TestResult, error) {
	t, err := a.find(ctx, name)
	if err != nil {
		return TestResult{}, err
	}
	return SendTest(ctx, t, a.allowUnsafe, 0), nil
}

func (a *Admin) find(ctx context.Context, name string) (Target, error) {
	for _, f := range a.file {
		if f.Name == name {
			return f, nil
		}
	}
	if a.store != nil {
		stored, err := a.store.ListTargets(ctx)
		if err != nil {
			return Target{}, err
		}
		for _, t := range stored {
			if t.Name == name {
				return t, nil
			}
		}
	}
	return Target{}, fmt.Errorf("webhook target %q: %w", name, store.ErrNotFound)
}

func (a *Admin) changed(ctx context.Context) {
	if a.notify != nil {
		a.notify(ctx)
	}
}
