package api

import (
	"fmt"
	"net/http"
	"net/url"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/decnet/decnet/internal/auth"
	"github.com/decnet/decnet/internal/store"
)

// Role is the least privilege a route requires.
type Role int

// Route roles, from least to most privileged.
const (
	// Public routes need no token.
	Public Role = iota
	// Viewer routes need a token of a viewer or an admin.
	Viewer
	// Admin routes need a token of an admin.
	Admin
)

func (r Role) String() string {
	switch r {
	case Public:
		return "public"
	case Viewer:
		return "viewer"
	case Admin:
		return "admin"
	}
	return "role(" + strconv.Itoa(int(r)) + ")"
}

// ParamType is the type of a query parameter.
type ParamType string

// Query parameter types.
const (
	ParamString  ParamType = "string"
	ParamInteger ParamType = "integer"
	ParamTime    ParamType = "time" // RFC 3339
)

// Param declares one query parameter. Parameters are checked before the
// handler runs, and a bad value gets a 400 that names the parameter.
type Param struct {
	Name        string
	Type        ParamType
	Description string
	// Min and Max bound integers (both 0: no bound) and string lengths
	// (Max 0: no bound).
	Min, Max int64
	// Enum lists the accepted string values; empty accepts any.
	Enum []string
}

// HandlerFunc serves one route. It returns the response body (sent as JSON
// with the route's status) or an error (sent through the single error path).
// Stream handlers write the response themselves and return (nil, nil) once
// they wrote anything.
type HandlerFunc func(c *Call) (any, error)

// Route is one entry of the route table. The router, the authorization check,
// the request validation and the OpenAPI document are all built from it.
type Route struct {
	Method  string // GET, POST, PATCH, DELETE
	Path    string // net/http pattern path, such as /api/v1/users/{uuid}
	Summary string
	Tag     string // OpenAPI tag; the group name when empty
	Role    Role

	// Query lists the accepted query parameters.
	Query []Param
	// Body is a value of the request body type (a struct), or nil for
	// routes without a body. Its fields' `validate` tags are enforced and
	// documented.
	Body any
	// Response is a value of the response body type, or nil for no body.
	Response any
	// Status is the success status; 0 means 200.
	Status int
	// Errors lists error statuses the handler returns itself (404, 409,
	// 429, 503, ...). The statuses of authentication (401, 403), of query
	// checks (400) and of body checks (400, 413, 415, 422) are added from
	// the other fields.
	Errors []int
	// Stream marks a text/event-stream route; it also accepts ?ticket=.
	Stream bool
	// AllowMustChange lets a user whose password must be changed call the
	// route (the other routes respond 403 until the change).
	AllowMustChange bool

	Handle HandlerFunc
}

// RouteGroup is a named set of routes, such as "auth" or "attackers".
// Server.Register adds one.
type RouteGroup struct {
	Name   string
	Routes []Route
}

// pattern returns the net/http ServeMux pattern.
func (r *Route) pattern() string { return r.Method + " " + r.Path }

// successStatus returns the configured success status or 200.
func (r *Route) successStatus() int {
	if r.Status == 0 {
		return http.StatusOK
	}
	return r.Status
}

// statuses returns every error status the route can respond with, sorted.
func (r *Route) statuses() []int {
	set := map[int]bool{http.StatusInternalServerError: true}
	if r.Role != Public {
		set[http.StatusUnauthorized] = true
		set[http.StatusForbidden] = true
	}
	if len(r.Query) > 0 {
		set[http.StatusBadRequest] = true
	}
	if r.Body != nil {
		for _, s := range []int{http.StatusBadRequest, http.StatusRequestEntityTooLarge, http.StatusUnsupportedMediaType, http.StatusUnprocessableEntity} {
			set[s] = true
		}
	}
	if strings.Contains(r.Path, "{") {
		set[http.StatusNotFound] = true
	}
	if r.Stream {
		set[http.StatusTooManyRequests] = true
		set[http.StatusServiceUnavailable] = true
	}
	for _, s := range r.Errors {
		set[s] = true
	}
	out := make([]int, 0, len(set))
	for s := range set {
		out = append(out, s)
	}
	sort.Ints(out)
	return out
}

// pathParams returns the names of the {wildcards} in the path.
func (r *Route) pathParams() []string {
	var names []string
	rest := r.Path
	for {
		i := strings.Index(rest, "{")
		if i < 0 {
			return names
		}
		j := strings.Index(rest[i:], "}")
		if j < 0 {
			return names
		}
		names = append(names, strings.TrimSuffix(rest[i+1:i+j], "..."))
		rest = rest[i+j+1:]
	}
}

// Call is the context of one request to a route.
type Call struct {
	W http.ResponseWriter
	R *http.Request
	// User is the authenticated caller; zero on public routes.
	User auth.Principal
	// Body points to the decoded, validated request body (a pointer to a
	// new value of Route.Body's type), or is nil.
	Body any

	route  *Route
	query  map[string]any
	server *Server
}

// PathValue returns a path wildcard.
func (c *Call) PathValue(name string) string { return c.R.PathValue(name) }

// QueryString returns a checked string parameter, "" when absent.
func (c *Call) QueryString(name string) string {
	v, _ := c.query[name].(string)
	return v
}

// QueryInt returns a checked integer parameter and whether it was given.
func (c *Call) QueryInt(name string) (int64, bool) {
	v, ok := c.query[name].(int64)
	return v, ok
}

// QueryTime returns a checked time parameter, zero when absent.
func (c *Call) QueryTime(name string) time.Time {
	v, _ := c.query[name].(time.Time)
	return v
}

// Page returns the limit and offset parameters (see pageParams).
func (c *Call) Page() store.Page {
	p := store.Page{Limit: defaultLimit}
	if v, ok := c.QueryInt("limit"); ok {
		p.Limit = int(v)
	}
	if v, ok := c.QueryInt("offset"); ok {
		p.Offset = int(v)
	}
	return p
}

// Pagination defaults: limit 50, at most 1000.
const (
	defaultLimit = 50
	maxLimit     = 1000
)

// pageParams are the query parameters of every paged listing.
var pageParams = []Param{
	{Name: "limit", Type: ParamInteger, Description: "Maximum number of items to return (default 50).", Min: 1, Max: maxLimit},
	{Name: "offset", Type: ParamInteger, Description: "Number of items to skip.", Min: 0, Max: 1<<31 - 1},
}

// Page is the body of every paged listing. Total counts every item that
// matches the filters, not only the ones in Data.
type Page[T any] struct {
	Total  int `json:"total"`
	Limit  int `json:"limit"`
	Offset int `json:"offset"`
	Data   []T `json:"data"`
}

// newPage builds a Page, turning a nil slice into [].
func newPage[T any](items []T, total int, p store.Page) Page[T] {
	if items == nil {
		items = []T{}
	}
	return Page[T]{Total: total, Limit: p.Limit, Offset: p.Offset, Data: items}
}

// parseQuery checks every declared query parameter.
func parseQuery(r *Route, req *http.Request) (map[string]any, error) {
	// url.Query silently drops a pair that holds a raw ';', which would
	// turn a filter into "everything" without a word.
	values, err := url.ParseQuery(req.URL.RawQuery)
	if err != nil {
		return nil, Errorf(http.StatusBadRequest, "invalid query string: %v (separate parameters with & and percent-encode ';' as %%3B)", err)
	}
	out := make(map[string]any, len(r.Query))
	for _, p := range r.Query {
		raw := values.Get(p.Name)
		if raw == "" {
			continue
		}
		v, err := parseParam(p, raw)
		if err != nil {
			return nil, err
		}
		out[p.Name] = v
	}
	return out, nil
}

func parseParam(p Param, raw string) (any, error) {
	switch p.Type {
	case ParamInteger:
		n, err := strconv.ParseInt(raw, 10, 64)
		if err != nil {
			return nil, fieldError(http.StatusBadRequest, p.Name, "must be an integer, got %q", clip(raw))
		}
		if (p.Min != 0 || p.Max != 0) && (n < p.Min || n > p.Max) {
			return nil, fieldError(http.StatusBadRequest, p.Name, "must be between %d and %d", p.Min, p.Max)
		}
		return n, nil
	case ParamTime:
		t, err := time.Parse(time.RFC3339Nano, raw)
		if err != nil {
			return nil, fieldError(http.StatusBadRequest, p.Name, "must be an RFC 3339 time such as 2025-01-02T15:04:05Z, got %q", clip(raw))
		}
		return t.UTC(), nil
	default:
		if p.Max > 0 && int64(len(raw)) > p.Max {
			return nil, fieldError(http.StatusBadRequest, p.Name, "must be at most %d bytes", p.Max)
		}
		if len(p.Enum) > 0 && !contains(p.Enum, raw) {
			return nil, fieldError(http.StatusBadRequest, p.Name, "must be one of %s", strings.Join(p.Enum, ", "))
		}
		return raw, nil
	}
}

// newBody returns a pointer to a new zero value of the body type.
func newBody(proto any) any {
	t := reflect.TypeOf(proto)
	if t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	return reflect.New(t).Interface()
}

func contains(list []string, v string) bool {
	for _, s := range list {
		if s == v {
			return true
		}
	}
	return false
}

// clip shortens client input echoed in an error detail.
func clip(s string) string {
	const max = 64
	if len(s) <= max {
		return s
	}
	return s[:max] + "..."
}

func (r Route) String() string { return fmt.Sprintf("%s %s (%s)", r.Method, r.Path, r.Role) }
