package httpsvc

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"hash"
	"io"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/decnet/decnet/internal/services"
)

// Caps on what a connection records before its first complete request.
const (
	maxPreviewBytes  = 512
	maxRawHashBytes  = 1 << 20
	goErrorHeaders   = "\r\nContent-Type: text/plain; charset=utf-8\r\nConnection: close\r\n\r\n"
	goResponsePrefix = "HTTP/1.1 "
)

// listener wraps accepted connections in conn.
type listener struct {
	net.Listener
	server *Server
}

func (l *listener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &conn{Conn: c, server: l.server, session: rand.Text()[:16], hash: sha256.New()}, nil
}

// conn records the bytes a client sends before its first complete request,
// so that a connection net/http rejects or that times out still yields an
// event. It also replaces net/http's plain-text error responses, which
// would give the emulator away, with the persona's own.
type conn struct {
	net.Conn
	server  *Server
	session string

	mu sync.Mutex
	// mu protects the following.
	requests int    // requests that reached the handler
	preview  []byte // first maxPreviewBytes bytes read
	size     int64  // bytes read before the first request
	hash     hash.Hash
	rejected int // status of a rejection net/http sent, or 0
}

func (c *conn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if n > 0 {
		c.mu.Lock()
		if c.requests == 0 {
			if room := maxPreviewBytes - len(c.preview); room > 0 {
				c.preview = append(c.preview, p[:min(n, room)]...)
			}
			if c.size < maxRawHashBytes {
				c.hash.Write(p[:min(int64(n), maxRawHashBytes-c.size)])
			}
			c.size += int64(n)
		}
		c.mu.Unlock()
	}
	return n, err
}

// Write passes writes through, except net/http's own rejection of a
// request it could not parse (written in one call, straight to the
// connection), which it replaces with the persona's own error response.
func (c *conn) Write(p []byte) (int, error) {
	if !bytes.HasPrefix(p, []byte(goResponsePrefix)) || !bytes.Contains(p, []byte(goErrorHeaders)) || len(p) < len(goResponsePrefix)+3 {
		return c.Conn.Write(p)
	}

	status, err := strconv.Atoi(string(p[len(goResponsePrefix) : len(goResponsePrefix)+3]))
	if err != nil {
		return c.Conn.Write(p)
	}
	c.mu.Lock()
	c.rejected = status
	c.mu.Unlock()

	if _, err := c.Conn.Write(c.server.rejection(status)); err != nil {
		return 0, err
	}
	return len(p), nil
}

// Lingering close after a rejection: nginx and Apache read what the client
// still sends before they close, so the client sees the error page rather
// than a TCP reset that discards it.
const (
	lingerTimeout = 500 * time.Millisecond
	lingerBytes   = 256 << 10
)

// CloseWrite half-closes the connection. net/http calls it through a type
// assertion before it closes a connection it rejected.
func (c *conn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return nil
}

// Close closes the connection, after a lingering close when the request
// was rejected.
func (c *conn) Close() error {
	c.mu.Lock()
	rejected := c.rejected != 0
	c.mu.Unlock()

	if rejected {
		c.CloseWrite()
		c.Conn.SetReadDeadline(time.Now().Add(lingerTimeout))
		io.CopyN(io.Discard, c.Conn, lingerBytes)
	}
	return c.Conn.Close()
}

func (c *conn) startRequest() {
	c.mu.Lock()
	c.requests++
	c.mu.Unlock()
}

type connKey struct{}

func connContext(ctx context.Context, c net.Conn) context.Context {
	if tc, ok := c.(*conn); ok {
		return context.WithValue(ctx, connKey{}, tc)
	}
	return ctx
}

func connFrom(ctx context.Context) *conn {
	c, _ := ctx.Value(connKey{}).(*conn)
	return c
}

// connState emits an event for a connection that closes after sending bytes
// that never made a complete request: junk, a request net/http rejected, or
// a partial request that timed out.
func (s *Server) connState(nc net.Conn, state http.ConnState) {
	if state != http.StateClosed {
		return
	}
	c, ok := nc.(*conn)
	if !ok {
		return
	}

	c.mu.Lock()
	requests, size, rejected := c.requests, c.size, c.rejected
	preview := c.preview
	sum := hex.EncodeToString(c.hash.Sum(nil))
	c.mu.Unlock()
	if requests > 0 || size == 0 {
		return
	}

	reason := "incomplete request"
	if rejected != 0 {
		reason = "malformed request"
	}
	payload, _ := escape(preview, services.MaxFieldBytes)
	fields := map[string]string{
		services.FieldError:         reason,
		"payload":                   payload,
		"payload_size":              strconv.FormatInt(size, 10),
		services.FieldPayloadSHA256: sum,
	}
	if size > maxRawHashBytes {
		fields["payload_sha256_bytes"] = strconv.Itoa(maxRawHashBytes)
	}
	if rejected != 0 {
		fields[services.FieldStatus] = strconv.Itoa(rejected)
	}
	ev := s.event(services.KindError, c.RemoteAddr(), c.LocalAddr(), c.session)
	ev.Fields = fields
	s.cfg.Sink.Emit(ev)
}

// rejection renders the full response the persona's server sends when it
// cannot parse a request. goStatus is the status net/http chose: 431 for
// oversized headers, 501 for an unknown transfer coding, 400 otherwise.
func (s *Server) rejection(goStatus int) []byte {
	p := s.profile
	status := http.StatusBadRequest
	if goStatus == http.StatusNotImplemented {
		status = http.StatusNotImplemented
	}

	contentType, body := p.errorPage(status, "")
	server := p.server
	switch {
	case p.kind == kindNginx && goStatus == http.StatusRequestHeaderFieldsTooLarge:
		body = nginxErrorPage(status, "Request Header Or Cookie Too Large", p.server)
	case p.kind == kindApache && goStatus == http.StatusRequestHeaderFieldsTooLarge:
		body = apacheErrorPage(status, "")
		body = string(bytes.Replace([]byte(body), []byte("Your browser sent a request that this server could not understand.<br />\n"),
			[]byte("Your browser sent a request that this server could not understand.<br />\nSize of a request header field exceeds server limit.<br />\n"), 1))
	case p.kind == kindIIS:
		// HTTP.sys rejects the request before IIS sees it.
		server = "Microsoft-HTTPAPI/2.0"
		contentType = "text/html; charset=us-ascii"
		detail := "Bad Request - Invalid Header</h2>\n<hr><p>HTTP Error 400. The request has an invalid header name."
		if goStatus == http.StatusRequestHeaderFieldsTooLarge {
			detail = "Bad Request - Header Field Too Long</h2>\n<hr><p>HTTP Error 400. A request header field is too long."
		}
		body = "<!DOCTYPE HTML PUBLIC \"-//W3C//DTD HTML 4.01//EN\"\"http://www.w3.org/TR/html4/strict.dtd\">\r\n" +
			"<HTML><HEAD><TITLE>Bad Request</TITLE>\r\n<META HTTP-EQUIV=\"Content-Type\" Content=\"text/html; charset=us-ascii\"></HEAD>\r\n" +
			"<BODY><h2>" + detail + "</p>\r\n</BODY></HTML>\r\n"
	}

	var b bytes.Buffer
	b.WriteString("HTTP/1.1 " + strconv.Itoa(status) + " " + http.StatusText(status) + "\r\n")
	b.WriteString("Server: " + server + "\r\n")
	b.WriteString("Date: " + s.cfg.Now().UTC().Format(http.TimeFormat) + "\r\n")
	b.WriteString("Content-Type: " + contentType + "\r\n")
	b.WriteString("Content-Length: " + strconv.Itoa(len(body)) + "\r\n")
	b.WriteString("Connection: close\r\n\r\n")
	b.WriteString(body)
	return b.Bytes()
}
