package event

import "strings"

// Interner hands out one string per distinct value, so the attributes that
// repeat across a batch (source, type, workflow id) are allocated once per
// batch instead of once per event. It is not safe for concurrent use; give
// each decoding goroutine its own.
type Interner struct {
	m map[string]string
	// recent is the last value handed out per slot (an attribute): events
	// of a batch mostly repeat their predecessor's source, type and
	// workflow id, and a comparison is cheaper than a map lookup.
	recent [numSlots]string
	// chunk holds the values Copy has handed out since it was last
	// replaced; they are substrings of it.
	chunk strings.Builder
}

// copyChunk is the size of the blocks Copy writes values into: about 150
// event ids share an allocation.
const copyChunk = 4096

// maxInterned bounds an Interner, so a batch of all-distinct values costs a
// lookup, not unbounded memory.
const maxInterned = 1024

// NewInterner returns an empty Interner.
func NewInterner() *Interner { return &Interner{m: make(map[string]string, 16)} }

// Slots of Interner.recent.
const (
	slotSource = iota
	slotType
	slotWorkflow
	numSlots
)

// stringAt is String remembering the value in slot.
func (in *Interner) stringAt(slot int, b []byte) string {
	if in == nil {
		return string(b)
	}
	if r := in.recent[slot]; r == string(b) { // the comparison does not allocate
		return r
	}
	s := in.String(b)
	in.recent[slot] = s
	return s
}

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

// Copy returns b as a string that is not shared with other values but may
// share its allocation with them: values a batch reads once each, such as
// event ids, cost an allocation per copyChunk bytes instead of one each.
// A string kept after the batch keeps its chunk alive.
func (in *Interner) Copy(b []byte) string {
	if in == nil || len(b) > copyChunk/4 {
		return string(b)
	}
	if in.chunk.Cap()-in.chunk.Len() < len(b) {
		in.chunk = strings.Builder{}
		in.chunk.Grow(copyChunk)
	}
	start := in.chunk.Len()
	in.chunk.Write(b)
	// Bytes a Builder has written never change while it has room, so the
	// substring stays what was written.
	return in.chunk.String()[start:]
}
