package api

import (
	"context"
	"database/sql"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/decnet/decnet/internal/auth"
	"github.com/decnet/decnet/internal/store"
	"github.com/decnet/decnet/internal/store/sqlstore"
)

// seedAttackers inserts n attacker rows spread over 20 deckies and 5
// services, one per second of activity, in one transaction.
func seedAttackers(tb testing.TB, db *sql.DB, n int) {
	tb.Helper()
	tx, err := db.Begin()
	if err != nil {
		tb.Fatalf("begin: %v", err)
	}
	a, _ := tx.Prepare(`INSERT INTO attackers (uuid, ip, first_seen, last_seen, deckies, services, event_count, updated_at)
		VALUES (?, ?, ?, ?, ?, ?, 1, ?)`)
	d, _ := tx.Prepare(`INSERT INTO attacker_deckies (attacker_uuid, decky, service) VALUES (?, ?, ?)`)
	base := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	services := []string{"ssh", "http", "smb", "ftp", "telnet"}
	for i := 0; i < n; i++ {
		id := fmt.Sprintf("00000000-0000-4000-8000-%012d", i)
		ip := fmt.Sprintf("10.%d.%d.%d", i>>16&255, i>>8&255, i&255)
		ts := sqlstore.FormatTime(base.Add(time.Duration(i) * time.Second))
		decky := fmt.Sprintf("decky-%02d", i%20)
		svc := services[i%len(services)]
		if _, err := a.Exec(id, ip, ts, ts, `["`+decky+`"]`, `["`+svc+`"]`, ts); err != nil {
			tb.Fatalf("insert attacker: %v", err)
		}
		if _, err := d.Exec(id, decky, svc); err != nil {
			tb.Fatalf("insert attacker_deckies: %v", err)
		}
	}
	if err := tx.Commit(); err != nil {
		tb.Fatalf("commit: %v", err)
	}
}

// queryPlan returns the EXPLAIN QUERY PLAN detail lines of q.
func queryPlan(tb testing.TB, db *sql.DB, q string, args ...any) string {
	tb.Helper()
	rows, err := db.Query("EXPLAIN QUERY PLAN "+q, args...)
	if err != nil {
		tb.Fatalf("explain %s: %v", q, err)
	}
	defer rows.Close()
	var lines []string
	for rows.Next() {
		var id, parent, notUsed int
		var detail string
		if err := rows.Scan(&id, &parent, &notUsed, &detail); err != nil {
			tb.Fatalf("scan plan: %v", err)
		}
		lines = append(lines, detail)
	}
	return strings.Join(lines, "; ")
}

// TestAttackerListQueryPlans checks that the attacker listing's query
// shapes, copied from ListAttackers, walk indexes: the newest page reads
// attackers_last_seen in order, ip and since filters search an index, and
// the decky filter probes attacker_deckies per row instead of scanning it.
func TestAttackerListQueryPlans(t *testing.T) {
	st, err := sqlstore.Open(context.Background(), filepath.Join(t.TempDir(), "decnet.db"), sqlstore.Options{})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	defer st.Close()
	seedAttackers(t, st.DB(), 2000)
	if _, err := st.DB().Exec(`ANALYZE`); err != nil {
		t.Fatalf("analyze: %v", err)
	}

	const cols = `a.uuid, a.ip, a.last_seen`
	exists := `EXISTS (SELECT 1 FROM attacker_deckies d WHERE d.attacker_uuid = a.uuid AND d.decky = ?)`
	tests := []struct {
		name string
		q    string
		args []any
		want string
	}{
		{"newest page", `SELECT ` + cols + ` FROM attackers a ORDER BY a.last_seen DESC, a.uuid LIMIT 50 OFFSET 0`, nil, "USING INDEX attackers_last_seen_uuid"},
		{"by ip", `SELECT ` + cols + ` FROM attackers a WHERE a.ip = ? ORDER BY a.last_seen DESC, a.uuid LIMIT 50`, []any{"10.0.0.1"}, "USING INDEX sqlite_autoindex_attackers_2"},
		{"since", `SELECT ` + cols + ` FROM attackers a WHERE a.last_seen >= ? ORDER BY a.last_seen DESC, a.uuid LIMIT 50`, []any{"2025-01-01T00:10:00.000000000Z"}, "attackers_last_seen"},
		{"decky subquery", `SELECT ` + cols + ` FROM attackers a WHERE ` + exists + ` ORDER BY a.last_seen DESC LIMIT 50`, []any{"decky-03"}, "attacker_deckies"},
		{"count by decky", `SELECT COUNT(*) FROM attackers a WHERE ` + exists, []any{"decky-03"}, "attacker_deckies"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			plan := queryPlan(t, st.DB(), tt.q, tt.args...)
			t.Logf("plan: %s", plan)
			if !strings.Contains(plan, tt.want) {
				t.Errorf("plan %q does not use %s", plan, tt.want)
			}
			if strings.Contains(plan, "SCAN attacker_deckies") || strings.Contains(plan, "SCAN d ") {
				t.Errorf("plan %q scans attacker_deckies", plan)
			}
		})
	}
}

// BenchmarkAttackerList measures GET /api/v1/attackers through the whole
// handler (authentication, validation, store, JSON) with 100,000 attackers.
func BenchmarkAttackerList(b *testing.B) {
	ctx := context.Background()
	st, err := sqlstore.Open(ctx, filepath.Join(b.TempDir(), "decnet.db"), sqlstore.Options{})
	if err != nil {
		b.Fatalf("Open: %v", err)
	}
	defer st.Close()
	seedAttackers(b, st.DB(), 100_000)
	st.DB().Exec(`ANALYZE`)

	svc, _ := auth.NewService(st, auth.Options{Secret: testSecret, BcryptCost: bcrypt.MinCost})
	hash, _ := auth.HashPassword(viewerPassword, bcrypt.MinCost)
	u, _ := st.CreateUser(ctx, store.User{Username: "viewer", PasswordHash: hash, Role: store.RoleViewer})
	token, _, _ := svc.Tokens().Issue(u.UUID)
	srv, err := New(Config{}, Deps{Store: st, Auth: svc})
	if err != nil {
		b.Fatalf("New: %v", err)
	}
	h := srv.Handler()

	cases := []struct{ name, query string }{
		{"newest", "limit=50"},
		{"deep offset", "limit=50&offset=90000"},
		{"by ip", "ip=10.1.2.3"},
		{"by decky", "decky=decky-07&limit=50"},
		{"by service since", "service=ssh&since=2025-01-02T00:00:00Z&limit=50"},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			for b.Loop() {
				req := httptest.NewRequest("GET", "/api/v1/attackers?"+c.query, nil)
				req.Header.Set("Authorization", "Bearer "+token)
				rec := httptest.NewRecorder()
				h.ServeHTTP(rec, req)
				if rec.Code != http.StatusOK {
					b.Fatalf("status %d: %s", rec.Code, rec.Body)
				}
			}
		})
	}
}
