// Package planter mints canary tokens and places them in deckies. Minting
// builds the artifact from a generator or an uploaded blob and stores the
// token row with the context it was built from. It then writes the bytes
// into the decky through the decky driver, with the artifact's mode, a
// backdated mtime and the persona user as owner. Nothing goes through a
// shell, so no path or content is ever quoted. Revoking removes the file.
package planter

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/decnet/decnet/internal/bus"
	"github.com/decnet/decnet/internal/canary"
	"github.com/decnet/decnet/internal/canary/blobstore"
	"github.com/decnet/decnet/internal/decky"
	"github.com/decnet/decnet/internal/decky/driver"
	"github.com/decnet/decnet/internal/decky/rootfs"
	"github.com/decnet/decnet/internal/store"
	"github.com/decnet/decnet/internal/store/sqlstore"
)

// Store is the part of the store the planter reads and writes.
type Store interface {
	CreateCanaryToken(ctx context.Context, t sqlstore.CanaryToken) (sqlstore.CanaryToken, bool, error)
	GetCanaryToken(ctx context.Context, id string) (sqlstore.CanaryToken, error)
	GetCanaryBlob(ctx context.Context, id string) (sqlstore.CanaryBlob, error)
	MarkCanaryTokenPlanted(ctx context.Context, id string, placedAt time.Time, contentSHA256 string) error
	SetCanaryTokenState(ctx context.Context, id, state, lastError string) error
}

// FileWriter is the part of the decky driver the planter uses.
type FileWriter interface {
	WriteFile(ctx context.Context, name string, f driver.File) error
	RemoveFile(ctx context.Context, name, path string) error
}

// Publisher sends bus events after a database write; *bus.Bus
// implements it. Publishing is best effort.
type Publisher interface {
	PublishSafely(ctx context.Context, subject, typ string, payload any)
}

// DeckyLookup returns the decky with the given name, or an error wrapping
// store.ErrNotFound.
type DeckyLookup func(ctx context.Context, name string) (decky.Decky, error)

// Errors the API maps to status codes; the canary package's
// ErrUnknown, ErrKindMismatch, ErrUnsupported and ErrTooLarge pass through.
var (
	// ErrUnknownDecky means no decky has the requested name.
	ErrUnknownDecky = errors.New("planter: unknown decky")
	// ErrBlobNotFound means the blob row does not exist.
	ErrBlobNotFound = errors.New("planter: blob not found")
	// ErrBlobGone means the blob row exists but its bytes are missing.
	ErrBlobGone = errors.New("planter: blob bytes missing on disk")
	// ErrInvalidRequest means a mint request is malformed (both or none of
	// generator and blob, a bad placement path, a bad kind).
	ErrInvalidRequest = errors.New("planter: invalid request")
	// ErrNoArtifact means a token has neither a generator nor a blob.
	ErrNoArtifact = errors.New("planter: token has no generator or blob")
)

// Event types published on the bus.
const (
	EventPlaced  = "canary.placed"
	EventRevoked = "canary.revoked"
)

// Planter mints, places, previews and revokes tokens.
type Planter struct {
	Store   Store
	Driver  FileWriter
	Deckies DeckyLookup
	// Blobs holds uploaded files; nil rejects blob tokens.
	Blobs *blobstore.Store
	// Bus receives placed and revoked events; nil publishes nothing.
	Bus Publisher
	// HTTPBase and DNSZone are the callback settings new tokens are built
	// with. An empty zone makes DNS tokens impossible.
	HTTPBase string
	DNSZone  string
	Now      func() time.Time
	Logger   *slog.Logger
}

// MintRequest describes one token to mint. Exactly one of Generator and
// BlobUUID is set.
type MintRequest struct {
	DeckyName string
	Generator string
	BlobUUID  string
	// PlacementPath defaults to the generator's (or the upload's) path
	// for the decky's persona, under the persona user's home.
	PlacementPath string
	// Kind, when set, must be one the artifact can serve; empty takes the
	// artifact's own kind.
	Kind       string
	TopologyID string
	CreatedBy  string
	// Baseline marks an automatic token: at most one per decky and
	// generator exists, and minting another returns the first.
	Baseline bool
	// Decky, when set, is used instead of looking DeckyName up.
	Decky *decky.Decky
}

func (p *Planter) now() time.Time {
	if p.Now != nil {
		return p.Now().UTC()
	}
	return time.Now().UTC()
}

func (p *Planter) log() *slog.Logger {
	if p.Logger != nil {
		return p.Logger
	}
	return slog.New(slog.DiscardHandler)
}

// Mint builds the artifact, stores the token and plants it. A failed
// plant is not an error: the token is returned with state failed and
// last_error set. Errors are for requests that cannot make a token.
// For a baseline request whose decky and generator already have a token,
// that token is returned as is, or planted again when its last plant
// failed, and created is false.
func (p *Planter) Mint(ctx context.Context, req MintRequest) (tok sqlstore.CanaryToken, created bool, err error) {
	if (req.Generator == "") == (req.BlobUUID == "") {
		return tok, false, fmt.Errorf("provide exactly one of blob_uuid or generator: %w", ErrInvalidRequest)
	}
	d, err := p.lookup(ctx, req)
	if err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return tok, false, fmt.Errorf("decky %q: %w", req.DeckyName, ErrUnknownDecky)
		}
		return tok, false, fmt.Errorf("look up decky %s: %w", req.DeckyName, err)
	}

	slugValue, err := canary.NewSlug()
	if err != nil {
		return tok, false, err
	}
	row := sqlstore.CanaryToken{DeckyName: d.Name, TopologyID: req.TopologyID, Generator: req.Generator,
		BlobUUID: req.BlobUUID, CallbackToken: slugValue, SecretSeed: slugValue, HTTPBase: p.HTTPBase,
		DNSZone: p.DNSZone, Persona: string(Persona(d)), CreatedBy: req.CreatedBy, State: sqlstore.CanaryFailed,
		LastError: "not planted yet", Baseline: req.Baseline}

	a, err := p.build(ctx, &row)
	if err != nil {
		return tok, false, err
	}
	if err := p.resolveKind(&row, &a, req.Kind); err != nil {
		return tok, false, err
	}
	if row.PlacementPath, err = p.placement(d, a, req.PlacementPath); err != nil {
		return tok, false, err
	}
	row.FileMode = int(a.Mode.Perm())

	tok, created, err = p.Store.CreateCanaryToken(ctx, row)
	if err != nil {
		return tok, false, err
	}
	if !created {
		if tok.State != sqlstore.CanaryFailed {
			return tok, false, nil
		}
		// A baseline token whose earlier plant failed: plant that one.
		if a, err = p.Artifact(ctx, tok); err != nil {
			return tok, false, err
		}
	}
	tok, err = p.plant(ctx, d, tok, a)
	return tok, created, err
}

func (p *Planter) lookup(ctx context.Context, req MintRequest) (decky.Decky, error) {
	if req.Decky != nil {
		return *req.Decky, nil
	}
	if p.Deckies == nil {
		return decky.Decky{}, fmt.Errorf("no decky lookup configured: %w", store.ErrNotFound)
	}
	return p.Deckies(ctx, req.DeckyName)
}

// build runs the generator or instrumenter named by the row.
func (p *Planter) build(ctx context.Context, row *sqlstore.CanaryToken) (canary.Artifact, error) {
	if row.BlobUUID != "" {
		blob, err := p.Store.GetCanaryBlob(ctx, row.BlobUUID)
		if errors.Is(err, store.ErrNotFound) {
			return canary.Artifact{}, fmt.Errorf("blob %s: %w", row.BlobUUID, ErrBlobNotFound)
		}
		if err != nil {
			return canary.Artifact{}, err
		}
		row.Instrumenter = canary.PickInstrumenter(blob.ContentType)
	}
	return p.Artifact(ctx, *row)
}

// Artifact rebuilds a token's artifact from the context stored on its row:
// the slug, HTTP base, DNS zone and persona it was minted with, so the
// bytes equal those planted.
func (p *Planter) Artifact(ctx context.Context, tok sqlstore.CanaryToken) (canary.Artifact, error) {
	persona, err := canary.ParsePersona(tok.Persona)
	if err != nil {
		return canary.Artifact{}, err
	}
	tc := canary.Context{Slug: tok.CallbackToken, HTTPBase: tok.HTTPBase, DNSZone: tok.DNSZone, Persona: persona, Decky: tok.DeckyName}

	switch {
	case tok.Generator != "":
		return canary.Generate(tok.Generator, tc)
	case tok.BlobUUID != "" && tok.Instrumenter != "":
		return p.instrumentBlob(ctx, tok, tc)
	}
	return canary.Artifact{}, fmt.Errorf("token %s: %w", tok.UUID, ErrNoArtifact)
}

func (p *Planter) instrumentBlob(ctx context.Context, tok sqlstore.CanaryToken, tc canary.Context) (canary.Artifact, error) {
	blob, err := p.Store.GetCanaryBlob(ctx, tok.BlobUUID)
	if errors.Is(err, store.ErrNotFound) {
		return canary.Artifact{}, fmt.Errorf("blob %s: %w", tok.BlobUUID, ErrBlobNotFound)
	}
	if err != nil {
		return canary.Artifact{}, err
	}
	if p.Blobs == nil {
		return canary.Artifact{}, fmt.Errorf("blob %s: no blob store configured: %w", blob.UUID, ErrBlobGone)
	}
	f, err := p.Blobs.Open(blob.SHA256)
	if errors.Is(err, blobstore.ErrNotFound) {
		return canary.Artifact{}, fmt.Errorf("blob %s: %w", blob.UUID, ErrBlobGone)
	}
	if err != nil {
		return canary.Artifact{}, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return canary.Artifact{}, fmt.Errorf("blob %s: %w", blob.UUID, err)
	}

	tc.FileName = blob.Filename
	var out bytes.Buffer
	a, err := canary.InstrumentTo(tok.Instrumenter, tc, f, st.Size(), &out)
	if err != nil {
		return canary.Artifact{}, err
	}
	a.Content = out.Bytes()
	return a, nil
}

// resolveKind sets the row's kind: the requested one when the artifact
// can serve it, else the artifact's own.
func (p *Planter) resolveKind(row *sqlstore.CanaryToken, a *canary.Artifact, want string) error {
	name := row.Generator
	if name == "" {
		name = row.Instrumenter
	}
	persona, _ := canary.ParsePersona(row.Persona)
	tc := canary.Context{Slug: row.CallbackToken, HTTPBase: row.HTTPBase, DNSZone: row.DNSZone, Persona: persona}
	if want != "" {
		if err := canary.CheckKind(name, canary.Kind(want), tc); err != nil {
			return err
		}
		row.Kind = want
		return nil
	}
	row.Kind = string(a.Kind)
	if row.Kind == "" {
		row.Kind = string(canary.KindHTTP)
	}
	return nil
}

// placement returns the requested path, checked, or the artifact's
// default path moved under the persona user's home.
func (p *Planter) placement(d decky.Decky, a canary.Artifact, requested string) (string, error) {
	persona := Persona(d)
	path := requested
	if path == "" {
		path = HomePath(d, a.Path)
	}
	if err := canary.ValidatePlacement(path, persona); err != nil {
		return "", fmt.Errorf("placement_path: %w: %w", err, ErrInvalidRequest)
	}
	return path, nil
}

// plant writes the artifact into the decky and records the outcome.
func (p *Planter) plant(ctx context.Context, d decky.Decky, tok sqlstore.CanaryToken, a canary.Artifact) (sqlstore.CanaryToken, error) {
	now := p.now()
	owner := Owner(d, tok.PlacementPath)
	f := driver.File{Path: tok.PlacementPath, Data: a.Content, Mode: a.Mode.Perm(), ModTime: now.Add(a.MtimeOffset),
		UID: owner.UID, GID: owner.GID}
	log := p.log().With("token", tok.UUID, "decky", tok.DeckyName, "path", tok.PlacementPath)

	if err := p.Driver.WriteFile(ctx, d.Name, f); err != nil {
		log.Warn("plant canary token failed", "err", err)
		if serr := p.Store.SetCanaryTokenState(ctx, tok.UUID, sqlstore.CanaryFailed, "plant: "+err.Error()); serr != nil {
			return tok, serr
		}
		return p.Store.GetCanaryToken(ctx, tok.UUID)
	}

	sum := sha256.Sum256(a.Content)
	if err := p.Store.MarkCanaryTokenPlanted(ctx, tok.UUID, now, hex.EncodeToString(sum[:])); err != nil {
		return tok, err
	}
	log.Info("canary token planted", "owner", owner.Name)
	p.publish(ctx, bus.CanaryPlaced, tok.UUID, EventPlaced, map[string]any{
		"token_id": tok.UUID, "decky_name": tok.DeckyName, "placement_path": tok.PlacementPath,
		"generator": tok.Generator, "instrumenter": tok.Instrumenter, "kind": tok.Kind,
	})
	return p.Store.GetCanaryToken(ctx, tok.UUID)
}

// Revoke removes a token's file from its decky and marks the token
// revoked. When the file cannot be removed, the token is marked failed
// with the error so that the revoke can be retried. A file that is
// already gone counts as removed. Revoking a revoked token does nothing.
func (p *Planter) Revoke(ctx context.Context, id string) (sqlstore.CanaryToken, error) {
	tok, err := p.Store.GetCanaryToken(ctx, id)
	if err != nil {
		return tok, err
	}
	if tok.State == sqlstore.CanaryRevoked {
		return tok, nil
	}
	log := p.log().With("token", tok.UUID, "decky", tok.DeckyName, "path", tok.PlacementPath)

	err = p.Driver.RemoveFile(ctx, tok.DeckyName, tok.PlacementPath)
	if err != nil && !errors.Is(err, driver.ErrNotFound) {
		log.Warn("remove canary token failed", "err", err)
		if serr := p.Store.SetCanaryTokenState(ctx, tok.UUID, sqlstore.CanaryFailed, "revoke: "+err.Error()); serr != nil {
			return tok, serr
		}
		return p.Store.GetCanaryToken(ctx, tok.UUID)
	}

	if err := p.Store.SetCanaryTokenState(ctx, tok.UUID, sqlstore.CanaryRevoked, ""); err != nil {
		return tok, err
	}
	log.Info("canary token revoked")
	p.publish(ctx, bus.CanaryRevoked, tok.UUID, EventRevoked, map[string]any{
		"token_id": tok.UUID, "decky_name": tok.DeckyName, "placement_path": tok.PlacementPath, "reason": "operator",
	})
	return p.Store.GetCanaryToken(ctx, tok.UUID)
}

func (p *Planter) publish(ctx context.Context, subject func(string) (string, error), id, typ string, payload any) {
	if p.Bus == nil {
		return
	}
	s, err := subject(id)
	if err != nil {
		p.log().Warn("canary event subject", "token", id, "err", err)
		return
	}
	p.Bus.PublishSafely(ctx, s, typ, payload)
}

// Persona returns the artifact persona of a decky: windows for the
// Windows families, linux for everything else.
func Persona(d decky.Decky) canary.Persona {
	if d.Persona.IsWindows() {
		return canary.PersonaWindows
	}
	return canary.PersonaLinux
}

// PersonaUser returns the account planted files belong to: the decky's
// first login account after root (Administrator on Windows), or root
// when it has none.
func PersonaUser(d decky.Decky) rootfs.User {
	users := rootfs.Users(d)
	if d.Persona.IsWindows() || len(users) < 2 {
		return users[0]
	}
	return users[1]
}

// defaultHomes are the home directories default placement paths use.
var defaultHomes = []string{"/home/admin/", `C:\Users\Administrator\`}

// HomePath moves a default placement path from the generic user's home
// to the persona user's home on linux deckies. Paths outside a home, and
// windows paths (Administrator exists on every windows decky), are kept.
func HomePath(d decky.Decky, path string) string {
	if d.Persona.IsWindows() {
		return path
	}
	rest, ok := strings.CutPrefix(path, defaultHomes[0])
	if !ok {
		return path
	}
	u := PersonaUser(d)
	if u.Home == "" || u.Home == "/root" && u.UID == 0 {
		return "/root/" + rest
	}
	return strings.TrimSuffix(u.Home, "/") + "/" + rest
}

// Owner returns the account that should own a file at path: the user
// whose home holds it, or root (Administrator) for paths outside homes.
func Owner(d decky.Decky, path string) rootfs.User {
	users := rootfs.Users(d)
	norm := func(s string) string { return strings.ToLower(strings.ReplaceAll(s, `\`, "/")) }
	p := norm(path)
	for _, u := range users {
		if u.Home != "" && strings.HasPrefix(p, strings.TrimSuffix(norm(u.Home), "/")+"/") {
			return u
		}
	}
	return users[0]
}
