package esm

import (
	"context"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
)

// SQSAPI is the part of the SQS client a destination sends with.
type SQSAPI interface {
	SendMessage(ctx context.Context, in *sqs.SendMessageInput, optFns ...func(*sqs.Options)) (*sqs.SendMessageOutput, error)
}

// SQSDestination is an SQS on-failure destination.
type SQSDestination struct {
	client   SQSAPI
	queueURL string
}

// NewSQSDestination sends to the queue at queueURL.
func NewSQSDestination(client SQSAPI, queueURL string) *SQSDestination {
	return &SQSDestination{client: client, queueURL: queueURL}
}

// Send puts body on the queue as one message.
func (d *SQSDestination) Send(ctx context.Context, body []byte) error {
	_, err := d.client.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: aws.String(d.queueURL), MessageBody: aws.String(string(body))})
	if err != nil {
		return fmt.Errorf("send to %s: %w", d.queueURL, err)
	}
	return nil
}
