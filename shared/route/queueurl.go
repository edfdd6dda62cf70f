package route

import (
	"context"
	"fmt"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
)

// QueueURLAPI is the part of the SQS client ResolveQueueURL uses.
type QueueURLAPI interface {
	GetQueueUrl(ctx context.Context, in *sqs.GetQueueUrlInput, optFns ...func(*sqs.Options)) (*sqs.GetQueueUrlOutput, error)
}

// ResolveQueueURL is the delivery queue's URL: FLOWBUS_DELIVERY_QUEUE as it is
// when it is one (CloudFormation's Ref of a queue), else the URL of the queue
// it names (the local runtime resolves Ref to the name). Every function that
// sends to or reads the delivery queue resolves it here, once per cold start.
func ResolveQueueURL(ctx context.Context, qc QueueURLAPI, queue string) (string, error) {
	if strings.Contains(queue, "://") {
		return queue, nil
	}
	out, err := qc.GetQueueUrl(ctx, &sqs.GetQueueUrlInput{QueueName: aws.String(queue)})
	if err != nil {
		return "", fmt.Errorf("delivery queue %s: %w", queue, err)
	}
	return aws.ToString(out.QueueUrl), nil
}
