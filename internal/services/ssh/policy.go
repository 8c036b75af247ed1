package ssh

import (
	"slices"

	gossh "golang.org/x/crypto/ssh"
)

// Auth methods an Attempt may carry.
const (
	MethodPassword            = "password"
	MethodKeyboardInteractive = "keyboard-interactive"
	MethodPublicKey           = "publickey"
)

// Attempt is one login attempt a Policy decides on.
type Attempt struct {
	User     string // as sent, may hold any bytes
	Method   string
	Password []byte          // password and keyboard-interactive
	Key      gossh.PublicKey // publickey
	// N counts the attempts on this connection, from 1.
	N int
	// SourceN counts the password attempts from the same source address
	// across connections, from 1, as far as the server remembers them.
	SourceN  int
	RemoteIP string
}

// Policy decides which logins succeed. A decky's policy stays fixed while
// its server runs; Allow may be called from many goroutines at once.
type Policy interface {
	Allow(a Attempt) bool
}

// PolicyFunc adapts a function to Policy.
type PolicyFunc func(Attempt) bool

// Allow calls f(a).
func (f PolicyFunc) Allow(a Attempt) bool { return f(a) }

// RejectAll is a Policy under which no login succeeds.
var RejectAll Policy = PolicyFunc(func(Attempt) bool { return false })

// DefaultWeakPasswords are passwords brute-force lists try first; a decky
// accepting them looks like a neglected host.
var DefaultWeakPasswords = []string{
	"123456", "password", "admin", "root", "toor", "12345678", "qwerty",
	"1234", "12345", "123456789", "changeme", "P@ssw0rd", "raspberry", "ubuntu",
}

// WeakPasswords accepts a password login when the password is in the list
// for that user or in the list under "*", which applies to every user.
// Public keys are never accepted.
type WeakPasswords map[string][]string

// Allow implements Policy.
func (w WeakPasswords) Allow(a Attempt) bool {
	if a.Method == MethodPublicKey {
		return false
	}
	pw := string(a.Password)
	return slices.Contains(w[a.User], pw) || slices.Contains(w["*"], pw)
}

// NthAttempt accepts the Nth password attempt, whatever its credentials,
// as some honeypots do to let a brute-forcer in after a few tries. With
// PerSource the count runs across connections from the same address.
type NthAttempt struct {
	N         int
	PerSource bool
}

// Allow implements Policy.
func (p NthAttempt) Allow(a Attempt) bool {
	if a.Method == MethodPublicKey || p.N <= 0 {
		return false
	}
	if p.PerSource {
		return a.SourceN >= p.N
	}
	return a.N >= p.N
}

// AnyOf accepts a login that any of the policies accepts.
func AnyOf(policies ...Policy) Policy {
	return PolicyFunc(func(a Attempt) bool {
		for _, p := range policies {
			if p.Allow(a) {
				return true
			}
		}
		return false
	})
}
