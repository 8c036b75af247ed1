package api

import (
	"context"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/decnet/decnet/internal/bus"
	"github.com/decnet/decnet/internal/workers"
)

// HealthStatus is the body of /healthz and /readyz.
type HealthStatus struct {
	Status string            `json:"status"`
	Checks map[string]string `json:"checks,omitempty"`
}

// readyTimeout bounds each readiness check.
const readyTimeout = 2 * time.Second

// builtinGroups are the route groups every Server has.
func (s *Server) builtinGroups() []RouteGroup {
	return []RouteGroup{
		s.systemGroup(),
		s.authGroup(),
		s.usersGroup(),
		s.deckiesGroup(),
		s.attackersGroup(),
		s.logsGroup(),
		s.credentialsGroup(),
		s.workersGroup(),
		s.eventsGroup(),
		s.webhooksGroup(),
	}
}

func (s *Server) systemGroup() RouteGroup {
	metricsHandler := promhttp.HandlerFor(s.registry, promhttp.HandlerOpts{})
	return RouteGroup{Name: "system", Routes: []Route{
		{
			Method: "GET", Path: "/healthz", Role: Public,
			Summary: "Liveness: the process serves HTTP.", Response: HealthStatus{},
			Handle: func(*Call) (any, error) { return HealthStatus{Status: "ok"}, nil },
		},
		{
			Method: "GET", Path: "/readyz", Role: Public,
			Summary:  "Readiness: the database and the bus answer. 503 names the failing check.",
			Response: HealthStatus{}, Errors: []int{http.StatusServiceUnavailable},
			Handle: s.handleReady,
		},
		{
			Method: "GET", Path: "/metrics", Role: Public,
			Summary: "Prometheus metrics in the text exposition format.",
			Handle: func(c *Call) (any, error) {
				metricsHandler.ServeHTTP(c.W, c.R)
				return nil, nil
			},
		},
		{
			Method: "GET", Path: "/api/v1/openapi.json", Role: Public,
			Summary: "This API's OpenAPI 3.1 document, generated from the route table.",
			Handle: func(c *Call) (any, error) {
				doc, err := s.OpenAPI()
				if err != nil {
					return nil, err
				}
				c.W.Header().Set("Content-Type", "application/json")
				_, _ = c.W.Write(doc)
				return nil, nil
			},
		},
	}}
}

func (s *Server) handleReady(c *Call) (any, error) {
	checks := map[string]string{}
	ok := true

	ctx, cancel := context.WithTimeout(c.R.Context(), readyTimeout)
	defer cancel()
	if err := s.deps.Store.Ping(ctx); err != nil {
		checks["database"] = "unreachable"
		s.log.Warn("readiness: database check failed", "err", err)
		ok = false
	} else {
		checks["database"] = "ok"
	}

	switch {
	case s.deps.Bus == nil:
		checks["bus"] = "not configured"
		ok = false
	default:
		if _, err := lastSeq(ctx, s.deps.Bus, bus.BusStream); err != nil {
			checks["bus"] = "unreachable"
			s.log.Warn("readiness: bus check failed", "err", err)
			ok = false
		} else {
			checks["bus"] = "ok"
		}
	}

	if !ok {
		c.W.Header().Set("Retry-After", "5")
		writeJSON(c.W, http.StatusServiceUnavailable, HealthStatus{Status: "unavailable", Checks: checks})
		return nil, nil
	}
	return HealthStatus{Status: "ok", Checks: checks}, nil
}

func (s *Server) workersGroup() RouteGroup {
	return RouteGroup{Name: "workers", Routes: []Route{{
		Method: "GET", Path: "/api/v1/workers", Role: Viewer,
		Summary:  "Workers with their last heartbeat on system.<name>.health: ok under 90 s, stale after, unknown when never heard.",
		Response: []WorkerStatus{},
		Handle: func(c *Call) (any, error) {
			if s.deps.Workers != nil {
				return s.deps.Workers.ListWorkers(), nil
			}
			return s.tracker.ListWorkers(), nil
		},
	}, {
		Method: "POST", Path: "/api/v1/workers/{name}/stop", Role: Admin,
		Summary: "Ask a worker to stop: publishes {\"action\":\"stop\"} on system.<name>.control. Every " +
			"process running the worker stops it; under `decnet up` the rest keeps running.",
		Response: WorkerControlResponse{}, Status: http.StatusAccepted,
		Errors: []int{http.StatusNotFound, http.StatusServiceUnavailable},
		Handle: s.handleWorkerStop,
	}}}
}

// WorkerControlResponse acknowledges a control request.
type WorkerControlResponse struct {
	Accepted bool   `json:"accepted"`
	Worker   string `json:"worker"`
	Action   string `json:"action"`
}

func (s *Server) handleWorkerStop(c *Call) (any, error) {
	name := c.PathValue("name")
	if !slices.Contains(KnownWorkers, name) {
		return nil, Errorf(http.StatusNotFound, "worker %q not found: known workers are %s", clip(name), strings.Join(KnownWorkers, ", "))
	}
	pub, ok := s.deps.Bus.(workers.Bus)
	if s.deps.Bus == nil || !ok {
		return nil, Errorf(http.StatusServiceUnavailable, "the bus is not connected: set DECNET_BUS_URL")
	}
	if err := workers.SendControl(c.R.Context(), pub, name, workers.ActionStop, "api:"+c.User.Username); err != nil {
		return nil, Errorf(http.StatusServiceUnavailable, "publish the stop request: %v", err)
	}
	return WorkerControlResponse{Accepted: true, Worker: name, Action: workers.ActionStop}, nil
}
