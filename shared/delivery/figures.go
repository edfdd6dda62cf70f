package delivery

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/flowbus/flowbus/shared/metrics"
	"github.com/flowbus/flowbus/shared/stats"
	"github.com/flowbus/flowbus/shared/table"
)

// SubFigures count what a batch did for one subscription.
type SubFigures struct {
	Matched      int // events routed to it (the router's figure)
	Delivered    int
	Retrying     int // attempts that will be retried
	DeadLettered int
	HopLimited   int             // derived events stopped at the hop limit
	Latency      *metrics.Sketch // publish to delivered
}

func (f *SubFigures) latency() *metrics.Sketch {
	if f.Latency == nil {
		f.Latency = &metrics.Sketch{}
	}
	return f.Latency
}

// Figures are a batch's figures by subscription.
type Figures map[string]*SubFigures

func (f Figures) of(name string) *SubFigures {
	s, ok := f[name]
	if !ok {
		s = &SubFigures{}
		f[name] = s
	}
	return s
}

// Merge adds o to f.
func (f Figures) Merge(o Figures) {
	for name, s := range o {
		t := f.of(name)
		t.Matched += s.Matched
		t.Delivered += s.Delivered
		t.Retrying += s.Retrying
		t.DeadLettered += s.DeadLettered
		t.HopLimited += s.HopLimited
		if s.Latency != nil {
			t.latency().Merge(s.Latency)
		}
	}
}

// Emit adds the figures to EMF metrics with the dimension subscription,
// and the dead-lettered and hop-limited counts of all subscriptions without
// it (what the template's alarms watch).
func (f Figures) Emit(r *metrics.Recorder) {
	dead, hops := 0, 0
	for _, s := range f {
		dead += s.DeadLettered
		hops += s.HopLimited
	}
	if dead > 0 {
		r.Count("delivery_dead_lettered", nil, float64(dead))
	}
	if hops > 0 {
		r.Count("delivery_hop_limited", nil, float64(hops))
	}
	for name, s := range f {
		dims := map[string]string{"subscription": name}
		for _, c := range []struct {
			name string
			n    int
		}{{"matched", s.Matched}, {"delivered", s.Delivered}, {"retrying", s.Retrying}, {"dead_lettered", s.DeadLettered}, {"hop_limited", s.HopLimited}} {
			if c.n > 0 {
				r.Count("delivery_"+c.name, dims, float64(c.n))
			}
		}
		if s.Latency != nil && s.Latency.Count() > 0 {
			r.Observe("delivery_latency", metrics.Milliseconds, dims, float64(s.Latency.Quantile(0.99).Microseconds())/1000)
		}
	}
}

// FiguresAPI is what Recorder and Status call on DynamoDB.
type FiguresAPI interface {
	UpdateItem(ctx context.Context, in *dynamodb.UpdateItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error)
	GetItem(ctx context.Context, in *dynamodb.GetItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error)
	Query(ctx context.Context, in *dynamodb.QueryInput, optFns ...func(*dynamodb.Options)) (*dynamodb.QueryOutput, error)
}

// Recorder keeps the figures in the table: per batch, per subscription one
// write to its totals and one to its minute bucket (counts and latency),
// both at once — never per event. Every write is an ADD, so items keep
// their size however many batches a minute holds: the latency is a
// counter per metrics.Sketch bucket (table.LatencyBucketAttr), not a list
// that grows with each batch (which at 1,000 deliveries/s would pass
// DynamoDB's 400 KB item limit within a minute and cost a write unit per
// KB of it on every write).
type Recorder struct {
	db    FiguresAPI
	table string
}

// NewRecorder returns a Recorder on tableName.
func NewRecorder(db FiguresAPI, tableName string) *Recorder {
	return &Recorder{db: db, table: tableName}
}

func num(n int64) types.AttributeValue {
	return &types.AttributeValueMemberN{Value: strconv.FormatInt(n, 10)}
}

// maxBucketsPerWrite bounds the latency counters one UpdateItem adds, so
// an expression stays well inside DynamoDB's 4 KB; a batch's sketch
// rarely has more than a few dozen.
const maxBucketsPerWrite = 100

// adds is one ADD expression being built.
type adds struct {
	terms  []string
	names  map[string]string
	values map[string]types.AttributeValue
}

func newAdds() *adds {
	return &adds{names: map[string]string{}, values: map[string]types.AttributeValue{}}
}

func (a *adds) add(attr string, n int64) {
	if n == 0 {
		return
	}
	k := strconv.Itoa(len(a.terms))
	a.terms = append(a.terms, "#a"+k+" :a"+k)
	a.names["#a"+k] = attr
	a.values[":a"+k] = num(n)
}

// counts adds a subscription's counts.
func (a *adds) counts(s *SubFigures) {
	a.add(table.AttrMatched, int64(s.Matched))
	a.add(table.AttrDelivered, int64(s.Delivered))
	a.add(table.AttrRetrying, int64(s.Retrying))
	a.add(table.AttrDeadLettered, int64(s.DeadLettered))
	a.add(table.AttrHopLimited, int64(s.HopLimited))
}

// write is one UpdateItem of Record's.
type write struct {
	name, sk string
	a        *adds
}

// Record adds a batch's figures: every write at once, so a batch waits for
// one round trip. A failure loses figures, never events: the caller logs
// it.
func (r *Recorder) Record(ctx context.Context, f Figures, now time.Time) error {
	names := make([]string, 0, len(f))
	for n := range f {
		names = append(names, n)
	}
	sort.Strings(names)
	minute := table.MinuteSK(now.Unix() / 60)
	var writes []write
	for _, name := range names {
		s := f[name]
		totals := newAdds()
		totals.counts(s)
		if len(totals.terms) > 0 {
			writes = append(writes, write{name, table.TotalsSK, totals})
		}
		m := newAdds()
		m.counts(s)
		if s.Latency != nil {
			s.Latency.Buckets(func(i int, c uint64) {
				if len(m.terms) >= maxBucketsPerWrite {
					writes = append(writes, write{name, minute, m})
					m = newAdds()
				}
				m.add(table.LatencyBucketAttr(i), int64(c))
			})
		}
		if len(m.terms) > 0 {
			writes = append(writes, write{name, minute, m})
		}
	}
	errs := make([]error, len(writes))
	var wg sync.WaitGroup
	for i, w := range writes {
		wg.Go(func() { errs[i] = r.update(ctx, w) })
	}
	wg.Wait()
	return errors.Join(errs...)
}

func (r *Recorder) update(ctx context.Context, w write) error {
	_, err := r.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{TableName: aws.String(r.table), Key: table.Key(table.DeliveryPK(w.name), w.sk),
		UpdateExpression: aws.String("ADD " + strings.Join(w.a.terms, ", ")), ExpressionAttributeNames: w.a.names, ExpressionAttributeValues: w.a.values})
	if err != nil {
		return fmt.Errorf("record delivery figures of %s: %w", w.name, err)
	}
	return nil
}

// LatencyWindow is how far back Status reads latency sketches.
const LatencyWindow = time.Hour

// Status is a subscription's delivery figures as GET
// /subscriptions/{name} shows them: counts since it was created, latency
// (publish to delivered) over the last LatencyWindow. GET /metrics shows the
// same for every subscription, so the type is the snapshot's.
type Status = stats.DeliveryStatus

// Status reads a subscription's figures.
func (r *Recorder) Status(ctx context.Context, name string, now time.Time) (Status, error) {
	var st Status
	out, err := r.db.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(r.table), Key: table.Key(table.DeliveryPK(name), table.TotalsSK)})
	if err != nil {
		return st, fmt.Errorf("delivery status of %s: %w", name, err)
	}
	n := func(a string) int64 {
		if v, ok := out.Item[a].(*types.AttributeValueMemberN); ok {
			x, _ := strconv.ParseInt(v.Value, 10, 64)
			return x
		}
		return 0
	}
	st.Matched, st.Delivered, st.Retrying = n(table.AttrMatched), n(table.AttrDelivered), n(table.AttrRetrying)
	st.DeadLettered, st.HopLimited = n(table.AttrDeadLettered), n(table.AttrHopLimited)
	from, to := now.Add(-LatencyWindow).Unix()/60, now.Unix()/60
	q := &dynamodb.QueryInput{TableName: aws.String(r.table),
		KeyConditionExpression:   aws.String("#pk = :pk AND #sk BETWEEN :from AND :to"),
		ExpressionAttributeNames: map[string]string{"#pk": table.PK, "#sk": table.SK},
		ExpressionAttributeValues: map[string]types.AttributeValue{":pk": &types.AttributeValueMemberS{Value: table.DeliveryPK(name)},
			":from": &types.AttributeValueMemberS{Value: table.MinuteSK(from)}, ":to": &types.AttributeValueMemberS{Value: table.MinuteSK(to)}}}
	sketch := &metrics.Sketch{}
	for {
		page, err := r.db.Query(ctx, q)
		if err != nil {
			return st, fmt.Errorf("delivery status of %s: %w", name, err)
		}
		for _, it := range page.Items {
			addLatency(sketch, it)
		}
		if len(page.LastEvaluatedKey) == 0 {
			break
		}
		q.ExclusiveStartKey = page.LastEvaluatedKey
	}
	if sketch.Count() > 0 {
		st.LatencyP50Ms = float64(sketch.Quantile(0.5).Microseconds()) / 1000
		st.LatencyP99Ms = float64(sketch.Quantile(0.99).Microseconds()) / 1000
	}
	return st, nil
}

// addLatency adds a minute bucket's latency counters to sketch, and the
// list of serialised sketches that minute buckets held before the counters.
func addLatency(sketch *metrics.Sketch, item map[string]types.AttributeValue) {
	for attr, v := range item {
		rest, ok := strings.CutPrefix(attr, table.LatencyBucketPrefix)
		n, isNum := v.(*types.AttributeValueMemberN)
		if !ok || !isNum {
			continue
		}
		c, err := strconv.ParseUint(n.Value, 10, 64)
		if err != nil {
			continue
		}
		if rest == "z" {
			sketch.AddBucket(metrics.ZeroBucket, c)
		} else if i, err := strconv.Atoi(rest); err == nil {
			sketch.AddBucket(i, c)
		}
	}
	l, _ := item[table.AttrLatency].(*types.AttributeValueMemberL)
	if l == nil {
		return
	}
	for _, v := range l.Value {
		if b, ok := v.(*types.AttributeValueMemberB); ok {
			var sk metrics.Sketch
			if sk.UnmarshalBinary(b.Value) == nil {
				sketch.Merge(&sk)
			}
		}
	}
}
