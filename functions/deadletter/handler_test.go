package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambda"
	"github.com/google/go-cmp/cmp"

	"github.com/flowbus/flowbus/shared/deadletter"
	"github.com/flowbus/flowbus/shared/metrics"
	"github.com/flowbus/flowbus/shared/stats"
)

type fakeRedriver struct {
	res deadletter.Result
	err error
	got []deadletter.Record
	at  []time.Time
}

func (f *fakeRedriver) Handle(_ context.Context, rec deadletter.Record, at time.Time) (deadletter.Result, error) {
	f.got = append(f.got, rec)
	f.at = append(f.at, at)
	return f.res, f.err
}

type fakeStats struct{ got []stats.DeadLetter }

func (f *fakeStats) RecordDeadLetter(_ context.Context, d stats.DeadLetter) error {
	d.Now = time.Time{}
	f.got = append(f.got, d)
	return nil
}

// sample is events/deadletter.json with its message's receive count set.
func sample(t *testing.T, receives int, body string) []byte {
	t.Helper()
	raw, err := os.ReadFile("../../events/deadletter.json")
	if err != nil {
		t.Fatal(err)
	}
	var ev events.SQSEvent
	if err := json.Unmarshal(raw, &ev); err != nil {
		t.Fatal(err)
	}
	ev.Records[0].Attributes["ApproximateReceiveCount"] = fmt.Sprint(receives)
	if body != "" {
		ev.Records[0].Body = body
	}
	out, _ := json.Marshal(ev)
	return out
}

func TestHandler(t *testing.T) {
	tests := []struct {
		name        string
		receives    int
		body        string
		res         deadletter.Result
		err         error
		wantFailed  bool
		wantStats   []stats.DeadLetter
		wantMetrics map[string]float64
	}{
		{name: "parked: the message is deleted", receives: 1, res: deadletter.Result{Records: 3, Parked: 4, OrderBroken: 1},
			wantStats:   []stats.DeadLetter{{Records: 3, Parked: 4, OrderBroken: 1}},
			wantMetrics: map[string]float64{"records_dead_lettered": 3, "events_parked_from_dead_letter": 4, "events_order_broken": 1}},
		{name: "handled before: deleted, counted once", receives: 2, res: deadletter.Result{Records: 3, AlreadyParked: 4},
			wantMetrics: map[string]float64{"records_dead_lettered": 0, "events_parked_from_dead_letter": 0}},
		{name: "transient failure: kept for a retry", receives: 1, err: errors.New("throttled"), wantFailed: true},
		{name: "records lost: kept, counted on the first receive", receives: 1, res: deadletter.Result{Records: 1, Parked: 1, Lost: 2},
			err: fmt.Errorf("x: %w", deadletter.ErrLost), wantFailed: true,
			wantStats:   []stats.DeadLetter{{Records: 3, Parked: 1, Lost: 2}},
			wantMetrics: map[string]float64{"records_lost_from_stream": 2, "events_parked_from_dead_letter": 1}},
		{name: "records lost, received again: kept, not counted again", receives: 2, res: deadletter.Result{Lost: 3},
			err: deadletter.ErrLost, wantFailed: true, wantMetrics: map[string]float64{"records_lost_from_stream": 0}},
		{name: "not an on-failure record: kept, counted", receives: 1, body: `{"hello":"world"}`, wantFailed: true,
			wantMetrics: map[string]float64{"dead_letter_unreadable": 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var emf bytes.Buffer
			rec, err := metrics.NewRecorder(metrics.Namespace, &emf, metrics.Options{Dims: map[string]string{"function": "deadletter"}})
			if err != nil {
				t.Fatal(err)
			}
			r := &fakeRedriver{res: tt.res, err: tt.err}
			st := &fakeStats{}
			h := lambda.NewHandler((&handler{redriver: r, stats: st, log: slog.New(slog.NewTextHandler(io.Discard, nil)), metrics: rec}).handle)
			out, err := h.Invoke(context.Background(), sample(t, tt.receives, tt.body))
			if err != nil {
				t.Fatal(err)
			}
			var resp events.SQSEventResponse
			if err := json.Unmarshal(out, &resp); err != nil {
				t.Fatal(err)
			}
			if got := len(resp.BatchItemFailures) == 1 && resp.BatchItemFailures[0].ItemIdentifier == "2e1424d4-f796-459a-8184-9c92662be6da"; got != tt.wantFailed {
				t.Errorf("response %s: failed = %v, want %v", out, got, tt.wantFailed)
			}
			if diff := cmp.Diff(tt.wantStats, st.got); diff != "" {
				t.Errorf("figures (-want +got):\n%s", diff)
			}
			if err := rec.Flush(time.Now()); err != nil {
				t.Fatal(err)
			}
			for name, want := range tt.wantMetrics {
				if !strings.Contains(emf.String(), fmt.Sprintf(`"%s":%v`, name, want)) {
					t.Errorf("EMF lacks %s = %v:\n%s", name, want, emf.String())
				}
			}
			if tt.body == "" {
				// The record of the sample, with the time the mapping gave up.
				if len(r.got) != 1 || r.got[0].KinesisBatchInfo.BatchSize != 3 || r.got[0].RequestContext.Condition != "RecordAgeExceeded" ||
					!r.at[0].Equal(time.Date(2024, 5, 2, 10, 15, 7, 531e6, time.UTC)) {
					t.Errorf("redriver got %+v at %v", r.got, r.at)
				}
			}
		})
	}
}
