package esm

import (
	"context"
	"errors"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/google/go-cmp/cmp"
)

type fakeSQS struct {
	sent []*sqs.SendMessageInput
	err  error
}

func (f *fakeSQS) SendMessage(_ context.Context, in *sqs.SendMessageInput, _ ...func(*sqs.Options)) (*sqs.SendMessageOutput, error) {
	if f.err != nil {
		return nil, f.err
	}
	f.sent = append(f.sent, in)
	return &sqs.SendMessageOutput{MessageId: aws.String("m-1")}, nil
}

func TestSQSDestination(t *testing.T) {
	q := &fakeSQS{}
	d := NewSQSDestination(q, "http://127.0.0.1/000000000000/dlq")
	if err := d.Send(context.Background(), []byte(`{"version":"1.0"}`)); err != nil {
		t.Fatal(err)
	}
	got := []string{aws.ToString(q.sent[0].QueueUrl), aws.ToString(q.sent[0].MessageBody)}
	if diff := cmp.Diff([]string{"http://127.0.0.1/000000000000/dlq", `{"version":"1.0"}`}, got); diff != "" {
		t.Errorf("sent mismatch (-want +got):\n%s", diff)
	}
	boom := errors.New("boom")
	q.err = boom
	if err := d.Send(context.Background(), []byte("x")); !errors.Is(err, boom) {
		t.Errorf("Send() = %v, want it to wrap %v", err, boom)
	}
}
