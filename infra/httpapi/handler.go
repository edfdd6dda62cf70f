package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"slices"
	"sort"
	"time"

	"github.com/flowbus/flowbus/infra/lambdarun"
)

// MaxBodyBytes is API Gateway's request payload limit.
const MaxBodyBytes = 10 << 20

// BodyTimeout bounds the time a request's body takes to arrive, as API
// Gateway does not wait on a client without end (its integration timeout is
// 30 s); a body still arriving then is answered 408 and the connection
// closed.
const BodyTimeout = 30 * time.Second

// handler is the local HTTP API.
type handler struct {
	routes      []*route // most specific first
	def         *route   // the $default route, if any
	log         *slog.Logger
	bodyTimeout time.Duration
}

// New returns the HTTP API serving routes. It refuses routes API Gateway
// would refuse: bad methods or paths, two routes that match the same
// requests.
func New(routes []Route, log *slog.Logger) (http.Handler, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	h := &handler{log: log, bodyTimeout: BodyTimeout}
	var errs []error
	shapes := map[string]string{}
	for _, r := range routes {
		rt, err := compile(r)
		if err != nil {
			errs = append(errs, fmt.Errorf("route %s %s: %w", r.Method, r.Path, err))
			continue
		}
		if other, dup := shapes[rt.shape()]; dup {
			errs = append(errs, fmt.Errorf("route %s: matches the same requests as %s", rt.key, other))
			continue
		}
		shapes[rt.shape()] = rt.key
		if rt.key == DefaultRoute {
			h.def = rt
		} else {
			h.routes = append(h.routes, rt)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	sort.SliceStable(h.routes, func(i, j int) bool { return h.routes[i].moreSpecific(h.routes[j]) })
	return h, nil
}

// route picks the request's route as API Gateway does.
func (h *handler) route(r *http.Request) (*route, map[string]string) {
	raw := splitPath(r.URL.EscapedPath())
	for _, rt := range h.routes {
		if params, ok := rt.match(r.Method, raw); ok {
			return rt, params
		}
	}
	return h.def, nil
}

// allowed lists the methods routes take on the request's path, for a
// request no route took: none when the path itself is unknown.
func (h *handler) allowed(r *http.Request) []string {
	raw := splitPath(r.URL.EscapedPath())
	var out []string
	for _, rt := range h.routes {
		if _, ok := rt.match(rt.Method, raw); ok && !slices.Contains(out, rt.Method) {
			out = append(out, rt.Method)
		}
	}
	sort.Strings(out)
	return out
}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	requestID := newRequestID()
	w.Header().Set("Apigw-Requestid", requestID)
	attrs := []any{"method", r.Method, "path", r.URL.EscapedPath(), "request_id", requestID}

	rt, params := h.route(r)
	if rt == nil {
		res := notFound(r)
		if allow := h.allowed(r); len(allow) > 0 {
			res = methodNotAllowed(r, allow)
		}
		res.write(w)
		h.log.Info("request", append(attrs, "status", res.status, "duration", time.Since(start))...)
		return
	}
	attrs = append(attrs, "route", rt.key, "function", rt.FunctionName)
	var auth *jwtContext
	if rt.Authorizer != nil {
		var err error
		if auth, err = rt.Authorizer.Authorize(r.Context(), r.Header.Get("Authorization")); err != nil {
			res := unauthorized(err)
			res.write(w)
			// The reason, never the token.
			h.log.Info("request", append(attrs, "status", res.status, "duration", time.Since(start), "unauthorized", err.Error())...)
			return
		}
		attrs = append(attrs, "caller", auth.JWT.Claims["sub"])
	}
	body, err := h.readBody(w, r)
	if err != nil {
		var res response
		switch {
		case errors.Is(err, errTooLarge):
			res = bodyTooLarge
		case errors.Is(err, os.ErrDeadlineExceeded):
			res = bodyTimeout
		default:
			res = badRequest
		}
		res.write(w)
		h.log.Info("request", append(attrs, "status", res.status, "duration", time.Since(start), "err", err)...)
		return
	}
	payload, err := json.Marshal(newEvent(r, rt, params, body, requestID, start, auth))
	if err != nil { // an event of strings always marshals
		internalError.write(w)
		h.log.Error("request", append(attrs, "status", http.StatusInternalServerError, "err", err)...)
		return
	}

	res, attrs := h.invoke(r.Context(), rt, payload, attrs)
	res.write(w)
	h.log.Info("request", append(attrs, "status", res.status, "duration", time.Since(start))...)
}

// invoke runs the route's function and maps the outcome as API Gateway
// does. The invocation is not tied to the client: as on AWS, a function
// runs on when the client goes away or the integration times out.
func (h *handler) invoke(ctx context.Context, rt *route, payload []byte, attrs []any) (response, []any) {
	type outcome struct {
		res lambdarun.Result
		err error
	}
	done := make(chan outcome, 1)
	ctx = context.WithoutCancel(ctx)
	go func() {
		res, err := rt.Function.Invoke(ctx, payload)
		done <- outcome{res, err}
	}()
	timer := time.NewTimer(rt.Timeout)
	defer timer.Stop()
	var o outcome
	select {
	case o = <-done:
	case <-timer.C:
		attrs = slices.Clip(attrs) // appended to by two goroutines from here
		go func() {
			o := <-done
			h.log.Info("invocation ended after its integration timed out",
				append(attrs, "outcome", o.res.Outcome(), "lambda_request_id", o.res.RequestID, "err", o.err)...)
		}()
		return integrationTimeout, append(attrs, "err", fmt.Sprintf("integration timeout %v", rt.Timeout))
	}
	if errors.Is(o.err, lambdarun.ErrPayloadTooLarge) {
		return payloadTooLarge, append(attrs, "err", o.err)
	}
	if o.err != nil {
		return internalError, append(attrs, "err", o.err)
	}
	attrs = append(attrs, "lambda_request_id", o.res.RequestID, "outcome", o.res.Outcome(),
		"function_duration", o.res.Duration, "billed", o.res.Billed)
	if len(o.res.Logs) > 0 {
		h.log.Debug("function logs", "function", rt.FunctionName, "lambda_request_id", o.res.RequestID, "logs", string(o.res.Logs))
	}
	if o.res.FunctionError != "" {
		return badGateway, append(attrs, "error_type", o.res.ErrorType)
	}
	res, err := mapResponse(o.res.Payload)
	if err != nil {
		return badGateway, append(attrs, "err", err)
	}
	return res, attrs
}

var errTooLarge = errors.New("body over 10 MB")

// readBody reads the whole body, refusing one over API Gateway's limit or
// one that takes longer than the body timeout to arrive.
func (h *handler) readBody(w http.ResponseWriter, r *http.Request) ([]byte, error) {
	if r.ContentLength > MaxBodyBytes {
		return nil, errTooLarge
	}
	// The deadline stays when the body is refused, so that what is left of
	// it is not waited for either; the connection closes after the answer.
	rc := http.NewResponseController(w)
	deadline := rc.SetReadDeadline(time.Now().Add(h.bodyTimeout)) == nil
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxBodyBytes))
	var tooBig *http.MaxBytesError
	if errors.As(err, &tooBig) {
		return nil, errTooLarge
	}
	if err != nil {
		return nil, fmt.Errorf("read body: %w", err)
	}
	if deadline {
		_ = rc.SetReadDeadline(time.Time{})
	}
	return body, nil
}
