package pdf

import (
	"bytes"
	"compress/zlib"
	"errors"
	"fmt"
	"io"
	"strconv"
)

// Reader limits.
const (
	maxXrefSections = 512      // length of the /Prev chain
	maxObjects      = 8 << 20  // highest object number accepted
	maxDecoded      = 64 << 20 // bytes of one decoded stream
	maxResolve      = 32       // nested indirect /Length lookups
	maxPageDepth    = 64       // depth of the page tree walk
	tailWindow      = 4096     // bytes searched for startxref
	objStmCacheSize = 8        // decoded object streams kept
)

var (
	// ErrEncrypted means the document is encrypted; an update would need
	// its keys.
	ErrEncrypted = errors.New("pdf: document is encrypted")

	// ErrNotPDF means the input has no %PDF- header.
	ErrNotPDF = errors.New("pdf: missing %PDF- header")
)

type xrefEntry struct {
	kind byte // 0 free, 1 in file, 2 in object stream
	a    int64
	b    int64
}

// Reader gives access to the objects of a PDF without loading the file.
type Reader struct {
	ra   io.ReaderAt
	size int64

	xref      map[int]xrefEntry
	trailer   Dict
	startxref int64
	xrefIsStm bool

	objStms  map[int]*objStm
	objOrder []int
}

type objStm struct {
	data    []byte
	offsets map[int]int64
}

// Open reads the cross-reference data of the PDF in ra. Encrypted files
// return ErrEncrypted; damaged files return a syntax error.
func Open(ra io.ReaderAt, size int64) (*Reader, error) {
	head := make([]byte, 5)
	if _, err := ra.ReadAt(head, 0); err != nil || string(head) != "%PDF-" {
		return nil, ErrNotPDF
	}

	r := &Reader{ra: ra, size: size, xref: map[int]xrefEntry{}, trailer: Dict{}, objStms: map[int]*objStm{}}
	start, err := r.findStartxref()
	if err != nil {
		return nil, err
	}
	r.startxref = start

	if err := r.loadXrefChain(start); err != nil {
		return nil, err
	}
	if _, ok := r.trailer["Encrypt"]; ok {
		return nil, ErrEncrypted
	}
	if _, ok := r.trailer["Root"].(Ref); !ok {
		return nil, fmt.Errorf("%w: trailer has no /Root reference", errSyntax)
	}
	return r, nil
}

// Size returns the file size given to Open.
func (r *Reader) Size() int64 { return r.size }

// Trailer returns the merged trailer: keys of the newest section win.
func (r *Reader) Trailer() Dict { return r.trailer }

// StartXref returns the offset of the newest cross-reference section.
func (r *Reader) StartXref() int64 { return r.startxref }

// XrefIsStream reports whether the newest section is an xref stream.
func (r *Reader) XrefIsStream() bool { return r.xrefIsStm }

// MaxObject returns one more than the highest object number in use, at
// least the trailer's /Size.
func (r *Reader) MaxObject() int {
	n := 0
	if s, ok := r.trailer.Int("Size"); ok && s > 0 && s <= maxObjects {
		n = int(s)
	}
	for num := range r.xref {
		if num+1 > n {
			n = num + 1
		}
	}
	return n
}

func (r *Reader) findStartxref() (int64, error) {
	n := min(r.size, tailWindow)
	tail := make([]byte, n)
	if _, err := r.ra.ReadAt(tail, r.size-n); err != nil && !errors.Is(err, io.EOF) {
		return 0, fmt.Errorf("pdf: read trailer: %w", err)
	}
	i := bytes.LastIndex(tail, []byte("startxref"))
	if i < 0 {
		return 0, fmt.Errorf("%w: no startxref in the last %d bytes", errSyntax, n)
	}

	l := newLexer(bytes.NewReader(tail[i+len("startxref"):]), 0)
	t, err := l.next()
	off, ok := t.(Integer)
	if err != nil || !ok || off <= 0 || int64(off) >= r.size {
		return 0, fmt.Errorf("%w: invalid startxref offset", errSyntax)
	}
	return int64(off), nil
}

// loadXrefChain reads the section at off and every older one via /Prev.
// Entries from newer sections take precedence.
func (r *Reader) loadXrefChain(off int64) error {
	seen := map[int64]bool{}
	for i := 0; off > 0; i++ {
		if i >= maxXrefSections || seen[off] {
			return fmt.Errorf("%w: cross-reference chain loops or exceeds %d sections", errSyntax, maxXrefSections)
		}
		seen[off] = true

		entries, trailer, isStream, err := r.readXrefSection(off)
		if err != nil {
			return err
		}
		if i == 0 {
			r.xrefIsStm = isStream
		}
		for num, e := range entries {
			if _, ok := r.xref[num]; !ok {
				r.xref[num] = e
			}
		}
		for k, v := range trailer {
			if _, ok := r.trailer[k]; !ok && k != "Prev" && k != "XRefStm" {
				r.trailer[k] = v
			}
		}

		prev, ok := trailer.Int("Prev")
		if !ok {
			break
		}
		if prev <= 0 || prev >= r.size {
			return fmt.Errorf("%w: /Prev offset %d outside the file", errSyntax, prev)
		}
		off = prev
	}
	return nil
}

func (r *Reader) readXrefSection(off int64) (map[int]xrefEntry, Dict, bool, error) {
	l := newLexer(io.NewSectionReader(r.ra, off, r.size-off), off)
	t, err := l.next()
	if err != nil {
		return nil, nil, false, fmt.Errorf("%w: no cross-reference data at byte %d", errSyntax, off)
	}
	if kw, ok := t.(keyword); ok && kw == "xref" {
		entries, trailer, err := r.readXrefTable(l)
		if err != nil {
			return nil, nil, false, err
		}

		// A hybrid file lists objects kept in object streams only in the
		// stream named by /XRefStm; its entries fill in for free or
		// missing ones.
		if stmOff, ok := trailer.Int("XRefStm"); ok && stmOff > 0 && stmOff < r.size {
			extra, _, err := r.readXrefStream(stmOff)
			if err != nil {
				return nil, nil, false, err
			}
			for num, e := range extra {
				if cur, ok := entries[num]; !ok || cur.kind == 0 {
					entries[num] = e
				}
			}
		}
		return entries, trailer, false, nil
	}

	entries, trailer, err := r.readXrefStream(off)
	return entries, trailer, true, err
}

func (r *Reader) readXrefTable(l *lexer) (map[int]xrefEntry, Dict, error) {
	entries := map[int]xrefEntry{}
	for {
		t, err := l.next()
		if err != nil {
			return nil, nil, unexpectedEOF(err)
		}
		if kw, ok := t.(keyword); ok && kw == "trailer" {
			d, err := l.object(0)
			if err != nil {
				return nil, nil, err
			}
			trailer, ok := d.(Dict)
			if !ok {
				return nil, nil, fmt.Errorf("%w: trailer is not a dictionary", errSyntax)
			}
			return entries, trailer, nil
		}

		first, ok1 := t.(Integer)
		t2, err := l.next()
		count, ok2 := t2.(Integer)
		if err != nil || !ok1 || !ok2 || first < 0 || count < 0 || first+count > maxObjects {
			return nil, nil, fmt.Errorf("%w: invalid xref subsection header near byte %d", errSyntax, l.pos)
		}
		// Each entry takes 20 bytes; a count the file cannot hold is a lie.
		if int64(count)*18 > r.size {
			return nil, nil, fmt.Errorf("%w: xref subsection of %d entries exceeds the file", errSyntax, count)
		}

		for i := range int(count) {
			a, err1 := l.next()
			b, err2 := l.next()
			k, err3 := l.next()
			off, okA := a.(Integer)
			gen, okB := b.(Integer)
			kw, okK := k.(keyword)
			if err1 != nil || err2 != nil || err3 != nil || !okA || !okB || !okK || (kw != "n" && kw != "f") {
				return nil, nil, fmt.Errorf("%w: invalid xref entry near byte %d", errSyntax, l.pos)
			}
			num := int(first) + i
			if _, dup := entries[num]; dup {
				continue
			}
			if kw == "f" {
				entries[num] = xrefEntry{kind: 0}
				continue
			}
			entries[num] = xrefEntry{kind: 1, a: int64(off), b: int64(gen)}
		}
	}
}

func (r *Reader) readXrefStream(off int64) (map[int]xrefEntry, Dict, error) {
	_, obj, err := r.readIndirectAt(off, -1)
	if err != nil {
		return nil, nil, err
	}
	st, ok := obj.(*Stream)
	if !ok {
		return nil, nil, fmt.Errorf("%w: object at byte %d is not an xref stream", errSyntax, off)
	}
	if t, _ := st.Dict.Name("Type"); t != "XRef" {
		return nil, nil, fmt.Errorf("%w: stream at byte %d has /Type %q, want /XRef", errSyntax, off, t)
	}

	data, err := r.decodeStream(st, 0)
	if err != nil {
		return nil, nil, err
	}

	widths, err := intArray(st.Dict["W"], 3)
	if err != nil || widths[0] < 0 || widths[1] < 0 || widths[2] < 0 || widths[0] > 8 || widths[1] > 8 || widths[2] > 8 {
		return nil, nil, fmt.Errorf("%w: invalid /W in xref stream", errSyntax)
	}
	rowLen := int(widths[0] + widths[1] + widths[2])
	if rowLen == 0 {
		return nil, nil, fmt.Errorf("%w: empty /W in xref stream", errSyntax)
	}

	size, _ := st.Dict.Int("Size")
	index := []int64{0, size}
	if st.Dict["Index"] != nil {
		if index, err = intArray(st.Dict["Index"], -1); err != nil || len(index)%2 != 0 {
			return nil, nil, fmt.Errorf("%w: invalid /Index in xref stream", errSyntax)
		}
	}

	entries := map[int]xrefEntry{}
	pos := 0
	for i := 0; i < len(index); i += 2 {
		first, count := index[i], index[i+1]
		if first < 0 || count < 0 || first+count > maxObjects {
			return nil, nil, fmt.Errorf("%w: /Index range out of bounds", errSyntax)
		}
		for j := range count {
			if pos+rowLen > len(data) {
				return nil, nil, fmt.Errorf("%w: xref stream shorter than its /Index", errSyntax)
			}
			row := data[pos : pos+rowLen]
			pos += rowLen

			kind := int64(1)
			if widths[0] > 0 {
				kind = beInt(row[:widths[0]])
			}
			a := beInt(row[widths[0] : widths[0]+widths[1]])
			b := beInt(row[widths[0]+widths[1]:])
			num := int(first + j)
			if _, dup := entries[num]; dup {
				continue
			}
			switch kind {
			case 0:
				entries[num] = xrefEntry{kind: 0}
			case 1, 2:
				entries[num] = xrefEntry{kind: byte(kind), a: a, b: b}
			}
		}
	}
	return entries, st.Dict, nil
}

func beInt(b []byte) int64 {
	var v int64
	for _, c := range b {
		v = v<<8 | int64(c)
	}
	return v
}

func intArray(o Object, want int) ([]int64, error) {
	a, ok := o.(Array)
	if !ok || (want >= 0 && len(a) != want) {
		return nil, fmt.Errorf("%w: want an integer array", errSyntax)
	}
	out := make([]int64, len(a))
	for i, e := range a {
		n, ok := e.(Integer)
		if !ok {
			return nil, fmt.Errorf("%w: want an integer array", errSyntax)
		}
		out[i] = int64(n)
	}
	return out, nil
}

// readIndirectAt parses "num gen obj ... endobj" at off. When wantNum is
// not negative the object number must match.
func (r *Reader) readIndirectAt(off int64, wantNum int) (Ref, Object, error) {
	if off <= 0 || off >= r.size {
		return Ref{}, nil, fmt.Errorf("%w: object offset %d outside the file", errSyntax, off)
	}
	l := newLexer(io.NewSectionReader(r.ra, off, r.size-off), off)

	t1, err1 := l.next()
	t2, err2 := l.next()
	t3, err3 := l.next()
	num, ok1 := t1.(Integer)
	gen, ok2 := t2.(Integer)
	kw, ok3 := t3.(keyword)
	if err1 != nil || err2 != nil || err3 != nil || !ok1 || !ok2 || !ok3 || kw != "obj" {
		return Ref{}, nil, fmt.Errorf("%w: no object header at byte %d", errSyntax, off)
	}
	if wantNum >= 0 && int(num) != wantNum {
		return Ref{}, nil, fmt.Errorf("%w: byte %d holds object %d, want %d", errSyntax, off, num, wantNum)
	}
	ref := Ref{Num: int(num), Gen: int(gen)}

	obj, err := l.object(0)
	if err != nil {
		return ref, nil, err
	}

	t, err := l.next()
	if err != nil {
		return ref, obj, nil
	}
	if kw, ok := t.(keyword); ok && kw == "stream" {
		d, ok := obj.(Dict)
		if !ok {
			return ref, nil, fmt.Errorf("%w: stream without a dictionary at byte %d", errSyntax, off)
		}
		start, err := l.streamStart()
		if err != nil {
			return ref, nil, err
		}
		return ref, &Stream{Dict: d, Offset: start}, nil
	}
	return ref, obj, nil
}

// Object returns the object ref points to. A free or missing object is
// null, as the PDF specification says.
func (r *Reader) Object(ref Ref) (Object, error) {
	e, ok := r.xref[ref.Num]
	if !ok || e.kind == 0 {
		return nil, nil
	}
	if e.kind == 1 {
		_, obj, err := r.readIndirectAt(e.a, ref.Num)
		if err != nil {
			return nil, fmt.Errorf("read object %d: %w", ref.Num, err)
		}
		return obj, nil
	}
	return r.objectInStream(ref.Num, int(e.a))
}

// Resolve follows o when it is a reference.
func (r *Reader) Resolve(o Object) (Object, error) {
	for range maxResolve {
		ref, ok := o.(Ref)
		if !ok {
			return o, nil
		}
		var err error
		if o, err = r.Object(ref); err != nil {
			return nil, err
		}
	}
	return nil, fmt.Errorf("%w: reference chain longer than %d", errSyntax, maxResolve)
}

func (r *Reader) objectInStream(num, stmNum int) (Object, error) {
	stm, err := r.loadObjStm(stmNum)
	if err != nil {
		return nil, fmt.Errorf("read object %d from object stream %d: %w", num, stmNum, err)
	}
	off, ok := stm.offsets[num]
	if !ok {
		return nil, nil
	}
	l := newLexer(bytes.NewReader(stm.data[off:]), off)
	obj, err := l.object(0)
	if err != nil {
		return nil, fmt.Errorf("read object %d from object stream %d: %w", num, stmNum, err)
	}
	return obj, nil
}

func (r *Reader) loadObjStm(num int) (*objStm, error) {
	if s, ok := r.objStms[num]; ok {
		return s, nil
	}
	e, ok := r.xref[num]
	if !ok || e.kind != 1 {
		return nil, fmt.Errorf("%w: object stream %d not in the file", errSyntax, num)
	}
	_, obj, err := r.readIndirectAt(e.a, num)
	if err != nil {
		return nil, err
	}
	st, ok := obj.(*Stream)
	if !ok {
		return nil, fmt.Errorf("%w: object %d is not a stream", errSyntax, num)
	}
	data, err := r.decodeStream(st, 0)
	if err != nil {
		return nil, err
	}

	n, ok1 := st.Dict.Int("N")
	first, ok2 := st.Dict.Int("First")
	if !ok1 || !ok2 || n < 0 || n > maxObjects || first < 0 || first > int64(len(data)) {
		return nil, fmt.Errorf("%w: object stream %d has invalid /N or /First", errSyntax, num)
	}

	l := newLexer(bytes.NewReader(data[:first]), 0)
	s := &objStm{data: data, offsets: map[int]int64{}}
	for range n {
		t1, err1 := l.next()
		t2, err2 := l.next()
		objNum, ok1 := t1.(Integer)
		rel, ok2 := t2.(Integer)
		if err1 != nil || err2 != nil || !ok1 || !ok2 || rel < 0 || first+int64(rel) > int64(len(data)) {
			return nil, fmt.Errorf("%w: object stream %d has an invalid header", errSyntax, num)
		}
		if _, dup := s.offsets[int(objNum)]; !dup {
			s.offsets[int(objNum)] = first + int64(rel)
		}
	}

	if len(r.objOrder) >= objStmCacheSize {
		delete(r.objStms, r.objOrder[0])
		r.objOrder = r.objOrder[1:]
	}
	r.objStms[num] = s
	r.objOrder = append(r.objOrder, num)
	return s, nil
}

// decodeStream reads and decodes the data of a stream stored in the file.
func (r *Reader) decodeStream(st *Stream, depth int) ([]byte, error) {
	lenObj := st.Dict["Length"]
	if depth > maxResolve {
		return nil, fmt.Errorf("%w: /Length reference chain too long", errSyntax)
	}
	if ref, ok := lenObj.(Ref); ok {
		var err error
		if lenObj, err = r.Object(ref); err != nil {
			return nil, err
		}
	}
	length, ok := lenObj.(Integer)
	if !ok || length < 0 || st.Offset+int64(length) > r.size {
		return nil, fmt.Errorf("%w: stream at byte %d has an invalid /Length", errSyntax, st.Offset)
	}
	if int64(length) > maxDecoded {
		return nil, fmt.Errorf("%w: stream at byte %d is larger than %d bytes", errSyntax, st.Offset, maxDecoded)
	}

	raw := make([]byte, length)
	if _, err := r.ra.ReadAt(raw, st.Offset); err != nil {
		return nil, fmt.Errorf("pdf: read stream at byte %d: %w", st.Offset, err)
	}
	return decodeFilters(raw, st.Dict)
}

func decodeFilters(data []byte, d Dict) ([]byte, error) {
	var filters []Name
	switch f := d["Filter"].(type) {
	case nil:
	case Name:
		filters = []Name{f}
	case Array:
		for _, e := range f {
			n, ok := e.(Name)
			if !ok {
				return nil, fmt.Errorf("%w: invalid /Filter", errSyntax)
			}
			filters = append(filters, n)
		}
	default:
		return nil, fmt.Errorf("%w: invalid /Filter", errSyntax)
	}

	var params []Dict
	switch p := d["DecodeParms"].(type) {
	case Dict:
		params = []Dict{p}
	case Array:
		for _, e := range p {
			pd, _ := e.(Dict)
			params = append(params, pd)
		}
	}

	for i, f := range filters {
		if f != "FlateDecode" && f != "Fl" {
			return nil, fmt.Errorf("pdf: stream filter /%s is not supported", f)
		}
		out, err := inflate(data)
		if err != nil {
			return nil, err
		}
		var p Dict
		if i < len(params) {
			p = params[i]
		}
		if data, err = unpredict(out, p); err != nil {
			return nil, err
		}
	}
	return data, nil
}

func inflate(data []byte) ([]byte, error) {
	zr, err := zlib.NewReader(bytes.NewReader(data))
	if err != nil {
		return nil, fmt.Errorf("%w: invalid Flate data: %w", errSyntax, err)
	}
	defer zr.Close()

	var out bytes.Buffer
	n, err := io.Copy(&out, io.LimitReader(zr, maxDecoded+1))
	if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) {
		return nil, fmt.Errorf("%w: invalid Flate data: %w", errSyntax, err)
	}
	if n > maxDecoded {
		return nil, fmt.Errorf("%w: stream inflates past %d bytes", errSyntax, maxDecoded)
	}
	return out.Bytes(), nil
}

// unpredict reverses the PNG predictors (10 to 15) that xref and object
// streams use. TIFF predictor 2 is not supported.
func unpredict(data []byte, p Dict) ([]byte, error) {
	pred, _ := p.Int("Predictor")
	if pred <= 1 {
		return data, nil
	}
	if pred < 10 || pred > 15 {
		return nil, fmt.Errorf("pdf: predictor %s is not supported", strconv.FormatInt(pred, 10))
	}

	columns, ok := p.Int("Columns")
	if !ok {
		columns = 1
	}
	colors, ok := p.Int("Colors")
	if !ok {
		colors = 1
	}
	bpc, ok := p.Int("BitsPerComponent")
	if !ok {
		bpc = 8
	}
	if columns < 1 || columns > 1<<20 || colors < 1 || colors > 32 || (bpc != 1 && bpc != 2 && bpc != 4 && bpc != 8 && bpc != 16) {
		return nil, fmt.Errorf("%w: invalid predictor parameters", errSyntax)
	}
	bpp := int(max((colors*bpc+7)/8, 1))
	rowLen := int((columns*colors*bpc + 7) / 8)

	out := make([]byte, 0, len(data))
	prev := make([]byte, rowLen)
	for pos := 0; pos < len(data); pos += rowLen + 1 {
		if pos+rowLen+1 > len(data) {
			break
		}
		ft := data[pos]
		row := append([]byte(nil), data[pos+1:pos+1+rowLen]...)
		for i := range row {
			var left, up, upLeft byte
			if i >= bpp {
				left = row[i-bpp]
				upLeft = prev[i-bpp]
			}
			up = prev[i]
			switch ft {
			case 0:
			case 1:
				row[i] += left
			case 2:
				row[i] += up
			case 3:
				row[i] += byte((int(left) + int(up)) / 2)
			case 4:
				row[i] += paeth(left, up, upLeft)
			default:
				return nil, fmt.Errorf("%w: invalid PNG filter type %d", errSyntax, ft)
			}
		}
		out = append(out, row...)
		prev = row
	}
	return out, nil
}

func paeth(a, b, c byte) byte {
	p := int(a) + int(b) - int(c)
	pa, pb, pc := abs(p-int(a)), abs(p-int(b)), abs(p-int(c))
	switch {
	case pa <= pb && pa <= pc:
		return a
	case pb <= pc:
		return b
	}
	return c
}

func abs(x int) int {
	if x < 0 {
		return -x
	}
	return x
}
