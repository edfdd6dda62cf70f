package delivery

import (
	"context"
	"errors"
	"fmt"
	"maps"
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
	HopLimited   int // derived events stopped at the hop limit
	// BudgetLimited are derived events refused: their root's budget of
	// derived events was spent.
	BudgetLimited int
	Latency       *metrics.Sketch // publish to delivered
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
		t.BudgetLimited += s.BudgetLimited
		if s.Latency != nil {
			t.latency().Merge(s.Latency)
		}
	}
}

// Emit adds the figures to EMF metrics with the dimension subscription,
// and the dead-lettered, hop-limited and budget-limited counts of all
// subscriptions without it (what the template's alarms watch).
func (f Figures) Emit(r *metrics.Recorder) {
	dead, hops, budget := 0, 0, 0
	for _, s := range f {
		dead += s.DeadLettered
		hops += s.HopLimited
		budget += s.BudgetLimited
	}
	if dead > 0 {
		r.Count("delivery_dead_lettered", nil, float64(dead))
	}
	if hops > 0 {
		r.Count("delivery_hop_limited", nil, float64(hops))
	}
	if budget > 0 {
		r.Count("delivery_budget_limited", nil, float64(budget))
	}
	for name, s := range f {
		dims := map[string]string{"subscription": name}
		for _, c := range []struct {
			name string
			n    int
		}{{"matched", s.Matched}, {"delivered", s.Delivered}, {"retrying", s.Retrying}, {"dead_lettered", s.DeadLettered}, {"hop_limited", s.HopLimited}, {"budget_limited", s.BudgetLimited}} {
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
	PutItem(ctx context.Context, in *dynamodb.PutItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error)
	GetItem(ctx context.Context, in *dynamodb.GetItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error)
	Query(ctx context.Context, in *dynamodb.QueryInput, optFns ...func(*dynamodb.Options)) (*dynamodb.QueryOutput, error)
}

// Recorder keeps the figures in the table: per batch, per subscription one
// write, an ADD to its totals (counts, and a latency counter per
// metrics.Sketch bucket, table.LatencyBucketAttr) — never per event. The
// first batch of each minute also copies the totals as they stood before it
// (table.SinceSK), so Status takes the last hour's latency as the totals
// minus the copy from an hour ago. One small write per batch whatever the
// rate: a minute bucket with a list of serialised sketches appended per
// batch (the earlier layout) would pass DynamoDB's 400 KB item limit within
// a minute at 1,000 deliveries/s and cost a write unit per KB on every
// write, and a second write per batch doubled what delivery asks of the
// table.
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

// maxTermsPerWrite bounds the counters one UpdateItem adds, so that an
// expression stays well inside DynamoDB's 4 KB; a batch of 10 has at most
// 15, a sketch of many deliveries can have hundreds.
const maxTermsPerWrite = 100

// split cuts a into expressions of at most n terms each.
func (a *adds) split(n int) []*adds {
	if len(a.terms) <= n {
		return []*adds{a}
	}
	var out []*adds
	for i, term := range a.terms {
		if i%n == 0 {
			out = append(out, newAdds())
		}
		c := out[len(out)-1]
		k := strconv.Itoa(i)
		c.terms = append(c.terms, term)
		c.names["#a"+k], c.values[":a"+k] = a.names["#a"+k], a.values[":a"+k]
	}
	return out
}

// figures adds a subscription's counts and latency counters.
func (a *adds) figures(s *SubFigures) {
	a.add(table.AttrMatched, int64(s.Matched))
	a.add(table.AttrDelivered, int64(s.Delivered))
	a.add(table.AttrRetrying, int64(s.Retrying))
	a.add(table.AttrDeadLettered, int64(s.DeadLettered))
	a.add(table.AttrHopLimited, int64(s.HopLimited))
	a.add(table.AttrBudgetLimited, int64(s.BudgetLimited))
	if s.Latency != nil {
		s.Latency.Buckets(func(i int, c uint64) { a.add(table.LatencyBucketAttr(i), int64(c)) })
	}
}

// Record adds a batch's figures, each subscription's at once. A failure
// loses figures, never events: the caller logs it.
func (r *Recorder) Record(ctx context.Context, f Figures, now time.Time) error {
	names := make([]string, 0, len(f))
	for n := range f {
		names = append(names, n)
	}
	sort.Strings(names)
	minute := now.Unix() / 60
	errs := make([]error, len(names))
	var wg sync.WaitGroup
	for i, name := range names {
		a := newAdds()
		a.figures(f[name])
		if len(a.terms) == 0 {
			continue
		}
		wg.Go(func() {
			chunks := a.split(maxTermsPerWrite)
			err := r.add(ctx, name, chunks[0], minute)
			for _, c := range chunks[1:] {
				if err != nil {
					break
				}
				_, err = r.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{TableName: aws.String(r.table), Key: table.Key(table.DeliveryPK(name), table.TotalsSK),
					UpdateExpression: aws.String("ADD " + strings.Join(c.terms, ", ")), ExpressionAttributeNames: c.names, ExpressionAttributeValues: c.values})
			}
			if err != nil {
				errs[i] = fmt.Errorf("record delivery figures of %s: %w", name, err)
			}
		})
	}
	wg.Wait()
	return errors.Join(errs...)
}

// add adds a to name's totals: one write when the last batch recorded was
// in the same minute; the first batch of a minute moves the totals' minute
// on and copies what they held before it. A clock behind the minute the
// totals hold (another writer's, a little ahead) adds without moving it.
func (r *Recorder) add(ctx context.Context, name string, a *adds, minute int64) error {
	key := table.Key(table.DeliveryPK(name), table.TotalsSK)
	a.names["#min"] = table.AttrMinute
	a.values[":min"] = num(minute)
	adds := "ADD " + strings.Join(a.terms, ", ")
	in := &dynamodb.UpdateItemInput{TableName: aws.String(r.table), Key: key, UpdateExpression: aws.String(adds),
		ConditionExpression: aws.String("#min = :min"), ExpressionAttributeNames: a.names, ExpressionAttributeValues: a.values}
	_, err := r.db.UpdateItem(ctx, in)
	if !conditionFailed(err) {
		return err
	}
	in.UpdateExpression = aws.String(adds + " SET #min = :min")
	in.ConditionExpression = aws.String("attribute_not_exists(#min) OR #min < :min")
	in.ReturnValues = types.ReturnValueAllOld
	out, err := r.db.UpdateItem(ctx, in)
	if err == nil {
		return r.since(ctx, name, minute, out.Attributes)
	}
	if !conditionFailed(err) {
		return err
	}
	delete(a.names, "#min")
	delete(a.values, ":min")
	_, err = r.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{TableName: aws.String(r.table), Key: key, UpdateExpression: aws.String(adds),
		ExpressionAttributeNames: a.names, ExpressionAttributeValues: a.values})
	return err
}

// since writes the totals as they stood at the start of minute (old, the
// item before its first batch), unless a copy of that minute exists.
func (r *Recorder) since(ctx context.Context, name string, minute int64, old map[string]types.AttributeValue) error {
	item := map[string]types.AttributeValue{}
	for k, v := range old {
		if k != table.PK && k != table.SK && k != table.AttrMinute {
			item[k] = v
		}
	}
	maps.Copy(item, table.Key(table.DeliveryPK(name), table.SinceSK(minute)))
	_, err := r.db.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(r.table), Item: item,
		ConditionExpression: aws.String("attribute_not_exists(#sk)"), ExpressionAttributeNames: map[string]string{"#sk": table.SK}})
	if conditionFailed(err) {
		return nil
	}
	return err
}

func conditionFailed(err error) bool {
	var cf *types.ConditionalCheckFailedException
	return errors.As(err, &cf)
}

// LatencyWindow is how far back Status takes the latency (to the minute).
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
	st.BudgetLimited = n(table.AttrBudgetLimited)
	// The latency of the last hour: the totals' counters minus the copy
	// taken at the start of the first minute of the hour with a batch.
	from, to := now.Add(-LatencyWindow).Unix()/60, now.Unix()/60
	page, err := r.db.Query(ctx, &dynamodb.QueryInput{TableName: aws.String(r.table),
		KeyConditionExpression:   aws.String("#pk = :pk AND #sk BETWEEN :from AND :to"),
		ExpressionAttributeNames: map[string]string{"#pk": table.PK, "#sk": table.SK},
		ExpressionAttributeValues: map[string]types.AttributeValue{":pk": &types.AttributeValueMemberS{Value: table.DeliveryPK(name)},
			":from": &types.AttributeValueMemberS{Value: table.SinceSK(from)}, ":to": &types.AttributeValueMemberS{Value: table.SinceSK(to)}},
		Limit: aws.Int32(1)})
	if err != nil {
		return st, fmt.Errorf("delivery status of %s: %w", name, err)
	}
	sketch := &metrics.Sketch{}
	if len(page.Items) > 0 {
		before := latencyCounts(page.Items[0])
		for i, c := range latencyCounts(out.Item) {
			if c > before[i] {
				sketch.AddBucket(i, c-before[i])
			}
		}
	}
	if sketch.Count() > 0 {
		st.LatencyP50Ms = float64(sketch.Quantile(0.5).Microseconds()) / 1000
		st.LatencyP99Ms = float64(sketch.Quantile(0.99).Microseconds()) / 1000
	}
	return st, nil
}

// latencyCounts reads an item's latency counters by sketch bucket.
func latencyCounts(item map[string]types.AttributeValue) map[int]uint64 {
	out := map[int]uint64{}
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
			out[metrics.ZeroBucket] += c
		} else if i, err := strconv.Atoi(rest); err == nil {
			out[i] += c
		}
	}
	return out
}
