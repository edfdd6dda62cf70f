package httpapi

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"strings"
	"time"

	"github.com/flowbus/flowbus/infra/lambdarun"
)

// Invoker runs a Lambda function synchronously; *lambdarun.Function is one.
type Invoker interface {
	Invoke(ctx context.Context, payload []byte) (lambdarun.Result, error)
}

// DefaultRoute is the Path of the route that catches what no other route
// matches.
const DefaultRoute = "$default"

// API Gateway's integration timeout (TimeoutInMillis) bounds.
const (
	MaxTimeout = 30 * time.Second
	MinTimeout = 50 * time.Millisecond
)

// Route sends the requests that match Method and Path to Function.
type Route struct {
	// Method is GET, POST, PUT, PATCH, DELETE, HEAD, OPTIONS, or ANY for
	// every method without a route of its own on the same path.
	Method string
	// Path is "/events", "/workflows/{workflow_id}/events" (a path
	// parameter is one segment), "/{proxy+}" (a greedy one, last, one or
	// more segments), or DefaultRoute.
	Path         string
	Function     Invoker
	FunctionName string // for logs
	// Authorizer checks the route's callers' tokens; nil lets every
	// request in (a route without an authorizer).
	Authorizer *JWTAuthorizer
	// Timeout is the integration timeout, past which API Gateway answers
	// 503 while the function runs on; 0 means API Gateway's 30 s, the most
	// it allows.
	Timeout time.Duration
}

type segmentKind int

const (
	literal segmentKind = iota
	param
	greedy
)

type segment struct {
	kind segmentKind
	text string // the literal, or the parameter's name
}

// route is a Route ready to match requests.
type route struct {
	Route
	key  string    // the route key: "POST /events" or "$default"
	segs []segment // the path's segments; none for "/"
}

var (
	methods   = map[string]bool{"GET": true, "POST": true, "PUT": true, "PATCH": true, "DELETE": true, "HEAD": true, "OPTIONS": true, "ANY": true}
	paramName = regexp.MustCompile(`^[A-Za-z0-9._-]+$`)
)

// compile checks a route and prepares it for matching.
func compile(r Route) (*route, error) {
	var errs []error
	if r.Function == nil {
		errs = append(errs, errors.New("no function"))
	}
	if r.Timeout == 0 {
		r.Timeout = MaxTimeout
	}
	if r.Timeout < MinTimeout || r.Timeout > MaxTimeout {
		errs = append(errs, fmt.Errorf("timeout %v: API Gateway takes %v to %v", r.Timeout, MinTimeout, MaxTimeout))
	}
	rt := &route{Route: r}
	if r.Path == DefaultRoute {
		if r.Method != "" && r.Method != "ANY" {
			errs = append(errs, fmt.Errorf("method %q: the %s route takes every method", r.Method, DefaultRoute))
		}
		rt.key = DefaultRoute
		return rt, errors.Join(errs...)
	}
	rt.key = r.Method + " " + r.Path
	if !methods[r.Method] {
		errs = append(errs, fmt.Errorf("method %q: want GET, POST, PUT, PATCH, DELETE, HEAD, OPTIONS or ANY", r.Method))
	}
	segs, err := parsePath(r.Path)
	if err != nil {
		errs = append(errs, err)
	}
	rt.segs = segs
	return rt, errors.Join(errs...)
}

func parsePath(path string) ([]segment, error) {
	if !strings.HasPrefix(path, "/") {
		return nil, fmt.Errorf("path %q: want a leading /", path)
	}
	if path == "/" {
		return nil, nil
	}
	parts := strings.Split(path[1:], "/")
	segs := make([]segment, 0, len(parts))
	seen := map[string]bool{}
	for i, p := range parts {
		switch {
		case p == "":
			return nil, fmt.Errorf("path %q: empty segment", path)
		case strings.HasPrefix(p, "{") && strings.HasSuffix(p, "}"):
			name, isGreedy := strings.CutSuffix(p[1:len(p)-1], "+")
			if !paramName.MatchString(name) {
				return nil, fmt.Errorf("path %q: bad parameter %s", path, p)
			}
			if seen[name] {
				return nil, fmt.Errorf("path %q: parameter %s twice", path, name)
			}
			seen[name] = true
			kind := param
			if isGreedy {
				if i != len(parts)-1 {
					return nil, fmt.Errorf("path %q: greedy parameter %s not last", path, p)
				}
				kind = greedy
			}
			segs = append(segs, segment{kind: kind, text: name})
		case strings.ContainsAny(p, "{}"):
			return nil, fmt.Errorf("path %q: bad segment %s", path, p)
		default:
			segs = append(segs, segment{kind: literal, text: p})
		}
	}
	return segs, nil
}

// shape is the route's method and path with parameter names left out: two
// routes of one shape would match the same requests.
func (r *route) shape() string {
	if r.key == DefaultRoute {
		return DefaultRoute
	}
	var b strings.Builder
	b.WriteString(r.Method + " ")
	for _, s := range r.segs {
		switch s.kind {
		case literal:
			b.WriteString("/" + s.text)
		case param:
			b.WriteString("/{}")
		case greedy:
			b.WriteString("/{+}")
		}
	}
	return b.String()
}

func (r *route) greedy() bool {
	return len(r.segs) > 0 && r.segs[len(r.segs)-1].kind == greedy
}

// match matches the request's path, split into its raw (escaped) segments,
// and returns the path parameters, decoded as API Gateway decodes them.
func (r *route) match(method string, raw []string) (map[string]string, bool) {
	if r.Method != "ANY" && r.Method != method {
		return nil, false
	}
	var params map[string]string
	set := func(k, v string) {
		if params == nil {
			params = map[string]string{}
		}
		params[k] = v
	}
	for i, s := range r.segs {
		if s.kind == greedy {
			rest := strings.Join(raw[min(i, len(raw)):], "/")
			if rest == "" {
				return nil, false
			}
			set(s.text, unescape(rest))
			return params, true
		}
		if i >= len(raw) || raw[i] == "" {
			return nil, false
		}
		v := unescape(raw[i])
		if s.kind == literal && v != s.text {
			return nil, false
		}
		if s.kind == param {
			set(s.text, v)
		}
	}
	return params, len(raw) == len(r.segs)
}

func unescape(s string) string {
	if v, err := url.PathUnescape(s); err == nil {
		return v
	}
	return s
}

// moreSpecific tells whether r beats o for a request both match, in API
// Gateway's order: a full match before a greedy one; then, segment by
// segment, a literal before a parameter (and a longer prefix before a
// greedy parameter); then a route's own method before ANY.
func (r *route) moreSpecific(o *route) bool {
	if rg, og := r.greedy(), o.greedy(); rg != og {
		return !rg
	}
	for i := range min(len(r.segs), len(o.segs)) {
		if kr, ko := r.segs[i].kind, o.segs[i].kind; kr != ko {
			return kr < ko
		}
	}
	if len(r.segs) != len(o.segs) {
		return len(r.segs) > len(o.segs)
	}
	return r.Method != "ANY" && o.Method == "ANY"
}

// splitPath splits an escaped request path into its segments: none for "/".
func splitPath(escaped string) []string {
	p := strings.TrimPrefix(escaped, "/")
	if p == "" {
		return nil
	}
	return strings.Split(p, "/")
}
