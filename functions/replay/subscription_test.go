package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"testing"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambda"
	"github.com/google/go-cmp/cmp"

	"github.com/flowbus/flowbus/shared/apigw"
	"github.com/flowbus/flowbus/shared/event"
	"github.com/flowbus/flowbus/shared/replay"
	"github.com/flowbus/flowbus/shared/route"
	"github.com/flowbus/flowbus/shared/subscription"
)

type fakeSubs map[string]subscription.Subscription

func (s fakeSubs) Get(_ context.Context, name string) (subscription.Subscription, error) {
	if sub, ok := s[name]; ok {
		return sub, nil
	}
	return subscription.Subscription{}, fmt.Errorf("get subscription %s: %w", name, subscription.ErrNotFound)
}

// enqueued keeps what a replay enqueued, per subscription.
type enqueued map[string][]string

func (e enqueued) Enqueue(_ context.Context, sub string, evs []*event.Event) (route.Stats, error) {
	for _, ev := range evs {
		if !ev.Replayed() {
			return route.Stats{}, fmt.Errorf("event %s not marked", ev.ID)
		}
		e[sub] = append(e[sub], ev.ID)
	}
	return route.Stats{Sent: len(evs)}, nil
}

func subscriptionHandler(t *testing.T) (*handler, enqueued, func() int) {
	t.Helper()
	h, _, onStream := replayHandler(t, 3)
	subs := fakeSubs{
		"orchestrator": {Name: "orchestrator", Pattern: []byte(`{"type":["workflow.step"]}`), State: subscription.Enabled},
		"other":        {Name: "other", Pattern: []byte(`{"source":["/t"]}`), State: subscription.Enabled},
		"paused":       {Name: "paused", Pattern: []byte(`{"source":["/t"]}`), State: subscription.Disabled},
	}
	q := enqueued{}
	h.subs, h.runner.Subscriptions, h.runner.Enqueuer = subs, subs, q
	return h, q, onStream
}

func TestSampleReplayToSubscription(t *testing.T) {
	h, q, onStream := subscriptionHandler(t)
	raw, err := os.ReadFile("../../events/replay-start-subscription.json")
	if err != nil {
		t.Fatal(err)
	}
	out, err := lambda.NewHandler(h.Handle).Invoke(context.Background(), raw)
	if err != nil {
		t.Fatal(err)
	}
	var resp events.APIGatewayV2HTTPResponse
	var rec replay.Record
	if json.Unmarshal(out, &resp) != nil || json.Unmarshal([]byte(resp.Body), &rec) != nil {
		t.Fatalf("answer %s", out)
	}
	if resp.StatusCode != 200 || rec.State != replay.Completed || rec.Events != 10 || rec.Unmatched != 20 {
		t.Fatalf("sample: %d %+v; want 200, completed, 10 events sent and 20 unmatched", resp.StatusCode, rec)
	}
	var want []string
	for i := 1; i < 30; i += 3 { // workflow.step: the second of every three
		want = append(want, fmt.Sprintf("e%03d", i))
	}
	if diff := cmp.Diff(enqueued{"orchestrator": want}, q); diff != "" {
		t.Errorf("enqueued (-want +got):\n%s", diff)
	}
	if n := onStream(); n != 0 {
		t.Errorf("%d events on the stream, want none", n)
	}
}

func TestReplayToSubscriptionRefused(t *testing.T) {
	for _, tt := range []struct {
		name, body string
		noQueue    bool
		status     int
		field      string
	}{
		{"unknown", `{"workflow_id":"wf-a","target":{"subscription":"nobody"}}`, false, 404, "target.subscription"},
		{"not a name", `{"workflow_id":"wf-a","target":{"subscription":"no/such"}}`, false, 404, "target.subscription"},
		{"disabled", `{"workflow_id":"wf-a","target":{"subscription":"paused"}}`, false, 409, "target.subscription"},
		{"stream and subscription", `{"workflow_id":"wf-a","target":{"subscription":"other","stream":"s"}}`, false, 400, "target"},
		{"match without subscription", `{"workflow_id":"wf-a","target":{"match":false}}`, false, 400, "target.match"},
		{"no delivery queue", `{"workflow_id":"wf-a","target":{"subscription":"other"}}`, true, 422, "target.subscription"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			h, q, _ := subscriptionHandler(t)
			if tt.noQueue {
				h.subs, h.runner.Enqueuer = nil, nil
			}
			req := events.APIGatewayV2HTTPRequest{RouteKey: "POST /replays", Body: tt.body}
			req.RequestContext.HTTP.Method = "POST"
			raw, _ := json.Marshal(req)
			out, err := lambda.NewHandler(h.Handle).Invoke(context.Background(), raw)
			if err != nil {
				t.Fatal(err)
			}
			var resp events.APIGatewayV2HTTPResponse
			var p apigw.Problem
			if json.Unmarshal(out, &resp) != nil || json.Unmarshal([]byte(resp.Body), &p) != nil {
				t.Fatalf("answer %s", out)
			}
			if resp.StatusCode != tt.status || resp.Headers["Content-Type"] != apigw.ContentTypeProblem || len(p.Errors) == 0 || p.Errors[0].Field != tt.field {
				t.Errorf("got %d %s %s, want %d problem+json naming %s", resp.StatusCode, resp.Headers["Content-Type"], resp.Body, tt.status, tt.field)
			}
			if len(q) != 0 {
				t.Errorf("enqueued %v", q)
			}
		})
	}
}
