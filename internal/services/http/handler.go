package httpsvc

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"io/fs"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"

	"github.com/decnet/decnet/internal/services"
)

// Caps on the request fields of an event.
const (
	maxHeaderValueBytes = 1024
	maxBodyPreviewBytes = 512
	bodyDiscardFactor   = 16
)

// ServeHTTP responds to one request as the persona's web server and emits its
// events. Server implements http.Handler, so tests and other listeners can
// drive it directly.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	c := connFrom(r.Context())
	session := ""
	if c != nil {
		c.startRequest()
		session = c.session
	}
	rec := &recorder{ResponseWriter: w}

	defer func() {
		if v := recover(); v != nil {
			s.log.Error("http handler panic", "remote_addr", r.RemoteAddr, "panic", v, "stack", string(debug.Stack()))
			if rec.status == 0 {
				s.writeError(rec, r, http.StatusInternalServerError)
			}
		}
	}()

	body := s.readBody(r)
	s.emitCredentials(r, session)
	s.respond(rec, r)
	s.emitRequest(r, rec, body, session)
}

// respond picks the response: a credential challenge on protected paths,
// the persona's special cases, a file from the web root, the default page
// or a 404.
func (s *Server) respond(w *recorder, r *http.Request) {
	p := s.profile
	clean := path.Clean("/" + r.URL.Path)

	if s.isProtected(clean) {
		realm := p.realm
		if p.kind == kindIIS {
			realm = s.cfg.Hostname
		}
		w.Header()["WWW-Authenticate"] = []string{`Basic realm="` + realm + `"`}
		s.writeError(w, r, http.StatusUnauthorized)
		return
	}

	if p.kind == kindApache && (clean == "/server-status" || clean == "/server-info" || strings.HasPrefix(path.Base(clean), ".ht")) {
		s.writeError(w, r, http.StatusForbidden)
		return
	}
	if p.kind == kindIIS && iisHidden(clean) {
		s.writeError(w, r, http.StatusNotFound)
		return
	}

	if s.serveFile(w, r, clean) {
		return
	}
	if clean == "/" {
		s.writeDefaultPage(w, r)
		return
	}
	s.writeError(w, r, http.StatusNotFound)
}

// iisHidden reports paths IIS request filtering hides by default.
func iisHidden(p string) bool {
	lower := strings.ToLower(p)
	for _, seg := range []string{"/web.config", "/bin", "/app_code", "/app_data", "/app_globalresources", "/app_localresources", "/app_browsers"} {
		if lower == seg || strings.HasPrefix(lower, seg+"/") || strings.HasSuffix(lower, "/web.config") {
			return true
		}
	}
	return false
}

func (s *Server) isProtected(p string) bool {
	for _, prefix := range s.cfg.ProtectedPaths {
		prefix = strings.TrimSuffix(prefix, "/")
		if p == prefix || strings.HasPrefix(p, prefix+"/") {
			return true
		}
	}
	return false
}

// serveFile serves clean from the web root and reports whether it
// wrote a response. os.Root keeps every lookup inside the web root, symbolic links
// included.
func (s *Server) serveFile(w *recorder, r *http.Request, clean string) bool {
	if s.webRoot == "" {
		return false
	}
	root, err := os.OpenRoot(s.webRoot)
	if err != nil {
		return false
	}
	defer root.Close()

	name := strings.TrimPrefix(clean, "/")
	if name == "" {
		name = "."
	}
	f, info, ok := openRegular(root, name)
	if !ok {
		dir, err := root.Stat(name)
		if err != nil || !dir.IsDir() {
			return false
		}
		if !strings.HasSuffix(r.URL.Path, "/") {
			w.Header()["Location"] = []string{r.URL.Path + "/"}
			s.writeError(w, r, http.StatusMovedPermanently)
			return true
		}
		for _, index := range s.profile.indexFiles {
			if f, info, ok = openRegular(root, path.Join(name, index)); ok {
				break
			}
		}
		if !ok {
			if clean == "/" {
				return false // the default page replaces a missing index
			}
			s.writeError(w, r, http.StatusForbidden)
			return true
		}
	}
	defer f.Close()

	if r.Method != http.MethodGet && r.Method != http.MethodHead && !(s.profile.kind == kindApache && r.Method == http.MethodPost) {
		s.writeError(w, r, http.StatusMethodNotAllowed)
		return true
	}

	h := w.Header()
	s.profile.setHeaders(h, s.cfg.Now())
	h["ETag"] = []string{s.profile.etag(info.ModTime(), info.Size())}
	h["Content-Type"] = []string{s.profile.contentType(info.Name())}
	http.ServeContent(w, r, info.Name(), info.ModTime(), f)
	return true
}

func openRegular(root *os.Root, name string) (*os.File, fs.FileInfo, bool) {
	f, err := root.Open(name)
	if err != nil {
		return nil, nil, false
	}
	info, err := f.Stat()
	if err != nil || !info.Mode().IsRegular() {
		f.Close()
		return nil, nil, false
	}
	return f, info, true
}

func (s *Server) writeDefaultPage(w *recorder, r *http.Request) {
	status, body := s.profile.defaultPage()
	h := w.Header()
	s.profile.setHeaders(h, s.cfg.Now())
	h["Content-Type"] = []string{"text/html"}
	h["Content-Length"] = []string{strconv.Itoa(len(body))}
	w.WriteHeader(status)
	if r.Method != http.MethodHead {
		io.WriteString(w, body)
	}
}

func (s *Server) writeError(w *recorder, r *http.Request, status int) {
	contentType, body := s.profile.errorPage(status, r.Method)
	h := w.Header()
	s.profile.setHeaders(h, s.cfg.Now())
	h["Content-Type"] = []string{contentType}
	h["Content-Length"] = []string{strconv.Itoa(len(body))}
	if status == http.StatusMethodNotAllowed && s.profile.kind != kindNginx {
		h["Allow"] = []string{"GET, HEAD, POST, OPTIONS"}
	}
	w.WriteHeader(status)
	if r.Method != http.MethodHead {
		io.WriteString(w, body)
	}
}

// recorder remembers the status a handler wrote.
type recorder struct {
	http.ResponseWriter
	status int
}

func (r *recorder) WriteHeader(status int) {
	if r.status == 0 {
		r.status = status
	}
	r.ResponseWriter.WriteHeader(status)
}

func (r *recorder) Write(b []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	return r.ResponseWriter.Write(b)
}

// bodySummary is the part of a request body that an event keeps.
type bodySummary struct {
	size      int64
	sha256    string
	preview   []byte
	hashed    int64 // bytes covered by sha256
	truncated bool  // reading stopped before the end of the body
}

// readBody reads the request body, hashing the first MaxBodyBytes and
// counting up to bodyDiscardFactor times as much. Reading stops at that
// cap or at the server's read deadline.
func (s *Server) readBody(r *http.Request) bodySummary {
	var sum bodySummary
	if r.Body == nil || r.Body == http.NoBody {
		return sum
	}

	limit := s.cfg.MaxBodyBytes
	hashCap := limit
	h := sha256.New()
	buf := make([]byte, 32<<10)
	for {
		n, err := r.Body.Read(buf)
		if n > 0 {
			chunk := buf[:n]
			if room := maxBodyPreviewBytes - len(sum.preview); room > 0 {
				sum.preview = append(sum.preview, chunk[:min(n, room)]...)
			}
			if sum.hashed < hashCap {
				part := chunk[:min(int64(n), hashCap-sum.hashed)]
				h.Write(part)
				sum.hashed += int64(len(part))
			}
			sum.size += int64(n)
		}
		if err != nil {
			if !errors.Is(err, io.EOF) {
				sum.truncated = true
			}
			break
		}
		if sum.size >= limit*bodyDiscardFactor {
			sum.truncated = true
			break
		}
	}
	if sum.size > 0 {
		sum.sha256 = hex.EncodeToString(h.Sum(nil))
	}
	return sum
}

// emitCredentials emits an auth_attempt for an Authorization or
// Proxy-Authorization header that carries Basic, Bearer or Digest
// credentials. Every attempt fails: no path ever opens.
func (s *Server) emitCredentials(r *http.Request, session string) {
	for _, header := range []string{"Authorization", "Proxy-Authorization"} {
		for _, value := range r.Header.Values(header) {
			cred, ok := parseAuthorization(value)
			if !ok {
				continue
			}
			ev := s.requestEvent(services.KindAuthAttempt, r, session)
			f := ev.Fields
			f["auth_scheme"] = cred.scheme
			f["auth_header"] = strings.ToLower(header)
			f[services.FieldOutcome] = "failure"
			f[services.FieldMethod] = escapeString(r.Method, 64)
			f[services.FieldPath] = escapeString(r.URL.Path, services.MaxFieldBytes)
			if cred.username != "" {
				f[services.FieldUsername] = escapeString(cred.username, maxPrincipalBytes)
			}
			for k, v := range cred.params {
				f["digest_"+escapeString(k, 32)] = escapeString(v, maxHeaderValueBytes)
			}
			if cred.malformed {
				f["malformed"] = "true"
			} else {
				secret := cred.secret
				if len(secret) > maxSecretBytes {
					secret = secret[:maxSecretBytes]
					f["secret_truncated"] = "true"
				}
				f[services.FieldSecretKind] = cred.kind
				f[services.FieldSecretB64] = base64.StdEncoding.EncodeToString(secret)
				f[services.FieldSecretPrintable] = printable(secret)
			}
			s.cfg.Sink.Emit(ev)
		}
	}
}

func (s *Server) emitRequest(r *http.Request, w *recorder, body bodySummary, session string) {
	ev := s.requestEvent(services.KindRequest, r, session)
	f := ev.Fields
	f[services.FieldMethod] = escapeString(r.Method, 64)
	f[services.FieldPath] = escapeString(r.URL.Path, services.MaxFieldBytes)
	f["uri"] = escapeString(r.RequestURI, services.MaxFieldBytes)
	f["proto"] = escapeString(r.Proto, 32)
	f["host"] = escapeString(r.Host, 256)
	if r.URL.RawQuery != "" {
		f[services.FieldQuery] = escapeString(r.URL.RawQuery, services.MaxFieldBytes)
	}
	if ua := r.UserAgent(); ua != "" {
		f[services.FieldUserAgent] = escapeString(ua, maxHeaderValueBytes)
	}
	if xff := r.Header.Values("X-Forwarded-For"); len(xff) > 0 {
		f[services.FieldForwardedFor] = escapeString(strings.Join(xff, ", "), maxHeaderValueBytes)
	}
	headers, truncated := headersJSON(r)
	f[services.FieldHeaders] = headers
	if truncated {
		f["headers_truncated"] = "true"
	}

	f[services.FieldBodySize] = strconv.FormatInt(body.size, 10)
	if body.size > 0 {
		f[services.FieldBodySHA256] = body.sha256
		f[services.FieldBody], _ = escape(body.preview, services.MaxFieldBytes)
		if body.hashed < body.size {
			f["body_sha256_bytes"] = strconv.FormatInt(body.hashed, 10)
		}
	}
	if body.truncated {
		f["body_truncated"] = "true"
	}

	status := w.status
	if status == 0 {
		status = http.StatusOK
	}
	f[services.FieldStatus] = strconv.Itoa(status)
	s.cfg.Sink.Emit(ev)
}

// requestEvent starts an event for r. The source is the TCP peer; headers
// such as X-Forwarded-For are attacker-controlled and only stored as fields.
func (s *Server) requestEvent(kind string, r *http.Request, session string) services.Event {
	var local net.Addr
	if a, ok := r.Context().Value(http.LocalAddrContextKey).(net.Addr); ok {
		local = a
	}
	ev := s.event(kind, stringAddr(r.RemoteAddr), local, session)
	ev.Fields = make(map[string]string)
	return ev
}

func (s *Server) event(kind string, remote, local net.Addr, session string) services.Event {
	ev := services.Event{
		Time:    s.cfg.Now().UTC(),
		Decky:   s.cfg.Decky,
		Service: Service,
		Kind:    kind,
		Session: session,
	}
	if remote != nil {
		if ap, err := netip.ParseAddrPort(remote.String()); err == nil {
			ev.SrcIP = ap.Addr().Unmap().String()
			ev.SrcPort = int(ap.Port())
		}
	}
	if local != nil {
		if ap, err := netip.ParseAddrPort(local.String()); err == nil {
			ev.DstPort = int(ap.Port())
		}
	}
	return ev
}

type stringAddr string

func (a stringAddr) Network() string { return "tcp" }
func (a stringAddr) String() string  { return string(a) }

// headersJSON encodes the request headers as a JSON object of escaped names
// to lists of escaped values, Host included. Values are cut at
// maxHeaderValueBytes, and headers that would push the object past
// services.MaxFieldBytes are left out (truncated is then true).
func headersJSON(r *http.Request) (string, bool) {
	names := make([]string, 0, len(r.Header)+1)
	for name := range r.Header {
		names = append(names, name)
	}
	slices.Sort(names)

	out := make(map[string][]string, len(names)+1)
	budget := services.MaxFieldBytes - 2
	truncated := false
	add := func(name string, values []string) {
		key := escapeString(name, 256)
		var escaped []string
		cost := jsonLen(key) + 3 // colon and brackets
		for _, v := range values {
			e := escapeString(v, maxHeaderValueBytes)
			escaped = append(escaped, e)
			cost += jsonLen(e) + 1 // comma
		}
		if cost > budget {
			truncated = true
			return
		}
		budget -= cost
		out[key] = escaped
	}

	if r.Host != "" {
		add("Host", []string{r.Host})
	}
	for _, name := range names {
		add(name, r.Header[name])
	}

	data, err := marshalJSON(out)
	if err != nil || len(data) > services.MaxFieldBytes {
		return "{}", true
	}
	return string(data), truncated
}

// marshalJSON encodes v without the HTML escaping of json.Marshal, so that
// stored headers read as sent.
func marshalJSON(v any) ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(b.Bytes(), []byte("\n")), nil
}

func jsonLen(s string) int {
	data, err := marshalJSON(s)
	if err != nil {
		return len(s) * 6
	}
	return len(data)
}
