package main

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"

	"github.com/flowbus/flowbus/shared/consumer"
	"github.com/flowbus/flowbus/shared/kinesisevent"
)

// handler takes the raw Lambda payload (it implements lambda.Handler) so the
// Kinesis event is decoded by kinesisevent, several times cheaper than
// encoding/json into events.KinesisEvent.
type handler struct {
	consumer *consumer.Consumer
	log      *slog.Logger
}

// Invoke handles one Kinesis batch and answers an events.KinesisEventResponse.
func (h *handler) Invoke(ctx context.Context, payload []byte) ([]byte, error) {
	records, err := kinesisevent.Decode(payload)
	if err != nil {
		// Not a Kinesis event at all: nothing to retry record by record.
		return nil, fmt.Errorf("decode Kinesis event: %w", err)
	}
	resp, st := h.consumer.Handle(ctx, records)
	h.log.InfoContext(ctx, "batch stored", "records", st.Records, "events", st.Events, "stored", st.Stored,
		"duplicates", st.Duplicates, "parked", st.Parked, "replayed", st.Replayed, "failed_workflows", st.Failed)
	return json.Marshal(resp)
}
