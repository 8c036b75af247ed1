package api

import (
	"context"
	"errors"

	"github.com/decnet/decnet/internal/bus"
	"github.com/decnet/decnet/internal/store"
	"github.com/decnet/decnet/internal/store/sqlstore"
)

// IdentityStore is the part of *sqlstore.Store the identity routes read.
type IdentityStore interface {
	ListIdentities(ctx context.Context, p store.Page) ([]sqlstore.Identity, int, error)
	GetIdentity(ctx context.Context, uuid string) (sqlstore.Identity, error)
	ListObservationsForIdentity(ctx context.Context, uuid string, p store.Page) ([]store.Attacker, int, error)
	GetCampaign(ctx context.Context, uuid string) (sqlstore.Campaign, error)
}

var _ IdentityStore = (*sqlstore.Store)(nil)

// IdentityDetail is one identity, resolved through merges, with the
// campaign it belongs to, itself resolved through campaign merges.
type IdentityDetail struct {
	sqlstore.Identity
	Campaign *sqlstore.Campaign `json:"campaign"`
}

// IdentitiesSnapshot is the first event of /api/v1/identities/events.
type IdentitiesSnapshot struct {
	Identities []sqlstore.Identity `json:"identities"`
}

// IdentityEvent is the data of one live event on /api/v1/identities/events.
type IdentityEvent = ClusterEvent

// IdentitiesGroup returns the identity routes over st. The static events
// route is more specific than {uuid}, so ServeMux never shadows it.
func (s *Server) IdentitiesGroup(st IdentityStore) RouteGroup {
	return RouteGroup{Name: "identities", Routes: []Route{
		{
			Method: "GET", Path: "/api/v1/identities", Role: Viewer,
			Summary:  "Active attacker identities (not merged into another), most recently updated first.",
			Query:    pageParams,
			Response: Page[sqlstore.Identity]{},
			Handle: func(c *Call) (any, error) {
				items, total, err := st.ListIdentities(c.R.Context(), c.Page())
				if err != nil {
					return nil, err
				}
				return newPage(items, total, c.Page()), nil
			},
		},
		{
			Method: "GET", Path: "/api/v1/identities/events", Role: Viewer, Stream: true,
			Summary: "Live identity events (server-sent events). Authenticate with a bearer header or ?ticket=. " +
				"The first event is a snapshot of the newest 50 identities; then formed, merged, unmerged, " +
				"observation.linked and campaign.assigned events follow, each with an id to resume from through Last-Event-ID.",
			Query:    []Param{{Name: "ticket", Type: ParamString, Max: 128, Description: "Single-use stream ticket, for clients that cannot send headers."}},
			Response: IdentityEvent{},
			Handle: func(c *Call) (any, error) {
				return s.serveStream(c, liveStream{
					sources: []streamSource{{stream: bus.BusStream, filter: bus.FilterAllIdentity}},
					snapshot: func(ctx context.Context) (any, error) {
						list, _, err := st.ListIdentities(ctx, store.Page{Limit: DefaultSnapshotSize})
						return IdentitiesSnapshot{Identities: list}, err
					},
					convert: convertClusterEvent,
				})
			},
		},
		{
			Method: "GET", Path: "/api/v1/identities/{uuid}", Role: Viewer,
			Summary:  "One identity with its campaign; a merged identity's uuid returns the identity it was merged into.",
			Response: IdentityDetail{},
			Errors:   []int{404},
			Handle: func(c *Call) (any, error) {
				ctx := c.R.Context()
				id, err := st.GetIdentity(ctx, c.PathValue("uuid"))
				if err != nil {
					return nil, err
				}
				detail := IdentityDetail{Identity: id}
				if id.CampaignID != nil {
					camp, err := st.GetCampaign(ctx, *id.CampaignID)
					switch {
					case err == nil:
						detail.Campaign = &camp
					case !errors.Is(err, store.ErrNotFound):
						return nil, err
					}
				}
				return detail, nil
			},
		},
		{
			Method: "GET", Path: "/api/v1/identities/{uuid}/observations", Role: Viewer,
			Summary:  "Attacker rows of an identity, including those of identities merged into it, most recent activity first.",
			Query:    pageParams,
			Response: Page[store.Attacker]{},
			Errors:   []int{404},
			Handle: func(c *Call) (any, error) {
				items, total, err := st.ListObservationsForIdentity(c.R.Context(), c.PathValue("uuid"), c.Page())
				if err != nil {
					return nil, err
				}
				return newPage(items, total, c.Page()), nil
			},
		},
	}}
}
