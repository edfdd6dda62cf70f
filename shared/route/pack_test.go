package route

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/google/go-cmp/cmp"

	"github.com/flowbus/flowbus/shared/kinesisevent"
)

// events are n events of workflow wf with ids prefix-0…, data of size
// bytes each.
func events(prefix, wf string, n, size int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf(`{"specversion":"1.0","id":"%s-%d","source":"test","type":"x","workflowid":%q,"data":{"s":%q}}`, prefix, i, wf, strings.Repeat("d", size))
	}
	return out
}

// A record's events go in packs of at most MaxPackEvents and MaxPackBytes,
// in order; a pack never spans records.
func TestPackLimits(t *testing.T) {
	src := &fakeSource{subs: subs(t, "s", `{"type":["x"]}`)}
	q := &fakeQueue{}
	r := newRouter(t, src, q)
	many := events("m", "wf", 2*MaxPackEvents+3, 10)
	big := events("b", "wf", 5, MaxPackBytes/3) // three of them pass MaxPackBytes
	_, st, err := r.Route(context.Background(), []kinesisevent.Record{rec("1", "wf", many...), rec("2", "wf", big...)})
	if err != nil || st.Stopped != 0 {
		t.Fatalf("Route: %+v, %v", st, err)
	}
	var sizes []int
	for _, s := range q.sent {
		sizes = append(sizes, max(1, len(s.Body.Events)))
		if len(s.Body.Events) > 0 {
			seq := s.Body.Events[0].Position.Seq
			for _, e := range s.Body.Events {
				if e.Position.Seq != seq {
					t.Errorf("pack %s spans records %s and %s", s.Dedup, seq, e.Position.Seq)
				}
			}
		}
		if s.size > MaxPackBytes+4096 {
			t.Errorf("message %s is %d bytes", s.Dedup, s.size)
		}
	}
	if diff := cmp.Diff([]int{MaxPackEvents, MaxPackEvents, 3, 2, 2, 1}, sizes); diff != "" {
		t.Errorf("pack sizes (-want +got):\n%s", diff)
	}
	var want []string
	for i := range 2*MaxPackEvents + 3 {
		want = append(want, fmt.Sprintf("m-%d", i))
	}
	for i := range 5 {
		want = append(want, fmt.Sprintf("b-%d", i))
	}
	if diff := cmp.Diff(map[string][]string{"s/wf": want}, q.byGroup()); diff != "" {
		t.Errorf("sent (-want +got):\n%s", diff)
	}
	if st.Sent != len(want) || st.Messages != 6 || st.Matched != len(want) {
		t.Errorf("stats %+v: want %d sent in 6 messages", st, len(want))
	}
}

// The same record packs the same way however the batch around it is cut,
// so a retried batch's packs carry the deduplication ids of the first try.
func TestPackDedupIsStable(t *testing.T) {
	src := &fakeSource{subs: subs(t, "s", `{"type":["x"]}`, "t", `{"type":["x"]}`)}
	records := []kinesisevent.Record{rec("1", "wf-a", events("a", "wf-a", 3, 5)...), rec("2", "wf-b", events("b", "wf-b", 4, 5)...), rec("3", "wf-a", events("c", "wf-a", 2, 5)...)}
	dedups := func(recs []kinesisevent.Record) map[string]bool {
		q := &fakeQueue{}
		if _, _, err := newRouter(t, src, q).Route(context.Background(), recs); err != nil {
			t.Fatal(err)
		}
		out := map[string]bool{}
		for _, s := range q.sent {
			out[s.Dedup] = true
			if s.Body.Pack != "" && s.Body.Pack != s.Dedup {
				t.Errorf("pack %q sent with deduplication id %q", s.Body.Pack, s.Dedup)
			}
		}
		return out
	}
	whole, tail := dedups(records), dedups(records[1:])
	if len(whole) != 6 {
		t.Errorf("%d messages, want 6 (3 records × 2 subscriptions)", len(whole))
	}
	for d := range tail {
		if !whole[d] {
			t.Errorf("the retried tail sent %s, which the first try did not", d)
		}
	}
	// Packs of different subscriptions, and of different records, differ.
	if len(whole) != len(dedups(records)) {
		t.Error("routing twice gave other ids")
	}
}

// An event id starting with "=" cannot take a pack's deduplication id.
func TestDedupOfEqualsIDIsHashed(t *testing.T) {
	if got := token("s", "=abc"); !strings.HasPrefix(got, "s/#") {
		t.Errorf("token(s, =abc) = %q, want a hash", got)
	}
	if got := packDedup("s", "wf", []packItem{{dedupKey: "x"}, {dedupKey: "y"}}); !strings.HasPrefix(got, "s/=") || len(got) > maxToken {
		t.Errorf("packDedup = %q", got)
	}
}

// A pack SQS refuses for its content goes again as pointers: ids and
// positions, which the deliverer reads from the store.
func TestPackRefusedGoesAsPointers(t *testing.T) {
	src := &fakeSource{subs: subs(t, "s", `{"type":["x"]}`)}
	q := &fakeQueue{}
	r := newRouter(t, src, &refusingQueue{fakeQueue: q, refused: map[string]bool{}})
	_, st, err := r.Route(context.Background(), []kinesisevent.Record{rec("1", "wf", events("p", "wf", 3, 5)...)})
	if err != nil || st.Stopped != 0 || len(q.sent) != 1 {
		t.Fatalf("Route: %+v, %v, sent %d", st, err, len(q.sent))
	}
	b := q.sent[0].Body
	if len(b.Events) != 3 || b.Events[0].Event != nil || b.Events[2].EventID != "p-2" || b.Pack == "" {
		t.Errorf("sent %+v, want the pack as pointers", b)
	}
}

// refusingQueue refuses each message's first send for its content, as SQS
// does a body with characters it does not take.
type refusingQueue struct {
	*fakeQueue
	refused map[string]bool
}

func (q *refusingQueue) SendMessageBatch(ctx context.Context, in *sqs.SendMessageBatchInput, opts ...func(*sqs.Options)) (*sqs.SendMessageBatchOutput, error) {
	out := &sqs.SendMessageBatchOutput{}
	var pass []types.SendMessageBatchRequestEntry
	for _, e := range in.Entries {
		d := aws.ToString(e.MessageDeduplicationId)
		if !q.refused[d] {
			q.refused[d] = true
			out.Failed = append(out.Failed, types.BatchResultErrorEntry{Id: e.Id, Code: aws.String("InvalidMessageContents"), SenderFault: true})
			continue
		}
		pass = append(pass, e)
	}
	if len(pass) > 0 {
		got, err := q.fakeQueue.SendMessageBatch(ctx, &sqs.SendMessageBatchInput{QueueUrl: in.QueueUrl, Entries: pass}, opts...)
		if err != nil {
			return nil, err
		}
		out.Successful, out.Failed = got.Successful, append(out.Failed, got.Failed...)
	}
	return out, nil
}
