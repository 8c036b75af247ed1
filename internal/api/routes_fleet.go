package api

import (
	"net/http"

	"github.com/decnet/decnet/internal/store"
)

func (s *Server) deckiesGroup() RouteGroup {
	return RouteGroup{Name: "deckies", Routes: []Route{
		{
			Method: "GET", Path: "/api/v1/deckies", Role: Viewer,
			Summary: "Deckies of every host, ordered by name.",
			Query:   pageParams, Response: Page[store.FleetDecky]{},
			Handle: func(c *Call) (any, error) {
				all, err := s.deps.Store.ListFleetDeckies(c.R.Context(), "")
				if err != nil {
					return nil, err
				}
				p := c.Page()
				return newPage(window(all, p), len(all), p), nil
			},
		},
		{
			Method: "GET", Path: "/api/v1/deckies/{name}", Role: Viewer,
			Summary:  "One decky by name; this host's row wins when several hosts run the name.",
			Response: store.FleetDecky{},
			Handle: func(c *Call) (any, error) {
				all, err := s.deps.Store.ListFleetDeckies(c.R.Context(), "")
				if err != nil {
					return nil, err
				}
				var found *store.FleetDecky
				for i := range all {
					if all[i].Name != c.PathValue("name") {
						continue
					}
					if found == nil || all[i].HostID == s.cfg.HostID {
						found = &all[i]
					}
				}
				if found == nil {
					return nil, Errorf(http.StatusNotFound, "decky %q not found", clip(c.PathValue("name")))
				}
				return found, nil
			},
		},
		{
			Method: "POST", Path: "/api/v1/deckies/deploy", Role: Admin,
			Summary: "Deploy new deckies. Answers 202 once the deployer accepted the request.",
			Body:    DeployRequest{}, Response: DeployResult{}, Status: http.StatusAccepted,
			Errors: []int{http.StatusConflict, http.StatusServiceUnavailable},
			Handle: func(c *Call) (any, error) {
				if s.deps.Fleet == nil {
					return nil, Errorf(http.StatusServiceUnavailable, "fleet deployer not available in this process")
				}
				req := c.Body.(*DeployRequest)
				res, err := s.deps.Fleet.Deploy(c.R.Context(), *req)
				if err != nil {
					return nil, err
				}
				s.log.Info("deploy requested", "count", req.Count, "deckies", res.Deckies, "by", c.User.Username)
				return res, nil
			},
		},
		{
			Method: "DELETE", Path: "/api/v1/deckies/{name}", Role: Admin,
			Summary: "Tear down one decky.", Status: http.StatusNoContent,
			Errors: []int{http.StatusConflict, http.StatusServiceUnavailable},
			Handle: func(c *Call) (any, error) {
				if s.deps.Fleet == nil {
					return nil, Errorf(http.StatusServiceUnavailable, "fleet deployer not available in this process")
				}
				if err := s.deps.Fleet.Teardown(c.R.Context(), c.PathValue("name")); err != nil {
					return nil, err
				}
				s.log.Info("teardown requested", "decky", c.PathValue("name"), "by", c.User.Username)
				return nil, nil
			},
		},
	}}
}

// window returns the items of one page of an in-memory list.
func window[T any](all []T, p store.Page) []T {
	if p.Offset >= len(all) {
		return []T{}
	}
	end := p.Offset + p.Limit
	if end > len(all) {
		end = len(all)
	}
	return all[p.Offset:end]
}
