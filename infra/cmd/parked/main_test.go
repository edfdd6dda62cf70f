package main

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/flowbus/flowbus/shared/config"
	"github.com/flowbus/flowbus/shared/dynamostore"
	"github.com/flowbus/flowbus/shared/event"
	"github.com/flowbus/flowbus/shared/eventstore"
	"github.com/flowbus/flowbus/shared/testenv"
)

// TestResumeFromTheCommandLine parks a workflow on a poison record and
// resumes it with a replacement, as an operator would.
func TestResumeFromTheCommandLine(t *testing.T) {
	db, table := testenv.Table(t, testenv.AWS(t))
	t.Setenv(config.EnvTable, table)
	store := dynamostore.New(db, table, dynamostore.Options{})
	good := func(id string) []byte {
		return event.Append(nil, &event.Event{ID: id, Source: "/t", Type: "t", WorkflowID: "wf"}, true)
	}
	in := []eventstore.Incoming{
		{Event: &event.Event{ID: "a", Source: "/t", Type: "t", WorkflowID: "wf"}, Raw: good("a"), Pos: eventstore.Position{Shard: "s", Seq: "1"}},
		{Raw: []byte("garbage"), Pos: eventstore.Position{Shard: "s", Seq: "2"}, Problem: errors.New("undecodable record")},
		{Event: &event.Event{ID: "c", Source: "/t", Type: "t", WorkflowID: "wf"}, Raw: good("c"), Pos: eventstore.Position{Shard: "s", Seq: "3"}},
	}
	if _, err := store.Append(context.Background(), "wf", in); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{{"list"}, {"show", "wf"}} {
		if err := run(args); err != nil {
			t.Fatalf("%v: %v", args, err)
		}
	}
	// Resuming as is parks it again; with the bad entry replaced it goes through.
	if err := run([]string{"resume", "wf"}); err != nil {
		t.Fatal(err)
	}
	fixed := filepath.Join(t.TempDir(), "fixed.json")
	if err := os.WriteFile(fixed, good("b"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := run([]string{"resume", "wf", "-replace", "1=" + fixed}); err != nil {
		t.Fatal(err)
	}
	h, err := store.Head(context.Background(), "wf")
	if err != nil || h.ParkedReason != "" || h.Last != 3 {
		t.Errorf("head %+v, %v: want unparked with 3 events", h, err)
	}
	if err := run([]string{"resume"}); err == nil {
		t.Error("resume without a workflow was accepted")
	}
}
