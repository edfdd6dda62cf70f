package replay_test

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/google/go-cmp/cmp"

	"github.com/flowbus/flowbus/shared/event"
	"github.com/flowbus/flowbus/shared/kinesisevent"
	"github.com/flowbus/flowbus/shared/pattern"
	"github.com/flowbus/flowbus/shared/replay"
	"github.com/flowbus/flowbus/shared/route"
	"github.com/flowbus/flowbus/shared/subscription"
	"github.com/flowbus/flowbus/shared/testenv"
)

// fifo creates a FIFO queue set up as the template's DeliveryQueue.
func fifo(t *testing.T, sc *sqs.Client) string {
	t.Helper()
	q, err := sc.CreateQueue(context.Background(), &sqs.CreateQueueInput{QueueName: aws.String(testenv.Name("replay") + ".fifo"), Attributes: map[string]string{
		"FifoQueue": "true", "ContentBasedDeduplication": "false", "DeduplicationScope": "messageGroup", "FifoThroughputLimit": "perMessageGroupId",
	}})
	if err != nil {
		t.Fatalf("create the FIFO queue (is sqslocal built with FIFO support?): %v", err)
	}
	t.Cleanup(func() { _, _ = sc.DeleteQueue(context.Background(), &sqs.DeleteQueueInput{QueueUrl: q.QueueUrl}) })
	return aws.ToString(q.QueueUrl)
}

// queued is a message of the delivery queue, or one event of a packed
// message (Pack is then its pack id, Dedup the message's).
type queued struct {
	Group, Dedup, Pack string
	Pointer            route.Pointer
	ReplayID           string
}

// drain receives and deletes every message of the queue, in order per group,
// until the queue is empty. A receive whose answer the client lost (seen here
// now and then on loopback: the SDK retries on a new connection) leaves its
// messages in flight; the short visibility timeout brings them back, in their
// group's order, and a message seen twice is kept once.
func drain(t *testing.T, sc *sqs.Client, url string) map[string][]queued {
	t.Helper()
	ctx := context.Background()
	got := map[string][]queued{}
	seen := map[string]bool{}
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		out, err := sc.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: aws.String(url), MaxNumberOfMessages: 10, WaitTimeSeconds: 1, VisibilityTimeout: 2,
			MessageSystemAttributeNames: []sqstypes.MessageSystemAttributeName{sqstypes.MessageSystemAttributeNameAll}})
		if err != nil {
			t.Fatal(err)
		}
		if len(out.Messages) == 0 {
			attrs, err := sc.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{QueueUrl: aws.String(url),
				AttributeNames: []sqstypes.QueueAttributeName{sqstypes.QueueAttributeNameApproximateNumberOfMessages, sqstypes.QueueAttributeNameApproximateNumberOfMessagesNotVisible}})
			if err != nil {
				t.Fatal(err)
			}
			if attrs.Attributes["ApproximateNumberOfMessages"] == "0" && attrs.Attributes["ApproximateNumberOfMessagesNotVisible"] == "0" {
				return got
			}
			continue
		}
		for _, m := range out.Messages {
			if _, err := sc.DeleteMessage(ctx, &sqs.DeleteMessageInput{QueueUrl: aws.String(url), ReceiptHandle: m.ReceiptHandle}); err != nil {
				t.Fatal(err)
			}
			if seen[aws.ToString(m.MessageId)] {
				continue
			}
			seen[aws.ToString(m.MessageId)] = true
			var body route.Pointer
			if err := json.Unmarshal([]byte(aws.ToString(m.Body)), &body); err != nil {
				t.Fatal(err)
			}
			each := []route.Pointer{body}
			if len(body.Events) > 0 {
				each = nil
				for _, e := range body.Events {
					each = append(each, route.Pointer{Subscription: body.Subscription, WorkflowID: body.WorkflowID, EventID: e.EventID, Position: e.Position, Event: e.Event})
				}
			}
			for _, p := range each {
				q := queued{Group: m.Attributes["MessageGroupId"], Dedup: m.Attributes["MessageDeduplicationId"], Pack: body.Pack, Pointer: p}
				ev, err := event.Decode(q.Pointer.Event, event.DecodeOptions{Wire: true})
				if err != nil {
					t.Fatalf("event of %s: %v", q.Pointer.EventID, err)
				}
				id, _ := ev.Extension(event.AttrReplayID)
				_ = json.Unmarshal(id, &q.ReplayID)
				if _, ok := ev.Extension(event.AttrReplayedAt); !ok && q.ReplayID != "" {
					t.Errorf("event %s has replayid and no replayedat", ev.ID)
				}
				got[q.Group] = append(got[q.Group], q)
			}
		}
	}
	t.Fatalf("queue %s not drained in 30 s", url)
	return nil
}

// TestReplayToSubscriptionThroughEngines replays one workflow to one
// subscription through dynalite and an sqslocal FIFO queue: exactly that
// workflow's events its pattern matches, in order, in that subscription's
// group only, each marked and deduplicated by replay; a second replay
// enqueues them again, and match false sends them all.
func TestReplayToSubscriptionThroughEngines(t *testing.T) {
	f := setup(t, 3, 30)
	ctx := context.Background()
	cfg := testenv.AWS(t)
	sc := sqs.NewFromConfig(cfg)
	url := fifo(t, sc)
	subs := subscription.NewStore(f.db, f.table, nil)
	for name, pat := range map[string]string{"y": `{"data":{"n":[{"numeric":["<",20]}]}}`, "other": `{"source":["/t"]}`} {
		if _, _, err := subs.Create(ctx, subscription.Subscription{Name: name, Pattern: json.RawMessage(pat),
			Target: subscription.Target{Type: subscription.TargetLambda}, State: subscription.Enabled}); err != nil {
			t.Fatal(err)
		}
	}
	enq, err := route.NewEnqueuer(route.Config{QueueURL: url}, sc, nil)
	if err != nil {
		t.Fatal(err)
	}
	f.runner.Enqueuer, f.runner.Subscriptions, f.runner.PageSize = enq, subs, 7

	no := false
	for _, tc := range []struct {
		name  string
		match *bool
		n     int
	}{{"pattern", nil, 20}, {"pattern again", nil, 20}, {"match false", &no, 30}} {
		t.Run(tc.name, func(t *testing.T) {
			rec, err := f.records.Create(ctx, replay.Spec{WorkflowID: "wf-1", Target: replay.Target{Subscription: "y", Match: tc.match}}, time.Now())
			if err != nil {
				t.Fatal(err)
			}
			done, err := f.runner.Run(ctx, rec.ID)
			if err != nil || done.State != replay.Completed || done.Events != int64(tc.n) || done.Unmatched != int64(30-tc.n) {
				t.Fatalf("run: %+v, %v", done, err)
			}
			got := map[string][]string{}
			for g, msgs := range drain(t, sc, url) {
				for _, m := range msgs {
					got[g] = append(got[g], m.Pointer.EventID)
					// Packed (the enqueuer packs a workflow's events as the
					// router does): the pack's id, a hash over the replay id.
					wantDedup := "y/" + m.Pointer.EventID + "/" + rec.ID
					if m.Pack != "" {
						wantDedup = m.Pack
					}
					if m.ReplayID != rec.ID || m.Dedup != wantDedup || m.Pointer.Subscription != "y" {
						t.Errorf("message %+v: want replay %s in its mark and dedup id", m, rec.ID)
					}
				}
			}
			if diff := cmp.Diff(map[string][]string{"y/wf-1": ids("wf-1", 0, tc.n)}, got); diff != "" {
				t.Errorf("enqueued per group (-want +got):\n%s", diff)
			}
		})
	}
}

type fixedSubs []route.Sub

func (s fixedSubs) Subscriptions(context.Context) ([]route.Sub, error) { return s, nil }

// TestReplayedEventsAreRouted replays a workflow onto the bus stream and
// routes what the stream holds, as the route function does: the replayed
// copies reach every matching subscription, marked, with the replay id in
// their dedup ids (the consumer storing none of them is
// TestReplayOneWorkflow's).
func TestReplayedEventsAreRouted(t *testing.T) {
	f := setup(t, 2, 12)
	ctx := context.Background()
	sc := sqs.NewFromConfig(testenv.AWS(t))
	url := fifo(t, sc)
	rec, err := f.records.Create(ctx, replay.Spec{WorkflowID: "wf-0"}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if done, err := f.runner.Run(ctx, rec.ID); err != nil || done.Events != 12 {
		t.Fatalf("run: %+v, %v", done, err)
	}
	_, lambdaEvent := f.onStream(t, rec.ID)
	recs, err := kinesisevent.Decode(lambdaEvent)
	if err != nil {
		t.Fatal(err)
	}
	r, err := route.New(route.Config{QueueURL: url}, fixedSubs{
		{Name: "all", Pattern: pattern.MustCompile(`{"source":["/t"]}`, pattern.EventBridge)},
		{Name: "replays", Pattern: pattern.MustCompile(`{"replayid":[{"exists":true}]}`, pattern.EventBridge)},
		{Name: "none", Pattern: pattern.MustCompile(`{"replayid":[{"exists":false}]}`, pattern.EventBridge)},
	}, sc, nil)
	if err != nil {
		t.Fatal(err)
	}
	retry, st, err := r.Route(ctx, recs)
	if err != nil || len(retry) != 0 || st.Sent != 24 {
		t.Fatalf("Route: %v, %+v, %v; want 24 sent", retry, st, err)
	}
	got := map[string][]string{}
	for g, msgs := range drain(t, sc, url) {
		for _, m := range msgs {
			got[g] = append(got[g], m.Pointer.EventID)
			// A single event's dedup id holds the replay id; a pack's is a
			// hash of its events' (route.packDedup).
			wantDedup := fmt.Sprintf("%s/%s/%s", m.Pointer.Subscription, m.Pointer.EventID, rec.ID)
			if m.Pack != "" {
				wantDedup = m.Pack
			}
			if m.ReplayID != rec.ID || m.Dedup != wantDedup {
				t.Errorf("message %+v: want replay %s in its mark and dedup id", m, rec.ID)
			}
		}
	}
	if diff := cmp.Diff(map[string][]string{"all/wf-0": ids("wf-0", 0, 12), "replays/wf-0": ids("wf-0", 0, 12)}, got); diff != "" {
		t.Errorf("routed per group (-want +got):\n%s", diff)
	}
}
