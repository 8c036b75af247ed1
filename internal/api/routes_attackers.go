package api

import (
	"github.com/decnet/decnet/internal/store"
)

// AttackerDetail is one attacker with its newest log entries and
// credentials. Commands and fingerprints are fields of the attacker row.
type AttackerDetail struct {
	store.Attacker
	Logs             []store.LogEntry   `json:"logs"`
	LogsTotal        int                `json:"logs_total"`
	Credentials      []store.Credential `json:"credentials"`
	CredentialsTotal int                `json:"credentials_total"`
}

// detailItems caps the logs and credentials embedded in AttackerDetail; the
// logs and credentials routes page through the rest.
const detailItems = 100

// timeParams filter listings by time range.
var timeParams = []Param{
	{Name: "since", Type: ParamTime, Description: "Only items seen at or after this RFC 3339 time."},
	{Name: "until", Type: ParamTime, Description: "Only items seen at or before this RFC 3339 time."},
}

func joinParams(lists ...[]Param) []Param {
	var out []Param
	for _, l := range lists {
		out = append(out, l...)
	}
	return out
}

func (s *Server) attackersGroup() RouteGroup {
	return RouteGroup{Name: "attackers", Routes: []Route{
		{
			Method: "GET", Path: "/api/v1/attackers", Role: Viewer,
			Summary: "Attackers, most recently active first.",
			Query: joinParams(pageParams, timeParams, []Param{
				{Name: "ip", Type: ParamString, Max: 64, Description: "Exact source address."},
				{Name: "decky", Type: ParamString, Max: 256, Description: "Only attackers that touched this decky."},
				{Name: "service", Type: ParamString, Max: 64, Description: "Only attackers that touched this service."},
			}),
			Response: Page[store.Attacker]{},
			Handle: func(c *Call) (any, error) {
				f := store.AttackerFilter{
					IP: c.QueryString("ip"), Decky: c.QueryString("decky"), Service: c.QueryString("service"),
					Since: c.QueryTime("since"), Until: c.QueryTime("until"),
				}
				items, total, err := s.deps.Store.ListAttackers(c.R.Context(), f, c.Page())
				if err != nil {
					return nil, err
				}
				return newPage(items, total, c.Page()), nil
			},
		},
		{
			Method: "GET", Path: "/api/v1/attackers/{id}", Role: Viewer,
			Summary:  "One attacker by uuid or IP address, with its newest 100 log entries and credentials.",
			Response: AttackerDetail{},
			Handle:   s.handleAttackerDetail,
		},
	}}
}

func (s *Server) handleAttackerDetail(c *Call) (any, error) {
	ctx := c.R.Context()
	a, err := s.deps.Store.GetAttacker(ctx, c.PathValue("id"))
	if err != nil {
		return nil, err
	}
	d := AttackerDetail{Attacker: a}

	page := store.Page{Limit: detailItems}
	if d.Logs, d.LogsTotal, err = s.deps.Store.ListLogs(ctx, store.LogFilter{SrcIP: a.IP}, page); err != nil {
		return nil, err
	}
	if d.Credentials, d.CredentialsTotal, err = s.deps.Store.ListCredentials(ctx, store.CredentialFilter{AttackerIP: a.IP}, page); err != nil {
		return nil, err
	}
	if d.Logs == nil {
		d.Logs = []store.LogEntry{}
	}
	if d.Credentials == nil {
		d.Credentials = []store.Credential{}
	}
	return d, nil
}

func (s *Server) logsGroup() RouteGroup {
	return RouteGroup{Name: "logs", Routes: []Route{{
		Method: "GET", Path: "/api/v1/logs", Role: Viewer,
		Summary: "Stored service events, newest first.",
		Query: joinParams(pageParams, timeParams, []Param{
			{Name: "decky", Type: ParamString, Max: 256, Description: "Only events of this decky."},
			{Name: "service", Type: ParamString, Max: 64, Description: "Only events of this service."},
			{Name: "kind", Type: ParamString, Max: 64, Description: "Only events of this kind, such as auth_attempt."},
			{Name: "src_ip", Type: ParamString, Max: 64, Description: "Only events from this source address."},
			{Name: "session", Type: ParamString, Max: 128, Description: "Only events of this session."},
		}),
		Response: Page[store.LogEntry]{},
		Handle: func(c *Call) (any, error) {
			f := store.LogFilter{
				Decky: c.QueryString("decky"), Service: c.QueryString("service"), Kind: c.QueryString("kind"),
				SrcIP: c.QueryString("src_ip"), Session: c.QueryString("session"),
				Since: c.QueryTime("since"), Until: c.QueryTime("until"),
			}
			items, total, err := s.deps.Store.ListLogs(c.R.Context(), f, c.Page())
			if err != nil {
				return nil, err
			}
			return newPage(items, total, c.Page()), nil
		},
	}}}
}

func (s *Server) credentialsGroup() RouteGroup {
	return RouteGroup{Name: "credentials", Routes: []Route{{
		Method: "GET", Path: "/api/v1/credentials", Role: Viewer,
		Summary: "Distinct credentials tried against the deckies, most recent first.",
		Query: joinParams(pageParams, []Param{
			{Name: "attacker_ip", Type: ParamString, Max: 64, Description: "Only credentials from this source address."},
			{Name: "decky", Type: ParamString, Max: 256, Description: "Only credentials tried on this decky."},
			{Name: "service", Type: ParamString, Max: 64, Description: "Only credentials tried on this service."},
		}),
		Response: Page[store.Credential]{},
		Handle: func(c *Call) (any, error) {
			f := store.CredentialFilter{AttackerIP: c.QueryString("attacker_ip"), Decky: c.QueryString("decky"), Service: c.QueryString("service")}
			items, total, err := s.deps.Store.ListCredentials(c.R.Context(), f, c.Page())
			if err != nil {
				return nil, err
			}
			return newPage(items, total, c.Page()), nil
		},
	}}}
}
