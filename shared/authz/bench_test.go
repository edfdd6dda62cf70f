package authz

import (
	"context"
	"fmt"
	"testing"
)

// BenchmarkDecidePublishBatch: one publish request of 500 events (the
// batch limit) checked against a cached policy of 100 entries: what the
// check adds to a request.
func BenchmarkDecidePublishBatch(b *testing.B) {
	var entries []Entry
	for i := range 100 {
		entries = append(entries, Entry{Principal: fmt.Sprintf("sub:user-%d", i), Grants: []Grant{
			{Actions: []Action{Publish}, Sources: []string{fmt.Sprintf("app-%d", i), "shared/*"}, Workflows: []string{fmt.Sprintf("wf-%d-*", i)}}}})
	}
	a := NewAuthorizer(nil, &lister{entries: entries}, nil)
	caller := Caller{ID: "sub:user-99", Principals: []string{"sub:user-99", "group:ops", "scope:flowbus/publish"}}
	rs := make([]Request, 500)
	for i := range rs {
		rs[i] = Request{Action: Publish, Source: "shared/x", Workflow: fmt.Sprintf("wf-99-%d", i)}
	}
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if ok, _, err := a.Decide(ctx, caller, rs...); err != nil || !ok {
			b.Fatal("denied")
		}
	}
}
