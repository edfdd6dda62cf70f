package subscription

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/flowbus/flowbus/shared/event"
	"github.com/flowbus/flowbus/shared/jsonscan"
	"github.com/flowbus/flowbus/shared/pattern"
	"github.com/flowbus/flowbus/shared/webhook"
)

// State says whether a subscription delivers.
type State string

const (
	Enabled  State = "enabled"
	Disabled State = "disabled"
)

// TargetType is the kind of place a subscription delivers to.
type TargetType string

const (
	TargetHTTP        TargetType = "http"        // a webhook: CloudEvents over HTTP, Standard Webhooks signatures
	TargetLambda      TargetType = "lambda"      // a Lambda function, invoked asynchronously
	TargetSQS         TargetType = "sqs"         // an SQS queue; FIFO: message group = workflow id
	TargetKinesis     TargetType = "kinesis"     // a Kinesis stream; partition key = workflow id
	TargetEventBridge TargetType = "eventbridge" // an EventBridge bus (PutEvents)
	TargetBus         TargetType = "bus"         // flowbus itself: the input transformer builds a new event
)

// HTTP target modes, as the API spells them.
const (
	ModeBinary     = "binary"
	ModeStructured = "structured"
)

// Limits of a subscription.
const (
	MaxNameBytes          = 64
	MaxAttempts           = 185 // EventBridge's MaximumRetryAttempts
	DefaultAttempts       = 185
	MinEventAge           = 60 * time.Second
	MaxEventAge           = 24 * time.Hour
	DefaultEventAge       = 24 * time.Hour
	DefaultTimeout        = webhook.DefaultTimeout // 10 s
	MaxTimeout            = webhook.MaxTimeout     // 30 s
	DefaultBackoffBase    = time.Second
	DefaultBackoffMax     = 5 * time.Minute
	MaxBackoff            = time.Hour
	MaxDetailTypeBytes    = 128 // EventBridge's DetailType
	MaxTargetIDBytes      = 2048
	MaxDescriptionBytes   = 512
	MaxSubscriptionsLimit = 10000 // what one bus may hold (EventsV2's subscribers per bus)
)

// Extension attributes of a derived event (a bus target's output).
const (
	AttrCausationID   = "causationid"   // the id of the event it was derived from
	AttrCorrelationID = "correlationid" // the id of the first event of the chain
	AttrHops          = "causationhops" // how many derivations led to it: 1 for a derived event of an original
	DefaultMaxHops    = 8               // a chain deeper than this is stopped by the delivery engine
)

// Subscription is one rule: events matching Pattern go to Target.
type Subscription struct {
	Name             string            `json:"name"`
	Description      string            `json:"description,omitempty"`
	Pattern          json.RawMessage   `json:"pattern"`
	Target           Target            `json:"target"`
	Delivery         Delivery          `json:"delivery"`
	InputTransformer *InputTransformer `json:"input_transformer,omitempty"`
	State            State             `json:"state"`
	// Owner is the caller that created it (its principal, as the policy
	// names callers); set by the API, kept by a replace, counted by the
	// per-caller limit. Empty when no caller was known.
	Owner   string    `json:"owner,omitempty"`
	Created time.Time `json:"created"`
	Updated time.Time `json:"updated"`
	// Version counts the writes: 1 after creation. A replace names the
	// version it read (optimistic concurrency).
	Version int64 `json:"version"`
}

// Target is where a subscription delivers. Type says which of the other
// fields apply; a field of another type is refused.
type Target struct {
	Type TargetType `json:"type"`

	// http
	URL       string `json:"url,omitempty"`
	Mode      string `json:"mode,omitempty"` // binary (default) or structured
	Handshake bool   `json:"handshake,omitempty"`

	// lambda: a function name or ARN (with an optional version or alias)
	Function string `json:"function,omitempty"`
	// sqs: a queue URL or ARN; a name ending in .fifo is a FIFO queue
	Queue string `json:"queue,omitempty"`
	// kinesis: a stream name or ARN
	Stream string `json:"stream,omitempty"`
	// eventbridge: a bus name or ARN; DetailType defaults to the event's type
	EventBus   string `json:"event_bus,omitempty"`
	DetailType string `json:"detail_type,omitempty"`
}

// WebhookMode is an http target's mode for shared/webhook.
func (t Target) WebhookMode() webhook.Mode {
	if t.Mode == ModeStructured {
		return webhook.Structured
	}
	return webhook.Binary
}

// FIFO reports whether an sqs target is a FIFO queue (its name ends in
// .fifo): messages then carry the workflow id as message group.
func (t Target) FIFO() bool {
	return t.Type == TargetSQS && strings.HasSuffix(t.Queue, ".fifo")
}

// Delivery is the retry policy: each attempt is bounded by the timeout; an
// event is retried up to RetryAttempts times, with full-jitter exponential
// backoff from BackoffBase to BackoffMax, while it is younger than
// MaximumEventAge; then it is dead-lettered.
type Delivery struct {
	TimeoutSeconds         int `json:"timeout_seconds"`
	RetryAttempts          int `json:"retry_attempts"`
	MaximumEventAgeSeconds int `json:"maximum_event_age_seconds"`
	BackoffBaseMillis      int `json:"backoff_base_ms"`
	BackoffMaxMillis       int `json:"backoff_max_ms"`
}

// DefaultDelivery is the policy of a subscription that names none, and the
// value of each field a request leaves out.
func DefaultDelivery() Delivery {
	return Delivery{
		TimeoutSeconds:         int(DefaultTimeout / time.Second),
		RetryAttempts:          DefaultAttempts,
		MaximumEventAgeSeconds: int(DefaultEventAge / time.Second),
		BackoffBaseMillis:      int(DefaultBackoffBase / time.Millisecond),
		BackoffMaxMillis:       int(DefaultBackoffMax / time.Millisecond),
	}
}

// Timeout bounds one attempt.
func (d Delivery) Timeout() time.Duration { return time.Duration(d.TimeoutSeconds) * time.Second }

// MaximumEventAge is how long after it was stored an event is still tried.
func (d Delivery) MaximumEventAge() time.Duration {
	return time.Duration(d.MaximumEventAgeSeconds) * time.Second
}

// BackoffBase is the first retry's largest delay.
func (d Delivery) BackoffBase() time.Duration {
	return time.Duration(d.BackoffBaseMillis) * time.Millisecond
}

// BackoffMax caps every retry's delay.
func (d Delivery) BackoffMax() time.Duration {
	return time.Duration(d.BackoffMaxMillis) * time.Millisecond
}

// Errors callers match with errors.Is.
var (
	ErrInvalid  = errors.New("invalid subscription")
	ErrNotFound = errors.New("subscription not found")
	ErrExists   = errors.New("subscription already exists")
	ErrConflict = errors.New("subscription changed since it was read")
)

// ValidationError lists every problem of one subscription.
type ValidationError struct {
	Fields []event.FieldError
}

func (e *ValidationError) Error() string {
	parts := make([]string, len(e.Fields))
	for i, f := range e.Fields {
		parts[i] = f.Field + ": " + f.Reason
	}
	return fmt.Sprintf("%v: %s", ErrInvalid, strings.Join(parts, "; "))
}

func (e *ValidationError) Unwrap() error { return ErrInvalid }

type problems []event.FieldError

func (p *problems) add(field, reason string, limit int) {
	*p = append(*p, event.FieldError{Field: field, Reason: reason, Limit: limit})
}

// Parse reads a subscription as the API takes it: unknown members are
// refused, a delivery policy's missing fields take their defaults and the
// state defaults to enabled. It does not validate; call Validate.
//
// Text that is not Unicode is refused, as POST /events refuses it: invalid
// UTF-8 anywhere, and a \u escape of a lone UTF-16 surrogate in any member
// (named), which encoding/json would read as U+FFFD, so that the pattern
// or template stored would not be the one sent.
func Parse(b []byte) (Subscription, error) {
	if !utf8.Valid(b) {
		return Subscription{}, &ValidationError{Fields: []event.FieldError{{Field: "", Reason: "is not UTF-8 text"}}}
	}
	s := Subscription{Delivery: DefaultDelivery(), State: Enabled}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&s); err != nil {
		field := fieldOf(err)
		return Subscription{}, &ValidationError{Fields: []event.FieldError{{Field: field, Reason: reasonOf(err), Limit: integerLimits[field]}}}
	}
	if dec.More() {
		return Subscription{}, &ValidationError{Fields: []event.FieldError{{Field: "", Reason: "the body must hold one JSON object"}}}
	}
	if jsonscan.LoneSurrogate(b) {
		var members map[string]json.RawMessage
		_ = json.Unmarshal(b, &members) // decoded above: an object
		var p problems
		for _, name := range slices.Sorted(maps.Keys(members)) {
			if jsonscan.LoneSurrogate(members[name]) {
				p.add(name, reasonLoneSurrogate, 0)
			}
		}
		return Subscription{}, &ValidationError{Fields: p}
	}
	return s, nil
}

// reasonLoneSurrogate is the refusal of a member holding a lone surrogate
// escape (jsonscan.LoneSurrogate).
const reasonLoneSurrogate = "holds a lone UTF-16 surrogate escape (\\ud800 to \\udfff without its pair), which is not Unicode text"

// fieldOf names the member a decode error is about, in API spelling.
func fieldOf(err error) string {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		return te.Field
	}
	if f, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
		return strings.Trim(f, `"`)
	}
	return ""
}

func reasonOf(err error) string {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		return "must be a JSON " + jsonKind(te.Type.Kind().String())
	}
	if strings.HasPrefix(err.Error(), "json: unknown field ") {
		return "is not a member of a subscription"
	}
	var se *json.SyntaxError
	if errors.As(err, &se) {
		return "not JSON: " + se.Error()
	}
	return "not a subscription object: " + strings.TrimPrefix(err.Error(), "json: ")
}

// integerLimits are the largest values of the delivery policy's members,
// named when a value is no integer at all (a fraction, a string, a number
// past int64), as when an integer is out of range.
var integerLimits = map[string]int{
	"delivery.timeout_seconds":           int(MaxTimeout / time.Second),
	"delivery.retry_attempts":            MaxAttempts,
	"delivery.maximum_event_age_seconds": int(MaxEventAge / time.Second),
	"delivery.backoff_base_ms":           int(MaxBackoff / time.Millisecond),
	"delivery.backoff_max_ms":            int(MaxBackoff / time.Millisecond),
}

func jsonKind(goKind string) string {
	switch goKind {
	case "int", "int64":
		return "integer (a whole number in the member's range)"
	case "float64":
		return "number"
	case "bool":
		return "boolean"
	case "struct", "map", "ptr":
		return "object"
	case "slice":
		return "array or JSON value"
	}
	return goKind
}

var (
	nameRE       = regexp.MustCompile(`^[A-Za-z0-9._-]{1,64}$`)
	lambdaRE     = regexp.MustCompile(`^(arn:aws[a-zA-Z-]*:lambda:[a-z0-9-]+:\d{12}:function:|\d{12}:function:)?[A-Za-z0-9_-]{1,64}(:(\$LATEST|[A-Za-z0-9_-]{1,128}))?$`)
	sqsARNRE     = regexp.MustCompile(`^arn:aws[a-zA-Z-]*:sqs:[a-z0-9-]+:\d{12}:[A-Za-z0-9_-]{1,80}(\.fifo)?$`)
	sqsNameRE    = regexp.MustCompile(`^[A-Za-z0-9_-]{1,75}(\.fifo)?$`)
	kinesisRE    = regexp.MustCompile(`^(arn:aws[a-zA-Z-]*:kinesis:[a-z0-9-]+:\d{12}:stream/)?[A-Za-z0-9_.-]{1,128}$`)
	eventBusRE   = regexp.MustCompile(`^(arn:aws[a-zA-Z-]*:events:[a-z0-9-]+:\d{12}:event-bus/)?[/.\-_A-Za-z0-9]{1,256}$`)
	detailTypeOK = func(s string) bool { return len(s) <= MaxDetailTypeBytes }
)

// ValidName reports whether name may name a subscription:
// [A-Za-z0-9._-]{1,64}.
func ValidName(name string) bool { return nameRE.MatchString(name) }

// Validate checks a subscription as a create or replace would store it and
// reports every problem at once as a *ValidationError (wrapping ErrInvalid),
// each naming its field ("target.url", "pattern.data.amount",
// "delivery.timeout_seconds"). policy decides which webhook URLs are
// allowed. A bus target whose output the pattern provably matches is
// refused: it would feed itself.
func (s *Subscription) Validate(policy webhook.Policy) error {
	var p problems
	if s.Name == "" {
		p.add("name", "is required", 0)
	} else if !ValidName(s.Name) {
		p.add("name", "must be 1 to 64 of A-Z a-z 0-9 . _ -", MaxNameBytes)
	} else if s.Name == "." || s.Name == ".." {
		// A client resolving /subscriptions/.. (RFC 3986 dot segments, as
		// curl and browsers do) asks for another path: nobody could GET,
		// PUT or DELETE it. Validate only: one stored before stays reachable
		// by its escaped form (%2e%2e) and deletable.
		p.add("name", "must not be . or .., which URLs resolve away", 0)
	}
	if len(s.Description) > MaxDescriptionBytes {
		p.add("description", "is longer than the limit", MaxDescriptionBytes)
	}
	pat := s.validatePattern(&p)
	s.Target.validate(&p, policy)
	s.Delivery.validate(&p)
	var tr *Transformer
	if s.InputTransformer != nil {
		var err error
		tr, err = s.InputTransformer.Compile()
		if err != nil {
			var ve *ValidationError
			if errors.As(err, &ve) {
				p = append(p, ve.Fields...)
			}
		}
	}
	if s.Target.Type == TargetBus {
		switch {
		case s.InputTransformer == nil:
			p.add("input_transformer", "is required for a bus target: it builds the new event", 0)
		case tr != nil:
			if reason := tr.checkEvent(); reason != "" {
				p.add("input_transformer.input_template", reason, 0)
			} else if pat != nil && tr.feedsItself(pat) {
				p.add("pattern", "matches the events this bus target publishes (the template's type and the pattern agree), so the subscription would feed itself", 0)
			}
		}
	}
	switch s.State {
	case Enabled, Disabled:
	case "":
		p.add("state", "is required: enabled or disabled", 0)
	default:
		p.add("state", "must be enabled or disabled", 0)
	}
	if len(p) > 0 {
		return &ValidationError{Fields: p}
	}
	return nil
}

func (s *Subscription) validatePattern(p *problems) *pattern.Pattern {
	raw := bytes.TrimSpace(s.Pattern)
	if len(raw) == 0 || string(raw) == "null" {
		p.add("pattern", "is required (the empty pattern {} matches every event)", 0)
		return nil
	}
	pat, err := pattern.Compile(string(raw), pattern.EventBridge)
	if err != nil {
		var pe *pattern.Error
		if errors.As(err, &pe) {
			field := "pattern"
			if pe.Field != "" {
				field += "." + pe.Field
			}
			p.add(field, pe.Reason, pe.Limit)
		} else {
			p.add("pattern", err.Error(), 0)
		}
		return nil
	}
	return pat
}

// CompilePattern compiles a valid subscription's pattern.
func (s *Subscription) CompilePattern() (*pattern.Pattern, error) {
	return pattern.Compile(string(bytes.TrimSpace(s.Pattern)), pattern.EventBridge)
}

func (t *Target) validate(p *problems, policy webhook.Policy) {
	// fields lists every type-specific field with the type it belongs to.
	fields := []struct {
		name  string
		set   bool
		owner TargetType
	}{
		{"url", t.URL != "", TargetHTTP},
		{"mode", t.Mode != "", TargetHTTP},
		{"handshake", t.Handshake, TargetHTTP},
		{"function", t.Function != "", TargetLambda},
		{"queue", t.Queue != "", TargetSQS},
		{"stream", t.Stream != "", TargetKinesis},
		{"event_bus", t.EventBus != "", TargetEventBridge},
		{"detail_type", t.DetailType != "", TargetEventBridge},
	}
	switch t.Type {
	case TargetHTTP, TargetLambda, TargetSQS, TargetKinesis, TargetEventBridge, TargetBus:
	case "":
		p.add("target.type", "is required: http, lambda, sqs, kinesis, eventbridge or bus", 0)
		return
	default:
		p.add("target.type", "must be http, lambda, sqs, kinesis, eventbridge or bus", 0)
		return
	}
	for _, f := range fields {
		if f.set && f.owner != t.Type {
			p.add("target."+f.name, fmt.Sprintf("is a field of %s targets, not of %s targets", f.owner, t.Type), 0)
		}
	}
	required := func(field, value, what string, ok bool) {
		switch {
		case value == "":
			p.add("target."+field, "is required: "+what, 0)
		case len(value) > MaxTargetIDBytes:
			p.add("target."+field, "is longer than the limit", MaxTargetIDBytes)
		case !ok:
			p.add("target."+field, "must be "+what, 0)
		}
	}
	switch t.Type {
	case TargetHTTP:
		if err := policy.ValidateURL(t.URL); err != nil {
			var fe *webhook.FieldError
			if errors.As(err, &fe) {
				p.add(fe.Field, fe.Reason, fe.Limit)
			} else {
				p.add("target.url", err.Error(), 0)
			}
		}
		switch t.Mode {
		case "", ModeBinary, ModeStructured:
		default:
			p.add("target.mode", "must be binary or structured", 0)
		}
	case TargetLambda:
		required("function", t.Function, "a function name or ARN", lambdaRE.MatchString(t.Function))
	case TargetSQS:
		required("queue", t.Queue, "a queue URL or ARN", validQueue(t.Queue))
	case TargetKinesis:
		required("stream", t.Stream, "a stream name or ARN", kinesisRE.MatchString(t.Stream))
	case TargetEventBridge:
		required("event_bus", t.EventBus, "an event bus name or ARN", eventBusRE.MatchString(t.EventBus))
		if !detailTypeOK(t.DetailType) {
			p.add("target.detail_type", "is longer than the limit", MaxDetailTypeBytes)
		}
	}
}

// validQueue accepts an SQS queue ARN, or a queue URL whose last path
// segment is the queue's name (https://sqs.<region>.amazonaws.com/<account>/<name>,
// or a local engine's http:// URL).
func validQueue(q string) bool {
	if strings.HasPrefix(q, "arn:") {
		return sqsARNRE.MatchString(q)
	}
	u, err := url.Parse(q)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.User != nil {
		return false
	}
	segs := strings.Split(strings.Trim(u.Path, "/"), "/")
	return len(segs) == 2 && sqsNameRE.MatchString(segs[1])
}

func (d *Delivery) validate(p *problems) {
	if d.TimeoutSeconds < 1 || d.TimeoutSeconds > int(MaxTimeout/time.Second) {
		p.add("delivery.timeout_seconds", "must be from 1 to the limit (default 10)", int(MaxTimeout/time.Second))
	}
	if d.RetryAttempts < 0 || d.RetryAttempts > MaxAttempts {
		p.add("delivery.retry_attempts", "must be from 0 to the limit (default 185)", MaxAttempts)
	}
	if d.MaximumEventAgeSeconds < int(MinEventAge/time.Second) || d.MaximumEventAgeSeconds > int(MaxEventAge/time.Second) {
		p.add("delivery.maximum_event_age_seconds", "must be from 60 to the limit (default 86400)", int(MaxEventAge/time.Second))
	}
	maxMs := int(MaxBackoff / time.Millisecond)
	if d.BackoffBaseMillis < 1 || d.BackoffBaseMillis > maxMs {
		p.add("delivery.backoff_base_ms", "must be from 1 to the limit (default 1000)", maxMs)
	}
	if d.BackoffMaxMillis < 1 || d.BackoffMaxMillis > maxMs {
		p.add("delivery.backoff_max_ms", "must be from 1 to the limit (default 300000)", maxMs)
	} else if d.BackoffMaxMillis < d.BackoffBaseMillis {
		p.add("delivery.backoff_max_ms", "must not be less than backoff_base_ms", 0)
	}
}
