package authz_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/flowbus/flowbus/shared/authz"
	"github.com/flowbus/flowbus/shared/testenv"
)

// The policy's entries in the table (dynalite): written, listed in
// principal order, replaced, deleted.
func TestStore(t *testing.T) {
	db, table := testenv.Table(t, testenv.AWS(t))
	s := authz.NewStore(db, table)
	ctx := context.Background()
	at := time.UnixMilli(1_795_788_000_000).UTC()
	a := authz.Entry{Principal: "sub:alice", Grants: []authz.Grant{{Actions: []authz.Action{authz.Publish}, Sources: []string{"orders"}, Workflows: []string{"order-*"}}}, Updated: at}
	g := authz.Entry{Principal: "group:ops", Grants: []authz.Grant{{Actions: []authz.Action{authz.Metrics}}}, Updated: at}
	for _, e := range []authz.Entry{a, g} {
		if err := s.Put(ctx, e); err != nil {
			t.Fatal(err)
		}
	}
	got, err := s.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(got, []authz.Entry{g, a}); diff != "" {
		t.Errorf("List (-got +want):\n%s", diff)
	}
	a.Grants = nil // replaced: alice has nothing left
	if err := s.Put(ctx, a); err != nil {
		t.Fatal(err)
	}
	if err := s.Delete(ctx, "group:ops"); err != nil {
		t.Fatal(err)
	}
	if err := s.Delete(ctx, "group:ops"); !errors.Is(err, authz.ErrNotFound) {
		t.Errorf("deleting again: %v, want ErrNotFound", err)
	}
	got, err = s.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(got, []authz.Entry{a}); diff != "" {
		t.Errorf("after replace and delete (-got +want):\n%s", diff)
	}
}
