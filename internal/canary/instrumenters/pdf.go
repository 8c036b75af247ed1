package instrumenters

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"io"

	"github.com/decnet/decnet/internal/canary/artifact"
	"github.com/decnet/decnet/internal/canary/pdf"
)

// pdfInstrumenter appends an incremental update that makes the viewer
// open the callback URL when the document opens and when its first page
// is shown. The original bytes stay intact, so signatures over earlier
// revisions still verify.
type pdfInstrumenter struct{}

func (pdfInstrumenter) Name() string { return "pdf" }

func (pdfInstrumenter) Instrument(tc artifact.Context, src io.ReaderAt, size int64, w io.Writer) (artifact.Artifact, error) {
	r, err := pdf.Open(src, size)
	switch {
	case errors.Is(err, pdf.ErrEncrypted):
		return artifact.Artifact{}, artifact.Unsupported("pdf: encrypted documents cannot be instrumented")
	case err != nil:
		return artifact.Artifact{}, artifact.Unsupported("pdf: cannot read the document: %v", err)
	}

	catRef, catalog, err := r.Catalog()
	if err != nil {
		return artifact.Artifact{}, artifact.Unsupported("pdf: %v", err)
	}
	pageRef, page, err := r.FirstPage(catalog)
	if err != nil {
		return artifact.Artifact{}, artifact.Unsupported("pdf: %v", err)
	}

	uri := tc.DNSURL()
	newCatalog := catalog.Clone()
	newCatalog["OpenAction"], err = chainAction(r, uriAction(uri), catalog["OpenAction"])
	if err != nil {
		return artifact.Artifact{}, artifact.Unsupported("pdf: %v", err)
	}

	aa := pdf.Dict{}
	if existing, err := r.Resolve(page["AA"]); err == nil {
		if d, ok := existing.(pdf.Dict); ok {
			aa = d.Clone()
		}
	}
	aa["O"], err = chainAction(r, uriAction(uri), aa["O"])
	if err != nil {
		return artifact.Artifact{}, artifact.Unsupported("pdf: %v", err)
	}
	newPage := page.Clone()
	newPage["AA"] = aa

	id := updateID(tc, r)
	if _, err := r.WriteUpdate(w, pdf.Update{Objects: map[pdf.Ref]pdf.Object{catRef: newCatalog, pageRef: newPage}, ID: id}); err != nil {
		return artifact.Artifact{}, fmt.Errorf("pdf: %w", err)
	}

	kind := artifact.KindHTTP
	if tc.DNSHost() != "" {
		kind = artifact.KindDNS
	}
	return artifact.Artifact{
		Instrumenter: "pdf",
		Kind:         kind,
		Mode:         0o644,
		MtimeOffset:  -artifact.Days(14),
		Notes: artifact.Notes{
			What:    "the uploaded PDF with an incremental update: a catalog /OpenAction and a first-page /AA /O action, both /URI",
			Trips:   "opening the document in a viewer that runs URI actions; with a DNS zone the URI host is the token host, so the DNS lookup alone trips it",
			Clients: []string{"Adobe Acrobat and Reader (ask the user first)", "Foxit Reader", "some browser PDF viewers; pdf.js and Chrome ignore open actions"},
			Details: []string{"uri=" + uri, fmt.Sprintf("catalog object %d and page object %d rewritten", catRef.Num, pageRef.Num)},
		},
	}, nil
}

func uriAction(uri string) pdf.Dict {
	return pdf.Dict{"Type": pdf.Name("Action"), "S": pdf.Name("URI"), "URI": pdf.String(uri)}
}

// chainAction returns action followed by the action or destination that
// was there before, so the document keeps its original behaviour.
func chainAction(r *pdf.Reader, action pdf.Dict, existing pdf.Object) (pdf.Object, error) {
	if existing == nil {
		return action, nil
	}
	resolved, err := r.Resolve(existing)
	if err != nil {
		return nil, err
	}
	switch v := resolved.(type) {
	case pdf.Dict:
		if _, ok := v["S"]; ok {
			action["Next"] = existing
		}
	case pdf.Array, pdf.Name, pdf.String:
		// A destination: turn it into a GoTo action.
		action["Next"] = pdf.Dict{"S": pdf.Name("GoTo"), "D": existing}
	}
	return action, nil
}

// updateID derives the second /ID element from the slug and the document's
// permanent identifier, so the same input and context give the same bytes.
func updateID(tc artifact.Context, r *pdf.Reader) []byte {
	h := sha256.New()
	h.Write([]byte("pdf-revision|" + tc.Slug + "|"))
	if old, ok := r.Trailer()["ID"].(pdf.Array); ok && len(old) > 0 {
		if s, ok := old[0].(pdf.String); ok {
			h.Write(s)
		}
	}
	return h.Sum(nil)[:16]
}
