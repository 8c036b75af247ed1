package api

import (
	"context"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/decnet/decnet/internal/bus"
	"github.com/decnet/decnet/internal/store"
)

// Store is the subset of *sqlstore.Store the API reads and writes.
type Store interface {
	Ping(ctx context.Context) error

	ListUsers(ctx context.Context, page store.Page) ([]store.User, int, error)
	GetUser(ctx context.Context, id string) (store.User, error)
	CreateUser(ctx context.Context, u store.User) (store.User, error)
	SetUserRole(ctx context.Context, id, role string) error
	SetUserDisabled(ctx context.Context, id string, disabled bool) error
	SetUserPassword(ctx context.Context, id, hash string, mustChange bool) error
	DeleteUser(ctx context.Context, id string) error

	ListFleetDeckies(ctx context.Context, hostID string) ([]store.FleetDecky, error)

	ListAttackers(ctx context.Context, f store.AttackerFilter, p store.Page) ([]store.Attacker, int, error)
	GetAttacker(ctx context.Context, uuidOrIP string) (store.Attacker, error)
	CountAttackers(ctx context.Context) (int, error)

	ListLogs(ctx context.Context, f store.LogFilter, p store.Page) ([]store.LogEntry, int, error)
	CountLogs(ctx context.Context) (int, error)

	ListCredentials(ctx context.Context, f store.CredentialFilter, p store.Page) ([]store.Credential, int, error)
}

// Bus is the subset of *bus.Bus the API uses: stream replay for the live
// event streams, stream positions for resume points, and heartbeats.
type Bus interface {
	Replay(ctx context.Context, filter string, afterSeq uint64, lastN int) (<-chan bus.Msg, error)
	Subscribe(subject string, handler func(bus.Msg)) (*bus.Subscription, error)
	PublishSafely(ctx context.Context, subject, typ string, payload any)
	JetStream() jetstream.JetStream
}

// DeployRequest is a request to the fleet deployer for new deckies.
type DeployRequest struct {
	Count             int      `json:"count" validate:"required,min=1,max=250"`
	Archetype         string   `json:"archetype,omitempty" validate:"max=64"`
	Services          []string `json:"services,omitempty" validate:"max=32"`
	Distros           []string `json:"distros,omitempty" validate:"max=32"`
	RandomizeServices bool     `json:"randomize_services,omitempty"`
}

// DeployResult names the deckies a deploy created.
type DeployResult struct {
	Deckies []string `json:"deckies"`
}

// FleetDeployer deploys and tears down deckies. It returns store.ErrConflict
// for a request that collides with the fleet, store.ErrNotFound for an
// unknown decky, and InvalidRequest(err) for options it rejects.
type FleetDeployer interface {
	Deploy(ctx context.Context, req DeployRequest) (DeployResult, error)
	Teardown(ctx context.Context, name string) error
}

// WorkerStatus is the health of one worker in /api/v1/workers.
type WorkerStatus struct {
	Name          string         `json:"name"`
	Status        string         `json:"status" validate:"enum=ok|stale|unknown"`
	LastHeartbeat *time.Time     `json:"last_heartbeat,omitempty"`
	Extra         map[string]any `json:"extra,omitempty"`
}

// WorkerLister reports worker health. When Deps.Workers is nil the API
// tracks system.<name>.health heartbeats itself.
type WorkerLister interface {
	ListWorkers() []WorkerStatus
}
