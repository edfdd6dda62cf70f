package eventstore

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"time"

	"github.com/flowbus/flowbus/shared/event"
)

// Errors callers match with errors.Is.
var (
	// ErrBusy means another writer holds the workflow; try again later.
	ErrBusy = errors.New("workflow is being written by another writer")
	// ErrNotParked means Resume was asked for a workflow that is not parked.
	ErrNotParked = errors.New("workflow is not parked")
)

// Position is where a record sits in the stream: shard, Kinesis sequence
// number, and the event's index inside an aggregated record.
type Position struct {
	Shard string
	Seq   string
	Sub   int
}

// String encodes p as shard/seq/sub.
func (p Position) String() string {
	if p.Seq == "" {
		return ""
	}
	return p.Shard + "/" + p.Seq + "/" + strconv.Itoa(p.Sub)
}

// ParsePosition reads what String wrote; "" is the zero Position.
func ParsePosition(s string) (Position, error) {
	if s == "" {
		return Position{}, nil
	}
	i := strings.LastIndexByte(s, '/')
	j := strings.LastIndexByte(s[:max(i, 0)], '/')
	if i < 0 || j < 0 {
		return Position{}, errors.New("position " + strconv.Quote(s) + ": want shard/seq/sub")
	}
	sub, err := strconv.Atoi(s[i+1:])
	if err != nil {
		return Position{}, errors.New("position " + strconv.Quote(s) + ": bad sub-sequence")
	}
	return Position{Shard: s[:j], Seq: s[j+1 : i], Sub: sub}, nil
}

// Covers reports whether a workflow that has applied everything up to p has
// already seen q. Kinesis sequence numbers are decimal strings that grow
// within a shard; positions in another shard are never covered, because
// after a reshard the child shard's records all come later.
func (p Position) Covers(q Position) bool {
	if p.Seq == "" || q.Seq == "" || p.Shard != q.Shard {
		return false
	}
	if len(p.Seq) != len(q.Seq) {
		return len(q.Seq) < len(p.Seq)
	}
	if p.Seq != q.Seq {
		return q.Seq < p.Seq
	}
	return q.Sub <= p.Sub
}

// Incoming is one event read from the stream, or a record that could not be
// turned into one.
type Incoming struct {
	Event   *event.Event // nil when Problem is set
	Raw     []byte       // what to keep if the workflow parks: the event or the whole record
	Pos     Position
	Arrival time.Time // when its record reached the stream (for figures only)
	Problem error     // why this can never be stored: it parks the workflow
}

// AppendResult counts what one Append did.
type AppendResult struct {
	Stored     int    // events given a new position
	Duplicates int    // events already in the store (same id) or already applied (redelivered)
	Parked     int    // entries set aside because the workflow is parked
	First      uint64 // first position stored, 0 if none
	Last       uint64 // last position stored, 0 if none
	Bytes      int    // bytes of the events stored
	// The workflow's size after the append: events and bytes in all.
	TotalEvents uint64
	TotalBytes  int64
}

// Head is a workflow's summary.
type Head struct {
	WorkflowID   string
	Last         uint64 // newest position; the workflow has events 1..Last
	Bytes        int64
	Position     Position // last stream position applied
	ParkedReason string   // "" unless parked
	ParkedCount  int      // entries waiting while parked
}

// Query selects events of one workflow.
type Query struct {
	After uint64   // return positions > After
	Limit int      // page size; 0 means DefaultLimit
	Types []string // exact types, or prefixes written "workflow.*"; empty means all
	// From and To select events whose time is in [From, To); zero means open.
	From, To time.Time
}

// MatchesTime reports whether t is in the query's time window.
func (q Query) MatchesTime(t time.Time) bool {
	return (q.From.IsZero() || !t.Before(q.From)) && (q.To.IsZero() || t.Before(q.To))
}

// Limits of Read.
const (
	DefaultLimit = 100
	MaxLimit     = 1000
)

// Page is one page of a workflow's events, in order.
type Page struct {
	Events []event.Event // Sequence set on each
	// Next is the After of the next page, or 0 when nothing follows.
	Next uint64
}

// Matches reports whether typ is selected by the patterns of a Query.
func Matches(patterns []string, typ string) bool {
	if len(patterns) == 0 {
		return true
	}
	for _, p := range patterns {
		if prefix, ok := strings.CutSuffix(p, "*"); ok {
			if strings.HasPrefix(typ, prefix) {
				return true
			}
		} else if p == typ {
			return true
		}
	}
	return false
}

// ParkedEntry is one record set aside while its workflow is parked.
type ParkedEntry struct {
	N      uint64 // 1, 2, 3 … in stream order
	Raw    []byte
	Reason string
	Pos    Position
}

// Fix says how to resume a parked workflow: entries to drop and entries to
// replace (by N) with corrected record data.
type Fix struct {
	Skip    []uint64
	Replace map[uint64][]byte
}

// DecodeFunc turns a parked record back into events, applying the current
// validation rules; Resume uses it so a fix in the rules unparks a workflow.
type DecodeFunc func(raw []byte) ([]*event.Event, error)

// Store is the event store.
type Store interface {
	// Append stores a workflow's incoming events in order. It is idempotent:
	// entries at or before the last applied stream position, and events whose
	// id the workflow already holds, are counted as duplicates and not
	// stored again. The first entry with a Problem parks the workflow: it and
	// every later entry are set aside in order until Resume.
	Append(ctx context.Context, workflowID string, in []Incoming) (AppendResult, error)
	// Read returns a page of a workflow's events in order. An unknown
	// workflow has no events.
	Read(ctx context.Context, workflowID string, q Query) (Page, error)
	// Head returns a workflow's summary; an unknown workflow has a zero Head.
	Head(ctx context.Context, workflowID string) (Head, error)
	// ListParked lists parked workflows.
	ListParked(ctx context.Context) ([]Head, error)
	// Parked returns the entries set aside for a workflow, in order.
	Parked(ctx context.Context, workflowID string) ([]ParkedEntry, error)
	// Resume re-applies a parked workflow's entries in order, with fixes,
	// until all are stored (the workflow is unparked) or one fails again
	// (it stays parked with the new reason).
	Resume(ctx context.Context, workflowID string, decode DecodeFunc, fix Fix) (AppendResult, error)
}
