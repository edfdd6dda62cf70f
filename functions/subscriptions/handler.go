package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/flowbus/flowbus/shared/apigw"
	"github.com/flowbus/flowbus/shared/authz"
	"github.com/flowbus/flowbus/shared/delivery"
	"github.com/flowbus/flowbus/shared/event"
	"github.com/flowbus/flowbus/shared/pattern"
	"github.com/flowbus/flowbus/shared/subscription"
	"github.com/flowbus/flowbus/shared/webhook"
)

// routes are the HTTP API routes this function serves; template.yaml must
// route exactly these here (checked by infra/template's tests).
var routes = []string{
	"POST /subscriptions",
	"GET /subscriptions",
	"GET /subscriptions/{name}",
	"PUT /subscriptions/{name}",
	"DELETE /subscriptions/{name}",
	"POST /subscriptions/{name}/rotate-secret",
	"GET /subscriptions/{name}/dead-letters",
	"POST /subscriptions/{name}/redrive",
	"POST /patterns/test",
	"GET /policies",
	"PUT /policies",
	"DELETE /policies",
}

// maxBody bounds a request body: a subscription's pattern (2,048
// characters) and template (8,192) with room for the rest, or a pattern test
// with its event (one event, ≤ 1 MiB).
const maxBody = event.MaxRecordBytes + 16<<10

// Store is what the handler asks of the subscription store.
type Store interface {
	Create(ctx context.Context, s subscription.Subscription) (subscription.Subscription, webhook.Secret, error)
	Get(ctx context.Context, name string) (subscription.Subscription, error)
	List(ctx context.Context, after string, limit int) (subscription.Page, error)
	Put(ctx context.Context, s subscription.Subscription) (subscription.Subscription, webhook.Secret, error)
	Delete(ctx context.Context, name string) error
	RotateSecret(ctx context.Context, name string, overlap time.Duration) (subscription.Subscription, webhook.Secret, time.Time, error)
}

// Deliveries is what the handler asks of the delivery side: a
// subscription's figures, its dead-letter entries and their redrive.
type Deliveries interface {
	Status(ctx context.Context, name string, now time.Time) (delivery.Status, error)
	List(ctx context.Context, name, after string, limit int) (delivery.DeadLetterPage, error)
	Redrive(ctx context.Context, name string) (sent int, more bool, err error)
	// Forget removes a subscription's figures and dead letters, so one
	// created again under its name starts empty.
	Forget(ctx context.Context, name string) (removed int, err error)
}

type handler struct {
	store      Store
	deliveries Deliveries // nil: no figures, dead letters or redrive
	policy     webhook.Policy
	lookup     webhook.LookupFunc // resolves target hosts at creation; nil: the default resolver
	log        *slog.Logger
	authz      *authz.Authorizer // nil in tests that are not about authorization
	policies   Policies          // nil: no policy routes (404)
}

// Policies is what the policy routes ask of the policy's store
// (authz.Store).
type Policies interface {
	List(ctx context.Context) ([]authz.Entry, error)
	Put(ctx context.Context, e authz.Entry) error
	Delete(ctx context.Context, principal string) error
}

// Handle serves the HTTP API routes.
func (h *handler) Handle(ctx context.Context, req events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error) {
	if p := apigw.CheckRoute(&req, routes); p != nil {
		return apigw.ProblemResponse(*p), nil
	}
	r := route(&req) // fills in the name of a hand-made event
	name := req.PathParameters["name"]
	if p := h.authorize(ctx, &req, r, name); p != nil {
		return apigw.ProblemResponse(*p), nil
	}
	switch r {
	case "POST /subscriptions":
		return h.create(ctx, &req), nil
	case "GET /subscriptions":
		return h.list(ctx, &req), nil
	case "GET /subscriptions/{name}":
		return h.get(ctx, name), nil
	case "PUT /subscriptions/{name}":
		return h.put(ctx, name, &req), nil
	case "DELETE /subscriptions/{name}":
		return h.delete(ctx, name), nil
	case "POST /subscriptions/{name}/rotate-secret":
		return h.rotate(ctx, name, &req), nil
	case "GET /subscriptions/{name}/dead-letters":
		return h.deadLetters(ctx, name, &req), nil
	case "POST /subscriptions/{name}/redrive":
		return h.redrive(ctx, name), nil
	case "POST /patterns/test":
		return h.testPattern(&req), nil
	case "GET /policies", "PUT /policies", "DELETE /policies":
		return h.policyRoute(ctx, r, &req), nil
	}
	return apigw.ProblemResponse(apigw.Problem{Type: apigw.TypeNotFound, Title: "No such route", Status: 404}), nil
}

// authorize checks the caller before anything is read or written: the
// subscription named in the path (Redrive for a redrive), any subscriptions
// grant for the list and pattern tests (the list then shows only the names
// granted), Admin for the policy. POST /subscriptions is checked in create,
// once the name is read from the body.
func (h *handler) authorize(ctx context.Context, req *events.APIGatewayV2HTTPRequest, r, name string) *apigw.Problem {
	if h.authz == nil {
		return nil
	}
	switch r {
	case "POST /subscriptions":
		return nil
	case "GET /subscriptions", "POST /patterns/test":
		if _, err := h.authz.CheckAny(ctx, authz.CallerOf(req.RequestContext), authz.Subscriptions); err != nil {
			p := apigw.AuthzProblem(err)
			return &p
		}
		return nil
	case "POST /subscriptions/{name}/redrive":
		return apigw.Authorize(ctx, h.authz, req, authz.Request{Action: authz.Redrive, Subscription: name})
	case "GET /policies", "PUT /policies", "DELETE /policies":
		return apigw.Authorize(ctx, h.authz, req, authz.Request{Action: authz.Admin})
	}
	return apigw.Authorize(ctx, h.authz, req, authz.Request{Action: authz.Subscriptions, Subscription: name})
}

// route is the request's route key; a hand-made event without one is
// routed by its method and path.
func route(req *events.APIGatewayV2HTTPRequest) string {
	if req.RouteKey != "" && req.RouteKey != "$default" {
		return req.RouteKey
	}
	method := req.RequestContext.HTTP.Method
	path := strings.Trim(req.RawPath, "/")
	if path == "" {
		path = strings.Trim(req.RequestContext.HTTP.Path, "/")
	}
	segs := strings.Split(path, "/")
	switch {
	case len(segs) == 2 && segs[0] == "patterns" && segs[1] == "test":
		return method + " /patterns/test"
	case len(segs) == 1 && segs[0] == "policies":
		return method + " /policies"
	case len(segs) == 1 && segs[0] == "subscriptions":
		return method + " /subscriptions"
	case len(segs) == 2 && segs[0] == "subscriptions":
		if req.PathParameters == nil {
			req.PathParameters = map[string]string{}
		}
		if req.PathParameters["name"] == "" {
			req.PathParameters["name"], _ = url.PathUnescape(segs[1])
		}
		return method + " /subscriptions/{name}"
	case len(segs) == 3 && segs[0] == "subscriptions" && (segs[2] == "rotate-secret" || segs[2] == "dead-letters" || segs[2] == "redrive"):
		if req.PathParameters == nil {
			req.PathParameters = map[string]string{}
		}
		if req.PathParameters["name"] == "" {
			req.PathParameters["name"], _ = url.PathUnescape(segs[1])
		}
		return method + " /subscriptions/{name}/" + segs[2]
	}
	return ""
}

// view is a subscription as the API shows it; Secret only in the answer
// that created it.
type view struct {
	subscription.Subscription
	Secret string `json:"secret,omitempty"`
}

func show(s subscription.Subscription, sec webhook.Secret) view {
	v := view{Subscription: s}
	if !sec.IsZero() {
		v.Secret = sec.String()
	}
	return v
}

// body reads a JSON request body: 415 for another media type.
func body(req *events.APIGatewayV2HTTPRequest) ([]byte, *apigw.Problem) {
	b, p := apigw.Body(req, maxBody)
	if p != nil {
		return nil, p
	}
	ct := apigw.Header(req, "content-type")
	if ct == "" {
		return b, nil
	}
	mt, params, err := mime.ParseMediaType(ct)
	jsonBody := len(bytes.TrimSpace(b)) > 0 && bytes.TrimSpace(b)[0] == '{'
	switch {
	case err != nil:
	case params["charset"] != "" && !strings.EqualFold(params["charset"], "utf-8"):
	case mt == "application/json", mt == "application/x-www-form-urlencoded" && jsonBody:
		return b, nil
	}
	return nil, &apigw.Problem{Type: apigw.TypeMediaType, Title: "Unsupported media type", Status: 415, Detail: "send application/json (utf-8)"}
}

func invalid(err error) events.APIGatewayV2HTTPResponse {
	var ve *subscription.ValidationError
	if errors.As(err, &ve) {
		return apigw.ProblemResponse(apigw.Problem{Type: apigw.TypeInvalidRequest, Title: "Invalid subscription", Status: 400, Errors: ve.Fields})
	}
	return apigw.ProblemResponse(apigw.Problem{Type: apigw.TypeInvalidRequest, Title: "Invalid subscription", Status: 400})
}

// failed maps a store error to its answer, in one place.
func (h *handler) failed(ctx context.Context, name string, err error) events.APIGatewayV2HTTPResponse {
	switch {
	case errors.Is(err, subscription.ErrNotFound):
		return apigw.ProblemResponse(apigw.Problem{Type: apigw.TypeNotFound, Title: "No such subscription", Status: 404, Detail: "no subscription is named " + strconv.Quote(name)})
	case errors.Is(err, subscription.ErrExists):
		return apigw.ProblemResponse(apigw.Problem{Type: apigw.TypeConflict, Title: "Name taken", Status: 409, Detail: "a subscription named " + strconv.Quote(name) + " exists; PUT /subscriptions/" + name + " replaces it"})
	case errors.Is(err, subscription.ErrConflict):
		return apigw.ProblemResponse(apigw.Problem{Type: apigw.TypeConflict, Title: "Version conflict", Status: 409, Detail: "the subscription changed since that version was read; GET it and try again"})
	case errors.Is(err, subscription.ErrLimit):
		var le *subscription.LimitError
		errors.As(err, &le)
		detail := "this deployment holds " + strconv.Itoa(le.Limit) + " subscriptions, its limit (FLOWBUS_MAX_SUBSCRIPTIONS); delete one first"
		if le.Owner != "" {
			detail = le.Owner + " created " + strconv.Itoa(le.Limit) + " subscriptions, the limit per caller (FLOWBUS_MAX_SUBSCRIPTIONS_PER_CALLER); delete one first"
		}
		return apigw.ProblemResponse(apigw.Problem{Type: apigw.TypeConflict, Title: "Subscription limit reached", Status: 409, Limit: le.Limit, Detail: detail})
	case errors.Is(err, subscription.ErrNoSecret):
		return apigw.ProblemResponse(apigw.Problem{Type: apigw.TypeConflict, Title: "No secret", Status: 409, Detail: "only http targets have a secret to rotate"})
	}
	h.log.ErrorContext(ctx, "subscription store failed", "name", name, "error", err)
	return apigw.ProblemResponse(apigw.Problem{Type: apigw.TypeUnavailable, Title: "Subscription store unavailable", Status: 503, Detail: "try again"})
}

// parse reads and validates a subscription body.
func (h *handler) parse(req *events.APIGatewayV2HTTPRequest) (subscription.Subscription, *events.APIGatewayV2HTTPResponse) {
	b, p := body(req)
	if p != nil {
		resp := apigw.ProblemResponse(*p)
		return subscription.Subscription{}, &resp
	}
	s, err := subscription.Parse(b)
	if err == nil {
		err = s.Validate(h.policy)
	}
	if err != nil {
		resp := invalid(err)
		return subscription.Subscription{}, &resp
	}
	return s, nil
}

// resolved refuses an http target whose host resolves to an address the
// policy refuses (webhook.Policy.CheckResolved), on target.url.
func (h *handler) resolved(ctx context.Context, s subscription.Subscription) *events.APIGatewayV2HTTPResponse {
	if s.Target.Type != subscription.TargetHTTP {
		return nil
	}
	var fe *webhook.FieldError
	if err := h.policy.CheckResolved(ctx, h.lookup, s.Target.URL); errors.As(err, &fe) {
		resp := invalid(&subscription.ValidationError{Fields: []event.FieldError{{Field: fe.Field, Reason: fe.Reason}}})
		return &resp
	}
	return nil
}

func (h *handler) create(ctx context.Context, req *events.APIGatewayV2HTTPRequest) events.APIGatewayV2HTTPResponse {
	s, bad := h.parse(req)
	if bad != nil {
		return *bad
	}
	if bad := h.resolved(ctx, s); bad != nil {
		return *bad
	}
	if s.Version != 0 {
		return invalid(&subscription.ValidationError{Fields: []event.FieldError{{Field: "version", Reason: "is set by flowbus; leave it out when creating"}}})
	}
	// A subscription receives what its pattern matches: creating one asks
	// to read that too.
	asks := append([]authz.Request{{Action: authz.Subscriptions, Subscription: s.Name}}, authz.SubscriptionReads(s.Pattern)...)
	if p := apigw.Authorize(ctx, h.authz, req, asks...); p != nil {
		return apigw.ProblemResponse(*p)
	}
	// The owner is who asked, whatever the body says: the per-caller limit
	// counts it.
	s.Owner = authz.CallerOf(req.RequestContext).ID
	created, sec, err := h.store.Create(ctx, s)
	if err != nil {
		return h.failed(ctx, s.Name, err)
	}
	// What a deleted predecessor of the same name left (a delete that
	// could not finish forgetting) is not this one's.
	h.forgetDeliveries(ctx, created.Name)
	resp := apigw.JSON(http.StatusCreated, show(created, sec))
	resp.Headers["Location"] = "/subscriptions/" + created.Name
	return resp
}

func (h *handler) list(ctx context.Context, req *events.APIGatewayV2HTTPRequest) events.APIGatewayV2HTTPResponse {
	q := req.QueryStringParameters
	var fields []event.FieldError
	limit := subscription.DefaultPageSize
	if v, ok := q["limit"]; ok {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > subscription.MaxPageSize {
			fields = append(fields, event.FieldError{Field: "limit", Reason: "must be an integer from 1 to the limit", Limit: subscription.MaxPageSize})
		}
		limit = n
	}
	after := q["after"]
	if after != "" && !subscription.ValidName(after) {
		fields = append(fields, event.FieldError{Field: "after", Reason: "must be a subscription name, the next of a previous page"})
	}
	if len(fields) > 0 {
		return apigw.ProblemResponse(apigw.Problem{Type: apigw.TypeInvalidRequest, Title: "Invalid query", Status: 400, Errors: fields})
	}
	page, err := h.store.List(ctx, after, limit)
	if err != nil {
		return h.failed(ctx, "", err)
	}
	out := struct {
		Subscriptions []view  `json:"subscriptions"`
		Next          *string `json:"next"`
	}{Subscriptions: []view{}}
	// Only the subscriptions the caller may manage (authorize checked it
	// has some grant); next stays the store's, so paging goes on.
	var pol *authz.Policy
	caller := authz.CallerOf(req.RequestContext)
	if h.authz != nil {
		if pol, err = h.authz.Policy(ctx); err != nil {
			return apigw.ProblemResponse(apigw.AuthzProblem(err))
		}
	}
	for _, s := range page.Subscriptions {
		if pol != nil && !pol.Allowed(caller, authz.Request{Action: authz.Subscriptions, Subscription: s.Name}) {
			continue
		}
		out.Subscriptions = append(out.Subscriptions, show(s, webhook.Secret{}))
	}
	resp := apigw.JSON(http.StatusOK, out)
	if page.Next != "" {
		out.Next = &page.Next
		resp = apigw.JSON(http.StatusOK, out)
		resp.Headers["Link"] = "</subscriptions?after=" + url.QueryEscape(page.Next) + "&limit=" + strconv.Itoa(limit) + ">; rel=\"next\""
	}
	return resp
}

func (h *handler) get(ctx context.Context, name string) events.APIGatewayV2HTTPResponse {
	s, err := h.store.Get(ctx, name)
	if err != nil {
		return h.failed(ctx, name, err)
	}
	out := struct {
		view
		Status *delivery.Status `json:"status,omitempty"`
	}{view: show(s, webhook.Secret{})}
	if h.deliveries != nil {
		// The figures are best effort: the subscription is shown without them.
		if st, err := h.deliveries.Status(ctx, name, time.Now()); err != nil {
			h.log.WarnContext(ctx, "delivery status unavailable", "name", name, "error", err)
		} else {
			out.Status = &st
		}
	}
	return apigw.JSON(http.StatusOK, out)
}

// deadLetters serves GET /subscriptions/{name}/dead-letters: a page of its
// dead-letter entries, oldest first (?limit=, ?after= the previous next).
func (h *handler) deadLetters(ctx context.Context, name string, req *events.APIGatewayV2HTTPRequest) events.APIGatewayV2HTTPResponse {
	if _, err := h.store.Get(ctx, name); err != nil {
		return h.failed(ctx, name, err)
	}
	q := req.QueryStringParameters
	limit := delivery.DefaultDeadLetterPage
	if v, ok := q["limit"]; ok {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > delivery.MaxDeadLetterPage {
			return apigw.ProblemResponse(apigw.Problem{Type: apigw.TypeInvalidRequest, Title: "Invalid query", Status: 400,
				Errors: []event.FieldError{{Field: "limit", Reason: "must be an integer from 1 to the limit", Limit: delivery.MaxDeadLetterPage}}})
		}
		limit = n
	}
	if h.deliveries == nil {
		return apigw.ProblemResponse(apigw.Problem{Type: apigw.TypeUnavailable, Title: "Deliveries unavailable", Status: 503, Detail: "try again"})
	}
	page, err := h.deliveries.List(ctx, name, q["after"], limit)
	if errors.Is(err, delivery.ErrBadCursor) {
		return apigw.ProblemResponse(apigw.Problem{Type: apigw.TypeInvalidRequest, Title: "Invalid query", Status: 400,
			Errors: []event.FieldError{{Field: "after", Reason: "must be the next of a previous page"}}})
	}
	if err != nil {
		return h.failed(ctx, name, err)
	}
	resp := apigw.JSON(http.StatusOK, page)
	if page.Next != "" {
		resp.Headers["Link"] = "</subscriptions/" + url.PathEscape(name) + "/dead-letters?after=" + url.QueryEscape(page.Next) + "&limit=" + strconv.Itoa(limit) + ">; rel=\"next\""
	}
	return resp
}

// redrive serves POST /subscriptions/{name}/redrive: its dead-lettered
// events go back to the delivery queue in their order (up to
// delivery.MaxRedrive per call; more says to call again).
func (h *handler) redrive(ctx context.Context, name string) events.APIGatewayV2HTTPResponse {
	if _, err := h.store.Get(ctx, name); err != nil {
		return h.failed(ctx, name, err)
	}
	if h.deliveries == nil {
		return apigw.ProblemResponse(apigw.Problem{Type: apigw.TypeUnavailable, Title: "Deliveries unavailable", Status: 503, Detail: "try again"})
	}
	sent, more, err := h.deliveries.Redrive(ctx, name)
	if err != nil && sent == 0 {
		return h.failed(ctx, name, err)
	}
	if err != nil {
		h.log.WarnContext(ctx, "redrive stopped", "name", name, "sent", sent, "error", err)
	}
	return apigw.JSON(http.StatusAccepted, struct {
		Redriven int  `json:"redriven"`
		More     bool `json:"more"`
	}{sent, more})
}

func (h *handler) put(ctx context.Context, name string, req *events.APIGatewayV2HTTPRequest) events.APIGatewayV2HTTPResponse {
	b, p := body(req)
	if p != nil {
		return apigw.ProblemResponse(*p)
	}
	s, err := subscription.Parse(b)
	if err != nil {
		return invalid(err)
	}
	switch {
	case s.Name == "":
		s.Name = name
	case s.Name != name:
		return invalid(&subscription.ValidationError{Fields: []event.FieldError{{Field: "name", Reason: "must be the name in the path (" + name + "); a subscription cannot be renamed"}}})
	}
	if err := s.Validate(h.policy); err != nil {
		return invalid(err)
	}
	if bad := h.resolved(ctx, s); bad != nil {
		return *bad
	}
	// The name was authorized before the body was read; the new pattern
	// asks to read what it matches.
	if p := apigw.Authorize(ctx, h.authz, req, authz.SubscriptionReads(s.Pattern)...); p != nil {
		return apigw.ProblemResponse(*p)
	}
	put, sec, err := h.store.Put(ctx, s)
	if err != nil {
		return h.failed(ctx, name, err)
	}
	return apigw.JSON(http.StatusOK, show(put, sec))
}

func (h *handler) delete(ctx context.Context, name string) events.APIGatewayV2HTTPResponse {
	if err := h.store.Delete(ctx, name); err != nil {
		return h.failed(ctx, name, err)
	}
	h.forgetDeliveries(ctx, name)
	return events.APIGatewayV2HTTPResponse{StatusCode: http.StatusNoContent}
}

// forgetDeliveries removes a subscription name's figures and dead letters. A failure
// leaves them for the next create or delete of the name, which tries again:
// it is logged, not answered.
func (h *handler) forgetDeliveries(ctx context.Context, name string) {
	if h.deliveries == nil {
		return
	}
	n, err := h.deliveries.Forget(ctx, name)
	if err != nil {
		h.log.WarnContext(ctx, "figures and dead letters of a deleted subscription not all removed", "subscription", name, "removed", n, "error", err)
		return
	}
	if n > 0 {
		h.log.InfoContext(ctx, "figures and dead letters of a deleted subscription removed", "subscription", name, "removed", n)
	}
}

func (h *handler) rotate(ctx context.Context, name string, req *events.APIGatewayV2HTTPRequest) events.APIGatewayV2HTTPResponse {
	overlap := subscription.DefaultRotationOverlap
	if v, ok := req.QueryStringParameters["overlap_seconds"]; ok {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 || n > int(subscription.MaxEventAge/time.Second) {
			return apigw.ProblemResponse(apigw.Problem{Type: apigw.TypeInvalidRequest, Title: "Invalid query", Status: 400,
				Errors: []event.FieldError{{Field: "overlap_seconds", Reason: "must be an integer from 0 to the limit (default 86400)", Limit: int(subscription.MaxEventAge / time.Second)}}})
		}
		overlap = time.Duration(n) * time.Second
		if n == 0 {
			overlap = time.Nanosecond // the old secret stops at once
		}
	}
	s, sec, until, err := h.store.RotateSecret(ctx, name, overlap)
	if err != nil {
		return h.failed(ctx, name, err)
	}
	out := struct {
		view
		PreviousSecretExpires *time.Time `json:"previous_secret_expires,omitempty"`
	}{view: show(s, sec)}
	if !until.IsZero() {
		out.PreviousSecretExpires = &until
	}
	return apigw.JSON(http.StatusOK, out)
}

// testPattern serves POST /patterns/test.
func (h *handler) testPattern(req *events.APIGatewayV2HTTPRequest) events.APIGatewayV2HTTPResponse {
	b, p := body(req)
	if p != nil {
		return apigw.ProblemResponse(*p)
	}
	bad := func(fields ...event.FieldError) events.APIGatewayV2HTTPResponse {
		return apigw.ProblemResponse(apigw.Problem{Type: apigw.TypeInvalidRequest, Title: "Invalid pattern test", Status: 400, Errors: fields})
	}
	var in struct {
		Pattern json.RawMessage `json:"pattern"`
		Event   json.RawMessage `json:"event"`
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&in); err != nil {
		return bad(event.FieldError{Field: "", Reason: "must be {\"pattern\": {…}, \"event\": {…}}: " + strings.TrimPrefix(err.Error(), "json: ")})
	}
	var fields []event.FieldError
	if len(in.Pattern) == 0 {
		fields = append(fields, event.FieldError{Field: "pattern", Reason: "is required"})
	}
	if t := bytes.TrimSpace(in.Event); len(t) == 0 || t[0] != '{' {
		fields = append(fields, event.FieldError{Field: "event", Reason: "must be a JSON object"})
	}
	if len(fields) > 0 {
		return bad(fields...)
	}
	res, err := pattern.Test(string(in.Pattern), in.Event)
	var pe *pattern.Error
	switch {
	case errors.As(err, &pe):
		field := "pattern"
		if pe.Field != "" {
			field += "." + pe.Field
		}
		return bad(event.FieldError{Field: field, Reason: pe.Reason, Limit: pe.Limit})
	case err != nil:
		return bad(event.FieldError{Field: "event", Reason: "must be a JSON object"})
	}
	out := struct {
		Match  bool   `json:"match"`
		Field  string `json:"field,omitempty"`
		Reason string `json:"reason,omitempty"`
	}{Match: res.Match, Field: res.Field, Reason: res.Reason}
	return apigw.JSON(http.StatusOK, out)
}
