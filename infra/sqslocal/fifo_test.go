package sqslocal

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

func (e *engine) sendFifo(t *testing.T, queueURL, group, dedup, body string) *sqs.SendMessageOutput {
	t.Helper()
	in := &sqs.SendMessageInput{QueueUrl: aws.String(queueURL), MessageBody: aws.String(body), MessageGroupId: aws.String(group)}
	if dedup != "" {
		in.MessageDeduplicationId = aws.String(dedup)
	}
	out, err := e.client.SendMessage(testContext(t), in)
	if err != nil {
		t.Fatalf("SendMessage %s/%s: %v", group, dedup, err)
	}
	return out
}

// receiveAll receives up to ten messages with every system attribute.
func (e *engine) receiveAll(t *testing.T, queueURL string, visibility int32) []types.Message {
	t.Helper()
	return e.receive(t, &sqs.ReceiveMessageInput{
		QueueUrl: aws.String(queueURL), MaxNumberOfMessages: 10, VisibilityTimeout: visibility,
		MessageSystemAttributeNames: []types.MessageSystemAttributeName{types.MessageSystemAttributeNameAll},
	})
}

func bodies(msgs []types.Message) []string {
	out := make([]string, len(msgs))
	for i, m := range msgs {
		out[i] = aws.ToString(m.Body)
	}
	return out
}

func (e *engine) deleteAll(t *testing.T, queueURL string, msgs []types.Message) {
	t.Helper()
	for _, m := range msgs {
		if _, err := e.client.DeleteMessage(testContext(t), &sqs.DeleteMessageInput{QueueUrl: aws.String(queueURL), ReceiptHandle: m.ReceiptHandle}); err != nil {
			t.Fatalf("DeleteMessage: %v", err)
		}
	}
}

func TestFifoQueueAttributes(t *testing.T) {
	t.Parallel()
	e := newEngine(t)
	ctx := testContext(t)
	url := e.createQueue(t, "jobs.fifo", map[string]string{"FifoQueue": "true"})
	attrs, err := e.client.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{QueueUrl: aws.String(url), AttributeNames: []types.QueueAttributeName{types.QueueAttributeNameAll}})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"FifoQueue": "true", "ContentBasedDeduplication": "false", "DeduplicationScope": "queue", "FifoThroughputLimit": "perQueue",
		"QueueArn": "arn:aws:sqs:us-east-1:000000000000:jobs.fifo"}
	got := map[string]string{}
	for k := range want {
		got[k] = attrs.Attributes[k]
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("GetQueueAttributes(All) of a new FIFO queue (-want +got):\n%s", diff)
	}

	// High-throughput mode, and again with the same attributes: the same queue.
	high := map[string]string{"FifoQueue": "true", "ContentBasedDeduplication": "true", "DeduplicationScope": "messageGroup", "FifoThroughputLimit": "perMessageGroupId"}
	if u := e.createQueue(t, "fast.fifo", high); u != e.createQueue(t, "fast.fifo", high) {
		t.Errorf("second CreateQueue of fast.fifo gave another URL")
	}
	_, err = e.client.SetQueueAttributes(ctx, &sqs.SetQueueAttributesInput{QueueUrl: aws.String(url), Attributes: high})
	if err != nil {
		t.Fatalf("SetQueueAttributes with FifoQueue unchanged and high throughput: %v", err)
	}

	refused := []struct {
		name  string
		attrs map[string]string
		code  string
	}{
		{"bad scope", map[string]string{"DeduplicationScope": "group"}, "InvalidAttributeValue"},
		{"bad limit", map[string]string{"FifoThroughputLimit": "perGroup"}, "InvalidAttributeValue"},
		{"bad content dedup", map[string]string{"ContentBasedDeduplication": "yes"}, "InvalidAttributeValue"},
		{"to standard", map[string]string{"FifoQueue": "false"}, "InvalidAttributeValue"},
	}
	for _, tt := range refused {
		_, err := e.client.SetQueueAttributes(ctx, &sqs.SetQueueAttributesInput{QueueUrl: aws.String(url), Attributes: tt.attrs})
		if err == nil {
			t.Errorf("SetQueueAttributes %s succeeded, want %s", tt.name, tt.code)
			continue
		}
		wantAPIError(t, err, tt.code)
	}

	// A FIFO queue's dead-letter queue is FIFO too.
	e.createQueue(t, "plain", nil)
	_, err = e.client.SetQueueAttributes(ctx, &sqs.SetQueueAttributesInput{QueueUrl: aws.String(url),
		Attributes: map[string]string{"RedrivePolicy": `{"deadLetterTargetArn":"arn:aws:sqs:us-east-1:000000000000:plain","maxReceiveCount":2}`}})
	wantAPIError(t, err, "InvalidParameterValue")
}

func TestFifoSendValidation(t *testing.T) {
	t.Parallel()
	e := newEngine(t)
	url := e.createQueue(t, "v.fifo", map[string]string{"FifoQueue": "true"})
	tests := []struct {
		name string
		in   sqs.SendMessageInput
		code string
	}{
		{"no group", sqs.SendMessageInput{MessageDeduplicationId: aws.String("d")}, "MissingParameter"},
		{"no dedup id, no content-based dedup", sqs.SendMessageInput{MessageGroupId: aws.String("g")}, "InvalidParameterValue"},
		{"per-message delay", sqs.SendMessageInput{MessageGroupId: aws.String("g"), MessageDeduplicationId: aws.String("d"), DelaySeconds: 5}, "InvalidParameterValue"},
		{"group too long", sqs.SendMessageInput{MessageGroupId: aws.String(strings.Repeat("g", 129)), MessageDeduplicationId: aws.String("d")}, "InvalidParameterValue"},
		{"group with a space", sqs.SendMessageInput{MessageGroupId: aws.String("a b"), MessageDeduplicationId: aws.String("d")}, "InvalidParameterValue"},
		{"dedup id not ASCII", sqs.SendMessageInput{MessageGroupId: aws.String("g"), MessageDeduplicationId: aws.String("é")}, "InvalidParameterValue"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := tt.in
			in.QueueUrl, in.MessageBody = aws.String(url), aws.String("x")
			_, err := e.client.SendMessage(testContext(t), &in)
			wantAPIError(t, err, tt.code)
		})
	}
	// Punctuation is allowed in both.
	e.sendFifo(t, url, `sub/wf-1:{"a"}`, `sub/ev!~`, "ok")
	if c := e.counts(t, "v.fifo"); c.Visible != 1 {
		t.Errorf("counts = %+v, want the one valid message", c)
	}
	// A standard queue still refuses a deduplication id.
	std := e.createQueue(t, "std", nil)
	_, err := e.client.SendMessage(testContext(t), &sqs.SendMessageInput{QueueUrl: aws.String(std), MessageBody: aws.String("x"), MessageDeduplicationId: aws.String("d")})
	wantAPIError(t, err, "InvalidParameterValue")
}

func TestFifoDeduplication(t *testing.T) {
	t.Parallel()
	e := newEngine(t)
	url := e.createQueue(t, "d.fifo", map[string]string{"FifoQueue": "true"})
	first := e.sendFifo(t, url, "g", "ev-1", "one")
	if seq := aws.ToString(first.SequenceNumber); len(seq) != 20 {
		t.Errorf("SequenceNumber = %q, want 20 digits", seq)
	}
	// Same id, another body (and another group: scope is the queue): the
	// first message's id, the MD5 of what was sent, nothing enqueued.
	again := e.sendFifo(t, url, "h", "ev-1", "changed")
	if aws.ToString(again.MessageId) != aws.ToString(first.MessageId) || aws.ToString(again.SequenceNumber) != aws.ToString(first.SequenceNumber) {
		t.Errorf("duplicate send = %s/%s, want the first's %s/%s", aws.ToString(again.MessageId), aws.ToString(again.SequenceNumber),
			aws.ToString(first.MessageId), aws.ToString(first.SequenceNumber))
	}
	second := e.sendFifo(t, url, "g", "ev-2", "two")
	if aws.ToString(second.SequenceNumber) <= aws.ToString(first.SequenceNumber) {
		t.Errorf("SequenceNumber %s after %s, want it larger", aws.ToString(second.SequenceNumber), aws.ToString(first.SequenceNumber))
	}
	msgs := e.receiveAll(t, url, 30)
	if diff := cmp.Diff([]string{"one", "two"}, bodies(msgs)); diff != "" {
		t.Fatalf("received (-want +got):\n%s", diff)
	}
	// Deleted, and still a duplicate within the window.
	e.deleteAll(t, url, msgs)
	e.sendFifo(t, url, "g", "ev-1", "one")
	if c := e.counts(t, "d.fifo"); c != (Counts{}) {
		t.Errorf("counts after re-sending a deleted message's id = %+v, want none", c)
	}
	// Five minutes later it is new again.
	e.srv.mu.Lock()
	q := e.srv.queues["d.fifo"]
	for k, d := range q.dedup {
		d.at = d.at.Add(-dedupWindow)
		q.dedup[k] = d
	}
	q.dedupSwept = time.Time{}
	e.srv.mu.Unlock()
	if out := e.sendFifo(t, url, "g", "ev-1", "one"); aws.ToString(out.MessageId) == aws.ToString(first.MessageId) {
		t.Errorf("send after the window answered the old id")
	}
	if c := e.counts(t, "d.fifo"); c.Visible != 1 {
		t.Errorf("counts after the window = %+v, want 1 visible", c)
	}

	// Content-based, scope messageGroup: the body's SHA-256, per group.
	cb := e.createQueue(t, "cb.fifo", map[string]string{"FifoQueue": "true", "ContentBasedDeduplication": "true", "DeduplicationScope": "messageGroup"})
	a := e.sendFifo(t, cb, "g1", "", "same")
	if b := e.sendFifo(t, cb, "g1", "", "same"); aws.ToString(b.MessageId) != aws.ToString(a.MessageId) {
		t.Errorf("content-based duplicate got a new id")
	}
	e.sendFifo(t, cb, "g2", "", "same") // another group: not a duplicate
	got := e.receiveAll(t, cb, 30)
	if len(got) != 2 {
		t.Fatalf("received %d messages, want 2 (one per group)", len(got))
	}
	sum := sha256.Sum256([]byte("same"))
	if d := got[0].Attributes["MessageDeduplicationId"]; d != hex.EncodeToString(sum[:]) {
		t.Errorf("MessageDeduplicationId = %q, want the SHA-256 of the body", d)
	}
}

func TestFifoOrderAndGroupLocking(t *testing.T) {
	t.Parallel()
	e := newEngine(t)
	url := e.createQueue(t, "o.fifo", map[string]string{"FifoQueue": "true", "ContentBasedDeduplication": "true"})
	for i := range 3 {
		e.sendFifo(t, url, "a", "", fmt.Sprint("a", i))
		e.sendFifo(t, url, "b", "", fmt.Sprint("b", i))
	}
	// One receive: several messages of each group, in order.
	first := e.receive(t, &sqs.ReceiveMessageInput{QueueUrl: aws.String(url), MaxNumberOfMessages: 4, VisibilityTimeout: 30,
		MessageSystemAttributeNames: []types.MessageSystemAttributeName{types.MessageSystemAttributeNameAll}})
	if diff := cmp.Diff([]string{"a0", "b0", "a1", "b1"}, bodies(first)); diff != "" {
		t.Fatalf("first receive (-want +got):\n%s", diff)
	}
	for _, m := range first {
		for _, attr := range []string{"MessageGroupId", "MessageDeduplicationId", "SequenceNumber"} {
			if m.Attributes[attr] == "" {
				t.Errorf("message %s has no %s attribute", aws.ToString(m.Body), attr)
			}
		}
	}
	// Both groups have messages in flight: nothing more.
	if got := e.receiveAll(t, url, 30); len(got) != 0 {
		t.Fatalf("receive while both groups are in flight = %v, want nothing", bodies(got))
	}
	// Deleting a's messages frees group a only.
	e.deleteAll(t, url, []types.Message{first[0], first[2]})
	if diff := cmp.Diff([]string{"a2"}, bodies(e.receiveAll(t, url, 30))); diff != "" {
		t.Fatalf("receive after deleting a's messages (-want +got):\n%s", diff)
	}
	// b0 becomes visible again (a failed delivery): b comes back from b0, in order.
	_, err := e.client.ChangeMessageVisibility(testContext(t), &sqs.ChangeMessageVisibilityInput{QueueUrl: aws.String(url), ReceiptHandle: first[1].ReceiptHandle, VisibilityTimeout: 0})
	if err != nil {
		t.Fatal(err)
	}
	// b1 is still in flight: b stays locked until it too is visible or deleted.
	if got := e.receiveAll(t, url, 30); len(got) != 0 {
		t.Fatalf("receive with b1 in flight = %v, want nothing", bodies(got))
	}
	if _, err := e.client.ChangeMessageVisibility(testContext(t), &sqs.ChangeMessageVisibilityInput{QueueUrl: aws.String(url), ReceiptHandle: first[3].ReceiptHandle, VisibilityTimeout: 0}); err != nil {
		t.Fatal(err)
	}
	again := e.receiveAll(t, url, 30)
	if diff := cmp.Diff([]string{"b0", "b1", "b2"}, bodies(again)); diff != "" {
		t.Fatalf("receive after b's messages are visible again (-want +got):\n%s", diff)
	}
	if got := again[0].Attributes["ApproximateReceiveCount"]; got != "2" {
		t.Errorf("b0 ApproximateReceiveCount = %s, want 2", got)
	}
}

func TestFifoVisibilityExpiryAndLongPoll(t *testing.T) {
	t.Parallel()
	e := newEngine(t)
	url := e.createQueue(t, "lp.fifo", map[string]string{"FifoQueue": "true", "ContentBasedDeduplication": "true"})
	e.sendFifo(t, url, "g", "", "1")
	e.sendFifo(t, url, "g", "", "2")
	got := e.receive(t, &sqs.ReceiveMessageInput{QueueUrl: aws.String(url), MaxNumberOfMessages: 1, VisibilityTimeout: 1})
	if diff := cmp.Diff([]string{"1"}, bodies(got)); diff != "" {
		t.Fatalf("(-want +got):\n%s", diff)
	}
	// A long poll waiting on the locked group wakes when the message is
	// deleted, and gets the next one.
	done := make(chan []types.Message)
	go func() {
		out, err := e.client.ReceiveMessage(testContext(t), &sqs.ReceiveMessageInput{QueueUrl: aws.String(url), WaitTimeSeconds: 5, VisibilityTimeout: 30})
		if err != nil {
			t.Error(err)
		}
		done <- out.Messages
	}()
	time.Sleep(200 * time.Millisecond)
	start := time.Now()
	e.deleteAll(t, url, got)
	next := <-done
	if diff := cmp.Diff([]string{"2"}, bodies(next)); diff != "" {
		t.Fatalf("long poll (-want +got):\n%s", diff)
	}
	if took := time.Since(start); took > 500*time.Millisecond {
		t.Errorf("long poll answered %v after the delete, want at once", took)
	}
	// Not deleted: the visibility timeout ends and the group's head comes back.
	e.sendFifo(t, url, "h", "", "h1")
	e.sendFifo(t, url, "h", "", "h2")
	h := e.receive(t, &sqs.ReceiveMessageInput{QueueUrl: aws.String(url), MaxNumberOfMessages: 1, VisibilityTimeout: 1})
	if diff := cmp.Diff([]string{"h1"}, bodies(h)); diff != "" {
		t.Fatalf("(-want +got):\n%s", diff)
	}
	// A long poll wakes when the timeout ends, not at the end of its wait.
	start = time.Now()
	back := e.receive(t, &sqs.ReceiveMessageInput{QueueUrl: aws.String(url), MaxNumberOfMessages: 10, WaitTimeSeconds: 10, VisibilityTimeout: 30})
	if diff := cmp.Diff([]string{"h1", "h2"}, bodies(back)); diff != "" {
		t.Fatalf("after the visibility timeout (-want +got):\n%s", diff)
	}
	if took := time.Since(start); took > 3*time.Second {
		t.Errorf("long poll answered after %v, want when h1's 1 s visibility timeout ended", took)
	}
}

func TestFifoSendMessageBatch(t *testing.T) {
	t.Parallel()
	e := newEngine(t)
	url := e.createQueue(t, "b.fifo", map[string]string{"FifoQueue": "true"})
	entry := func(id, group, dedup string) types.SendMessageBatchRequestEntry {
		en := types.SendMessageBatchRequestEntry{Id: aws.String(id), MessageBody: aws.String("body-" + id)}
		if group != "" {
			en.MessageGroupId = aws.String(group)
		}
		if dedup != "" {
			en.MessageDeduplicationId = aws.String(dedup)
		}
		return en
	}
	out, err := e.client.SendMessageBatch(testContext(t), &sqs.SendMessageBatchInput{QueueUrl: aws.String(url), Entries: []types.SendMessageBatchRequestEntry{
		entry("e1", "g", "d1"), entry("e2", "", "d2"), entry("e3", "g", "d3"), entry("e4", "g", "d1"), entry("e5", "g", ""),
	}})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"e1 ok", "e2 MissingParameter sender", "e3 ok", "e4 ok", "e5 InvalidParameterValue sender"}, summary(out.Successful, out.Failed)); diff != "" {
		t.Errorf("SendMessageBatch (-want +got):\n%s", diff)
	}
	byID := map[string]types.SendMessageBatchResultEntry{}
	for _, s := range out.Successful {
		if aws.ToString(s.SequenceNumber) == "" {
			t.Errorf("entry %s has no SequenceNumber", aws.ToString(s.Id))
		}
		byID[aws.ToString(s.Id)] = s
	}
	if aws.ToString(byID["e4"].MessageId) != aws.ToString(byID["e1"].MessageId) {
		t.Errorf("e4 (duplicate of e1) MessageId = %s, want e1's %s", aws.ToString(byID["e4"].MessageId), aws.ToString(byID["e1"].MessageId))
	}
	got := e.receiveAll(t, url, 30)
	if diff := cmp.Diff([]string{"body-e1", "body-e3"}, bodies(got), cmpopts.EquateEmpty()); diff != "" {
		t.Errorf("received (-want +got):\n%s", diff)
	}
}
