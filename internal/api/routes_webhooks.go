package api

import (
	"context"
	"errors"
	"net/http"

	"github.com/decnet/decnet/internal/store"
	"github.com/decnet/decnet/internal/webhook"
)

// WebhookAdmin manages SIEM egress targets; *webhook.Admin implements it.
type WebhookAdmin interface {
	ListTargets(ctx context.Context) ([]webhook.TargetInfo, error)
	CreateTarget(ctx context.Context, t webhook.Target) (webhook.TargetInfo, error)
	DeleteTarget(ctx context.Context, name string) error
	ListDeadLetters(ctx context.Context, target string, p store.Page) ([]webhook.DeadLetter, int, error)
	TestTarget(ctx context.Context, name string) (webhook.TestResult, error)
}

var _ WebhookAdmin = (*webhook.Admin)(nil)

func (s *Server) webhooksGroup() RouteGroup {
	unavailable := []int{http.StatusServiceUnavailable}
	return RouteGroup{Name: "webhooks", Routes: []Route{
		{
			Method: "GET", Path: "/api/v1/webhooks", Role: Admin,
			Summary:  "Egress targets from the config file and the API, secrets hidden, with delivery counters.",
			Response: []webhook.TargetInfo{}, Errors: unavailable,
			Handle: s.withWebhooks(func(c *Call, wa WebhookAdmin) (any, error) {
				return wa.ListTargets(c.R.Context())
			}),
		},
		{
			Method: "POST", Path: "/api/v1/webhooks", Role: Admin,
			Summary: "Add an egress target: an HTTP webhook (generic JSON or Slack) or a syslog destination (udp, tcp, tls). " +
				"Link-local and cloud metadata addresses are rejected unless DECNET_WEBHOOK_ALLOW_PRIVATE is true.",
			Body: webhook.Target{}, Response: webhook.TargetInfo{}, Status: http.StatusCreated,
			Errors: []int{http.StatusConflict, http.StatusServiceUnavailable},
			Handle: s.withWebhooks(func(c *Call, wa WebhookAdmin) (any, error) {
				t := c.Body.(*webhook.Target)
				info, err := wa.CreateTarget(c.R.Context(), *t)
				if errors.Is(err, webhook.ErrInvalidTarget) {
					return nil, InvalidRequest(err)
				}
				if err == nil {
					s.log.Info("webhook target created", "target", t.Name, "kind", t.Kind, "by", c.User.Username)
				}
				return info, err
			}),
		},
		{
			Method: "DELETE", Path: "/api/v1/webhooks/{name}", Role: Admin,
			Summary: "Remove an API-created target. Targets from the config file answer 409.",
			Status:  http.StatusNoContent, Errors: []int{http.StatusConflict, http.StatusServiceUnavailable},
			Handle: s.withWebhooks(func(c *Call, wa WebhookAdmin) (any, error) {
				return nil, wa.DeleteTarget(c.R.Context(), c.PathValue("name"))
			}),
		},
		{
			Method: "POST", Path: "/api/v1/webhooks/{name}/test", Role: Admin,
			Summary:  "Send one test event to a target, without retries, and report the outcome.",
			Response: webhook.TestResult{}, Errors: unavailable,
			Handle: s.withWebhooks(func(c *Call, wa WebhookAdmin) (any, error) {
				return wa.TestTarget(c.R.Context(), c.PathValue("name"))
			}),
		},
		{
			Method: "GET", Path: "/api/v1/webhooks/dead-letters", Role: Admin,
			Summary: "Events that a target did not take after every attempt, newest first.",
			Query: joinParams(pageParams, []Param{
				{Name: "target", Type: ParamString, Max: 64, Description: "Only dead letters of this target."},
			}),
			Response: Page[webhook.DeadLetter]{}, Errors: unavailable,
			Handle: s.withWebhooks(func(c *Call, wa WebhookAdmin) (any, error) {
				items, total, err := wa.ListDeadLetters(c.R.Context(), c.QueryString("target"), c.Page())
				if err != nil {
					return nil, err
				}
				return newPage(items, total, c.Page()), nil
			}),
		},
	}}
}

func (s *Server) withWebhooks(fn func(*Call, WebhookAdmin) (any, error)) HandlerFunc {
	return func(c *Call) (any, error) {
		if s.deps.Webhooks == nil {
			return nil, Errorf(http.StatusServiceUnavailable, "webhook administration not available in this process")
		}
		return fn(c, s.deps.Webhooks)
	}
}
