package api

import (
	"encoding/json"
	"fmt"
	"net/http"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// OpenAPIVersion is the OpenAPI version of the generated document.
const OpenAPIVersion = "3.1.0"

// OpenAPI returns the OpenAPI 3.1 document of every registered route, as
// indented JSON with sorted keys, so the output is byte-for-byte stable.
func (s *Server) OpenAPI() ([]byte, error) {
	gen := &schemaGen{components: map[string]any{}}
	paths := map[string]map[string]any{}

	for _, r := range s.Routes() {
		op := gen.operation(&r)
		p := openAPIPath(r.Path)
		if paths[p] == nil {
			paths[p] = map[string]any{}
		}
		paths[p][strings.ToLower(r.Method)] = op
	}

	gen.components["Error"] = gen.schemaOf(reflect.TypeOf(ErrorBody{}))
	doc := map[string]any{
		"openapi": OpenAPIVersion,
		"info": map[string]any{
			"title":       "decnet API",
			"version":     "1",
			"description": "REST API of decnet. Every error is a JSON object {\"detail\": \"...\"}; 400 and 422 details name the offending parameter or field.",
		},
		"paths": paths,
		"components": map[string]any{
			"schemas": gen.components,
			"securitySchemes": map[string]any{
				"bearer": map[string]any{"type": "http", "scheme": "bearer", "bearerFormat": "JWT"},
			},
		},
	}
	b, err := json.MarshalIndent(doc, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("api: encode openapi document: %w", err)
	}
	return append(b, '\n'), nil
}

// openAPIPath turns a ServeMux pattern path into an OpenAPI path
// ("{path...}" becomes "{path}").
func openAPIPath(p string) string { return strings.ReplaceAll(p, "...}", "}") }

type schemaGen struct {
	components map[string]any
}

func (g *schemaGen) operation(r *Route) map[string]any {
	op := map[string]any{
		"operationId":   operationID(r),
		"summary":       r.Summary,
		"tags":          []string{r.Tag},
		"x-decnet-role": r.Role.String(),
	}
	if r.Role != Public {
		op["security"] = []map[string][]string{{"bearer": {}}}
	}

	var params []map[string]any
	for _, name := range r.pathParams() {
		params = append(params, map[string]any{"name": name, "in": "path", "required": true, "schema": map[string]any{"type": "string"}})
	}
	for _, p := range r.Query {
		params = append(params, map[string]any{"name": p.Name, "in": "query", "description": p.Description, "schema": paramSchema(p)})
	}
	if r.Stream {
		params = append(params, map[string]any{
			"name": "Last-Event-ID", "in": "header",
			"description": "Resume after this event id (sent by browsers on reconnect).",
			"schema":      map[string]any{"type": "string"},
		})
	}
	if len(params) > 0 {
		op["parameters"] = params
	}

	if r.Body != nil {
		op["requestBody"] = map[string]any{
			"required": true,
			"content":  map[string]any{"application/json": map[string]any{"schema": g.schemaOf(reflect.TypeOf(r.Body))}},
		}
	}

	responses := map[string]any{}
	success := map[string]any{"description": http.StatusText(r.successStatus())}
	switch {
	case r.Stream:
		success["content"] = map[string]any{"text/event-stream": map[string]any{"schema": g.schemaOf(reflect.TypeOf(r.Response))}}
	case r.Response != nil:
		success["content"] = map[string]any{"application/json": map[string]any{"schema": g.schemaOf(reflect.TypeOf(r.Response))}}
	case r.Path == "/metrics":
		success["content"] = map[string]any{"text/plain": map[string]any{"schema": map[string]any{"type": "string"}}}
	case r.Path == "/api/v1/openapi.json":
		success["content"] = map[string]any{"application/json": map[string]any{"schema": map[string]any{"type": "object"}}}
	}
	responses[strconv.Itoa(r.successStatus())] = success

	for _, code := range r.statuses() {
		responses[strconv.Itoa(code)] = map[string]any{
			"description": http.StatusText(code),
			"content":     map[string]any{"application/json": map[string]any{"schema": map[string]any{"$ref": "#/components/schemas/Error"}}},
		}
	}
	op["responses"] = responses
	return op
}

var nonWord = regexp.MustCompile(`[^A-Za-z0-9]+`)

func operationID(r *Route) string {
	parts := strings.Split(nonWord.ReplaceAllString(strings.TrimPrefix(r.Path, "/api/v1"), " "), " ")
	id := strings.ToLower(r.Method)
	for _, p := range parts {
		if p != "" {
			id += strings.ToUpper(p[:1]) + p[1:]
		}
	}
	return id
}

func paramSchema(p Param) map[string]any {
	switch p.Type {
	case ParamInteger:
		s := map[string]any{"type": "integer"}
		if p.Min != 0 || p.Max != 0 {
			s["minimum"], s["maximum"] = p.Min, p.Max
		}
		return s
	case ParamTime:
		return map[string]any{"type": "string", "format": "date-time"}
	default:
		s := map[string]any{"type": "string"}
		if p.Max > 0 {
			s["maxLength"] = p.Max
		}
		if len(p.Enum) > 0 {
			s["enum"] = p.Enum
		}
		return s
	}
}

var (
	timeType    = reflect.TypeOf(time.Time{})
	rawJSONType = reflect.TypeOf(json.RawMessage{})
)

// schemaOf returns the JSON schema of t. Named structs become components
// referenced with $ref.
func (g *schemaGen) schemaOf(t reflect.Type) map[string]any {
	switch {
	case t == timeType:
		return map[string]any{"type": "string", "format": "date-time"}
	case t == rawJSONType:
		return map[string]any{}
	}

	switch t.Kind() {
	case reflect.Pointer:
		inner := g.schemaOf(t.Elem())
		return map[string]any{"anyOf": []any{inner, map[string]any{"type": "null"}}}
	case reflect.String:
		return map[string]any{"type": "string"}
	case reflect.Bool:
		return map[string]any{"type": "boolean"}
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return map[string]any{"type": "integer"}
	case reflect.Float32, reflect.Float64:
		return map[string]any{"type": "number"}
	case reflect.Slice, reflect.Array:
		return map[string]any{"type": "array", "items": g.schemaOf(t.Elem())}
	case reflect.Map:
		return map[string]any{"type": "object", "additionalProperties": g.schemaOf(t.Elem())}
	case reflect.Interface:
		return map[string]any{}
	case reflect.Struct:
		name := componentName(t)
		if _, ok := g.components[name]; !ok {
			g.components[name] = map[string]any{} // placeholder for recursion
			g.components[name] = g.structSchema(t)
		}
		return map[string]any{"$ref": "#/components/schemas/" + name}
	}
	return map[string]any{}
}

// structSchema builds an object schema; embedded structs contribute their
// fields, as encoding/json does.
func (g *schemaGen) structSchema(t reflect.Type) map[string]any {
	props := map[string]any{}
	var required []string
	g.addFields(t, props, &required)

	s := map[string]any{"type": "object", "properties": props, "additionalProperties": false}
	if len(required) > 0 {
		s["required"] = required
	}
	return s
}

func (g *schemaGen) addFields(t reflect.Type, props map[string]any, required *[]string) {
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		if f.Anonymous && f.Tag.Get("json") == "" && f.Type.Kind() == reflect.Struct {
			g.addFields(f.Type, props, required)
			continue
		}
		name, ok := jsonName(f)
		if !ok {
			continue
		}
		fs := g.schemaOf(f.Type)
		r := parseRules(f.Tag.Get("validate"))
		applyRules(fs, f.Type, r)
		props[name] = fs
		if r.required {
			*required = append(*required, name)
		}
	}
}

// applyRules adds validate-tag limits to a field schema.
func applyRules(s map[string]any, t reflect.Type, r rules) {
	if t.Kind() == reflect.Pointer {
		t = t.Elem()
		if alts, ok := s["anyOf"].([]any); ok && len(alts) > 0 {
			s = alts[0].(map[string]any)
		}
	}
	switch t.Kind() {
	case reflect.String:
		if r.min != nil {
			s["minLength"] = *r.min
		}
		if r.max != nil {
			s["maxLength"] = *r.max
		}
		if len(r.enum) > 0 {
			s["enum"] = r.enum
		}
		if r.pattern != nil {
			s["pattern"] = r.pattern.String()
		}
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		if r.min != nil {
			s["minimum"] = *r.min
		}
		if r.max != nil {
			s["maximum"] = *r.max
		}
	case reflect.Slice:
		if r.min != nil {
			s["minItems"] = *r.min
		}
		if r.max != nil {
			s["maxItems"] = *r.max
		}
		if r.required {
			if _, ok := s["minItems"]; !ok {
				s["minItems"] = 1
			}
		}
		if len(r.enum) > 0 {
			if items, ok := s["items"].(map[string]any); ok {
				items["enum"] = r.enum
			}
		}
	}
}

// componentName names a struct's schema: the Go type name, with generic
// arguments folded in ("Page[...store.User]" becomes "PageUser").
func componentName(t reflect.Type) string {
	name := t.Name()
	base, args, ok := strings.Cut(name, "[")
	if !ok {
		return pkgPrefix(t) + name
	}
	out := base
	for _, a := range strings.Split(strings.TrimSuffix(args, "]"), ",") {
		a = a[strings.LastIndex(a, ".")+1:]
		out += a
	}
	return out
}

// pkgPrefix disambiguates types from packages other than api and store
// ("webhook.Target" becomes "WebhookTarget").
func pkgPrefix(t reflect.Type) string {
	path := t.PkgPath()
	pkg := path[strings.LastIndex(path, "/")+1:]
	switch pkg {
	case "api", "store", "":
		return ""
	}
	return strings.ToUpper(pkg[:1]) + pkg[1:]
}
