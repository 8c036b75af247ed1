package api

import (
	"context"
	"strings"
	"time"

	"github.com/decnet/decnet/internal/bus"
	"github.com/decnet/decnet/internal/store"
	"github.com/decnet/decnet/internal/store/sqlstore"
)

// CampaignStore is the part of *sqlstore.Store the campaign routes read.
type CampaignStore interface {
	ListCampaigns(ctx context.Context, p store.Page) ([]sqlstore.Campaign, int, error)
	GetCampaign(ctx context.Context, uuid string) (sqlstore.Campaign, error)
	ListIdentitiesForCampaign(ctx context.Context, uuid string, p store.Page) ([]sqlstore.Identity, int, error)
}

var _ CampaignStore = (*sqlstore.Store)(nil)

// CampaignDetail is one campaign, resolved through merges, with the live
// number of its identities (those linked to it or to a campaign merged
// into it).
type CampaignDetail struct {
	sqlstore.Campaign
	IdentityCountLive int `json:"identity_count_live"`
}

// CampaignsSnapshot is the first event of /api/v1/campaigns/events.
type CampaignsSnapshot struct {
	Campaigns []sqlstore.Campaign `json:"campaigns"`
}

// ClusterEvent is the data of one live event on the identity and campaign
// streams. The event name is the subject without its first token (formed,
// merged, unmerged, observation.linked, identity.assigned, or
// campaign.assigned for identity.campaign.assigned).
type ClusterEvent struct {
	Subject string    `json:"subject"`
	Type    string    `json:"type"`
	ID      string    `json:"id"`
	TS      time.Time `json:"ts"`
	Seq     uint64    `json:"seq"`
	Payload any       `json:"payload"`
}

// CampaignEvent is the data of one live event on /api/v1/campaigns/events.
type CampaignEvent = ClusterEvent

// CampaignsGroup returns the campaign routes over st. Register it with
// Server.Register before serving.
func (s *Server) CampaignsGroup(st CampaignStore) RouteGroup {
	return RouteGroup{Name: "campaigns", Routes: []Route{
		{
			Method: "GET", Path: "/api/v1/campaigns", Role: Viewer,
			Summary:  "Active campaigns (not merged into another), most recently updated first.",
			Query:    pageParams,
			Response: Page[sqlstore.Campaign]{},
			Handle: func(c *Call) (any, error) {
				items, total, err := st.ListCampaigns(c.R.Context(), c.Page())
				if err != nil {
					return nil, err
				}
				return newPage(items, total, c.Page()), nil
			},
		},
		{
			Method: "GET", Path: "/api/v1/campaigns/events", Role: Viewer, Stream: true,
			Summary: "Live campaign events (server-sent events). Authenticate with a bearer header or ?ticket=. " +
				"The first event is a snapshot of the newest 50 campaigns; then formed, identity.assigned, merged, " +
				"unmerged and campaign.assigned events follow, each with an id to resume from through Last-Event-ID.",
			Query:    []Param{{Name: "ticket", Type: ParamString, Max: 128, Description: "Single-use stream ticket, for clients that cannot send headers."}},
			Response: CampaignEvent{},
			Handle: func(c *Call) (any, error) {
				return s.serveStream(c, liveStream{
					sources: []streamSource{
						{stream: bus.BusStream, filter: bus.FilterAllCampaign},
						{stream: bus.BusStream, filter: bus.IdentityCampaignAssigned},
					},
					snapshot: func(ctx context.Context) (any, error) {
						list, _, err := st.ListCampaigns(ctx, store.Page{Limit: DefaultSnapshotSize})
						return CampaignsSnapshot{Campaigns: list}, err
					},
					convert: convertClusterEvent,
				})
			},
		},
		{
			Method: "GET", Path: "/api/v1/campaigns/{uuid}", Role: Viewer,
			Summary:  "One campaign; a merged campaign's uuid returns the campaign it was merged into.",
			Response: CampaignDetail{},
			Handle: func(c *Call) (any, error) {
				ctx := c.R.Context()
				camp, err := st.GetCampaign(ctx, c.PathValue("uuid"))
				if err != nil {
					return nil, err
				}
				_, live, err := st.ListIdentitiesForCampaign(ctx, camp.UUID, store.Page{Limit: 1})
				if err != nil {
					return nil, err
				}
				return CampaignDetail{Campaign: camp, IdentityCountLive: live}, nil
			},
		},
		{
			Method: "GET", Path: "/api/v1/campaigns/{uuid}/identities", Role: Viewer,
			Summary:  "Active identities of a campaign, including those linked to campaigns merged into it, most recently updated first.",
			Query:    pageParams,
			Response: Page[sqlstore.Identity]{},
			Handle: func(c *Call) (any, error) {
				items, total, err := st.ListIdentitiesForCampaign(c.R.Context(), c.PathValue("uuid"), c.Page())
				if err != nil {
					return nil, err
				}
				return newPage(items, total, c.Page()), nil
			},
		},
	}}
}

// convertClusterEvent turns a bus message of the identity or campaign tree
// into a stream event named after the subject without its first token.
func convertClusterEvent(m bus.Msg) (string, any, bool) {
	env, err := m.Envelope()
	if err != nil {
		return "", nil, false
	}
	name := m.Subject
	if _, rest, ok := strings.Cut(m.Subject, "."); ok {
		name = rest
	}
	return name, ClusterEvent{Subject: m.Subject, Type: env.Type, ID: env.ID, TS: env.TS, Seq: m.Seq, Payload: env.Payload}, true
}
