package devrun

import (
	"context"
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
