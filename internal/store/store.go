// Package store defines decnet's domain records and the errors its storage
// backends return. The database/sql implementation is in store/sqlstore;
// consumers declare the small interfaces they need over it.
package store

import (
	"errors"
	"time"

	"github.com/decnet/decnet/internal/decky"
)

// ErrNotFound reports that a requested record does not exist.
var ErrNotFound = errors.New("store: not found")

// ErrConflict reports that a write collides with an existing record.
var ErrConflict = errors.New("store: conflict")

// Fleet decky states as stored in fleet_deckies.state.
const (
	DeckyPending       = "pending"
	DeckyRunning       = "running"
	DeckyFailed        = "failed"
	DeckyDegraded      = "degraded"
	DeckyTornDown      = "torn_down"
	DeckyTearingDown   = "tearing_down"
	DeckyTeardownFaild = "teardown_failed"
)

// FleetDecky is one row of fleet_deckies: the recorded desired and observed
// state of a decky on one host. Generation grows with every deploy that
// touches the row, so a reconciler can tell a deploy in progress from drift.
type FleetDecky struct {
	HostID     string      `json:"host_id"`
	Name       string      `json:"name"`
	IP         string      `json:"ip"`
	Driver     string      `json:"driver"`
	Decky      decky.Decky `json:"decky"`
	State      string      `json:"state"`
	LastError  string      `json:"last_error,omitempty"`
	Generation int64       `json:"generation"`
	LastSeen   *time.Time  `json:"last_seen,omitempty"`
	UpdatedAt  time.Time   `json:"updated_at"`
}

// LogEntry is one stored service event.
type LogEntry struct {
	ID        int64             `json:"id"`
	EventID   string            `json:"event_id"`
	Time      time.Time         `json:"time"`
	Decky     string            `json:"decky"`
	Service   string            `json:"service"`
	Kind      string            `json:"kind"`
	SrcIP     string            `json:"src_ip"`
	SrcPort   int               `json:"src_port"`
	Session   string            `json:"session,omitempty"`
	Fields    map[string]string `json:"fields,omitempty"`
	CreatedAt time.Time         `json:"created_at"`
}

// Fingerprint kinds stored in Attacker.Fingerprints.
const (
	FPHASSH            = "hassh"
	FPHASSHAlgorithms  = "hassh_algorithms"
	FPSSHClientVersion = "ssh_client_version"
	FPJA3              = "ja3"
	FPUserAgent        = "http_user_agent"
)

// Attacker is the observation of one source address: what it touched, what it
// ran and how its tools looked. Fingerprints maps a kind (FPHASSH, ...) to the
// newest value seen; FingerprintHistory keeps every distinct value per kind in
// order of first sight. Identity clustering reads these columns directly.
type Attacker struct {
	UUID               string              `json:"uuid"`
	IP                 string              `json:"ip"`
	FirstSeen          time.Time           `json:"first_seen"`
	LastSeen           time.Time           `json:"last_seen"`
	Deckies            []string            `json:"deckies"`
	Services           []string            `json:"services"`
	EventCount         int64               `json:"event_count"`
	Commands           []string            `json:"commands"`
	Fingerprints       map[string]string   `json:"fingerprints"`
	FingerprintHistory map[string][]string `json:"fingerprint_history,omitempty"`
	PayloadHashes      []string            `json:"payload_hashes"`
	C2Endpoints        []string            `json:"c2_endpoints"`
	ASN                *int64              `json:"asn,omitempty"`
	IdentityID         *string             `json:"identity_id,omitempty"`
	UpdatedAt          time.Time           `json:"updated_at"`

	// Touched lists (decky, service) pairs added since the row was loaded;
	// the store writes them to its lookup table and clears the list.
	Touched [][2]string `json:"-"`
}

// Credential is one distinct secret tried by one source against one service
// of one decky, with how often and when.
type Credential struct {
	ID              int64     `json:"id"`
	AttackerIP      string    `json:"attacker_ip"`
	AttackerUUID    string    `json:"attacker_uuid,omitempty"`
	Decky           string    `json:"decky"`
	Service         string    `json:"service"`
	Principal       string    `json:"principal"`
	SecretKind      string    `json:"secret_kind"`
	SecretSHA256    string    `json:"secret_sha256"`
	SecretB64       string    `json:"secret_b64"`
	SecretPrintable string    `json:"secret_printable"`
	Outcome         string    `json:"outcome"`
	FirstSeen       time.Time `json:"first_seen"`
	LastSeen        time.Time `json:"last_seen"`
	AttemptCount    int64     `json:"attempt_count"`
}

// User roles.
const (
	RoleAdmin  = "admin"
	RoleViewer = "viewer"
)

// User is an operator account of the API.
type User struct {
	UUID               string     `json:"uuid"`
	Username           string     `json:"username"`
	PasswordHash       string     `json:"-"`
	Role               string     `json:"role"`
	Disabled           bool       `json:"disabled"`
	MustChangePassword bool       `json:"must_change_password"`
	TokensValidFrom    *time.Time `json:"-"`
	CreatedAt          time.Time  `json:"created_at"`
	UpdatedAt          time.Time  `json:"updated_at"`
}

// Page selects a window of a listing. Limit 0 means the backend default.
type Page struct {
	Limit  int
	Offset int
}

// AttackerFilter narrows attacker listings. Zero values do not filter.
type AttackerFilter struct {
	IP      string
	Decky   string
	Service string
	Since   time.Time
	Until   time.Time
}

// LogFilter narrows log listings. Zero values do not filter. AfterID returns
// only entries with a larger id, for following new entries.
type LogFilter struct {
	Decky   string
	Service string
	Kind    string
	SrcIP   string
	Session string
	Since   time.Time
	Until   time.Time
	AfterID int64
}

// CredentialFilter narrows credential listings.
type CredentialFilter struct {
	AttackerIP string
	Decky      string
	Service    string
}
