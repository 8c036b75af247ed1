package pdf

import (
	"bytes"
	"fmt"
	"io"
	"sort"
)

// Catalog returns the document catalog and its reference.
func (r *Reader) Catalog() (Ref, Dict, error) {
	ref := r.trailer["Root"].(Ref)
	obj, err := r.Object(ref)
	if err != nil {
		return ref, nil, fmt.Errorf("read catalog: %w", err)
	}
	d, ok := obj.(Dict)
	if !ok {
		return ref, nil, fmt.Errorf("%w: catalog is %T, want a dictionary", errSyntax, obj)
	}
	return ref, d, nil
}

// FirstPage walks the page tree from the catalog to its first leaf.
func (r *Reader) FirstPage(catalog Dict) (Ref, Dict, error) {
	node, ok := catalog["Pages"].(Ref)
	if !ok {
		return Ref{}, nil, fmt.Errorf("%w: catalog has no /Pages reference", errSyntax)
	}
	seen := map[Ref]bool{}
	for range maxPageDepth {
		if seen[node] {
			return Ref{}, nil, fmt.Errorf("%w: page tree loops", errSyntax)
		}
		seen[node] = true

		obj, err := r.Object(node)
		if err != nil {
			return Ref{}, nil, fmt.Errorf("read page tree: %w", err)
		}
		d, ok := obj.(Dict)
		if !ok {
			return Ref{}, nil, fmt.Errorf("%w: page tree node %d is not a dictionary", errSyntax, node.Num)
		}
		if t, _ := d.Name("Type"); t == "Page" {
			return node, d, nil
		}

		kidsObj, err := r.Resolve(d["Kids"])
		if err != nil {
			return Ref{}, nil, err
		}
		kids, ok := kidsObj.(Array)
		if !ok || len(kids) == 0 {
			return Ref{}, nil, fmt.Errorf("%w: document has no pages", errSyntax)
		}
		if node, ok = kids[0].(Ref); !ok {
			return Ref{}, nil, fmt.Errorf("%w: page tree kid is not a reference", errSyntax)
		}
	}
	return Ref{}, nil, fmt.Errorf("%w: page tree deeper than %d", errSyntax, maxPageDepth)
}

// Update is a set of objects that replace objects of the original file.
type Update struct {
	// Objects maps existing references to their new values, which must
	// be direct objects other than streams.
	Objects map[Ref]Object
	// ID is the second element of the new /ID. When the file has no /ID
	// it is used for both elements.
	ID []byte
}

// WriteUpdate writes the complete updated file to w: the original bytes
// followed by an incremental update holding u's objects, a cross-reference
// section of the same type as the file's newest one (table or stream), and
// a trailer chained to the previous section with /Prev.
func (r *Reader) WriteUpdate(w io.Writer, u Update) (int64, error) {
	cw := &countingWriter{w: w}
	if _, err := io.Copy(cw, io.NewSectionReader(r.ra, 0, r.size)); err != nil {
		return cw.n, fmt.Errorf("pdf: copy original: %w", err)
	}
	last := make([]byte, 1)
	if _, err := r.ra.ReadAt(last, r.size-1); err == nil && last[0] != '\n' && last[0] != '\r' {
		if _, err := cw.Write([]byte("\n")); err != nil {
			return cw.n, err
		}
	}

	refs := make([]Ref, 0, len(u.Objects))
	for ref := range u.Objects {
		refs = append(refs, ref)
	}
	sort.Slice(refs, func(i, j int) bool { return refs[i].Num < refs[j].Num })

	offsets := map[int]int64{}
	gens := map[int]int{}
	var buf bytes.Buffer
	for _, ref := range refs {
		buf.Reset()
		fmt.Fprintf(&buf, "%d %d obj\n", ref.Num, ref.Gen)
		if err := appendObject(&buf, u.Objects[ref]); err != nil {
			return cw.n, err
		}
		buf.WriteString("\nendobj\n")
		offsets[ref.Num] = cw.n
		gens[ref.Num] = ref.Gen
		if _, err := cw.Write(buf.Bytes()); err != nil {
			return cw.n, fmt.Errorf("pdf: write update: %w", err)
		}
	}

	trailer := Dict{"Root": r.trailer["Root"], "Prev": Integer(r.startxref)}
	if info, ok := r.trailer["Info"]; ok {
		trailer["Info"] = info
	}
	trailer["ID"] = r.newID(u.ID)
	size := r.MaxObject()

	buf.Reset()
	xrefOff := cw.n
	if r.xrefIsStm {
		stmNum := size
		offsets[stmNum] = xrefOff
		gens[stmNum] = 0
		trailer["Size"] = Integer(stmNum + 1)
		if err := writeXrefStream(&buf, trailer, offsets, gens, stmNum, xrefOff); err != nil {
			return cw.n, err
		}
	} else {
		trailer["Size"] = Integer(size)
		writeXrefTable(&buf, offsets, gens)
		buf.WriteString("trailer\n")
		if err := appendObject(&buf, trailer); err != nil {
			return cw.n, err
		}
		buf.WriteString("\n")
	}
	fmt.Fprintf(&buf, "startxref\n%d\n%%%%EOF\n", xrefOff)
	if _, err := cw.Write(buf.Bytes()); err != nil {
		return cw.n, fmt.Errorf("pdf: write update: %w", err)
	}
	return cw.n, nil
}

// newID keeps the first element of the existing /ID, the permanent
// identifier, and sets the second to id.
func (r *Reader) newID(id []byte) Array {
	if old, ok := r.trailer["ID"].(Array); ok && len(old) == 2 {
		if first, ok := old[0].(String); ok {
			return Array{first, String(id)}
		}
	}
	return Array{String(id), String(id)}
}

// runs groups sorted object numbers into consecutive runs [first, count].
func runs(nums []int) [][2]int {
	var out [][2]int
	for _, n := range nums {
		if k := len(out); k > 0 && out[k-1][0]+out[k-1][1] == n {
			out[k-1][1]++
			continue
		}
		out = append(out, [2]int{n, 1})
	}
	return out
}

func sortedKeys(m map[int]int64) []int {
	nums := make([]int, 0, len(m))
	for n := range m {
		nums = append(nums, n)
	}
	sort.Ints(nums)
	return nums
}

func writeXrefTable(b *bytes.Buffer, offsets map[int]int64, gens map[int]int) {
	nums := sortedKeys(offsets)
	b.WriteString("xref\n")
	i := 0
	for _, run := range runs(nums) {
		fmt.Fprintf(b, "%d %d\n", run[0], run[1])
		for range run[1] {
			n := nums[i]
			fmt.Fprintf(b, "%010d %05d n\r\n", offsets[n], gens[n])
			i++
		}
	}
}

func writeXrefStream(b *bytes.Buffer, trailer Dict, offsets map[int]int64, gens map[int]int, stmNum int, stmOff int64) error {
	nums := sortedKeys(offsets)
	offWidth := 4
	if stmOff >= 1<<32 {
		offWidth = 8
	}

	var data bytes.Buffer
	var index Array
	for _, run := range runs(nums) {
		index = append(index, Integer(run[0]), Integer(run[1]))
	}
	for _, n := range nums {
		data.WriteByte(1)
		for i := offWidth - 1; i >= 0; i-- {
			data.WriteByte(byte(offsets[n] >> (8 * i)))
		}
		data.WriteByte(byte(gens[n] >> 8))
		data.WriteByte(byte(gens[n]))
	}

	d := trailer.Clone()
	d["Type"] = Name("XRef")
	d["W"] = Array{Integer(1), Integer(offWidth), Integer(2)}
	d["Index"] = index
	d["Length"] = Integer(data.Len())

	fmt.Fprintf(b, "%d 0 obj\n", stmNum)
	if err := appendObject(b, d); err != nil {
		return err
	}
	b.WriteString("\nstream\n")
	b.Write(data.Bytes())
	b.WriteString("\nendstream\nendobj\n")
	return nil
}

type countingWriter struct {
	w io.Writer
	n int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}
