package pdf

import (
	"bytes"
	"errors"
	"testing"

	"github.com/decnet/decnet/internal/canary/canarytest"
)

func TestOpenBothXrefStyles(t *testing.T) {
	for name, data := range map[string][]byte{
		"classic":    canarytest.PDFClassic(0),
		"xrefstream": canarytest.PDFXrefStream(0),
	} {
		r, err := Open(bytes.NewReader(data), int64(len(data)))
		if err != nil {
			t.Fatalf("Open(%s) error: %v", name, err)
		}
		if r.XrefIsStream() != (name == "xrefstream") {
			t.Errorf("Open(%s).XrefIsStream() = %v", name, r.XrefIsStream())
		}
		ref, cat, err := r.Catalog()
		if err != nil || ref.Num != 1 {
			t.Fatalf("Catalog(%s) = %v, %v", name, ref, err)
		}
		pageRef, page, err := r.FirstPage(cat)
		if err != nil || pageRef.Num != 3 {
			t.Fatalf("FirstPage(%s) = %v, %v", name, pageRef, err)
		}
		if mb, _ := page["MediaBox"].(Array); len(mb) != 4 {
			t.Errorf("FirstPage(%s) MediaBox = %v", name, page["MediaBox"])
		}
	}
}

func TestUpdateRoundTrip(t *testing.T) {
	for name, data := range map[string][]byte{
		"classic":    canarytest.PDFClassic(0),
		"xrefstream": canarytest.PDFXrefStream(0),
	} {
		r, _ := Open(bytes.NewReader(data), int64(len(data)))
		ref, cat, _ := r.Catalog()
		cat = cat.Clone()
		cat["Lang"] = String("en (GB)")
		var out bytes.Buffer
		if _, err := r.WriteUpdate(&out, Update{Objects: map[Ref]Object{ref: cat}, ID: []byte("0123456789abcdef")}); err != nil {
			t.Fatalf("WriteUpdate(%s) error: %v", name, err)
		}

		r2, err := Open(bytes.NewReader(out.Bytes()), int64(out.Len()))
		if err != nil {
			t.Fatalf("reopen %s after update: %v", name, err)
		}
		_, cat2, err := r2.Catalog()
		if err != nil {
			t.Fatal(err)
		}
		if s, _ := cat2["Lang"].(String); string(s) != "en (GB)" {
			t.Errorf("%s: updated catalog /Lang = %v", name, cat2["Lang"])
		}
		if _, _, err := r2.FirstPage(cat2); err != nil {
			t.Errorf("%s: first page lost after update: %v", name, err)
		}
		id, _ := r2.Trailer()["ID"].(Array)
		if len(id) != 2 || string(id[1].(String)) != "0123456789abcdef" {
			t.Errorf("%s: /ID = %v", name, id)
		}
	}
}

func TestOpenRejects(t *testing.T) {
	classic := canarytest.PDFClassic(0)
	loop := bytes.Replace(classic, []byte("/Root 1 0 R"), []byte("/Root 1 0 R /Prev 9"), 1)
	tests := []struct {
		name string
		data []byte
		want error
	}{
		{"not pdf", []byte("hello"), ErrNotPDF},
		{"encrypted", canarytest.PDFEncrypted(), ErrEncrypted},
		{"no startxref", classic[:len(classic)-30], errSyntax},
		{"bad prev", loop, errSyntax},
		{"truncated", classic[:100], errSyntax},
	}
	for _, tt := range tests {
		_, err := Open(bytes.NewReader(tt.data), int64(len(tt.data)))
		if !errors.Is(err, tt.want) {
			t.Errorf("Open(%s) error = %v, want %v", tt.name, err, tt.want)
		}
	}
}

func TestLexerObjects(t *testing.T) {
	src := `<< /A (a\(b\)\n\101) /B <414 2> /C [1 2 0 R -3.5 true null /N#20x] /D << /E 7 >> >>`
	l := newLexer(bytes.NewReader([]byte(src)), 0)
	o, err := l.object(0)
	if err != nil {
		t.Fatalf("object() error: %v", err)
	}
	d := o.(Dict)
	if s := string(d["A"].(String)); s != "a(b)\nA" {
		t.Errorf("/A = %q", s)
	}
	if s := string(d["B"].(String)); s != "AB" {
		t.Errorf("/B = %q", s)
	}
	arr := d["C"].(Array)
	if arr[1] != (Ref{Num: 2}) || arr[2] != Real("-3.5") || arr[5] != Name("N x") {
		t.Errorf("/C = %#v", arr)
	}

	var b bytes.Buffer
	if err := appendObject(&b, o); err != nil {
		t.Fatal(err)
	}
	again, err := newLexer(bytes.NewReader(b.Bytes()), 0).object(0)
	if err != nil {
		t.Fatalf("reparse %q: %v", b.String(), err)
	}
	var b2 bytes.Buffer
	_ = appendObject(&b2, again)
	if b.String() != b2.String() {
		t.Errorf("serialization not stable:\n%s\n%s", b.String(), b2.String())
	}
}

func TestDeepNestingRejected(t *testing.T) {
	src := bytes.Repeat([]byte("["), 1000)
	if _, err := newLexer(bytes.NewReader(src), 0).object(0); !errors.Is(err, errSyntax) {
		t.Errorf("object(1000 nested arrays) error = %v, want a syntax error", err)
	}
}

func FuzzOpen(f *testing.F) {
	f.Add(canarytest.PDFClassic(0))
	f.Add(canarytest.PDFXrefStream(0))
	f.Add(canarytest.PDFEncrypted())
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := Open(bytes.NewReader(data), int64(len(data)))
		if err != nil {
			return
		}
		ref, cat, err := r.Catalog()
		if err != nil {
			return
		}
		pageRef, page, err := r.FirstPage(cat)
		if err != nil {
			return
		}
		cat = cat.Clone()
		cat["OpenAction"] = Dict{"S": Name("URI"), "URI": String("http://127.0.0.1/")}
		var out bytes.Buffer
		if _, err := r.WriteUpdate(&out, Update{Objects: map[Ref]Object{ref: cat, pageRef: page}, ID: []byte("x")}); err != nil {
			t.Fatalf("WriteUpdate after a successful Open: %v", err)
		}
		if !bytes.HasPrefix(out.Bytes(), data) {
			t.Fatalf("update changed the original bytes")
		}
	})
}
