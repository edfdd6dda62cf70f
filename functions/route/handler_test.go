package main

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"os"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambda"
	"github.com/google/go-cmp/cmp"

	"github.com/flowbus/flowbus/shared/delivery"
	"github.com/flowbus/flowbus/shared/kinesisevent"
	"github.com/flowbus/flowbus/shared/route"
)

type fakeRouter struct {
	got     []kinesisevent.Record
	retry   []string
	err     error
	matched map[string]int
}

func (f *fakeRouter) Route(_ context.Context, records []kinesisevent.Record) ([]string, route.Stats, error) {
	f.got = records
	return f.retry, route.Stats{Records: len(records), MatchedBy: f.matched}, f.err
}

type fakeFigures struct{ got []delivery.Figures }

func (f *fakeFigures) Record(_ context.Context, figs delivery.Figures, _ time.Time) error {
	f.got = append(f.got, figs)
	return nil
}

// Each batch's matched counts are recorded once, per subscription.
func TestHandlerRecordsMatched(t *testing.T) {
	payload, err := os.ReadFile("../../events/route.json")
	if err != nil {
		t.Fatal(err)
	}
	figs := &fakeFigures{}
	f := &fakeRouter{matched: map[string]int{"a": 2, "b": 1}}
	if _, err := invoke(t, &handler{router: f, figures: figs, log: slog.New(slog.DiscardHandler)}, payload); err != nil {
		t.Fatal(err)
	}
	want := []delivery.Figures{{"a": {Matched: 2}, "b": {Matched: 1}}}
	if diff := cmp.Diff(want, figs.got); diff != "" {
		t.Errorf("recorded (-want +got):\n%s", diff)
	}
}

func invoke(t *testing.T, h *handler, payload []byte) (events.KinesisEventResponse, error) {
	t.Helper()
	out, err := lambda.NewHandler(h).Invoke(context.Background(), payload)
	var resp events.KinesisEventResponse
	if err == nil {
		if err := json.Unmarshal(out, &resp); err != nil {
			t.Fatal(err)
		}
	}
	return resp, err
}

func TestHandlerSampleEvent(t *testing.T) {
	payload, err := os.ReadFile("../../events/route.json")
	if err != nil {
		t.Fatal(err)
	}
	f := &fakeRouter{retry: []string{"49590338271490256608559692538361571095921575989136588898"}}
	resp, err := invoke(t, &handler{router: f, log: slog.New(slog.DiscardHandler)}, payload)
	if err != nil {
		t.Fatal(err)
	}
	if len(f.got) != 2 || f.got[0].PartitionKey != "order-123" || f.got[0].ShardID != "shardId-000000000000" {
		t.Errorf("records %+v", f.got)
	}
	want := events.KinesisEventResponse{BatchItemFailures: []events.KinesisBatchItemFailure{{ItemIdentifier: f.retry[0]}}}
	if diff := cmp.Diff(want, resp); diff != "" {
		t.Errorf("response (-want +got):\n%s", diff)
	}

	// Everything routed: an empty list, a complete success for Lambda.
	f.retry = nil
	if resp, err = invoke(t, &handler{router: f, log: slog.New(slog.DiscardHandler)}, payload); err != nil || len(resp.BatchItemFailures) != 0 {
		t.Errorf("response %+v, %v; want no failures", resp, err)
	}
	// No subscription set: the invocation fails, the batch is retried whole.
	f.err = errors.New("load subscriptions: table down")
	if _, err := invoke(t, &handler{router: f, log: slog.New(slog.DiscardHandler)}, payload); err == nil {
		t.Error("Invoke succeeded without a subscription set")
	}
	// Not a Kinesis event.
	if _, err := invoke(t, &handler{router: f, log: slog.New(slog.DiscardHandler)}, []byte(`[1]`)); err == nil {
		t.Error("Invoke accepted a payload that is not a Kinesis event")
	}
}
