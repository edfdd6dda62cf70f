package devrun

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/google/go-cmp/cmp"

	"github.com/flowbus/flowbus/infra/template"
	"github.com/flowbus/flowbus/shared/testenv"
)

// TestSQSMapping puts messages on a queue of the template and checks they
// reach the function its SQS event names, as Lambda's SQS event source
// mapping delivers them: in the SQS event, a failure reported in a partial
// batch response back after the visibility timeout (the function's), the
// rest deleted.
func TestSQSMapping(t *testing.T) {
	cfg := awsConfig(t)
	if os.Getenv("AWS_ENDPOINT_URL_SQS") == "" && os.Getenv("AWS_ENDPOINT_URL") == "" {
		t.Fatal("no SQS endpoint: make test starts sqslocal with the other engines")
	}
	e := newEnv(t, "sqs")
	e.opts.ScheduleEvery = time.Hour
	start(t, e)
	defer func() { e.rt.Close() }()

	url := e.rt.QueueURLs["ProbeQueue"]
	qc := sqs.NewFromConfig(cfg)
	for _, body := range []string{"letter-1", "fail-once:letter-2", "letter-3"} {
		if _, err := qc.SendMessage(context.Background(), &sqs.SendMessageInput{QueueUrl: aws.String(url), MessageBody: aws.String(body)}); err != nil {
			t.Fatal(err)
		}
	}
	sqsLines := func() []string {
		var out []string
		for _, l := range e.probeLines() {
			if strings.HasPrefix(l, "sqs ") {
				out = append(out, l)
			}
		}
		return out
	}
	e.waitFor("the three letters handled", func() bool { return len(sqsLines()) == 3 })
	arn := "arn:aws:sqs:" + template.Region + ":" + template.Account + ":" + e.opts.Parameters["ProbeQueueName"]
	want := []string{"sqs letter-1 1 " + arn, "sqs letter-3 1 " + arn, "sqs fail-once:letter-2 2 " + arn}
	got := sqsLines()
	if len(got) == 3 && got[0] > got[1] { // the first two may come in either order
		got[0], got[1] = got[1], got[0]
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("handled (-want +got):\n%s", diff)
	}
	e.waitFor("the queue emptied", func() bool {
		out, err := qc.GetQueueAttributes(context.Background(), &sqs.GetQueueAttributesInput{QueueUrl: aws.String(url), AttributeNames: []types.QueueAttributeName{"All"}})
		if err != nil {
			t.Fatal(err)
		}
		return out.Attributes["ApproximateNumberOfMessages"] == "0" && out.Attributes["ApproximateNumberOfMessagesNotVisible"] == "0"
	})
	for _, line := range []string{"esm     QueueProbeFunction/Letters", "partial (1 failed)"} {
		if !strings.Contains(e.out.String(), line) {
			t.Errorf("runtime output has no %q:\n%s", line, e.out)
		}
	}
	t.Logf("runtime output:\n%s", e.out)
}

// TestProvisionQueues: the template's queue attributes reach the engine,
// the redrive policy's target first, also for a queue an earlier run made
// without them.
func TestProvisionQueues(t *testing.T) {
	cfg := awsConfig(t)
	name := testenv.Name("provision")
	tpl, err := template.Load("../../template.yaml", map[string]string{"StreamName": name, "TableName": name, "DeadLetterQueueName": name})
	if err != nil {
		t.Fatal(err)
	}
	qc := sqs.NewFromConfig(cfg)
	if _, err := qc.CreateQueue(context.Background(), &sqs.CreateQueueInput{QueueName: aws.String(name)}); err != nil {
		t.Fatal(err)
	}
	urls, err := Provision(context.Background(), cfg, tpl, 1, func(string, ...any) {})
	if err != nil {
		t.Fatal(err)
	}
	q := tpl.Queues["DeadLetterQueue"]
	out, err := qc.GetQueueAttributes(context.Background(), &sqs.GetQueueAttributesInput{QueueUrl: aws.String(urls["DeadLetterQueue"]), AttributeNames: []types.QueueAttributeName{"All"}})
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range []string{"VisibilityTimeout", "MessageRetentionPeriod"} {
		if out.Attributes[a] != q.Attributes[a] || q.Attributes[a] == "" {
			t.Errorf("%s = %q, want the template's %q", a, out.Attributes[a], q.Attributes[a])
		}
	}
	if !strings.Contains(out.Attributes["RedrivePolicy"], ":"+tpl.Queues[q.RedriveTarget].Name+`"`) {
		t.Errorf("RedrivePolicy %q, want the target %s", out.Attributes["RedrivePolicy"], tpl.Queues[q.RedriveTarget].Name)
	}
}

// TestDeadLetterFunction runs template.yaml and puts an on-failure record on
// its dead-letter queue, as the consumer's mapping does when it gives up: the
// record reaches the dead-letter function, which handles it (the event it
// points at is parked, or found stored) and so has it deleted.
func TestDeadLetterFunction(t *testing.T) {
	cfg := awsConfig(t)
	name := testenv.Name("dlq")
	out := &testenv.SyncBuffer{}
	rt, err := Start(context.Background(), Options{
		Template: "../../template.yaml", Addr: "127.0.0.1:0", RunDir: t.TempDir(), PollEvery: 100 * time.Millisecond, Out: out,
		ScheduleEvery: time.Hour, LiveEvery: -1,
		Parameters: map[string]string{"StreamName": name, "TableName": name, "DeadLetterQueueName": name, "DeliveryQueueName": name + "-delivery.fifo", "BatchingWindowSeconds": "0"},
	})
	if err != nil {
		t.Fatalf("start: %v\n%s", err, out)
	}
	defer rt.Close()
	e := &env{t: t, rt: rt, out: out}
	published := e.post(`{"type":"step.done","workflow_id":"dlq-wf","id":"dlq-1"}`)
	entry := published["entries"].([]any)[0].(map[string]any)
	seq, shard := entry["sequence_number"].(string), entry["shard_id"].(string)
	stream := rt.Template().Streams["EventStream"]
	now := time.Now().UTC().Format(time.RFC3339Nano)
	body := fmt.Sprintf(`{"requestContext":{"requestId":"r-1","functionArn":"arn:aws:lambda:us-east-1:000000000000:function:flowbus-consume","condition":"RetryAttemptsExhausted","approximateInvokeCount":3},`+
		`"responseContext":{"statusCode":200,"executedVersion":"$LATEST","functionError":"Unhandled"},"version":"1.0","timestamp":%q,`+
		`"KinesisBatchInfo":{"shardId":%q,"startSequenceNumber":%q,"endSequenceNumber":%q,"approximateArrivalOfFirstRecord":%q,"approximateArrivalOfLastRecord":%q,"batchSize":1,"streamArn":%q}}`,
		now, shard, seq, seq, now, now, stream.ARN())
	qc := sqs.NewFromConfig(cfg)
	url := rt.QueueURLs["DeadLetterQueue"]
	if _, err := qc.SendMessage(context.Background(), &sqs.SendMessageInput{QueueUrl: aws.String(url), MessageBody: aws.String(body)}); err != nil {
		t.Fatal(err)
	}
	e.waitFor("the dead-letter function to handle the record", func() bool {
		for _, l := range strings.Split(out.String(), "\n") {
			if strings.HasPrefix(l, "invoke  DeadLetterFunction") && strings.Contains(l, " 1 messages") && strings.HasSuffix(l, "  ok") {
				return true
			}
		}
		return false
	})
	e.waitFor("the dead-letter queue emptied", func() bool {
		a, err := qc.GetQueueAttributes(context.Background(), &sqs.GetQueueAttributesInput{QueueUrl: aws.String(url), AttributeNames: []types.QueueAttributeName{"All"}})
		if err != nil {
			t.Fatal(err)
		}
		return a.Attributes["ApproximateNumberOfMessages"] == "0" && a.Attributes["ApproximateNumberOfMessagesNotVisible"] == "0"
	})
	t.Logf("runtime output:\n%s", out)
}
