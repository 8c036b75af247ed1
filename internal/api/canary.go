package api

import (
	"context"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"path"
	"strings"
	"time"

	"github.com/decnet/decnet/internal/canary"
	"github.com/decnet/decnet/internal/canary/blobstore"
	"github.com/decnet/decnet/internal/canary/planter"
	"github.com/decnet/decnet/internal/store"
	"github.com/decnet/decnet/internal/store/sqlstore"
)

// CanaryStore is the part of the store the canary routes read and write;
// *sqlstore.Store implements it.
type CanaryStore interface {
	UpsertCanaryBlob(ctx context.Context, b sqlstore.CanaryBlob) (sqlstore.CanaryBlob, bool, error)
	GetCanaryBlob(ctx context.Context, id string) (sqlstore.CanaryBlob, error)
	ListCanaryBlobs(ctx context.Context) ([]sqlstore.CanaryBlob, error)
	DeleteCanaryBlob(ctx context.Context, id string) (sqlstore.CanaryBlob, error)
	GetCanaryToken(ctx context.Context, id string) (sqlstore.CanaryToken, error)
	ListCanaryTokens(ctx context.Context, f sqlstore.CanaryTokenFilter) ([]sqlstore.CanaryToken, error)
	ListCanaryTriggers(ctx context.Context, tokenUUID string, p store.Page) ([]sqlstore.CanaryTrigger, int, error)
}

// CanaryPlanter mints, rebuilds and revokes tokens; *planter.Planter
// implements it.
type CanaryPlanter interface {
	Mint(ctx context.Context, req planter.MintRequest) (sqlstore.CanaryToken, bool, error)
	Artifact(ctx context.Context, tok sqlstore.CanaryToken) (canary.Artifact, error)
	Revoke(ctx context.Context, id string) (sqlstore.CanaryToken, error)
}

var (
	_ CanaryStore   = (*sqlstore.Store)(nil)
	_ CanaryPlanter = (*planter.Planter)(nil)
)

// DefaultCanaryUploadMax caps blob uploads when CanaryConfig.UploadMax is 0.
const DefaultCanaryUploadMax = 25 << 20

// multipartOverhead is the room a multipart envelope gets on top of the
// file size cap.
const multipartOverhead = 64 << 10

// CanaryConfig wires the canary routes.
type CanaryConfig struct {
	Store CanaryStore
	// Planter mints and revokes tokens. Nil (an API process that does not
	// run the deckies) makes token creation, preview and revoke return 503.
	Planter CanaryPlanter
	// Blobs keeps uploaded files. Nil makes blob uploads return 503.
	Blobs *blobstore.Store
	// UploadMax caps one uploaded file in bytes (DefaultCanaryUploadMax
	// when 0).
	UploadMax int64
}

// MessageResponse is the body of routes that only confirm.
type MessageResponse struct {
	Message string `json:"message"`
}

// CanaryBlobResponse is an uploaded file.
type CanaryBlobResponse struct {
	UUID        string    `json:"uuid"`
	SHA256      string    `json:"sha256"`
	Filename    string    `json:"filename"`
	ContentType string    `json:"content_type"`
	SizeBytes   int64     `json:"size_bytes"`
	UploadedBy  string    `json:"uploaded_by"`
	UploadedAt  time.Time `json:"uploaded_at"`
	// TokenCount counts the tokens of any state built from the blob.
	TokenCount int `json:"token_count"`
}

// CanaryBlobList is the body of GET /api/v1/canary/blobs.
type CanaryBlobList struct {
	Blobs []CanaryBlobResponse `json:"blobs"`
	Total int                  `json:"total"`
}

// CanaryTokenCreateRequest is the body of POST /api/v1/canary/tokens. It
// names exactly one source: a generator or an uploaded blob.
type CanaryTokenCreateRequest struct {
	DeckyName string `json:"decky_name" validate:"required,min=1,max=64"`
	// TopologyID names a MazeNET topology. None exist here, so any value
	// returns 404.
	TopologyID *string `json:"topology_id,omitempty" validate:"max=64"`
	// Kind is optional: it is derived from the generator or instrumenter,
	// and a given value must be one the artifact can serve (else 422).
	Kind          string `json:"kind,omitempty" validate:"enum=http|dns|aws_passive"`
	PlacementPath string `json:"placement_path,omitempty" validate:"max=4096"`
	BlobUUID      string `json:"blob_uuid,omitempty" validate:"max=64"`
	Generator     string `json:"generator,omitempty" validate:"max=64"`
	// PersonaPathHint is accepted for compatibility and ignored.
	PersonaPathHint string `json:"persona_path_hint,omitempty" validate:"max=4096"`
}

// CanaryTokenResponse is a token. callback_token is the slug.
type CanaryTokenResponse struct {
	UUID            string     `json:"uuid"`
	Kind            string     `json:"kind"`
	DeckyName       string     `json:"decky_name"`
	TopologyID      *string    `json:"topology_id"`
	BlobUUID        *string    `json:"blob_uuid"`
	Instrumenter    *string    `json:"instrumenter"`
	Generator       *string    `json:"generator"`
	PlacementPath   string     `json:"placement_path"`
	CallbackToken   string     `json:"callback_token"`
	CallbackURL     string     `json:"callback_url"`
	DNSHost         *string    `json:"dns_host"`
	CreatedAt       time.Time  `json:"created_at"`
	PlacedAt        *time.Time `json:"placed_at"`
	LastTriggeredAt *time.Time `json:"last_triggered_at"`
	TriggerCount    int64      `json:"trigger_count"`
	HitCount        int64      `json:"hit_count"`
	CreatedBy       string     `json:"created_by"`
	State           string     `json:"state" validate:"enum=planted|failed|revoked"`
	LastError       *string    `json:"last_error"`
	Baseline        bool       `json:"baseline"`
}

// CanaryTokenList is the body of GET /api/v1/canary/tokens.
type CanaryTokenList struct {
	Tokens []CanaryTokenResponse `json:"tokens"`
	Total  int                   `json:"total"`
}

// CanaryRevokeResponse reports a revoke: message "ok" when the file was
// removed, else the token is left failed with last_error.
type CanaryRevokeResponse struct {
	Message string              `json:"message"`
	Token   CanaryTokenResponse `json:"token"`
}

// CanaryTriggerResponse is one callback of a token.
type CanaryTriggerResponse struct {
	UUID       string    `json:"uuid"`
	TokenUUID  string    `json:"token_uuid"`
	OccurredAt time.Time `json:"occurred_at"`
	LastHitAt  time.Time `json:"last_hit_at"`
	Protocol   string    `json:"protocol" validate:"enum=http|dns"`
	// SrcIP is the address the callback is attributed to; PeerAddr is the
	// socket address and ForwardedFor the X-Forwarded-For chain as sent.
	SrcIP        string   `json:"src_ip"`
	PeerAddr     string   `json:"peer_addr"`
	ForwardedFor []string `json:"forwarded_for"`
	Method       *string  `json:"method"`
	UserAgent    *string  `json:"user_agent"`
	RequestPath  *string  `json:"request_path"`
	RequestQuery *string  `json:"request_query"`
	// Headers are the HTTP request headers; empty for DNS.
	Headers map[string][]string `json:"headers"`
	// DNSQName is the query name with the letter case it arrived in.
	DNSQName     *string `json:"dns_qname"`
	DNSQType     *int    `json:"dns_qtype"`
	DNSQClass    *int    `json:"dns_qclass"`
	DNSTransport *string `json:"dns_transport"`
	ResolverAddr *string `json:"resolver_addr"`
	// HitCount counts the callbacks folded into this trigger.
	HitCount int64 `json:"hit_count"`
	// Echo marks a repeat of an earlier trigger (EchoOf) after the
	// dedupe window.
	Echo       bool    `json:"echo"`
	EchoOf     *string `json:"echo_of"`
	AttackerID *string `json:"attacker_id"`
}

// CanaryTriggerList is the body of GET /api/v1/canary/tokens/{uuid}/triggers.
// Total counts every trigger of the token, not only this page.
type CanaryTriggerList struct {
	Triggers []CanaryTriggerResponse `json:"triggers"`
	Total    int                     `json:"total"`
	Limit    int                     `json:"limit"`
	Offset   int                     `json:"offset"`
}

// CanaryRoutes returns the /api/v1/canary route group. Register it on a
// Server before the first request.
func CanaryRoutes(cfg CanaryConfig) RouteGroup {
	if cfg.UploadMax <= 0 {
		cfg.UploadMax = DefaultCanaryUploadMax
	}
	h := &canaryHandlers{cfg: cfg}
	unavailable := http.StatusServiceUnavailable
	tokenFilters := []Param{
		{Name: "decky_name", Type: ParamString, Description: "Only tokens of this decky.", Max: 64},
		{Name: "state", Type: ParamString, Description: "Only tokens in this state.", Enum: []string{sqlstore.CanaryPlanted, sqlstore.CanaryFailed, sqlstore.CanaryRevoked}},
		{Name: "kind", Type: ParamString, Description: "Only tokens of this kind.", Enum: []string{"http", "dns", "aws_passive"}},
		{Name: "topology_id", Type: ParamString, Description: "Only tokens of this MazeNET topology.", Max: 64},
		{Name: "generator", Type: ParamString, Description: "Only tokens built by this generator.", Max: 64},
	}
	triggerPage := []Param{
		{Name: "limit", Type: ParamInteger, Description: "Maximum number of triggers to return (default 100).", Min: 1, Max: 500},
		{Name: "offset", Type: ParamInteger, Description: "Number of newest triggers to skip.", Min: 0, Max: 1<<31 - 1},
	}

	return RouteGroup{Name: "canary", Routes: []Route{
		{
			Method: "POST", Path: "/api/v1/canary/blobs", Role: Admin,
			Summary: "Upload a file to build canary tokens from, as multipart/form-data with one part named file. " +
				"Identical bytes return the first upload's row. The media type is sniffed from the content. " +
				"413 past DECNET_CANARY_UPLOAD_MAX (default 25 MiB), 415 for a body that is not multipart, " +
				"400 for an empty file, 422 without a file part.",
			Response: CanaryBlobResponse{}, Status: http.StatusCreated,
			Errors: []int{http.StatusBadRequest, http.StatusRequestEntityTooLarge, http.StatusUnsupportedMediaType, http.StatusUnprocessableEntity, unavailable},
			Handle: h.uploadBlob,
		},
		{
			Method: "GET", Path: "/api/v1/canary/blobs", Role: Admin,
			Summary:  "Uploaded files, newest first, each with the number of tokens (of any state) built from it.",
			Response: CanaryBlobList{}, Handle: h.listBlobs,
		},
		{
			Method: "DELETE", Path: "/api/v1/canary/blobs/{uuid}", Role: Admin,
			Summary:  "Delete an uploaded file. 409 while any token, revoked ones included, references it.",
			Response: MessageResponse{}, Errors: []int{http.StatusConflict}, Handle: h.deleteBlob,
		},
		{
			Method: "POST", Path: "/api/v1/canary/tokens", Role: Admin,
			Summary: "Mint a token from exactly one of generator or blob_uuid and plant it in the decky. kind is derived " +
				"from the generator or instrumenter; a given kind must match (422). placement_path defaults to the " +
				"generator's path under the persona user's home. A failed plant still answers 201, with state failed " +
				"and last_error. 400: both or neither source, a bad path, an unknown generator; 404: unknown blob or " +
				"topology; 410: blob bytes missing; 413/415: the instrumenter cannot take the blob; 422: unknown decky, " +
				"kind mismatch or a DNS artifact without a DNS zone.",
			Body: CanaryTokenCreateRequest{}, Response: CanaryTokenResponse{}, Status: http.StatusCreated,
			Errors: []int{http.StatusBadRequest, http.StatusNotFound, http.StatusGone, http.StatusRequestEntityTooLarge,
				http.StatusUnsupportedMediaType, http.StatusUnprocessableEntity, unavailable},
			Handle: h.createToken,
		},
		{
			Method: "GET", Path: "/api/v1/canary/tokens", Role: Viewer,
			Summary: "Tokens matching every given filter, newest first.",
			Query:   tokenFilters, Response: CanaryTokenList{}, Handle: h.listTokens,
		},
		{
			Method: "GET", Path: "/api/v1/canary/tokens/{uuid}", Role: Viewer,
			Summary:  "One token.",
			Response: CanaryTokenResponse{}, Handle: h.getToken,
		},
		{
			Method: "GET", Path: "/api/v1/canary/tokens/{uuid}/preview", Role: Admin,
			Summary: "The token's file as planted, rebuilt from the slug, HTTP base, DNS zone and persona stored at mint " +
				"time, as application/octet-stream. 409 when it cannot be rebuilt (blob deleted or its bytes missing).",
			Errors: []int{http.StatusConflict, unavailable}, Handle: h.preview,
		},
		{
			Method: "GET", Path: "/api/v1/canary/tokens/{uuid}/triggers", Role: Viewer,
			Summary: "One page of the token's callbacks, newest first; total counts all of them.",
			Query:   triggerPage, Response: CanaryTriggerList{}, Handle: h.listTriggers,
		},
		{
			Method: "DELETE", Path: "/api/v1/canary/tokens/{uuid}", Role: Admin,
			Summary: "Revoke a token: remove its file from the decky and stop recording its callbacks. Rows and " +
				"triggers are kept. When the file cannot be removed the token is left failed with last_error; " +
				"revoke again to retry.",
			Response: CanaryRevokeResponse{}, Errors: []int{unavailable}, Handle: h.revoke,
		},
	}}
}

type canaryHandlers struct {
	cfg CanaryConfig
}

func (h *canaryHandlers) uploadBlob(c *Call) (any, error) {
	if h.cfg.Blobs == nil {
		return nil, Errorf(http.StatusServiceUnavailable, "blob uploads are not available in this process")
	}
	mt, _, err := mime.ParseMediaType(c.R.Header.Get("Content-Type"))
	if err != nil || mt != "multipart/form-data" {
		return nil, Errorf(http.StatusUnsupportedMediaType, "Content-Type must be multipart/form-data with a file part")
	}
	c.R.Body = http.MaxBytesReader(c.W, c.R.Body, h.cfg.UploadMax+multipartOverhead)
	mr, err := c.R.MultipartReader()
	if err != nil {
		return nil, Errorf(http.StatusBadRequest, "invalid multipart body: %v", err)
	}

	for {
		part, err := mr.NextPart()
		if errors.Is(err, io.EOF) {
			return nil, fieldError(http.StatusUnprocessableEntity, "file", "missing: send the file as a multipart part named file")
		}
		if err != nil {
			return nil, uploadError(err, h.cfg.UploadMax)
		}
		if part.FormName() != "file" {
			part.Close()
			continue
		}
		defer part.Close()
		return h.storeBlob(c, part)
	}
}

func (h *canaryHandlers) storeBlob(c *Call, part io.Reader) (any, error) {
	ctx := c.R.Context()
	limited := &io.LimitedReader{R: part, N: h.cfg.UploadMax + 1}
	digest, size, err := h.cfg.Blobs.Put(limited)
	if err != nil {
		return nil, uploadError(err, h.cfg.UploadMax)
	}
	if size > h.cfg.UploadMax {
		h.cfg.Blobs.Remove(digest, 0)
		return nil, Errorf(http.StatusRequestEntityTooLarge, "file larger than %d bytes (DECNET_CANARY_UPLOAD_MAX)", h.cfg.UploadMax)
	}
	if size == 0 {
		return nil, Errorf(http.StatusBadRequest, "uploaded file is empty")
	}

	f, err := h.cfg.Blobs.Open(digest)
	if err != nil {
		return nil, err
	}
	mediaType, err := canary.SniffMIME(f, size)
	f.Close()
	if err != nil {
		return nil, err
	}

	name := "(unnamed)"
	if p, ok := part.(interface{ FileName() string }); ok && p.FileName() != "" {
		name = clipName(path.Base(strings.ReplaceAll(p.FileName(), `\`, "/")))
	}
	b, _, err := h.cfg.Store.UpsertCanaryBlob(ctx, sqlstore.CanaryBlob{SHA256: digest, Filename: name,
		ContentType: mediaType, SizeBytes: size, UploadedBy: c.User.UUID})
	if err != nil {
		return nil, err
	}
	return blobResponse(b), nil
}

// uploadError maps a failed multipart read or blob write.
func uploadError(err error, max int64) error {
	var tooBig *http.MaxBytesError
	if errors.As(err, &tooBig) || errors.Is(err, blobstore.ErrTooLarge) {
		return Errorf(http.StatusRequestEntityTooLarge, "file larger than %d bytes (DECNET_CANARY_UPLOAD_MAX)", max)
	}
	if strings.Contains(err.Error(), "multipart") {
		return &Error{Status: http.StatusBadRequest, Detail: "invalid multipart body", Cause: err}
	}
	return err
}

func clipName(s string) string {
	if len(s) > 255 {
		return s[:255]
	}
	if s == "." || s == "/" || s == "" {
		return "(unnamed)"
	}
	return s
}

func (h *canaryHandlers) listBlobs(c *Call) (any, error) {
	list, err := h.cfg.Store.ListCanaryBlobs(c.R.Context())
	if err != nil {
		return nil, err
	}
	out := CanaryBlobList{Blobs: make([]CanaryBlobResponse, 0, len(list)), Total: len(list)}
	for _, b := range list {
		out.Blobs = append(out.Blobs, blobResponse(b))
	}
	return out, nil
}

func (h *canaryHandlers) deleteBlob(c *Call) (any, error) {
	b, err := h.cfg.Store.DeleteCanaryBlob(c.R.Context(), c.PathValue("uuid"))
	switch {
	case errors.Is(err, store.ErrNotFound):
		return nil, Errorf(http.StatusNotFound, "blob not found")
	case errors.Is(err, store.ErrConflict):
		return nil, Errorf(http.StatusConflict, "blob is still referenced by one or more tokens")
	case err != nil:
		return nil, err
	}
	if h.cfg.Blobs != nil {
		// The row is gone first, so a crash here leaves an orphan file,
		// never a row without bytes.
		if _, err := h.cfg.Blobs.Remove(b.SHA256, 0); err != nil {
			c.server.log.Warn("remove canary blob bytes", "blob", b.UUID, "err", err)
		}
	}
	return MessageResponse{Message: "ok"}, nil
}

func (h *canaryHandlers) createToken(c *Call) (any, error) {
	req := c.Body.(*CanaryTokenCreateRequest)
	if (req.BlobUUID == "") == (req.Generator == "") {
		return nil, Errorf(http.StatusBadRequest, "provide exactly one of blob_uuid or generator")
	}
	if req.PlacementPath != "" && !strings.HasPrefix(req.PlacementPath, "/") && !hasDrive(req.PlacementPath) {
		return nil, fieldError(http.StatusBadRequest, "placement_path", "must be absolute (start with '/')")
	}
	if req.TopologyID != nil && *req.TopologyID != "" {
		return nil, Errorf(http.StatusNotFound, "topology not found")
	}
	if req.Generator != "" && !contains(canary.Generators(), req.Generator) {
		return nil, Errorf(http.StatusBadRequest, "unknown generator: %q (want one of %s)", clip(req.Generator), strings.Join(canary.Generators(), ", "))
	}
	if h.cfg.Planter == nil {
		return nil, Errorf(http.StatusServiceUnavailable, "tokens can only be minted in the process that runs the deckies (decnet up)")
	}

	tok, _, err := h.cfg.Planter.Mint(c.R.Context(), planter.MintRequest{DeckyName: req.DeckyName, Generator: req.Generator,
		BlobUUID: req.BlobUUID, PlacementPath: req.PlacementPath, Kind: req.Kind, CreatedBy: c.User.UUID})
	if err != nil {
		return nil, mintError(err)
	}
	c.server.log.Info("canary token minted", "token", tok.UUID, "decky", tok.DeckyName, "state", tok.State, "by", c.User.Username)
	return tokenResponse(tok), nil
}

func hasDrive(p string) bool {
	return len(p) >= 3 && p[1] == ':' && (p[2] == '\\' || p[2] == '/')
}

// mintError maps planter and artifact errors to statuses.
func mintError(err error) error {
	status := 0
	switch {
	case errors.Is(err, planter.ErrInvalidRequest), errors.Is(err, canary.ErrUnknown):
		status = http.StatusBadRequest
	case errors.Is(err, planter.ErrBlobNotFound):
		return &Error{Status: http.StatusNotFound, Detail: "blob not found", Cause: err}
	case errors.Is(err, planter.ErrBlobGone):
		return &Error{Status: http.StatusGone, Detail: "blob bytes missing on disk; please re-upload", Cause: err}
	case errors.Is(err, planter.ErrUnknownDecky):
		return &Error{Status: http.StatusUnprocessableEntity, Detail: "decky_name: no decky with this name is deployed", Cause: err}
	case errors.Is(err, canary.ErrKindMismatch):
		status = http.StatusUnprocessableEntity
	case errors.Is(err, canary.ErrUnsupported):
		status = http.StatusUnsupportedMediaType
	case errors.Is(err, canary.ErrTooLarge):
		status = http.StatusRequestEntityTooLarge
	default:
		return err
	}
	return &Error{Status: status, Detail: strings.TrimPrefix(err.Error(), "planter: "), Cause: err}
}

func (h *canaryHandlers) listTokens(c *Call) (any, error) {
	list, err := h.cfg.Store.ListCanaryTokens(c.R.Context(), sqlstore.CanaryTokenFilter{
		DeckyName: c.QueryString("decky_name"), State: c.QueryString("state"), Kind: c.QueryString("kind"),
		TopologyID: c.QueryString("topology_id"), Generator: c.QueryString("generator")})
	if err != nil {
		return nil, err
	}
	out := CanaryTokenList{Tokens: make([]CanaryTokenResponse, 0, len(list)), Total: len(list)}
	for _, t := range list {
		out.Tokens = append(out.Tokens, tokenResponse(t))
	}
	return out, nil
}

func (h *canaryHandlers) token(c *Call) (sqlstore.CanaryToken, error) {
	tok, err := h.cfg.Store.GetCanaryToken(c.R.Context(), c.PathValue("uuid"))
	if errors.Is(err, store.ErrNotFound) {
		return tok, Errorf(http.StatusNotFound, "token not found")
	}
	return tok, err
}

func (h *canaryHandlers) getToken(c *Call) (any, error) {
	tok, err := h.token(c)
	if err != nil {
		return nil, err
	}
	return tokenResponse(tok), nil
}

func (h *canaryHandlers) preview(c *Call) (any, error) {
	tok, err := h.token(c)
	if err != nil {
		return nil, err
	}
	if h.cfg.Planter == nil {
		return nil, Errorf(http.StatusServiceUnavailable, "previews are only available in the process that runs the deckies (decnet up)")
	}
	a, err := h.cfg.Planter.Artifact(c.R.Context(), tok)
	switch {
	case errors.Is(err, planter.ErrBlobNotFound):
		return nil, &Error{Status: http.StatusConflict, Detail: "blob has been deleted; preview unavailable", Cause: err}
	case errors.Is(err, planter.ErrBlobGone):
		return nil, &Error{Status: http.StatusConflict, Detail: "blob bytes missing on disk", Cause: err}
	case errors.Is(err, planter.ErrNoArtifact), errors.Is(err, canary.ErrUnsupported), errors.Is(err, canary.ErrKindMismatch):
		return nil, &Error{Status: http.StatusConflict, Detail: err.Error(), Cause: err}
	case err != nil:
		return nil, err
	}

	hdr := c.W.Header()
	hdr.Set("Content-Type", "application/octet-stream")
	hdr.Set("Content-Length", fmt.Sprint(len(a.Content)))
	hdr.Set("X-Content-Type-Options", "nosniff")
	c.W.WriteHeader(http.StatusOK)
	c.W.Write(a.Content)
	return nil, nil
}

func (h *canaryHandlers) listTriggers(c *Call) (any, error) {
	tok, err := h.token(c)
	if err != nil {
		return nil, err
	}
	p := store.Page{Limit: 100}
	if v, ok := c.QueryInt("limit"); ok {
		p.Limit = int(v)
	}
	if v, ok := c.QueryInt("offset"); ok {
		p.Offset = int(v)
	}
	list, total, err := h.cfg.Store.ListCanaryTriggers(c.R.Context(), tok.UUID, p)
	if err != nil {
		return nil, err
	}
	out := CanaryTriggerList{Triggers: make([]CanaryTriggerResponse, 0, len(list)), Total: total, Limit: p.Limit, Offset: p.Offset}
	for _, t := range list {
		out.Triggers = append(out.Triggers, triggerResponse(t))
	}
	return out, nil
}

func (h *canaryHandlers) revoke(c *Call) (any, error) {
	if _, err := h.token(c); err != nil {
		return nil, err
	}
	if h.cfg.Planter == nil {
		return nil, Errorf(http.StatusServiceUnavailable, "tokens can only be revoked in the process that runs the deckies (decnet up)")
	}
	tok, err := h.cfg.Planter.Revoke(c.R.Context(), c.PathValue("uuid"))
	if err != nil {
		return nil, err
	}
	msg := "ok"
	if tok.State != sqlstore.CanaryRevoked {
		msg = "the file could not be removed; the token is marked failed, revoke again to retry"
	}
	c.server.log.Info("canary token revoke", "token", tok.UUID, "state", tok.State, "by", c.User.Username)
	return CanaryRevokeResponse{Message: msg, Token: tokenResponse(tok)}, nil
}

func blobResponse(b sqlstore.CanaryBlob) CanaryBlobResponse {
	return CanaryBlobResponse{UUID: b.UUID, SHA256: b.SHA256, Filename: b.Filename, ContentType: b.ContentType,
		SizeBytes: b.SizeBytes, UploadedBy: b.UploadedBy, UploadedAt: b.UploadedAt, TokenCount: b.TokenCount}
}

func tokenResponse(t sqlstore.CanaryToken) CanaryTokenResponse {
	tc := canary.Context{Slug: t.CallbackToken, HTTPBase: t.HTTPBase, DNSZone: t.DNSZone}
	return CanaryTokenResponse{UUID: t.UUID, Kind: t.Kind, DeckyName: t.DeckyName, TopologyID: optional(t.TopologyID),
		BlobUUID: optional(t.BlobUUID), Instrumenter: optional(t.Instrumenter), Generator: optional(t.Generator),
		PlacementPath: t.PlacementPath, CallbackToken: t.CallbackToken, CallbackURL: tc.CallbackURL(),
		DNSHost: optional(tc.DNSHost()), CreatedAt: t.CreatedAt, PlacedAt: t.PlacedAt, LastTriggeredAt: t.LastTriggeredAt,
		TriggerCount: t.TriggerCount, HitCount: t.HitCount, CreatedBy: t.CreatedBy, State: t.State,
		LastError: optional(t.LastError), Baseline: t.Baseline}
}

func triggerResponse(t sqlstore.CanaryTrigger) CanaryTriggerResponse {
	r := CanaryTriggerResponse{UUID: t.UUID, TokenUUID: t.TokenUUID, OccurredAt: t.OccurredAt, LastHitAt: t.LastHitAt,
		Protocol: t.Protocol, SrcIP: t.SrcIP, PeerAddr: t.PeerAddr, ForwardedFor: t.ForwardedFor,
		Method: optional(t.Method), UserAgent: optional(t.UserAgent), RequestPath: optional(t.RequestPath),
		RequestQuery: optional(t.RequestQuery), Headers: t.Headers, DNSQName: optional(t.DNSQName),
		DNSTransport: optional(t.DNSTransport), ResolverAddr: optional(t.ResolverAddr), HitCount: t.HitCount,
		Echo: t.Echo, EchoOf: optional(t.EchoOf), AttackerID: optional(t.AttackerID)}
	if t.Protocol == sqlstore.CanaryProtoDNS {
		qtype, qclass := int(t.DNSQType), int(t.DNSQClass)
		r.DNSQType, r.DNSQClass = &qtype, &qclass
	}
	if r.ForwardedFor == nil {
		r.ForwardedFor = []string{}
	}
	if r.Headers == nil {
		r.Headers = map[string][]string{}
	}
	return r
}

func optional(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}
