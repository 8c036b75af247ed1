package instrumenters

import (
	"fmt"
	"io"
	"path"
	"strconv"

	"github.com/decnet/decnet/internal/canary/artifact"
	"github.com/decnet/decnet/internal/canary/ziprw"
)

// xlsx anchors a linked 1×1 picture in a drawing on the first worksheet.
// A relationship alone would be ignored by most viewers; a drawing that
// uses it makes them fetch the picture when the sheet is shown.
type xlsx struct{}

func (xlsx) Name() string { return "xlsx" }

// sheetAfterDrawing lists the CT_Worksheet children that the schema puts
// after <drawing>; the new element goes before the first of them.
var sheetAfterDrawing = map[string]bool{
	"legacyDrawing": true, "legacyDrawingHF": true, "drawingHF": true, "picture": true,
	"oleObjects": true, "controls": true, "webPublishItems": true, "tableParts": true, "extLst": true,
}

func (xlsx) Instrument(tc artifact.Context, src io.ReaderAt, size int64, w io.Writer) (artifact.Artifact, error) {
	a, err := ziprw.Open(src, size, ziprw.DefaultLimits)
	if err != nil {
		return artifact.Artifact{}, fmt.Errorf("xlsx: %w", err)
	}
	x := &xlsxEditor{a: a, edit: ziprw.Edit{Replace: map[string][]byte{}}, url: tc.CallbackURL()}
	if err := x.run(); err != nil {
		return artifact.Artifact{}, fmt.Errorf("xlsx: %w", err)
	}
	if err := a.Write(w, x.edit); err != nil {
		return artifact.Artifact{}, fmt.Errorf("xlsx: %w", err)
	}

	return artifact.Artifact{
		Instrumenter: "xlsx",
		Kind:         artifact.KindHTTP,
		Mode:         0o644,
		MtimeOffset:  -artifact.Days(14),
		Notes: artifact.Notes{
			What:    "the uploaded workbook with a linked 1x1 picture anchored at A1 of the first worksheet",
			Trips:   "opening the workbook in a spreadsheet program that loads linked pictures",
			Clients: []string{"Microsoft Excel (desktop; may show a security prompt first)", "LibreOffice Calc", "document preview and indexing services"},
			Details: x.details,
		},
	}, nil
}

type xlsxEditor struct {
	a       *ziprw.Archive
	edit    ziprw.Edit
	url     string
	details []string
}

func (x *xlsxEditor) read(part string) (string, []byte, bool, error) {
	name, ok := x.a.Lookup(part)
	if !ok {
		return part, nil, false, nil
	}
	data, err := x.a.Read(name)
	return name, data, true, err
}

func (x *xlsxEditor) readRels(part string) (string, *rels, bool, error) {
	name, data, ok, err := x.read(relsPath(part))
	if err != nil {
		return "", nil, false, err
	}
	if !ok {
		return name, emptyRels(), false, nil
	}
	r, err := parseRels(data)
	return name, r, true, err
}

// put records new content for an existing or new part.
func (x *xlsxEditor) put(name string, data []byte, exists bool, modified string) {
	if exists {
		x.edit.Replace[name] = data
		return
	}
	x.edit.Add = append(x.edit.Add, ziprw.Entry{Name: name, Data: data, Modified: x.a.Modified(modified)})
}

func (x *xlsxEditor) run() error {
	workbook, err := mainPart(x.a, "xl/workbook.xml")
	if err != nil {
		return err
	}
	sheet, err := x.firstWorksheet(workbook)
	if err != nil {
		return err
	}
	sheetName, sheetData, _, err := x.read(sheet)
	if err != nil {
		return err
	}
	sheetRelsName, sheetRels, haveSheetRels, err := x.readRels(sheetName)
	if err != nil {
		return err
	}

	var root, drawingEl, before element
	root, err = walkXML(sheetData, func(e element) {
		if e.Depth != 1 {
			return
		}
		if e.Name.Local == "drawing" {
			drawingEl = e
		}
		if sheetAfterDrawing[e.Name.Local] && before.End == 0 {
			before = e
		}
	})
	if err != nil {
		return fmt.Errorf("worksheet %s: %w", sheetName, err)
	}
	if root.Name.Space != nsSheetMain || root.Name.Local != "worksheet" {
		return artifact.Unsupported("worksheet %s has no transitional SpreadsheetML root", sheetName)
	}

	// A sheet holds at most one drawing: reuse it when present.
	if drawingEl.End != 0 {
		rel, ok := sheetRels.byID(drawingEl.attr(nsRel, "id"))
		if !ok {
			return artifact.Unsupported("worksheet %s names a drawing relationship that does not exist", sheetName)
		}
		return x.extendDrawing(resolveTarget(sheetName, rel.Target), sheetName)
	}

	drawing := x.freeDrawingName()
	rid := sheetRels.nextID()
	x.put(sheetRelsName, sheetRels.add(rid, relDrawing, relativeTarget(sheetName, drawing), false), haveSheetRels, sheetName)

	prefix := rawPrefix(sheetData, root.Start)
	name := "drawing"
	if prefix != "" {
		name = prefix + ":drawing"
	}
	frag := fmt.Sprintf(`<%s%s r:id="%s"/>`, name, xmlnsFor(root, map[string]string{"r": nsRel}), rid)
	if before.End != 0 {
		sheetData = insertAt(sheetData, before.Start, frag)
	} else {
		sheetData = appendChild(sheetData, root, frag)
	}
	x.edit.Replace[sheetName] = sheetData

	imgRels := emptyRels()
	imgRID := imgRels.nextID()
	x.put(relsPath(drawing), imgRels.add(imgRID, relImage, x.url, true), false, sheetName)
	x.put(drawing, []byte(newDrawingXML(imgRID)), false, sheetName)

	ct, ctName, err := parseContentTypes(x.a)
	if err != nil {
		return err
	}
	ct.addOverride(drawing, ctDrawing)
	ct.addDefault("rels", ctRels)
	x.edit.Replace[ctName] = ct.data

	x.details = append(x.details,
		fmt.Sprintf("new drawing %s on worksheet %s", drawing, sheetName),
		fmt.Sprintf("external image relationship %s -> %s", imgRID, x.url))
	return nil
}

// firstWorksheet returns the part of the first sheet in workbook order
// that is a worksheet (not a chartsheet).
func (x *xlsxEditor) firstWorksheet(workbook string) (string, error) {
	wbName, wbData, ok, err := x.read(workbook)
	if err != nil {
		return "", err
	}
	if !ok {
		return "", artifact.Unsupported("not an Excel workbook: %s is missing", workbook)
	}
	_, wbRels, ok, err := x.readRels(wbName)
	if err != nil {
		return "", err
	}
	if !ok {
		return "", artifact.Unsupported("workbook has no relationships part")
	}

	var sheetIDs []string
	if _, err := walkXML(wbData, func(e element) {
		if e.Name.Local == "sheet" && e.Depth == 2 {
			sheetIDs = append(sheetIDs, e.attr(nsRel, "id"))
		}
	}); err != nil {
		return "", fmt.Errorf("workbook: %w", err)
	}
	for _, id := range sheetIDs {
		if rel, ok := wbRels.byID(id); ok && rel.Type == relWorksheet {
			part := resolveTarget(wbName, rel.Target)
			if _, ok := x.a.Lookup(part); ok {
				return part, nil
			}
		}
	}
	return "", artifact.Unsupported("workbook has no worksheet")
}

// extendDrawing adds the picture to a drawing the sheet already has.
func (x *xlsxEditor) extendDrawing(drawing, sheetName string) error {
	name, data, ok, err := x.read(drawing)
	if err != nil {
		return err
	}
	if !ok {
		return artifact.Unsupported("drawing part %s is missing", drawing)
	}
	relsName, r, haveRels, err := x.readRels(name)
	if err != nil {
		return err
	}

	maxID := 1
	root, err := walkXML(data, func(e element) {
		if e.Name.Local == "cNvPr" {
			if v, err := strconv.Atoi(e.attr("", "id")); err == nil && v > maxID {
				maxID = v
			}
		}
	})
	if err != nil {
		return fmt.Errorf("drawing %s: %w", name, err)
	}
	if root.Name.Space != nsSheetDraw {
		return artifact.Unsupported("drawing %s is not a spreadsheet drawing", name)
	}

	rid := r.nextID()
	x.put(relsName, r.add(rid, relImage, x.url, true), haveRels, name)

	prefix := rawPrefix(data, root.Start)
	ns := map[string]string{"a": nsDrawing, "r": nsRel}
	if prefix == "" {
		prefix = "xdr"
	}
	ns[prefix] = nsSheetDraw
	anchor := pictureAnchor(prefix, xmlnsFor(root, ns), maxID+1, rid)
	x.edit.Replace[name] = appendChild(data, root, anchor)

	x.details = append(x.details,
		fmt.Sprintf("picture added to existing drawing %s of worksheet %s", name, sheetName),
		fmt.Sprintf("external image relationship %s -> %s", rid, x.url))
	return nil
}

// freeDrawingName returns xl/drawings/drawing<n>.xml for the lowest free n.
func (x *xlsxEditor) freeDrawingName() string {
	for n := 1; ; n++ {
		name := "xl/drawings/drawing" + strconv.Itoa(n) + ".xml"
		if _, taken := x.a.Lookup(name); !taken {
			return name
		}
	}
}

// relativeTarget returns the target of part as seen from source.
func relativeTarget(source, part string) string {
	from := path.Dir(source)
	up := ""
	for from != "." && from != "/" && !isUnder(part, from) {
		from = path.Dir(from)
		up += "../"
	}
	if from == "." || from == "/" {
		return up + part
	}
	return up + part[len(from)+1:]
}

func isUnder(part, dir string) bool {
	return len(part) > len(dir) && part[:len(dir)] == dir && part[len(dir)] == '/'
}

func pictureAnchor(p, xmlns string, id int, rid string) string {
	return fmt.Sprintf(`<%[1]s:oneCellAnchor%[2]s><%[1]s:from><%[1]s:col>0</%[1]s:col><%[1]s:colOff>0</%[1]s:colOff><%[1]s:row>0</%[1]s:row><%[1]s:rowOff>0</%[1]s:rowOff></%[1]s:from>`+
		`<%[1]s:ext cx="%[5]d" cy="%[5]d"/><%[1]s:pic><%[1]s:nvPicPr><%[1]s:cNvPr id="%[3]d" name="Picture %[3]d" descr=""/><%[1]s:cNvPicPr><a:picLocks noChangeAspect="1"/></%[1]s:cNvPicPr></%[1]s:nvPicPr>`+
		`<%[1]s:blipFill><a:blip r:link="%[4]s"/><a:stretch><a:fillRect/></a:stretch></%[1]s:blipFill>`+
		`<%[1]s:spPr><a:xfrm><a:off x="0" y="0"/><a:ext cx="%[5]d" cy="%[5]d"/></a:xfrm><a:prstGeom prst="rect"><a:avLst/></a:prstGeom></%[1]s:spPr></%[1]s:pic><%[1]s:clientData/></%[1]s:oneCellAnchor>`,
		p, xmlns, id, rid, pixelEMU)
}

func newDrawingXML(rid string) string {
	return `<?xml version="1.0" encoding="UTF-8" standalone="yes"?>` + "\n" +
		`<xdr:wsDr xmlns:xdr="` + nsSheetDraw + `" xmlns:a="` + nsDrawing + `" xmlns:r="` + nsRel + `">` +
		pictureAnchor("xdr", "", 2, rid) + `</xdr:wsDr>`
}
