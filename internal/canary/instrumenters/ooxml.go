package instrumenters

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"path"
	"sort"
	"strconv"
	"strings"

	"github.com/decnet/decnet/internal/canary/artifact"
	"github.com/decnet/decnet/internal/canary/ziprw"
)

// OOXML namespaces and relationship types (ECMA-376, transitional).
const (
	nsRel       = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
	nsPkgRel    = "http://schemas.openxmlformats.org/package/2006/relationships"
	nsWordMain  = "http://schemas.openxmlformats.org/wordprocessingml/2006/main"
	nsSheetMain = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
	nsWordDraw  = "http://schemas.openxmlformats.org/drawingml/2006/wordprocessingDrawing"
	nsSheetDraw = "http://schemas.openxmlformats.org/drawingml/2006/spreadsheetDrawing"
	nsDrawing   = "http://schemas.openxmlformats.org/drawingml/2006/main"
	nsPicture   = "http://schemas.openxmlformats.org/drawingml/2006/picture"

	relOfficeDocument = nsRel + "/officeDocument"
	relImage          = nsRel + "/image"
	relDrawing        = nsRel + "/drawing"
	relWorksheet      = nsRel + "/worksheet"

	ctDrawing = "application/vnd.openxmlformats-officedocument.drawing+xml"
	ctRels    = "application/vnd.openxmlformats-package.relationships+xml"

	// pixelEMU is one pixel at 96 dpi in English Metric Units.
	pixelEMU = 9525
)

// maxElements caps the elements walked in one XML part.
const maxElements = 4 << 20

// element is one XML element with its byte range in the part.
type element struct {
	Name  xml.Name
	Attr  []xml.Attr
	Depth int
	// Start is the offset of '<' of the start tag; End is just past the
	// end tag; Inner is where the end tag starts (End for <x/>).
	Start, Inner, End int64
}

// selfClosing reports whether e was written as <x/>.
func (e element) selfClosing() bool { return e.Inner == e.End }

// attr returns the value of the attribute with namespace space and local
// name, or "".
func (e element) attr(space, local string) string {
	for _, a := range e.Attr {
		if a.Name.Space == space && a.Name.Local == local {
			return a.Value
		}
	}
	return ""
}

// walkXML calls visit for every element when its end tag is read, so that
// the element's whole range is known. It also returns the root element.
func walkXML(data []byte, visit func(e element)) (element, error) {
	d := xml.NewDecoder(bytes.NewReader(data))
	type open struct {
		el    xml.StartElement
		start int64
	}
	var stack []open
	var root element
	count := 0

	for {
		off := d.InputOffset()
		tok, err := d.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return element{}, artifact.Unsupported("invalid XML: %v", err)
		}
		switch t := tok.(type) {
		case xml.StartElement:
			count++
			if count > maxElements {
				return element{}, artifact.Unsupported("XML part has more than %d elements", maxElements)
			}
			stack = append(stack, open{el: t.Copy(), start: off})
		case xml.EndElement:
			top := stack[len(stack)-1]
			stack = stack[:len(stack)-1]
			e := element{Name: top.el.Name, Attr: top.el.Attr, Depth: len(stack), Start: top.start, Inner: off, End: d.InputOffset()}
			if visit != nil {
				visit(e)
			}
			if len(stack) == 0 {
				root = e
			}
		}
	}
	if root.End == 0 {
		return element{}, artifact.Unsupported("XML part has no root element")
	}
	return root, nil
}

// rawPrefix returns the namespace prefix written in the start tag at off.
func rawPrefix(data []byte, off int64) string {
	tag := data[off+1:]
	end := bytes.IndexAny(tag, " \t\r\n/>")
	if end < 0 {
		return ""
	}
	if i := bytes.IndexByte(tag[:end], ':'); i >= 0 {
		return string(tag[:i])
	}
	return ""
}

// declaredPrefixes returns the prefix → namespace declarations on e.
func declaredPrefixes(e element) map[string]string {
	out := map[string]string{}
	for _, a := range e.Attr {
		if a.Name.Space == "xmlns" {
			out[a.Name.Local] = a.Value
		}
	}
	return out
}

// xmlnsFor returns xmlns attributes for the wanted prefixes the root does
// not already bind to the same namespace.
func xmlnsFor(root element, want map[string]string) string {
	have := declaredPrefixes(root)
	prefixes := make([]string, 0, len(want))
	for p := range want {
		prefixes = append(prefixes, p)
	}
	sort.Strings(prefixes)

	var b strings.Builder
	for _, p := range prefixes {
		if have[p] != want[p] {
			fmt.Fprintf(&b, ` xmlns:%s="%s"`, p, want[p])
		}
	}
	return b.String()
}

// insertAt returns data with frag inserted at off.
func insertAt(data []byte, off int64, frag string) []byte {
	out := make([]byte, 0, len(data)+len(frag))
	out = append(out, data[:off]...)
	out = append(out, frag...)
	return append(out, data[off:]...)
}

// appendChild inserts frag as the last child of e. A self-closing <x/> is
// opened up into <x>frag</x>.
func appendChild(data []byte, e element, frag string) []byte {
	if !e.selfClosing() {
		return insertAt(data, e.Inner, frag)
	}
	name := string(data[e.Start+1 : e.Start+1+int64(bytes.IndexAny(data[e.Start+1:], " \t\r\n/>"))])
	tagEnd := e.End - 2 // the "/>"
	out := make([]byte, 0, len(data)+len(frag)+len(name)+3)
	out = append(out, data[:tagEnd]...)
	out = append(out, '>')
	out = append(out, frag...)
	out = append(out, "</"+name+">"...)
	return append(out, data[e.End:]...)
}

// relationship is one entry of a .rels part.
type relationship struct {
	ID, Type, Target, TargetMode string
}

// rels is a parsed .rels part.
type rels struct {
	data []byte
	root element
	list []relationship
}

func parseRels(data []byte) (*rels, error) {
	r := &rels{data: data}
	root, err := walkXML(data, func(e element) {
		if e.Depth == 1 && e.Name.Local == "Relationship" {
			r.list = append(r.list, relationship{
				ID: e.attr("", "Id"), Type: e.attr("", "Type"),
				Target: e.attr("", "Target"), TargetMode: e.attr("", "TargetMode"),
			})
		}
	})
	if err != nil {
		return nil, fmt.Errorf("relationships: %w", err)
	}
	if root.Name.Local != "Relationships" {
		return nil, artifact.Unsupported("relationships part has root <%s>", root.Name.Local)
	}
	r.root = root
	return r, nil
}

func emptyRels() *rels {
	data := []byte(`<?xml version="1.0" encoding="UTF-8" standalone="yes"?>` + "\n" + `<Relationships xmlns="` + nsPkgRel + `"></Relationships>`)
	r, _ := parseRels(data)
	return r
}

// byID returns the relationship with the given id.
func (r *rels) byID(id string) (relationship, bool) {
	for _, rel := range r.list {
		if rel.ID == id {
			return rel, true
		}
	}
	return relationship{}, false
}

// byType returns the first relationship of a type.
func (r *rels) byType(t string) (relationship, bool) {
	for _, rel := range r.list {
		if rel.Type == t {
			return rel, true
		}
	}
	return relationship{}, false
}

// nextID returns "rId<n>" with n one past the highest numeric rId.
func (r *rels) nextID() string {
	n := 0
	used := map[string]bool{}
	for _, rel := range r.list {
		used[rel.ID] = true
		if v, err := strconv.Atoi(strings.TrimPrefix(rel.ID, "rId")); err == nil && strings.HasPrefix(rel.ID, "rId") && v > n {
			n = v
		}
	}
	for {
		n++
		if id := "rId" + strconv.Itoa(n); !used[id] {
			return id
		}
	}
}

// add appends a relationship and returns the new part content.
func (r *rels) add(id, relType, target string, external bool) []byte {
	prefix := rawPrefix(r.data, r.root.Start)
	name := "Relationship"
	if prefix != "" {
		name = prefix + ":" + name
	}
	frag := fmt.Sprintf(`<%s Id="%s" Type="%s" Target="%s"`, name, id, relType, xmlEscape(target))
	if external {
		frag += ` TargetMode="External"`
	}
	frag += "/>"
	return appendChild(r.data, r.root, frag)
}

func xmlEscape(s string) string {
	var b bytes.Buffer
	_ = xml.EscapeText(&b, []byte(s))
	return b.String()
}

// relsPath returns the .rels part of a part: dir/_rels/base.rels.
func relsPath(part string) string {
	dir, base := path.Split(part)
	return dir + "_rels/" + base + ".rels"
}

// resolveTarget turns a relationship target into a part name relative to
// the package root.
func resolveTarget(source, target string) string {
	if strings.HasPrefix(target, "/") {
		return strings.TrimPrefix(path.Clean(target), "/")
	}
	return strings.TrimPrefix(path.Clean(path.Join(path.Dir(source), target)), "/")
}

// mainPart returns the office document part named by _rels/.rels, or def.
func mainPart(a *ziprw.Archive, def string) (string, error) {
	name, ok := a.Lookup("_rels/.rels")
	if !ok {
		return def, nil
	}
	data, err := a.Read(name)
	if err != nil {
		return "", err
	}
	r, err := parseRels(data)
	if err != nil {
		return "", err
	}
	if rel, ok := r.byType(relOfficeDocument); ok {
		return resolveTarget("", rel.Target), nil
	}
	for _, rel := range r.list {
		if strings.HasPrefix(rel.Type, "http://purl.oclc.org/ooxml/") {
			return "", artifact.Unsupported("strict OOXML documents are not supported")
		}
	}
	return def, nil
}

// contentTypes edits [Content_Types].xml.
type contentTypes struct {
	data      []byte
	root      element
	overrides map[string]bool
	defaults  map[string]bool
}

func parseContentTypes(a *ziprw.Archive) (*contentTypes, string, error) {
	name, ok := a.Lookup("[Content_Types].xml")
	if !ok {
		return nil, "", artifact.Unsupported("package has no [Content_Types].xml")
	}
	data, err := a.Read(name)
	if err != nil {
		return nil, "", err
	}
	ct := &contentTypes{data: data, overrides: map[string]bool{}, defaults: map[string]bool{}}
	ct.root, err = walkXML(data, func(e element) {
		if e.Depth != 1 {
			return
		}
		switch e.Name.Local {
		case "Override":
			ct.overrides[strings.ToLower(e.attr("", "PartName"))] = true
		case "Default":
			ct.defaults[strings.ToLower(e.attr("", "Extension"))] = true
		}
	})
	if err != nil {
		return nil, "", fmt.Errorf("content types: %w", err)
	}
	return ct, name, nil
}

func (ct *contentTypes) addOverride(part, contentType string) {
	if ct.overrides[strings.ToLower("/"+part)] {
		return
	}
	ct.append(fmt.Sprintf(`<%s PartName="/%s" ContentType="%s"/>`, ct.name("Override"), xmlEscape(part), contentType))
	ct.overrides[strings.ToLower("/"+part)] = true
}

func (ct *contentTypes) addDefault(ext, contentType string) {
	if ct.defaults[ext] {
		return
	}
	ct.append(fmt.Sprintf(`<%s Extension="%s" ContentType="%s"/>`, ct.name("Default"), ext, contentType))
	ct.defaults[ext] = true
}

func (ct *contentTypes) name(local string) string {
	if p := rawPrefix(ct.data, ct.root.Start); p != "" {
		return p + ":" + local
	}
	return local
}

func (ct *contentTypes) append(frag string) {
	ct.data = appendChild(ct.data, ct.root, frag)
	root, err := walkXML(ct.data, nil)
	if err == nil {
		ct.root = root
	}
}
