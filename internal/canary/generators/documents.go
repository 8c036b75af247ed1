package generators

import (
	"archive/zip"
	"bytes"
	"compress/zlib"
	"crypto/sha256"
	"encoding/xml"
	"fmt"
	"strings"
	"time"

	"github.com/decnet/decnet/internal/canary/artifact"
	"github.com/decnet/decnet/internal/canary/instrumenters"
	"github.com/decnet/decnet/internal/canary/pdf"
)

// docxReport builds a Word report from a built-in template and runs the
// docx instrumenter on it.
type docxReport struct{}

func (docxReport) Name() string           { return "honeydoc_docx" }
func (docxReport) Kinds() []artifact.Kind { return []artifact.Kind{artifact.KindHTTP} }

func (docxReport) Generate(tc artifact.Context) (artifact.Artifact, error) {
	r := newReport(tc)
	base, err := buildZip(r.Date, docxParts(r, tc))
	if err != nil {
		return artifact.Artifact{}, err
	}
	return instrumentTemplate("docx", tc, base, 21, "Word report \""+r.Title+"\" by "+r.Author)
}

// xlsxReport builds an Excel workbook and runs the xlsx instrumenter.
type xlsxReport struct{}

func (xlsxReport) Name() string           { return "honeydoc_xlsx" }
func (xlsxReport) Kinds() []artifact.Kind { return []artifact.Kind{artifact.KindHTTP} }

func (xlsxReport) Generate(tc artifact.Context) (artifact.Artifact, error) {
	r := newReport(tc)
	base, err := buildZip(r.Date, xlsxParts(r, tc))
	if err != nil {
		return artifact.Artifact{}, err
	}
	return instrumentTemplate("xlsx", tc, base, 21, "Excel workbook \""+r.Title+"\" by "+r.Author)
}

// pdfReport builds a one-page PDF and runs the pdf instrumenter.
type pdfReport struct{}

func (pdfReport) Name() string { return "honeydoc_pdf" }
func (pdfReport) Kinds() []artifact.Kind {
	return []artifact.Kind{artifact.KindHTTP, artifact.KindDNS}
}

func (pdfReport) Generate(tc artifact.Context) (artifact.Artifact, error) {
	r := newReport(tc)
	base, err := buildPDF(r, tc)
	if err != nil {
		return artifact.Artifact{}, err
	}
	return instrumentTemplate("pdf", tc, base, 21, "PDF report \""+r.Title+"\" by "+r.Author)
}

func instrumentTemplate(name string, tc artifact.Context, base []byte, ageDays int, what string) (artifact.Artifact, error) {
	in, err := instrumenters.Get(name)
	if err != nil {
		return artifact.Artifact{}, err
	}
	a, err := instrumenters.Bytes(in, tc, base)
	if err != nil {
		return artifact.Artifact{}, err
	}
	a.Instrumenter = ""
	a.MtimeOffset = -artifact.Days(ageDays)
	a.Notes.What = what + "; " + a.Notes.What[strings.Index(a.Notes.What, "with"):]
	switch name {
	case "docx":
		a.MIME = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
	case "xlsx":
		a.MIME = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
	case "pdf":
		a.MIME = "application/pdf"
	}
	return a, nil
}

type part struct {
	name string
	data string
}

// buildZip writes parts in order with a fixed modification time, so the
// archive bytes depend only on the content.
func buildZip(modified time.Time, parts []part) ([]byte, error) {
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for _, p := range parts {
		w, err := zw.CreateHeader(&zip.FileHeader{Name: p.name, Method: zip.Deflate, Modified: modified})
		if err != nil {
			return nil, fmt.Errorf("build template: %w", err)
		}
		if _, err := w.Write([]byte(p.data)); err != nil {
			return nil, fmt.Errorf("build template: %w", err)
		}
	}
	if err := zw.Close(); err != nil {
		return nil, fmt.Errorf("build template: %w", err)
	}
	return buf.Bytes(), nil
}

func esc(s string) string {
	var b bytes.Buffer
	_ = xml.EscapeText(&b, []byte(s))
	return b.String()
}

const xmlHeader = `<?xml version="1.0" encoding="UTF-8" standalone="yes"?>` + "\n"

func coreProps(r report) string {
	return xmlHeader + `<cp:coreProperties xmlns:cp="http://schemas.openxmlformats.org/package/2006/metadata/core-properties" xmlns:dc="http://purl.org/dc/elements/1.1/" xmlns:dcterms="http://purl.org/dc/terms/" xmlns:dcmitype="http://purl.org/dc/dcmitype/" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">` +
		`<dc:title>` + esc(r.Title) + `</dc:title><dc:creator>` + esc(r.Author) + `</dc:creator>` +
		`<cp:lastModifiedBy>` + esc(r.Editor) + `</cp:lastModifiedBy><cp:revision>` + fmt.Sprint(2+r.Date.Day()%9) + `</cp:revision>` +
		`<dcterms:created xsi:type="dcterms:W3CDTF">` + r.Created.Format(time.RFC3339) + `</dcterms:created>` +
		`<dcterms:modified xsi:type="dcterms:W3CDTF">` + r.Date.Format(time.RFC3339) + `</dcterms:modified></cp:coreProperties>`
}

func appProps(r report, application string) string {
	return xmlHeader + `<Properties xmlns="http://schemas.openxmlformats.org/officeDocument/2006/extended-properties" xmlns:vt="http://schemas.openxmlformats.org/officeDocument/2006/docPropsVTypes">` +
		`<Application>` + application + `</Application><DocSecurity>0</DocSecurity><ScaleCrop>false</ScaleCrop>` +
		`<Company>` + esc(r.Company) + `</Company><LinksUpToDate>false</LinksUpToDate><SharedDoc>false</SharedDoc>` +
		`<HyperlinksChanged>false</HyperlinksChanged><AppVersion>16.0000</AppVersion></Properties>`
}

const packageRels = xmlHeader + `<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">` +
	`<Relationship Id="rId3" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/extended-properties" Target="docProps/app.xml"/>` +
	`<Relationship Id="rId2" Type="http://schemas.openxmlformats.org/package/2006/relationships/metadata/core-properties" Target="docProps/core.xml"/>` +
	`<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" Target="%s"/></Relationships>`

func docxParts(r report, tc artifact.Context) []part {
	const w = `xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main" xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships"`
	para := func(style, text string) string {
		p := `<w:p>`
		if style != "" {
			p += `<w:pPr><w:pStyle w:val="` + style + `"/></w:pPr>`
		}
		return p + `<w:r><w:t xml:space="preserve">` + esc(text) + `</w:t></w:r></w:p>`
	}
	cell := func(text string, bold bool) string {
		rpr := ""
		if bold {
			rpr = `<w:rPr><w:b/></w:rPr>`
		}
		return `<w:tc><w:tcPr><w:tcW w:w="2160" w:type="dxa"/></w:tcPr><w:p><w:r>` + rpr + `<w:t>` + esc(text) + `</w:t></w:r></w:p></w:tc>`
	}

	var body strings.Builder
	body.WriteString(para("Title", r.Title))
	body.WriteString(para("Subtitle", r.Company+", "+r.Date.Format("2 January 2006")+". "+r.Status))
	for _, p := range r.Paragraphs {
		body.WriteString(para("", p))
	}
	body.WriteString(`<w:tbl><w:tblPr><w:tblStyle w:val="TableGrid"/><w:tblW w:w="0" w:type="auto"/></w:tblPr><w:tblGrid>`)
	for range r.Header {
		body.WriteString(`<w:gridCol w:w="2160"/>`)
	}
	body.WriteString(`</w:tblGrid><w:tr>`)
	for _, h := range r.Header {
		body.WriteString(cell(h, true))
	}
	body.WriteString(`</w:tr>`)
	for _, row := range r.Rows {
		body.WriteString(`<w:tr>`)
		for _, c := range row {
			body.WriteString(cell(c, false))
		}
		body.WriteString(`</w:tr>`)
	}
	body.WriteString(`</w:tbl>`)
	body.WriteString(para("", "Questions and corrections: "+r.Contact))

	pageSize := `<w:pgSz w:w="12240" w:h="15840"/>`
	if number(tc, "page-size", 2) == 1 {
		pageSize = `<w:pgSz w:w="11906" w:h="16838"/>`
	}
	document := xmlHeader + `<w:document ` + w + `><w:body>` + body.String() +
		`<w:sectPr>` + pageSize + `<w:pgMar w:top="1440" w:right="1440" w:bottom="1440" w:left="1440" w:header="708" w:footer="708" w:gutter="0"/><w:cols w:space="708"/></w:sectPr>` +
		`</w:body></w:document>`

	styles := xmlHeader + `<w:styles ` + w + `>` +
		`<w:docDefaults><w:rPrDefault><w:rPr><w:rFonts w:ascii="Calibri" w:hAnsi="Calibri" w:cs="Calibri"/><w:sz w:val="22"/><w:lang w:val="en-US"/></w:rPr></w:rPrDefault><w:pPrDefault><w:pPr><w:spacing w:after="160" w:line="259" w:lineRule="auto"/></w:pPr></w:pPrDefault></w:docDefaults>` +
		`<w:style w:type="paragraph" w:default="1" w:styleId="Normal"><w:name w:val="Normal"/><w:qFormat/></w:style>` +
		`<w:style w:type="paragraph" w:styleId="Title"><w:name w:val="Title"/><w:basedOn w:val="Normal"/><w:next w:val="Normal"/><w:qFormat/><w:rPr><w:sz w:val="48"/></w:rPr></w:style>` +
		`<w:style w:type="paragraph" w:styleId="Subtitle"><w:name w:val="Subtitle"/><w:basedOn w:val="Normal"/><w:next w:val="Normal"/><w:qFormat/><w:rPr><w:i/><w:color w:val="595959"/></w:rPr></w:style>` +
		`<w:style w:type="table" w:default="1" w:styleId="TableNormal"><w:name w:val="Normal Table"/><w:tblPr><w:tblInd w:w="0" w:type="dxa"/><w:tblCellMar><w:top w:w="0" w:type="dxa"/><w:left w:w="108" w:type="dxa"/><w:bottom w:w="0" w:type="dxa"/><w:right w:w="108" w:type="dxa"/></w:tblCellMar></w:tblPr></w:style>` +
		`<w:style w:type="table" w:styleId="TableGrid"><w:name w:val="Table Grid"/><w:basedOn w:val="TableNormal"/><w:tblPr><w:tblBorders><w:top w:val="single" w:sz="4" w:space="0" w:color="auto"/><w:left w:val="single" w:sz="4" w:space="0" w:color="auto"/><w:bottom w:val="single" w:sz="4" w:space="0" w:color="auto"/><w:right w:val="single" w:sz="4" w:space="0" w:color="auto"/><w:insideH w:val="single" w:sz="4" w:space="0" w:color="auto"/><w:insideV w:val="single" w:sz="4" w:space="0" w:color="auto"/></w:tblBorders></w:tblPr></w:style>` +
		`</w:styles>`

	settings := xmlHeader + `<w:settings ` + w + `><w:defaultTabStop w:val="720"/><w:characterSpacingControl w:val="doNotCompress"/><w:compat><w:compatSetting w:name="compatibilityMode" w:uri="http://schemas.microsoft.com/office/word" w:val="15"/></w:compat></w:settings>`

	docRels := xmlHeader + `<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">` +
		`<Relationship Id="rId2" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/settings" Target="settings.xml"/>` +
		`<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/styles" Target="styles.xml"/></Relationships>`

	contentTypes := xmlHeader + `<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">` +
		`<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/><Default Extension="xml" ContentType="application/xml"/>` +
		`<Override PartName="/word/document.xml" ContentType="application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml"/>` +
		`<Override PartName="/word/styles.xml" ContentType="application/vnd.openxmlformats-officedocument.wordprocessingml.styles+xml"/>` +
		`<Override PartName="/word/settings.xml" ContentType="application/vnd.openxmlformats-officedocument.wordprocessingml.settings+xml"/>` +
		`<Override PartName="/docProps/core.xml" ContentType="application/vnd.openxmlformats-package.core-properties+xml"/>` +
		`<Override PartName="/docProps/app.xml" ContentType="application/vnd.openxmlformats-officedocument.extended-properties+xml"/></Types>`

	return []part{
		{"[Content_Types].xml", contentTypes},
		{"_rels/.rels", fmt.Sprintf(packageRels, "word/document.xml")},
		{"word/document.xml", document},
		{"word/_rels/document.xml.rels", docRels},
		{"word/styles.xml", styles},
		{"word/settings.xml", settings},
		{"docProps/core.xml", coreProps(r)},
		{"docProps/app.xml", appProps(r, "Microsoft Office Word")},
	}
}

func xlsxParts(r report, tc artifact.Context) []part {
	cellRef := func(col, row int) string { return fmt.Sprintf("%c%d", 'A'+col, row) }
	var rows strings.Builder
	rowNum := 1
	fmt.Fprintf(&rows, `<row r="%d"><c r="A%d" t="inlineStr" s="1"><is><t>%s</t></is></c></row>`, rowNum, rowNum, esc(r.Title))
	rowNum += 2
	fmt.Fprintf(&rows, `<row r="%d">`, rowNum)
	for i, h := range r.Header {
		fmt.Fprintf(&rows, `<c r="%s" t="inlineStr" s="1"><is><t>%s</t></is></c>`, cellRef(i, rowNum), esc(h))
	}
	rows.WriteString(`</row>`)
	for _, row := range r.Rows {
		rowNum++
		fmt.Fprintf(&rows, `<row r="%d">`, rowNum)
		for i, c := range row {
			if i == 0 {
				fmt.Fprintf(&rows, `<c r="%s" t="inlineStr"><is><t>%s</t></is></c>`, cellRef(i, rowNum), esc(c))
				continue
			}
			fmt.Fprintf(&rows, `<c r="%s"><v>%s</v></c>`, cellRef(i, rowNum), c)
		}
		rows.WriteString(`</row>`)
	}
	last := rowNum

	sheet := xmlHeader + `<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships">` +
		fmt.Sprintf(`<dimension ref="A1:D%d"/>`, last) +
		`<sheetViews><sheetView workbookViewId="0"/></sheetViews><sheetFormatPr defaultRowHeight="15"/>` +
		`<cols><col min="1" max="1" width="18" customWidth="1"/><col min="2" max="4" width="12" customWidth="1"/></cols>` +
		`<sheetData>` + rows.String() + `</sheetData>` +
		`<pageMargins left="0.7" right="0.7" top="0.75" bottom="0.75" header="0.3" footer="0.3"/></worksheet>`

	sheetName := pick(tc, "sheet-name", []string{"Summary", "Q-Review", "Regions", "Overview"})
	workbook := xmlHeader + `<workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships">` +
		`<bookViews><workbookView xWindow="0" yWindow="0" windowWidth="28800" windowHeight="12300"/></bookViews>` +
		`<sheets><sheet name="` + sheetName + `" sheetId="1" r:id="rId1"/></sheets></workbook>`

	styles := xmlHeader + `<styleSheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">` +
		`<fonts count="2"><font><sz val="11"/><name val="Calibri"/><family val="2"/></font><font><b/><sz val="11"/><name val="Calibri"/><family val="2"/></font></fonts>` +
		`<fills count="2"><fill><patternFill patternType="none"/></fill><fill><patternFill patternType="gray125"/></fill></fills>` +
		`<borders count="1"><border><left/><right/><top/><bottom/><diagonal/></border></borders>` +
		`<cellStyleXfs count="1"><xf numFmtId="0" fontId="0" fillId="0" borderId="0"/></cellStyleXfs>` +
		`<cellXfs count="2"><xf numFmtId="0" fontId="0" fillId="0" borderId="0" xfId="0"/><xf numFmtId="0" fontId="1" fillId="0" borderId="0" xfId="0" applyFont="1"/></cellXfs>` +
		`<cellStyles count="1"><cellStyle name="Normal" xfId="0" builtinId="0"/></cellStyles></styleSheet>`

	wbRels := xmlHeader + `<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">` +
		`<Relationship Id="rId2" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/styles" Target="styles.xml"/>` +
		`<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet" Target="worksheets/sheet1.xml"/></Relationships>`

	contentTypes := xmlHeader + `<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">` +
		`<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/><Default Extension="xml" ContentType="application/xml"/>` +
		`<Override PartName="/xl/workbook.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>` +
		`<Override PartName="/xl/worksheets/sheet1.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/>` +
		`<Override PartName="/xl/styles.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.styles+xml"/>` +
		`<Override PartName="/docProps/core.xml" ContentType="application/vnd.openxmlformats-package.core-properties+xml"/>` +
		`<Override PartName="/docProps/app.xml" ContentType="application/vnd.openxmlformats-officedocument.extended-properties+xml"/></Types>`

	return []part{
		{"[Content_Types].xml", contentTypes},
		{"_rels/.rels", fmt.Sprintf(packageRels, "xl/workbook.xml")},
		{"xl/workbook.xml", workbook},
		{"xl/_rels/workbook.xml.rels", wbRels},
		{"xl/worksheets/sheet1.xml", sheet},
		{"xl/styles.xml", styles},
		{"docProps/core.xml", coreProps(r)},
		{"docProps/app.xml", appProps(r, "Microsoft Excel")},
	}
}

// pdfProducers are producer strings of common office exporters.
var pdfProducers = [][2]string{
	{"Microsoft\xae Word for Microsoft 365", "Microsoft\xae Word for Microsoft 365"},
	{"Writer", "LibreOffice 7.6"},
	{"Microsoft\xae Word 2019", "Microsoft\xae Word 2019"},
}

func pdfDate(t time.Time) string { return "D:" + t.Format("20060102150405") + "Z" }

func buildPDF(r report, tc artifact.Context) ([]byte, error) {
	var content strings.Builder
	content.WriteString("BT\n/F2 18 Tf\n72 730 Td\n" + pdf.LiteralString(r.Title) + " Tj\n")
	content.WriteString("/F1 10 Tf\n0 -20 Td\n" + pdf.LiteralString(r.Company+", "+r.Date.Format("2 January 2006")+". "+r.Status) + " Tj\n/F1 11 Tf\n")
	for _, p := range r.Paragraphs {
		for _, line := range wrap(p, 90) {
			content.WriteString("0 -16 Td\n" + pdf.LiteralString(line) + " Tj\n")
		}
		content.WriteString("0 -8 Td\n")
	}
	content.WriteString("/F2 11 Tf\n0 -16 Td\n" + pdf.LiteralString(fmt.Sprintf("%-14s%-12s%-12s%s", r.Header[0], r.Header[1], r.Header[2], r.Header[3])) + " Tj\n/F1 11 Tf\n")
	for _, row := range r.Rows {
		content.WriteString("0 -16 Td\n" + pdf.LiteralString(fmt.Sprintf("%-16s%-14s%-14s%s", row[0], row[1], row[2], row[3])) + " Tj\n")
	}
	content.WriteString("0 -28 Td\n" + pdf.LiteralString("Questions and corrections: "+r.Contact) + " Tj\nET\n")

	var z bytes.Buffer
	zw := zlib.NewWriter(&z)
	zw.Write([]byte(content.String()))
	zw.Close()

	producer := pdfProducers[number(tc, "pdf-producer", len(pdfProducers))]
	font := func(base string) pdf.Dict {
		return pdf.Dict{"Type": pdf.Name("Font"), "Subtype": pdf.Name("Type1"), "BaseFont": pdf.Name(base), "Encoding": pdf.Name("WinAnsiEncoding")}
	}
	objs := []pdf.Object{
		pdf.Dict{"Type": pdf.Name("Catalog"), "Pages": pdf.Ref{Num: 2}, "Lang": pdf.String("en-US")},
		pdf.Dict{"Type": pdf.Name("Pages"), "Kids": pdf.Array{pdf.Ref{Num: 3}}, "Count": pdf.Integer(1)},
		pdf.Dict{
			"Type": pdf.Name("Page"), "Parent": pdf.Ref{Num: 2},
			"MediaBox":  pdf.Array{pdf.Integer(0), pdf.Integer(0), pdf.Integer(612), pdf.Integer(792)},
			"Resources": pdf.Dict{"Font": pdf.Dict{"F1": pdf.Ref{Num: 4}, "F2": pdf.Ref{Num: 5}}},
			"Contents":  pdf.Ref{Num: 6},
		},
		font("Helvetica"),
		font("Helvetica-Bold"),
		&pdf.StreamData{Dict: pdf.Dict{"Filter": pdf.Name("FlateDecode")}, Data: z.Bytes()},
		pdf.Dict{
			"Title": pdf.String(r.Title), "Author": pdf.String(r.Author),
			"Creator": pdf.String(producer[0]), "Producer": pdf.String(producer[1]),
			"CreationDate": pdf.String(pdfDate(r.Created)), "ModDate": pdf.String(pdfDate(r.Date)),
		},
	}

	id := sha256.Sum256(derive(tc, "pdf-id"))
	var buf bytes.Buffer
	if err := pdf.Build(&buf, objs, 1, 7, id[:16]); err != nil {
		return nil, fmt.Errorf("build template: %w", err)
	}
	return buf.Bytes(), nil
}

// wrap splits text into lines of at most width characters at spaces.
func wrap(text string, width int) []string {
	var lines []string
	line := ""
	for _, word := range strings.Fields(text) {
		if line != "" && len(line)+1+len(word) > width {
			lines = append(lines, line)
			line = word
			continue
		}
		if line != "" {
			line += " "
		}
		line += word
	}
	return append(lines, line)
}
