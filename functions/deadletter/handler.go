package main

import (
	"context"
	"errors"
	"log/slog"
	"strconv"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/flowbus/flowbus/shared/deadletter"
	"github.com/flowbus/flowbus/shared/metrics"
	"github.com/flowbus/flowbus/shared/stats"
)

// Redriver brings one on-failure record's records back.
type Redriver interface {
	Handle(ctx context.Context, rec deadletter.Record, gaveUpAt time.Time) (deadletter.Result, error)
}

// StatsRecorder takes the figures GET /metrics shows.
type StatsRecorder interface {
	RecordDeadLetter(ctx context.Context, d stats.DeadLetter) error
}

// handler translates the SQS event to the core and back. A message is
// deleted (left out of batchItemFailures) only when everything its record
// points at is parked or found stored. Every other message stays on the
// queue: one that may pass (a throttled stream, a busy workflow) comes back
// after the visibility timeout; one that never will (not an on-failure
// record, or records no longer on the stream) is logged as an error each
// time and, after the queue's maxReceiveCount, moves to the stuck queue,
// whose alarm calls an operator.
type handler struct {
	redriver Redriver
	stats    StatsRecorder // nil in tests that do not look at figures
	log      *slog.Logger
	metrics  *metrics.Recorder // nil in tests that do not look at figures
}

func (h *handler) handle(ctx context.Context, ev events.SQSEvent) (events.SQSEventResponse, error) {
	var resp events.SQSEventResponse
	for _, msg := range ev.Records {
		if !h.message(ctx, msg) {
			resp.BatchItemFailures = append(resp.BatchItemFailures, events.SQSBatchItemFailure{ItemIdentifier: msg.MessageId})
		}
	}
	return resp, nil
}

// message handles one message and reports whether it may be deleted.
func (h *handler) message(ctx context.Context, msg events.SQSMessage) bool {
	receives, _ := strconv.Atoi(msg.Attributes["ApproximateReceiveCount"])
	log := h.log.With("message_id", msg.MessageId, "receive_count", receives)
	rec, err := deadletter.Parse([]byte(msg.Body))
	if err != nil {
		body := msg.Body
		if len(body) > 512 {
			body = body[:512] + "…"
		}
		log.ErrorContext(ctx, "message kept: not an on-failure record; it goes to the stuck queue after the queue's maxReceiveCount",
			"error", err, "body", body)
		h.count("dead_letter_unreadable", 1)
		return false
	}
	b := rec.KinesisBatchInfo
	log = log.With("condition", rec.RequestContext.Condition, "shard", b.ShardID,
		"start_sequence_number", b.StartSequenceNumber, "end_sequence_number", b.EndSequenceNumber, "batch_size", b.BatchSize)
	var sent time.Time
	if ms, err := strconv.ParseInt(msg.Attributes["SentTimestamp"], 10, 64); err == nil {
		sent = time.UnixMilli(ms)
	}
	res, err := h.redriver.Handle(ctx, rec, rec.GaveUpAt(sent))
	lost := errors.Is(err, deadletter.ErrLost)
	if err != nil && !lost {
		log.WarnContext(ctx, "message kept: retried after the visibility timeout", "error", err)
		return false
	}
	// Figures once per message: a run that finds its entries parked already
	// is a repeat, and a message whose records are lost counts on its first
	// receive only.
	first := res.AlreadyParked == 0 && (!lost || receives <= 1)
	d := stats.DeadLetter{Parked: res.Parked, OrderBroken: res.OrderBroken, Now: time.Now()}
	if first {
		d.Records, d.Lost = b.BatchSize, res.Lost
	}
	h.count("records_dead_lettered", d.Records)
	h.count("events_parked_from_dead_letter", d.Parked)
	h.count("events_order_broken", d.OrderBroken)
	h.count("records_lost_from_stream", d.Lost)
	if h.stats != nil && (d.Records > 0 || d.Parked > 0 || d.Lost > 0) {
		if err := h.stats.RecordDeadLetter(ctx, d); err != nil {
			log.WarnContext(ctx, "dead-letter figures not recorded", "error", err)
		}
	}
	attrs := []any{"records_read", res.Records, "workflows", res.Workflows, "parked", res.Parked, "duplicates", res.Duplicates,
		"already_parked", res.AlreadyParked, "order_broken", res.OrderBroken, "replayed", res.Replayed, "lost", res.Lost}
	if lost {
		log.ErrorContext(ctx, "message kept: records given up on are no longer on the stream; what was there is parked, "+
			"the rest is lost; it goes to the stuck queue after the queue's maxReceiveCount", append(attrs, "error", err)...)
		return false
	}
	log.InfoContext(ctx, "on-failure record handled", attrs...)
	return true
}

func (h *handler) count(name string, n int) {
	if h.metrics != nil {
		h.metrics.Count(name, nil, float64(n))
	}
}
