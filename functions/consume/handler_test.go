package main

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"os"
	"testing"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambda"
	"github.com/google/go-cmp/cmp"

	"github.com/flowbus/flowbus/shared/consumer"
	"github.com/flowbus/flowbus/shared/dynamostore"
	"github.com/flowbus/flowbus/shared/eventstore"
	"github.com/flowbus/flowbus/shared/testenv"
)

// TestSampleEvent runs events/consume.json through the handler as the Lambda
// runtime would, twice, against the DynamoDB engine.
func TestSampleEvent(t *testing.T) {
	db, table := testenv.Table(t, testenv.AWS(t))
	store := dynamostore.New(db, table, dynamostore.Options{})
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	h := lambda.NewHandler(&handler{consumer: consumer.New(store, log), log: log})
	payload, err := os.ReadFile("../../events/consume.json")
	if err != nil {
		t.Fatal(err)
	}
	for range 2 { // the second delivery must change nothing
		out, err := h.Invoke(context.Background(), payload)
		if err != nil {
			t.Fatal(err)
		}
		var resp events.KinesisEventResponse
		if err := json.Unmarshal(out, &resp); err != nil || len(resp.BatchItemFailures) != 0 {
			t.Fatalf("response %s, %v: want no failures", out, err)
		}
	}
	for wf, want := range map[string][]string{"order-123": {"workflow.started", "workflow.step.completed"}, "order-124": {"workflow.started"}} {
		page, err := store.Read(context.Background(), wf, eventstore.Query{})
		if err != nil {
			t.Fatal(err)
		}
		if len(page.Events) != len(want) {
			t.Fatalf("%s holds %d events, want %d", wf, len(page.Events), len(want))
		}
		for i, e := range page.Events {
			if e.Type != want[i] || e.Sequence != uint64(i+1) {
				t.Errorf("%s event %d: %s at %d, want %s at %d", wf, i, e.Type, e.Sequence, want[i], i+1)
			}
		}
	}
}

func TestNotAKinesisEvent(t *testing.T) {
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	h := lambda.NewHandler(&handler{consumer: consumer.New(nil, log), log: log})
	if _, err := h.Invoke(context.Background(), []byte(`{"Records":[{"kinesis":{"data":"!!"}}]}`)); err == nil {
		t.Error("a payload with bad base64 was accepted")
	}
}

func TestResponseNamesEachWorkflowToRetry(t *testing.T) {
	if got := response(nil); got.BatchItemFailures != nil {
		t.Errorf("response(nil) = %+v, want no failures", got)
	}
	got := response([]string{"00002", "00007"})
	want := events.KinesisEventResponse{BatchItemFailures: []events.KinesisBatchItemFailure{{ItemIdentifier: "00002"}, {ItemIdentifier: "00007"}}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("response (-want +got):\n%s", diff)
	}
}
