// Package unionfind is a disjoint-set forest over dense int32 indexes, with
// path halving, union by size, per-set member lists and the ability to
// reset a subset of elements. Both clustering levels use it: the identity
// layer over observations and the campaign layer over identities.
package unionfind

// Forest partitions the elements 0..Len()-1 into disjoint sets. Every
// element starts in a set of its own. The zero value is an empty forest;
// Grow adds elements.
type Forest struct {
	parent []int32
	size   []int32
	// next links the members of each set into a cycle, so that a set's
	// members can be listed without scanning the whole forest.
	next []int32
}

// New returns a forest of n singleton sets.
func New(n int) *Forest {
	f := &Forest{}
	f.Grow(n)
	return f
}

// Len returns the number of elements.
func (f *Forest) Len() int { return len(f.parent) }

// Grow adds singleton elements until the forest has n elements.
func (f *Forest) Grow(n int) {
	for i := int32(len(f.parent)); int(i) < n; i++ {
		f.parent = append(f.parent, i)
		f.size = append(f.size, 1)
		f.next = append(f.next, i)
	}
}

// Find returns the representative of x's set, halving the path as it goes.
func (f *Forest) Find(x int32) int32 {
	p := f.parent
	for p[x] != x {
		p[x] = p[p[x]]
		x = p[x]
	}
	return x
}

// Union merges the sets of x and y. It returns the representative of the
// merged set and whether the two were separate before. The larger set's
// representative is kept, so trees stay shallow.
func (f *Forest) Union(x, y int32) (int32, bool) {
	rx, ry := f.Find(x), f.Find(y)
	if rx == ry {
		return rx, false
	}
	if f.size[rx] < f.size[ry] {
		rx, ry = ry, rx
	}
	f.parent[ry] = rx
	f.size[rx] += f.size[ry]
	// Splice the two member cycles into one.
	f.next[rx], f.next[ry] = f.next[ry], f.next[rx]
	return rx, true
}

// Same reports whether x and y are in one set.
func (f *Forest) Same(x, y int32) bool { return f.Find(x) == f.Find(y) }

// Size returns the number of elements in x's set.
func (f *Forest) Size(x int32) int { return int(f.size[f.Find(x)]) }

// Members calls fn for every element of x's set, starting with x, until fn
// returns false.
func (f *Forest) Members(x int32, fn func(int32) bool) {
	y := x
	for {
		if !fn(y) {
			return
		}
		y = f.next[y]
		if y == x {
			return
		}
	}
}

// AppendMembers appends the elements of x's set to dst and returns it.
func (f *Forest) AppendMembers(dst []int32, x int32) []int32 {
	f.Members(x, func(y int32) bool {
		dst = append(dst, y)
		return true
	})
	return dst
}

// Reset makes every element of xs a singleton again. xs must be a union of
// whole sets (every member of every set it touches), otherwise elements
// outside xs would keep pointers into it.
func (f *Forest) Reset(xs []int32) {
	for _, x := range xs {
		f.parent[x] = x
		f.size[x] = 1
		f.next[x] = x
	}
}
