package auth

import (
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"sync"
	"time"
)

// TicketTTL is how long a stream ticket can be redeemed.
const TicketTTL = 60 * time.Second

// maxTickets bounds the outstanding tickets of one process.
const maxTickets = 10_000

// Tickets issues single-use stream tickets. A browser's EventSource cannot
// send an Authorization header, and a JWT in a query string would be written
// to access logs, so the page trades its token for a ticket that is useless
// once redeemed or after TicketTTL. Tickets live in process memory.
type Tickets struct {
	now func() time.Time

	mu      sync.Mutex // mu protects tickets
	tickets map[string]ticket
}

type ticket struct {
	userUUID string
	expires  time.Time
}

// NewTickets returns an empty ticket table. now is the clock; nil means
// time.Now.
func NewTickets(now func() time.Time) *Tickets {
	if now == nil {
		now = time.Now
	}
	return &Tickets{now: now, tickets: map[string]ticket{}}
}

// Issue returns a new ticket bound to the user uuid.
func (t *Tickets) Issue(userUUID string) (string, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("auth: ticket: %w", err)
	}
	id := base64.RawURLEncoding.EncodeToString(b)

	t.mu.Lock()
	defer t.mu.Unlock()

	now := t.now()
	if len(t.tickets) >= maxTickets {
		t.sweep(now)
	}
	if len(t.tickets) >= maxTickets {
		return "", fmt.Errorf("auth: %d stream tickets outstanding, try again in a minute", len(t.tickets))
	}
	t.tickets[id] = ticket{userUUID: userUUID, expires: now.Add(TicketTTL)}
	return id, nil
}

// Redeem consumes a ticket and returns its user uuid. A ticket works once;
// an unknown or expired ticket returns ErrUnauthenticated.
func (t *Tickets) Redeem(id string) (string, error) {
	t.mu.Lock()
	defer t.mu.Unlock()

	tk, ok := t.tickets[id]
	if !ok {
		return "", fmt.Errorf("%w: unknown or used stream ticket", ErrUnauthenticated)
	}
	delete(t.tickets, id)
	if !t.now().Before(tk.expires) {
		return "", fmt.Errorf("%w: expired stream ticket", ErrUnauthenticated)
	}
	return tk.userUUID, nil
}

// sweep drops expired tickets. Callers hold mu.
func (t *Tickets) sweep(now time.Time) {
	for id, tk := range t.tickets {
		if !now.Before(tk.expires) {
			delete(t.tickets, id)
		}
	}
}
