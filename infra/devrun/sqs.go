package devrun

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/smithy-go"

	"github.com/flowbus/flowbus/infra/esm"
	"github.com/flowbus/flowbus/infra/sqsesm"
	"github.com/flowbus/flowbus/infra/template"
)

// deadLetters counts, for the live line, the records the Kinesis mappings
// gave up on to an on-failure destination since the runtime started (the
// figures count them too, but only once the dead-letter function has read
// them back).
type deadLetters struct {
	sent atomic.Int64
}

// countGiveUp counts the records of a Kinesis mapping's report that went to
// its on-failure destination.
func (d *deadLetters) countGiveUp(rep esm.Report) {
	if strings.HasPrefix(rep.Result, "gave up → destination") {
		d.sent.Add(int64(rep.Records))
	}
}

// sqsPool is the execution environments a function's SQS events need, one
// per poller: initial for the pollers a mapping starts with, most for those
// it may add while they are held by slow invocations (started on demand).
func sqsPool(fn *template.Function) (initial, most int) {
	for _, q := range fn.SQS {
		c := sqsesm.Config{MaximumConcurrency: q.MaximumConcurrency}
		initial, most = max(initial, c.InitialConcurrency()), max(most, c.Concurrency())
	}
	return initial, most
}

// startSQSMappings runs every SQS event source mapping of the template on
// the queue provision created. Each receive hides its batch for the
// function's timeout plus the batching window: AWS requires the queue's
// visibility timeout to be at least the function's timeout (and advises six
// times it, for retries of throttled invocations, which do not happen
// locally), so what a function fails on comes back after one timeout.
func (r *Runtime) startSQSMappings(ctx context.Context, cfg aws.Config) error {
	var qc *sqs.Client
	for _, id := range sortedKeys(r.tpl.Functions) {
		fn := r.tpl.Functions[id]
		for _, q := range fn.SQS {
			if qc == nil {
				qc = sqs.NewFromConfig(cfg)
			}
			queue := r.tpl.Queues[q.Queue]
			m, err := sqsesm.New(sqsesm.Config{
				FunctionName: id, QueueURL: r.QueueURLs[q.Queue], Region: template.Region,
				QueueARN:  fmt.Sprintf("arn:aws:sqs:%s:%s:%s", template.Region, template.Account, queue.Name),
				BatchSize: q.BatchSize, MaximumBatchingWindow: q.MaximumBatchingWindow, ReportBatchItemFailures: q.ReportBatchItemFailures,
				FilterCriteria: q.FilterPatterns, MaximumConcurrency: q.MaximumConcurrency, Enabled: q.Enabled,
				VisibilityTimeout: fn.Timeout + q.MaximumBatchingWindow,
			}, qc, esmInvoker{r.functions[id]}, r.opts.Log.With("function", id, "event", q.Name))
			if err != nil {
				return fmt.Errorf("%s event %s: %w", id, q.Name, err)
			}
			m.OnInvoke(func(rep sqsesm.Report) {
				result := rep.Result
				if rep.Filtered > 0 && rep.Messages > 0 {
					result += fmt.Sprintf(" (%d filtered out)", rep.Filtered)
				}
				r.printInvoke(rep.Function, rep.Queue, max(rep.Messages, rep.Filtered), "messages", rep.Duration, result)
			})
			if r.queues == nil {
				r.queues = map[string][]*sqsesm.Mapping{}
			}
			r.queues[id] = append(r.queues[id], m)
			r.runMapping(ctx, id+"/"+q.Name, m.Run)
			state := ""
			if !q.Enabled {
				state = " (disabled)"
			}
			sc := sqsesm.Config{MaximumConcurrency: q.MaximumConcurrency}
			r.printf("esm     %-16s %s → %s, batch %d, window %s, concurrency %d (up to %d while held by slow invocations), visibility %s%s", id+"/"+q.Name, queue.Name, id,
				q.BatchSize, q.MaximumBatchingWindow, sc.InitialConcurrency(), sc.Concurrency(), fn.Timeout+q.MaximumBatchingWindow, state)
		}
	}
	return nil
}

// SetQueuesEnabled enables or disables the SQS event source mappings of
// function, as UpdateEventSourceMapping's Enabled does on AWS: disabled,
// the function's queue keeps a backlog (a consumer's outage, or a load
// test that builds a backlog and then times its draining).
func (r *Runtime) SetQueuesEnabled(function string, on bool) error {
	ms := r.queues[function]
	if len(ms) == 0 {
		return fmt.Errorf("%s has no SQS event source mapping", function)
	}
	for _, m := range ms {
		m.SetEnabled(on)
	}
	return nil
}

// queueOrder lists the template's queues so that a redrive policy's
// dead-letter queue comes before the queues that name it.
func queueOrder(tpl *template.Template) []string {
	var order []string
	done := map[string]bool{}
	var visit func(id string)
	visit = func(id string) {
		if done[id] {
			return
		}
		done[id] = true
		if t := tpl.Queues[id].RedriveTarget; t != "" {
			visit(t)
		}
		order = append(order, id)
	}
	for _, id := range sortedKeys(tpl.Queues) {
		visit(id)
	}
	return order
}

// createQueue creates a queue with the template's attributes, or gives an
// existing one those attributes (CreateQueue refuses other attributes for a
// queue that exists), and returns its URL.
func createQueue(ctx context.Context, qc *sqs.Client, q *template.Queue) (string, error) {
	out, err := qc.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String(q.Name), Attributes: q.Attributes})
	if err == nil {
		return aws.ToString(out.QueueUrl), nil
	}
	var api smithy.APIError
	if !errors.As(err, &api) || (api.ErrorCode() != "QueueNameExists" && api.ErrorCode() != "QueueAlreadyExists") {
		return "", fmt.Errorf("create queue %s: %w", q.Name, err)
	}
	got, err := qc.GetQueueUrl(ctx, &sqs.GetQueueUrlInput{QueueName: aws.String(q.Name)})
	if err != nil {
		return "", fmt.Errorf("queue %s: %w", q.Name, err)
	}
	if _, err := qc.SetQueueAttributes(ctx, &sqs.SetQueueAttributesInput{QueueUrl: got.QueueUrl, Attributes: q.Attributes}); err != nil {
		return "", fmt.Errorf("set the attributes of queue %s: %w", q.Name, err)
	}
	return aws.ToString(got.QueueUrl), nil
}
