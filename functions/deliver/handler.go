package main

import (
	"context"
	"log/slog"
	"strconv"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/flowbus/flowbus/shared/delivery"
	"github.com/flowbus/flowbus/shared/metrics"
)

// Deliverer is the core call the handler makes.
type Deliverer interface {
	Deliver(ctx context.Context, msgs []delivery.Message) (delivery.Result, error)
}

// FiguresSink keeps the per-subscription figures (delivery.FiguresBuffer:
// full batches may be held back and written together).
type FiguresSink interface {
	Add(ctx context.Context, f delivery.Figures, full bool, now time.Time) error
}

type handler struct {
	deliverer Deliverer
	figures   FiguresSink       // nil: not kept
	metrics   *metrics.Recorder // nil: no EMF
	log       *slog.Logger
	now       func() time.Time
}

// Handle delivers one batch of the delivery queue and reports the messages
// to retry (a failed one and every later one of its group).
func (h *handler) Handle(ctx context.Context, ev events.SQSEvent) (events.SQSEventResponse, error) {
	msgs := make([]delivery.Message, len(ev.Records))
	for i, r := range ev.Records {
		msgs[i] = delivery.Message{ID: r.MessageId, ReceiptHandle: r.ReceiptHandle, Body: r.Body,
			GroupID: r.Attributes["MessageGroupId"], ReceiveCount: atoi(r.Attributes["ApproximateReceiveCount"])}
		if ms := atoi(r.Attributes["SentTimestamp"]); ms > 0 {
			msgs[i].SentAt = time.UnixMilli(int64(ms))
		}
	}
	var resp events.SQSEventResponse
	res, err := h.deliverer.Deliver(ctx, msgs)
	if err != nil {
		// Nothing can be delivered (no subscription set): retry them all.
		h.log.ErrorContext(ctx, "batch not delivered", "messages", len(msgs), "err", err)
		for _, m := range msgs {
			resp.BatchItemFailures = append(resp.BatchItemFailures, events.SQSBatchItemFailure{ItemIdentifier: m.ID})
		}
		return resp, nil
	}
	for _, id := range res.Failures {
		resp.BatchItemFailures = append(resp.BatchItemFailures, events.SQSBatchItemFailure{ItemIdentifier: id})
	}
	if h.metrics != nil {
		res.Figures.Emit(h.metrics)
	}
	if h.figures != nil && len(res.Figures) > 0 {
		now := time.Now
		if h.now != nil {
			now = h.now
		}
		if err := h.figures.Add(ctx, res.Figures, len(msgs) >= delivery.FullBatch, now()); err != nil {
			h.log.WarnContext(ctx, "delivery figures not recorded", "err", err)
		}
	}
	return resp, nil
}

func atoi(s string) int {
	n, _ := strconv.Atoi(s)
	return n
}
