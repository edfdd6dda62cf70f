package sqslocal

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/flowbus/flowbus/infra/faultproxy"
)

func ids(msgs []types.Message) string {
	var out []string
	for _, m := range msgs {
		out = append(out, aws.ToString(m.Body)+"@"+aws.ToString(m.ReceiptHandle))
	}
	return strings.Join(out, " ")
}

func joined(msgs []types.Message) string { return strings.Join(bodies(msgs), " ") }

// A FIFO receive retried with its ReceiveRequestAttemptId gets the same
// messages and receipt handles while none of them changed; once one did,
// the id no longer applies. A standard queue ignores the id.
func TestReceiveRequestAttemptID(t *testing.T) {
	e := newEngine(t)
	ctx := testContext(t)
	url := e.createQueue(t, "attempts.fifo", map[string]string{"FifoQueue": "true", "ContentBasedDeduplication": "true"})
	for _, m := range []struct{ group, body string }{{"g1", "a"}, {"g1", "b"}, {"g1", "c"}, {"g2", "d"}} {
		if _, err := e.client.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: aws.String(url), MessageBody: aws.String(m.body), MessageGroupId: aws.String(m.group)}); err != nil {
			t.Fatal(err)
		}
	}
	first := e.receive(t, &sqs.ReceiveMessageInput{QueueUrl: aws.String(url), MaxNumberOfMessages: 2, VisibilityTimeout: 60, ReceiveRequestAttemptId: aws.String("attempt-1")})
	if got := joined(first); got != "a b" {
		t.Fatalf("first receive: got %q, want a b", got)
	}
	again := e.receive(t, &sqs.ReceiveMessageInput{QueueUrl: aws.String(url), MaxNumberOfMessages: 2, VisibilityTimeout: 60, ReceiveRequestAttemptId: aws.String("attempt-1")})
	if got, want := ids(again), ids(first); got != want {
		t.Errorf("retried receive: got %q, want the same messages and handles %q", got, want)
	}
	if got := joined(e.receive(t, &sqs.ReceiveMessageInput{QueueUrl: aws.String(url), MaxNumberOfMessages: 10})); got != "d" {
		t.Errorf("another receive: got %q, want d (g1 in flight)", got)
	}
	if got := joined(e.receive(t, &sqs.ReceiveMessageInput{QueueUrl: aws.String(url), MaxNumberOfMessages: 10, ReceiveRequestAttemptId: aws.String("attempt-2")})); got != "" {
		t.Errorf("a new attempt: got %q, want nothing (both groups in flight)", got)
	}
	if _, err := e.client.DeleteMessage(ctx, &sqs.DeleteMessageInput{QueueUrl: aws.String(url), ReceiptHandle: first[0].ReceiptHandle}); err != nil {
		t.Fatal(err)
	}
	if got := joined(e.receive(t, &sqs.ReceiveMessageInput{QueueUrl: aws.String(url), MaxNumberOfMessages: 2, ReceiveRequestAttemptId: aws.String("attempt-1")})); got != "" {
		t.Errorf("retry after a delete: got %q, want a new receive, which finds g1 still in flight", got)
	}

	std := e.createQueue(t, "attempts-standard", nil)
	e.send(t, std, "x")
	if got := joined(e.receive(t, &sqs.ReceiveMessageInput{QueueUrl: aws.String(std), VisibilityTimeout: 60, ReceiveRequestAttemptId: aws.String("s")})); got != "x" {
		t.Fatalf("standard queue: got %q, want x", got)
	}
	if got := joined(e.receive(t, &sqs.ReceiveMessageInput{QueueUrl: aws.String(std), ReceiveRequestAttemptId: aws.String("s")})); got != "" {
		t.Errorf("standard queue retry: got %q, want nothing: the id applies to FIFO queues only", got)
	}
	_, err := e.client.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: aws.String(url), ReceiveRequestAttemptId: aws.String(strings.Repeat("x", 129))})
	wantAPIError(t, err, "InvalidParameterValue")
}

// A FIFO receive whose answer is lost on the way holds its messages in
// flight, and their group with them, for the visibility timeout, unless
// the receive carries a ReceiveRequestAttemptId: the SDK's retry then gets
// the same messages at once.
func TestLostReceiveAnswer(t *testing.T) {
	for _, withID := range []bool{false, true} {
		t.Run(fmt.Sprintf("attempt id %v", withID), func(t *testing.T) {
			srv := New(Options{})
			ts := httptest.NewServer(srv)
			t.Cleanup(func() { srv.Close(); ts.Close() })
			lose := &faultproxy.LoseFirstReceive{}
			client := sqs.New(sqs.Options{Region: "us-east-1", BaseEndpoint: aws.String(ts.URL),
				Credentials: credentials.NewStaticCredentialsProvider("test", "test", ""), HTTPClient: &http.Client{Transport: lose}})
			ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
			defer cancel()
			out, err := client.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String("lost.fifo"), Attributes: map[string]string{"FifoQueue": "true", "ContentBasedDeduplication": "true"}})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := client.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: out.QueueUrl, MessageBody: aws.String("m1"), MessageGroupId: aws.String("g")}); err != nil {
				t.Fatal(err)
			}
			in := &sqs.ReceiveMessageInput{QueueUrl: out.QueueUrl, MaxNumberOfMessages: 10, VisibilityTimeout: 300}
			if withID {
				in.ReceiveRequestAttemptId = aws.String("receive-1")
			}
			got, err := client.ReceiveMessage(ctx, in)
			if !lose.Lost() {
				t.Fatal("no answer was lost")
			}
			switch {
			case err != nil:
				t.Errorf("receive: %v", err)
			case withID && joined(got.Messages) != "m1":
				t.Errorf("receive retried with its attempt id: got %q, want m1", joined(got.Messages))
			case !withID && len(got.Messages) != 0:
				t.Errorf("receive retried without an attempt id: got %q, want nothing (m1 in flight for 300 s)", joined(got.Messages))
			}
		})
	}
}
