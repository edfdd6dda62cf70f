package delivery

import (
	"encoding/json"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/flowbus/flowbus/shared/route"
)

var bodySeeds = []string{
	`{"subscription":"orders","workflow_id":"wf-1","event_id":"e-1","position":{"shard":"shardId-000000000000","seq":"4959","sub":3},"event":{"specversion":"1.0","id":"e-1","data":{"n":[1,2]}}}`,
	`{"subscription":"orders","workflow_id":"wf-1","event_id":"e-1","position":{"shard":"s","seq":"1","sub":0}}`,
	`{"event":null,"event_id":"e","workflow_id":"w","subscription":"s","position":null}`,
	`{"subscription":"s\u00e9","workflow_id":"w\"x","event_id":"e\n","position":{"sub":-0,"shard":null}}`,
	`{"Subscription":"s","workflow_id":"w","event_id":"e"}`,
	`{"subscription":"s","subscription":"t","workflow_id":"w","event_id":"e","extra":1}`,
	`{"subscription":1,"workflow_id":"w","event_id":"e"}`,
	`{"subscription":"s","workflow_id":"w","event_id":"e","position":{"sub":1.5}}`,
	`{"subscription":"s","workflow_id":"w","event_id":"e","position":{"sub":1e2}}`,
	`{"subscription":"s","workflow_id":"w","event_id":"e"} x`,
	`{"subscription":"s\xff","workflow_id":"w","event_id":"e"}`,
	` { "subscription" : "s" , "workflow_id":"w","event_id":"e","event": [ 1 , 2 ] } `,
	`{"subscription":"s","workflow_id":"w","event_id":"e","position":{"shard":"s","seq":"1","sub":0},"subscription_created":"2026-12-01T11:00:00.123456789Z","event":{"id":"e"}}`,
	`{"subscription":"s","workflow_id":"w","event_id":"e","subscription_created":null}`,
	`{"subscription":"s","workflow_id":"w","event_id":"e","subscription_created":7}`,
	`{"subscription":"s","workflow_id":"w","pack":"s/=ab","events":[{"event_id":"e1","position":{"shard":"s","seq":"1","sub":0},"event":{"id":"e1"}},{"event_id":"e2","position":{"shard":"s","seq":"1","sub":1}}]}`,
	`{"subscription":"s","workflow_id":"w","pack":"p","events":[null,{"event_id":null,"event":null,"position":null}],"events":[]}`,
	`{"subscription":"s","workflow_id":"w","pack":"p","events":[{"event_id":"e","extra":1}]}`,
	`{"subscription":"s","workflow_id":"w","pack":7,"events":{}}`,
	`{"subscription":"s","workflow_id":"w","pack":"p","events":[{"event_id":"e","position":{"sub":1},"position":{"seq":"2"}}]}`,
	`null`, `[]`, `{`, ``,
}

// A body as the router writes it is read by the scan, not encoding/json.
func TestRouterBodiesTakeTheScan(t *testing.T) {
	raw, err := json.Marshal(route.Pointer{Subscription: "orders", WorkflowID: "wf-1", EventID: "e-1",
		Position:            route.Position{Shard: "shardId-000000000000", Seq: "49590338271490256608559692538361571095921575989136588898", Sub: 7},
		SubscriptionCreated: "2026-12-01T11:00:00.123456789Z",
		Event:               json.RawMessage(`{"specversion":"1.0","id":"e-1","source":"s","type":"t","data":{"k":"v"}}`)})
	if err != nil {
		t.Fatal(err)
	}
	got, ok := scanBody(raw)
	if !ok {
		t.Fatalf("scanBody(%s) fell back to encoding/json", raw)
	}
	var want route.Pointer
	if err := json.Unmarshal(raw, &want); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("scanBody (-encoding/json +scan):\n%s", diff)
	}
}

// FuzzParseBody holds the scan to encoding/json: whatever it reads, it
// reads as encoding/json does; what it does not read goes to encoding/json.
func FuzzParseBody(f *testing.F) {
	for _, s := range bodySeeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, ok := scanBody([]byte(s))
		if !ok {
			return
		}
		var want route.Pointer
		if err := json.Unmarshal([]byte(s), &want); err != nil {
			t.Fatalf("scanBody read %q, encoding/json refuses it: %v", s, err)
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("scanBody(%q) (-encoding/json +scan):\n%s", s, diff)
		}
	})
}
