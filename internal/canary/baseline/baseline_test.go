package baseline

import (
	"context"
	"errors"
	"path/filepath"
	"sort"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/decnet/decnet/internal/canary/planter"
	"github.com/decnet/decnet/internal/decky"
	"github.com/decnet/decnet/internal/decky/driver"
	"github.com/decnet/decnet/internal/decky/driver/native"
	"github.com/decnet/decnet/internal/store/sqlstore"
)

func TestParseGenerators(t *testing.T) {
	tests := []struct {
		in      string
		want    []string
		wantErr bool
	}{
		{"", DefaultGenerators, false},
		{"  ", DefaultGenerators, false},
		{"none", nil, false},
		{"env_file", []string{"env_file"}, false},
		{" env_file , ,git_config,env_file", []string{"env_file", "git_config"}, false},
		{"env_file,bogus", nil, true},
	}
	for _, tt := range tests {
		got, err := ParseGenerators(tt.in)
		if (err != nil) != tt.wantErr {
			t.Errorf("ParseGenerators(%q) error = %v, want error %v", tt.in, err, tt.wantErr)
			continue
		}
		if diff := cmp.Diff(tt.want, got); diff != "" {
			t.Errorf("ParseGenerators(%q) (-want +got):\n%s", tt.in, diff)
		}
	}
}

// failingWriter fails writes while fail is set.
type failingWriter struct {
	planter.FileWriter
	fail   atomic.Bool
	writes atomic.Int32
}

func (w *failingWriter) WriteFile(ctx context.Context, name string, f driver.File) error {
	w.writes.Add(1)
	if w.fail.Load() {
		return errors.New("device busy")
	}
	return w.FileWriter.WriteFile(ctx, name, f)
}

func TestSeedIsIdempotent(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	st, err := sqlstore.Open(ctx, filepath.Join(dir, "decnet.db"), sqlstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()

	ds, err := decky.Build(decky.BuildOptions{Count: 2, Services: []string{"ssh"}, Implemented: []string{"ssh"}})
	if err != nil {
		t.Fatal(err)
	}
	drv := native.New(native.Config{DataDir: dir})
	defer drv.Close()
	for i := range ds {
		ds[i].Services, ds[i].IP = nil, "127.0.0.1"
		if err := drv.Deploy(ctx, ds[i]); err != nil {
			t.Fatal(err)
		}
	}
	w := &failingWriter{FileWriter: drv}
	s := &Seeder{Planter: &planter.Planter{Store: st, Driver: w, HTTPBase: "http://127.0.0.1:8088"},
		Generators: append([]string{"mysql_dump"}, DefaultGenerators...)}

	// mysql_dump needs a DNS zone, so it fails every time; the others
	// are planted once per decky.
	err = s.Seed(ctx, ds[0])
	if err == nil || !strings.Contains(err.Error(), "mysql_dump") {
		t.Errorf("Seed error = %v, want the mysql_dump failure", err)
	}
	s.SeedAll(ctx, ds)
	s.SeedAll(ctx, ds)

	toks, err := st.ListCanaryTokens(ctx, sqlstore.CanaryTokenFilter{})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string][]string{}
	for _, tok := range toks {
		if tok.State != sqlstore.CanaryPlanted || !tok.Baseline || tok.CreatedBy != CreatedBy {
			t.Errorf("baseline token %s/%s: state %s baseline %v by %s", tok.DeckyName, tok.Generator, tok.State, tok.Baseline, tok.CreatedBy)
		}
		got[tok.DeckyName] = append(got[tok.DeckyName], tok.Generator)
	}
	want := append([]string(nil), DefaultGenerators...)
	sort.Strings(want)
	for _, d := range ds {
		sort.Strings(got[d.Name])
		if diff := cmp.Diff(want, got[d.Name]); diff != "" {
			t.Errorf("tokens of %s (-want +got):\n%s", d.Name, diff)
		}
	}
	if n := w.writes.Load(); n != int32(2*len(DefaultGenerators)) {
		t.Errorf("%d file writes for three seeds of two deckies, want %d", n, 2*len(DefaultGenerators))
	}
}

func TestSeedReplantsFailedTokens(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	st, err := sqlstore.Open(ctx, filepath.Join(dir, "decnet.db"), sqlstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	ds, err := decky.Build(decky.BuildOptions{Count: 1, Services: []string{"ssh"}, Implemented: []string{"ssh"}})
	if err != nil {
		t.Fatal(err)
	}
	d := ds[0]
	d.Services, d.IP = nil, "127.0.0.1"
	drv := native.New(native.Config{DataDir: dir})
	defer drv.Close()
	if err := drv.Deploy(ctx, d); err != nil {
		t.Fatal(err)
	}
	w := &failingWriter{FileWriter: drv}
	w.fail.Store(true)
	s := &Seeder{Planter: &planter.Planter{Store: st, Driver: w, HTTPBase: "http://127.0.0.1:8088"}, Generators: []string{"env_file"}}

	if err := s.Seed(ctx, d); err == nil || !strings.Contains(err.Error(), "device busy") {
		t.Errorf("Seed with a failing driver: %v", err)
	}
	first, _ := st.ListCanaryTokens(ctx, sqlstore.CanaryTokenFilter{})
	if len(first) != 1 || first[0].State != sqlstore.CanaryFailed {
		t.Fatalf("after a failed seed: %+v", first)
	}

	w.fail.Store(false)
	if err := s.Seed(ctx, d); err != nil {
		t.Fatalf("second Seed: %v", err)
	}
	again, _ := st.ListCanaryTokens(ctx, sqlstore.CanaryTokenFilter{})
	if len(again) != 1 || again[0].UUID != first[0].UUID || again[0].State != sqlstore.CanaryPlanted {
		t.Errorf("after the retry: %+v, want the same token planted", again)
	}
}
