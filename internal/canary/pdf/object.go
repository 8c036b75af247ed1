// Package pdf reads just enough of a PDF to find its catalog and first
// page, and appends an incremental update that rewrites those objects.
// It follows the cross-reference chain of classic xref tables, xref
// streams and hybrid files, and reads objects stored in object streams.
// Everything it parses comes from untrusted uploads, so nesting depth,
// token and stream sizes, and the length of every chain are capped.
package pdf

import (
	"bytes"
	"fmt"
	"sort"
	"strconv"
)

// Object is a parsed PDF object: nil (null), Bool, Integer, Real, Name,
// String, Array, Dict, Ref or *Stream.
type Object any

// Bool is a PDF boolean.
type Bool bool

// Integer is a PDF integer.
type Integer int64

// Real is a PDF real number, kept as its source text so that writing it
// back does not change its value.
type Real string

// Name is a PDF name without the leading slash, with #xx escapes decoded.
type Name string

// String is a PDF string (literal or hex) with escapes decoded.
type String []byte

// Array is a PDF array.
type Array []Object

// Dict is a PDF dictionary.
type Dict map[Name]Object

// Ref is an indirect reference "num gen R".
type Ref struct {
	Num int
	Gen int
}

// Stream is a stream object: its dictionary and where its raw data starts
// in the file (or in the decoded object stream that held it).
type Stream struct {
	Dict   Dict
	Offset int64
}

// Name returns d[key] when it is a name.
func (d Dict) Name(key Name) (Name, bool) {
	n, ok := d[key].(Name)
	return n, ok
}

// Int returns d[key] when it is an integer.
func (d Dict) Int(key Name) (int64, bool) {
	n, ok := d[key].(Integer)
	return int64(n), ok
}

// Clone returns a shallow copy of d.
func (d Dict) Clone() Dict {
	out := make(Dict, len(d)+2)
	for k, v := range d {
		out[k] = v
	}
	return out
}

// appendObject serializes o in PDF syntax. Dictionary keys are sorted so
// that the output is deterministic.
func appendObject(b *bytes.Buffer, o Object) error {
	switch v := o.(type) {
	case nil:
		b.WriteString("null")
	case Bool:
		b.WriteString(strconv.FormatBool(bool(v)))
	case Integer:
		b.WriteString(strconv.FormatInt(int64(v), 10))
	case Real:
		b.WriteString(string(v))
	case Name:
		appendName(b, v)
	case String:
		appendString(b, v)
	case Ref:
		fmt.Fprintf(b, "%d %d R", v.Num, v.Gen)
	case Array:
		b.WriteByte('[')
		for i, e := range v {
			if i > 0 {
				b.WriteByte(' ')
			}
			if err := appendObject(b, e); err != nil {
				return err
			}
		}
		b.WriteByte(']')
	case Dict:
		keys := make([]string, 0, len(v))
		for k := range v {
			keys = append(keys, string(k))
		}
		sort.Strings(keys)
		b.WriteString("<<")
		for _, k := range keys {
			b.WriteByte(' ')
			appendName(b, Name(k))
			b.WriteByte(' ')
			if err := appendObject(b, v[Name(k)]); err != nil {
				return err
			}
		}
		b.WriteString(" >>")
	default:
		return fmt.Errorf("pdf: cannot serialize %T", o)
	}
	return nil
}

func appendName(b *bytes.Buffer, n Name) {
	b.WriteByte('/')
	for i := 0; i < len(n); i++ {
		c := n[i]
		if c < 0x21 || c > 0x7e || c == '#' || isDelimiter(c) {
			fmt.Fprintf(b, "#%02X", c)
			continue
		}
		b.WriteByte(c)
	}
}

// appendString writes s as a literal string when it is printable ASCII
// and as a hex string otherwise.
func appendString(b *bytes.Buffer, s String) {
	printable := true
	for _, c := range s {
		if c < 0x20 || c > 0x7e {
			printable = false
			break
		}
	}
	if !printable {
		fmt.Fprintf(b, "<%X>", []byte(s))
		return
	}
	b.WriteByte('(')
	for _, c := range s {
		if c == '(' || c == ')' || c == '\\' {
			b.WriteByte('\\')
		}
		b.WriteByte(c)
	}
	b.WriteByte(')')
}

func isDelimiter(c byte) bool {
	switch c {
	case '(', ')', '<', '>', '[', ']', '{', '}', '/', '%':
		return true
	}
	return false
}

func isSpace(c byte) bool {
	switch c {
	case 0, '\t', '\n', '\f', '\r', ' ':
		return true
	}
	return false
}
