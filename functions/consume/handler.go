package main

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"

	"github.com/aws/aws-lambda-go/events"

	"github.com/flowbus/flowbus/shared/consumer"
	"github.com/flowbus/flowbus/shared/kinesisevent"
	"github.com/flowbus/flowbus/shared/metrics"
)

// handler takes the raw Lambda payload (it implements lambda.Handler) so the
// Kinesis event is decoded by kinesisevent, several times cheaper than
// encoding/json into events.KinesisEvent.
type handler struct {
	consumer *consumer.Consumer
	log      *slog.Logger
	metrics  *metrics.Recorder // nil in tests that do not look at figures
}

// Invoke handles one Kinesis batch and answers an events.KinesisEventResponse.
func (h *handler) Invoke(ctx context.Context, payload []byte) ([]byte, error) {
	records, err := kinesisevent.Decode(payload)
	if err != nil {
		// Not a Kinesis event at all: nothing to retry record by record.
		return nil, fmt.Errorf("decode Kinesis event: %w", err)
	}
	retry, st := h.consumer.Handle(ctx, records)
	h.log.InfoContext(ctx, "batch stored", "records", st.Records, "events", st.Consumed, "stored", st.Stored,
		"duplicates", st.Duplicates, "parked", st.Parked, "replayed", st.Replayed, "failed_workflows", st.Failed)
	if h.metrics != nil {
		for typ, n := range st.StoredByType {
			h.metrics.Count("events_stored", map[string]string{"event_type": typ}, float64(n))
		}
		for name, n := range map[string]int{"events_consumed": st.Consumed, "duplicates_skipped": st.Duplicates,
			"poison_parked": st.Parked, "events_replayed_seen": st.Replayed, "workflows_retried": st.Failed} {
			h.metrics.Count(name, nil, float64(n))
		}
		if st.Latency != nil && st.Latency.Count() > 0 {
			h.metrics.Observe("publish_to_store_latency_p50", metrics.Milliseconds, nil, float64(st.Latency.Quantile(0.5).Microseconds())/1000)
			h.metrics.Observe("publish_to_store_latency_p99", metrics.Milliseconds, nil, float64(st.Latency.Quantile(0.99).Microseconds())/1000)
		}
	}
	return json.Marshal(response(retry))
}

// response asks Lambda to retry from each workflow's first record that
// Handle reports: it checkpoints at the lowest and sends the rest again.
func response(retry []string) events.KinesisEventResponse {
	var resp events.KinesisEventResponse
	for _, seq := range retry {
		resp.BatchItemFailures = append(resp.BatchItemFailures, events.KinesisBatchItemFailure{ItemIdentifier: seq})
	}
	return resp
}
