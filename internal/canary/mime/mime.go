// Package mime detects the media type of an uploaded canary source file
// from its content, never from a client-supplied header or file name. It
// recognises the formats the instrumenters can rewrite (OOXML, PDF, PNG,
// JPEG, GIF, HTML, text formats) plus XML and SVG; everything else is
// application/octet-stream.
package mime

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"errors"
	"io"
	"strings"
	"unicode/utf8"

	"github.com/decnet/decnet/internal/canary/ziprw"
)

// Media types Sniff returns.
const (
	DOCX        = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
	DOCM        = "application/vnd.ms-word.document.macroenabled.12"
	XLSX        = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
	XLSM        = "application/vnd.ms-excel.sheet.macroenabled.12"
	PPTX        = "application/vnd.openxmlformats-officedocument.presentationml.presentation"
	Zip         = "application/zip"
	PDF         = "application/pdf"
	PNG         = "image/png"
	JPEG        = "image/jpeg"
	GIF         = "image/gif"
	HTML        = "text/html"
	XHTML       = "application/xhtml+xml"
	XML         = "application/xml"
	SVG         = "image/svg+xml"
	JSON        = "application/json"
	YAML        = "application/yaml"
	TOML        = "application/toml"
	Text        = "text/plain"
	OctetStream = "application/octet-stream"
)

// Window is how many leading bytes the content checks look at.
const Window = 4096

// maxContentTypes caps the size of [Content_Types].xml read from a zip.
const maxContentTypes = 1 << 20

// mainPartTypes maps the content type of an OOXML main part, as listed in
// [Content_Types].xml, to the media type of the package.
var mainPartTypes = map[string]string{
	"application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml":   DOCX,
	"application/vnd.ms-word.document.macroenabled.main+xml":                             DOCM,
	"application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml":         XLSX,
	"application/vnd.ms-excel.sheet.macroenabled.main+xml":                               XLSM,
	"application/vnd.openxmlformats-officedocument.presentationml.presentation.main+xml": PPTX,
}

// Sniff returns the media type of the size bytes readable from ra. It only
// fails when reading fails.
func Sniff(ra io.ReaderAt, size int64) (string, error) {
	head := make([]byte, min(size, Window))
	n, err := ra.ReadAt(head, 0)
	if err != nil && !errors.Is(err, io.EOF) {
		return "", err
	}
	head = head[:n]

	if bytes.HasPrefix(head, []byte("PK\x03\x04")) || bytes.HasPrefix(head, []byte("PK\x05\x06")) {
		return sniffZip(ra, size), nil
	}
	return sniffHead(head, int64(n) < size), nil
}

// SniffBytes is Sniff for content already in memory.
func SniffBytes(b []byte) string {
	t, _ := Sniff(bytes.NewReader(b), int64(len(b)))
	return t
}

func sniffHead(head []byte, truncated bool) string {
	switch {
	case bytes.HasPrefix(head, []byte("\x89PNG\r\n\x1a\n")):
		return PNG
	case bytes.HasPrefix(head, []byte{0xff, 0xd8, 0xff}):
		return JPEG
	case bytes.HasPrefix(head, []byte("GIF87a")), bytes.HasPrefix(head, []byte("GIF89a")):
		return GIF
	case bytes.HasPrefix(head, []byte("%PDF-")):
		return PDF
	}

	if !isText(head, truncated) {
		return OctetStream
	}

	body := bytes.TrimPrefix(head, []byte("\xef\xbb\xbf"))
	body = bytes.TrimLeft(body, " \t\r\n\f")
	lower := bytes.ToLower(body[:min(len(body), 512)])

	switch {
	case isHTML(lower):
		return HTML
	case bytes.HasPrefix(lower, []byte("<?xml")), bytes.HasPrefix(lower, []byte("<svg")):
		return sniffXML(body)
	case len(body) > 0 && (body[0] == '{' || body[0] == '['):
		if looksJSON(body) {
			return JSON
		}
	}
	if looksTOML(body, truncated) {
		return TOML
	}
	if looksYAML(body) {
		return YAML
	}
	return Text
}

// htmlPrefixes are the lowercased tags that open an HTML document, after
// the HTML standard's sniffing table.
var htmlPrefixes = []string{
	"<!doctype html", "<html", "<head", "<body", "<script", "<iframe", "<h1", "<div",
	"<font", "<table", "<a", "<style", "<title", "<b", "<br", "<p", "<!--",
}

func isHTML(lower []byte) bool {
	for _, p := range htmlPrefixes {
		if !bytes.HasPrefix(lower, []byte(p)) {
			continue
		}
		// The tag name must end here: "<a" must not match "<abbr" or "<article".
		if len(lower) == len(p) {
			return true
		}
		switch c := lower[len(p)]; {
		case c == ' ', c == '>', c == '\t', c == '\n', c == '\r', c == '\f':
			return true
		case p == "<!--":
			return true
		}
	}
	return false
}

// sniffXML tells SVG and XHTML apart from other XML by the first element.
func sniffXML(body []byte) string {
	d := xml.NewDecoder(bytes.NewReader(body))
	d.Strict = false
	for range 64 {
		tok, err := d.Token()
		if err != nil {
			return XML
		}
		switch el := tok.(type) {
		case xml.StartElement:
			switch strings.ToLower(el.Name.Local) {
			case "svg":
				return SVG
			case "html":
				return XHTML
			}
			return XML
		case xml.Directive:
			if bytes.HasPrefix(bytes.ToLower(el), []byte("doctype svg")) {
				return SVG
			}
		}
	}
	return XML
}

// isText reports whether head is UTF-8 without control characters other
// than tab, line feed, form feed and carriage return. A multi-byte
// sequence cut off at the end of a truncated window still counts as text.
func isText(head []byte, truncated bool) bool {
	if len(head) == 0 {
		return true
	}
	if truncated {
		head = trimPartialRune(head)
	}
	if !utf8.Valid(head) {
		return false
	}
	for _, c := range head {
		if c < 0x20 && c != '\t' && c != '\n' && c != '\r' && c != '\f' {
			return false
		}
		if c == 0x7f {
			return false
		}
	}
	return true
}

// trimPartialRune drops an incomplete UTF-8 sequence at the end of b.
func trimPartialRune(b []byte) []byte {
	for i := 1; i <= utf8.UTFMax && i <= len(b); i++ {
		c := b[len(b)-i]
		if c < 0x80 {
			return b
		}
		if utf8.RuneStart(c) {
			if !utf8.FullRune(b[len(b)-i:]) {
				return b[:len(b)-i]
			}
			return b
		}
	}
	return b
}

// looksJSON reports whether body is JSON or a prefix of it.
func looksJSON(body []byte) bool {
	d := json.NewDecoder(bytes.NewReader(body))
	tokens := 0
	for {
		_, err := d.Token()
		if err == nil {
			tokens++
			continue
		}
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return tokens > 0
		}
		// A string or number cut off by the window also ends here.
		var syn *json.SyntaxError
		if errors.As(err, &syn) && syn.Offset >= int64(len(body)) {
			return tokens > 0
		}
		return false
	}
}

func sniffZip(ra io.ReaderAt, size int64) string {
	lim := ziprw.DefaultLimits
	lim.MaxEntry = maxContentTypes
	a, err := ziprw.Open(ra, size, lim)
	if err != nil {
		return Zip
	}
	name, ok := a.Lookup("[Content_Types].xml")
	if !ok {
		return Zip
	}
	data, err := a.Read(name)
	if err != nil {
		return Zip
	}

	d := xml.NewDecoder(bytes.NewReader(data))
	for {
		tok, err := d.Token()
		if err != nil {
			return Zip
		}
		el, ok := tok.(xml.StartElement)
		if !ok || el.Name.Local != "Override" {
			continue
		}
		for _, attr := range el.Attr {
			if attr.Name.Local != "ContentType" {
				continue
			}
			if t, ok := mainPartTypes[strings.ToLower(strings.TrimSpace(attr.Value))]; ok {
				return t
			}
		}
	}
}
