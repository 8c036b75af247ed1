package ssh

import (
	"errors"
	"net"
	"sync"
)

// errSessionBytes is returned once a connection has moved more bytes than
// its cap allows.
var errSessionBytes = errors.New("ssh: session byte limit reached")

// meteredConn wraps an accepted connection. It hands the client's first
// bytes to a kexReader (so HASSH is computed from what the client really
// sent) and closes the connection once maxBytes have gone either way.
type meteredConn struct {
	net.Conn
	maxBytes int64
	onKex    func(r *kexReader)

	// mu protects the following.
	mu    sync.Mutex
	bytes int64
	kex   kexReader
	told  bool
}

func newMeteredConn(c net.Conn, maxBytes int64, onKex func(r *kexReader)) *meteredConn {
	return &meteredConn{Conn: c, maxBytes: maxBytes, onKex: onKex}
}

func (c *meteredConn) count(n int) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.bytes += int64(n)
	return c.maxBytes > 0 && c.bytes > c.maxBytes
}

// Read implements net.Conn.
func (c *meteredConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if n > 0 {
		c.mu.Lock()
		tell := false
		if !c.told && c.kex.feed(p[:n]) {
			c.told = true
			tell = true
		}
		c.mu.Unlock()
		if tell && c.onKex != nil {
			c.onKex(&c.kex)
		}
		if c.count(n) {
			c.Conn.Close()
			return n, errSessionBytes
		}
	}
	return n, err
}

// Write implements net.Conn.
func (c *meteredConn) Write(p []byte) (int, error) {
	n, err := c.Conn.Write(p)
	if c.count(n) {
		c.Conn.Close()
		if err == nil {
			err = errSessionBytes
		}
	}
	return n, err
}

// kexState returns what the reader has seen so far.
func (c *meteredConn) kexState() (version string, k *KexInit, err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.kex.version, c.kex.kex, c.kex.err
}
