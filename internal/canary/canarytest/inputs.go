// Package canarytest builds small sample files (images, OOXML packages,
// PDFs in both cross-reference styles) for the canary packages' tests,
// fuzz seeds and benchmarks.
package canarytest

import (
	"archive/zip"
	"bytes"
	"compress/zlib"
	"fmt"
	"image"
	"image/color"
	"image/gif"
	"image/jpeg"
	"image/png"
	"strings"
	"time"
)

func sampleImage() image.Image {
	img := image.NewRGBA(image.Rect(0, 0, 8, 8))
	for x := range 8 {
		for y := range 8 {
			img.Set(x, y, color.RGBA{uint8(x * 30), uint8(y * 30), 90, 255})
		}
	}
	return img
}

// PNG returns an 8×8 PNG.
func PNG() []byte {
	var b bytes.Buffer
	_ = png.Encode(&b, sampleImage())
	return b.Bytes()
}

// EXIFMarker is the string the JPEG from JPEG carries in its APP1
// segment, so tests can check the segment survives.
const EXIFMarker = "Exif\x00\x00MM\x00\x2a\x00\x00\x00\x08\x00\x00"

// JPEG returns an 8×8 JPEG with an APP1 (EXIF) segment after SOI.
func JPEG() []byte {
	var b bytes.Buffer
	_ = jpeg.Encode(&b, sampleImage(), &jpeg.Options{Quality: 90})
	raw := b.Bytes()
	app1 := []byte{0xff, 0xe1, 0, byte(2 + len(EXIFMarker))}
	app1 = append(app1, EXIFMarker...)
	out := append([]byte{}, raw[:2]...)
	out = append(out, app1...)
	return append(out, raw[2:]...)
}

// GIF returns an 8×8 GIF with a global color table.
func GIF() []byte {
	var b bytes.Buffer
	_ = gif.Encode(&b, sampleImage(), nil)
	return b.Bytes()
}

// Zip builds an archive from name/content pairs with a fixed time.
func Zip(parts ...string) []byte {
	var b bytes.Buffer
	zw := zip.NewWriter(&b)
	for i := 0; i+1 < len(parts); i += 2 {
		w, _ := zw.CreateHeader(&zip.FileHeader{Name: parts[i], Method: zip.Deflate, Modified: time.Date(2024, 5, 1, 9, 0, 0, 0, time.UTC)})
		_, _ = w.Write([]byte(parts[i+1]))
	}
	_ = zw.Close()
	return b.Bytes()
}

const rels = `<?xml version="1.0" encoding="UTF-8" standalone="yes"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">%s</Relationships>`

// DOCX returns a small Word document whose body ends with w:sectPr and
// already holds a drawing with docPr id 5. paragraphs sets the body size.
func DOCX(paragraphs int) []byte {
	var body strings.Builder
	for i := range paragraphs {
		fmt.Fprintf(&body, `<w:p><w:r><w:t>Paragraph %d of the sample document.</w:t></w:r></w:p>`, i)
	}
	doc := `<?xml version="1.0" encoding="UTF-8" standalone="yes"?>` +
		`<w:document xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main" xmlns:wp="http://schemas.openxmlformats.org/drawingml/2006/wordprocessingDrawing" xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships">` +
		`<w:body>` + body.String() +
		`<w:p><w:r><w:drawing><wp:inline><wp:extent cx="1" cy="1"/><wp:docPr id="5" name="Logo"/></wp:inline></w:drawing></w:r></w:p>` +
		`<w:sectPr><w:pgSz w:w="12240" w:h="15840"/></w:sectPr></w:body></w:document>`
	return Zip(
		"[Content_Types].xml", `<?xml version="1.0" encoding="UTF-8"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"><Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/><Default Extension="xml" ContentType="application/xml"/><Override PartName="/word/document.xml" ContentType="application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml"/></Types>`,
		"_rels/.rels", fmt.Sprintf(rels, `<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" Target="word/document.xml"/>`),
		"word/document.xml", doc,
		"word/_rels/document.xml.rels", fmt.Sprintf(rels, `<Relationship Id="rId7" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/styles" Target="styles.xml"/>`),
	)
}

// XLSX returns a small workbook whose first sheet has a tableParts
// element, which must stay after the new drawing element.
func XLSX() []byte {
	sheet := `<?xml version="1.0" encoding="UTF-8" standalone="yes"?>` +
		`<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships">` +
		`<sheetData><row r="1"><c r="A1" t="inlineStr"><is><t>Region</t></is></c><c r="B1"><v>42</v></c></row></sheetData>` +
		`<pageMargins left="0.7" right="0.7" top="0.75" bottom="0.75" header="0.3" footer="0.3"/><tableParts count="0"/></worksheet>`
	return Zip(
		"[Content_Types].xml", `<?xml version="1.0" encoding="UTF-8"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"><Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/><Default Extension="xml" ContentType="application/xml"/><Override PartName="/xl/workbook.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/><Override PartName="/xl/worksheets/sheet1.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/></Types>`,
		"_rels/.rels", fmt.Sprintf(rels, `<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" Target="xl/workbook.xml"/>`),
		"xl/workbook.xml", `<?xml version="1.0" encoding="UTF-8"?><workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships"><sheets><sheet name="Data" sheetId="1" r:id="rId1"/></sheets></workbook>`,
		"xl/_rels/workbook.xml.rels", fmt.Sprintf(rels, `<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet" Target="worksheets/sheet1.xml"/>`),
		"xl/worksheets/sheet1.xml", sheet,
	)
}

// pdfObjects is the body of the sample PDFs: catalog 1 (with an existing
// /OpenAction destination), page tree 2, page 3, content 4. padding adds
// that many bytes of content stream.
func pdfObjects(padding int) []string {
	content := "BT /F1 12 Tf 72 700 Td (Sample page) Tj ET\n" + strings.Repeat("% filler line for size\n", padding/23)
	return []string{
		"<< /Type /Catalog /Pages 2 0 R /OpenAction [3 0 R /Fit] >>",
		"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
		"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R /Resources << /Font << /F1 << /Type /Font /Subtype /Type1 /BaseFont /Helvetica >> >> >> >>",
		fmt.Sprintf("<< /Length %d >>\nstream\n%s\nendstream", len(content), content),
	}
}

// PDFClassic returns a one-page PDF with a classic xref table.
func PDFClassic(padding int) []byte {
	var b bytes.Buffer
	b.WriteString("%PDF-1.4\n")
	objs := pdfObjects(padding)
	offsets := make([]int, len(objs))
	for i, o := range objs {
		offsets[i] = b.Len()
		fmt.Fprintf(&b, "%d 0 obj\n%s\nendobj\n", i+1, o)
	}
	xref := b.Len()
	fmt.Fprintf(&b, "xref\n0 %d\n0000000000 65535 f \n", len(objs)+1)
	for _, off := range offsets {
		fmt.Fprintf(&b, "%010d 00000 n \n", off)
	}
	fmt.Fprintf(&b, "trailer\n<< /Size %d /Root 1 0 R /ID [<00112233445566778899aabbccddeeff> <00112233445566778899aabbccddeeff>] >>\nstartxref\n%d\n%%%%EOF", len(objs)+1, xref)
	return b.Bytes()
}

// PDFXrefStream returns the same document with the catalog, page tree and
// page inside a compressed object stream (object 5) and a compressed xref
// stream with a PNG Up predictor (object 6), as qpdf and Acrobat write.
func PDFXrefStream(padding int) []byte {
	objs := pdfObjects(padding)
	var b bytes.Buffer
	b.WriteString("%PDF-1.5\n")

	// Object stream holding objects 1-3.
	var header, body strings.Builder
	for i := range 3 {
		fmt.Fprintf(&header, "%d %d ", i+1, body.Len())
		body.WriteString(objs[i] + "\n")
	}
	first := header.Len()
	stm := deflate([]byte(header.String() + body.String()))

	off4 := b.Len()
	fmt.Fprintf(&b, "4 0 obj\n%s\nendobj\n", objs[3])
	off5 := b.Len()
	fmt.Fprintf(&b, "5 0 obj\n<< /Type /ObjStm /N 3 /First %d /Filter /FlateDecode /Length %d >>\nstream\n", first, len(stm))
	b.Write(stm)
	b.WriteString("\nendstream\nendobj\n")

	// Rows: type(1) offset(4) index(2), predicted with PNG Up.
	off6 := b.Len()
	rows := [][]byte{
		row(0, 0, 65535),
		row(2, 5, 0), row(2, 5, 1), row(2, 5, 2),
		row(1, uint32(off4), 0), row(1, uint32(off5), 0), row(1, uint32(off6), 0),
	}
	var pred []byte
	prev := make([]byte, 7)
	for _, r := range rows {
		pred = append(pred, 2)
		for i := range r {
			pred = append(pred, r[i]-prev[i])
		}
		prev = r
	}
	xs := deflate(pred)
	fmt.Fprintf(&b, "6 0 obj\n<< /Type /XRef /Size 7 /W [1 4 2] /Root 1 0 R /ID [<aabbccddeeff00112233445566778899> <aabbccddeeff00112233445566778899>] /Filter /FlateDecode /DecodeParms << /Columns 7 /Predictor 12 >> /Length %d >>\nstream\n", len(xs))
	b.Write(xs)
	fmt.Fprintf(&b, "\nendstream\nendobj\nstartxref\n%d\n%%%%EOF\n", off6)
	return b.Bytes()
}

func row(kind byte, a uint32, idx uint16) []byte {
	return []byte{kind, byte(a >> 24), byte(a >> 16), byte(a >> 8), byte(a), byte(idx >> 8), byte(idx)}
}

func deflate(p []byte) []byte {
	var b bytes.Buffer
	zw := zlib.NewWriter(&b)
	_, _ = zw.Write(p)
	_ = zw.Close()
	return b.Bytes()
}

// PDFEncrypted returns a PDF whose trailer has an /Encrypt entry.
func PDFEncrypted() []byte {
	p := PDFClassic(0)
	return bytes.Replace(p, []byte("/Root 1 0 R"), []byte("/Root 1 0 R /Encrypt << /Filter /Standard /V 2 /R 3 >>"), 1)
}
