package loadgen

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/flowbus/flowbus/shared/table"
)

// QueryAPI is the one DynamoDB call the checker makes.
type QueryAPI interface {
	Query(ctx context.Context, in *dynamodb.QueryInput, optFns ...func(*dynamodb.Options)) (*dynamodb.QueryOutput, error)
}

// Checker reads workflows straight from the event store table, with the keys
// and attribute names of shared/table (whose doc.go shows the layout), so
// that nothing the store's own reader hides — a gap, an item past the head —
// escapes it. Id markers are ignored.
type Checker struct {
	DB    QueryAPI
	Table string
}

// StoredEvent is one event item at a committed position.
type StoredEvent struct {
	Pos      uint64
	ID       string
	Workflow string // the event's own workflowid
	K        int    // data.k, -1 when absent
	T        int64  // data.t (publish time, Unix ms), 0 when absent
	At       int64  // when it was stored, Unix ms
	Bad      string // why ev could not be read, if it could not
}

// ParkedEntry is one parked entry of a workflow.
type ParkedEntry struct {
	Seq    uint64
	Reason string
	IDs    []string // ids of the events its raw data holds, if it decodes
}

// Workflow is what the store holds for one workflow.
type Workflow struct {
	Last         uint64        // the head's last committed position
	ParkedReason string        // the head's parking state
	Events       []StoredEvent // committed positions (≤ Last), in order
	Missing      []uint64      // positions ≤ Last without an item
	Beyond       int           // event items past Last (an unfinished append; invisible)
	Parked       []ParkedEntry
}

// ReadWorkflow reads one workflow's partition with consistent reads.
func (c *Checker) ReadWorkflow(ctx context.Context, wf string) (Workflow, error) {
	var w Workflow
	type raw struct {
		pos   uint64
		items []map[string]types.AttributeValue
	}
	var events, parked []raw
	var start map[string]types.AttributeValue
	for {
		out, err := c.DB.Query(ctx, &dynamodb.QueryInput{
			TableName:                 aws.String(c.Table),
			KeyConditionExpression:    aws.String(table.PK + " = :pk"),
			ExpressionAttributeValues: map[string]types.AttributeValue{":pk": &types.AttributeValueMemberS{Value: table.WorkflowPK(wf)}},
			ConsistentRead:            aws.Bool(true),
			ExclusiveStartKey:         start,
		})
		if err != nil {
			return Workflow{}, fmt.Errorf("query %s: %w", wf, err)
		}
		for _, it := range out.Items {
			sk := str(it, table.SK)
			switch {
			case sk == table.HeadSK:
				w.Last = num(it, table.AttrLast)
				w.ParkedReason = str(it, table.AttrParked)
			case strings.HasPrefix(sk, table.ParkedPrefix):
				base, part, _ := strings.Cut(sk[len(table.ParkedPrefix):], table.PartSeparator)
				seq, err := strconv.ParseUint(base, 10, 64)
				if err != nil {
					return Workflow{}, fmt.Errorf("query %s: parked sort key %q", wf, sk)
				}
				if part != "" && len(parked) > 0 && parked[len(parked)-1].pos == seq {
					parked[len(parked)-1].items = append(parked[len(parked)-1].items, it)
				} else {
					parked = append(parked, raw{pos: seq, items: []map[string]types.AttributeValue{it}})
				}
			case len(sk) >= table.PositionDigits && isDigits(sk[:table.PositionDigits]):
				seq, _ := strconv.ParseUint(sk[:table.PositionDigits], 10, 64)
				if len(sk) > table.PositionDigits && len(events) > 0 && events[len(events)-1].pos == seq {
					events[len(events)-1].items = append(events[len(events)-1].items, it)
				} else {
					events = append(events, raw{pos: seq, items: []map[string]types.AttributeValue{it}})
				}
			}
		}
		if out.LastEvaluatedKey == nil {
			break
		}
		start = out.LastEvaluatedKey
	}
	next := uint64(1)
	for _, r := range events {
		if r.pos > w.Last {
			w.Beyond++
			continue
		}
		for ; next < r.pos; next++ {
			w.Missing = append(w.Missing, next)
		}
		next = r.pos + 1
		first := r.items[0]
		data := joinData(r.items)
		e := StoredEvent{Pos: r.pos, ID: str(first, table.AttrID), At: int64(num(first, table.AttrAt)), K: -1}
		var ev struct {
			ID   string `json:"id"`
			WF   string `json:"workflowid"`
			Data struct {
				K *int  `json:"k"`
				T int64 `json:"t"`
			} `json:"data"`
		}
		if err := json.Unmarshal(data, &ev); err != nil {
			e.Bad = err.Error()
		} else {
			if e.ID == "" {
				e.ID = ev.ID
			}
			e.Workflow, e.T = ev.WF, ev.Data.T
			if ev.Data.K != nil {
				e.K = *ev.Data.K
			}
		}
		w.Events = append(w.Events, e)
	}
	for ; next <= w.Last; next++ {
		w.Missing = append(w.Missing, next)
	}
	for _, r := range parked {
		w.Parked = append(w.Parked, ParkedEntry{Seq: r.pos, Reason: str(r.items[0], table.AttrReason), IDs: idsIn(joinData(r.items))})
	}
	return w, nil
}

// ParkedWorkflows lists the workflows in the parked-workflow list whose id starts
// with prefix, with the reason.
func (c *Checker) ParkedWorkflows(ctx context.Context, prefix string) (map[string]string, error) {
	out := map[string]string{}
	var start map[string]types.AttributeValue
	for {
		res, err := c.DB.Query(ctx, &dynamodb.QueryInput{
			TableName:                 aws.String(c.Table),
			KeyConditionExpression:    aws.String(table.PK + " = :pk"),
			ExpressionAttributeValues: map[string]types.AttributeValue{":pk": &types.AttributeValueMemberS{Value: table.ParkedListPK}},
			ConsistentRead:            aws.Bool(true),
			ExclusiveStartKey:         start,
		})
		if err != nil {
			return nil, fmt.Errorf("query parked: %w", err)
		}
		for _, it := range res.Items {
			if wf := str(it, table.SK); strings.HasPrefix(wf, prefix) {
				out[wf] = str(it, table.AttrReason)
			}
		}
		if res.LastEvaluatedKey == nil {
			return out, nil
		}
		start = res.LastEvaluatedKey
	}
}

// Expect says what a scenario allows besides the plain rule (every
// acknowledged event stored once, in order, no gap, nothing parked).
type Expect struct {
	// Parked workflows that must be parked (a poison record among their
	// events): their acknowledged events may be parked instead of stored,
	// but never missing, and they must be parked.
	Parked map[string]bool
	// Unchanged, when set, is a snapshot the store must still equal for
	// these workflows (positions and ids), e.g. after re-delivered batches.
	Unchanged map[string]Workflow
}

// Problem is one thing wrong, precise enough to look up.
type Problem struct {
	Kind     string // missing, duplicate, out-of-order, gap, foreign, unreadable, parked-unexpected, not-parked, changed
	Workflow string
	ID       string
	K        int
	Pos      uint64
	Detail   string
}

func (p Problem) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%-17s %s", p.Kind, p.Workflow)
	if p.ID != "" {
		fmt.Fprintf(&b, " id %s", p.ID)
	}
	if p.K >= 0 {
		fmt.Fprintf(&b, " k %d", p.K)
	}
	if p.Pos > 0 {
		fmt.Fprintf(&b, " pos %d", p.Pos)
	}
	if p.Detail != "" {
		b.WriteString(": " + p.Detail)
	}
	return b.String()
}

// Report is the verdict on a run.
type Report struct {
	Workflows      int
	Acked          int
	Unacked        int // sent without an acknowledgement
	Stored         int // acknowledged events found stored (first copies)
	StoredUnacked  int // unacknowledged events found stored (allowed)
	Missing        int // acknowledged, neither stored nor parked
	Duplicates     int // extra copies of an event
	OutOfOrder     int
	Gaps           int // committed positions with no item
	Foreign        int // stored events no publisher sent
	ParkedExpected int // acknowledged events parked in an expected-parked workflow
	ParkedWrong    int // workflows parked that should not be, or not parked that should
	Beyond         int // items past a head (an unfinished append; not an error)
	Problems       []Problem
	// Latency is stored time minus publish time of every acknowledged
	// event stored, in ms, sorted.
	Latency []float64
}

// OK tells whether nothing is wrong.
func (r *Report) OK() bool { return len(r.Problems) == 0 }

// Judge compares what the publishers know with what the store holds. It is
// pure: the checker's rules, testable without a table.
func Judge(l *Ledger, stored map[string]Workflow, parkedList map[string]string, exp Expect) *Report {
	l.mu.Lock()
	defer l.mu.Unlock()
	r := &Report{}
	seen := map[string]bool{}
	var wfs []string
	for wf := range l.Acked {
		seen[wf] = true
		wfs = append(wfs, wf)
	}
	for wf := range l.Unacked {
		if !seen[wf] {
			seen[wf] = true
			wfs = append(wfs, wf)
		}
		r.Unacked += len(l.Unacked[wf])
	}
	for wf := range exp.Parked {
		if !seen[wf] {
			seen[wf] = true
			wfs = append(wfs, wf)
		}
	}
	sortStrings(wfs)
	r.Workflows = len(wfs)
	for _, wf := range wfs {
		judgeWorkflow(r, wf, l.Acked[wf], l.Unacked[wf], stored[wf], parkedList, exp)
	}
	for wf, reason := range parkedList {
		if !seen[wf] {
			r.ParkedWrong++
			r.add(Problem{Kind: "parked-unexpected", Workflow: wf, K: -1, Detail: "listed as parked but no publisher used it: " + reason})
		}
	}
	sort.Float64s(r.Latency)
	return r
}

func (r *Report) add(p Problem) { r.Problems = append(r.Problems, p) }

func judgeWorkflow(r *Report, wf string, acked []Ack, unacked map[int]string, w Workflow, parkedList map[string]string, exp Expect) {
	r.Acked += len(acked)
	r.Beyond += w.Beyond
	for _, pos := range w.Missing {
		r.Gaps++
		r.add(Problem{Kind: "gap", Workflow: wf, Pos: pos, K: -1, Detail: fmt.Sprintf("no item at a committed position (head last %d)", w.Last)})
	}
	index := make(map[string]int, len(acked))
	for i, a := range acked {
		index[a.ID] = i
	}
	storedAt := map[string]uint64{}
	highest, highestPos := -1, uint64(0)
	for _, e := range w.Events {
		if e.Bad != "" {
			r.add(Problem{Kind: "unreadable", Workflow: wf, ID: e.ID, K: -1, Pos: e.Pos, Detail: e.Bad})
			continue
		}
		if first, dup := storedAt[e.ID]; dup {
			r.Duplicates++
			r.add(Problem{Kind: "duplicate", Workflow: wf, ID: e.ID, K: e.K, Pos: e.Pos, Detail: fmt.Sprintf("also at position %d", first)})
			continue
		}
		storedAt[e.ID] = e.Pos
		if e.Workflow != "" && e.Workflow != wf {
			r.add(Problem{Kind: "foreign", Workflow: wf, ID: e.ID, K: e.K, Pos: e.Pos, Detail: "the event belongs to workflow " + e.Workflow})
			r.Foreign++
			continue
		}
		i, ok := index[e.ID]
		if !ok {
			if _, sent := unacked[e.K]; sent && e.K >= 0 {
				r.StoredUnacked++
				continue
			}
			r.Foreign++
			r.add(Problem{Kind: "foreign", Workflow: wf, ID: e.ID, K: e.K, Pos: e.Pos, Detail: "stored but never sent by this run"})
			continue
		}
		r.Stored++
		if e.At > 0 && e.T > 0 {
			r.Latency = append(r.Latency, float64(e.At-e.T))
		} else if e.At > 0 {
			r.Latency = append(r.Latency, float64(e.At-acked[i].SentAt.UnixMilli()))
		}
		if i < highest {
			r.OutOfOrder++
			r.add(Problem{Kind: "out-of-order", Workflow: wf, ID: e.ID, K: acked[i].K, Pos: e.Pos,
				Detail: fmt.Sprintf("acknowledged as #%d of the workflow but stored after #%d (k %d, position %d)", i+1, highest+1, acked[highest].K, highestPos)})
		} else {
			highest, highestPos = i, e.Pos
		}
	}
	parkedIDs := map[string]bool{}
	for _, p := range w.Parked {
		for _, id := range p.IDs {
			parkedIDs[id] = true
		}
	}
	mustPark := exp.Parked[wf]
	_, listed := parkedList[wf]
	isParked := listed || w.ParkedReason != ""
	switch {
	case mustPark && !isParked:
		r.ParkedWrong++
		r.add(Problem{Kind: "not-parked", Workflow: wf, K: -1, Detail: "the scenario poisoned it but it is not parked"})
	case !mustPark && isParked:
		r.ParkedWrong++
		r.add(Problem{Kind: "parked-unexpected", Workflow: wf, K: -1, Detail: fmt.Sprintf("parked (%s), %d entries set aside", firstOf(w.ParkedReason, parkedList[wf]), len(w.Parked))})
	}
	for i, a := range acked {
		if _, ok := storedAt[a.ID]; ok {
			continue
		}
		if parkedIDs[a.ID] {
			if mustPark {
				r.ParkedExpected++
				continue
			}
			r.Missing++
			r.add(Problem{Kind: "missing", Workflow: wf, ID: a.ID, K: a.K, Detail: fmt.Sprintf("acknowledged #%d: parked, not stored", i+1)})
			continue
		}
		r.Missing++
		r.add(Problem{Kind: "missing", Workflow: wf, ID: a.ID, K: a.K, Detail: fmt.Sprintf("acknowledged #%d of %d, neither stored nor parked (sent %s)", i+1, len(acked), a.SentAt.Format("15:04:05.000"))})
	}
	if before, ok := exp.Unchanged[wf]; ok {
		if d := diffEvents(before.Events, w.Events); d != "" {
			r.add(Problem{Kind: "changed", Workflow: wf, K: -1, Detail: d})
		}
	}
}

// diffEvents says how two readings of a workflow differ in positions and ids.
func diffEvents(before, after []StoredEvent) string {
	if len(before) != len(after) {
		return fmt.Sprintf("had %d events, now %d", len(before), len(after))
	}
	for i := range before {
		if before[i].Pos != after[i].Pos || before[i].ID != after[i].ID {
			return fmt.Sprintf("position %d held %s, now %s at %d", before[i].Pos, before[i].ID, after[i].ID, after[i].Pos)
		}
	}
	return ""
}

// CheckOptions bounds the wait for the consumer.
type CheckOptions struct {
	// Wait is how long the consumer may take to store everything
	// acknowledged; default 60s.
	Wait time.Duration
	// Poll is the pause between readings; default 1s.
	Poll time.Duration
	// Stall ends the wait early once nothing changed for this long;
	// default 20s.
	Stall  time.Duration
	Expect Expect
	// Prefix selects this run's workflows in the parked list; default:
	// only workflows the ledger knows count.
	Prefix string
}

// Check waits (bounded) until every acknowledged event is stored or parked,
// or nothing moves any more, then judges the store.
func (c *Checker) Check(ctx context.Context, l *Ledger, o CheckOptions) (*Report, error) {
	if o.Wait <= 0 {
		o.Wait = 60 * time.Second
	}
	if o.Poll <= 0 {
		o.Poll = time.Second
	}
	if o.Stall <= 0 {
		o.Stall = 20 * time.Second
	}
	deadline := time.Now().Add(o.Wait)
	wfs := l.Workflows()
	for wf := range o.Expect.Parked {
		if !contains(wfs, wf) {
			wfs = append(wfs, wf)
		}
	}
	lastFound, lastChange := -1, time.Now()
	for {
		stored, err := c.readAll(ctx, wfs)
		if err != nil {
			return nil, err
		}
		var parked map[string]string
		if o.Prefix != "" {
			if parked, err = c.ParkedWorkflows(ctx, o.Prefix); err != nil {
				return nil, err
			}
		}
		rep := Judge(l, stored, parked, o.Expect)
		found := rep.Stored + rep.ParkedExpected
		if found != lastFound {
			lastFound, lastChange = found, time.Now()
		}
		switch {
		case rep.Missing == 0:
			return rep, nil
		case time.Now().After(deadline), time.Since(lastChange) >= o.Stall:
			return rep, nil
		}
		select {
		case <-ctx.Done():
			return rep, ctx.Err()
		case <-time.After(o.Poll):
		}
	}
}

// Snapshot reads the given workflows as they are now.
func (c *Checker) Snapshot(ctx context.Context, wfs []string) (map[string]Workflow, error) {
	return c.readAll(ctx, wfs)
}

func (c *Checker) readAll(ctx context.Context, wfs []string) (map[string]Workflow, error) {
	out := make(map[string]Workflow, len(wfs))
	type res struct {
		wf  string
		w   Workflow
		err error
	}
	ch := make(chan res, len(wfs))
	sem := make(chan struct{}, 8)
	for _, wf := range wfs {
		go func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			w, err := c.ReadWorkflow(ctx, wf)
			ch <- res{wf, w, err}
		}()
	}
	var errs []error
	for range wfs {
		r := <-ch
		if r.err != nil {
			errs = append(errs, r.err)
			continue
		}
		out[r.wf] = r.w
	}
	return out, errors.Join(errs...)
}

// Summary is one line of counts.
func (r *Report) Summary() string {
	return fmt.Sprintf("acknowledged %d, stored %d, missing %d, duplicates %d, out of order %d, gaps %d, parked %d expected / %d workflows wrong, foreign %d, unacknowledged %d (%d of them stored)",
		r.Acked, r.Stored, r.Missing, r.Duplicates, r.OutOfOrder, r.Gaps, r.ParkedExpected, r.ParkedWrong, r.Foreign, r.Unacked, r.StoredUnacked)
}

// Details lists the first n problems, one a line, and how many more.
func (r *Report) Details(n int) string {
	var b strings.Builder
	for i, p := range r.Problems {
		if i == n {
			fmt.Fprintf(&b, "  … and %d more\n", len(r.Problems)-n)
			break
		}
		b.WriteString("  " + p.String() + "\n")
	}
	return b.String()
}

// idsIn returns the ids of the events raw holds: one CloudEvent, or a batch.
func idsIn(raw []byte) []string {
	type withID struct {
		ID string `json:"id"`
	}
	var one withID
	if json.Unmarshal(raw, &one) == nil && one.ID != "" {
		return []string{one.ID}
	}
	var many []withID
	if json.Unmarshal(raw, &many) == nil {
		var out []string
		for _, e := range many {
			if e.ID != "" {
				out = append(out, e.ID)
			}
		}
		return out
	}
	return nil
}

func joinData(items []map[string]types.AttributeValue) []byte {
	if len(items) == 1 {
		return bin(items[0], table.AttrData)
	}
	var out []byte
	for _, it := range items {
		out = append(out, bin(it, table.AttrData)...)
	}
	return out
}

func str(item map[string]types.AttributeValue, name string) string {
	if v, ok := item[name].(*types.AttributeValueMemberS); ok {
		return v.Value
	}
	return ""
}

func num(item map[string]types.AttributeValue, name string) uint64 {
	if v, ok := item[name].(*types.AttributeValueMemberN); ok {
		u, _ := strconv.ParseUint(v.Value, 10, 64)
		return u
	}
	return 0
}

func bin(item map[string]types.AttributeValue, name string) []byte {
	switch v := item[name].(type) {
	case *types.AttributeValueMemberB:
		return v.Value
	case *types.AttributeValueMemberS:
		return []byte(v.Value)
	}
	return nil
}

func isDigits(s string) bool {
	for i := range len(s) {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}

func firstOf(s ...string) string {
	for _, v := range s {
		if v != "" {
			return v
		}
	}
	return ""
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

func sortStrings(s []string) { sort.Strings(s) }

// Percentile returns the p-th percentile (0–100) of sorted values, nearest rank.
func Percentile(sorted []float64, p float64) float64 {
	if len(sorted) == 0 {
		return 0
	}
	i := int(p/100*float64(len(sorted))+0.5) - 1
	return sorted[min(max(i, 0), len(sorted)-1)]
}
