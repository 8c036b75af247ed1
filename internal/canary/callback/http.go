package callback

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/decnet/decnet/internal/canary/slug"
	"github.com/decnet/decnet/internal/store/sqlstore"
)

// transparentGIF is a 43-byte 1x1 GIF89a with a two-colour table and a
// graphic control extension that makes its one pixel transparent.
var transparentGIF = []byte("GIF89a\x01\x00\x01\x00\x80\x01\x00\x00\x00\x00\xff\xff\xff!\xf9\x04\x01\x00\x00\x01\x00,\x00\x00\x00\x00\x01\x00\x01\x00\x00\x02\x02D\x01\x00;")

// Field caps for what a hit stores from an HTTP request.
const (
	maxPathLen  = 2048
	maxQueryLen = 2048
	maxUALen    = 512
	// maxBodyDrain is how much of a request body is read and discarded so
	// that the connection can be reused; the body is never stored.
	maxBodyDrain = 64 << 10
	// submitTimeout bounds how long a request waits for room in the
	// recorder's queue.
	submitTimeout = 2 * time.Second
)

// gitAuthBody is the body of the answer to git smart-HTTP requests.
const gitAuthBody = "Authentication required\n"

// Submitter queues a hit for recording; *Recorder implements it.
type Submitter interface {
	Submit(ctx context.Context, h sqlstore.CanaryHit) error
}

// HTTPHandler answers every request with the same transparent GIF and
// records requests for /c/<slug> and /c/<slug>/<anything>. Known slugs,
// unknown slugs, other paths and every method (HEAD included) get
// byte-identical responses, without a Date or Server header, so nothing
// tells a planted slug from a guess or the receiver from a file server.
// Git smart-HTTP requests get a 401 Basic challenge instead, which git
// reports as an authentication failure.
type HTTPHandler struct {
	// Recorder receives the hits.
	Recorder Submitter
	// TrustedProxies are peers whose X-Forwarded-For header names the
	// client. Empty trusts no proxy.
	TrustedProxies []netip.Prefix
	// Limiter caps the hits recorded per source; nil records every hit.
	Limiter *Limiter
	// Now is the clock; nil means time.Now.
	Now    func() time.Time
	Logger *slog.Logger
}

// ServeHTTP implements http.Handler.
func (h *HTTPHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Body != nil {
		io.Copy(io.Discard, io.LimitReader(r.Body, maxBodyDrain))
	}

	if s, ok := ParseCallbackPath(r.URL.Path); ok {
		h.record(r, s)
	}

	hdr := w.Header()
	hdr["Date"] = nil
	if isGitRequest(r) {
		hdr.Set("Content-Type", "text/plain")
		hdr.Set("Content-Length", strconv.Itoa(len(gitAuthBody)))
		hdr.Set("WWW-Authenticate", `Basic realm="Restricted"`)
		w.WriteHeader(http.StatusUnauthorized)
		io.WriteString(w, gitAuthBody)
		return
	}
	hdr.Set("Content-Type", "image/gif")
	hdr.Set("Content-Length", strconv.Itoa(len(transparentGIF)))
	hdr.Set("Cache-Control", "no-cache, no-store, must-revalidate")
	w.WriteHeader(http.StatusOK)
	w.Write(transparentGIF)
}

func (h *HTTPHandler) record(r *http.Request, s string) {
	fwd := forwardedFor(r.Header)
	src, peer := ClientAddr(r.RemoteAddr, fwd, h.TrustedProxies)
	if !src.IsValid() || !h.Limiter.Allow(src) {
		return
	}

	headers := make(map[string][]string, len(r.Header)+1)
	for k, v := range r.Header {
		headers[k] = v
	}
	if r.Host != "" {
		headers["Host"] = []string{r.Host}
	}
	path := clipString(r.URL.Path, maxPathLen)
	now := time.Now
	if h.Now != nil {
		now = h.Now
	}
	hit := sqlstore.CanaryHit{Slug: s, Time: now(), Trigger: sqlstore.CanaryTrigger{
		Protocol:     sqlstore.CanaryProtoHTTP,
		SrcIP:        src.String(),
		PeerAddr:     peer,
		ForwardedFor: fwd,
		Method:       clipString(r.Method, 32),
		UserAgent:    clipString(r.UserAgent(), maxUALen),
		RequestPath:  path,
		RequestQuery: clipString(r.URL.RawQuery, maxQueryLen),
		Headers:      headers,
		DedupeKey:    "http|" + src.String() + "|" + r.Method + "|" + path,
	}}

	ctx, cancel := context.WithTimeout(r.Context(), submitTimeout)
	defer cancel()
	if err := h.Recorder.Submit(ctx, hit); err != nil && h.Logger != nil {
		h.Logger.Warn("queue canary http hit", "src", hit.Trigger.SrcIP, "err", err)
	}
}

// ParseCallbackPath returns the lowercase slug of a callback path:
// /c/<slug> or /c/<slug>/<anything>. Any other path, or a first segment
// that is not a slug, returns false.
func ParseCallbackPath(p string) (string, bool) {
	rest, ok := strings.CutPrefix(p, "/c/")
	if !ok {
		return "", false
	}
	seg := rest
	if i := strings.IndexByte(rest, '/'); i >= 0 {
		seg = rest[:i]
	}
	if !slug.Valid(seg) {
		return "", false
	}
	return slug.Normalize(seg), true
}

// forwardedFor returns the X-Forwarded-For hops of every header line, in
// order, trimmed, with empty entries dropped and at most 32 kept.
func forwardedFor(h http.Header) []string {
	const maxHops = 32
	var hops []string
	for _, line := range h.Values("X-Forwarded-For") {
		for _, hop := range strings.Split(line, ",") {
			if hop = strings.TrimSpace(hop); hop != "" {
				hops = append(hops, clipString(hop, 64))
			}
		}
	}
	if len(hops) > maxHops {
		hops = hops[len(hops)-maxHops:]
	}
	return hops
}

// ClientAddr returns the address a request is attributed to and the
// socket peer as ip:port. The address is the peer's unless the peer is in
// trusted; then X-Forwarded-For is walked from the right and the first hop
// outside trusted is the client. A hop that does not parse stops the walk
// at the last trusted address, so a forged entry cannot be picked.
func ClientAddr(remoteAddr string, hops []string, trusted []netip.Prefix) (netip.Addr, string) {
	peer, err := netip.ParseAddrPort(remoteAddr)
	if err != nil {
		host, _, splitErr := net.SplitHostPort(remoteAddr)
		if splitErr != nil {
			host = remoteAddr
		}
		a, err := netip.ParseAddr(host)
		if err != nil {
			return netip.Addr{}, remoteAddr
		}
		return a.Unmap(), remoteAddr
	}
	client := peer.Addr().Unmap()
	if !inPrefixes(client, trusted) {
		return client, remoteAddr
	}

	for i := len(hops) - 1; i >= 0; i-- {
		a, err := netip.ParseAddr(hops[i])
		if err != nil {
			break
		}
		client = a.Unmap()
		if !inPrefixes(client, trusted) {
			break
		}
	}
	return client, remoteAddr
}

func inPrefixes(a netip.Addr, list []netip.Prefix) bool {
	for _, p := range list {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// isGitRequest reports whether r is a git smart-HTTP request: the ref
// advertisement (info/refs?service=git-...) or an RPC (git-upload-pack,
// git-receive-pack).
func isGitRequest(r *http.Request) bool {
	p := r.URL.Path
	if strings.HasSuffix(p, "/info/refs") && strings.HasPrefix(r.URL.Query().Get("service"), "git-") {
		return true
	}
	return strings.HasSuffix(p, "/git-upload-pack") || strings.HasSuffix(p, "/git-receive-pack")
}

func clipString(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n]
}
