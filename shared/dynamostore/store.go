package dynamostore

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"golang.org/x/sync/errgroup"

	"github.com/flowbus/flowbus/shared/backoff"
	"github.com/flowbus/flowbus/shared/event"
	"github.com/flowbus/flowbus/shared/eventstore"
	"github.com/flowbus/flowbus/shared/table"
)

// API is the part of the DynamoDB client the store uses.
type API interface {
	GetItem(ctx context.Context, in *dynamodb.GetItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error)
	Query(ctx context.Context, in *dynamodb.QueryInput, optFns ...func(*dynamodb.Options)) (*dynamodb.QueryOutput, error)
	UpdateItem(ctx context.Context, in *dynamodb.UpdateItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error)
	BatchWriteItem(ctx context.Context, in *dynamodb.BatchWriteItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.BatchWriteItemOutput, error)
	BatchGetItem(ctx context.Context, in *dynamodb.BatchGetItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.BatchGetItemOutput, error)
	DeleteItem(ctx context.Context, in *dynamodb.DeleteItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.DeleteItemOutput, error)
}

// Options tunes a Store; zero values take the defaults.
type Options struct {
	// LeaseDuration is how long a claim on a workflow lasts unless renewed;
	// a live writer renews it every third of that, so a dead writer's
	// workflow is free again within this time. Default 10s.
	LeaseDuration time.Duration
	// ClaimReserve is the time a writer keeps for writing: it waits for a
	// busy workflow only while its context has more than this left.
	// Default 10s.
	ClaimReserve time.Duration
	// MaxItemBytes is the most event data one item holds; larger events are
	// split over several items (DynamoDB items are at most 400 KB).
	// Default 350,000.
	MaxItemBytes int
	// Concurrency is how many BatchWriteItem calls one Append runs at once.
	// Default 4.
	Concurrency int
	// Now is the clock leases are measured by; default time.Now.
	Now func() time.Time
}

func (o *Options) setDefaults() {
	if o.LeaseDuration <= 0 {
		o.LeaseDuration = 10 * time.Second
	}
	if o.ClaimReserve <= 0 {
		o.ClaimReserve = 10 * time.Second
	}
	if o.MaxItemBytes <= 0 || o.MaxItemBytes > 380_000 {
		o.MaxItemBytes = 350_000
	}
	if o.Concurrency <= 0 {
		o.Concurrency = 4
	}
	if o.Now == nil {
		o.Now = time.Now
	}
}

// Store is the DynamoDB event store. Build it once per cold start.
type Store struct {
	db    API
	table string
	opts  Options
	now   func() time.Time
}

var _ eventstore.Store = (*Store)(nil)

// New returns a store on the table named tableName.
func New(db API, tableName string, opts Options) *Store {
	opts.setDefaults()
	return &Store{db: db, table: tableName, opts: opts, now: opts.Now}
}

// isConditionFailed maps DynamoDB's conditional-check failure, in one place.
func isConditionFailed(err error) bool {
	var ccf *types.ConditionalCheckFailedException
	return errors.As(err, &ccf)
}

// head is the decoded head item.
type head struct {
	last   uint64
	bytes  int64
	pos    eventstore.Position
	parked string
	pn, pd uint64
}

func decodeHead(item map[string]types.AttributeValue) (head, error) {
	pos, err := eventstore.ParsePosition(getS(item, table.AttrPos))
	if err != nil {
		return head{}, err
	}
	return head{
		last: getN(item, table.AttrLast), bytes: int64(getN(item, table.AttrBytes)), pos: pos,
		parked: getS(item, table.AttrParked), pn: getN(item, table.AttrParkedWritten), pd: getN(item, table.AttrParkedResolved),
	}, nil
}

// commit publishes what a lease holder wrote: the head's new state becomes
// visible in one conditional write, and the lease ends.
type commit struct {
	last   uint64
	pos    eventstore.Position
	bytes  int64
	pn, pd uint64
	parked string // "" unparks
}

func (st *Store) commit(ctx context.Context, l *lease, c commit) error {
	names := map[string]string{
		"#lease": table.AttrLease, "#until": table.AttrUntil, "#last": table.AttrLast, "#pos": table.AttrPos,
		"#bytes": table.AttrBytes, "#pn": table.AttrParkedWritten, "#pd": table.AttrParkedResolved, "#parked": table.AttrParked,
	}
	values := map[string]types.AttributeValue{
		":tok": s(l.token), ":last": n(c.last), ":pos": s(c.pos.String()),
		":bytes": ni(c.bytes), ":pn": n(c.pn), ":pd": n(c.pd),
	}
	expr := "SET #last = :last, #pos = :pos, #bytes = :bytes, #pn = :pn, #pd = :pd"
	if c.parked != "" {
		expr += ", #parked = :parked REMOVE #lease, #until"
		values[":parked"] = s(c.parked)
	} else {
		expr += " REMOVE #lease, #until, #parked"
	}
	_, err := st.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                 aws.String(st.table),
		Key:                       table.Key(table.WorkflowPK(l.wf), table.HeadSK),
		UpdateExpression:          aws.String(expr),
		ConditionExpression:       aws.String("#lease = :tok"),
		ExpressionAttributeNames:  names,
		ExpressionAttributeValues: values,
	})
	if err != nil {
		if isConditionFailed(err) {
			return fmt.Errorf("commit %s: lease lost: %w", l.wf, eventstore.ErrBusy)
		}
		return fmt.Errorf("commit %s: %w", l.wf, err)
	}
	l.committed = true
	return nil
}

// Append implements eventstore.Store.
func (st *Store) Append(ctx context.Context, wf string, in []eventstore.Incoming) (eventstore.AppendResult, error) {
	var res eventstore.AppendResult
	if len(in) == 0 {
		return res, nil
	}
	err := st.withLease(ctx, wf, func(ctx context.Context, l *lease) error {
		var err error
		res, err = st.appendHeld(ctx, l, in)
		return err
	})
	if err != nil {
		return eventstore.AppendResult{}, err
	}
	return res, nil
}

// appendHeld is Append under the workflow's lease.
func (st *Store) appendHeld(ctx context.Context, l *lease, in []eventstore.Incoming) (eventstore.AppendResult, error) {
	var res eventstore.AppendResult
	wf, h := l.wf, l.head

	// Entries the workflow has already applied come again when Lambda
	// re-delivers a batch: skip them by stream position.
	fresh := in[:0:0]
	for _, x := range in {
		if h.pos.Covers(x.Pos) {
			res.Duplicates++
			continue
		}
		fresh = append(fresh, x)
	}
	if len(fresh) == 0 {
		return res, nil
	}

	var toStore []*event.Event
	var raws [][]byte
	var toPark []eventstore.Incoming
	if h.parked != "" {
		toPark = fresh
	} else {
		for i, x := range fresh {
			if x.Problem != nil {
				toPark = fresh[i:]
				break
			}
			toStore = append(toStore, x.Event)
			raws = append(raws, x.Raw)
		}
	}

	var items []map[string]types.AttributeValue
	c := commit{last: h.last, pos: fresh[len(fresh)-1].Pos, bytes: h.bytes, pn: h.pn, pd: h.pd, parked: h.parked}
	if len(toStore) > 0 {
		w, err := st.prepareEvents(ctx, wf, h.last, toStore, raws)
		if err != nil {
			return res, err
		}
		items = append(items, w.items...)
		res.Stored, res.Duplicates, res.Bytes = w.stored, res.Duplicates+w.dups, w.bytes
		if w.stored > 0 {
			res.First, res.Last = h.last+1, h.last+uint64(w.stored)
		}
		c.last += uint64(w.stored)
		c.bytes += int64(w.bytes)
	}
	if len(toPark) > 0 {
		reason := h.parked
		if reason == "" {
			reason = toPark[0].Problem.Error()
			c.parked = reason
			items = append(items, map[string]types.AttributeValue{
				table.PK: s(table.ParkedListPK), table.SK: s(wf), table.AttrReason: s(reason), table.AttrAt: ni(st.now().UnixMilli()),
			})
		}
		for i, x := range toPark {
			why := "behind an earlier parked entry"
			if x.Problem != nil {
				why = x.Problem.Error()
			}
			items = append(items, st.parkedItems(wf, c.pn+1+uint64(i), x, why)...)
		}
		c.pn += uint64(len(toPark))
		res.Parked = len(toPark)
	}
	if err := st.batchWrite(ctx, items); err != nil {
		return eventstore.AppendResult{}, fmt.Errorf("append %s: %w", wf, err)
	}
	if err := st.commit(ctx, l, c); err != nil {
		return eventstore.AppendResult{}, err
	}
	res.TotalEvents, res.TotalBytes = c.last, c.bytes
	return res, nil
}

// prepared is the items for a run of events and what they amount to.
type prepared struct {
	items        []map[string]types.AttributeValue
	stored, dups int
	bytes        int
}

// prepareEvents drops events the workflow already holds and builds the items
// for the rest at positions last+1, last+2, … raws, when given, holds each
// event's JSON as it came off the stream, stored as is instead of encoding
// the event again (readers decode it either way).
func (st *Store) prepareEvents(ctx context.Context, wf string, last uint64, evs []*event.Event, raws [][]byte) (prepared, error) {
	p := prepared{items: make([]map[string]types.AttributeValue, 0, len(evs)+1)}
	keep, err := st.dedup(ctx, wf, last, evs)
	if err != nil {
		return p, err
	}
	pk := s(table.WorkflowPK(wf)) // one value shared by every item: values are never modified
	storedAt := ni(st.now().UnixMilli())
	// One arena for every event's bytes; each item's slice stays valid when
	// the arena grows, since growing copies and never writes into old bytes.
	var arena []byte
	if raws == nil {
		arena = make([]byte, 0, 1200*len(evs))
	}
	typeValues := make(map[string]types.AttributeValue, 4) // one value per event type
	sks := sortKeys(last+1, len(evs))
	// Attribute values in slabs: one allocation for all instead of one each.
	strs := make([]types.AttributeValueMemberS, 0, 2*len(evs))
	bins := make([]types.AttributeValueMemberB, 0, len(evs))
	str := func(v string) types.AttributeValue {
		strs = append(strs, types.AttributeValueMemberS{Value: v})
		return &strs[len(strs)-1]
	}
	seq := last
	for i, e := range evs {
		if !keep[i] {
			p.dups++
			continue
		}
		seq++
		p.stored++
		var data []byte
		if raws != nil {
			data = raws[i]
		} else {
			start := len(arena)
			arena = event.Append(arena, e, false)
			data = arena[start:len(arena):len(arena)]
		}
		p.bytes += len(data)
		base := sks[(seq-last-1)*table.PositionDigits : (seq-last)*table.PositionDigits]
		parts := splitData(data, st.opts.MaxItemBytes)
		bins = append(bins, types.AttributeValueMemberB{Value: parts[0]})
		first := map[string]types.AttributeValue{
			table.PK: pk, table.SK: str(base), table.AttrID: str(e.ID), table.AttrType: typeValue(typeValues, e.Type), table.AttrAt: storedAt, table.AttrData: &bins[len(bins)-1],
		}
		if len(parts) > 1 {
			first[table.AttrParts] = n(uint64(len(parts)))
		}
		p.items = append(p.items, first)
		for k, part := range parts[1:] {
			p.items = append(p.items, map[string]types.AttributeValue{table.PK: pk, table.SK: s(table.PartSK(base, k+1)), table.AttrData: b(part)})
		}
		if !e.IDGenerated {
			p.items = append(p.items, map[string]types.AttributeValue{table.PK: pk, table.SK: s(table.MarkerSK(e.ID)), table.AttrSeq: n(seq)})
		}
	}
	return p, nil
}

// sortKeys returns the sort keys of count positions from first on, end to
// end in one string, so each key is a substring and costs no allocation.
func sortKeys(first uint64, count int) string {
	buf := make([]byte, 0, count*table.PositionDigits)
	for i := range count {
		buf = table.AppendPositionSK(buf, first+uint64(i))
	}
	return string(buf)
}

func typeValue(cache map[string]types.AttributeValue, typ string) types.AttributeValue {
	v, ok := cache[typ]
	if !ok {
		v = s(typ)
		cache[typ] = v
	}
	return v
}

func splitData(data []byte, max int) [][]byte {
	if len(data) <= max {
		return [][]byte{data}
	}
	var parts [][]byte
	for len(data) > max {
		parts = append(parts, data[:max])
		data = data[max:]
	}
	return append(parts, data)
}

// dedup reports which events to keep. An event is a duplicate when an
// earlier event of this run has its id, or when the workflow holds a
// committed event with its id (found through its marker, then confirmed,
// since a marker left by a crashed attempt may point past the head or at
// another event). Ids flowbus generated are unique and need no lookup.
func (st *Store) dedup(ctx context.Context, wf string, last uint64, evs []*event.Event) ([]bool, error) {
	keep := make([]bool, len(evs))
	seen := make(map[string]bool)
	var lookups []string
	for i, e := range evs {
		keep[i] = true
		if e.IDGenerated {
			continue // unique by construction
		}
		if seen[e.ID] {
			keep[i] = false
			continue
		}
		seen[e.ID] = true
		lookups = append(lookups, e.ID)
	}
	if len(lookups) == 0 || last == 0 {
		// Nothing committed yet: no marker can count, so none is read.
		return keep, nil
	}
	pk := table.WorkflowPK(wf)
	keys := make([]map[string]types.AttributeValue, len(lookups))
	for i, id := range lookups {
		keys[i] = table.Key(pk, table.MarkerSK(id))
	}
	markers, err := st.batchGet(ctx, keys, table.SK, table.AttrSeq)
	if err != nil {
		return nil, fmt.Errorf("dedup %s: %w", wf, err)
	}
	claimed := make(map[uint64]string) // position → id its marker claims
	var eventKeys []map[string]types.AttributeValue
	for _, m := range markers {
		seq := getN(m, table.AttrSeq)
		if seq == 0 || seq > last {
			continue // left by an attempt that never committed
		}
		claimed[seq] = getS(m, table.SK)[len(table.MarkerPrefix):]
		eventKeys = append(eventKeys, table.Key(pk, table.PositionSK(seq)))
	}
	if len(eventKeys) == 0 {
		return keep, nil
	}
	found, err := st.batchGet(ctx, eventKeys, table.SK, table.AttrID)
	if err != nil {
		return nil, fmt.Errorf("dedup %s: %w", wf, err)
	}
	stored := make(map[string]bool, len(found))
	for _, item := range found {
		seq, _ := strconv.ParseUint(getS(item, table.SK), 10, 64)
		if id := getS(item, table.AttrID); id != "" && claimed[seq] == id {
			stored[id] = true
		}
	}
	for i, e := range evs {
		if keep[i] && stored[e.ID] {
			keep[i] = false
		}
	}
	return keep, nil
}

func (st *Store) parkedItems(wf string, nth uint64, x eventstore.Incoming, reason string) []map[string]types.AttributeValue {
	pk := table.WorkflowPK(wf)
	base := table.ParkedSK(nth)
	parts := splitData(x.Raw, st.opts.MaxItemBytes)
	first := map[string]types.AttributeValue{
		table.PK: s(pk), table.SK: s(base), table.AttrData: b(parts[0]), table.AttrReason: s(reason),
		table.AttrPos: s(x.Pos.String()), table.AttrAt: ni(st.now().UnixMilli()),
	}
	if len(parts) > 1 {
		first[table.AttrParts] = n(uint64(len(parts)))
	}
	items := []map[string]types.AttributeValue{first}
	for k, part := range parts[1:] {
		items = append(items, map[string]types.AttributeValue{table.PK: s(pk), table.SK: s(table.PartSK(base, k+1)), table.AttrData: b(part)})
	}
	return items
}

// batchGet reads keys with consistent reads, 100 at a time, following
// UnprocessedKeys.
func (st *Store) batchGet(ctx context.Context, keys []map[string]types.AttributeValue, attrs ...string) ([]map[string]types.AttributeValue, error) {
	names := make(map[string]string, len(attrs))
	projection := ""
	for i, a := range attrs {
		ref := "#p" + strconv.Itoa(i)
		names[ref] = a
		if i > 0 {
			projection += ","
		}
		projection += ref
	}
	var out []map[string]types.AttributeValue
	for start := 0; start < len(keys); start += 100 {
		req := map[string]types.KeysAndAttributes{st.table: {
			Keys: keys[start:min(start+100, len(keys))], ConsistentRead: aws.Bool(true),
			ProjectionExpression: aws.String(projection), ExpressionAttributeNames: names,
		}}
		err := unprocessed.do(ctx, "batch get: unprocessed keys", func() (bool, error) {
			resp, err := st.db.BatchGetItem(ctx, &dynamodb.BatchGetItemInput{RequestItems: req})
			if err != nil {
				return false, fmt.Errorf("batch get: %w", err)
			}
			out = append(out, resp.Responses[st.table]...)
			req = resp.UnprocessedKeys
			return len(req) > 0, nil
		})
		if err != nil {
			return nil, err
		}
	}
	return out, nil
}

// batchWrite puts items 25 at a time, several calls at once, retrying
// UnprocessedItems with backoff.
func (st *Store) batchWrite(ctx context.Context, items []map[string]types.AttributeValue) error {
	if len(items) == 0 {
		return nil
	}
	// The first failure cancels the other calls and is the one returned.
	g, ctx := errgroup.WithContext(ctx)
	g.SetLimit(st.opts.Concurrency)
	for start := 0; start < len(items); start += 25 {
		chunk := items[start:min(start+25, len(items))]
		g.Go(func() error { return st.writeChunk(ctx, chunk) })
	}
	return g.Wait()
}

func (st *Store) writeChunk(ctx context.Context, chunk []map[string]types.AttributeValue) error {
	reqs := make([]types.WriteRequest, len(chunk))
	puts := make([]types.PutRequest, len(chunk))
	for i, item := range chunk {
		puts[i].Item = item
		reqs[i] = types.WriteRequest{PutRequest: &puts[i]}
	}
	pending := map[string][]types.WriteRequest{st.table: reqs}
	return unprocessed.do(ctx, "batch write: unprocessed items", func() (bool, error) {
		out, err := st.db.BatchWriteItem(ctx, &dynamodb.BatchWriteItemInput{RequestItems: pending})
		if err != nil {
			return false, fmt.Errorf("batch write: %w", err)
		}
		pending = out.UnprocessedItems
		return len(pending[st.table]) > 0, nil
	})
}

// retry is how the batch calls go after what DynamoDB left unprocessed
// (UnprocessedKeys, UnprocessedItems): the call is made again after a
// full-jitter backoff from base doubling to max, at most retries times. The
// limit is checked before sleeping, so giving up never waits first.
type retry struct {
	base, max time.Duration
	retries   int
}

// unprocessed is the rule for BatchGetItem and BatchWriteItem.
var unprocessed = retry{base: 25 * time.Millisecond, max: time.Second, retries: 10}

// do makes call until it reports nothing left or fails. what names what was
// left, for the error when the retries run out.
func (r retry) do(ctx context.Context, what string, call func() (left bool, err error)) error {
	for attempt := 0; ; attempt++ {
		if attempt > 0 {
			if attempt > r.retries {
				return fmt.Errorf("%s after %d retries", what, r.retries)
			}
			if err := backoff.Sleep(ctx, backoff.FullJitter(r.base, r.max, attempt)); err != nil {
				return err
			}
		}
		left, err := call()
		if err != nil || !left {
			return err
		}
	}
}
