package api

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"sync"
)

// decodeBody reads a JSON request body into a new value of route.Body's
// type and validates it. Status codes: 415 for a content type other than
// application/json, 413 past maxBytes, 400 for malformed JSON, 422 for JSON
// that does not fit the schema (the detail names the field).
func decodeBody(w http.ResponseWriter, r *http.Request, proto any, maxBytes int64) (any, error) {
	ct := r.Header.Get("Content-Type")
	mt, _, err := mime.ParseMediaType(ct)
	if err != nil || mt != "application/json" {
		return nil, Errorf(http.StatusUnsupportedMediaType, "Content-Type must be application/json, got %q", clip(ct))
	}

	body := newBody(proto)
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxBytes))
	dec.DisallowUnknownFields()
	if err := dec.Decode(body); err != nil {
		return nil, decodeError(err, maxBytes)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return nil, Errorf(http.StatusRequestEntityTooLarge, "request body larger than %d bytes", maxBytes)
		}
		return nil, Errorf(http.StatusBadRequest, "request body must be a single JSON value")
	}

	if err := validateStruct(reflect.ValueOf(body).Elem(), ""); err != nil {
		return nil, err
	}
	return body, nil
}

func decodeError(err error, maxBytes int64) error {
	var (
		tooBig    *http.MaxBytesError
		syntaxErr *json.SyntaxError
		typeErr   *json.UnmarshalTypeError
	)
	switch {
	case errors.As(err, &tooBig):
		return Errorf(http.StatusRequestEntityTooLarge, "request body larger than %d bytes", maxBytes)
	case errors.Is(err, io.EOF):
		return Errorf(http.StatusBadRequest, "request body is empty: send a JSON object")
	case errors.Is(err, io.ErrUnexpectedEOF):
		return Errorf(http.StatusBadRequest, "request body is truncated JSON")
	case errors.As(err, &syntaxErr):
		return Errorf(http.StatusBadRequest, "invalid JSON at byte %d: %s", syntaxErr.Offset, syntaxErr.Error())
	case errors.As(err, &typeErr):
		field := typeErr.Field
		if field == "" {
			return Errorf(http.StatusUnprocessableEntity, "request body must be a JSON object")
		}
		return fieldError(http.StatusUnprocessableEntity, field, "must be %s", jsonKind(typeErr.Type))
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		name, _ := strconv.Unquote(strings.TrimPrefix(err.Error(), "json: unknown field "))
		return fieldError(http.StatusUnprocessableEntity, name, "unknown field")
	default:
		return Errorf(http.StatusBadRequest, "invalid JSON body")
	}
}

func jsonKind(t reflect.Type) string {
	switch t.Kind() {
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "a boolean"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "an integer"
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.Slice, reflect.Array:
		return "an array"
	case reflect.Map, reflect.Struct:
		return "an object"
	}
	return "a " + t.Kind().String()
}

// rules are the parsed `validate` tag of one field. The tag is a comma list
// of: required, min=N, max=N (string length in bytes, integer value, array
// length), enum=a|b|c, pattern=REGEXP (no commas).
type rules struct {
	required bool
	min, max *int64
	enum     []string
	pattern  *regexp.Regexp
}

var rulesCache sync.Map // reflect.StructField tag string → rules

func parseRules(tag string) rules {
	if v, ok := rulesCache.Load(tag); ok {
		return v.(rules)
	}
	var r rules
	for _, part := range strings.Split(tag, ",") {
		key, val, _ := strings.Cut(strings.TrimSpace(part), "=")
		switch key {
		case "required":
			r.required = true
		case "min", "max":
			n, err := strconv.ParseInt(val, 10, 64)
			if err != nil {
				panic(fmt.Sprintf("api: validate tag %q: bad %s", tag, key))
			}
			if key == "min" {
				r.min = &n
			} else {
				r.max = &n
			}
		case "enum":
			r.enum = strings.Split(val, "|")
		case "pattern":
			r.pattern = regexp.MustCompile(val)
		case "":
		default:
			panic(fmt.Sprintf("api: validate tag %q: unknown rule %q", tag, key))
		}
	}
	rulesCache.Store(tag, r)
	return r
}

// jsonName returns the JSON name of a field and whether it is encoded.
func jsonName(f reflect.StructField) (string, bool) {
	if !f.IsExported() {
		return "", false
	}
	tag := f.Tag.Get("json")
	if tag == "-" {
		return "", false
	}
	name, _, _ := strings.Cut(tag, ",")
	if name == "" {
		name = f.Name
	}
	return name, true
}

// validateStruct checks the `validate` tags of v's fields; the error names
// the field by its JSON path.
func validateStruct(v reflect.Value, prefix string) error {
	t := v.Type()
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		name, ok := jsonName(f)
		if !ok {
			continue
		}
		path := prefix + name
		fv := v.Field(i)
		r := parseRules(f.Tag.Get("validate"))

		if fv.Kind() == reflect.Pointer {
			if fv.IsNil() {
				if r.required {
					return fieldError(http.StatusUnprocessableEntity, path, "is required")
				}
				continue
			}
			fv = fv.Elem()
		}
		if err := checkValue(fv, r, path); err != nil {
			return err
		}
		if fv.Kind() == reflect.Struct {
			if err := validateStruct(fv, path+"."); err != nil {
				return err
			}
		}
	}
	return nil
}

func checkValue(v reflect.Value, r rules, path string) error {
	bad := func(format string, args ...any) error {
		return fieldError(http.StatusUnprocessableEntity, path, format, args...)
	}
	switch v.Kind() {
	case reflect.String:
		s := v.String()
		if s == "" {
			if r.required {
				return bad("is required")
			}
			return nil
		}
		if r.min != nil && int64(len(s)) < *r.min {
			return bad("must be at least %d bytes", *r.min)
		}
		if r.max != nil && int64(len(s)) > *r.max {
			return bad("must be at most %d bytes", *r.max)
		}
		if len(r.enum) > 0 && !contains(r.enum, s) {
			return bad("must be one of %s", strings.Join(r.enum, ", "))
		}
		if r.pattern != nil && !r.pattern.MatchString(s) {
			return bad("must match %s", r.pattern.String())
		}
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		n := v.Int()
		if r.min != nil && n < *r.min {
			return bad("must be at least %d", *r.min)
		}
		if r.max != nil && n > *r.max {
			return bad("must be at most %d", *r.max)
		}
	case reflect.Slice:
		if r.required && v.Len() == 0 {
			return bad("is required")
		}
		if r.min != nil && int64(v.Len()) < *r.min {
			return bad("must have at least %d items", *r.min)
		}
		if r.max != nil && int64(v.Len()) > *r.max {
			return bad("must have at most %d items", *r.max)
		}
		for i := 0; i < v.Len(); i++ {
			item := v.Index(i)
			if item.Kind() == reflect.String && len(r.enum) > 0 && !contains(r.enum, item.String()) {
				return fieldError(http.StatusUnprocessableEntity, fmt.Sprintf("%s[%d]", path, i), "must be one of %s", strings.Join(r.enum, ", "))
			}
			if item.Kind() == reflect.Struct {
				if err := validateStruct(item, fmt.Sprintf("%s[%d].", path, i)); err != nil {
					return err
				}
			}
		}
	}
	return nil
}
