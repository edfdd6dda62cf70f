package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/flowbus/flowbus/shared/apigw"
	"github.com/flowbus/flowbus/shared/replay"
)

// inlineBudget is how long POST /replays works on a one-workflow replay
// before answering 202 and going on in another invocation (API Gateway
// gives up on an integration after 30 s).
const inlineBudget = 20 * time.Second

// startReplay serves POST /replays.
func (h *handler) startReplay(ctx context.Context, req events.APIGatewayV2HTTPRequest) events.APIGatewayV2HTTPResponse {
	body, p := apigw.Body(&req, 64<<10)
	if p != nil {
		return apigw.ProblemResponse(*p)
	}
	var spec replay.Spec
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&spec); err != nil {
		return apigw.ProblemResponse(apigw.Problem{Type: apigw.TypeMalformed, Title: "Malformed replay request", Status: 400, Detail: err.Error()})
	}
	if fields := spec.Validate(); len(fields) > 0 {
		return apigw.ProblemResponse(apigw.Problem{Type: apigw.TypeInvalid, Title: "Invalid replay request", Status: 400, Errors: fields})
	}
	rec, err := h.records.Create(ctx, spec, time.Now())
	if err != nil {
		h.log.ErrorContext(ctx, "create replay failed", "error", err)
		return unavailable()
	}
	log := h.log.With("replay_id", rec.ID)
	if spec.WorkflowID != "" {
		// One workflow: usually done before the answer.
		budget, cancel := context.WithTimeout(ctx, inlineBudget)
		done, err := h.runner.Run(budget, rec.ID)
		cancel()
		h.replayed(nil, done)
		if err == nil {
			log.InfoContext(ctx, "replay done", "events", done.Events)
			return apigw.JSON(200, done)
		}
		if !errors.Is(err, replay.ErrPaused) {
			log.ErrorContext(ctx, "replay failed", "error", err)
			if done != nil {
				return apigw.JSON(200, done)
			}
			return unavailable()
		}
		rec = done
	}
	if err := h.continuer.Continue(ctx, rec.ID); err != nil {
		log.ErrorContext(ctx, "could not start the replay worker", "error", err)
		return unavailable()
	}
	resp := apigw.JSON(202, rec)
	resp.Headers["Location"] = "/replays/" + rec.ID
	return resp
}

func (h *handler) getReplay(ctx context.Context, id string) events.APIGatewayV2HTTPResponse {
	rec, err := h.records.Get(ctx, id)
	if errors.Is(err, replay.ErrNotFound) {
		return apigw.ProblemResponse(apigw.Problem{Type: apigw.TypeNotFound, Title: "No such replay", Status: 404})
	}
	if err != nil {
		h.log.ErrorContext(ctx, "get replay failed", "replay_id", id, "error", err)
		return unavailable()
	}
	return apigw.JSON(200, rec)
}

func (h *handler) cancelReplay(ctx context.Context, id string) events.APIGatewayV2HTTPResponse {
	rec, err := h.records.Cancel(ctx, id, time.Now())
	if errors.Is(err, replay.ErrNotFound) {
		return apigw.ProblemResponse(apigw.Problem{Type: apigw.TypeNotFound, Title: "No such replay", Status: 404})
	}
	if err != nil {
		h.log.ErrorContext(ctx, "cancel replay failed", "replay_id", id, "error", err)
		return unavailable()
	}
	return apigw.JSON(202, rec)
}

// work goes on with a replay in this invocation, and hands it on to the next
// one when time runs out.
func (h *handler) work(ctx context.Context, id string) error {
	log := h.log.With("replay_id", id)
	before, _ := h.records.Get(ctx, id) // for the count of this run only
	rec, err := h.runner.Run(ctx, id)
	h.replayed(before, rec)
	switch {
	case errors.Is(err, replay.ErrPaused):
		log.InfoContext(ctx, "replay continues in a new invocation", "events", rec.Events)
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		return h.continuer.Continue(cctx, id)
	case err != nil:
		log.ErrorContext(ctx, "replay failed", "error", err)
		return nil // recorded as failed; retrying the invocation would not help
	}
	log.InfoContext(ctx, "replay finished", "state", rec.State, "events", rec.Events)
	return nil
}

// invoker routes a raw invocation: a replay worker event, or an HTTP API
// request.
type invoker struct {
	h   *handler
	api func(context.Context, []byte) ([]byte, error)
	log *slog.Logger
}

func (i invoker) Invoke(ctx context.Context, payload []byte) ([]byte, error) {
	var w replay.WorkerEvent
	if json.Unmarshal(payload, &w) == nil && w.ReplayID != "" {
		return []byte(`{}`), i.h.work(ctx, w.ReplayID)
	}
	return i.api(ctx, payload)
}
