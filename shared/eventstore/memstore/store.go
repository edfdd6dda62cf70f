package memstore

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"

	"github.com/flowbus/flowbus/shared/event"
	"github.com/flowbus/flowbus/shared/eventstore"
)

// Store is an event store in memory. Its zero value is not usable; call New.
// One mutex serialises every call, so an append never finds its workflow
// busy.
type Store struct {
	mu  sync.Mutex
	wfs map[string]*workflow
}

var _ eventstore.Store = (*Store)(nil)

// New returns an empty store.
func New() *Store { return &Store{wfs: make(map[string]*workflow)} }

// workflow is one workflow's history and parked entries.
type workflow struct {
	data   [][]byte        // event JSON at position i+1
	ids    map[string]bool // ids chosen by producers, held already
	bytes  int64
	pos    eventstore.Position // last stream position applied
	parked string              // reason; "" unless parked
	queue  []eventstore.ParkedEntry
	next   uint64 // N of the next parked entry
}

func (s *Store) get(wf string) *workflow {
	w := s.wfs[wf]
	if w == nil {
		w = &workflow{ids: make(map[string]bool), next: 1}
		s.wfs[wf] = w
	}
	return w
}

// store puts evs at the next positions, leaving out ids the workflow holds;
// raws, when given, is each event's JSON as it came.
func (w *workflow) store(evs []*event.Event, raws [][]byte, res *eventstore.AppendResult) {
	for i, e := range evs {
		if !e.IDGenerated { // generated ids are unique by construction
			if w.ids[e.ID] {
				res.Duplicates++
				continue
			}
			w.ids[e.ID] = true
		}
		var data []byte
		if raws != nil {
			data = bytes.Clone(raws[i])
		} else {
			data = event.Append(nil, e, false)
		}
		w.data = append(w.data, data)
		w.bytes += int64(len(data))
		res.Stored++
		res.Bytes += len(data)
		res.Last = uint64(len(w.data))
		if res.First == 0 {
			res.First = res.Last
		}
	}
}

// Append implements eventstore.Store.
func (s *Store) Append(ctx context.Context, wf string, in []eventstore.Incoming) (eventstore.AppendResult, error) {
	var res eventstore.AppendResult
	if len(in) == 0 {
		return res, nil
	}
	if err := ctx.Err(); err != nil {
		return res, fmt.Errorf("append %s: %w", wf, err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	w := s.get(wf)
	var fresh []eventstore.Incoming
	for _, x := range in {
		if w.pos.Covers(x.Pos) {
			res.Duplicates++
		} else {
			fresh = append(fresh, x)
		}
	}
	if len(fresh) == 0 {
		return res, nil
	}
	toPark := fresh
	if w.parked == "" {
		var evs []*event.Event
		var raws [][]byte
		for len(toPark) > 0 && toPark[0].Problem == nil {
			evs, raws = append(evs, toPark[0].Event), append(raws, toPark[0].Raw)
			toPark = toPark[1:]
		}
		w.store(evs, raws, &res)
		if len(toPark) > 0 {
			w.parked = toPark[0].Problem.Error()
		}
	}
	for _, x := range toPark {
		reason := "behind an earlier parked entry"
		if x.Problem != nil {
			reason = x.Problem.Error()
		}
		w.queue = append(w.queue, eventstore.ParkedEntry{N: w.next, Raw: bytes.Clone(x.Raw), Reason: reason, Pos: x.Pos})
		w.next++
	}
	res.Parked = len(toPark)
	w.pos = fresh[len(fresh)-1].Pos
	res.TotalEvents, res.TotalBytes = uint64(len(w.data)), w.bytes
	return res, nil
}

// Read implements eventstore.Store.
func (s *Store) Read(ctx context.Context, wf string, q eventstore.Query) (eventstore.Page, error) {
	if err := ctx.Err(); err != nil {
		return eventstore.Page{}, fmt.Errorf("read %s: %w", wf, err)
	}
	limit := q.Limit
	if limit <= 0 {
		limit = eventstore.DefaultLimit
	}
	limit = min(limit, eventstore.MaxLimit)
	s.mu.Lock()
	var data [][]byte
	if w := s.wfs[wf]; w != nil && q.After < uint64(len(w.data)) {
		data = w.data[q.After:]
	}
	s.mu.Unlock()
	var page eventstore.Page
	for i, raw := range data {
		seq := q.After + uint64(i) + 1
		e, err := event.Decode(raw, event.DecodeOptions{Wire: true})
		if err != nil {
			return eventstore.Page{}, fmt.Errorf("read %s: event %d: %w", wf, seq, err)
		}
		if !eventstore.Matches(q.Types, e.Type) || !q.MatchesTime(e.Time) {
			continue
		}
		e.Sequence = seq
		page.Events = append(page.Events, e)
		if len(page.Events) == limit {
			if i < len(data)-1 {
				page.Next = seq
			}
			break
		}
	}
	return page, nil
}

func (w *workflow) head(wf string) eventstore.Head {
	return eventstore.Head{WorkflowID: wf, Last: uint64(len(w.data)), Bytes: w.bytes, Position: w.pos,
		ParkedReason: w.parked, ParkedCount: len(w.queue)}
}

// Head implements eventstore.Store.
func (s *Store) Head(ctx context.Context, wf string) (eventstore.Head, error) {
	if err := ctx.Err(); err != nil {
		return eventstore.Head{}, fmt.Errorf("head %s: %w", wf, err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if w := s.wfs[wf]; w != nil {
		return w.head(wf), nil
	}
	return eventstore.Head{WorkflowID: wf}, nil
}

// ListParked implements eventstore.Store: parked workflows by id.
func (s *Store) ListParked(ctx context.Context) ([]eventstore.Head, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("list parked: %w", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var heads []eventstore.Head
	for wf, w := range s.wfs {
		if w.parked != "" {
			heads = append(heads, w.head(wf))
		}
	}
	slices.SortFunc(heads, func(a, b eventstore.Head) int { return strings.Compare(a.WorkflowID, b.WorkflowID) })
	return heads, nil
}

// Parked implements eventstore.Store.
func (s *Store) Parked(ctx context.Context, wf string) ([]eventstore.ParkedEntry, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("parked %s: %w", wf, err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	w := s.wfs[wf]
	if w == nil || len(w.queue) == 0 {
		return nil, nil
	}
	entries := slices.Clone(w.queue)
	for i := range entries {
		entries[i].Raw = bytes.Clone(entries[i].Raw)
	}
	return entries, nil
}

// Resume implements eventstore.Store.
func (s *Store) Resume(ctx context.Context, wf string, decode eventstore.DecodeFunc, fix eventstore.Fix) (eventstore.AppendResult, error) {
	var res eventstore.AppendResult
	if err := ctx.Err(); err != nil {
		return res, fmt.Errorf("resume %s: %w", wf, err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	w := s.wfs[wf]
	if w == nil || w.parked == "" {
		return res, fmt.Errorf("resume %s: %w", wf, eventstore.ErrNotParked)
	}
	var evs []*event.Event
	done, reason := 0, ""
	for _, entry := range w.queue {
		if slices.Contains(fix.Skip, entry.N) {
			done++
			continue
		}
		raw := entry.Raw
		if r, ok := fix.Replace[entry.N]; ok {
			raw = r
		}
		got, err := decode(raw)
		if err != nil {
			reason = fmt.Sprintf("entry %d: %v", entry.N, err)
			break
		}
		evs = append(evs, got...)
		done++
	}
	w.store(evs, nil, &res)
	w.queue = w.queue[done:]
	w.parked = reason
	res.Parked = len(w.queue)
	return res, nil
}
