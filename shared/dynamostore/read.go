package dynamostore

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/flowbus/flowbus/shared/event"
	"github.com/flowbus/flowbus/shared/eventstore"
	"github.com/flowbus/flowbus/shared/table"
)

// maxExamined bounds the items one Read looks at, so a selective type filter
// over a long history answers with a short page and a cursor instead of
// reading everything in one call.
const maxExamined = 5000

func (st *Store) getHead(ctx context.Context, wf string) (head, error) {
	out, err := st.db.GetItem(ctx, &dynamodb.GetItemInput{
		TableName: aws.String(st.table), Key: table.Key(table.WorkflowPK(wf), table.HeadSK), ConsistentRead: aws.Bool(true),
	})
	if err != nil {
		return head{}, fmt.Errorf("head %s: %w", wf, err)
	}
	return decodeHead(out.Item)
}

// Head implements eventstore.Store.
func (st *Store) Head(ctx context.Context, wf string) (eventstore.Head, error) {
	h, err := st.getHead(ctx, wf)
	if err != nil {
		return eventstore.Head{}, err
	}
	return eventstore.Head{
		WorkflowID: wf, Last: h.last, Bytes: h.bytes, Position: h.pos,
		ParkedReason: h.parked, ParkedCount: int(h.pn - h.pd),
	}, nil
}

// item is one logical entry read back: an event or a parked entry, with its
// parts joined.
type item struct {
	seq   uint64
	attrs map[string]types.AttributeValue
	data  []byte
}

// scan reads the entries of one workflow partition between two sort keys, in
// order, joining multi-part entries, and calls fn for each until fn says
// stop or examined items reach the bound. It returns the last sort position
// it finished.
func (st *Store) scan(ctx context.Context, wf, prefix string, from, to uint64, fn func(item) (stop bool, err error)) (done uint64, more bool, err error) {
	lo := prefix + table.PositionSK(from)
	hi := table.PartsEnd(prefix + table.PositionSK(to))
	var start map[string]types.AttributeValue
	var cur *item
	examined := 0
	for {
		out, err := st.db.Query(ctx, &dynamodb.QueryInput{
			TableName:              aws.String(st.table),
			KeyConditionExpression: aws.String("#pk = :pk AND #sk BETWEEN :lo AND :hi"),
			ExpressionAttributeNames: map[string]string{
				"#pk": table.PK, "#sk": table.SK,
			},
			ExpressionAttributeValues: map[string]types.AttributeValue{
				":pk": s(table.WorkflowPK(wf)), ":lo": s(lo), ":hi": s(hi),
			},
			ConsistentRead:    aws.Bool(true),
			ExclusiveStartKey: start,
			Limit:             aws.Int32(500),
		})
		if err != nil {
			return done, false, fmt.Errorf("read %s: %w", wf, err)
		}
		for _, it := range out.Items {
			sk := getS(it, table.SK)[len(prefix):]
			base, _, isPart := strings.Cut(sk, table.PartSeparator)
			if isPart {
				if cur == nil || table.PositionSK(cur.seq) != base {
					return done, false, fmt.Errorf("read %s: part %s without its first item", wf, sk)
				}
				cur.data = append(cur.data, getB(it, table.AttrData)...)
				continue
			}
			if cur != nil {
				stop, err := fn(*cur)
				if err != nil {
					return done, false, err
				}
				done = cur.seq
				if stop || examined >= maxExamined {
					return done, true, nil
				}
			}
			seq, err := strconv.ParseUint(base, 10, 64)
			if err != nil {
				return done, false, fmt.Errorf("read %s: sort key %q", wf, sk)
			}
			examined++
			cur = &item{seq: seq, attrs: it, data: getB(it, table.AttrData)}
			if getN(it, table.AttrParts) > 1 {
				cur.data = append([]byte(nil), cur.data...)
			}
		}
		if out.LastEvaluatedKey == nil {
			break
		}
		start = out.LastEvaluatedKey
	}
	if cur != nil {
		if _, err := fn(*cur); err != nil {
			return done, false, err
		}
		done = cur.seq
	}
	return done, false, nil
}

// Read implements eventstore.Store. It reads only committed positions: those
// up to the head's last, so what an unfinished append left is never seen.
func (st *Store) Read(ctx context.Context, wf string, q eventstore.Query) (eventstore.Page, error) {
	limit := q.Limit
	if limit <= 0 {
		limit = eventstore.DefaultLimit
	}
	limit = min(limit, eventstore.MaxLimit)
	h, err := st.getHead(ctx, wf)
	if err != nil {
		return eventstore.Page{}, err
	}
	var page eventstore.Page
	if q.After >= h.last {
		return page, nil
	}
	done, stopped, err := st.scan(ctx, wf, "", q.After+1, h.last, func(it item) (bool, error) {
		if !eventstore.Matches(q.Types, getS(it.attrs, table.AttrType)) {
			return false, nil
		}
		e, err := event.Decode(it.data, event.DecodeOptions{Wire: true})
		if err != nil {
			return false, fmt.Errorf("read %s: event %d: %w", wf, it.seq, err)
		}
		if !q.MatchesTime(e.Time) {
			return false, nil
		}
		e.Sequence = it.seq
		page.Events = append(page.Events, e)
		return len(page.Events) >= limit, nil
	})
	if err != nil {
		return eventstore.Page{}, err
	}
	if stopped && done < h.last {
		page.Next = done
	}
	return page, nil
}

// ListParked implements eventstore.Store.
func (st *Store) ListParked(ctx context.Context) ([]eventstore.Head, error) {
	var heads []eventstore.Head
	var start map[string]types.AttributeValue
	for {
		out, err := st.db.Query(ctx, &dynamodb.QueryInput{
			TableName:                 aws.String(st.table),
			KeyConditionExpression:    aws.String("#pk = :pk"),
			ExpressionAttributeNames:  map[string]string{"#pk": table.PK},
			ExpressionAttributeValues: map[string]types.AttributeValue{":pk": s(table.ParkedListPK)},
			ExclusiveStartKey:         start,
		})
		if err != nil {
			return nil, fmt.Errorf("list parked: %w", err)
		}
		for _, it := range out.Items {
			wf := getS(it, table.SK)
			// The list is written before the head commits; the head decides.
			h, err := st.Head(ctx, wf)
			if err != nil {
				return nil, err
			}
			if h.ParkedReason != "" {
				heads = append(heads, h)
			}
		}
		if out.LastEvaluatedKey == nil {
			return heads, nil
		}
		start = out.LastEvaluatedKey
	}
}

// Parked implements eventstore.Store.
func (st *Store) Parked(ctx context.Context, wf string) ([]eventstore.ParkedEntry, error) {
	h, err := st.getHead(ctx, wf)
	if err != nil {
		return nil, err
	}
	return st.parkedEntries(ctx, wf, h)
}

func (st *Store) parkedEntries(ctx context.Context, wf string, h head) ([]eventstore.ParkedEntry, error) {
	if h.pn <= h.pd {
		return nil, nil
	}
	var entries []eventstore.ParkedEntry
	_, _, err := st.scan(ctx, wf, table.ParkedPrefix, h.pd+1, h.pn, func(it item) (bool, error) {
		pos, err := eventstore.ParsePosition(getS(it.attrs, table.AttrPos))
		if err != nil {
			return false, err
		}
		entries = append(entries, eventstore.ParkedEntry{N: it.seq, Raw: it.data, Reason: getS(it.attrs, table.AttrReason), Pos: pos})
		return false, nil
	})
	return entries, err
}

// Resume implements eventstore.Store.
func (st *Store) Resume(ctx context.Context, wf string, decode eventstore.DecodeFunc, fix eventstore.Fix) (eventstore.AppendResult, error) {
	var res eventstore.AppendResult
	err := st.withLease(ctx, wf, func(ctx context.Context, l *lease) error {
		var err error
		res, err = st.resumeHeld(ctx, l, decode, fix)
		return err
	})
	if err != nil {
		return eventstore.AppendResult{}, err
	}
	return res, nil
}

// resumeHeld is Resume under the workflow's lease.
func (st *Store) resumeHeld(ctx context.Context, l *lease, decode eventstore.DecodeFunc, fix eventstore.Fix) (eventstore.AppendResult, error) {
	var res eventstore.AppendResult
	wf, h := l.wf, l.head
	if h.parked == "" {
		return res, fmt.Errorf("resume %s: %w", wf, eventstore.ErrNotParked)
	}
	entries, err := st.parkedEntries(ctx, wf, h)
	if err != nil {
		return res, err
	}
	skip := make(map[uint64]bool, len(fix.Skip))
	for _, nth := range fix.Skip {
		skip[nth] = true
	}
	c := commit{last: h.last, pos: h.pos, bytes: h.bytes, pn: h.pn, pd: h.pd}
	var evs []*event.Event
	for _, entry := range entries {
		if skip[entry.N] {
			c.pd = entry.N
			continue
		}
		raw := entry.Raw
		if r, ok := fix.Replace[entry.N]; ok {
			raw = r
		}
		got, err := decode(raw)
		if err != nil {
			c.parked = fmt.Sprintf("entry %d: %v", entry.N, err)
			break
		}
		evs = append(evs, got...)
		c.pd = entry.N
	}
	var items []map[string]types.AttributeValue
	if len(evs) > 0 {
		p, err := st.prepareEvents(ctx, wf, h.last, evs, nil)
		if err != nil {
			return res, err
		}
		items = p.items
		res.Stored, res.Duplicates, res.Bytes = p.stored, p.dups, p.bytes
		if p.stored > 0 {
			res.First, res.Last = h.last+1, h.last+uint64(p.stored)
		}
		c.last += uint64(p.stored)
		c.bytes += int64(p.bytes)
	}
	res.Parked = int(c.pn - c.pd)
	if err := st.batchWrite(ctx, items); err != nil {
		return eventstore.AppendResult{}, fmt.Errorf("resume %s: %w", wf, err)
	}
	if err := st.commit(ctx, l, c); err != nil {
		return eventstore.AppendResult{}, err
	}
	if c.parked == "" {
		// Unparked: drop it from the list. Left over if this fails, the
		// list entry is ignored because the head no longer says parked.
		_, _ = st.db.DeleteItem(ctx, &dynamodb.DeleteItemInput{TableName: aws.String(st.table), Key: table.Key(table.ParkedListPK, wf)})
	}
	return res, nil
}
