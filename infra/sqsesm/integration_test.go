package sqsesm

import (
	"context"
	"crypto/md5"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/google/go-cmp/cmp"

	"github.com/flowbus/flowbus/shared/config"
	"github.com/flowbus/flowbus/shared/testenv"
)

// engine returns a client of the SQS engine make test starts (sqslocal).
func engine(t *testing.T) *sqs.Client {
	t.Helper()
	if os.Getenv("AWS_ENDPOINT_URL_SQS") == "" && os.Getenv("AWS_ENDPOINT_URL") == "" {
		msg := "no SQS engine: run `make test`, or `make engines` and `. localstack/.run/env`"
		if os.Getenv(testenv.EnvRequire) != "" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	cfg, err := config.AWS(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return sqs.NewFromConfig(cfg)
}

// queue creates a fresh queue, deleted when t ends.
func queue(t *testing.T, c *sqs.Client, attrs map[string]string) string {
	t.Helper()
	out, err := c.CreateQueue(context.Background(), &sqs.CreateQueueInput{QueueName: aws.String(testenv.Name("sqsesm")), Attributes: attrs})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _, _ = c.DeleteQueue(context.Background(), &sqs.DeleteQueueInput{QueueUrl: out.QueueUrl}) })
	return aws.ToString(out.QueueUrl)
}

func send(t *testing.T, c *sqs.Client, url string, bodies ...string) {
	t.Helper()
	for _, b := range bodies {
		if _, err := c.SendMessage(context.Background(), &sqs.SendMessageInput{QueueUrl: aws.String(url), MessageBody: aws.String(b)}); err != nil {
			t.Fatal(err)
		}
	}
}

// held counts the messages still in the queue, visible or not.
func held(t *testing.T, c *sqs.Client, url string) int {
	t.Helper()
	visible, hidden := visibility(t, c, url)
	return visible + hidden
}

// fakeFunction records each invocation's event and answers with handle.
type fakeFunction struct {
	mu     sync.Mutex
	events []events.SQSEvent
	raw    [][]byte
	handle func(events.SQSEvent) ([]byte, error)
}

func (f *fakeFunction) Invoke(_ context.Context, payload []byte) ([]byte, error) {
	var ev events.SQSEvent
	if err := json.Unmarshal(payload, &ev); err != nil {
		return nil, err
	}
	f.mu.Lock()
	f.events = append(f.events, ev)
	f.raw = append(f.raw, payload)
	f.mu.Unlock()
	if f.handle == nil {
		return nil, nil
	}
	return f.handle(ev)
}

// bodies lists the bodies of every invocation, in order.
func (f *fakeFunction) bodies() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []string
	for _, ev := range f.events {
		for _, r := range ev.Records {
			out = append(out, r.Body)
		}
	}
	return out
}

func (f *fakeFunction) invocations() []events.SQSEvent {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]events.SQSEvent(nil), f.events...)
}

// run starts a mapping and stops it when t ends; it returns the reports.
func run(t *testing.T, cfg Config, c *sqs.Client, fn Invoker) func() []Report {
	t.Helper()
	if cfg.FunctionName == "" {
		cfg.FunctionName = "fn"
	}
	m, err := New(cfg, c, fn, nil)
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var reports []Report
	m.OnInvoke(func(r Report) {
		mu.Lock()
		defer mu.Unlock()
		reports = append(reports, r)
	})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- m.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	return func() []Report {
		mu.Lock()
		defer mu.Unlock()
		return append([]Report(nil), reports...)
	}
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestEvent checks the event against what Lambda sends: every field of the
// message, its system and message attributes, and the source.
func TestEvent(t *testing.T) {
	c := engine(t)
	url := queue(t, c, nil)
	body := `{"workflow_id":"wf-1"}`
	sent, err := c.SendMessage(context.Background(), &sqs.SendMessageInput{QueueUrl: aws.String(url), MessageBody: aws.String(body),
		MessageAttributes: map[string]types.MessageAttributeValue{
			"kind":  {DataType: aws.String("String"), StringValue: aws.String("parked")},
			"count": {DataType: aws.String("Number"), StringValue: aws.String("3")},
			"blob":  {DataType: aws.String("Binary"), BinaryValue: []byte{0, 1, 2}},
		}})
	if err != nil {
		t.Fatal(err)
	}
	fn := &fakeFunction{}
	before := time.Now()
	reports := run(t, Config{QueueURL: url, Enabled: true, VisibilityTimeout: 30 * time.Second}, c, fn)
	waitFor(t, "the message deleted and reported", func() bool {
		return len(fn.invocations()) == 1 && held(t, c, url) == 0 && len(reports()) == 1
	})

	ev := fn.invocations()[0]
	if len(ev.Records) != 1 {
		t.Fatalf("event %+v, want one record", ev)
	}
	r := ev.Records[0]
	_, name, _ := queueOfURL(url)
	sum := md5.Sum([]byte(body))
	want := events.SQSMessage{
		MessageId: aws.ToString(sent.MessageId), ReceiptHandle: r.ReceiptHandle, Body: body,
		Md5OfBody: hex.EncodeToString(sum[:]), Md5OfMessageAttributes: aws.ToString(sent.MD5OfMessageAttributes),
		Attributes: r.Attributes,
		MessageAttributes: map[string]events.SQSMessageAttribute{
			"kind":  {DataType: "String", StringValue: aws.String("parked"), StringListValues: []string{}, BinaryListValues: [][]byte{}},
			"count": {DataType: "Number", StringValue: aws.String("3"), StringListValues: []string{}, BinaryListValues: [][]byte{}},
			"blob":  {DataType: "Binary", BinaryValue: []byte{0, 1, 2}, StringListValues: []string{}, BinaryListValues: [][]byte{}},
		},
		EventSourceARN: "arn:aws:sqs:us-east-1:000000000000:" + name, EventSource: "aws:sqs", AWSRegion: "us-east-1",
	}
	if diff := cmp.Diff(want, r); diff != "" {
		t.Errorf("record (-want +got):\n%s", diff)
	}
	if r.ReceiptHandle == "" || r.Md5OfMessageAttributes == "" {
		t.Errorf("record %+v: want a receipt handle and the attributes' MD5", r)
	}
	if r.Attributes["ApproximateReceiveCount"] != "1" || r.Attributes["SenderId"] == "" || r.Attributes["ApproximateFirstReceiveTimestamp"] == "" {
		t.Errorf("attributes %v", r.Attributes)
	}
	if ms, err := strconv.ParseInt(r.Attributes["SentTimestamp"], 10, 64); err != nil || time.UnixMilli(ms).Before(before.Add(-time.Minute)) {
		t.Errorf("SentTimestamp %q", r.Attributes["SentTimestamp"])
	}
	// The raw event has Lambda's field names and empty lists, never nulls.
	var raw struct {
		Records []map[string]any `json:"Records"`
	}
	if err := json.Unmarshal(fn.raw[0], &raw); err != nil {
		t.Fatal(err)
	}
	var keys []string
	for k := range raw.Records[0] {
		keys = append(keys, k)
	}
	wantKeys := []string{"attributes", "awsRegion", "body", "eventSource", "eventSourceARN", "md5OfBody", "md5OfMessageAttributes", "messageAttributes", "messageId", "receiptHandle"}
	if diff := cmp.Diff(wantKeys, keys, cmpSorted); diff != "" {
		t.Errorf("record keys (-want +got):\n%s", diff)
	}
	wantKind := map[string]any{"dataType": "String", "stringValue": "parked", "stringListValues": []any{}, "binaryListValues": []any{}}
	if diff := cmp.Diff(wantKind, raw.Records[0]["messageAttributes"].(map[string]any)["kind"]); diff != "" {
		t.Errorf("message attribute as sent (-want +got):\n%s", diff)
	}
	if got := reports(); len(got) != 1 || got[0].Result != "ok" || got[0].Messages != 1 || got[0].Handled != 1 || got[0].Queue != name {
		t.Errorf("reports %+v", got)
	}
}

var cmpSorted = cmp.Transformer("sort", func(in []string) []string {
	out := append([]string(nil), in...)
	for i := range out {
		for j := i + 1; j < len(out); j++ {
			if out[j] < out[i] {
				out[i], out[j] = out[j], out[i]
			}
		}
	}
	return out
})

// TestPartialBatchResponse: with ReportBatchItemFailures the messages
// reported come back after the visibility timeout, the rest are deleted.
func TestPartialBatchResponse(t *testing.T) {
	c := engine(t)
	url := queue(t, c, nil)
	send(t, c, url, "a", "b", "c", "d", "e")
	var mu sync.Mutex
	seen := map[string][]string{} // receive counts by delivery
	fn := &fakeFunction{handle: func(ev events.SQSEvent) ([]byte, error) {
		mu.Lock()
		defer mu.Unlock()
		var resp events.SQSEventResponse
		for _, r := range ev.Records {
			seen[r.Body] = append(seen[r.Body], r.Attributes["ApproximateReceiveCount"])
			if (r.Body == "b" || r.Body == "d") && len(seen[r.Body]) == 1 {
				resp.BatchItemFailures = append(resp.BatchItemFailures, events.SQSBatchItemFailure{ItemIdentifier: r.MessageId})
			}
		}
		return json.Marshal(resp)
	}}
	// The visibility timeout must outlast a batching window, or a batch
	// still gathering shows again: there is none here.
	reports := run(t, Config{QueueURL: url, Enabled: true, ReportBatchItemFailures: true, MaximumConcurrency: 2, VisibilityTimeout: time.Second}, c, fn)
	// An invocation is reported after its messages are deleted: wait for
	// the reports too.
	handled, partial := 0, 0
	waitFor(t, "every message handled and reported", func() bool {
		handled, partial = 0, 0
		for _, r := range reports() {
			handled += r.Handled
			if r.Result == "partial (2 failed)" || r.Result == "partial (1 failed)" {
				partial++
			}
		}
		return held(t, c, url) == 0 && handled >= 5
	})
	mu.Lock()
	defer mu.Unlock()
	if diff := cmp.Diff(map[string][]string{"a": {"1"}, "b": {"1", "2"}, "c": {"1"}, "d": {"1", "2"}, "e": {"1"}}, seen); diff != "" {
		t.Errorf("receive counts by delivery (-want +got):\n%s", diff)
	}
	if handled != 5 || partial == 0 {
		t.Errorf("reports %+v, want 5 handled, and partial results", reports())
	}
}

// TestFailureKeepsTheBatch: a function error, or a partial batch response
// naming a message not in the batch, deletes nothing; the queue's redrive
// policy then moves the messages to its dead-letter queue.
func TestFailureKeepsTheBatch(t *testing.T) {
	for _, tt := range []struct {
		name   string
		answer func(events.SQSEvent) ([]byte, error)
	}{
		{"function error", func(events.SQSEvent) ([]byte, error) { return nil, errors.New("Unhandled: boom") }},
		{"unknown item identifier", func(events.SQSEvent) ([]byte, error) {
			return []byte(`{"batchItemFailures":[{"itemIdentifier":"not-a-message"}]}`), nil
		}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c := engine(t)
			dlq := queue(t, c, nil)
			_, dlqName, _ := queueOfURL(dlq)
			url := queue(t, c, map[string]string{"RedrivePolicy": `{"deadLetterTargetArn":"arn:aws:sqs:us-east-1:000000000000:` + dlqName + `","maxReceiveCount":"2"}`})
			send(t, c, url, "x", "y")
			fn := &fakeFunction{handle: tt.answer}
			reports := run(t, Config{QueueURL: url, Enabled: true, ReportBatchItemFailures: true, VisibilityTimeout: time.Second}, c, fn)
			waitFor(t, "the messages redriven", func() bool { return held(t, c, url) == 0 && held(t, c, dlq) == 2 })
			counts := map[string][]string{}
			for _, ev := range fn.invocations() {
				for _, r := range ev.Records {
					counts[r.Body] = append(counts[r.Body], r.Attributes["ApproximateReceiveCount"])
				}
			}
			if diff := cmp.Diff(map[string][]string{"x": {"1", "2"}, "y": {"1", "2"}}, counts); diff != "" {
				t.Errorf("receive counts by delivery (-want +got):\n%s", diff)
			}
			for _, r := range reports() {
				if r.Handled != 0 || len(r.Result) < 6 || r.Result[:6] != "error:" {
					t.Errorf("report %+v, want an error with nothing handled", r)
				}
			}
		})
	}
}

// TestBatchingWindow: a batch gathers receives until BatchSize or the
// window's end, beyond the ten messages one receive returns.
func TestBatchingWindow(t *testing.T) {
	c := engine(t)
	url := queue(t, c, nil)
	var want []string
	for i := range 25 {
		want = append(want, fmt.Sprintf("m%02d", i))
	}
	send(t, c, url, want...)
	fn := &fakeFunction{}
	run(t, Config{QueueURL: url, Enabled: true, BatchSize: 25, MaximumBatchingWindow: 2 * time.Second, MaximumConcurrency: 2, VisibilityTimeout: 30 * time.Second}, c, fn)
	waitFor(t, "every message deleted", func() bool { return held(t, c, url) == 0 })
	if diff := cmp.Diff(want, fn.bodies(), cmpSorted); diff != "" {
		t.Errorf("bodies (-want +got):\n%s", diff)
	}
	largest := 0
	for _, ev := range fn.invocations() {
		largest = max(largest, len(ev.Records))
	}
	if largest <= MaxReceiveBatch || largest > 25 {
		t.Errorf("largest batch %d, want more than one receive and at most BatchSize", largest)
	}
}

// TestFilters: messages no filter matches are deleted without an
// invocation.
func TestFilters(t *testing.T) {
	c := engine(t)
	url := queue(t, c, nil)
	send(t, c, url, `{"kind":"a","n":1}`, `{"kind":"b"}`, `plain`, `{"kind":"a","n":2}`)
	fn := &fakeFunction{}
	reports := run(t, Config{QueueURL: url, Enabled: true, FilterCriteria: []string{`{"body":{"kind":["a"]}}`}, VisibilityTimeout: 30 * time.Second}, c, fn)
	filtered := 0
	waitFor(t, "every message deleted and reported", func() bool {
		filtered = 0
		for _, r := range reports() {
			filtered += r.Filtered
		}
		return held(t, c, url) == 0 && filtered >= 2
	})
	if diff := cmp.Diff([]string{`{"kind":"a","n":1}`, `{"kind":"a","n":2}`}, fn.bodies(), cmpSorted); diff != "" {
		t.Errorf("bodies (-want +got):\n%s", diff)
	}
	if filtered != 2 {
		t.Errorf("reports %+v, want 2 filtered out", reports())
	}
}

// TestDisabled: a disabled mapping receives nothing.
func TestDisabled(t *testing.T) {
	c := engine(t)
	url := queue(t, c, nil)
	send(t, c, url, "x")
	fn := &fakeFunction{}
	run(t, Config{QueueURL: url}, c, fn)
	time.Sleep(500 * time.Millisecond)
	if len(fn.invocations()) != 0 || held(t, c, url) != 1 {
		t.Errorf("a disabled mapping invoked %d times", len(fn.invocations()))
	}
}

// TestSetEnabled: a mapping disabled while it runs receives nothing (the
// queue keeps a backlog), takes the backlog when enabled again, and can be
// disabled again; one started disabled starts on SetEnabled.
func TestSetEnabled(t *testing.T) {
	c := engine(t)
	url := queue(t, c, nil)
	fn := &fakeFunction{}
	m, err := New(Config{FunctionName: "fn", QueueURL: url, VisibilityTimeout: 30 * time.Second}, c, fn, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer started(t, m, 10*time.Second)()
	send(t, c, url, "a", "b")
	time.Sleep(500 * time.Millisecond)
	if n := len(fn.bodies()); n != 0 || m.Enabled() {
		t.Fatalf("started disabled: %d messages handled, Enabled %v", n, m.Enabled())
	}
	m.SetEnabled(true)
	waitFor(t, "the backlog handled once enabled", func() bool { return len(fn.bodies()) == 2 && held(t, c, url) == 0 })

	m.SetEnabled(false)
	m.SetEnabled(false) // twice is the same as once
	// The pollers are in long polls begun while enabled: what they receive
	// now goes back to the queue, visible.
	send(t, c, url, "c", "d", "e")
	time.Sleep(time.Second)
	v, _ := visibility(t, c, url)
	if n := len(fn.bodies()); n != 2 || v != 3 {
		t.Fatalf("disabled: %d messages handled after the disable, %d visible in the queue; want 0 and 3", n-2, v)
	}
	m.SetEnabled(true)
	m.SetEnabled(true)
	waitFor(t, "the second backlog handled", func() bool { return len(fn.bodies()) == 5 && held(t, c, url) == 0 })
}

// TestStopMidInvocation: a batch whose invocation the runtime's stop cut
// short is released (visible again at once), never reported as handled, and
// never lost.
func TestStopMidInvocation(t *testing.T) {
	c := engine(t)
	url := queue(t, c, nil)
	send(t, c, url, "x")
	started := make(chan struct{})
	fn := invokerFunc(func(ctx context.Context, _ []byte) ([]byte, error) {
		close(started)
		<-ctx.Done()
		return nil, ctx.Err()
	})
	// As few pollers as allowed. Another poller's receive, cut off by the
	// stop, may still take the released message on the engine's side (as
	// on SQS); then it comes back after that receive's visibility timeout.
	const visibility = 2 * time.Second
	m, err := New(Config{FunctionName: "fn", QueueURL: url, Enabled: true, VisibilityTimeout: visibility, MaximumConcurrency: MinConcurrency}, c, fn, nil)
	if err != nil {
		t.Fatal(err)
	}
	var reports []Report
	m.OnInvoke(func(r Report) { reports = append(reports, r) })
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- m.Run(ctx) }()
	<-started
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if len(reports) != 0 {
		t.Errorf("reports %+v; want none for a batch cut off by the stop", reports)
	}
	out, err := c.ReceiveMessage(context.Background(), &sqs.ReceiveMessageInput{QueueUrl: aws.String(url), WaitTimeSeconds: 4})
	if err != nil {
		t.Fatal(err)
	}
	if len(out.Messages) != 1 || aws.ToString(out.Messages[0].Body) != "x" {
		t.Errorf("received %d messages after the stop; want the message back within its visibility timeout of %s", len(out.Messages), visibility)
	}
}

type invokerFunc func(ctx context.Context, payload []byte) ([]byte, error)

func (f invokerFunc) Invoke(ctx context.Context, payload []byte) ([]byte, error) {
	return f(ctx, payload)
}
