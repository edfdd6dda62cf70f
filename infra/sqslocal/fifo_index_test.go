package sqslocal

import (
	"context"
	"fmt"
	"maps"
	"math/rand/v2"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

// Probes of the FIFO index (groupLive and inflight, 0a78d90): whatever the
// sequence of receives, deletes, visibility changes, purges and redrives,
// a group yields nothing while one of its messages is in flight, and the
// index agrees with a scan of every message.

// checkIndex compares the FIFO index of the named queue with what a scan of
// its messages finds: the live messages per group, and the groups held by
// a message in flight.
func (e *engine) checkIndex(t *testing.T, name string) {
	t.Helper()
	e.srv.mu.Lock()
	defer e.srv.mu.Unlock()
	q, ok := e.srv.queues[name]
	if !ok {
		t.Fatalf("no queue %s", name)
	}
	now := time.Now()
	live := map[string]int{}
	scanHeld := map[string]bool{}
	for _, m := range q.msgs {
		if m.deleted {
			continue
		}
		live[m.groupID]++
		if m.inFlight(now) {
			scanHeld[m.groupID] = true
		}
	}
	if diff := cmp.Diff(live, q.groupLive, cmpopts.EquateEmpty()); diff != "" {
		t.Errorf("queue %s: groupLive differs from a scan of its messages (-scan +index):\n%s", name, diff)
	}
	held, _ := q.heldGroups(now)
	if diff := cmp.Diff(scanHeld, held, cmpopts.EquateEmpty()); diff != "" {
		t.Errorf("queue %s: held groups differ from a scan of its messages (-scan +index):\n%s", name, diff)
	}
}

func (e *engine) changeVisibility(t *testing.T, url string, m types.Message, seconds int32) {
	t.Helper()
	if _, err := e.client.ChangeMessageVisibility(testContext(t), &sqs.ChangeMessageVisibilityInput{QueueUrl: aws.String(url), ReceiptHandle: m.ReceiptHandle, VisibilityTimeout: seconds}); err != nil {
		t.Fatalf("ChangeMessageVisibility %s to %d s: %v", aws.ToString(m.Body), seconds, err)
	}
}

func fifoAttrs(extra ...string) map[string]string {
	a := map[string]string{"FifoQueue": "true", "ContentBasedDeduplication": "true"}
	for i := 0; i+1 < len(extra); i += 2 {
		a[extra[i]] = extra[i+1]
	}
	return a
}

// Two messages of a group received in one batch: making either visible
// again while the other stays in flight frees nothing; deletes in any order
// free the group only once none of its messages is in flight.
func TestFifoIndexBatchReleasedPiecemeal(t *testing.T) {
	t.Parallel()
	e := newEngine(t)
	const name = "piece.fifo"
	url := e.createQueue(t, name, fifoAttrs())
	for _, b := range []string{"a0", "a1", "a2", "a3"} {
		e.sendFifo(t, url, "a", "", b)
	}
	first := e.receive(t, &sqs.ReceiveMessageInput{QueueUrl: aws.String(url), MaxNumberOfMessages: 2, VisibilityTimeout: 30})
	if diff := cmp.Diff([]string{"a0", "a1"}, bodies(first)); diff != "" {
		t.Fatalf("first receive (-want +got):\n%s", diff)
	}
	// a1 visible, a0 in flight: nothing.
	e.changeVisibility(t, url, first[1], 0)
	e.checkIndex(t, name)
	if got := e.receiveAll(t, url, 30); len(got) != 0 {
		t.Fatalf("receive with a0 in flight and a1 visible = %v, want nothing", bodies(got))
	}
	// The other way round, after a0 comes back too: a0 and a1 received,
	// a0 made visible, a1 kept in flight: nothing.
	e.changeVisibility(t, url, first[0], 0)
	second := e.receive(t, &sqs.ReceiveMessageInput{QueueUrl: aws.String(url), MaxNumberOfMessages: 2, VisibilityTimeout: 30})
	if diff := cmp.Diff([]string{"a0", "a1"}, bodies(second)); diff != "" {
		t.Fatalf("receive after both are visible again (-want +got):\n%s", diff)
	}
	e.changeVisibility(t, url, second[0], 0)
	e.checkIndex(t, name)
	if got := e.receiveAll(t, url, 30); len(got) != 0 {
		t.Fatalf("receive with a0 visible and a1 in flight = %v, want nothing", bodies(got))
	}
	// A long poll waiting now is not answered early (every group held)
	// and returns at once when a1 is made visible.
	done := make(chan []types.Message, 1)
	go func() {
		out, err := e.client.ReceiveMessage(testContext(t), &sqs.ReceiveMessageInput{QueueUrl: aws.String(url), MaxNumberOfMessages: 10, WaitTimeSeconds: 10, VisibilityTimeout: 30})
		if err != nil {
			t.Error(err)
			done <- nil
			return
		}
		done <- out.Messages
	}()
	time.Sleep(100 * time.Millisecond)
	e.changeVisibility(t, url, second[1], 0)
	third := <-done
	if diff := cmp.Diff([]string{"a0", "a1", "a2", "a3"}, bodies(third)); diff != "" {
		t.Fatalf("long poll after a1 is visible again (-want +got):\n%s", diff)
	}
	// Deletes out of order: a3, a1 first; a0 and a2 still hold the group.
	e.deleteAll(t, url, []types.Message{third[3], third[1]})
	e.checkIndex(t, name)
	e.sendFifo(t, url, "a", "", "a4")
	if got := e.receiveAll(t, url, 30); len(got) != 0 {
		t.Fatalf("receive with a0 and a2 in flight = %v, want nothing", bodies(got))
	}
	e.deleteAll(t, url, []types.Message{third[2]})
	if got := e.receiveAll(t, url, 30); len(got) != 0 {
		t.Fatalf("receive with a0 in flight = %v, want nothing", bodies(got))
	}
	e.deleteAll(t, url, []types.Message{third[0]})
	if diff := cmp.Diff([]string{"a4"}, bodies(e.receiveAll(t, url, 30))); diff != "" {
		t.Fatalf("receive after every earlier message is deleted (-want +got):\n%s", diff)
	}
	e.checkIndex(t, name)
	// A delete repeated, of a message already deleted, changes nothing.
	e.deleteAll(t, url, []types.Message{third[0]})
	e.checkIndex(t, name)
}

// A long poll on a queue whose every group is held wakes when the earliest
// visibility timeout ends, not at the end of its wait, also when the
// timeout was shortened by ChangeMessageVisibility while the poll waited.
func TestFifoIndexLongPollWakesAtVisibilityEnd(t *testing.T) {
	t.Parallel()
	e := newEngine(t)
	const name = "wake.fifo"
	url := e.createQueue(t, name, fifoAttrs())
	for _, b := range []string{"a0", "a1", "b0", "b1"} {
		e.sendFifo(t, url, b[:1], "", b)
	}
	// a0 for 2 s, b0 for 30 s: every group held.
	a := e.receive(t, &sqs.ReceiveMessageInput{QueueUrl: aws.String(url), MaxNumberOfMessages: 1, VisibilityTimeout: 2})
	b := e.receive(t, &sqs.ReceiveMessageInput{QueueUrl: aws.String(url), MaxNumberOfMessages: 1, VisibilityTimeout: 30})
	if diff := cmp.Diff([]string{"a0", "b0"}, append(bodies(a), bodies(b)...)); diff != "" {
		t.Fatalf("(-want +got):\n%s", diff)
	}
	start := time.Now()
	got := e.receive(t, &sqs.ReceiveMessageInput{QueueUrl: aws.String(url), MaxNumberOfMessages: 10, WaitTimeSeconds: 20, VisibilityTimeout: 30})
	if diff := cmp.Diff([]string{"a0", "a1"}, bodies(got)); diff != "" {
		t.Fatalf("long poll while a0's 2 s and b0's 30 s run (-want +got):\n%s", diff)
	}
	if took := time.Since(start); took > 10*time.Second {
		t.Errorf("long poll answered after %v, want when a0's 2 s visibility timeout ended", took)
	}
	e.checkIndex(t, name)

	// Every group held again (a0, a1 for 30 s; b0 for 30 s). A poll waits;
	// b0's timeout is cut to 1 s while it waits: the poll must get b0
	// when that second ends, not after its 20 s.
	done := make(chan []types.Message, 1)
	pollStart := time.Now()
	go func() {
		out, err := e.client.ReceiveMessage(testContext(t), &sqs.ReceiveMessageInput{QueueUrl: aws.String(url), MaxNumberOfMessages: 10, WaitTimeSeconds: 20, VisibilityTimeout: 30})
		if err != nil {
			t.Error(err)
			done <- nil
			return
		}
		done <- out.Messages
	}()
	time.Sleep(200 * time.Millisecond)
	e.changeVisibility(t, url, b[0], 1)
	back := <-done
	if diff := cmp.Diff([]string{"b0", "b1"}, bodies(back)); diff != "" {
		t.Fatalf("long poll after b0's timeout is cut to 1 s (-want +got):\n%s", diff)
	}
	if took := time.Since(pollStart); took > 10*time.Second {
		t.Errorf("long poll answered after %v, want about 1 s after b0's timeout was cut", took)
	}
	e.checkIndex(t, name)
}

// The same cut on a standard queue: a long poll waiting for an in-flight
// message gets it when its shortened timeout ends.
func TestLongPollWakesAtShortenedVisibility(t *testing.T) {
	t.Parallel()
	e := newEngine(t)
	url := e.createQueue(t, "cut", nil)
	e.send(t, url, "m")
	first := e.receive(t, &sqs.ReceiveMessageInput{QueueUrl: aws.String(url), VisibilityTimeout: 30})
	if len(first) != 1 {
		t.Fatalf("received %d, want 1", len(first))
	}
	done := make(chan []types.Message, 1)
	start := time.Now()
	go func() {
		out, err := e.client.ReceiveMessage(testContext(t), &sqs.ReceiveMessageInput{QueueUrl: aws.String(url), WaitTimeSeconds: 20})
		if err != nil {
			t.Error(err)
			done <- nil
			return
		}
		done <- out.Messages
	}()
	time.Sleep(200 * time.Millisecond)
	e.changeVisibility(t, url, first[0], 1)
	if diff := cmp.Diff([]string{"m"}, bodies(<-done)); diff != "" {
		t.Fatalf("long poll (-want +got):\n%s", diff)
	}
	if took := time.Since(start); took > 10*time.Second {
		t.Errorf("long poll answered after %v, want about 1 s after the timeout was cut", took)
	}
}

// A group whose messages are all delayed (DelaySeconds on the queue) is not
// held: with the only other group in flight, a long poll gets the delayed
// message when its delay ends, not when the in-flight one's timeout does.
func TestFifoIndexDelayedGroupNotHeld(t *testing.T) {
	t.Parallel()
	e := newEngine(t)
	const name = "delay.fifo"
	url := e.createQueue(t, name, fifoAttrs("DelaySeconds", "1"))
	e.sendFifo(t, url, "a", "", "a0")
	if got := e.receiveAll(t, url, 30); len(got) != 0 {
		t.Fatalf("receive within the delay = %v, want nothing", bodies(got))
	}
	a := e.receive(t, &sqs.ReceiveMessageInput{QueueUrl: aws.String(url), MaxNumberOfMessages: 10, WaitTimeSeconds: 10, VisibilityTimeout: 60})
	if diff := cmp.Diff([]string{"a0"}, bodies(a)); diff != "" {
		t.Fatalf("long poll over the delay (-want +got):\n%s", diff)
	}
	e.sendFifo(t, url, "a", "", "a1") // held behind a0
	e.sendFifo(t, url, "b", "", "b0") // delayed 1 s
	e.checkIndex(t, name)
	start := time.Now()
	got := e.receive(t, &sqs.ReceiveMessageInput{QueueUrl: aws.String(url), MaxNumberOfMessages: 10, WaitTimeSeconds: 20, VisibilityTimeout: 60})
	if diff := cmp.Diff([]string{"b0"}, bodies(got)); diff != "" {
		t.Fatalf("long poll with a held and b delayed (-want +got):\n%s", diff)
	}
	if took := time.Since(start); took > 10*time.Second {
		t.Errorf("long poll answered after %v, want when b0's 1 s delay ended", took)
	}
	e.checkIndex(t, name)
}

// PurgeQueue drops the messages in flight with the rest: their groups are
// free for the messages sent after, and their old handles free nothing twice.
func TestFifoIndexPurge(t *testing.T) {
	t.Parallel()
	e := newEngine(t)
	ctx := testContext(t)
	const name = "purge.fifo"
	url := e.createQueue(t, name, fifoAttrs())
	for _, b := range []string{"a0", "a1", "b0"} {
		e.sendFifo(t, url, b[:1], "", b)
	}
	old := e.receive(t, &sqs.ReceiveMessageInput{QueueUrl: aws.String(url), MaxNumberOfMessages: 1, VisibilityTimeout: 60})
	if diff := cmp.Diff([]string{"a0"}, bodies(old)); diff != "" {
		t.Fatalf("(-want +got):\n%s", diff)
	}
	if _, err := e.client.PurgeQueue(ctx, &sqs.PurgeQueueInput{QueueUrl: aws.String(url)}); err != nil {
		t.Fatal(err)
	}
	e.checkIndex(t, name)
	e.sendFifo(t, url, "a", "", "a2")
	e.sendFifo(t, url, "b", "", "b1")
	// The purged a0's handle: deleting succeeds and frees nothing twice.
	e.deleteAll(t, url, old)
	e.checkIndex(t, name)
	if _, err := e.client.ChangeMessageVisibility(ctx, &sqs.ChangeMessageVisibilityInput{QueueUrl: aws.String(url), ReceiptHandle: old[0].ReceiptHandle, VisibilityTimeout: 0}); err == nil {
		t.Errorf("ChangeMessageVisibility of a purged message succeeded")
	}
	got := e.receiveAll(t, url, 60)
	if diff := cmp.Diff([]string{"a2", "b1"}, bodies(got)); diff != "" {
		t.Fatalf("receive after the purge (-want +got):\n%s", diff)
	}
	if got := e.receiveAll(t, url, 60); len(got) != 0 {
		t.Fatalf("receive with a2 and b1 in flight = %v, want nothing", bodies(got))
	}
	e.deleteAll(t, url, got)
	e.checkIndex(t, name)
	if diff := cmp.Diff(Counts{}, e.counts(t, name)); diff != "" {
		t.Errorf("counts at the end (-want +got):\n%s", diff)
	}
}

// Redrive between FIFO queues: a message received maxReceiveCount times
// moves to the dead-letter queue, where its group is indexed afresh; the
// next message of its group in the source queue is received in its place.
func TestFifoIndexRedrive(t *testing.T) {
	t.Parallel()
	e := newEngine(t)
	const src, dlq = "work.fifo", "work-dlq.fifo"
	e.createQueue(t, dlq, fifoAttrs())
	url := e.createQueue(t, src, fifoAttrs("RedrivePolicy", `{"deadLetterTargetArn":"arn:aws:sqs:us-east-1:000000000000:`+dlq+`","maxReceiveCount":2}`))
	dlqURL := strings.TrimSuffix(url, src) + dlq
	for _, b := range []string{"a0", "a1", "b0"} {
		e.sendFifo(t, url, b[:1], "", b)
	}
	for i := range 2 {
		got := e.receive(t, &sqs.ReceiveMessageInput{QueueUrl: aws.String(url), MaxNumberOfMessages: 10, VisibilityTimeout: 30})
		if diff := cmp.Diff([]string{"a0", "a1", "b0"}, bodies(got)); diff != "" {
			t.Fatalf("receive %d (-want +got):\n%s", i+1, diff)
		}
		// a1 back first, a0 still in flight: a stays held.
		e.changeVisibility(t, url, got[1], 0)
		if got := e.receiveAll(t, url, 30); len(got) != 0 {
			t.Fatalf("receive %d with a0 in flight = %v, want nothing", i+1, bodies(got))
		}
		e.changeVisibility(t, url, got[0], 0)
		e.changeVisibility(t, url, got[2], 0)
		e.checkIndex(t, src)
	}
	// Third receive: every message is past maxReceiveCount and moves.
	if got := e.receiveAll(t, url, 30); len(got) != 0 {
		t.Fatalf("receive beyond maxReceiveCount = %v, want nothing", bodies(got))
	}
	e.checkIndex(t, src)
	e.checkIndex(t, dlq)
	if diff := cmp.Diff(Counts{}, e.counts(t, src)); diff != "" {
		t.Errorf("source counts after the redrive (-want +got):\n%s", diff)
	}
	dead := e.receive(t, &sqs.ReceiveMessageInput{QueueUrl: aws.String(dlqURL), MaxNumberOfMessages: 1, VisibilityTimeout: 30})
	if diff := cmp.Diff([]string{"a0"}, bodies(dead)); diff != "" {
		t.Fatalf("dead-letter queue's first receive (-want +got):\n%s", diff)
	}
	// In the dead-letter queue too, a stays held while a0 is in flight.
	if diff := cmp.Diff([]string{"b0"}, bodies(e.receiveAll(t, dlqURL, 30))); diff != "" {
		t.Fatalf("dead-letter queue with a0 in flight (-want +got):\n%s", diff)
	}
	e.deleteAll(t, dlqURL, dead)
	if diff := cmp.Diff([]string{"a1"}, bodies(e.receiveAll(t, dlqURL, 30))); diff != "" {
		t.Fatalf("dead-letter queue after a0 is deleted (-want +got):\n%s", diff)
	}
	e.checkIndex(t, dlq)

	// A message that moves frees its group in the same receive: c0 is
	// received twice, then the receive that moves it returns c1.
	e.sendFifo(t, url, "c", "", "c0")
	e.sendFifo(t, url, "c", "", "c1")
	for range 2 {
		got := e.receive(t, &sqs.ReceiveMessageInput{QueueUrl: aws.String(url), MaxNumberOfMessages: 1, VisibilityTimeout: 30})
		if diff := cmp.Diff([]string{"c0"}, bodies(got)); diff != "" {
			t.Fatalf("(-want +got):\n%s", diff)
		}
		e.changeVisibility(t, url, got[0], 0)
	}
	if diff := cmp.Diff([]string{"c1"}, bodies(e.receiveAll(t, url, 30))); diff != "" {
		t.Fatalf("receive that moves c0 (-want +got):\n%s", diff)
	}
	e.checkIndex(t, src)
	e.checkIndex(t, dlq)
}

// ReceiveRequestAttemptId: a retry that is no longer valid (one of its
// messages was made visible) runs as a new receive, which must not hand out
// the visible message while its group's other message is in flight; a valid
// retry keeps the group held.
func TestFifoIndexAttemptRetry(t *testing.T) {
	t.Parallel()
	e := newEngine(t)
	const name = "retry.fifo"
	url := e.createQueue(t, name, fifoAttrs())
	for _, b := range []string{"a0", "a1", "a2"} {
		e.sendFifo(t, url, "a", "", b)
	}
	in := func(id string) *sqs.ReceiveMessageInput {
		return &sqs.ReceiveMessageInput{QueueUrl: aws.String(url), MaxNumberOfMessages: 2, VisibilityTimeout: 30, ReceiveRequestAttemptId: aws.String(id)}
	}
	first := e.receive(t, in("r1"))
	if diff := cmp.Diff([]string{"a0", "a1"}, bodies(first)); diff != "" {
		t.Fatalf("(-want +got):\n%s", diff)
	}
	again := e.receive(t, in("r1"))
	if got, want := ids(again), ids(first); got != want {
		t.Fatalf("retry: got %q, want %q", got, want)
	}
	e.checkIndex(t, name)
	if got := e.receiveAll(t, url, 30); len(got) != 0 {
		t.Fatalf("receive after a valid retry = %v, want nothing (a held)", bodies(got))
	}
	// a1 made visible: the retry is void, and runs as a new receive.
	e.changeVisibility(t, url, again[1], 0)
	if got := e.receive(t, in("r1")); len(got) != 0 {
		t.Fatalf("void retry with a0 in flight = %v, want nothing", bodies(got))
	}
	e.checkIndex(t, name)
	// a0 made visible too: a new attempt gets a0, a1 again, in order.
	e.changeVisibility(t, url, again[0], 0)
	third := e.receive(t, in("r2"))
	if diff := cmp.Diff([]string{"a0", "a1"}, bodies(third)); diff != "" {
		t.Fatalf("(-want +got):\n%s", diff)
	}
	e.deleteAll(t, url, third)
	// The r2 retry after its messages are deleted is a new receive: a2.
	if diff := cmp.Diff([]string{"a2"}, bodies(e.receive(t, in("r2")))); diff != "" {
		t.Fatalf("retry after a delete (-want +got):\n%s", diff)
	}
	e.checkIndex(t, name)
}

// Many senders and receivers on one FIFO queue (run with -race): no group
// yields a message while another receiver holds one of its messages; each
// message is received once per visibility cycle (once, plus once for each
// time a receiver gave it back) and only after every earlier message of its
// group was deleted; every message is deleted exactly once.
func TestFifoIndexConcurrent(t *testing.T) {
	t.Parallel()
	e := newEngine(t)
	const name = "busy.fifo"
	url := e.createQueue(t, name, fifoAttrs())
	const senders, groupsPerSender, perGroup, receivers = 4, 3, 12, 6
	total := senders * groupsPerSender * perGroup

	var (
		mu       sync.Mutex
		holding  = map[string]int{}  // messages of a group a receiver holds
		deleted  = map[string]bool{} // body → deleted (marked before the call)
		received = map[string]int{}
		gaveBack = map[string]int{}
		receives = map[string]int{} // body → its ApproximateReceiveCount, last seen
		gone     int                // deletes answered
		errs     []string
	)
	report := func(format string, args ...any) {
		mu.Lock()
		errs = append(errs, fmt.Sprintf(format, args...))
		mu.Unlock()
	}
	ctx, cancel := context.WithCancel(testContext(t))
	defer cancel()
	var wg sync.WaitGroup
	for s := range senders {
		wg.Go(func() {
			for i := range perGroup {
				for g := range groupsPerSender {
					group := fmt.Sprintf("g%d-%d", s, g)
					body := fmt.Sprintf("%s/%d", group, i)
					if _, err := e.client.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: aws.String(url), MessageBody: aws.String(body), MessageGroupId: aws.String(group)}); err != nil {
						report("send %s: %v", body, err)
						return
					}
				}
			}
		})
	}
	var rwg sync.WaitGroup
	for r := range receivers {
		rwg.Go(func() {
			rnd := rand.New(rand.NewPCG(uint64(r), 7))
			for ctx.Err() == nil {
				out, err := e.client.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: aws.String(url), MaxNumberOfMessages: 10, WaitTimeSeconds: 1, VisibilityTimeout: 60,
					MessageSystemAttributeNames: []types.MessageSystemAttributeName{types.MessageSystemAttributeNameAll}})
				if err != nil {
					if ctx.Err() == nil {
						report("receive: %v", err)
					}
					return
				}
				mu.Lock()
				last := map[string]int{} // group → index of its last message in this batch
				for _, m := range out.Messages {
					body := aws.ToString(m.Body)
					group, idx, _ := strings.Cut(body, "/")
					i, _ := strconv.Atoi(idx)
					if group != m.Attributes["MessageGroupId"] {
						errs = append(errs, fmt.Sprintf("%s has group %q", body, m.Attributes["MessageGroupId"]))
					}
					if prev, ok := last[group]; ok {
						if i != prev+1 {
							errs = append(errs, fmt.Sprintf("batch has %s/%d after %s/%d", group, i, group, prev))
						}
					} else {
						if holding[group] > 0 {
							errs = append(errs, fmt.Sprintf("%s received while %d messages of its group are held elsewhere", body, holding[group]))
						}
						// The group's first message in the batch: every
						// earlier one is deleted.
						for j := range i {
							if !deleted[fmt.Sprintf("%s/%d", group, j)] {
								errs = append(errs, fmt.Sprintf("%s received before %s/%d was deleted", body, group, j))
								break
							}
						}
					}
					last[group] = i
					if deleted[body] {
						errs = append(errs, fmt.Sprintf("%s received after it was deleted", body))
					}
					holding[group]++
					received[body]++
					receives[body], _ = strconv.Atoi(m.Attributes["ApproximateReceiveCount"])
				}
				mu.Unlock()
				// Handle the batch as a FIFO consumer does: a group that
				// fails gives back the rest of its messages in the batch.
				failed := map[string]bool{}
				for _, m := range out.Messages {
					body := aws.ToString(m.Body)
					group, _, _ := strings.Cut(body, "/")
					giveBack := failed[group] || rnd.IntN(5) == 0
					mu.Lock()
					holding[group]--
					if giveBack {
						failed[group] = true
						gaveBack[body]++
					} else {
						deleted[body] = true
					}
					mu.Unlock()
					if giveBack {
						_, err = e.client.ChangeMessageVisibility(ctx, &sqs.ChangeMessageVisibilityInput{QueueUrl: aws.String(url), ReceiptHandle: m.ReceiptHandle, VisibilityTimeout: 0})
					} else {
						_, err = e.client.DeleteMessage(ctx, &sqs.DeleteMessageInput{QueueUrl: aws.String(url), ReceiptHandle: m.ReceiptHandle})
					}
					if err != nil {
						if ctx.Err() == nil {
							report("give back or delete %s: %v", body, err)
						}
						return
					}
					if !giveBack {
						// Stop once every delete is answered: stopping
						// at the last one marked could cut another
						// receiver's delete short.
						mu.Lock()
						gone++
						done := gone == total
						mu.Unlock()
						if done {
							cancel()
						}
					}
				}
			}
		})
	}
	wg.Wait()
	rwg.Wait()
	for _, msg := range errs {
		t.Error(msg)
	}
	if len(deleted) != total {
		t.Fatalf("%d messages deleted, want %d", len(deleted), total)
	}
	for body := range maps.Keys(deleted) {
		if want := gaveBack[body] + 1; received[body] != want || receives[body] != want {
			t.Errorf("%s received %d times (ApproximateReceiveCount %d), want %d: once, and again for each of its %d give-backs",
				body, received[body], receives[body], want, gaveBack[body])
		}
	}
	e.checkIndex(t, name)
	if diff := cmp.Diff(Counts{}, e.counts(t, name)); diff != "" {
		t.Errorf("counts at the end (-want +got):\n%s", diff)
	}
}
