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
	"github.com/flowbus/flowbus/shared/authz"
	"github.com/flowbus/flowbus/shared/bus"
	"github.com/flowbus/flowbus/shared/event"
	"github.com/flowbus/flowbus/shared/replay"
	"github.com/flowbus/flowbus/shared/subscription"
)

// inlineBudget is how long POST /replays works on a one-workflow replay
// before answering 202 and going on in another invocation (API Gateway
// gives up on an integration after 30 s).
const inlineBudget = 20 * time.Second

// firstPageBudget is how long POST /replays works on a window replay, past
// the runner's margin, before answering 202: its first page.
const firstPageBudget = 3 * time.Second

// maxSpecBytes bounds a replay request's body.
const maxSpecBytes = 64 << 10

// TypeReplayFailed is the problem type of a replay that failed as it started.
const TypeReplayFailed = "https://flowbus.dev/problems/replay-failed"

// runnerMargin is how long before its deadline the runner stops.
func (h *handler) runnerMargin() time.Duration {
	if h.runner.Margin > 0 {
		return h.runner.Margin
	}
	return 5 * time.Second
}

// startReplay serves POST /replays.
func (h *handler) startReplay(ctx context.Context, req events.APIGatewayV2HTTPRequest) events.APIGatewayV2HTTPResponse {
	body, p := apigw.Body(&req, maxSpecBytes)
	if p != nil {
		return apigw.ProblemResponse(*p)
	}
	if mt, p := apigw.ParseMediaType(apigw.Header(&req, "content-type"), body); p != nil || mt != apigw.MediaJSON {
		return apigw.ProblemResponse(apigw.Problem{Type: apigw.TypeMediaType, Title: "Unsupported media type", Status: 415,
			Detail: "send the replay request as application/json (utf-8)"})
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
	if p := apigw.Authorize(ctx, h.authz, &req, replayRequests(spec)...); p != nil {
		return apigw.ProblemResponse(*p)
	}
	if spec.Target.Subscription != "" {
		if resp, bad := h.checkSubscription(ctx, spec.Target.Subscription); bad {
			return resp
		}
	}
	rec, err := h.records.Create(ctx, spec, time.Now())
	if err != nil {
		h.log.ErrorContext(ctx, "create replay failed", "error", err)
		return unavailable()
	}
	log := h.log.With("replay_id", rec.ID)
	// One workflow: usually done before the answer. A window across
	// workflows runs its first page here too, so that a replay that cannot
	// start (its target stream refuses it) fails in this answer, not later.
	budget, pages := inlineBudget, 0
	if spec.WorkflowID == "" {
		budget, pages = h.runnerMargin()+firstPageBudget, 1
	}
	bctx, cancel := context.WithTimeout(ctx, budget)
	done, err := h.runner.RunPages(bctx, rec.ID, pages)
	cancel()
	h.replayed(nil, done)
	switch {
	case err == nil && spec.WorkflowID != "":
		log.InfoContext(ctx, "replay done", "events", done.Events)
		return apigw.JSON(200, done)
	case err == nil: // a window done in its first page
		log.InfoContext(ctx, "replay done", "events", done.Events)
		resp := apigw.JSON(200, done)
		resp.Headers["Location"] = "/replays/" + rec.ID
		return resp
	case !errors.Is(err, replay.ErrPaused):
		log.ErrorContext(ctx, "replay failed", "error", err)
		return failed(done, err)
	}
	rec = done
	if err := h.continuer.Continue(ctx, rec.ID); err != nil {
		log.ErrorContext(ctx, "could not start the replay worker", "error", err)
		return unavailable()
	}
	resp := apigw.JSON(202, rec)
	resp.Headers["Location"] = "/replays/" + rec.ID
	return resp
}

// replayRequests are what a replay asks of the policy: replay of its
// workflow ("*" for a window across workflows) and types, to its target
// subscription if any; a target stream other than the bus is the admin's.
func replayRequests(spec replay.Spec) []authz.Request {
	wf := spec.WorkflowID
	if wf == "" {
		wf = "*"
	}
	rs := []authz.Request{{Action: authz.Replay, Workflow: wf, Types: spec.Types, Subscription: spec.Target.Subscription}}
	if spec.Target.Stream != "" {
		rs = append(rs, authz.Request{Action: authz.Admin})
	}
	return rs
}

// checkSubscription answers a replay aimed at a subscription that cannot
// take it: 404 when there is no such subscription, 409 when it is disabled,
// 422 when this deployment has no delivery queue.
func (h *handler) checkSubscription(ctx context.Context, name string) (events.APIGatewayV2HTTPResponse, bool) {
	if h.subs == nil || h.runner.Enqueuer == nil {
		return apigw.ProblemResponse(apigw.Problem{Type: TypeReplayFailed, Title: "Replay target unavailable", Status: 422,
			Detail: "this deployment has no delivery queue (FLOWBUS_DELIVERY_QUEUE): replays cannot go to a subscription",
			Errors: []event.FieldError{{Field: "target.subscription", Reason: "cannot be served without a delivery queue"}}}), true
	}
	sub, err := h.subs.Get(ctx, name)
	switch {
	case errors.Is(err, subscription.ErrNotFound):
		return apigw.ProblemResponse(apigw.Problem{Type: apigw.TypeNotFound, Title: "No such subscription", Status: 404,
			Detail: "the replay's target subscription does not exist",
			Errors: []event.FieldError{{Field: "target.subscription", Reason: "names no subscription"}}}), true
	case err != nil:
		h.log.ErrorContext(ctx, "get subscription failed", "subscription", name, "error", err)
		return unavailable(), true
	case sub.State != subscription.Enabled:
		return apigw.ProblemResponse(apigw.Problem{Type: apigw.TypeConflict, Title: "Subscription disabled", Status: 409,
			Detail: "enable the subscription (PUT /subscriptions/" + name + " with state enabled) before replaying to it",
			Errors: []event.FieldError{{Field: "target.subscription", Reason: "is " + string(sub.State)}}}), true
	}
	return events.APIGatewayV2HTTPResponse{}, false
}

// failed answers a replay that failed as it started: 422 naming the target
// stream when the stream refused the events (missing, not a stream, not
// allowed), 503 when it could not be reached or the events could not be
// read. The body is problem+json with the failed record as "replay".
func failed(rec *replay.Record, err error) events.APIGatewayV2HTTPResponse {
	p := apigw.Problem{Type: apigw.TypeUnavailable, Title: "Replay failed", Status: 503,
		Detail: "the replay failed as it started; send it again later"}
	var berr *bus.Error
	if errors.Is(err, replay.ErrTargetGone) { // deleted or disabled since the check
		p = apigw.Problem{Type: apigw.TypeConflict, Title: "Replay target gone", Status: 409,
			Detail: "the target subscription was deleted or disabled as the replay started",
			Errors: []event.FieldError{{Field: "target.subscription", Reason: "is deleted or disabled"}}}
	} else if errors.As(err, &berr) && berr.Code == bus.CodeStreamError {
		stream := "the bus stream"
		if rec != nil && rec.Spec.Target.Stream != "" {
			stream = rec.Spec.Target.Stream
		}
		p = apigw.Problem{Type: TypeReplayFailed, Title: "Replay target refused", Status: 422,
			Detail: "stream " + stream + " refused the replayed events: it does not exist or this function may not write to it",
			Errors: []event.FieldError{{Field: "target.stream", Reason: "refused the replayed events (" + berr.Message + ")"}}}
	}
	body, _ := json.Marshal(struct {
		apigw.Problem
		Replay *replay.Record `json:"replay,omitempty"`
	}{p, rec}) // a problem and a record always marshal
	return events.APIGatewayV2HTTPResponse{StatusCode: p.Status, Headers: map[string]string{"Content-Type": apigw.ContentTypeProblem}, Body: string(body)}
}

// badID answers a replay id of a form Create never gives, without a lookup.
func badID(id string) (events.APIGatewayV2HTTPResponse, bool) {
	if replay.ValidID(id) {
		return events.APIGatewayV2HTTPResponse{}, false
	}
	return apigw.ProblemResponse(apigw.Problem{Type: apigw.TypeNotFound, Title: "No such replay", Status: 404,
		Detail: "replay ids are 26-character ULIDs, as POST /replays gives them",
		Errors: []event.FieldError{{Field: "replay_id", Reason: "is not a replay id", Limit: replay.IDLength}}}), true
}

// record reads replay id for a caller who may replay what it replays: the
// record, or the answer to give instead.
func (h *handler) record(ctx context.Context, req *events.APIGatewayV2HTTPRequest, id string) (*replay.Record, *events.APIGatewayV2HTTPResponse) {
	if resp, bad := badID(id); bad {
		return nil, &resp
	}
	rec, err := h.records.Get(ctx, id)
	if errors.Is(err, replay.ErrNotFound) {
		resp := apigw.ProblemResponse(apigw.Problem{Type: apigw.TypeNotFound, Title: "No such replay", Status: 404})
		return nil, &resp
	}
	if err != nil {
		h.log.ErrorContext(ctx, "get replay failed", "replay_id", id, "error", err)
		resp := unavailable()
		return nil, &resp
	}
	if p := apigw.Authorize(ctx, h.authz, req, replayRequests(rec.Spec)...); p != nil {
		resp := apigw.ProblemResponse(*p)
		return nil, &resp
	}
	return rec, nil
}

func (h *handler) getReplay(ctx context.Context, req *events.APIGatewayV2HTTPRequest, id string) events.APIGatewayV2HTTPResponse {
	rec, resp := h.record(ctx, req, id)
	if resp != nil {
		return *resp
	}
	return apigw.JSON(200, rec)
}

func (h *handler) cancelReplay(ctx context.Context, req *events.APIGatewayV2HTTPRequest, id string) events.APIGatewayV2HTTPResponse {
	if _, resp := h.record(ctx, req, id); resp != nil {
		return *resp
	}
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
