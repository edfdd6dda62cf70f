package sqsesm

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/flowbus/flowbus/infra/faultproxy"
	"github.com/flowbus/flowbus/infra/sqslocal"
)

// A FIFO mapping whose ReceiveMessage answer is lost on the way still
// invokes the function with its messages at once: its receives carry a
// ReceiveRequestAttemptId, so the SDK's retry gets them back instead of
// leaving them in flight for the visibility timeout (300 s here).
func TestLostReceiveAnswerIsRetried(t *testing.T) {
	srv := sqslocal.New(sqslocal.Options{})
	ts := httptest.NewServer(srv)
	t.Cleanup(func() { srv.Close(); ts.Close() })
	lose := &faultproxy.LoseFirstReceive{}
	c := sqs.New(sqs.Options{Region: "us-east-1", BaseEndpoint: aws.String(ts.URL),
		Credentials: credentials.NewStaticCredentialsProvider("test", "test", ""), HTTPClient: &http.Client{Transport: lose}})
	ctx := t.Context()
	out, err := c.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String("lost.fifo"), Attributes: map[string]string{"FifoQueue": "true", "ContentBasedDeduplication": "true"}})
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range []string{"m1", "m2"} {
		if _, err := c.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: out.QueueUrl, MessageBody: aws.String(b), MessageGroupId: aws.String("g")}); err != nil {
			t.Fatal(err)
		}
	}
	fn := &fakeFunction{}
	run(t, Config{QueueURL: aws.ToString(out.QueueUrl), Enabled: true, ReportBatchItemFailures: true, MaximumConcurrency: 2, VisibilityTimeout: 300 * time.Second}, c, fn)
	deadline := time.Now().Add(10 * time.Second)
	for len(fn.bodies()) < 2 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if !lose.Lost() {
		t.Fatal("no answer was lost")
	}
	if got := strings.Join(fn.bodies(), " "); got != "m1 m2" {
		t.Errorf("invoked with %q within 10 s, want m1 m2 (a lost answer's messages held for the visibility timeout?)", got)
	}
}
