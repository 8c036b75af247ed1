package pdf

import (
	"bytes"
	"fmt"
	"io"
)

// StreamData is a stream object to write: its dictionary (without
// /Length, which Build sets) and its already encoded data.
type StreamData struct {
	Dict Dict
	Data []byte
}

// Build writes a complete single-revision PDF with a classic xref table.
// objs[i] becomes object i+1; each is a direct object or *StreamData.
// root and info are object numbers (info 0 means none) and id becomes
// both elements of the trailer /ID.
func Build(w io.Writer, objs []Object, root, info int, id []byte) error {
	var b bytes.Buffer
	b.WriteString("%PDF-1.7\n%\xe2\xe3\xcf\xd3\n")

	offsets := make([]int, len(objs))
	for i, o := range objs {
		offsets[i] = b.Len()
		fmt.Fprintf(&b, "%d 0 obj\n", i+1)
		switch v := o.(type) {
		case *StreamData:
			d := v.Dict.Clone()
			d["Length"] = Integer(len(v.Data))
			if err := appendObject(&b, d); err != nil {
				return err
			}
			b.WriteString("\nstream\n")
			b.Write(v.Data)
			b.WriteString("\nendstream")
		default:
			if err := appendObject(&b, o); err != nil {
				return err
			}
		}
		b.WriteString("\nendobj\n")
	}

	xref := b.Len()
	fmt.Fprintf(&b, "xref\n0 %d\n0000000000 65535 f\r\n", len(objs)+1)
	for _, off := range offsets {
		fmt.Fprintf(&b, "%010d 00000 n\r\n", off)
	}
	trailer := Dict{"Size": Integer(len(objs) + 1), "Root": Ref{Num: root}, "ID": Array{String(id), String(id)}}
	if info > 0 {
		trailer["Info"] = Ref{Num: info}
	}
	b.WriteString("trailer\n")
	if err := appendObject(&b, trailer); err != nil {
		return err
	}
	fmt.Fprintf(&b, "\nstartxref\n%d\n%%%%EOF\n", xref)

	_, err := w.Write(b.Bytes())
	return err
}

// LiteralString returns s in PDF literal string syntax, for content
// streams.
func LiteralString(s string) string {
	var b bytes.Buffer
	appendString(&b, String(s))
	return b.String()
}
