package instrumenters

import (
	"fmt"
	"io"
	"strconv"

	"github.com/decnet/decnet/internal/canary/artifact"
	"github.com/decnet/decnet/internal/canary/ziprw"
)

// docx adds a linked (not embedded) 1×1 picture to a Word document. Word
// and LibreOffice fetch a linked picture's URL when they render the page.
type docx struct{}

func (docx) Name() string { return "docx" }

func (docx) Instrument(tc artifact.Context, src io.ReaderAt, size int64, w io.Writer) (artifact.Artifact, error) {
	a, err := ziprw.Open(src, size, ziprw.DefaultLimits)
	if err != nil {
		return artifact.Artifact{}, fmt.Errorf("docx: %w", err)
	}
	edit, rid, err := docxEdit(a, tc.CallbackURL())
	if err != nil {
		return artifact.Artifact{}, fmt.Errorf("docx: %w", err)
	}
	if err := a.Write(w, edit); err != nil {
		return artifact.Artifact{}, fmt.Errorf("docx: %w", err)
	}

	return artifact.Artifact{
		Instrumenter: "docx",
		Kind:         artifact.KindHTTP,
		Mode:         0o644,
		MtimeOffset:  -artifact.Days(14),
		Notes: artifact.Notes{
			What:    "the uploaded Word document with a linked 1x1 picture at the end of the body",
			Trips:   "opening the document in an editor that loads linked pictures",
			Clients: []string{"Microsoft Word (desktop; may ask before updating links)", "LibreOffice Writer", "document preview and indexing services"},
			Details: []string{fmt.Sprintf("external image relationship %s -> %s", rid, tc.CallbackURL())},
		},
	}, nil
}

// docxEdit builds the archive edit that links the picture at url.
func docxEdit(a *ziprw.Archive, url string) (ziprw.Edit, string, error) {
	edit := ziprw.Edit{Replace: map[string][]byte{}}

	part, err := mainPart(a, "word/document.xml")
	if err != nil {
		return edit, "", err
	}
	docName, ok := a.Lookup(part)
	if !ok {
		return edit, "", artifact.Unsupported("not a Word document: %s is missing", part)
	}
	doc, err := a.Read(docName)
	if err != nil {
		return edit, "", err
	}

	// Relationship first, so the drawing can name its id.
	r := emptyRels()
	relsName, haveRels := a.Lookup(relsPath(docName))
	if haveRels {
		data, err := a.Read(relsName)
		if err != nil {
			return edit, "", err
		}
		if r, err = parseRels(data); err != nil {
			return edit, "", err
		}
	}
	rid := r.nextID()
	relsData := r.add(rid, relImage, url, true)

	newDoc, err := insertDrawing(doc, rid)
	if err != nil {
		return edit, "", err
	}

	edit.Replace[docName] = newDoc
	if haveRels {
		edit.Replace[relsName] = relsData
	} else {
		ct, ctName, err := parseContentTypes(a)
		if err != nil {
			return edit, "", err
		}
		ct.addDefault("rels", ctRels)
		edit.Replace[ctName] = ct.data
		edit.Add = append(edit.Add, ziprw.Entry{Name: relsPath(docName), Data: relsData, Modified: a.Modified(docName)})
	}
	return edit, rid, nil
}

// insertDrawing adds a paragraph holding the picture as the last block of
// the body, before the body-level w:sectPr, which the schema requires to
// come last. Its docPr id is one past the highest in the document.
func insertDrawing(doc []byte, rid string) ([]byte, error) {
	var body, lastChild element
	maxID := 0
	root, err := walkXML(doc, func(e element) {
		switch {
		case e.Depth == 1 && e.Name.Space == nsWordMain && e.Name.Local == "body":
			body = e
		case e.Depth == 2:
			lastChild = e
		}
		if e.Name.Local == "docPr" || e.Name.Local == "cNvPr" {
			if v, err := strconv.Atoi(e.attr("", "id")); err == nil && v > maxID {
				maxID = v
			}
		}
	})
	if err != nil {
		return nil, fmt.Errorf("document part: %w", err)
	}
	if root.Name.Space != nsWordMain || body.End == 0 {
		return nil, artifact.Unsupported("document part has no transitional WordprocessingML w:body")
	}

	at := body.Inner
	if lastChild.Start > body.Start && lastChild.End <= body.Inner && lastChild.Name.Space == nsWordMain && lastChild.Name.Local == "sectPr" {
		at = lastChild.Start
	}
	if body.selfClosing() {
		return nil, artifact.Unsupported("document body is empty")
	}

	w := rawPrefix(doc, body.Start)
	ns := map[string]string{"wp": nsWordDraw, "a": nsDrawing, "pic": nsPicture, "r": nsRel}
	if w == "" {
		w = "w"
	}
	ns[w] = nsWordMain
	id := maxID + 1
	frag := fmt.Sprintf(`<%[1]s:p%[2]s><%[1]s:r><%[1]s:drawing>`+
		`<wp:inline distT="0" distB="0" distL="0" distR="0"><wp:extent cx="%[5]d" cy="%[5]d"/>`+
		`<wp:effectExtent l="0" t="0" r="0" b="0"/><wp:docPr id="%[3]d" name="Picture %[3]d"/>`+
		`<wp:cNvGraphicFramePr><a:graphicFrameLocks noChangeAspect="1"/></wp:cNvGraphicFramePr>`+
		`<a:graphic><a:graphicData uri="%[6]s"><pic:pic><pic:nvPicPr><pic:cNvPr id="%[3]d" name="Picture %[3]d"/><pic:cNvPicPr/></pic:nvPicPr>`+
		`<pic:blipFill><a:blip r:link="%[4]s"/><a:stretch><a:fillRect/></a:stretch></pic:blipFill>`+
		`<pic:spPr><a:xfrm><a:off x="0" y="0"/><a:ext cx="%[5]d" cy="%[5]d"/></a:xfrm><a:prstGeom prst="rect"><a:avLst/></a:prstGeom></pic:spPr>`+
		`</pic:pic></a:graphicData></a:graphic></wp:inline></%[1]s:drawing></%[1]s:r></%[1]s:p>`,
		w, xmlnsFor(root, ns), id, rid, pixelEMU, nsPicture)
	return insertAt(doc, at, frag), nil
}
