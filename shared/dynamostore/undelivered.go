package dynamostore

import (
	"context"
	"fmt"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/flowbus/flowbus/shared/event"
	"github.com/flowbus/flowbus/shared/eventstore"
	"github.com/flowbus/flowbus/shared/table"
)

// Records the event source mapping gave up on never reached the consumer;
// shared/deadletter reads them back from the stream and hands each
// workflow's entries to ParkUndelivered, which sets them aside as parked
// entries so that nothing the mapping gave up on is lost.
//
// Unlike Append, it cannot trust the head's stream position: the mapping
// moved on after giving up, so later records of the workflow may have been
// applied and the position may lie beyond the given-up entries although
// they were never stored. An entry is therefore left out only on proof:
//
//   - its position is a parked entry's position already (the same
//     on-failure record processed again, or an entry an operator resolved);
//   - its event's id is stored in the workflow: a producer-chosen id through
//     its marker, as Append's dedup does; an id flowbus generated, only when
//     the head's position says the entry may have been applied, by a Query
//     of the workflow's event items (a rare path).
//
// Everything else is parked in stream order and the workflow becomes parked,
// so its later records park behind (Append parks everything of a parked
// workflow). When the workflow already has unresolved parked entries from
// later records, the new entries are put before them: the whole list is
// written again at fresh numbers and the old numbers count as resolved, so a
// crash before the commit leaves nothing visible, as with Append.
//
// Events of the workflow stored from later records before this could run
// cannot be moved: they are counted (events stored at or after GivenUp.At,
// when the mapping gave up) and named in the entries' reason as broken
// order. The head's stream position only moves forward, within its shard.

// ParkUndelivered parks wf's entries that the event source mapping gave up
// on, except those the workflow holds already. It is idempotent.
func (st *Store) ParkUndelivered(ctx context.Context, wf string, in []eventstore.Incoming, g eventstore.GivenUp) (eventstore.UndeliveredResult, error) {
	var res eventstore.UndeliveredResult
	if len(in) == 0 {
		return res, nil
	}
	err := st.withLease(ctx, wf, func(ctx context.Context, l *lease) error {
		var err error
		res, err = st.parkUndeliveredHeld(ctx, l, in, g)
		return err
	})
	if err != nil {
		return eventstore.UndeliveredResult{}, err
	}
	return res, nil
}

func (st *Store) parkUndeliveredHeld(ctx context.Context, l *lease, in []eventstore.Incoming, g eventstore.GivenUp) (eventstore.UndeliveredResult, error) {
	var res eventstore.UndeliveredResult
	wf, h := l.wf, l.head

	// Positions parked before, resolved or not.
	seen, err := st.parkedPositions(ctx, wf, h.pn)
	if err != nil {
		return res, err
	}
	var rest []eventstore.Incoming
	for _, x := range in {
		if seen[x.Pos.String()] {
			res.AlreadyParked++
			continue
		}
		rest = append(rest, x)
	}
	if len(rest) == 0 {
		return res, nil
	}

	// Producer-chosen ids through their markers (and twice in one run).
	var evs []*event.Event
	var evAt []int // index in rest of each of evs
	for i, x := range rest {
		if x.Event != nil {
			evs = append(evs, x.Event)
			evAt = append(evAt, i)
		}
	}
	stored := make([]bool, len(rest))
	if len(evs) > 0 {
		keep, err := st.dedup(ctx, wf, h.last, evs)
		if err != nil {
			return res, fmt.Errorf("park undelivered %s: %w", wf, err)
		}
		for k, i := range evAt {
			stored[i] = !keep[k]
		}
	}
	// Generated ids that the head's position may have applied.
	mayBeApplied := func(p eventstore.Position) bool {
		return h.last > 0 && h.pos.Seq != "" && (h.pos.Shard != p.Shard || h.pos.Covers(p))
	}
	needIDs := false
	for i, x := range rest {
		if !stored[i] && x.Event != nil && x.Event.IDGenerated && mayBeApplied(x.Pos) {
			needIDs = true
		}
	}
	// Later records applied: the head's position is beyond the first entry.
	laterApplied := mayBeApplied(rest[0].Pos) && h.pos != rest[0].Pos
	var ids map[string]bool
	if needIDs || laterApplied {
		ids, res.LaterStored, err = st.storedSince(ctx, wf, h.last, g, needIDs)
		if err != nil {
			return res, err
		}
	}
	var toPark []eventstore.Incoming
	for i, x := range rest {
		if stored[i] || (x.Event != nil && x.Event.IDGenerated && ids[x.Event.ID]) {
			res.Duplicates++
			continue
		}
		toPark = append(toPark, x)
	}
	if len(toPark) == 0 {
		return res, nil
	}

	reason := g.Reason()
	if res.LaterStored > 0 {
		reason += fmt.Sprintf("; %d later events of this workflow were stored before it: order broken", res.LaterStored)
		res.OrderBroken = len(toPark)
	}
	c := commit{last: h.last, pos: h.pos, bytes: h.bytes, pn: h.pn, pd: h.pd, parked: h.parked}
	for _, x := range in {
		if c.pos.Seq == "" || (c.pos.Shard == x.Pos.Shard && !c.pos.Covers(x.Pos)) {
			c.pos = x.Pos // forward only, within the head's shard
		}
	}
	var items []map[string]types.AttributeValue
	if c.parked == "" {
		c.parked = reason
		items = append(items, map[string]types.AttributeValue{
			table.PK: s(table.ParkedListPK), table.SK: s(wf), table.AttrReason: s(reason), table.AttrAt: ni(st.now().UnixMilli()),
		})
	}
	list, rewritten, err := st.orderParked(ctx, wf, h, toPark, reason)
	if err != nil {
		return res, err
	}
	for i, p := range list {
		items = append(items, st.parkedItems(wf, c.pn+1+uint64(i), p.in, p.reason)...)
	}
	if rewritten {
		c.pd = c.pn // the old numbers are all in the new list
	}
	c.pn += uint64(len(list))
	if err := st.batchWrite(ctx, items); err != nil {
		return eventstore.UndeliveredResult{}, fmt.Errorf("park undelivered %s: %w", wf, err)
	}
	if err := st.commit(ctx, l, c); err != nil {
		return eventstore.UndeliveredResult{}, err
	}
	res.Parked = len(toPark)
	return res, nil
}

// parkedEntry is an entry to write to the parked list.
type parkedEntry struct {
	in     eventstore.Incoming
	reason string
}

// orderParked returns the entries to append to wf's parked list. Usually
// that is toPark alone; when an unresolved parked entry comes later in the
// stream than one of toPark, it is the unresolved entries and toPark merged
// in stream order, and rewritten is true.
func (st *Store) orderParked(ctx context.Context, wf string, h head, toPark []eventstore.Incoming, reason string) ([]parkedEntry, bool, error) {
	out := make([]parkedEntry, 0, len(toPark))
	var waiting []eventstore.ParkedEntry
	if h.pn > h.pd {
		var err error
		if waiting, err = st.parkedEntries(ctx, wf, h); err != nil {
			return nil, false, err
		}
	}
	before := func(x eventstore.Incoming, e eventstore.ParkedEntry) bool {
		return e.Pos.Shard == x.Pos.Shard && e.Pos.Covers(x.Pos) && e.Pos != x.Pos
	}
	rewrite := false
	for _, e := range waiting {
		for _, x := range toPark {
			if before(x, e) {
				rewrite = true
			}
		}
	}
	if !rewrite {
		for _, x := range toPark {
			out = append(out, parkedEntry{in: x, reason: reason})
		}
		return out, false, nil
	}
	j := 0
	for _, e := range waiting {
		for j < len(toPark) && before(toPark[j], e) {
			out = append(out, parkedEntry{in: toPark[j], reason: reason})
			j++
		}
		out = append(out, parkedEntry{in: eventstore.Incoming{Raw: e.Raw, Pos: e.Pos}, reason: e.Reason})
	}
	for ; j < len(toPark); j++ {
		out = append(out, parkedEntry{in: toPark[j], reason: reason})
	}
	return out, true, nil
}

// parkedPositions returns the stream positions of wf's parked entries
// 1..pn, resolved ones included.
func (st *Store) parkedPositions(ctx context.Context, wf string, pn uint64) (map[string]bool, error) {
	seen := map[string]bool{}
	if pn == 0 {
		return seen, nil
	}
	err := st.queryItems(ctx, wf, table.ParkedSK(1), table.PartsEnd(table.ParkedSK(pn)), true, []string{table.SK, table.AttrPos}, func(it map[string]types.AttributeValue) bool {
		if !strings.Contains(getS(it, table.SK)[len(table.ParkedPrefix):], table.PartSeparator) {
			seen[getS(it, table.AttrPos)] = true
		}
		return true
	})
	if err != nil {
		return nil, fmt.Errorf("park undelivered %s: parked positions: %w", wf, err)
	}
	return seen, nil
}

// storedSince reads wf's committed events from the newest back: it counts
// those stored at or after g.At, and collects every event id when allIDs is
// set (otherwise it stops at the first event stored before g.At).
func (st *Store) storedSince(ctx context.Context, wf string, last uint64, g eventstore.GivenUp, allIDs bool) (map[string]bool, int, error) {
	ids := map[string]bool{}
	later := 0
	if last == 0 {
		return ids, 0, nil
	}
	since := g.At.UnixMilli()
	counting := !g.At.IsZero()
	err := st.queryItems(ctx, wf, table.PositionSK(1), table.PartsEnd(table.PositionSK(last)), false, []string{table.SK, table.AttrID, table.AttrAt}, func(it map[string]types.AttributeValue) bool {
		if strings.Contains(getS(it, table.SK), table.PartSeparator) {
			return true // a further part of an event
		}
		if counting && int64(getN(it, table.AttrAt)) >= since {
			later++
		} else {
			counting = false // stored times grow with positions
		}
		if allIDs {
			ids[getS(it, table.AttrID)] = true
		}
		return allIDs || counting
	})
	if err != nil {
		return nil, 0, fmt.Errorf("park undelivered %s: stored events: %w", wf, err)
	}
	return ids, later, nil
}

// queryItems runs a consistent Query of wf's partition between two sort
// keys, in either direction, calling fn for each item while it says go on.
func (st *Store) queryItems(ctx context.Context, wf, lo, hi string, forward bool, attrs []string, fn func(map[string]types.AttributeValue) bool) error {
	names := map[string]string{"#pk": table.PK, "#sk": table.SK}
	proj := make([]string, len(attrs))
	for i, a := range attrs {
		ref := "#sk"
		if a != table.SK {
			ref = fmt.Sprintf("#a%d", i)
			names[ref] = a
		}
		proj[i] = ref
	}
	var start map[string]types.AttributeValue
	for {
		out, err := st.db.Query(ctx, &dynamodb.QueryInput{
			TableName:                aws.String(st.table),
			KeyConditionExpression:   aws.String("#pk = :pk AND #sk BETWEEN :lo AND :hi"),
			ExpressionAttributeNames: names,
			ExpressionAttributeValues: map[string]types.AttributeValue{
				":pk": s(table.WorkflowPK(wf)), ":lo": s(lo), ":hi": s(hi),
			},
			ProjectionExpression: aws.String(strings.Join(proj, ",")),
			ScanIndexForward:     aws.Bool(forward),
			ConsistentRead:       aws.Bool(true),
			ExclusiveStartKey:    start,
		})
		if err != nil {
			return err
		}
		for _, it := range out.Items {
			if !fn(it) {
				return nil
			}
		}
		if out.LastEvaluatedKey == nil {
			return nil
		}
		start = out.LastEvaluatedKey
	}
}
