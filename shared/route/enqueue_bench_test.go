package route

import (
	"context"
	"fmt"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/flowbus/flowbus/shared/event"
	"github.com/flowbus/flowbus/shared/testenv"
)

// BenchmarkEnqueueThroughEngines enqueues a replay of one workflow's 1,000
// events to one subscription on an sqslocal FIFO queue, as a replay aimed
// at a subscription does: events/s is what the queue takes. A workflow's
// events must go one call after another (one entry per group per call), so
// the calls per event decide it.
func BenchmarkEnqueueThroughEngines(b *testing.B) {
	cfg := testenv.AWS(b)
	sc := sqs.NewFromConfig(cfg)
	ctx := context.Background()
	q, err := sc.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String(testenv.Name("enq") + ".fifo"), Attributes: map[string]string{
		"FifoQueue": "true", "ContentBasedDeduplication": "false", "DeduplicationScope": "messageGroup", "FifoThroughputLimit": "perMessageGroupId",
	}})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _, _ = sc.DeleteQueue(context.Background(), &sqs.DeleteQueueInput{QueueUrl: q.QueueUrl}) })
	enq, err := NewEnqueuer(Config{QueueURL: aws.ToString(q.QueueUrl)}, sc, nil)
	if err != nil {
		b.Fatal(err)
	}
	const n = 1000
	round := 0
	b.ResetTimer()
	for b.Loop() {
		round++
		evs := make([]*event.Event, n)
		for i := range evs {
			evs[i] = &event.Event{ID: fmt.Sprint("e-", i), Source: "test", Type: "x", WorkflowID: "wf", Data: []byte(`{"n":1}`),
				Extensions: []event.Extension{{Name: event.AttrReplayID, Value: []byte(fmt.Sprintf(`"r-%d"`, round))}}}
		}
		if _, err := enq.Enqueue(ctx, "sub", evs); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N*n)/b.Elapsed().Seconds(), "events/s")
}
