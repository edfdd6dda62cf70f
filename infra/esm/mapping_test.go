package esm

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/google/go-cmp/cmp"
)

const shard0 = "shardId-000000000000"

func TestEventPayload(t *testing.T) {
	const shardID = "shardId-000000000006"
	k := newFakeKinesis(shardID)
	seq := k.putAt(shardID, "1", "Hello, this is a test.", time.UnixMilli(1545084650987))
	fn := &fakeFunction{}
	cfg := testConfig()
	cfg.StreamName = "arn:aws:kinesis:us-east-2:123456789012:stream/lambda-stream"
	cfg.RoleARN = "arn:aws:iam::123456789012:role/lambda-role"
	m := newMapping(t, cfg, k, fn, nil, nil)
	stop := start(t, m)
	eventually(t, 5*time.Second, "one invocation", func() bool { return len(fn.seen()) == 1 })
	stop()

	// The example event of the Lambda developer guide, with this record's
	// sequence number.
	want := `{"Records":[{"kinesis":{"kinesisSchemaVersion":"1.0","partitionKey":"1","sequenceNumber":"` + seq +
		`","data":"SGVsbG8sIHRoaXMgaXMgYSB0ZXN0Lg==","approximateArrivalTimestamp":1545084650.987},` +
		`"eventSource":"aws:kinesis","eventVersion":"1.0","eventID":"shardId-000000000006:` + seq +
		`","eventName":"aws:kinesis:record","invokeIdentityArn":"arn:aws:iam::123456789012:role/lambda-role",` +
		`"awsRegion":"us-east-2","eventSourceARN":"arn:aws:kinesis:us-east-2:123456789012:stream/lambda-stream"}]}`
	if diff := cmp.Diff(want, string(fn.seen()[0].payload)); diff != "" {
		t.Errorf("payload mismatch (-want +got):\n%s", diff)
	}
	wantEvent := events.KinesisEventRecord{
		AwsRegion: "us-east-2", EventID: shardID + ":" + seq, EventName: "aws:kinesis:record",
		EventSource: "aws:kinesis", EventSourceArn: "arn:aws:kinesis:us-east-2:123456789012:stream/lambda-stream",
		EventVersion: "1.0", InvokeIdentityArn: "arn:aws:iam::123456789012:role/lambda-role",
		Kinesis: events.KinesisRecord{
			ApproximateArrivalTimestamp: events.SecondsEpochTime{Time: time.UnixMilli(1545084650987)},
			Data:                        []byte("Hello, this is a test."), PartitionKey: "1",
			SequenceNumber: seq, KinesisSchemaVersion: "1.0",
		},
	}
	got := fn.seen()[0].records[0]
	if diff := cmp.Diff(wantEvent, got, cmp.Comparer(func(a, b events.SecondsEpochTime) bool {
		return a.Sub(b.Time).Abs() < time.Microsecond
	})); diff != "" {
		t.Errorf("decoded event mismatch (-want +got):\n%s", diff)
	}
}

func TestEpochSeconds(t *testing.T) {
	tests := []struct {
		ms   int64
		want string
	}{
		{1545084650987, "1545084650.987"},
		{1545084650100, "1545084650.1"},
		{1545084650050, "1545084650.05"},
		{1545084650000, "1545084650"},
		{-1500, "-2.5"},
	}
	for _, tt := range tests {
		if got := epochSeconds(time.UnixMilli(tt.ms)); got != tt.want {
			t.Errorf("epochSeconds(%d ms) = %s, want %s", tt.ms, got, tt.want)
		}
	}
}

func TestFullBatchInvokesAtOnceAndWindowFlushesTheRest(t *testing.T) {
	k := newFakeKinesis(shard0)
	for i := range 12 {
		k.put(shard0, "k", fmt.Sprint(i))
	}
	fn := &fakeFunction{}
	cfg := testConfig()
	cfg.BatchSize = 5
	cfg.MaximumBatchingWindow = 300 * time.Millisecond
	m := newMapping(t, cfg, k, fn, nil, nil)
	begin := time.Now()
	start(t, m)
	eventually(t, 5*time.Second, "three invocations", func() bool { return len(fn.seen()) == 3 })

	calls := fn.seen()
	if diff := cmp.Diff([]int{5, 5, 2}, fn.sizes()); diff != "" {
		t.Errorf("batch sizes mismatch (-want +got):\n%s", diff)
	}
	if took := calls[1].at.Sub(begin); took > 250*time.Millisecond {
		t.Errorf("full batches invoked after %s, want at once", took)
	}
	if took := calls[2].at.Sub(begin); took < cfg.MaximumBatchingWindow {
		t.Errorf("partial batch invoked after %s, want after the %s window", took, cfg.MaximumBatchingWindow)
	}
}

func TestBatchingWindowGathersATrickle(t *testing.T) {
	k := newFakeKinesis(shard0)
	fn := &fakeFunction{}
	cfg := testConfig()
	cfg.MaximumBatchingWindow = 600 * time.Millisecond
	m := newMapping(t, cfg, k, fn, nil, nil)
	start(t, m)
	var want []string
	for i := range 10 {
		k.put(shard0, "k", fmt.Sprint(i))
		want = append(want, fmt.Sprint(i))
		time.Sleep(15 * time.Millisecond)
	}
	eventually(t, 5*time.Second, "an invocation", func() bool { return len(fn.seen()) > 0 })
	time.Sleep(50 * time.Millisecond)
	if diff := cmp.Diff([]int{10}, fn.sizes()); diff != "" {
		t.Errorf("batch sizes mismatch (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(want, fn.delivered()); diff != "" {
		t.Errorf("records mismatch (-want +got):\n%s", diff)
	}
}

func TestPayloadStaysUnderSixMegabytes(t *testing.T) {
	k := newFakeKinesis(shard0)
	big := strings.Repeat("x", 1<<20)
	for range 10 {
		k.put(shard0, "k", big)
	}
	fn := &fakeFunction{}
	m := newMapping(t, testConfig(), k, fn, nil, nil)
	start(t, m)
	eventually(t, 10*time.Second, "ten records", func() bool { return len(fn.delivered()) == 10 })
	if diff := cmp.Diff([]int{4, 4, 2}, fn.sizes()); diff != "" {
		t.Errorf("batch sizes mismatch (-want +got):\n%s", diff)
	}
	for i, c := range fn.seen() {
		if len(c.payload) > MaxPayloadBytes {
			t.Errorf("payload %d is %d bytes, over %d", i, len(c.payload), MaxPayloadBytes)
		}
	}
}

func TestFilterCriteria(t *testing.T) {
	records := []struct{ key, data string }{
		{"k1", `{"type":"order.created","amount":120,"customer":{"tier":"gold"}}`},
		{"k2", `{"type":"order.cancelled","amount":5}`},
		{"k3", `{"type":"payment.done","amount":50.5,"refund":true}`},
		{"k4", `plain text, not JSON`},
		{"vip-5", `{"type":"order.created","amount":10}`},
		{"k6", `{"type":"zzz"}`},
	}
	tests := []struct {
		name    string
		filters []string
		want    []string // keys delivered
	}{
		{"no filters", nil, []string{"k1", "k2", "k3", "k4", "vip-5", "k6"}},
		{"prefix", []string{`{"data": {"type": [{"prefix": "order."}]}}`}, []string{"k1", "k2", "vip-5"}},
		{"anything-but drops non-JSON", []string{`{"data": {"type": [{"anything-but": ["order.cancelled"]}]}}`}, []string{"k1", "k3", "vip-5", "k6"}},
		{"suffix", []string{`{"data": {"type": [{"suffix": ".done"}]}}`}, []string{"k3"}},
		{"numeric range", []string{`{"data": {"amount": [{"numeric": [">", 10, "<=", 120]}]}}`}, []string{"k1", "k3"}},
		{"exists", []string{`{"data": {"refund": [{"exists": true}]}}`}, []string{"k3"}},
		{"does not exist, JSON only", []string{`{"data": {"refund": [{"exists": false}]}}`}, []string{"k1", "k2", "vip-5", "k6"}},
		{"nested", []string{`{"data": {"customer": {"tier": ["gold"]}}}`}, []string{"k1"}},
		{"metadata", []string{`{"partitionKey": [{"prefix": "vip-"}]}`}, []string{"vip-5"}},
		{"metadata matches non-JSON data", []string{`{"partitionKey": ["k4"]}`}, []string{"k4"}},
		{"metadata and data", []string{`{"partitionKey": [{"prefix": "k"}], "data": {"type": ["order.created"]}}`}, []string{"k1"}},
		{"filters are ORed", []string{`{"data": {"type": [{"prefix": "payment."}]}}`, `{"partitionKey": ["k2"]}`}, []string{"k2", "k3"}},
		{"$or", []string{`{"data": {"$or": [{"amount": [5]}, {"type": ["zzz"]}]}}`}, []string{"k2", "k6"}},
		{"nothing matches", []string{`{"data": {"type": ["none"]}}`}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			k := newFakeKinesis(shard0)
			var last string
			for _, r := range records {
				last = k.put(shard0, r.key, r.data)
			}
			fn := &fakeFunction{}
			cfg := testConfig()
			cfg.FilterCriteria = tt.filters
			cp := NewMemoryCheckpoints()
			m := newMapping(t, cfg, k, fn, nil, cp)
			start(t, m)
			// Records no filter matches are done too: the checkpoint moves
			// past the last record whatever it matched.
			eventually(t, 5*time.Second, "the checkpoint at the last record", func() bool { return checkpoint(t, cp, m, shard0) == last })
			var got []string
			for _, c := range fn.seen() {
				for _, r := range c.records {
					got = append(got, r.Kinesis.PartitionKey)
				}
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("delivered keys mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

// poisonFunction fails every batch holding a record whose data is "poison".
func poisonFunction() *fakeFunction {
	return &fakeFunction{handle: func(_ context.Context, c call) ([]byte, error) {
		for _, r := range c.records {
			if string(r.Kinesis.Data) == "poison" {
				return nil, &FunctionError{Type: "Error", Message: "poison record"}
			}
		}
		return []byte("null"), nil
	}}
}

func TestBisectIsolatesAPoisonRecord(t *testing.T) {
	k := newFakeKinesis(shard0)
	var seqs []string
	for i := range 8 {
		data := fmt.Sprint(i)
		if i == 5 {
			data = "poison"
		}
		seqs = append(seqs, k.put(shard0, "k", data))
	}
	fn := poisonFunction()
	dest := &fakeDestination{}
	cfg := testConfig()
	cfg.BisectBatchOnFunctionError = true
	cfg.MaximumRetryAttempts = 2
	cp := NewMemoryCheckpoints()
	m := newMapping(t, cfg, k, fn, dest, cp)
	var mu sync.Mutex
	var results []string
	m.OnInvoke(func(r Report) {
		mu.Lock()
		defer mu.Unlock()
		results = append(results, fmt.Sprintf("%d %s", r.Records, r.Result))
	})
	start(t, m)
	eventually(t, 5*time.Second, "the checkpoint at the last record", func() bool { return checkpoint(t, cp, m, shard0) == seqs[7] })

	// 8 fails, halves 0-3 (ok) and 4-7 (fails), 4-5 fails, 4 ok, 5 alone
	// fails three times (the first try and two retries), 6-7 ok.
	if diff := cmp.Diff([]int{8, 4, 4, 2, 1, 1, 1, 1, 2}, fn.sizes()); diff != "" {
		t.Errorf("batch sizes mismatch (-want +got):\n%s", diff)
	}
	var single [][]string
	for _, c := range fn.seen() {
		if len(c.records) == 1 {
			single = append(single, c.seqs())
		}
	}
	if diff := cmp.Diff([][]string{{seqs[4]}, {seqs[5]}, {seqs[5]}, {seqs[5]}}, single); diff != "" {
		t.Errorf("single-record batches mismatch (-want +got):\n%s", diff)
	}
	frs := dest.records(t)
	if len(frs) != 1 {
		t.Fatalf("destination got %d records, want 1", len(frs))
	}
	fr := frs[0]
	if diff := cmp.Diff(RetryAttemptsExhausted, fr.RequestContext.Condition); diff != "" {
		t.Errorf("condition mismatch (-want +got):\n%s", diff)
	}
	wantInfo := kinesisBatchInfo{ShardID: shard0, StartSequenceNumber: seqs[5], EndSequenceNumber: seqs[5], BatchSize: 1,
		StreamARN: "arn:aws:kinesis:us-east-1:000000000000:stream/events"}
	if diff := cmp.Diff(wantInfo, fr.KinesisBatchInfo, cmp.FilterPath(func(p cmp.Path) bool {
		return strings.HasPrefix(p.Last().String(), ".ApproximateArrival")
	}, cmp.Ignore())); diff != "" {
		t.Errorf("batch info mismatch (-want +got):\n%s", diff)
	}
	// Invocations that held record 5: the batch of 8, of 4, of 2, and three
	// of its own.
	if got := fr.RequestContext.ApproximateInvokeCount; got != 6 {
		t.Errorf("approximateInvokeCount = %d, want 6", got)
	}
	mu.Lock()
	defer mu.Unlock()
	wantResults := []string{
		"8 error: Error: poison record", "4 ok", "4 error: Error: poison record", "2 error: Error: poison record",
		"1 ok", "1 error: Error: poison record", "1 error: Error: poison record", "1 error: Error: poison record",
		"1 gave up → destination (RetryAttemptsExhausted)", "2 ok",
	}
	if diff := cmp.Diff(wantResults, results); diff != "" {
		t.Errorf("reports mismatch (-want +got):\n%s", diff)
	}
}

func TestRetryAttemptsExhaustedFailureRecord(t *testing.T) {
	k := newFakeKinesis(shard0)
	t0 := time.Date(2019, 11, 14, 0, 38, 4, 835e6, time.UTC)
	var seqs []string
	for i := range 3 {
		seqs = append(seqs, k.putAt(shard0, "k", "poison", t0.Add(time.Duration(i)*250*time.Millisecond)))
	}
	fn := poisonFunction()
	dest := &fakeDestination{}
	cfg := testConfig()
	cfg.MaximumRetryAttempts = 2
	cp := NewMemoryCheckpoints()
	m := newMapping(t, cfg, k, fn, dest, cp)
	start(t, m)
	eventually(t, 5*time.Second, "the checkpoint at the last record", func() bool { return checkpoint(t, cp, m, shard0) == seqs[2] })

	if diff := cmp.Diff([]int{3, 3, 3}, fn.sizes()); diff != "" {
		t.Errorf("batch sizes mismatch (-want +got):\n%s", diff)
	}
	dest.mu.Lock()
	body := string(dest.bodies[0])
	dest.mu.Unlock()
	// The record of the AWS documentation, in its key order; requestId and
	// timestamp vary.
	body = regexp.MustCompile(`"requestId":"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}"`).ReplaceAllString(body, `"requestId":"ID"`)
	body = regexp.MustCompile(`"timestamp":"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z"`).ReplaceAllString(body, `"timestamp":"TS"`)
	want := `{"requestContext":{"requestId":"ID","functionArn":"arn:aws:lambda:us-east-1:000000000000:function:consume",` +
		`"condition":"RetryAttemptsExhausted","approximateInvokeCount":3},` +
		`"responseContext":{"statusCode":200,"executedVersion":"$LATEST","functionError":"Unhandled"},` +
		`"version":"1.0","timestamp":"TS","KinesisBatchInfo":{"shardId":"shardId-000000000000",` +
		`"startSequenceNumber":"` + seqs[0] + `","endSequenceNumber":"` + seqs[2] + `",` +
		`"approximateArrivalOfFirstRecord":"2019-11-14T00:38:04.835Z","approximateArrivalOfLastRecord":"2019-11-14T00:38:05.335Z",` +
		`"batchSize":3,"streamArn":"arn:aws:kinesis:us-east-1:000000000000:stream/events"}}`
	if diff := cmp.Diff(want, body); diff != "" {
		t.Errorf("failure record mismatch (-want +got):\n%s", diff)
	}

	// The shard moves on.
	k.put(shard0, "k", "fine")
	eventually(t, 5*time.Second, "the next record", func() bool { return slices.Contains(fn.delivered(), "fine") })
}

func TestReportBatchItemFailures(t *testing.T) {
	tests := []struct {
		name     string
		response func(seqs []string) string
		retried  []int // records of the second invocation; nil: none
	}{
		{"lowest of several", func(s []string) string {
			return fmt.Sprintf(`{"batchItemFailures":[{"itemIdentifier":%q},{"itemIdentifier":%q}]}`, s[4], s[2])
		}, []int{2, 3, 4, 5}},
		{"last record", func(s []string) string { return fmt.Sprintf(`{"batchItemFailures":[{"itemIdentifier":%q}]}`, s[5]) }, []int{5}},
		{"first record", func(s []string) string { return fmt.Sprintf(`{"batchItemFailures":[{"itemIdentifier":%q}]}`, s[0]) }, []int{0, 1, 2, 3, 4, 5}},
		{"empty list", func([]string) string { return `{"batchItemFailures":[]}` }, nil},
		{"null list", func([]string) string { return `{"batchItemFailures":null}` }, nil},
		{"empty response", func([]string) string { return `{}` }, nil},
		{"null response", func([]string) string { return `null` }, nil},
		{"no response", func([]string) string { return `` }, nil},
		{"empty identifier", func([]string) string { return `{"batchItemFailures":[{"itemIdentifier":""}]}` }, []int{0, 1, 2, 3, 4, 5}},
		{"null identifier", func([]string) string { return `{"batchItemFailures":[{"itemIdentifier":null}]}` }, []int{0, 1, 2, 3, 4, 5}},
		{"bad key name", func(s []string) string { return fmt.Sprintf(`{"batchItemFailures":[{"itemidentifier":%q}]}`, s[3]) }, []int{0, 1, 2, 3, 4, 5}},
		{"unknown identifier", func([]string) string { return `{"batchItemFailures":[{"itemIdentifier":"42"}]}` }, []int{0, 1, 2, 3, 4, 5}},
		{"not JSON", func([]string) string { return `oops` }, []int{0, 1, 2, 3, 4, 5}},
		{"not an object", func([]string) string { return `["x"]` }, []int{0, 1, 2, 3, 4, 5}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			k := newFakeKinesis(shard0)
			var seqs []string
			for i := range 6 {
				seqs = append(seqs, k.put(shard0, "k", fmt.Sprint(i)))
			}
			cp := NewMemoryCheckpoints()
			var m *Mapping
			var atRetry string // the checkpoint when the batch is retried
			var calls atomic.Int32
			fn := &fakeFunction{handle: func(_ context.Context, c call) ([]byte, error) {
				switch calls.Add(1) {
				case 1:
					return []byte(tt.response(seqs)), nil
				case 2:
					atRetry = checkpoint(t, cp, m, shard0)
				}
				return []byte(`{"batchItemFailures":[]}`), nil
			}}
			cfg := testConfig()
			cfg.ReportBatchItemFailures = true
			m = newMapping(t, cfg, k, fn, nil, cp)
			start(t, m)
			eventually(t, 5*time.Second, "the checkpoint at the last record", func() bool { return checkpoint(t, cp, m, shard0) == seqs[5] })

			seen := fn.seen()
			if tt.retried == nil {
				if len(seen) != 1 {
					t.Errorf("got %d invocations, want 1", len(seen))
				}
				return
			}
			if len(seen) != 2 {
				t.Fatalf("got %d invocations, want 2", len(seen))
			}
			var want []string
			for _, i := range tt.retried {
				want = append(want, seqs[i])
			}
			if diff := cmp.Diff(want, seen[1].seqs()); diff != "" {
				t.Errorf("retried records mismatch (-want +got):\n%s", diff)
			}
			wantCheckpoint := ""
			if tt.retried[0] > 0 {
				wantCheckpoint = seqs[tt.retried[0]-1]
			}
			if atRetry != wantCheckpoint {
				t.Errorf("checkpoint at the retry = %q, want %q", atRetry, wantCheckpoint)
			}
		})
	}
}

func TestReportBatchItemFailuresWithBisect(t *testing.T) {
	k := newFakeKinesis(shard0)
	var seqs []string
	for i := range 6 {
		seqs = append(seqs, k.put(shard0, "k", fmt.Sprint(i)))
	}
	// Record 3 always fails.
	fn := &fakeFunction{handle: func(_ context.Context, c call) ([]byte, error) {
		for _, r := range c.records {
			if r.Kinesis.SequenceNumber == seqs[3] {
				return fmt.Appendf(nil, `{"batchItemFailures":[{"itemIdentifier":%q}]}`, seqs[3]), nil
			}
		}
		return nil, nil
	}}
	dest := &fakeDestination{}
	cfg := testConfig()
	cfg.ReportBatchItemFailures = true
	cfg.BisectBatchOnFunctionError = true
	cfg.MaximumRetryAttempts = 1
	cp := NewMemoryCheckpoints()
	m := newMapping(t, cfg, k, fn, dest, cp)
	start(t, m)
	eventually(t, 5*time.Second, "the checkpoint at the last record", func() bool { return checkpoint(t, cp, m, shard0) == seqs[5] })

	// 0-5 reports 3: bisected at 3, so 3-5 goes alone without an attempt;
	// 3-5 reports its first record: split in halves, 3 then 4-5; 3 alone
	// fails twice (one retry) and is given up on.
	var got [][]string
	for _, c := range fn.seen() {
		got = append(got, c.seqs())
	}
	want := [][]string{seqs, seqs[3:], seqs[3:4], seqs[3:4], seqs[4:]}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("invocations mismatch (-want +got):\n%s", diff)
	}
	frs := dest.records(t)
	if len(frs) != 1 || frs[0].KinesisBatchInfo.StartSequenceNumber != seqs[3] || frs[0].KinesisBatchInfo.BatchSize != 1 {
		t.Errorf("destination got %+v, want one record for record 3", frs)
	}
	if frs[0].ResponseContext == nil || frs[0].ResponseContext.FunctionError != "" {
		t.Errorf("responseContext = %+v, want one without a function error", frs[0].ResponseContext)
	}
}

// fakeClock is a clock tests move by hand.
type fakeClock struct{ offset atomic.Int64 }

func (c *fakeClock) now() time.Time               { return time.Now().Add(time.Duration(c.offset.Load())) }
func (c *fakeClock) advance(d time.Duration)      { c.offset.Add(int64(d)) }
func withClock(m *Mapping, c *fakeClock) *Mapping { m.now = c.now; return m }

func TestMaximumRecordAge(t *testing.T) {
	t.Run("expires while retried", func(t *testing.T) {
		k := newFakeKinesis(shard0)
		a := k.put(shard0, "k", "poison")
		b := k.put(shard0, "k", "poison")
		clock := &fakeClock{}
		fn := poisonFunction()
		inner := fn.handle
		fn.handle = func(ctx context.Context, c call) ([]byte, error) {
			clock.advance(40 * time.Second)
			return inner(ctx, c)
		}
		dest := &fakeDestination{}
		cfg := testConfig()
		cfg.MaximumRecordAge = time.Minute
		cp := NewMemoryCheckpoints()
		m := withClock(newMapping(t, cfg, k, fn, dest, cp), clock)
		start(t, m)
		eventually(t, 5*time.Second, "the checkpoint at the last record", func() bool { return checkpoint(t, cp, m, shard0) == b })

		// Invoked at 0 s and 40 s; at 80 s both records are too old.
		if diff := cmp.Diff([]int{2, 2}, fn.sizes()); diff != "" {
			t.Errorf("batch sizes mismatch (-want +got):\n%s", diff)
		}
		frs := dest.records(t)
		if len(frs) != 1 {
			t.Fatalf("destination got %d records, want 1", len(frs))
		}
		got := []any{frs[0].RequestContext.Condition, frs[0].RequestContext.ApproximateInvokeCount,
			frs[0].KinesisBatchInfo.StartSequenceNumber, frs[0].KinesisBatchInfo.EndSequenceNumber}
		if diff := cmp.Diff([]any{RecordAgeExceeded, 2, a, b}, got); diff != "" {
			t.Errorf("failure record mismatch (-want +got):\n%s", diff)
		}
	})
	t.Run("too old when read", func(t *testing.T) {
		k := newFakeKinesis(shard0)
		old := k.putAt(shard0, "k", "old", time.Now().Add(-2*time.Minute))
		fn := &fakeFunction{}
		dest := &fakeDestination{}
		cfg := testConfig()
		cfg.MaximumRecordAge = time.Minute
		cp := NewMemoryCheckpoints()
		m := newMapping(t, cfg, k, fn, dest, cp)
		start(t, m)
		eventually(t, 5*time.Second, "the checkpoint past the old record", func() bool { return checkpoint(t, cp, m, shard0) == old })
		k.put(shard0, "k", "new")
		eventually(t, 5*time.Second, "the new record", func() bool { return len(fn.delivered()) == 1 })
		if diff := cmp.Diff([]string{"new"}, fn.delivered()); diff != "" {
			t.Errorf("delivered mismatch (-want +got):\n%s", diff)
		}
		frs := dest.records(t)
		if len(frs) != 1 || frs[0].RequestContext.Condition != RecordAgeExceeded || frs[0].RequestContext.ApproximateInvokeCount != 0 || frs[0].ResponseContext != nil {
			t.Errorf("destination got %+v, want one RecordAgeExceeded record of a batch never invoked", frs)
		}
	})
}

// keysInLanes returns n partition keys spread over the lanes, each lane
// getting at least one when n >= lanes.
func keysInLanes(n, lanes int) []string {
	var keys []string
	used := map[int]int{}
	for i := 0; len(keys) < n; i++ {
		key := fmt.Sprintf("wf-%d", i)
		l := laneOf(key, lanes)
		if used[l] >= (n+lanes-1)/lanes {
			continue
		}
		used[l]++
		keys = append(keys, key)
	}
	return keys
}

func TestParallelizationKeepsPerKeyOrder(t *testing.T) {
	const lanes = 4
	k := newFakeKinesis(shard0)
	keys := keysInLanes(8, lanes)
	var last string
	for n := range 15 {
		for _, key := range keys {
			last = k.put(shard0, key, fmt.Sprintf(`{"key":%q,"n":%d}`, key, n))
		}
	}
	var inFlight, peak atomic.Int32
	fn := &fakeFunction{handle: func(_ context.Context, c call) ([]byte, error) {
		now := inFlight.Add(1)
		defer inFlight.Add(-1)
		for {
			p := peak.Load()
			if now <= p || peak.CompareAndSwap(p, now) {
				break
			}
		}
		time.Sleep(10 * time.Millisecond)
		return nil, nil
	}}
	cfg := testConfig()
	cfg.ParallelizationFactor = lanes
	cfg.BatchSize = 5
	cp := NewMemoryCheckpoints()
	m := newMapping(t, cfg, k, fn, nil, cp)
	start(t, m)
	eventually(t, 10*time.Second, "the checkpoint at the last record", func() bool { return checkpoint(t, cp, m, shard0) == last })

	next := map[string]int{}
	for _, c := range fn.seen() {
		if len(c.records) > cfg.BatchSize {
			t.Errorf("batch of %d records, over BatchSize %d", len(c.records), cfg.BatchSize)
		}
		lane := laneOf(c.records[0].Kinesis.PartitionKey, lanes)
		for _, r := range c.records {
			var d struct {
				Key string
				N   int
			}
			if err := json.Unmarshal(r.Kinesis.Data, &d); err != nil {
				t.Fatal(err)
			}
			if d.N != next[d.Key] {
				t.Errorf("key %s: got record %d, want %d", d.Key, d.N, next[d.Key])
			}
			next[d.Key] = d.N + 1
			if l := laneOf(d.Key, lanes); l != lane {
				t.Errorf("a batch mixes lanes %d and %d", lane, l)
			}
		}
	}
	for _, key := range keys {
		if next[key] != 15 {
			t.Errorf("key %s: got %d records, want 15", key, next[key])
		}
	}
	if p := peak.Load(); p < 2 {
		t.Errorf("at most %d invocation ran at once, want lanes running side by side", p)
	}
}

func TestCheckpointWaitsForEarlierRecords(t *testing.T) {
	k := newFakeKinesis(shard0)
	keys := keysInLanes(2, 2) // one key per lane
	slow, fast := keys[0], keys[1]
	k.put(shard0, slow, "slow")
	var last string
	for i := range 5 {
		last = k.put(shard0, fast, fmt.Sprint(i))
	}
	release := make(chan struct{})
	fn := &fakeFunction{handle: func(ctx context.Context, c call) ([]byte, error) {
		if c.records[0].Kinesis.PartitionKey == slow {
			select {
			case <-release:
			case <-ctx.Done():
				return nil, ctx.Err()
			}
		}
		return nil, nil
	}}
	cfg := testConfig()
	cfg.ParallelizationFactor = 2
	cfg.BatchSize = 2
	cp := NewMemoryCheckpoints()
	m := newMapping(t, cfg, k, fn, nil, cp)
	start(t, m)
	eventually(t, 5*time.Second, "the fast lane done", func() bool { return len(fn.delivered()) == 6 })
	time.Sleep(20 * time.Millisecond)
	if got := checkpoint(t, cp, m, shard0); got != "" {
		t.Errorf("checkpoint = %q while the first record is in flight, want none", got)
	}
	close(release)
	eventually(t, 5*time.Second, "the checkpoint at the last record", func() bool { return checkpoint(t, cp, m, shard0) == last })
}

func TestRestartResumesAfterTheCheckpoint(t *testing.T) {
	stores := map[string]func(t *testing.T) Checkpoints{
		"memory": func(*testing.T) Checkpoints { return NewMemoryCheckpoints() },
		"file": func(t *testing.T) Checkpoints {
			c, err := OpenFileCheckpoints(t.TempDir() + "/checkpoints.json")
			if err != nil {
				t.Fatal(err)
			}
			return c
		},
	}
	for name, newStore := range stores {
		t.Run(name, func(t *testing.T) {
			k := newFakeKinesis(shard0)
			var seqs, all []string
			for i := range 30 {
				seqs = append(seqs, k.put(shard0, fmt.Sprintf("k%d", i%3), fmt.Sprint(i)))
				all = append(all, fmt.Sprint(i))
			}
			cp := newStore(t)
			cfg := testConfig()
			cfg.BatchSize = 4

			// The first mapping stops after its third batch.
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			var calls atomic.Int32
			fn1 := &fakeFunction{handle: func(context.Context, call) ([]byte, error) {
				if calls.Add(1) == 3 {
					cancel()
				}
				return nil, nil
			}}
			m1 := newMapping(t, cfg, k, fn1, nil, cp)
			if err := m1.Run(ctx); err != nil {
				t.Fatal(err)
			}
			first := fn1.delivered()
			if diff := cmp.Diff(all[:12], first); diff != "" {
				t.Errorf("first run mismatch (-want +got):\n%s", diff)
			}
			if got := checkpoint(t, cp, m1, shard0); got != seqs[11] {
				t.Errorf("checkpoint after the first run = %q, want %q", got, seqs[11])
			}

			// A file store is read again, as by a restarted runtime.
			if fc, ok := cp.(*FileCheckpoints); ok {
				reopened, err := OpenFileCheckpoints(fc.path)
				if err != nil {
					t.Fatal(err)
				}
				cp = reopened
			}
			fn2 := &fakeFunction{}
			m2 := newMapping(t, cfg, k, fn2, nil, cp)
			start(t, m2)
			eventually(t, 5*time.Second, "the checkpoint at the last record", func() bool { return checkpoint(t, cp, m2, shard0) == seqs[29] })
			if diff := cmp.Diff(all[12:], fn2.delivered()); diff != "" {
				t.Errorf("second run mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestUnreachableFunctionConsumesNoAttempts(t *testing.T) {
	k := newFakeKinesis(shard0)
	last := k.put(shard0, "k", "a")
	var calls atomic.Int32
	fn := &fakeFunction{handle: func(context.Context, call) ([]byte, error) {
		if calls.Add(1) <= 3 {
			return nil, errors.New("connection refused")
		}
		return nil, nil
	}}
	dest := &fakeDestination{}
	cfg := testConfig()
	cfg.MaximumRetryAttempts = 0
	cp := NewMemoryCheckpoints()
	m := newMapping(t, cfg, k, fn, dest, cp)
	var mu sync.Mutex
	var results []string
	m.OnInvoke(func(r Report) {
		mu.Lock()
		defer mu.Unlock()
		results = append(results, r.Result)
	})
	start(t, m)
	eventually(t, 5*time.Second, "the checkpoint at the last record", func() bool { return checkpoint(t, cp, m, shard0) == last })
	if diff := cmp.Diff([]int{1, 1, 1, 1}, fn.sizes()); diff != "" {
		t.Errorf("batch sizes mismatch (-want +got):\n%s", diff)
	}
	if n := len(dest.records(t)); n != 0 {
		t.Errorf("destination got %d records, want none", n)
	}
	mu.Lock()
	defer mu.Unlock()
	want := []string{"error: connection refused", "error: connection refused", "error: connection refused", "ok"}
	if diff := cmp.Diff(want, results); diff != "" {
		t.Errorf("reports mismatch (-want +got):\n%s", diff)
	}
}

func TestKinesisErrorsAndExpiredIterators(t *testing.T) {
	k := newFakeKinesis(shard0)
	var want []string
	for i := range 5 {
		k.put(shard0, "k", fmt.Sprint(i))
		want = append(want, fmt.Sprint(i))
	}
	k.throttle = 2
	k.expire = 1
	fn := &fakeFunction{}
	cfg := testConfig()
	cfg.BatchSize = 2
	m := newMapping(t, cfg, k, fn, nil, nil)
	start(t, m)
	eventually(t, 5*time.Second, "five records", func() bool { return len(fn.delivered()) == 5 })

	// The iterator expires again after some records were read.
	k.mu.Lock()
	k.expire = 1
	k.mu.Unlock()
	for i := 5; i < 10; i++ {
		k.put(shard0, "k", fmt.Sprint(i))
		want = append(want, fmt.Sprint(i))
	}
	eventually(t, 5*time.Second, "ten records", func() bool { return len(fn.delivered()) >= 10 })
	time.Sleep(20 * time.Millisecond)
	if diff := cmp.Diff(want, fn.delivered()); diff != "" {
		t.Errorf("delivered mismatch (-want +got):\n%s", diff)
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	if !slices.Contains(k.iterCalls, "AFTER_SEQUENCE_NUMBER") {
		t.Errorf("iterator requests %v, want one resuming after the last record read", k.iterCalls)
	}
}

func TestParentShardsBeforeChildren(t *testing.T) {
	const parent, left, right, merged = "shardId-000000000000", "shardId-000000000001", "shardId-000000000002", "shardId-000000000003"
	k := newFakeKinesis(parent)
	k.addShard(left, parent, "")
	k.addShard(right, parent, "")
	k.addShard(merged, left, right)
	shardOf := map[string]string{}
	put := func(shardID string, n int) {
		for i := range n {
			data := fmt.Sprintf("%s-%d", shardID, i)
			k.put(shardID, "k", data)
			shardOf[data] = shardID
		}
	}
	put(parent, 5)
	put(left, 3)
	put(right, 3)
	put(merged, 2)
	k.closeShard(parent)
	k.closeShard(left)
	k.closeShard(right)
	fn := &fakeFunction{}
	cfg := testConfig()
	cfg.BatchSize = 2
	cp := NewMemoryCheckpoints()
	m := newMapping(t, cfg, k, fn, nil, cp)
	start(t, m)
	eventually(t, 5*time.Second, "thirteen records", func() bool { return len(fn.delivered()) == 13 })

	// Order of the shards in delivery: parent, then left and right in any
	// interleaving, then merged.
	rank := map[string]int{parent: 0, left: 1, right: 1, merged: 2}
	got := fn.delivered()
	for i := 1; i < len(got); i++ {
		if rank[shardOf[got[i]]] < rank[shardOf[got[i-1]]] {
			t.Errorf("%s delivered after %s", got[i], got[i-1])
		}
	}
	for _, id := range []string{parent, left, right} {
		eventually(t, 5*time.Second, id+" at SHARD_END", func() bool { return checkpoint(t, cp, m, id) == ShardEnd })
	}
}

func TestShardsBornLaterAreReadFromTheirStart(t *testing.T) {
	const parent, left, right = "shardId-000000000000", "shardId-000000000001", "shardId-000000000002"
	k := newFakeKinesis(parent)
	k.put(parent, "k", "before the mapping")
	fn := &fakeFunction{}
	cfg := testConfig()
	cfg.StartingPosition = Latest
	cp := NewMemoryCheckpoints()
	m := newMapping(t, cfg, k, fn, nil, cp)
	start(t, m)
	eventually(t, 5*time.Second, "a poll", func() bool {
		k.mu.Lock()
		defer k.mu.Unlock()
		return k.getCalls > 0
	})
	k.put(parent, "k", "parent")
	// Split the parent: its children get records before the mapping lists them.
	k.addShard(left, parent, "")
	k.addShard(right, parent, "")
	k.put(left, "k", "left")
	k.put(right, "k", "right")
	k.closeShard(parent)
	eventually(t, 5*time.Second, "three records", func() bool { return len(fn.delivered()) == 3 })
	got := fn.delivered()
	if got[0] != "parent" {
		t.Errorf("delivered %v, want the parent's record first", got)
	}
	slices.Sort(got)
	if diff := cmp.Diff([]string{"left", "parent", "right"}, got); diff != "" {
		t.Errorf("delivered mismatch (-want +got):\n%s", diff)
	}
}

func TestStartingPosition(t *testing.T) {
	t.Run("LATEST", func(t *testing.T) {
		k := newFakeKinesis(shard0)
		k.put(shard0, "k", "before")
		fn := &fakeFunction{}
		cfg := testConfig()
		cfg.StartingPosition = Latest
		m := newMapping(t, cfg, k, fn, nil, nil)
		start(t, m)
		eventually(t, 5*time.Second, "a poll", func() bool {
			k.mu.Lock()
			defer k.mu.Unlock()
			return k.getCalls > 0
		})
		k.put(shard0, "k", "after")
		eventually(t, 5*time.Second, "a record", func() bool { return len(fn.delivered()) > 0 })
		if diff := cmp.Diff([]string{"after"}, fn.delivered()); diff != "" {
			t.Errorf("delivered mismatch (-want +got):\n%s", diff)
		}
	})
	t.Run("AT_TIMESTAMP", func(t *testing.T) {
		k := newFakeKinesis(shard0)
		t0 := time.Now().Add(-time.Minute)
		for i := range 4 {
			k.putAt(shard0, "k", fmt.Sprint(i), t0.Add(time.Duration(i)*10*time.Second))
		}
		fn := &fakeFunction{}
		cfg := testConfig()
		cfg.StartingPosition = AtTimestamp
		cfg.StartingPositionTimestamp = t0.Add(15 * time.Second)
		m := newMapping(t, cfg, k, fn, nil, nil)
		start(t, m)
		eventually(t, 5*time.Second, "two records", func() bool { return len(fn.delivered()) == 2 })
		if diff := cmp.Diff([]string{"2", "3"}, fn.delivered()); diff != "" {
			t.Errorf("delivered mismatch (-want +got):\n%s", diff)
		}
	})
}

func TestDisabledMappingDoesNotPoll(t *testing.T) {
	k := newFakeKinesis(shard0)
	k.put(shard0, "k", "x")
	fn := &fakeFunction{}
	cfg := testConfig()
	cfg.Enabled = false
	m := newMapping(t, cfg, k, fn, nil, nil)
	stop := start(t, m)
	time.Sleep(30 * time.Millisecond)
	stop()
	k.mu.Lock()
	defer k.mu.Unlock()
	if len(fn.seen()) != 0 || k.getCalls != 0 {
		t.Errorf("a disabled mapping invoked %d times and read %d times, want 0", len(fn.seen()), k.getCalls)
	}
}

func TestTrimmedCheckpointFallsBackToTrimHorizon(t *testing.T) {
	k := newFakeKinesis(shard0)
	k.put(shard0, "k", "a")
	k.put(shard0, "k", "b")
	cp := NewMemoryCheckpoints()
	fn := &fakeFunction{}
	m := newMapping(t, testConfig(), k, fn, nil, cp)
	// A checkpoint at a record the stream no longer has.
	if err := cp.Save(context.Background(), m.checkpointKey(shard0), "49000000000000000000000000000000000000000000000000000000"); err != nil {
		t.Fatal(err)
	}
	start(t, m)
	eventually(t, 5*time.Second, "two records", func() bool { return len(fn.delivered()) == 2 })
	if diff := cmp.Diff([]string{"a", "b"}, fn.delivered()); diff != "" {
		t.Errorf("delivered mismatch (-want +got):\n%s", diff)
	}
}

func TestReadAheadIsBounded(t *testing.T) {
	k := newFakeKinesis(shard0)
	var last string
	for i := range 50 {
		last = k.put(shard0, "k", fmt.Sprint(i))
	}
	release := make(chan struct{})
	fn := &fakeFunction{handle: func(ctx context.Context, c call) ([]byte, error) {
		select {
		case <-release:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		return nil, nil
	}}
	cfg := testConfig()
	cfg.BatchSize = 2
	cp := NewMemoryCheckpoints()
	m := newMapping(t, cfg, k, fn, nil, cp)
	start(t, m)
	eventually(t, 5*time.Second, "an invocation", func() bool { return len(fn.seen()) == 1 })
	time.Sleep(30 * time.Millisecond)
	k.mu.Lock()
	served := k.served
	k.mu.Unlock()
	// One lane: a batch in flight and one more batch read ahead.
	if served > 4 {
		t.Errorf("read %d records while the first batch was stuck, want at most 4", served)
	}
	close(release)
	eventually(t, 5*time.Second, "the checkpoint at the last record", func() bool { return checkpoint(t, cp, m, shard0) == last })
}
