package planter

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/decnet/decnet/internal/bus"
	"github.com/decnet/decnet/internal/bus/bustest"
	"github.com/decnet/decnet/internal/canary"
	"github.com/decnet/decnet/internal/canary/blobstore"
	"github.com/decnet/decnet/internal/decky"
	"github.com/decnet/decnet/internal/decky/driver"
	"github.com/decnet/decnet/internal/decky/driver/native"
	"github.com/decnet/decnet/internal/store"
	"github.com/decnet/decnet/internal/store/sqlstore"
)

// env is a planter over a real native driver, SQLite store, blob store and
// embedded bus.
type env struct {
	p      *Planter
	store  *sqlstore.Store
	drv    *native.Driver
	decky  decky.Decky
	writer *faultyWriter
	now    time.Time

	mu     sync.Mutex
	events []string
}

// faultyWriter passes writes to the driver unless a fault is set.
type faultyWriter struct {
	FileWriter
	mu        sync.Mutex
	writeErr  error
	removeErr error
}

func (f *faultyWriter) WriteFile(ctx context.Context, name string, file driver.File) error {
	f.mu.Lock()
	err := f.writeErr
	f.mu.Unlock()
	if err != nil {
		return err
	}
	return f.FileWriter.WriteFile(ctx, name, file)
}

func (f *faultyWriter) RemoveFile(ctx context.Context, name, path string) error {
	f.mu.Lock()
	err := f.removeErr
	f.mu.Unlock()
	if err != nil {
		return err
	}
	return f.FileWriter.RemoveFile(ctx, name, path)
}

func (f *faultyWriter) set(write, remove error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.writeErr, f.removeErr = write, remove
}

func newEnv(t *testing.T, persona decky.Persona) *env {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	st, err := sqlstore.Open(ctx, filepath.Join(dir, "decnet.db"), sqlstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	blobs, err := blobstore.New(filepath.Join(dir, "blobs"))
	if err != nil {
		t.Fatal(err)
	}

	ds, err := decky.Build(decky.BuildOptions{Count: 1, Services: []string{"ssh"}, Implemented: []string{"ssh"}})
	if err != nil {
		t.Fatal(err)
	}
	d := ds[0]
	d.Persona = persona
	d.Services = nil
	d.IP = "127.0.0.1"
	drv := native.New(native.Config{DataDir: dir})
	if err := drv.Deploy(ctx, d); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(drv.Close)

	e := &env{store: st, drv: drv, decky: d, writer: &faultyWriter{FileWriter: drv}, now: time.Date(2025, 6, 1, 10, 0, 0, 0, time.UTC)}
	srv := bustest.Start(t)
	b := bustest.ConnectInProcess(t, srv, "planter-test")
	sub, err := b.Subscribe(bus.FilterAllCanary, func(m bus.Msg) {
		e.mu.Lock()
		e.events = append(e.events, m.Subject)
		e.mu.Unlock()
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sub.Unsubscribe() })

	e.p = &Planter{Store: st, Driver: e.writer, Blobs: blobs, Bus: b, HTTPBase: "http://127.0.0.1:8088", DNSZone: "t.test",
		Now: func() time.Time { return e.now },
		Deckies: func(ctx context.Context, name string) (decky.Decky, error) {
			if name == d.Name {
				return d, nil
			}
			return decky.Decky{}, store.ErrNotFound
		}}
	return e
}

func (e *env) hostFile(t *testing.T, path string) string {
	t.Helper()
	rel := strings.TrimPrefix(path, "/")
	return filepath.Join(e.drv.Root(e.decky.Name), filepath.FromSlash(rel))
}

func (e *env) waitEvent(t *testing.T, subject string) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		e.mu.Lock()
		for _, s := range e.events {
			if s == subject {
				e.mu.Unlock()
				return
			}
		}
		e.mu.Unlock()
		time.Sleep(10 * time.Millisecond)
	}
	t.Errorf("no %s event within 5 s (got %v)", subject, e.events)
}

func TestMintGeneratorPlantsFile(t *testing.T) {
	e := newEnv(t, decky.PersonaLinux)
	ctx := context.Background()

	tok, created, err := e.p.Mint(ctx, MintRequest{DeckyName: e.decky.Name, Generator: "git_config", CreatedBy: "admin-1"})
	if err != nil || !created {
		t.Fatalf("Mint: created=%v err=%v", created, err)
	}
	if tok.State != sqlstore.CanaryPlanted || tok.LastError != "" || tok.Kind != "http" {
		t.Fatalf("token = state %s kind %s error %q", tok.State, tok.Kind, tok.LastError)
	}
	user := PersonaUser(e.decky)
	if !strings.HasPrefix(tok.PlacementPath, user.Home+"/") || !strings.HasSuffix(tok.PlacementPath, "/.git/config") {
		t.Errorf("placement %s, want the git config under %s", tok.PlacementPath, user.Home)
	}
	if tok.HTTPBase != "http://127.0.0.1:8088" || tok.DNSZone != "t.test" || tok.Persona != "linux" || tok.CreatedBy != "admin-1" {
		t.Errorf("stored context = %+v", tok)
	}

	path := e.hostFile(t, tok.PlacementPath)
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("planted file: %v", err)
	}
	if !bytes.Contains(data, []byte("http://127.0.0.1:8088/c/"+tok.CallbackToken+"/")) {
		t.Errorf("planted file lacks the callback URL:\n%s", data)
	}
	a, err := e.p.Artifact(ctx, tok)
	if err != nil || !bytes.Equal(a.Content, data) {
		t.Errorf("regenerated artifact differs from the planted bytes (err %v)", err)
	}

	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o644 || tok.FileMode != 0o644 {
		t.Errorf("mode %v (stored %o), want 0644", fi.Mode().Perm(), tok.FileMode)
	}
	if want := e.now.Add(-30 * 24 * time.Hour); !fi.ModTime().Equal(want) {
		t.Errorf("mtime %v, want %v (30 days back)", fi.ModTime().UTC(), want)
	}
	if os.Geteuid() == 0 {
		st := fi.Sys().(*syscall.Stat_t)
		if int(st.Uid) != user.UID || int(st.Gid) != user.GID {
			t.Errorf("owner %d:%d, want %s %d:%d", st.Uid, st.Gid, user.Name, user.UID, user.GID)
		}
	}
	subject, _ := bus.CanaryPlaced(tok.UUID)
	e.waitEvent(t, subject)
}

func TestMintRejectsBadRequests(t *testing.T) {
	e := newEnv(t, decky.PersonaLinux)
	ctx := context.Background()
	tests := []struct {
		name string
		req  MintRequest
		want error
	}{
		{"neither", MintRequest{DeckyName: e.decky.Name}, ErrInvalidRequest},
		{"both", MintRequest{DeckyName: e.decky.Name, Generator: "env_file", BlobUUID: "b"}, ErrInvalidRequest},
		{"unknown generator", MintRequest{DeckyName: e.decky.Name, Generator: "bogus"}, canary.ErrUnknown},
		{"kind mismatch", MintRequest{DeckyName: e.decky.Name, Generator: "aws_creds", Kind: "http"}, canary.ErrKindMismatch},
		{"relative path", MintRequest{DeckyName: e.decky.Name, Generator: "env_file", PlacementPath: "tmp/x"}, ErrInvalidRequest},
		{"dot-dot path", MintRequest{DeckyName: e.decky.Name, Generator: "env_file", PlacementPath: "/tmp/../etc/x"}, ErrInvalidRequest},
		{"nul path", MintRequest{DeckyName: e.decky.Name, Generator: "env_file", PlacementPath: "/tmp/a\x00b"}, ErrInvalidRequest},
		{"unknown decky", MintRequest{DeckyName: "nope", Generator: "env_file"}, ErrUnknownDecky},
		{"missing blob", MintRequest{DeckyName: e.decky.Name, BlobUUID: "missing"}, ErrBlobNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := e.p.Mint(ctx, tt.req)
			if !errors.Is(err, tt.want) {
				t.Errorf("Mint error = %v, want %v", err, tt.want)
			}
		})
	}
	if list, _ := e.store.ListCanaryTokens(ctx, sqlstore.CanaryTokenFilter{}); len(list) != 0 {
		t.Errorf("rejected requests left %d token rows", len(list))
	}
}

func TestMintKindIsDerived(t *testing.T) {
	e := newEnv(t, decky.PersonaLinux)
	ctx := context.Background()
	for gen, want := range map[string]string{"aws_creds": "aws_passive", "ssh_key": "dns", "mysql_dump": "dns", "honeydoc": "http"} {
		tok, _, err := e.p.Mint(ctx, MintRequest{DeckyName: e.decky.Name, Generator: gen})
		if err != nil {
			t.Fatalf("Mint(%s): %v", gen, err)
		}
		if tok.Kind != want {
			t.Errorf("%s kind = %s, want %s", gen, tok.Kind, want)
		}
	}
}

func TestMintFailedPlantIsRecorded(t *testing.T) {
	e := newEnv(t, decky.PersonaLinux)
	e.writer.set(errors.New("disk full"), nil)
	tok, created, err := e.p.Mint(context.Background(), MintRequest{DeckyName: e.decky.Name, Generator: "env_file"})
	if err != nil || !created {
		t.Fatalf("Mint: %v", err)
	}
	if tok.State != sqlstore.CanaryFailed || !strings.Contains(tok.LastError, "disk full") {
		t.Errorf("token after failed plant: state %s error %q", tok.State, tok.LastError)
	}
}

func TestRevokeRemovesFile(t *testing.T) {
	e := newEnv(t, decky.PersonaLinux)
	ctx := context.Background()
	tok, _, err := e.p.Mint(ctx, MintRequest{DeckyName: e.decky.Name, Generator: "env_file"})
	if err != nil {
		t.Fatal(err)
	}
	path := e.hostFile(t, tok.PlacementPath)

	e.writer.set(nil, errors.New("read-only file system"))
	got, err := e.p.Revoke(ctx, tok.UUID)
	if err != nil {
		t.Fatal(err)
	}
	if got.State != sqlstore.CanaryFailed || !strings.Contains(got.LastError, "read-only") {
		t.Errorf("failed revoke left state %s error %q, want failed with the error", got.State, got.LastError)
	}
	if _, err := os.Stat(path); err != nil {
		t.Errorf("file gone after a failed revoke: %v", err)
	}

	e.writer.set(nil, nil)
	got, err = e.p.Revoke(ctx, tok.UUID)
	if err != nil || got.State != sqlstore.CanaryRevoked || got.LastError != "" {
		t.Fatalf("retried revoke: %+v, %v", got, err)
	}
	if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("file still there after revoke: %v", err)
	}
	subject, _ := bus.CanaryRevoked(tok.UUID)
	e.waitEvent(t, subject)

	again, err := e.p.Revoke(ctx, tok.UUID)
	if err != nil || again.State != sqlstore.CanaryRevoked {
		t.Errorf("second revoke: %+v, %v", again, err)
	}
	if _, err := e.p.Revoke(ctx, "missing"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("revoke missing: %v, want ErrNotFound", err)
	}
}

func TestMintBlobToken(t *testing.T) {
	e := newEnv(t, decky.PersonaLinux)
	ctx := context.Background()
	content := []byte("# deploy notes\nhost=db1\n")
	sha, size, err := e.p.Blobs.Put(bytes.NewReader(content))
	if err != nil {
		t.Fatal(err)
	}
	blob, _, err := e.store.UpsertCanaryBlob(ctx, sqlstore.CanaryBlob{SHA256: sha, Filename: "notes.txt", ContentType: "text/plain", SizeBytes: size, UploadedBy: "u"})
	if err != nil {
		t.Fatal(err)
	}

	tok, _, err := e.p.Mint(ctx, MintRequest{DeckyName: e.decky.Name, BlobUUID: blob.UUID})
	if err != nil {
		t.Fatal(err)
	}
	if tok.Instrumenter != "plain" || tok.Generator != "" || tok.State != sqlstore.CanaryPlanted {
		t.Errorf("blob token = %+v", tok)
	}
	if !strings.HasSuffix(tok.PlacementPath, "/Documents/notes.txt") {
		t.Errorf("placement = %s", tok.PlacementPath)
	}
	data, err := os.ReadFile(e.hostFile(t, tok.PlacementPath))
	if err != nil || !bytes.HasPrefix(data, content) || !bytes.Contains(data, []byte("/c/"+tok.CallbackToken)) {
		t.Errorf("planted blob = %q, %v", data, err)
	}
	a, err := e.p.Artifact(ctx, tok)
	if err != nil || !bytes.Equal(a.Content, data) {
		t.Errorf("preview differs from the planted bytes (%v)", err)
	}

	if _, err := e.p.Blobs.Remove(sha, 0); err != nil {
		t.Fatal(err)
	}
	if _, err := e.p.Artifact(ctx, tok); !errors.Is(err, ErrBlobGone) {
		t.Errorf("artifact with missing bytes: %v, want ErrBlobGone", err)
	}
	if _, _, err := e.p.Mint(ctx, MintRequest{DeckyName: e.decky.Name, BlobUUID: blob.UUID}); !errors.Is(err, ErrBlobGone) {
		t.Errorf("mint with missing bytes: %v, want ErrBlobGone", err)
	}
}

func TestHomePathAndOwner(t *testing.T) {
	ds, err := decky.Build(decky.BuildOptions{Count: 1, Services: []string{"ssh"}, Implemented: []string{"ssh"}})
	if err != nil {
		t.Fatal(err)
	}
	d := ds[0]
	d.Persona = decky.PersonaLinux
	u := PersonaUser(d)
	if u.UID == 0 {
		t.Fatalf("persona user of a linux decky is root: %+v", u)
	}
	if got := HomePath(d, "/home/admin/.aws/credentials"); got != u.Home+"/.aws/credentials" {
		t.Errorf("HomePath = %s", got)
	}
	if got := HomePath(d, "/var/backups/mysql/app.sql"); got != "/var/backups/mysql/app.sql" {
		t.Errorf("HomePath outside home = %s", got)
	}
	if o := Owner(d, u.Home+"/x"); o.Name != u.Name {
		t.Errorf("Owner(home file) = %s, want %s", o.Name, u.Name)
	}
	if o := Owner(d, "/var/backups/x"); o.UID != 0 {
		t.Errorf("Owner(/var/backups/x) = %s, want root", o.Name)
	}

	d.Persona = decky.PersonaWindows
	if got := HomePath(d, `C:\Users\Administrator\app\.env`); got != `C:\Users\Administrator\app\.env` {
		t.Errorf("windows HomePath = %s", got)
	}
	if o := Owner(d, `C:\Users\Administrator\app\.env`); o.Name != "Administrator" {
		t.Errorf("windows Owner = %s", o.Name)
	}
}
