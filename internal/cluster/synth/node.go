package synth

import (
	"errors"
	"fmt"
	"math"
	"strconv"

	"go.yaml.in/yaml/v3"
)

// ErrInvalid is wrapped by every ValidationError, so callers can test for a
// scenario problem with errors.Is.
var ErrInvalid = errors.New("invalid scenario")

// ValidationError reports a malformed scenario document: which document,
// where in it (a key path such as campaign.actors[1].asn, and the line when
// known) and what is wrong.
type ValidationError struct {
	Doc  string
	Path string
	Line int
	Msg  string
}

func (e *ValidationError) Error() string {
	loc := e.Doc
	if e.Line > 0 {
		loc = fmt.Sprintf("%s:%d", e.Doc, e.Line)
	}
	if e.Path == "" {
		return fmt.Sprintf("%s: %s", loc, e.Msg)
	}
	return fmt.Sprintf("%s: %s: %s", loc, e.Path, e.Msg)
}

// Unwrap returns ErrInvalid.
func (e *ValidationError) Unwrap() error { return ErrInvalid }

// Warning is a problem that does not stop generation, such as an
// unobservable phase or an unknown key.
type Warning struct {
	Doc  string
	Path string
	Line int
	Msg  string
}

func (w Warning) String() string {
	return (&ValidationError{Doc: w.Doc, Path: w.Path, Line: w.Line, Msg: w.Msg}).Error()
}

// decoder walks a YAML node tree and turns problems into errors and warnings
// that name the document and the key path.
type decoder struct {
	doc      string
	warnings []Warning
}

func (d *decoder) fail(n *yaml.Node, path, format string, args ...any) error {
	line := 0
	if n != nil {
		line = n.Line
	}
	return &ValidationError{Doc: d.doc, Path: path, Line: line, Msg: fmt.Sprintf(format, args...)}
}

func (d *decoder) warn(n *yaml.Node, path, format string, args ...any) {
	line := 0
	if n != nil {
		line = n.Line
	}
	d.warnings = append(d.warnings, Warning{Doc: d.doc, Path: path, Line: line, Msg: fmt.Sprintf(format, args...)})
}

// fields is one YAML mapping with its keys in document order.
type fields struct {
	node  *yaml.Node
	path  string
	keys  []string
	value map[string]*yaml.Node
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

func index(path string, i int) string { return fmt.Sprintf("%s[%d]", path, i) }

// mapping decodes n as a mapping. Keys outside known produce a warning:
// scenario files in circulation carry documentation-only keys, so an
// unknown key is reported but not rejected.
func (d *decoder) mapping(n *yaml.Node, path string, known ...string) (*fields, error) {
	n = resolve(n)
	if n == nil || n.Kind != yaml.MappingNode {
		return nil, d.fail(n, path, "must be a mapping, got %s", kindName(n))
	}
	f := &fields{node: n, path: path, value: map[string]*yaml.Node{}}
	allowed := map[string]bool{}
	for _, k := range known {
		allowed[k] = true
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if k.Kind != yaml.ScalarNode {
			return nil, d.fail(k, path, "mapping keys must be strings")
		}
		if _, dup := f.value[k.Value]; dup {
			return nil, d.fail(k, join(path, k.Value), "duplicate key")
		}
		if !allowed[k.Value] {
			d.warn(k, join(path, k.Value), "unknown key is ignored")
		}
		f.keys = append(f.keys, k.Value)
		f.value[k.Value] = v
	}
	return f, nil
}

func (f *fields) has(key string) bool {
	_, ok := f.value[key]
	return ok
}

// present reports whether key exists with a non-null value.
func (f *fields) present(key string) bool {
	v, ok := f.value[key]
	return ok && !isNull(v)
}

func resolve(n *yaml.Node) *yaml.Node {
	for n != nil && (n.Kind == yaml.DocumentNode || n.Kind == yaml.AliasNode) {
		if n.Kind == yaml.DocumentNode {
			if len(n.Content) == 0 {
				return nil
			}
			n = n.Content[0]
		} else {
			n = n.Alias
		}
	}
	return n
}

func isNull(n *yaml.Node) bool {
	n = resolve(n)
	return n == nil || (n.Kind == yaml.ScalarNode && n.Tag == "!!null")
}

func kindName(n *yaml.Node) string {
	n = resolve(n)
	switch {
	case n == nil:
		return "nothing"
	case n.Kind == yaml.MappingNode:
		return "a mapping"
	case n.Kind == yaml.SequenceNode:
		return "a list"
	case n.Tag == "!!null":
		return "null"
	case n.Kind == yaml.ScalarNode:
		return fmt.Sprintf("%s %q", n.Tag, n.Value)
	}
	return "an unsupported node"
}

func (d *decoder) str(f *fields, key string) (string, error) {
	n := resolve(f.value[key])
	path := join(f.path, key)
	if n == nil || isNull(n) {
		return "", nil
	}
	if n.Kind != yaml.ScalarNode {
		return "", d.fail(n, path, "must be a string, got %s", kindName(n))
	}
	return n.Value, nil
}

func (d *decoder) integer(f *fields, key string, def, lo, hi int64) (int64, error) {
	n := resolve(f.value[key])
	if n == nil || isNull(n) {
		return def, nil
	}
	return d.intNode(n, join(f.path, key), lo, hi)
}

func (d *decoder) intNode(n *yaml.Node, path string, lo, hi int64) (int64, error) {
	n = resolve(n)
	if n == nil || n.Kind != yaml.ScalarNode || n.Tag != "!!int" {
		return 0, d.fail(n, path, "must be a whole number, got %s", kindName(n))
	}
	v, err := strconv.ParseInt(n.Value, 0, 64)
	if err != nil {
		return 0, d.fail(n, path, "must be a whole number, got %q", n.Value)
	}
	if v < lo || v > hi {
		return 0, d.fail(n, path, "%d is out of range: use %d to %d", v, lo, hi)
	}
	return v, nil
}

func (d *decoder) number(f *fields, key string, def, lo, hi float64) (float64, error) {
	n := resolve(f.value[key])
	path := join(f.path, key)
	if n == nil || isNull(n) {
		return def, nil
	}
	if n.Kind != yaml.ScalarNode || (n.Tag != "!!int" && n.Tag != "!!float") {
		return 0, d.fail(n, path, "must be a number, got %s", kindName(n))
	}
	v, err := strconv.ParseFloat(n.Value, 64)
	if err != nil || math.IsNaN(v) || math.IsInf(v, 0) {
		return 0, d.fail(n, path, "must be a finite number, got %q", n.Value)
	}
	if v < lo || v > hi {
		return 0, d.fail(n, path, "%g is out of range: use %g to %g", v, lo, hi)
	}
	return v, nil
}

// list returns the items of a sequence; a missing or null value is an empty
// list.
func (d *decoder) list(f *fields, key string) ([]*yaml.Node, error) {
	n := resolve(f.value[key])
	if n == nil || isNull(n) {
		return nil, nil
	}
	if n.Kind != yaml.SequenceNode {
		return nil, d.fail(n, join(f.path, key), "must be a list, got %s", kindName(n))
	}
	return n.Content, nil
}

func (d *decoder) intList(f *fields, key string, lo, hi int64) ([]int64, error) {
	items, err := d.list(f, key)
	if err != nil {
		return nil, err
	}
	out := make([]int64, 0, len(items))
	for i, it := range items {
		v, err := d.intNode(it, index(join(f.path, key), i), lo, hi)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, nil
}

func (d *decoder) strList(f *fields, key string) ([]string, error) {
	items, err := d.list(f, key)
	if err != nil {
		return nil, err
	}
	out := make([]string, 0, len(items))
	for i, it := range items {
		it = resolve(it)
		if it == nil || it.Kind != yaml.ScalarNode || it.Tag == "!!null" {
			return nil, d.fail(it, index(join(f.path, key), i), "must be a string, got %s", kindName(it))
		}
		out = append(out, it.Value)
	}
	return out, nil
}
