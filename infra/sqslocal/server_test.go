package sqslocal

import (
	"context"
	"errors"
	"fmt"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/aws/smithy-go"
	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

// engine is a Server on a loopback httptest server and an SDK client for it.
type engine struct {
	srv    *Server
	url    string
	client *sqs.Client
}

func newEngine(t *testing.T) *engine {
	t.Helper()
	srv := New(Options{Region: "us-east-1"})
	ts := httptest.NewServer(srv) // listens on 127.0.0.1
	t.Cleanup(func() {
		srv.Close()
		ts.Close()
	})
	client := sqs.New(sqs.Options{
		Region:       "us-east-1",
		BaseEndpoint: aws.String(ts.URL),
		Credentials:  credentials.NewStaticCredentialsProvider("test", "test", ""),
	})
	return &engine{srv: srv, url: ts.URL, client: client}
}

func testContext(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// createQueue creates a queue and returns its URL.
func (e *engine) createQueue(t *testing.T, name string, attrs map[string]string) string {
	t.Helper()
	out, err := e.client.CreateQueue(testContext(t), &sqs.CreateQueueInput{QueueName: aws.String(name), Attributes: attrs})
	if err != nil {
		t.Fatalf("CreateQueue %s: %v", name, err)
	}
	return aws.ToString(out.QueueUrl)
}

func (e *engine) send(t *testing.T, queueURL, body string) string {
	t.Helper()
	out, err := e.client.SendMessage(testContext(t), &sqs.SendMessageInput{QueueUrl: aws.String(queueURL), MessageBody: aws.String(body)})
	if err != nil {
		t.Fatalf("SendMessage: %v", err)
	}
	return aws.ToString(out.MessageId)
}

func (e *engine) receive(t *testing.T, in *sqs.ReceiveMessageInput) []types.Message {
	t.Helper()
	out, err := e.client.ReceiveMessage(testContext(t), in)
	if err != nil {
		t.Fatalf("ReceiveMessage: %v", err)
	}
	return out.Messages
}

func (e *engine) counts(t *testing.T, queue string) Counts {
	t.Helper()
	c, err := e.srv.Counts(queue)
	if err != nil {
		t.Fatalf("Counts %s: %v", queue, err)
	}
	return c
}

// wantAPIError checks that err is an API error with the given code.
func wantAPIError(t *testing.T, err error, code string) {
	t.Helper()
	var ae smithy.APIError
	if !errors.As(err, &ae) {
		t.Fatalf("error = %v, want an API error %s", err, code)
	}
	if ae.ErrorCode() != code {
		t.Fatalf("error code = %q (%v), want %q", ae.ErrorCode(), err, code)
	}
}

func TestQueueLifecycle(t *testing.T) {
	t.Parallel()
	e := newEngine(t)
	ctx := testContext(t)

	url := e.createQueue(t, "orders", map[string]string{"VisibilityTimeout": "45", "MessageRetentionPeriod": "1209600", "SqsManagedSseEnabled": "true"})
	if want := e.url + "/000000000000/orders"; url != want {
		t.Errorf("QueueUrl = %q, want %q", url, want)
	}
	// Same name and attributes: the same queue.
	if again := e.createQueue(t, "orders", map[string]string{"VisibilityTimeout": "45"}); again != url {
		t.Errorf("second CreateQueue = %q, want %q", again, url)
	}
	// Same name, another value: QueueNameExists.
	_, err := e.client.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String("orders"), Attributes: map[string]string{"VisibilityTimeout": "10"}})
	var exists *types.QueueNameExists
	if !errors.As(err, &exists) {
		t.Fatalf("CreateQueue with another VisibilityTimeout: error = %v, want QueueNameExists", err)
	}
	if got, want := exists.ErrorCode(), "QueueAlreadyExists"; got != want {
		t.Errorf("QueueNameExists code = %q, want %q", got, want)
	}

	e.createQueue(t, "orders-dlq", nil)
	e.createQueue(t, "audit", nil)

	got, err := e.client.GetQueueUrl(ctx, &sqs.GetQueueUrlInput{QueueName: aws.String("orders")})
	if err != nil {
		t.Fatal(err)
	}
	if aws.ToString(got.QueueUrl) != url {
		t.Errorf("GetQueueUrl = %q, want %q", aws.ToString(got.QueueUrl), url)
	}

	list, err := e.client.ListQueues(ctx, &sqs.ListQueuesInput{QueueNamePrefix: aws.String("orders")})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{url, e.url + "/000000000000/orders-dlq"}, list.QueueUrls); diff != "" {
		t.Errorf("ListQueues(prefix orders) (-want +got):\n%s", diff)
	}
	var pages []string
	p := sqs.NewListQueuesPaginator(e.client, &sqs.ListQueuesInput{MaxResults: aws.Int32(2)})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		pages = append(pages, fmt.Sprint(len(page.QueueUrls)))
	}
	if diff := cmp.Diff([]string{"2", "1"}, pages); diff != "" {
		t.Errorf("ListQueues pages of 2 (-want +got):\n%s", diff)
	}

	attrs, err := e.client.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{
		QueueUrl: aws.String(url), AttributeNames: []types.QueueAttributeName{types.QueueAttributeNameAll},
	})
	if err != nil {
		t.Fatal(err)
	}
	wantAttrs := map[string]string{
		"ApproximateNumberOfMessages":           "0",
		"ApproximateNumberOfMessagesDelayed":    "0",
		"ApproximateNumberOfMessagesNotVisible": "0",
		"DelaySeconds":                          "0",
		"MaximumMessageSize":                    "262144",
		"MessageRetentionPeriod":                "1209600",
		"QueueArn":                              "arn:aws:sqs:us-east-1:000000000000:orders",
		"ReceiveMessageWaitTimeSeconds":         "0",
		"SqsManagedSseEnabled":                  "true",
		"VisibilityTimeout":                     "45",
	}
	ignoreTimestamps := cmpopts.IgnoreMapEntries(func(k, _ string) bool { return strings.HasSuffix(k, "Timestamp") })
	if diff := cmp.Diff(wantAttrs, attrs.Attributes, ignoreTimestamps); diff != "" {
		t.Errorf("GetQueueAttributes(All) (-want +got):\n%s", diff)
	}
	if created := attrs.Attributes["CreatedTimestamp"]; created == "" || created == "0" {
		t.Errorf("CreatedTimestamp = %q, want seconds since the epoch", created)
	}

	_, err = e.client.SetQueueAttributes(ctx, &sqs.SetQueueAttributesInput{
		QueueUrl: aws.String(url), Attributes: map[string]string{"DelaySeconds": "5", "ReceiveMessageWaitTimeSeconds": "20"},
	})
	if err != nil {
		t.Fatal(err)
	}
	some, err := e.client.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{
		QueueUrl:       aws.String(url),
		AttributeNames: []types.QueueAttributeName{types.QueueAttributeNameDelaySeconds, types.QueueAttributeNameReceiveMessageWaitTimeSeconds},
	})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(map[string]string{"DelaySeconds": "5", "ReceiveMessageWaitTimeSeconds": "20"}, some.Attributes); diff != "" {
		t.Errorf("GetQueueAttributes after SetQueueAttributes (-want +got):\n%s", diff)
	}

	if _, err := e.client.DeleteQueue(ctx, &sqs.DeleteQueueInput{QueueUrl: aws.String(url)}); err != nil {
		t.Fatal(err)
	}
	_, err = e.client.GetQueueUrl(ctx, &sqs.GetQueueUrlInput{QueueName: aws.String("orders")})
	var missing *types.QueueDoesNotExist
	if !errors.As(err, &missing) {
		t.Fatalf("GetQueueUrl after DeleteQueue: error = %v, want QueueDoesNotExist", err)
	}
}

func TestCreateQueueRefuses(t *testing.T) {
	t.Parallel()
	e := newEngine(t)
	tests := []struct {
		name  string
		queue string
		attrs map[string]string
		check func(t *testing.T, err error)
	}{
		{"FIFO name without FifoQueue", "jobs.fifo", nil, func(t *testing.T, err error) { wantAPIError(t, err, "InvalidParameterValue") }},
		{"FifoQueue without the .fifo suffix", "jobs", map[string]string{"FifoQueue": "true"}, func(t *testing.T, err error) { wantAPIError(t, err, "InvalidParameterValue") }},
		{"FIFO attribute on a standard queue", "jobs", map[string]string{"ContentBasedDeduplication": "true"}, func(t *testing.T, err error) {
			var target *types.InvalidAttributeName
			if !errors.As(err, &target) {
				t.Errorf("error = %v, want InvalidAttributeName", err)
			}
		}},
		{"bad name", "has space", nil, func(t *testing.T, err error) { wantAPIError(t, err, "InvalidParameterValue") }},
		{"name too long", strings.Repeat("q", 81), nil, func(t *testing.T, err error) { wantAPIError(t, err, "InvalidParameterValue") }},
		{"unknown attribute", "jobs", map[string]string{"Colour": "blue"}, func(t *testing.T, err error) {
			var target *types.InvalidAttributeName
			if !errors.As(err, &target) {
				t.Errorf("error = %v, want InvalidAttributeName", err)
			}
		}},
		{"read-only attribute", "jobs", map[string]string{"QueueArn": "arn"}, func(t *testing.T, err error) {
			var target *types.InvalidAttributeName
			if !errors.As(err, &target) {
				t.Errorf("error = %v, want InvalidAttributeName", err)
			}
		}},
		{"visibility out of range", "jobs", map[string]string{"VisibilityTimeout": "43201"}, func(t *testing.T, err error) {
			var target *types.InvalidAttributeValue
			if !errors.As(err, &target) {
				t.Errorf("error = %v, want InvalidAttributeValue", err)
			}
		}},
		{"wait time not a number", "jobs", map[string]string{"ReceiveMessageWaitTimeSeconds": "soon"}, func(t *testing.T, err error) {
			var target *types.InvalidAttributeValue
			if !errors.As(err, &target) {
				t.Errorf("error = %v, want InvalidAttributeValue", err)
			}
		}},
		{"redrive to a missing queue", "jobs", map[string]string{"RedrivePolicy": `{"deadLetterTargetArn":"arn:aws:sqs:us-east-1:000000000000:nope","maxReceiveCount":3}`},
			func(t *testing.T, err error) { wantAPIError(t, err, "InvalidParameterValue") }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := e.client.CreateQueue(testContext(t), &sqs.CreateQueueInput{QueueName: aws.String(tt.queue), Attributes: tt.attrs})
			if err == nil {
				t.Fatal("CreateQueue succeeded, want an error")
			}
			tt.check(t, err)
		})
	}
	if _, err := e.srv.Counts("jobs"); !errors.Is(err, ErrQueueNotFound) {
		t.Errorf("Counts(jobs) error = %v, want ErrQueueNotFound: no refused queue may exist", err)
	}
}

func TestSendReceiveAttributes(t *testing.T) {
	t.Parallel()
	e := newEngine(t)
	ctx := testContext(t)
	url := e.createQueue(t, "attrs", nil)

	body := `{"event":"order.created","note":"<&> ünïcödé 😀"}`
	attrs := map[string]types.MessageAttributeValue{
		"workflow":       {DataType: aws.String("String"), StringValue: aws.String("wf-1")},
		"attempt":        {DataType: aws.String("Number"), StringValue: aws.String("3")},
		"payload":        {DataType: aws.String("Binary"), BinaryValue: []byte{0, 1, 2, 0xff}},
		"price":          {DataType: aws.String("Number.float"), StringValue: aws.String("12.50")},
		"trace.id":       {DataType: aws.String("String"), StringValue: aws.String("abc")},
		"trace.parentId": {DataType: aws.String("String"), StringValue: aws.String("def")},
	}
	before := time.Now()
	sent, err := e.client.SendMessage(ctx, &sqs.SendMessageInput{
		QueueUrl:          aws.String(url),
		MessageBody:       aws.String(body),
		MessageAttributes: attrs,
		MessageSystemAttributes: map[string]types.MessageSystemAttributeValue{
			"AWSTraceHeader": {DataType: aws.String("String"), StringValue: aws.String("Root=1-5759e988-bd862e3fe1be46a994272793")},
		},
	})
	if err != nil {
		t.Fatalf("SendMessage: %v", err) // includes the SDK's MD5OfMessageBody check
	}
	if aws.ToString(sent.MD5OfMessageAttributes) == "" || aws.ToString(sent.MD5OfMessageSystemAttributes) == "" {
		t.Errorf("SendMessage MD5OfMessageAttributes = %q, MD5OfMessageSystemAttributes = %q, want both", aws.ToString(sent.MD5OfMessageAttributes), aws.ToString(sent.MD5OfMessageSystemAttributes))
	}

	msgs := e.receive(t, &sqs.ReceiveMessageInput{
		QueueUrl:                    aws.String(url),
		MessageAttributeNames:       []string{"All"},
		MessageSystemAttributeNames: []types.MessageSystemAttributeName{types.MessageSystemAttributeNameAll},
	})
	if len(msgs) != 1 {
		t.Fatalf("received %d messages, want 1", len(msgs))
	}
	m := msgs[0]
	if aws.ToString(m.MessageId) != aws.ToString(sent.MessageId) || aws.ToString(m.Body) != body {
		t.Errorf("received id %q body %q, want %q %q", aws.ToString(m.MessageId), aws.ToString(m.Body), aws.ToString(sent.MessageId), body)
	}
	if diff := cmp.Diff(attrs, m.MessageAttributes, cmpopts.IgnoreUnexported(types.MessageAttributeValue{})); diff != "" {
		t.Errorf("MessageAttributes (-want +got):\n%s", diff)
	}
	if got, want := aws.ToString(m.MD5OfMessageAttributes), aws.ToString(sent.MD5OfMessageAttributes); got != want {
		t.Errorf("received MD5OfMessageAttributes = %q, want the sent one %q", got, want)
	}
	sentAt := m.Attributes["SentTimestamp"]
	if sentAt < fmt.Sprint(before.UnixMilli()) || len(sentAt) != len(fmt.Sprint(before.UnixMilli())) {
		t.Errorf("SentTimestamp = %q, want milliseconds since the epoch, not before %d", sentAt, before.UnixMilli())
	}
	gotSystem := map[string]string{}
	for k, v := range m.Attributes {
		if !strings.HasSuffix(k, "Timestamp") {
			gotSystem[k] = v
		}
	}
	wantSystem := map[string]string{
		"ApproximateReceiveCount": "1",
		"SenderId":                "000000000000",
		"AWSTraceHeader":          "Root=1-5759e988-bd862e3fe1be46a994272793",
	}
	if diff := cmp.Diff(wantSystem, gotSystem); diff != "" {
		t.Errorf("system attributes (-want +got):\n%s", diff)
	}
	if m.Attributes["ApproximateFirstReceiveTimestamp"] == "" {
		t.Error("ApproximateFirstReceiveTimestamp missing")
	}

	// A subset of the attributes, by name and by prefix; the checksum covers
	// what is returned.
	if _, err := e.client.ChangeMessageVisibility(ctx, &sqs.ChangeMessageVisibilityInput{QueueUrl: aws.String(url), ReceiptHandle: m.ReceiptHandle, VisibilityTimeout: 0}); err != nil {
		t.Fatal(err)
	}
	msgs = e.receive(t, &sqs.ReceiveMessageInput{QueueUrl: aws.String(url), MessageAttributeNames: []string{"workflow", "trace.*"}})
	if len(msgs) != 1 {
		t.Fatalf("received %d messages, want 1", len(msgs))
	}
	var names []string
	for k := range msgs[0].MessageAttributes {
		names = append(names, k)
	}
	if diff := cmp.Diff([]string{"trace.id", "trace.parentId", "workflow"}, names, cmpopts.SortSlices(func(a, b string) bool { return a < b })); diff != "" {
		t.Errorf("attributes for [workflow trace.*] (-want +got):\n%s", diff)
	}
	subset := map[string]attributeValue{
		"workflow":       {DataType: "String", StringValue: "wf-1"},
		"trace.id":       {DataType: "String", StringValue: "abc"},
		"trace.parentId": {DataType: "String", StringValue: "def"},
	}
	if got, want := aws.ToString(msgs[0].MD5OfMessageAttributes), md5OfAttributes(subset); got != want {
		t.Errorf("MD5OfMessageAttributes of the subset = %q, want %q", got, want)
	}
	if len(msgs[0].Attributes) != 0 {
		t.Errorf("system attributes = %v, want none (none requested)", msgs[0].Attributes)
	}
}

func TestSendMessageValidation(t *testing.T) {
	t.Parallel()
	e := newEngine(t)
	url := e.createQueue(t, "validation", nil)
	str := func(v string) types.MessageAttributeValue {
		return types.MessageAttributeValue{DataType: aws.String("String"), StringValue: aws.String(v)}
	}
	tooMany := map[string]types.MessageAttributeValue{}
	for i := range 11 {
		tooMany[fmt.Sprintf("a%d", i)] = str("x")
	}
	tests := []struct {
		name     string
		body     string
		attrs    map[string]types.MessageAttributeValue
		delay    int32
		wantCode string // "" for success
	}{
		{name: "largest body", body: strings.Repeat("x", 262144)},
		{name: "body one byte too long", body: strings.Repeat("x", 262145), wantCode: "InvalidParameterValue"},
		{name: "body and attributes too long", body: strings.Repeat("x", 262140), attrs: map[string]types.MessageAttributeValue{"k": str("v")}, wantCode: "InvalidParameterValue"},
		{name: "multi-byte characters count as bytes", body: strings.Repeat("é", 131073), wantCode: "InvalidParameterValue"},
		{name: "NUL in body", body: "a\x00b", wantCode: "InvalidMessageContents"},
		{name: "control character in body", body: "a\x1bb", wantCode: "InvalidMessageContents"},
		{name: "U+FFFF in body", body: "a\uffffb", wantCode: "InvalidMessageContents"},
		{name: "empty body", body: "", wantCode: "MissingParameter"},
		{name: "delay too long", body: "x", delay: 901, wantCode: "InvalidParameterValue"},
		{name: "eleven attributes", body: "x", attrs: tooMany, wantCode: "InvalidParameterValue"},
		{name: "reserved attribute prefix", body: "x", attrs: map[string]types.MessageAttributeValue{"AWS.thing": str("v")}, wantCode: "InvalidParameterValue"},
		{name: "attribute name with a space", body: "x", attrs: map[string]types.MessageAttributeValue{"a b": str("v")}, wantCode: "InvalidParameterValue"},
		{name: "unknown data type", body: "x", attrs: map[string]types.MessageAttributeValue{"k": {DataType: aws.String("Date"), StringValue: aws.String("v")}}, wantCode: "InvalidParameterValue"},
		{name: "number that is not one", body: "x", attrs: map[string]types.MessageAttributeValue{"k": {DataType: aws.String("Number"), StringValue: aws.String("twelve")}}, wantCode: "InvalidParameterValue"},
		{name: "binary type with a string value", body: "x", attrs: map[string]types.MessageAttributeValue{"k": {DataType: aws.String("Binary"), StringValue: aws.String("v")}}, wantCode: "InvalidParameterValue"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := e.client.SendMessage(testContext(t), &sqs.SendMessageInput{
				QueueUrl: aws.String(url), MessageBody: aws.String(tt.body), MessageAttributes: tt.attrs, DelaySeconds: tt.delay,
			})
			if tt.wantCode == "" {
				if err != nil {
					t.Fatalf("SendMessage: %v", err)
				}
				return
			}
			wantAPIError(t, err, tt.wantCode)
		})
	}
}

func TestVisibilityTimeoutAndRedelivery(t *testing.T) {
	t.Parallel()
	e := newEngine(t)
	ctx := testContext(t)
	url := e.createQueue(t, "visibility", map[string]string{"VisibilityTimeout": "1"})
	id := e.send(t, url, "work")

	all := []types.MessageSystemAttributeName{types.MessageSystemAttributeNameApproximateReceiveCount}
	first := e.receive(t, &sqs.ReceiveMessageInput{QueueUrl: aws.String(url), MessageSystemAttributeNames: all})
	if len(first) != 1 || aws.ToString(first[0].MessageId) != id {
		t.Fatalf("first receive = %v, want message %s", first, id)
	}
	if diff := cmp.Diff(Counts{InFlight: 1}, e.counts(t, "visibility")); diff != "" {
		t.Errorf("counts while in flight (-want +got):\n%s", diff)
	}
	if got := e.receive(t, &sqs.ReceiveMessageInput{QueueUrl: aws.String(url)}); len(got) != 0 {
		t.Fatalf("receive while in flight = %d messages, want 0", len(got))
	}

	// A long poll returns when the visibility timeout ends.
	start := time.Now()
	second := e.receive(t, &sqs.ReceiveMessageInput{QueueUrl: aws.String(url), WaitTimeSeconds: 5, MessageSystemAttributeNames: all})
	if len(second) != 1 {
		t.Fatalf("receive after the visibility timeout = %d messages, want 1", len(second))
	}
	if waited := time.Since(start); waited > 4*time.Second {
		t.Errorf("redelivery took %v, want about the 1 s visibility timeout, well before the 5 s wait", waited)
	}
	if got := second[0].Attributes["ApproximateReceiveCount"]; got != "2" {
		t.Errorf("ApproximateReceiveCount = %q, want 2", got)
	}
	if aws.ToString(second[0].ReceiptHandle) == aws.ToString(first[0].ReceiptHandle) {
		t.Error("the second receive returned the same receipt handle")
	}

	// The first receipt handle is no longer valid.
	_, err := e.client.DeleteMessage(ctx, &sqs.DeleteMessageInput{QueueUrl: aws.String(url), ReceiptHandle: first[0].ReceiptHandle})
	var invalid *types.ReceiptHandleIsInvalid
	if !errors.As(err, &invalid) {
		t.Fatalf("DeleteMessage with the old handle: error = %v, want ReceiptHandleIsInvalid", err)
	}
	if _, err := e.client.DeleteMessage(ctx, &sqs.DeleteMessageInput{QueueUrl: aws.String(url), ReceiptHandle: second[0].ReceiptHandle}); err != nil {
		t.Fatalf("DeleteMessage with the latest handle: %v", err)
	}
	// Deleting again succeeds, as on SQS.
	if _, err := e.client.DeleteMessage(ctx, &sqs.DeleteMessageInput{QueueUrl: aws.String(url), ReceiptHandle: second[0].ReceiptHandle}); err != nil {
		t.Fatalf("DeleteMessage of a deleted message: %v", err)
	}
	if diff := cmp.Diff(Counts{}, e.counts(t, "visibility")); diff != "" {
		t.Errorf("counts after delete (-want +got):\n%s", diff)
	}
	_, err = e.client.DeleteMessage(ctx, &sqs.DeleteMessageInput{QueueUrl: aws.String(url), ReceiptHandle: aws.String("not-a-handle")})
	if !errors.As(err, &invalid) {
		t.Fatalf("DeleteMessage with a made-up handle: error = %v, want ReceiptHandleIsInvalid", err)
	}
}

func TestChangeMessageVisibility(t *testing.T) {
	t.Parallel()
	e := newEngine(t)
	ctx := testContext(t)
	url := e.createQueue(t, "change", nil)
	e.send(t, url, "one")

	first := e.receive(t, &sqs.ReceiveMessageInput{QueueUrl: aws.String(url)})
	if len(first) != 1 {
		t.Fatalf("received %d, want 1", len(first))
	}
	handle := first[0].ReceiptHandle
	if _, err := e.client.ChangeMessageVisibility(ctx, &sqs.ChangeMessageVisibilityInput{QueueUrl: aws.String(url), ReceiptHandle: handle, VisibilityTimeout: 0}); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(Counts{Visible: 1}, e.counts(t, "change")); diff != "" {
		t.Errorf("counts after visibility 0 (-want +got):\n%s", diff)
	}
	// Not in flight any more.
	_, err := e.client.ChangeMessageVisibility(ctx, &sqs.ChangeMessageVisibilityInput{QueueUrl: aws.String(url), ReceiptHandle: handle, VisibilityTimeout: 10})
	var notInflight *types.MessageNotInflight
	if !errors.As(err, &notInflight) {
		t.Fatalf("ChangeMessageVisibility of a visible message: error = %v, want MessageNotInflight", err)
	}
	second := e.receive(t, &sqs.ReceiveMessageInput{QueueUrl: aws.String(url)})
	if len(second) != 1 {
		t.Fatalf("received %d, want 1", len(second))
	}
	_, err = e.client.ChangeMessageVisibility(ctx, &sqs.ChangeMessageVisibilityInput{QueueUrl: aws.String(url), ReceiptHandle: handle, VisibilityTimeout: 10})
	var invalid *types.ReceiptHandleIsInvalid
	if !errors.As(err, &invalid) {
		t.Fatalf("ChangeMessageVisibility with a superseded handle: error = %v, want ReceiptHandleIsInvalid", err)
	}
	_, err = e.client.ChangeMessageVisibility(ctx, &sqs.ChangeMessageVisibilityInput{QueueUrl: aws.String(url), ReceiptHandle: second[0].ReceiptHandle, VisibilityTimeout: 43201})
	wantAPIError(t, err, "InvalidParameterValue")

	batch, err := e.client.ChangeMessageVisibilityBatch(ctx, &sqs.ChangeMessageVisibilityBatchInput{
		QueueUrl: aws.String(url),
		Entries: []types.ChangeMessageVisibilityBatchRequestEntry{
			{Id: aws.String("current"), ReceiptHandle: second[0].ReceiptHandle, VisibilityTimeout: 60},
			{Id: aws.String("old"), ReceiptHandle: handle, VisibilityTimeout: 60},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"current ok", "old ReceiptHandleIsInvalid sender"}, summary(batch.Successful, batch.Failed)); diff != "" {
		t.Errorf("ChangeMessageVisibilityBatch (-want +got):\n%s", diff)
	}
	if _, err := e.client.DeleteMessage(ctx, &sqs.DeleteMessageInput{QueueUrl: aws.String(url), ReceiptHandle: second[0].ReceiptHandle}); err != nil {
		t.Fatal(err)
	}
	_, err = e.client.ChangeMessageVisibility(ctx, &sqs.ChangeMessageVisibilityInput{QueueUrl: aws.String(url), ReceiptHandle: second[0].ReceiptHandle, VisibilityTimeout: 10})
	wantAPIError(t, err, "InvalidParameterValue")
}

// summary lists a batch's outcome as "<id> ok" and "<id> <code> sender|service",
// sorted by id.
func summary[S any](ok []S, failed []types.BatchResultErrorEntry) []string {
	var out []string
	for _, s := range ok {
		var id *string
		switch v := any(s).(type) {
		case types.SendMessageBatchResultEntry:
			id = v.Id
		case types.DeleteMessageBatchResultEntry:
			id = v.Id
		case types.ChangeMessageVisibilityBatchResultEntry:
			id = v.Id
		}
		out = append(out, aws.ToString(id)+" ok")
	}
	for _, f := range failed {
		fault := "service"
		if f.SenderFault {
			fault = "sender"
		}
		out = append(out, aws.ToString(f.Id)+" "+aws.ToString(f.Code)+" "+fault)
	}
	slices.Sort(out)
	return out
}

func TestLongPolling(t *testing.T) {
	t.Parallel()
	e := newEngine(t)
	url := e.createQueue(t, "long-poll", nil)

	t.Run("returns as soon as a message is sent", func(t *testing.T) {
		type result struct {
			msgs []types.Message
			took time.Duration
			err  error
		}
		done := make(chan result, 1)
		start := time.Now()
		go func() {
			out, err := e.client.ReceiveMessage(testContext(t), &sqs.ReceiveMessageInput{QueueUrl: aws.String(url), WaitTimeSeconds: 20})
			r := result{took: time.Since(start), err: err}
			if out != nil {
				r.msgs = out.Messages
			}
			done <- r
		}()
		time.Sleep(300 * time.Millisecond)
		id := e.send(t, url, "wake up")
		r := <-done
		if r.err != nil {
			t.Fatal(r.err)
		}
		if len(r.msgs) != 1 || aws.ToString(r.msgs[0].MessageId) != id {
			t.Fatalf("long poll returned %v, want message %s", r.msgs, id)
		}
		if r.took < 300*time.Millisecond || r.took > 5*time.Second {
			t.Errorf("long poll took %v, want it to end right after the send at 300ms", r.took)
		}
		if _, err := e.client.DeleteMessage(testContext(t), &sqs.DeleteMessageInput{QueueUrl: aws.String(url), ReceiptHandle: r.msgs[0].ReceiptHandle}); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("empty after the wait", func(t *testing.T) {
		start := time.Now()
		msgs := e.receive(t, &sqs.ReceiveMessageInput{QueueUrl: aws.String(url), WaitTimeSeconds: 1})
		took := time.Since(start)
		if len(msgs) != 0 {
			t.Fatalf("received %d, want 0", len(msgs))
		}
		if took < time.Second || took > 5*time.Second {
			t.Errorf("empty long poll took %v, want about 1 s", took)
		}
	})

	t.Run("delayed message ends the wait when its delay does", func(t *testing.T) {
		_, err := e.client.SendMessage(testContext(t), &sqs.SendMessageInput{QueueUrl: aws.String(url), MessageBody: aws.String("later"), DelaySeconds: 1})
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(Counts{Delayed: 1}, e.counts(t, "long-poll")); diff != "" {
			t.Errorf("counts with a delayed message (-want +got):\n%s", diff)
		}
		start := time.Now()
		msgs := e.receive(t, &sqs.ReceiveMessageInput{QueueUrl: aws.String(url), WaitTimeSeconds: 10})
		if took := time.Since(start); len(msgs) != 1 || took > 5*time.Second {
			t.Errorf("received %d after %v, want the delayed message after about 1 s", len(msgs), took)
		}
	})

	t.Run("Close ends long polls", func(t *testing.T) {
		e := newEngine(t)
		url := e.createQueue(t, "closing", nil)
		done := make(chan time.Duration, 1)
		start := time.Now()
		go func() {
			_, _ = e.client.ReceiveMessage(testContext(t), &sqs.ReceiveMessageInput{QueueUrl: aws.String(url), WaitTimeSeconds: 20})
			done <- time.Since(start)
		}()
		time.Sleep(200 * time.Millisecond)
		e.srv.Close()
		if took := <-done; took > 5*time.Second {
			t.Errorf("long poll ended %v after start, want right after Close", took)
		}
	})
}

func TestSendMessageBatch(t *testing.T) {
	t.Parallel()
	e := newEngine(t)
	ctx := testContext(t)
	url := e.createQueue(t, "batch", nil)

	entry := func(id, body string) types.SendMessageBatchRequestEntry {
		return types.SendMessageBatchRequestEntry{Id: aws.String(id), MessageBody: aws.String(body)}
	}
	delayed := entry("delay-too-long", "x")
	delayed.DelaySeconds = 901
	out, err := e.client.SendMessageBatch(ctx, &sqs.SendMessageBatchInput{
		QueueUrl: aws.String(url),
		Entries:  []types.SendMessageBatchRequestEntry{entry("a", "first"), entry("bad-chars", "nul\x00"), delayed, entry("b", "second")},
	})
	if err != nil {
		t.Fatalf("SendMessageBatch: %v", err) // includes the SDK's per-entry MD5 checks
	}
	want := []string{"a ok", "b ok", "bad-chars InvalidMessageContents sender", "delay-too-long InvalidParameterValue sender"}
	if diff := cmp.Diff(want, summary(out.Successful, out.Failed)); diff != "" {
		t.Errorf("SendMessageBatch outcome (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(Counts{Visible: 2}, e.counts(t, "batch")); diff != "" {
		t.Errorf("counts (-want +got):\n%s", diff)
	}

	eleven := make([]types.SendMessageBatchRequestEntry, 11)
	for i := range eleven {
		eleven[i] = entry(fmt.Sprint("e", i), "x")
	}
	tests := []struct {
		name    string
		entries []types.SendMessageBatchRequestEntry
		check   func(error) bool
	}{
		{"eleven entries", eleven, func(err error) bool { var e *types.TooManyEntriesInBatchRequest; return errors.As(err, &e) }},
		{"no entries", []types.SendMessageBatchRequestEntry{}, func(err error) bool { var e *types.EmptyBatchRequest; return errors.As(err, &e) }},
		{"same id twice", []types.SendMessageBatchRequestEntry{entry("x", "1"), entry("x", "2")}, func(err error) bool { var e *types.BatchEntryIdsNotDistinct; return errors.As(err, &e) }},
		{"id with a space", []types.SendMessageBatchRequestEntry{entry("a b", "1")}, func(err error) bool { var e *types.InvalidBatchEntryId; return errors.As(err, &e) }},
		{"more than 256 KiB in all", []types.SendMessageBatchRequestEntry{entry("x", strings.Repeat("x", 200000)), entry("y", strings.Repeat("y", 200000))},
			func(err error) bool { var e *types.BatchRequestTooLong; return errors.As(err, &e) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := e.client.SendMessageBatch(testContext(t), &sqs.SendMessageBatchInput{QueueUrl: aws.String(url), Entries: tt.entries})
			if !tt.check(err) {
				t.Errorf("error = %v, want the batch error of the SQS model", err)
			}
		})
	}
	if diff := cmp.Diff(Counts{Visible: 2}, e.counts(t, "batch")); diff != "" {
		t.Errorf("counts after refused batches (-want +got):\n%s", diff)
	}
}

func TestDeleteMessageBatch(t *testing.T) {
	t.Parallel()
	e := newEngine(t)
	ctx := testContext(t)
	url := e.createQueue(t, "delete-batch", nil)
	for i := range 3 {
		e.send(t, url, fmt.Sprint("m", i))
	}
	msgs := e.receive(t, &sqs.ReceiveMessageInput{QueueUrl: aws.String(url), MaxNumberOfMessages: 10})
	if len(msgs) != 3 {
		t.Fatalf("received %d, want 3", len(msgs))
	}
	out, err := e.client.DeleteMessageBatch(ctx, &sqs.DeleteMessageBatchInput{
		QueueUrl: aws.String(url),
		Entries: []types.DeleteMessageBatchRequestEntry{
			{Id: aws.String("m0"), ReceiptHandle: msgs[0].ReceiptHandle},
			{Id: aws.String("m1"), ReceiptHandle: msgs[1].ReceiptHandle},
			{Id: aws.String("made-up"), ReceiptHandle: aws.String("garbage")},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"m0 ok", "m1 ok", "made-up ReceiptHandleIsInvalid sender"}, summary(out.Successful, out.Failed)); diff != "" {
		t.Errorf("DeleteMessageBatch outcome (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(Counts{InFlight: 1}, e.counts(t, "delete-batch")); diff != "" {
		t.Errorf("counts (-want +got):\n%s", diff)
	}
}

func TestPurgeQueue(t *testing.T) {
	t.Parallel()
	e := newEngine(t)
	ctx := testContext(t)
	url := e.createQueue(t, "purge", nil)
	for i := range 3 {
		e.send(t, url, fmt.Sprint("m", i))
	}
	e.receive(t, &sqs.ReceiveMessageInput{QueueUrl: aws.String(url)})
	if diff := cmp.Diff(Counts{Visible: 2, InFlight: 1}, e.counts(t, "purge")); diff != "" {
		t.Errorf("counts before purge (-want +got):\n%s", diff)
	}
	if _, err := e.client.PurgeQueue(ctx, &sqs.PurgeQueueInput{QueueUrl: aws.String(url)}); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(Counts{}, e.counts(t, "purge")); diff != "" {
		t.Errorf("counts after purge (-want +got):\n%s", diff)
	}
	_, err := e.client.PurgeQueue(ctx, &sqs.PurgeQueueInput{QueueUrl: aws.String(url)})
	var inProgress *types.PurgeQueueInProgress
	if !errors.As(err, &inProgress) {
		t.Fatalf("second PurgeQueue within 60 s: error = %v, want PurgeQueueInProgress", err)
	}
}

func TestRedriveToDeadLetterQueue(t *testing.T) {
	t.Parallel()
	e := newEngine(t)
	ctx := testContext(t)
	e.createQueue(t, "work-dlq", nil)
	url := e.createQueue(t, "work", map[string]string{
		"RedrivePolicy": `{"deadLetterTargetArn":"arn:aws:sqs:us-east-1:000000000000:work-dlq","maxReceiveCount":"2"}`,
	})
	id := e.send(t, url, "poison")
	for i := range 2 {
		msgs := e.receive(t, &sqs.ReceiveMessageInput{QueueUrl: aws.String(url)})
		if len(msgs) != 1 {
			t.Fatalf("receive %d: got %d messages, want 1", i+1, len(msgs))
		}
		if _, err := e.client.ChangeMessageVisibility(ctx, &sqs.ChangeMessageVisibilityInput{QueueUrl: aws.String(url), ReceiptHandle: msgs[0].ReceiptHandle}); err != nil {
			t.Fatal(err)
		}
	}
	// Third receive: beyond maxReceiveCount, the message moves instead.
	if msgs := e.receive(t, &sqs.ReceiveMessageInput{QueueUrl: aws.String(url)}); len(msgs) != 0 {
		t.Fatalf("receive beyond maxReceiveCount returned %d messages, want 0", len(msgs))
	}
	dlqURL, err := e.client.GetQueueUrl(ctx, &sqs.GetQueueUrlInput{QueueName: aws.String("work-dlq")})
	if err != nil {
		t.Fatal(err)
	}
	dead := e.receive(t, &sqs.ReceiveMessageInput{QueueUrl: dlqURL.QueueUrl})
	if len(dead) != 1 || aws.ToString(dead[0].MessageId) != id || aws.ToString(dead[0].Body) != "poison" {
		t.Fatalf("dead-letter queue holds %v, want message %s", dead, id)
	}
	attrs, err := e.client.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{QueueUrl: aws.String(url), AttributeNames: []types.QueueAttributeName{types.QueueAttributeNameRedrivePolicy}})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"RedrivePolicy": `{"deadLetterTargetArn":"arn:aws:sqs:us-east-1:000000000000:work-dlq","maxReceiveCount":2}`}
	if diff := cmp.Diff(want, attrs.Attributes); diff != "" {
		t.Errorf("RedrivePolicy (-want +got):\n%s", diff)
	}
}

func TestMissingQueue(t *testing.T) {
	t.Parallel()
	e := newEngine(t)
	missing := aws.String(e.url + "/000000000000/missing")
	otherAccount := e.createQueue(t, "present", nil)
	otherAccount = strings.Replace(otherAccount, "000000000000", "111111111111", 1)
	calls := []struct {
		name string
		call func(ctx context.Context) error
	}{
		{"GetQueueUrl", func(ctx context.Context) error {
			_, err := e.client.GetQueueUrl(ctx, &sqs.GetQueueUrlInput{QueueName: aws.String("missing")})
			return err
		}},
		{"GetQueueUrl of another account", func(ctx context.Context) error {
			_, err := e.client.GetQueueUrl(ctx, &sqs.GetQueueUrlInput{QueueName: aws.String("present"), QueueOwnerAWSAccountId: aws.String("111111111111")})
			return err
		}},
		{"SendMessage", func(ctx context.Context) error {
			_, err := e.client.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: missing, MessageBody: aws.String("x")})
			return err
		}},
		{"SendMessage to another account's URL", func(ctx context.Context) error {
			_, err := e.client.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: aws.String(otherAccount), MessageBody: aws.String("x")})
			return err
		}},
		{"ReceiveMessage", func(ctx context.Context) error {
			_, err := e.client.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: missing})
			return err
		}},
		{"DeleteQueue", func(ctx context.Context) error {
			_, err := e.client.DeleteQueue(ctx, &sqs.DeleteQueueInput{QueueUrl: missing})
			return err
		}},
		{"GetQueueAttributes", func(ctx context.Context) error {
			_, err := e.client.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{QueueUrl: missing})
			return err
		}},
		{"PurgeQueue", func(ctx context.Context) error {
			_, err := e.client.PurgeQueue(ctx, &sqs.PurgeQueueInput{QueueUrl: missing})
			return err
		}},
		{"DeleteMessageBatch", func(ctx context.Context) error {
			_, err := e.client.DeleteMessageBatch(ctx, &sqs.DeleteMessageBatchInput{QueueUrl: missing, Entries: []types.DeleteMessageBatchRequestEntry{{Id: aws.String("a"), ReceiptHandle: aws.String("h")}}})
			return err
		}},
	}
	for _, tt := range calls {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.call(testContext(t))
			var target *types.QueueDoesNotExist
			if !errors.As(err, &target) {
				t.Fatalf("error = %v, want *types.QueueDoesNotExist", err)
			}
			if got, want := target.ErrorCode(), "AWS.SimpleQueueService.NonExistentQueue"; got != want {
				t.Errorf("ErrorCode = %q, want %q", got, want)
			}
			if target.ErrorMessage() == "" {
				t.Error("empty error message")
			}
		})
	}
}

func TestReceiveParameters(t *testing.T) {
	t.Parallel()
	e := newEngine(t)
	url := e.createQueue(t, "params", nil)
	tests := []struct {
		name string
		in   sqs.ReceiveMessageInput
	}{
		{"MaxNumberOfMessages 11", sqs.ReceiveMessageInput{MaxNumberOfMessages: 11}},
		{"MaxNumberOfMessages -1", sqs.ReceiveMessageInput{MaxNumberOfMessages: -1}},
		{"WaitTimeSeconds 21", sqs.ReceiveMessageInput{WaitTimeSeconds: 21}},
		{"VisibilityTimeout 43201", sqs.ReceiveMessageInput{VisibilityTimeout: 43201}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := tt.in
			in.QueueUrl = aws.String(url)
			_, err := e.client.ReceiveMessage(testContext(t), &in)
			wantAPIError(t, err, "InvalidParameterValue")
		})
	}
}

// Many senders and receivers at once: every message is received exactly
// once (the visibility timeout is longer than the test) and deleted.
func TestConcurrentSendReceive(t *testing.T) {
	t.Parallel()
	e := newEngine(t)
	url := e.createQueue(t, "busy", nil)
	const senders, perSender, receivers = 8, 40, 4
	total := senders * perSender

	var (
		mu      sync.Mutex
		seen    = make(map[string]int)
		deleted int
		wg      sync.WaitGroup
	)
	ctx, cancel := context.WithCancel(testContext(t))
	defer cancel()
	errs := make(chan error, senders+receivers)
	for s := range senders {
		wg.Go(func() {
			for i := range perSender {
				if _, err := e.client.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: aws.String(url), MessageBody: aws.String(fmt.Sprintf("s%d-%d", s, i))}); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	var rwg sync.WaitGroup
	for range receivers {
		rwg.Go(func() {
			for ctx.Err() == nil {
				out, err := e.client.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: aws.String(url), MaxNumberOfMessages: 10, WaitTimeSeconds: 1})
				if err != nil {
					if ctx.Err() == nil {
						errs <- err
					}
					return
				}
				for _, m := range out.Messages {
					mu.Lock()
					seen[aws.ToString(m.Body)]++
					mu.Unlock()
					if _, err := e.client.DeleteMessage(ctx, &sqs.DeleteMessageInput{QueueUrl: aws.String(url), ReceiptHandle: m.ReceiptHandle}); err != nil && ctx.Err() == nil {
						errs <- err
						return
					}
					// Stop only once every message is deleted: stopping at the
					// last one received could cut another receiver's delete short.
					mu.Lock()
					deleted++
					done := deleted == total
					mu.Unlock()
					if done {
						cancel()
					}
				}
			}
		})
	}
	wg.Wait()
	rwg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if len(seen) != total {
		t.Fatalf("received %d distinct messages, want %d", len(seen), total)
	}
	for body, n := range seen {
		if n != 1 {
			t.Errorf("message %s received %d times, want once", body, n)
		}
	}
	if diff := cmp.Diff(Counts{}, e.counts(t, "busy")); diff != "" {
		t.Errorf("counts at the end (-want +got):\n%s", diff)
	}
}
