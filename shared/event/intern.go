package event

// Interner hands out one string per distinct value, so the attributes that
// repeat across a batch (source, type, workflow id) are allocated once per
// batch instead of once per event. It is not safe for concurrent use; give
// each decoding goroutine its own.
type Interner struct {
	m map[string]string
}

// maxInterned bounds an Interner, so a batch of all-distinct values costs a
// lookup, not unbounded memory.
const maxInterned = 1024

// NewInterner returns an empty Interner.
func NewInterner() *Interner { return &Interner{m: make(map[string]string, 16)} }

// String returns b as a string, shared with earlier equal values.
func (in *Interner) String(b []byte) string {
	if in == nil {
		return string(b)
	}
	if s, ok := in.m[string(b)]; ok { // the conversion in a map index does not allocate
		return s
	}
	s := string(b)
	if len(in.m) < maxInterned {
		in.m[s] = s
	}
	return s
}
