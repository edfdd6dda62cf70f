package delivery

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	ebtypes "github.com/aws/aws-sdk-go-v2/service/eventbridge/types"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	kintypes "github.com/aws/aws-sdk-go-v2/service/kinesis/types"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	lambdatypes "github.com/aws/aws-sdk-go-v2/service/lambda/types"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/smithy-go"

	"github.com/flowbus/flowbus/shared/bus"
	"github.com/flowbus/flowbus/shared/event"
	"github.com/flowbus/flowbus/shared/subscription"
	"github.com/flowbus/flowbus/shared/webhook"
)

// Webhook delivers to http targets (a *webhook.Client).
type Webhook interface {
	Deliver(ctx context.Context, t webhook.Target, e *event.Event) webhook.Result
}

// Publisher publishes a bus target's derived events (a *bus.Publisher).
type Publisher interface {
	Publish(ctx context.Context, events []*event.Event) []bus.Result
}

// LambdaAPI invokes lambda targets.
type LambdaAPI interface {
	Invoke(ctx context.Context, in *lambda.InvokeInput, optFns ...func(*lambda.Options)) (*lambda.InvokeOutput, error)
}

// SQSAPI sends to sqs targets.
type SQSAPI interface {
	SendMessage(ctx context.Context, in *sqs.SendMessageInput, optFns ...func(*sqs.Options)) (*sqs.SendMessageOutput, error)
}

// KinesisAPI puts to kinesis targets.
type KinesisAPI interface {
	PutRecords(ctx context.Context, in *kinesis.PutRecordsInput, optFns ...func(*kinesis.Options)) (*kinesis.PutRecordsOutput, error)
}

// EventBridgeAPI puts to eventbridge targets.
type EventBridgeAPI interface {
	PutEvents(ctx context.Context, in *eventbridge.PutEventsInput, optFns ...func(*eventbridge.Options)) (*eventbridge.PutEventsOutput, error)
}

// Targets are the clients the deliverer sends with; a nil one makes its
// target type dead-letter ("not configured").
type Targets struct {
	Webhook     Webhook
	Bus         Publisher
	Lambda      LambdaAPI
	SQS         SQSAPI
	Kinesis     KinesisAPI
	EventBridge EventBridgeAPI
}

// Attempt is what one delivery attempt came to.
type Attempt struct {
	Outcome    webhook.Outcome // Delivered, Retry, DeadLetter or Disable
	Status     int             // the HTTP status, 0 when none
	RetryAfter time.Duration
	Err        error
	HopLimited bool // a bus target's chain was stopped at the hop limit (Outcome Delivered: handled)
	// BudgetLimited is a bus target's derived event refused because its
	// root's budget of derived events is spent (Outcome Delivered: handled).
	BudgetLimited bool
}

var errNotConfigured = errors.New("no client for this target type")

// ErrHopLimit is a derived event stopped because its chain is deeper than
// the hop limit.
var ErrHopLimit = errors.New("derivation chain deeper than the hop limit")

// ErrBudgetSpent is a derived event refused because the events derived
// from its root (its correlationid) have used the budget.
var ErrBudgetSpent = errors.New("the root event's budget of derived events is spent")

func (d *Deliverer) attempt(ctx context.Context, sub *live, ev *event.Event, ce []byte) Attempt {
	t := sub.Target
	switch t.Type {
	case subscription.TargetHTTP:
		if d.targets.Webhook == nil {
			return Attempt{Outcome: webhook.DeadLetter, Err: errNotConfigured}
		}
		r := d.targets.Webhook.Deliver(ctx, webhook.Target{URL: t.URL, Mode: t.WebhookMode(), Secrets: sub.Secrets,
			Timeout: sub.Delivery.Timeout(), Handshake: t.Handshake}, ev)
		return Attempt{Outcome: r.Outcome, Status: r.Status, RetryAfter: r.RetryAfter, Err: r.Err}
	case subscription.TargetBus:
		return d.publish(ctx, sub, ev)
	case subscription.TargetLambda:
		if d.targets.Lambda == nil {
			return Attempt{Outcome: webhook.DeadLetter, Err: errNotConfigured}
		}
		out, err := d.targets.Lambda.Invoke(ctx, &lambda.InvokeInput{FunctionName: aws.String(t.Function),
			InvocationType: lambdatypes.InvocationTypeEvent, Payload: ce})
		if err == nil && out.FunctionError != nil {
			err = fmt.Errorf("function error %s", aws.ToString(out.FunctionError))
		}
		return awsAttempt(err)
	case subscription.TargetSQS:
		if d.targets.SQS == nil {
			return Attempt{Outcome: webhook.DeadLetter, Err: errNotConfigured}
		}
		in := &sqs.SendMessageInput{QueueUrl: aws.String(QueueURL(t.Queue)), MessageBody: aws.String(string(ce))}
		if t.FIFO() {
			in.MessageGroupId, in.MessageDeduplicationId = aws.String(ev.WorkflowID), aws.String(dedupToken(ev.ID))
		}
		_, err := d.targets.SQS.SendMessage(ctx, in)
		return awsAttempt(err)
	case subscription.TargetKinesis:
		if d.targets.Kinesis == nil {
			return Attempt{Outcome: webhook.DeadLetter, Err: errNotConfigured}
		}
		in := &kinesis.PutRecordsInput{Records: []kintypes.PutRecordsRequestEntry{{Data: ce, PartitionKey: aws.String(ev.WorkflowID)}}}
		if strings.HasPrefix(t.Stream, "arn:") {
			in.StreamARN = aws.String(t.Stream)
		} else {
			in.StreamName = aws.String(t.Stream)
		}
		out, err := d.targets.Kinesis.PutRecords(ctx, in)
		if err == nil && aws.ToInt32(out.FailedRecordCount) > 0 && len(out.Records) > 0 {
			r := out.Records[0]
			return entryAttempt(aws.ToString(r.ErrorCode), aws.ToString(r.ErrorMessage))
		}
		return awsAttempt(err)
	case subscription.TargetEventBridge:
		if d.targets.EventBridge == nil {
			return Attempt{Outcome: webhook.DeadLetter, Err: errNotConfigured}
		}
		detailType := t.DetailType
		if detailType == "" {
			detailType = ev.Type
		}
		out, err := d.targets.EventBridge.PutEvents(ctx, &eventbridge.PutEventsInput{Entries: []ebtypes.PutEventsRequestEntry{{
			EventBusName: aws.String(t.EventBus), Source: aws.String(ev.Source), DetailType: aws.String(detailType),
			Detail: aws.String(string(ce)), Time: aws.Time(ev.Time),
		}}})
		if err == nil && out.FailedEntryCount > 0 && len(out.Entries) > 0 {
			e := out.Entries[0]
			return entryAttempt(aws.ToString(e.ErrorCode), aws.ToString(e.ErrorMessage))
		}
		return awsAttempt(err)
	}
	return Attempt{Outcome: webhook.DeadLetter, Err: fmt.Errorf("unknown target type %q", t.Type)}
}

// publish derives a bus target's event and publishes it; a chain deeper
// than MaxHops is stopped, and so is a derived event for which its root's
// budget has no slot left (handled, counted, never published).
func (d *Deliverer) publish(ctx context.Context, sub *live, ev *event.Event) Attempt {
	if sub.transformer == nil {
		return Attempt{Outcome: webhook.DeadLetter, Err: errors.New("bus target without an input transformer")}
	}
	if subscription.Hops(ev)+1 > d.cfg.MaxHops {
		return Attempt{Outcome: webhook.Delivered, HopLimited: true, Err: ErrHopLimit}
	}
	derived, err := sub.transformer.Derive(sub.Name, ev)
	if err != nil {
		return Attempt{Outcome: webhook.DeadLetter, Err: err}
	}
	if d.targets.Bus == nil {
		return Attempt{Outcome: webhook.DeadLetter, Err: errNotConfigured}
	}
	if d.budget != nil {
		root := subscription.RootID(&derived)
		ok, err := d.budget.Reserve(ctx, root, derived.ID, d.now())
		if err != nil {
			return Attempt{Outcome: webhook.Retry, Err: err}
		}
		if !ok {
			return Attempt{Outcome: webhook.Delivered, BudgetLimited: true, Err: ErrBudgetSpent}
		}
	}
	res := d.targets.Bus.Publish(ctx, []*event.Event{&derived})
	if len(res) == 1 && res[0].Err != nil {
		return Attempt{Outcome: webhook.Retry, Err: fmt.Errorf("publish derived event %s: %w", derived.ID, res[0].Err)}
	}
	return Attempt{Outcome: webhook.Delivered}
}

// awsAttempt classifies an AWS call's error: throttling, server faults and
// network errors are retried; other client faults dead-letter.
func awsAttempt(err error) Attempt {
	if err == nil {
		return Attempt{Outcome: webhook.Delivered}
	}
	a := Attempt{Outcome: webhook.Retry, Err: err}
	var re *awshttp.ResponseError
	if errors.As(err, &re) {
		a.Status = re.HTTPStatusCode()
	}
	var ae smithy.APIError
	if !errors.As(err, &ae) {
		return a // network, timeout, cancelled: try again
	}
	if throttled(ae.ErrorCode()) || ae.ErrorFault() == smithy.FaultServer || a.Status >= 500 || a.Status == http.StatusTooManyRequests {
		return a
	}
	if ae.ErrorFault() == smithy.FaultClient || (a.Status >= 400 && a.Status < 500) {
		a.Outcome = webhook.DeadLetter
	}
	return a
}

// entryAttempt classifies a failed entry of a batch call.
func entryAttempt(code, msg string) Attempt {
	a := Attempt{Outcome: webhook.DeadLetter, Err: fmt.Errorf("%s: %s", code, msg)}
	if throttled(code) || strings.Contains(code, "Internal") || strings.Contains(code, "ServiceUnavailable") {
		a.Outcome = webhook.Retry
	}
	return a
}

func throttled(code string) bool {
	for _, c := range []string{"Throttl", "TooManyRequests", "LimitExceeded", "ProvisionedThroughputExceeded", "RequestLimitExceeded", "SlowDown"} {
		if strings.Contains(code, c) {
			return true
		}
	}
	return false
}

// QueueURL is the URL of an sqs target named by URL or ARN.
func QueueURL(q string) string {
	if !strings.HasPrefix(q, "arn:") {
		return q
	}
	p := strings.Split(q, ":") // arn:aws:sqs:region:account:name
	if len(p) != 6 {
		return q
	}
	return "https://sqs." + p[3] + ".amazonaws.com/" + p[4] + "/" + p[5]
}
