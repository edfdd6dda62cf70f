package route

import (
	"context"
	"fmt"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	ktypes "github.com/aws/aws-sdk-go-v2/service/kinesis/types"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/google/go-cmp/cmp"

	"github.com/flowbus/flowbus/shared/kinesisevent"
	"github.com/flowbus/flowbus/shared/testenv"
)

// TestRouteThroughEngines puts events on a kinesis-mock stream, reads them
// back as the Lambda event, routes them to an sqslocal FIFO queue with
// high-throughput settings, and reads the queue: every (subscription,
// workflow) in stream order; routing the batch again enqueues nothing.
func TestRouteThroughEngines(t *testing.T) {
	cfg := testenv.AWS(t)
	kc, stream := testenv.Stream(t, cfg, 1)
	ctx := context.Background()
	var entries []ktypes.PutRecordsRequestEntry
	for i := range 12 {
		wf := fmt.Sprintf("wf-%d", i%3)
		typ := []string{"started", "step"}[i%2]
		entries = append(entries, ktypes.PutRecordsRequestEntry{PartitionKey: aws.String(wf), Data: []byte(ev(fmt.Sprint("e", i), wf, typ))})
	}
	if _, err := kc.PutRecords(ctx, &kinesis.PutRecordsInput{StreamName: aws.String(stream), Records: entries}); err != nil {
		t.Fatal(err)
	}
	shard, arn, recs := testenv.ReadShard(t, kc, stream)
	records, err := kinesisevent.Decode(testenv.LambdaEvent(t, shard, arn, recs))
	if err != nil || len(records) != 12 {
		t.Fatalf("decode: %d records, %v", len(records), err)
	}

	sc := sqs.NewFromConfig(cfg)
	q, err := sc.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String(testenv.Name("route") + ".fifo"), Attributes: map[string]string{
		"FifoQueue": "true", "ContentBasedDeduplication": "false", "DeduplicationScope": "messageGroup", "FifoThroughputLimit": "perMessageGroupId",
	}})
	if err != nil {
		t.Fatalf("create the FIFO queue (is sqslocal built with FIFO support?): %v", err)
	}
	t.Cleanup(func() { _, _ = sc.DeleteQueue(context.Background(), &sqs.DeleteQueueInput{QueueUrl: q.QueueUrl}) })

	src := &fakeSource{subs: subs(t, "all", `{"source":["test"]}`, "started", `{"type":["started"]}`)}
	r, err := New(Config{QueueURL: aws.ToString(q.QueueUrl)}, src, sc, nil)
	if err != nil {
		t.Fatal(err)
	}
	for range 2 { // the second time as a Lambda retry of the same batch
		retry, st, err := r.Route(ctx, records)
		if err != nil || len(retry) != 0 || st.Sent != 18 {
			t.Fatalf("Route = %v, %+v, %v; want 18 sent", retry, st, err)
		}
	}

	got := map[string][]string{}
	for {
		out, err := sc.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: q.QueueUrl, MaxNumberOfMessages: 10, WaitTimeSeconds: 1,
			MessageSystemAttributeNames: []types.MessageSystemAttributeName{types.MessageSystemAttributeNameAll}})
		if err != nil {
			t.Fatal(err)
		}
		if len(out.Messages) == 0 {
			break
		}
		for _, m := range out.Messages {
			var p Pointer
			if err := jsonUnmarshal(aws.ToString(m.Body), &p); err != nil {
				t.Fatal(err)
			}
			if g := m.Attributes["MessageGroupId"]; g != p.Subscription+"/"+p.WorkflowID {
				t.Errorf("message group %q for %s/%s", g, p.Subscription, p.WorkflowID)
			}
			got[m.Attributes["MessageGroupId"]] = append(got[m.Attributes["MessageGroupId"]], p.EventID)
			if _, err := sc.DeleteMessage(ctx, &sqs.DeleteMessageInput{QueueUrl: q.QueueUrl, ReceiptHandle: m.ReceiptHandle}); err != nil {
				t.Fatal(err)
			}
		}
	}
	want := map[string][]string{
		"all/wf-0": {"e0", "e3", "e6", "e9"}, "all/wf-1": {"e1", "e4", "e7", "e10"}, "all/wf-2": {"e2", "e5", "e8", "e11"},
		"started/wf-0": {"e0", "e6"}, "started/wf-1": {"e4", "e10"}, "started/wf-2": {"e2", "e8"},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("delivered per group, once each (-want +got):\n%s", diff)
	}
}
