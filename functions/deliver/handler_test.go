package main

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"os"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambda"
	"github.com/google/go-cmp/cmp"

	"github.com/flowbus/flowbus/shared/delivery"
)

type fakeDeliverer struct {
	got []delivery.Message
	res delivery.Result
	err error
}

func (f *fakeDeliverer) Deliver(_ context.Context, msgs []delivery.Message) (delivery.Result, error) {
	f.got = msgs
	return f.res, f.err
}

type fakeFigures struct {
	got  []delivery.Figures
	full []bool
}

func (f *fakeFigures) Add(_ context.Context, figs delivery.Figures, full bool, _ time.Time) error {
	f.got = append(f.got, figs)
	f.full = append(f.full, full)
	return nil
}

func invoke(t *testing.T, h *handler) events.SQSEventResponse {
	t.Helper()
	raw, err := os.ReadFile("../../events/deliver.json")
	if err != nil {
		t.Fatal(err)
	}
	out, err := lambda.NewHandler(h.Handle).Invoke(context.Background(), raw)
	if err != nil {
		t.Fatal(err)
	}
	var resp events.SQSEventResponse
	if err := json.Unmarshal(out, &resp); err != nil {
		t.Fatal(err)
	}
	return resp
}

func TestHandleReportsTheDeliverersFailures(t *testing.T) {
	d := &fakeDeliverer{res: delivery.Result{Failures: []string{"0a1b2c3d-0002-4e5f-8a9b-0c1d2e3f4a5b"},
		Figures: delivery.Figures{"orchestrator": {Delivered: 2, Retrying: 1}}}}
	figs := &fakeFigures{}
	resp := invoke(t, &handler{deliverer: d, figures: figs, log: slog.New(slog.NewTextHandler(io.Discard, nil))})
	want := []events.SQSBatchItemFailure{{ItemIdentifier: "0a1b2c3d-0002-4e5f-8a9b-0c1d2e3f4a5b"}}
	if diff := cmp.Diff(want, resp.BatchItemFailures); diff != "" {
		t.Errorf("failures (-want +got):\n%s", diff)
	}
	if len(d.got) != 3 {
		t.Fatalf("got %d messages, want 3", len(d.got))
	}
	m := d.got[2]
	if m.GroupID != "orchestrator/wf-2" || m.ReceiveCount != 2 || m.SentAt.UnixMilli() != 1796126400003 || m.ReceiptHandle != "AQEB-receipt-3" {
		t.Errorf("got message %+v", m)
	}
	if len(figs.got) != 1 || figs.got[0]["orchestrator"].Delivered != 2 {
		t.Errorf("got figures %+v, want the batch's once", figs.got)
	}
	if len(figs.full) != 1 || figs.full[0] {
		t.Errorf("a batch of 3 given as full=%v, want false (a batch of %d is full)", figs.full, delivery.FullBatch)
	}
}

func TestHandleRetriesEverythingWhenNothingCanBeDelivered(t *testing.T) {
	d := &fakeDeliverer{err: errors.New("no subscriptions")}
	resp := invoke(t, &handler{deliverer: d, log: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if len(resp.BatchItemFailures) != 3 {
		t.Errorf("got %d failures, want all 3", len(resp.BatchItemFailures))
	}
}
