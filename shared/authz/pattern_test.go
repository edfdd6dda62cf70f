package authz

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestSubscriptionReads(t *testing.T) {
	all := []Request{{Action: Read, Workflow: "*"}}
	for _, c := range []struct {
		name, pattern string
		want          []Request
	}{
		{"empty: everything", `{}`, all},
		{"not JSON", `{`, all},
		{"types only", `{"type":["order.created",{"prefix":"payment."}]}`, []Request{{Action: Read, Workflow: "*", Types: []string{"order.created", "payment.*"}}}},
		{"workflows and a prefix", `{"workflowid":["wf-1",{"prefix":"team-a-"}]}`, []Request{{Action: Read, Workflow: "wf-1"}, {Action: Read, Workflow: "team-a-*"}}},
		{"both", `{"workflowid":[{"prefix":"team-a-"}],"type":["x"],"data":{"n":[1]}}`, []Request{{Action: Read, Workflow: "team-a-*", Types: []string{"x"}}}},
		{"anything-but workflow: every workflow", `{"workflowid":[{"anything-but":"wf-1"}]}`, all},
		{"wildcard: every workflow", `{"workflowid":[{"wildcard":"team-*"}]}`, all},
		{"a value ending in *: every workflow", `{"workflowid":["team-*"]}`, all},
		{"$or does not narrow", `{"$or":[{"workflowid":["a"]},{"source":["s"]}]}`, all},
		{"prefix object with more keys", `{"workflowid":[{"prefix":"a","x":1}]}`, all},
		{"anything-but type: every type", `{"workflowid":["a"],"type":[{"anything-but":"x"}]}`, []Request{{Action: Read, Workflow: "a"}}},
		{"empty list", `{"workflowid":[]}`, all},
	} {
		if diff := cmp.Diff(c.want, SubscriptionReads([]byte(c.pattern))); diff != "" {
			t.Errorf("%s: %s (-want +got):\n%s", c.name, c.pattern, diff)
		}
	}
	// What a grant of team-a's workflows allows.
	p := &Policy{Entries: []Entry{{Principal: "sub:alice", Grants: []Grant{{Actions: []Action{Subscriptions, Read}, Subscriptions: []string{"a-*"}, Workflows: []string{"team-a-*"}}}}}}
	alice := Caller{ID: "sub:alice", Principals: []string{"sub:alice"}}
	for pattern, want := range map[string]bool{
		`{"workflowid":[{"prefix":"team-a-"}]}`:        true,
		`{"workflowid":["team-a-7"],"type":["x"]}`:     true,
		`{"workflowid":[{"prefix":"team-"}]}`:          false,
		`{"type":["x"]}`:                               false,
		`{"workflowid":["team-a-7","team-b-1"]}`:       false,
		`{"workflowid":[{"anything-but":"team-b-1"}]}`: false,
	} {
		ok := true
		for _, r := range SubscriptionReads([]byte(pattern)) {
			ok = ok && p.Allowed(alice, r)
		}
		if ok != want {
			t.Errorf("alice subscribing with %s: allowed %v, want %v", pattern, ok, want)
		}
	}
}
