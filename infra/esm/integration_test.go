package esm

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/google/go-cmp/cmp"

	"github.com/flowbus/flowbus/shared/bus"
	"github.com/flowbus/flowbus/shared/testenv"
)

// TestKinesisLocal runs a mapping against the local Kinesis engine: a real
// stream of two shards, real GetRecords, ParallelizationFactor 3.
func TestKinesisLocal(t *testing.T) {
	awsCfg := testenv.AWS(t)
	client, stream := testenv.Stream(t, awsCfg, 2)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	desc, err := client.DescribeStreamSummary(ctx, &kinesis.DescribeStreamSummaryInput{StreamName: aws.String(stream)})
	if err != nil {
		t.Fatal(err)
	}
	streamARN := aws.ToString(desc.StreamDescriptionSummary.StreamARN)

	const keys, perKey = 20, 25
	var entries []types.PutRecordsRequestEntry
	for n := range perKey {
		for k := range keys {
			key := fmt.Sprintf("wf-%02d", k)
			entries = append(entries, types.PutRecordsRequestEntry{
				PartitionKey: aws.String(key), Data: fmt.Appendf(nil, `{"key":%q,"n":%d}`, key, n),
			})
		}
	}
	out, err := client.PutRecords(ctx, &kinesis.PutRecordsInput{StreamName: aws.String(stream), Records: entries})
	if err != nil {
		t.Fatal(err)
	}
	if n := aws.ToInt32(out.FailedRecordCount); n > 0 {
		t.Fatalf("PutRecords: %d records failed", n)
	}
	lastOfShard := map[string]string{}
	for _, r := range out.Records {
		id, seq := aws.ToString(r.ShardId), aws.ToString(r.SequenceNumber)
		if cur, ok := lastOfShard[id]; !ok || compareSeq(seq, cur) > 0 {
			lastOfShard[id] = seq
		}
	}

	var mu sync.Mutex
	seen := map[string][]int{}
	var badARN []string
	fn := &fakeFunction{handle: func(_ context.Context, c call) ([]byte, error) {
		mu.Lock()
		defer mu.Unlock()
		for _, r := range c.records {
			var d struct {
				Key string
				N   int
			}
			if err := json.Unmarshal(r.Kinesis.Data, &d); err != nil {
				return nil, &FunctionError{Type: "Error", Message: err.Error()}
			}
			seen[d.Key] = append(seen[d.Key], d.N)
			if r.EventSourceArn != streamARN {
				badARN = append(badARN, r.EventSourceArn)
			}
		}
		time.Sleep(5 * time.Millisecond)
		return nil, nil
	}}
	cfg := Config{
		FunctionName: "consume", StreamName: streamARN, StartingPosition: TrimHorizon, Enabled: true,
		BatchSize: 20, ParallelizationFactor: 3, MaximumRetryAttempts: -1, BisectBatchOnFunctionError: true,
		ReportBatchItemFailures: true, PollInterval: 20 * time.Millisecond,
	}
	cp := NewMemoryCheckpoints()
	m := newMapping(t, cfg, client, fn, nil, cp)
	start(t, m)
	eventually(t, 30*time.Second, "every shard checkpointed at its last record", func() bool {
		for id, seq := range lastOfShard {
			if checkpoint(t, cp, m, id) != seq {
				return false
			}
		}
		return true
	})

	mu.Lock()
	defer mu.Unlock()
	want := make([]int, perKey)
	for n := range want {
		want[n] = n
	}
	for k := range keys {
		key := fmt.Sprintf("wf-%02d", k)
		if got := seen[key]; !slices.Equal(got, want) {
			t.Errorf("key %s: records %v, want each of 0–%d once, in order", key, got, perKey-1)
		}
	}
	if len(badARN) > 0 {
		t.Errorf("eventSourceARN %q, want %q", badARN[0], streamARN)
	}
	if len(lastOfShard) != 2 {
		t.Errorf("records landed on %d shards, want 2", len(lastOfShard))
	}
}

// TestKinesisLocalOnFailureToSQS gives up on a poison record and checks the
// failure record lands on a local SQS queue.
func TestKinesisLocalOnFailureToSQS(t *testing.T) {
	awsCfg := testenv.AWS(t)
	if os.Getenv("AWS_ENDPOINT_URL_SQS") == "" && os.Getenv("AWS_ENDPOINT_URL") == "" {
		t.Skip("no local SQS engine (AWS_ENDPOINT_URL_SQS)")
	}
	client, stream := testenv.Stream(t, awsCfg, 1)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	q := sqs.NewFromConfig(awsCfg)
	queue, err := q.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String(testenv.Name("esm-dlq"))})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _, _ = q.DeleteQueue(context.Background(), &sqs.DeleteQueueInput{QueueUrl: queue.QueueUrl}) })

	var seqs []string
	for _, data := range []string{"ok", "poison", "ok"} {
		out, err := client.PutRecord(ctx, &kinesis.PutRecordInput{StreamName: aws.String(stream), PartitionKey: aws.String("k"), Data: []byte(data)})
		if err != nil {
			t.Fatal(err)
		}
		seqs = append(seqs, aws.ToString(out.SequenceNumber))
	}
	cfg := Config{
		FunctionName: "consume", StreamName: stream, StartingPosition: TrimHorizon, Enabled: true,
		BisectBatchOnFunctionError: true, MaximumRetryAttempts: 1, PollInterval: 20 * time.Millisecond,
	}
	m := newMapping(t, cfg, client, poisonFunction(), NewSQSDestination(q, aws.ToString(queue.QueueUrl)), nil)
	start(t, m)

	var body string
	eventually(t, 30*time.Second, "a message on the queue", func() bool {
		out, err := q.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: queue.QueueUrl, MaxNumberOfMessages: 1})
		if err != nil {
			t.Fatal(err)
		}
		if len(out.Messages) == 0 {
			return false
		}
		body = aws.ToString(out.Messages[0].Body)
		return true
	})
	var fr failureRecord
	if err := json.Unmarshal([]byte(body), &fr); err != nil {
		t.Fatal(err)
	}
	got := []any{fr.RequestContext.Condition, fr.KinesisBatchInfo.StartSequenceNumber, fr.KinesisBatchInfo.EndSequenceNumber, fr.KinesisBatchInfo.BatchSize}
	want := []any{RetryAttemptsExhausted, seqs[1], seqs[1], 1}
	if !slices.Equal(got, want) {
		t.Errorf("failure record %v, want %v", got, want)
	}
}

// compareSeq orders Kinesis sequence numbers, decimal strings of up to 128
// digits.
func compareSeq(a, b string) int {
	if len(a) != len(b) {
		return len(a) - len(b)
	}
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// TestKinesisLocalStreamCreatedAgain deletes and creates the stream again
// under a running mapping, as an engine restart followed by make provision
// does, then restarts the mapping on the old checkpoints file after another
// delete and create: the new stream's records are delivered each time.
func TestKinesisLocalStreamCreatedAgain(t *testing.T) {
	awsCfg := testenv.AWS(t)
	client, stream := testenv.Stream(t, awsCfg, 1)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()

	put := func(data ...string) {
		t.Helper()
		for _, d := range data {
			if _, err := client.PutRecord(ctx, &kinesis.PutRecordInput{
				StreamName: aws.String(stream), PartitionKey: aws.String("wf"), Data: []byte(d),
			}); err != nil {
				t.Fatal(err)
			}
		}
	}
	recreate := func() {
		t.Helper()
		if _, err := client.DeleteStream(ctx, &kinesis.DeleteStreamInput{StreamName: aws.String(stream)}); err != nil {
			t.Fatal(err)
		}
		// kinesis-mock refuses the name while the old stream is being deleted.
		eventually(t, 30*time.Second, "the stream created again", func() bool {
			_, err := bus.CreateStream(ctx, client, stream, 1)
			return err == nil
		})
	}
	var mu sync.Mutex
	var got []string
	fn := &fakeFunction{handle: func(_ context.Context, c call) ([]byte, error) {
		mu.Lock()
		defer mu.Unlock()
		for _, r := range c.records {
			got = append(got, string(r.Kinesis.Data))
		}
		return nil, nil
	}}
	delivered := func() []string {
		mu.Lock()
		defer mu.Unlock()
		return slices.Clone(got)
	}
	cfg := Config{
		FunctionName: "consume", StreamName: stream, StartingPosition: TrimHorizon, Enabled: true,
		MaximumRetryAttempts: -1, PollInterval: 50 * time.Millisecond,
	}
	path := t.TempDir() + "/checkpoints.json"
	cp, err := OpenFileCheckpoints(path)
	if err != nil {
		t.Fatal(err)
	}
	m := newMapping(t, cfg, client, fn, nil, cp)
	var n notices
	m.OnInvoke(n.hook)
	stop := start(t, m)

	// More records on the old stream than on the new one, so the checkpoint's
	// sequence number could never be reached by counting.
	put("old-0", "old-1", "old-2", "old-3", "old-4")
	eventually(t, 30*time.Second, "the old stream's records", func() bool { return len(delivered()) == 5 })
	recreate()
	put("new-0", "new-1")
	eventually(t, 30*time.Second, "the new stream's records", func() bool { return len(delivered()) == 7 })
	if diff := cmp.Diff([]string{"new-0", "new-1"}, delivered()[5:]); diff != "" {
		t.Errorf("after the stream was created again (-want +got):\n%s", diff)
	}
	if !n.contain("created again") {
		t.Errorf("notices %q, want one saying the stream was created again", n.seen)
	}
	eventually(t, 30*time.Second, "a checkpoint on the new stream", func() bool { return checkpoint(t, cp, m, shard0) != "" })
	stop()

	// Stopped, the stream is created again; a mapping started on the old
	// checkpoints file delivers the new stream's records.
	recreate()
	put("newer-0")
	cp2, err := OpenFileCheckpoints(path)
	if err != nil {
		t.Fatal(err)
	}
	m2 := newMapping(t, cfg, client, fn, nil, cp2)
	start(t, m2)
	put("newer-1")
	eventually(t, 30*time.Second, "the newest stream's records", func() bool { return len(delivered()) == 9 })
	if diff := cmp.Diff([]string{"newer-0", "newer-1"}, delivered()[7:]); diff != "" {
		t.Errorf("after a restart on old checkpoints (-want +got):\n%s", diff)
	}
}
