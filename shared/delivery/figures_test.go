package delivery

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/flowbus/flowbus/shared/metrics"
	"github.com/flowbus/flowbus/shared/table"
	"github.com/flowbus/flowbus/shared/testenv"
)

// The totals keep exact counts in an item of bounded size (a counter per
// latency bucket, no list growing per batch), and Status answers the
// latency of the last hour only — batches 90 minutes ago left out, 30
// minutes ago and now in — within the sketch's accuracy, also with a batch
// whose sketch has more buckets than one write adds and a batch recorded
// by a clock a minute behind.
func TestRecorderTotalsAndLatencyWindow(t *testing.T) {
	ctx := context.Background()
	cfg := testenv.AWS(t)
	db, tbl := testenv.Table(t, cfg)
	rec := NewRecorder(db, tbl)
	now := time.Now()
	r := rand.New(rand.NewPCG(3, 4))
	var recent []time.Duration
	batches := 0
	record := func(at time.Time, f *SubFigures) {
		t.Helper()
		if err := rec.Record(ctx, Figures{"hook": f}, at); err != nil {
			t.Fatal(err)
		}
		batches++
	}
	batch := func(at time.Time, around time.Duration, keep bool) {
		lat := &metrics.Sketch{}
		for range 10 {
			d := time.Duration(math.Exp(r.NormFloat64()*0.5) * float64(around))
			lat.Add(d)
			if keep {
				recent = append(recent, d)
			}
		}
		f := &SubFigures{Matched: 10, Delivered: 10, Latency: lat}
		if batches%25 == 0 {
			f.Retrying, f.DeadLettered, f.HopLimited = 1, 2, 3
		}
		record(at, f)
	}
	for range 20 {
		batch(now.Add(-90*time.Minute), 20*time.Second, false) // before the window
	}
	for range 30 {
		batch(now.Add(-30*time.Minute), 300*time.Millisecond, true)
	}
	for range 50 {
		batch(now, 300*time.Millisecond, true)
	}
	// A clock a minute behind, after the totals moved on to now's minute.
	batch(now.Add(-time.Minute), 300*time.Millisecond, true)
	// One batch whose sketch has hundreds of buckets: 1 ms to 10 s.
	wide := &metrics.Sketch{}
	for i := range 1000 {
		d := time.Millisecond + time.Duration(i)*10*time.Millisecond
		wide.Add(d)
		recent = append(recent, d)
	}
	record(now, &SubFigures{Delivered: 1000, Latency: wide})

	out, err := db.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(tbl), Key: table.Key(table.DeliveryPK("hook"), table.TotalsSK)})
	if err != nil {
		t.Fatal(err)
	}
	counters := 0
	for a := range out.Item {
		if strings.HasPrefix(a, table.LatencyBucketPrefix) {
			counters++
		}
	}
	if _, ok := out.Item[table.AttrLatency]; ok || counters == 0 || counters > metrics.MaxBucket+2 || len(out.Item) > counters+8 {
		t.Errorf("totals: %d attributes, %d latency counters: want only counters, counts and the minute", len(out.Item), counters)
	}

	st, err := rec.Status(ctx, "hook", now)
	if err != nil {
		t.Fatal(err)
	}
	const n = 101 // batches of 10
	if st.Matched != 10*n || st.Delivered != 10*n+1000 || st.Retrying != 5 || st.DeadLettered != 10 || st.HopLimited != 15 {
		t.Errorf("counts: got %+v", st)
	}
	slices.Sort(recent)
	for _, c := range []struct {
		q   float64
		got float64
	}{{0.5, st.LatencyP50Ms}, {0.99, st.LatencyP99Ms}} {
		exact := float64(recent[int(c.q*float64(len(recent)-1))].Microseconds()) / 1000
		if math.Abs(c.got-exact) > exact*metrics.RelativeAccuracy+0.002 {
			t.Errorf("p%g: got %.3f ms, exact %.3f ms (of the last hour's deliveries)", c.q*100, c.got, exact)
		}
	}

	// An hour and more without a batch: no latency to show.
	if st, err := rec.Status(ctx, "hook", now.Add(62*time.Minute)); err != nil || st.LatencyP50Ms != 0 || st.Delivered != 10*n+1000 {
		t.Errorf("an hour later: got %+v, %v; want the counts and no latency", st, err)
	}
}

// fakeFigures answers UpdateItem and records the writes.
type fakeFigures struct {
	FiguresAPI
	writes chan string
}

func (f *fakeFigures) UpdateItem(_ context.Context, in *dynamodb.UpdateItemInput, _ ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error) {
	pk := in.Key[table.PK].(*types.AttributeValueMemberS).Value
	sk := in.Key[table.SK].(*types.AttributeValueMemberS).Value
	f.writes <- fmt.Sprintf("%s %s %s if %s", pk, sk, aws.ToString(in.UpdateExpression), aws.ToString(in.ConditionExpression))
	return &dynamodb.UpdateItemOutput{}, nil
}

// A batch's figures are one write per subscription to its totals (in the
// minute the totals last saw), zero counts left out, nothing for a
// subscription with none.
func TestRecordWrites(t *testing.T) {
	db := &fakeFigures{writes: make(chan string, 10)}
	lat := &metrics.Sketch{}
	lat.Add(20 * time.Millisecond)
	lat.Add(21 * time.Millisecond)
	now := time.Unix(6000, 0)
	if err := NewRecorder(db, "t").Record(context.Background(), Figures{"a": {Delivered: 2, Latency: lat}, "b": {Matched: 1}, "c": {}}, now); err != nil {
		t.Fatal(err)
	}
	close(db.writes)
	var got []string
	for w := range db.writes {
		got = append(got, w)
	}
	slices.Sort(got)
	want := []string{
		"sub#a totals ADD #a0 :a0, #a1 :a1, #a2 :a2 if #min = :min",
		"sub#b totals ADD #a0 :a0 if #min = :min",
	}
	if !slices.Equal(got, want) {
		t.Errorf("writes:\n got %q\nwant %q", got, want)
	}
}
