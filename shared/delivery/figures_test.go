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

// Many batches in one minute keep the minute bucket's size bounded (a
// counter per latency bucket, no list growing per batch), and Status
// answers the exact counts and the latency quantiles within the sketch's
// accuracy, also with a minute bucket written in the earlier form (a list
// of serialised sketches) and a batch whose sketch spans more buckets than
// one write adds.
func TestRecorderKeepsMinuteBucketsBounded(t *testing.T) {
	ctx := context.Background()
	cfg := testenv.AWS(t)
	db, tbl := testenv.Table(t, cfg)
	rec := NewRecorder(db, tbl)
	now := time.Now()
	r := rand.New(rand.NewPCG(3, 4))
	var all []time.Duration
	const batches = 200
	for b := range batches {
		lat := &metrics.Sketch{}
		for range 10 {
			d := time.Duration(math.Exp(r.NormFloat64()*0.5) * float64(300*time.Millisecond))
			lat.Add(d)
			all = append(all, d)
		}
		f := Figures{"hook": {Matched: 10, Delivered: 10, Latency: lat}}
		if b%50 == 0 {
			f["hook"].Retrying, f["hook"].DeadLettered, f["hook"].HopLimited = 1, 2, 3
		}
		if err := rec.Record(ctx, f, now); err != nil {
			t.Fatal(err)
		}
	}
	// One batch whose sketch has hundreds of buckets: 1 ms to 10 s.
	wide := &metrics.Sketch{}
	for i := range 1000 {
		d := time.Millisecond + time.Duration(i)*10*time.Millisecond
		wide.Add(d)
		all = append(all, d)
	}
	if err := rec.Record(ctx, Figures{"hook": {Delivered: 1000, Latency: wide}}, now); err != nil {
		t.Fatal(err)
	}
	// The minute before, in the earlier form.
	old := &metrics.Sketch{}
	for i := range 5 {
		d := time.Duration(i+1) * 100 * time.Millisecond
		old.Add(d)
		all = append(all, d)
	}
	b, _ := old.MarshalBinary()
	if _, err := db.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(tbl), Item: map[string]types.AttributeValue{
		table.PK: &types.AttributeValueMemberS{Value: table.DeliveryPK("hook")}, table.SK: &types.AttributeValueMemberS{Value: table.MinuteSK(now.Unix()/60 - 1)},
		table.AttrLatency: &types.AttributeValueMemberL{Value: []types.AttributeValue{&types.AttributeValueMemberB{Value: b}}}}}); err != nil {
		t.Fatal(err)
	}

	out, err := db.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(tbl), Key: table.Key(table.DeliveryPK("hook"), table.MinuteSK(now.Unix()/60))})
	if err != nil {
		t.Fatal(err)
	}
	buckets := 0
	for a := range out.Item {
		if strings.HasPrefix(a, table.LatencyBucketPrefix) {
			buckets++
		}
	}
	if _, ok := out.Item[table.AttrLatency]; ok || buckets == 0 || buckets > metrics.MaxBucket+2 || len(out.Item) > buckets+7 {
		t.Errorf("minute bucket: %d attributes, %d latency counters, list %v: want only counters and counts", len(out.Item), buckets, out.Item[table.AttrLatency] != nil)
	}

	st, err := rec.Status(ctx, "hook", now)
	if err != nil {
		t.Fatal(err)
	}
	if st.Matched != 10*batches || st.Delivered != 10*batches+1000 || st.Retrying != 4 || st.DeadLettered != 8 || st.HopLimited != 12 {
		t.Errorf("counts: got %+v", st)
	}
	slices.Sort(all)
	for _, c := range []struct {
		q   float64
		got float64
	}{{0.5, st.LatencyP50Ms}, {0.99, st.LatencyP99Ms}} {
		exact := float64(all[int(c.q*float64(len(all)-1))].Microseconds()) / 1000
		if math.Abs(c.got-exact) > exact*metrics.RelativeAccuracy+0.002 {
			t.Errorf("p%g: got %.3f ms, exact %.3f ms", c.q*100, c.got, exact)
		}
	}
}

// fakeFigures answers UpdateItem and records the writes.
type fakeFigures struct {
	FiguresAPI
	writes chan string
	fail   error
}

func (f *fakeFigures) UpdateItem(_ context.Context, in *dynamodb.UpdateItemInput, _ ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error) {
	pk := in.Key[table.PK].(*types.AttributeValueMemberS).Value
	sk := in.Key[table.SK].(*types.AttributeValueMemberS).Value
	f.writes <- fmt.Sprintf("%s %s %s", pk, sk, aws.ToString(in.UpdateExpression))
	return &dynamodb.UpdateItemOutput{}, f.fail
}

// A batch's figures are one totals write and one minute write per
// subscription, zero counts left out, nothing for a subscription with none.
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
		"sub#a m#100 ADD #a0 :a0, #a1 :a1, #a2 :a2",
		"sub#a totals ADD #a0 :a0",
		"sub#b m#100 ADD #a0 :a0",
		"sub#b totals ADD #a0 :a0",
	}
	if !slices.Equal(got, want) {
		t.Errorf("writes:\n got %q\nwant %q", got, want)
	}
}
