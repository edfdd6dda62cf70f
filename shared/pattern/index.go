package pattern

import (
	"sort"
	"strings"
	"sync"
	"sync/atomic"
)

// Matcher holds many named patterns and answers which of them match an
// event, at a cost that does not grow with patterns the event cannot match.
//
// Each pattern is indexed under its most selective "key": a field (at any
// depth, outside $or) whose rules are all exact values or prefixes, chosen
// so that as few other patterns share its values as possible; a pattern
// whose only such fields are inside a $or is indexed under one key per
// alternative. Matching looks up the event's values at the indexed paths
// (a map lookup per value, one per distinct prefix length); under each key
// value the patterns are indexed again by their second most selective such
// field, looked up the same way; the full pattern runs only on the
// candidates both lookups found. Patterns with no key at all (only anything-but, numeric, exists
// and the like) are candidates for every event.
//
// Readers never wait: a change builds a new immutable snapshot and swaps it
// in. A change costs a rebuild, O(patterns); use Replace for many at once.
type Matcher struct {
	mu   sync.Mutex // serialises writers
	pats map[string]*Pattern
	snap atomic.Pointer[snapshot]
}

// NewMatcher returns an empty matcher.
func NewMatcher() *Matcher {
	m := &Matcher{pats: map[string]*Pattern{}}
	m.snap.Store(build(nil))
	return m
}

// Add adds the pattern under name, replacing any pattern of that name.
func (m *Matcher) Add(name string, p *Pattern) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.pats[name] = p
	m.snap.Store(build(m.pats))
}

// Remove removes the pattern of that name, if there is one.
func (m *Matcher) Remove(name string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.pats[name]; !ok {
		return
	}
	delete(m.pats, name)
	m.snap.Store(build(m.pats))
}

// Replace makes the matcher hold exactly these patterns, with one rebuild.
func (m *Matcher) Replace(pats map[string]*Pattern) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.pats = make(map[string]*Pattern, len(pats))
	for name, p := range pats {
		m.pats[name] = p
	}
	m.snap.Store(build(m.pats))
}

// Len returns the number of patterns.
func (m *Matcher) Len() int { return len(m.snap.Load().names) }

// Match returns the names of the patterns doc matches, sorted.
func (m *Matcher) Match(doc any) []string {
	return m.AppendMatches(nil, doc)
}

// AppendMatches appends the names of the patterns doc matches to dst, in
// name order, and returns it. It allocates nothing when dst has room.
func (m *Matcher) AppendMatches(dst []string, doc any) []string {
	return m.snap.Load().appendMatches(dst, doc)
}

// snapshot is one immutable build of the index.
type snapshot struct {
	names  []string // by pattern id, sorted
	pats   []*Pattern
	second []check // by pattern id: a cheap test before the full match
	paths  []pathIndex
	always []int32 // ids of patterns without a key
	pool   sync.Pool
}

// pathIndex indexes the values of one field path: each exact value and
// each prefix leads to the patterns keyed on it.
type pathIndex struct {
	segs   []string
	exact  map[value]*posting
	prefix map[string]*posting
	lens   []int // distinct prefix lengths, ascending
}

// posting is the patterns under one key value: those whose second field is
// indexed too (subs, a second lookup on the event), and the rest (ids).
type posting struct {
	ids  []int32
	subs []sub
}

// sub indexes the second field of the patterns of one posting.
type sub struct {
	path   int
	exact  map[value][]int32
	prefix map[string][]int32
	lens   []int
}

// check is a field a candidate must match before its full pattern runs;
// path < 0 means none.
type check struct {
	path  int
	rules []rule
}

// scratch is per-call state: which ids have been seen (by generation).
type scratch struct {
	seen []uint32
	gen  uint32
}

// constraint is an indexable field of a pattern: every rule is an exact
// value or a case-sensitive prefix, so a match needs a leaf at the path
// equal to or starting with one of them.
type constraint struct {
	key   string // segments joined by NUL
	segs  []string
	rules []rule
	cost  int
}

func indexable(rules []rule) bool {
	for i := range rules {
		switch r := &rules[i]; r.kind {
		case ruleExact:
		case rulePrefix:
			if r.fold {
				return false
			}
		default:
			return false
		}
	}
	return true
}

// constraints returns the indexable fields of o outside any $or, at any depth.
func constraints(o *object, segs []string, out []constraint) []constraint {
	for i := range o.fields {
		f := &o.fields[i]
		s := append(segs[:len(segs):len(segs)], f.name)
		if f.nested != nil {
			out = constraints(f.nested, s, out)
			continue
		}
		if indexable(f.rules) {
			out = append(out, constraint{key: strings.Join(s, "\x00"), segs: s, rules: f.rules})
		}
	}
	return out
}

type countKey struct {
	path   string
	prefix bool
	v      value
}

func ruleKey(path string, r *rule) countKey {
	if r.kind == rulePrefix {
		return countKey{path: path, prefix: true, v: value{kind: kindString, s: r.str}}
	}
	return countKey{path: path, v: r.exact}
}

// countAll counts every indexable value of o, its nested objects and its
// $or alternatives.
func countAll(o *object, segs []string, counts map[countKey]int) {
	for _, c := range constraints(o, segs, nil) {
		for i := range c.rules {
			counts[ruleKey(c.key, &c.rules[i])]++
		}
	}
	var walk func(o *object, segs []string)
	walk = func(o *object, segs []string) {
		for _, a := range o.or {
			countAll(a, segs, counts)
		}
		for i := range o.fields {
			if f := &o.fields[i]; f.nested != nil {
				walk(f.nested, append(segs[:len(segs):len(segs)], f.name))
			}
		}
	}
	walk(o, segs)
}

// ranked returns o's constraints, cheapest (most selective) first.
func ranked(o *object, segs []string, counts map[countKey]int, n int) []constraint {
	cs := constraints(o, segs, nil)
	for i := range cs {
		c := &cs[i]
		for j := range c.rules {
			r := &c.rules[j]
			c.cost += counts[ruleKey(c.key, r)]
			if r.kind == rulePrefix && r.str == "" {
				c.cost += n // matches every string
			}
		}
	}
	sort.SliceStable(cs, func(i, j int) bool {
		if cs[i].cost != cs[j].cost {
			return cs[i].cost < cs[j].cost
		}
		return cs[i].key < cs[j].key
	})
	return cs
}

// keys returns the constraints to index o under: its most selective own
// constraint, or else one per $or alternative (each alternative's own keys),
// or nil when some alternative has none.
func keys(o *object, segs []string, counts map[countKey]int, n int) []constraint {
	if cs := ranked(o, segs, counts, n); len(cs) > 0 {
		return cs[:1]
	}
	var out []constraint
	// An $or under a nested object: its alternatives see the nested path.
	var ors func(o *object, segs []string) bool
	ors = func(o *object, segs []string) bool {
		if len(o.or) > 0 {
			for _, a := range o.or {
				k := keys(a, segs, counts, n)
				if k == nil {
					return false
				}
				out = append(out, k...)
			}
			return true
		}
		for i := range o.fields {
			if f := &o.fields[i]; f.nested != nil && ors(f.nested, append(segs[:len(segs):len(segs)], f.name)) {
				return true
			}
		}
		return false
	}
	if !ors(o, segs) {
		return nil
	}
	return out
}

func build(pats map[string]*Pattern) *snapshot {
	s := &snapshot{}
	s.names = make([]string, 0, len(pats))
	for name := range pats {
		s.names = append(s.names, name)
	}
	sort.Strings(s.names)
	counts := map[countKey]int{}
	for _, name := range s.names {
		p := pats[name]
		s.pats = append(s.pats, p)
		countAll(p.root, nil, counts)
	}
	pathIDs := map[string]int{}
	pathID := func(c *constraint) int {
		id, ok := pathIDs[c.key]
		if !ok {
			id = len(s.paths)
			pathIDs[c.key] = id
			s.paths = append(s.paths, pathIndex{segs: c.segs, exact: map[value]*posting{}, prefix: map[string]*posting{}})
		}
		return id
	}
	n := len(s.pats)
	s.second = make([]check, n)
	for id, p := range s.pats {
		s.second[id] = check{path: -1}
		ks := keys(p.root, nil, counts, n)
		if ks == nil {
			s.always = append(s.always, int32(id))
			continue
		}
		// With one key and another indexable field, the posting indexes
		// that field too; otherwise the candidate is checked in full.
		var second *constraint
		secondPath := -1
		if cs := ranked(p.root, nil, counts, n); len(ks) == 1 && len(cs) > 1 && cs[0].key == ks[0].key {
			second = &cs[1]
			secondPath = pathID(second) // before taking pointers into s.paths
		}
		for i := range ks {
			pi := &s.paths[pathID(&ks[i])]
			for j := range ks[i].rules {
				var post *posting
				if r := &ks[i].rules[j]; r.kind == rulePrefix {
					if post = pi.prefix[r.str]; post == nil {
						post = &posting{}
						pi.prefix[r.str] = post
						pi.lens = append(pi.lens, len(r.str))
					}
				} else if post = pi.exact[r.exact]; post == nil {
					post = &posting{}
					pi.exact[r.exact] = post
				}
				if second == nil {
					post.ids = appendID(post.ids, int32(id))
					continue
				}
				post.add(secondPath, second.rules, int32(id))
			}
		}
	}
	for i := range s.paths {
		pi := &s.paths[i]
		sort.Ints(pi.lens)
		pi.lens = compactInts(pi.lens)
		for _, post := range pi.prefix {
			post.finish()
		}
		for _, post := range pi.exact {
			post.finish()
		}
	}
	s.pool.New = func() any { return &scratch{seen: make([]uint32, n)} }
	return s
}

// add indexes pattern id under the values of its second field.
func (p *posting) add(path int, rules []rule, id int32) {
	var sb *sub
	for i := range p.subs {
		if p.subs[i].path == path {
			sb = &p.subs[i]
		}
	}
	if sb == nil {
		p.subs = append(p.subs, sub{path: path, exact: map[value][]int32{}, prefix: map[string][]int32{}})
		sb = &p.subs[len(p.subs)-1]
	}
	for i := range rules {
		if r := &rules[i]; r.kind == rulePrefix {
			sb.prefix[r.str] = appendID(sb.prefix[r.str], id)
			sb.lens = append(sb.lens, len(r.str))
		} else {
			sb.exact[r.exact] = appendID(sb.exact[r.exact], id)
		}
	}
}

func (p *posting) finish() {
	for i := range p.subs {
		sort.Ints(p.subs[i].lens)
		p.subs[i].lens = compactInts(p.subs[i].lens)
	}
}

// appendID adds id once (a key's rules may repeat a value).
func appendID(ids []int32, id int32) []int32 {
	if len(ids) > 0 && ids[len(ids)-1] == id {
		return ids
	}
	return append(ids, id)
}

func compactInts(s []int) []int {
	out := s[:0]
	for _, v := range s {
		if len(out) == 0 || v != out[len(out)-1] {
			out = append(out, v)
		}
	}
	return out
}

// maxPaths is how many indexed paths keep their event values on the stack.
const maxPaths = 16

func (s *snapshot) appendMatches(dst []string, doc any) []string {
	if len(s.pats) == 0 {
		return dst
	}
	// The event's values at every indexed path, looked up once.
	var lbuf [32]value
	var obuf [maxPaths + 1]int
	leaves, offs := lbuf[:0], obuf[:0]
	if len(s.paths) > maxPaths {
		offs = make([]int, 0, len(s.paths)+1)
	}
	for i := range s.paths {
		offs = append(offs, len(leaves))
		leaves = appendPathLeaves(leaves, doc, s.paths[i].segs)
	}
	offs = append(offs, len(leaves))

	sc := s.pool.Get().(*scratch)
	sc.gen++
	if sc.gen == 0 { // wrapped: forget every mark
		clear(sc.seen)
		sc.gen = 1
	}
	start := len(dst)
	try := func(ids []int32) {
		for _, id := range ids {
			if sc.seen[id] == sc.gen {
				continue
			}
			sc.seen[id] = sc.gen
			if c := &s.second[id]; c.path >= 0 && !matchRules(c.rules, leaves[offs[c.path]:offs[c.path+1]]) {
				continue
			}
			if s.pats[id].root.match(doc, nil, "") {
				dst = append(dst, s.names[id])
			}
		}
	}
	visit := func(p *posting) {
		try(p.ids)
		for i := range p.subs {
			sb := &p.subs[i]
			for _, v := range leaves[offs[sb.path]:offs[sb.path+1]] {
				if ids, ok := sb.exact[v]; ok {
					try(ids)
				}
				if v.kind != kindString {
					continue
				}
				for _, n := range sb.lens {
					if n > len(v.s) {
						break
					}
					if ids, ok := sb.prefix[v.s[:n]]; ok {
						try(ids)
					}
				}
			}
		}
	}
	for i := range s.paths {
		pi := &s.paths[i]
		for _, v := range leaves[offs[i]:offs[i+1]] {
			if p, ok := pi.exact[v]; ok {
				visit(p)
			}
			if v.kind != kindString {
				continue
			}
			for _, n := range pi.lens {
				if n > len(v.s) {
					break
				}
				if p, ok := pi.prefix[v.s[:n]]; ok {
					visit(p)
				}
			}
		}
	}
	try(s.always)
	s.pool.Put(sc)
	if len(dst)-start > 1 {
		sort.Strings(dst[start:])
	}
	return dst
}

func matchRules(rules []rule, leaves []value) bool {
	for i := range rules {
		if rules[i].match(leaves) {
			return true
		}
	}
	return false
}

// appendPathLeaves appends the leaves at the path segs of v, through arrays
// at every level (an over-approximation of where a pattern looks, which is
// what a candidate lookup needs).
func appendPathLeaves(dst []value, v any, segs []string) []value {
	if len(segs) == 0 {
		return appendLeaves(dst, v)
	}
	switch x := v.(type) {
	case map[string]any:
		if next, ok := x[segs[0]]; ok {
			return appendPathLeaves(dst, next, segs[1:])
		}
	case []any:
		for _, e := range x {
			dst = appendPathLeaves(dst, e, segs)
		}
	}
	return dst
}
