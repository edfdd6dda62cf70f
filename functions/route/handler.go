package main

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/flowbus/flowbus/shared/delivery"
	"github.com/flowbus/flowbus/shared/kinesisevent"
	"github.com/flowbus/flowbus/shared/route"
)

// router is the core call the handler makes.
type router interface {
	Route(ctx context.Context, records []kinesisevent.Record) ([]string, route.Stats, error)
}

// figures records the subscriptions' matched counts.
type figures interface {
	Record(ctx context.Context, f delivery.Figures, now time.Time) error
}

// handler takes the raw Lambda payload (it implements lambda.Handler) so the
// Kinesis event is decoded by kinesisevent.
type handler struct {
	router  router
	figures figures // nil records nothing
	log     *slog.Logger
}

// Invoke routes one Kinesis batch and answers an events.KinesisEventResponse
// naming the records to retry from.
func (h *handler) Invoke(ctx context.Context, payload []byte) ([]byte, error) {
	records, err := kinesisevent.Decode(payload)
	if err != nil {
		return nil, fmt.Errorf("decode Kinesis event: %w", err)
	}
	retry, st, err := h.router.Route(ctx, records)
	if err != nil {
		// No subscription set to route with: the whole batch is retried.
		return nil, err
	}
	h.log.InfoContext(ctx, "batch routed", "records", st.Records, "events", st.Events, "skipped", st.Skipped, "matched", st.Matched,
		"sent", st.Sent, "messages", st.Messages, "calls", st.Calls, "pointers", st.Pointers, "stopped_groups", st.Stopped)
	if h.figures != nil && len(st.MatchedBy) > 0 {
		f := make(delivery.Figures, len(st.MatchedBy))
		for name, n := range st.MatchedBy {
			f[name] = &delivery.SubFigures{Matched: n}
		}
		// The figures never fail the batch: routing again would send again.
		if err := h.figures.Record(ctx, f, time.Now()); err != nil {
			h.log.WarnContext(ctx, "cannot record the matched figures", "err", err)
		}
	}
	var resp events.KinesisEventResponse
	for _, seq := range retry {
		resp.BatchItemFailures = append(resp.BatchItemFailures, events.KinesisBatchItemFailure{ItemIdentifier: seq})
	}
	return json.Marshal(resp)
}
