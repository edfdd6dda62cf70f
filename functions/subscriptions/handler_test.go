package main

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"os"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambda"

	"github.com/flowbus/flowbus/shared/delivery"
	"github.com/flowbus/flowbus/shared/subscription"
	"github.com/flowbus/flowbus/shared/webhook"
)

// memStore keeps subscriptions in a map, as Store does in the table.
type memStore struct {
	mu   sync.Mutex
	subs map[string]subscription.Subscription
	fail error
}

func (m *memStore) Create(_ context.Context, s subscription.Subscription) (subscription.Subscription, webhook.Secret, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.fail != nil {
		return s, webhook.Secret{}, m.fail
	}
	if _, ok := m.subs[s.Name]; ok {
		return s, webhook.Secret{}, subscription.ErrExists
	}
	s.Version, s.Created, s.Updated = 1, time.Unix(0, 0).UTC(), time.Unix(0, 0).UTC()
	m.subs[s.Name] = s
	var sec webhook.Secret
	if s.Target.Type == subscription.TargetHTTP {
		sec, _ = webhook.GenerateSecret()
	}
	return s, sec, nil
}

func (m *memStore) Get(_ context.Context, name string) (subscription.Subscription, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	s, ok := m.subs[name]
	if !ok {
		return s, subscription.ErrNotFound
	}
	return s, nil
}

func (m *memStore) List(_ context.Context, after string, limit int) (subscription.Page, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var names []string
	for n := range m.subs {
		if n > after {
			names = append(names, n)
		}
	}
	sort.Strings(names)
	var p subscription.Page
	for i, n := range names {
		if i == limit {
			p.Next = names[i-1]
			break
		}
		p.Subscriptions = append(p.Subscriptions, m.subs[n])
	}
	return p, nil
}

func (m *memStore) Put(_ context.Context, s subscription.Subscription) (subscription.Subscription, webhook.Secret, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	old, ok := m.subs[s.Name]
	if !ok {
		return s, webhook.Secret{}, subscription.ErrNotFound
	}
	if s.Version != 0 && s.Version != old.Version {
		return s, webhook.Secret{}, subscription.ErrConflict
	}
	s.Version, s.Created = old.Version+1, old.Created
	m.subs[s.Name] = s
	return s, webhook.Secret{}, nil
}

func (m *memStore) Delete(_ context.Context, name string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.subs[name]; !ok {
		return subscription.ErrNotFound
	}
	delete(m.subs, name)
	return nil
}

func (m *memStore) RotateSecret(_ context.Context, name string, overlap time.Duration) (subscription.Subscription, webhook.Secret, time.Time, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	s, ok := m.subs[name]
	if !ok {
		return s, webhook.Secret{}, time.Time{}, subscription.ErrNotFound
	}
	if s.Target.Type != subscription.TargetHTTP {
		return s, webhook.Secret{}, time.Time{}, subscription.ErrNoSecret
	}
	sec, _ := webhook.GenerateSecret()
	return s, sec, time.Unix(0, 0).Add(overlap), nil
}

func newHandler() (*handler, *memStore) {
	st := &memStore{subs: map[string]subscription.Subscription{}}
	return &handler{store: st, policy: webhook.Policy{AllowPlainLoopback: true}, log: slog.New(slog.NewTextHandler(io.Discard, nil))}, st
}

type answer struct {
	StatusCode int               `json:"statusCode"`
	Headers    map[string]string `json:"headers"`
	Body       string            `json:"body"`
}

func invoke(t *testing.T, h *handler, raw []byte) answer {
	t.Helper()
	out, err := lambda.NewHandler(h.Handle).Invoke(context.Background(), raw)
	if err != nil {
		t.Fatal(err)
	}
	var a answer
	if err := json.Unmarshal(out, &a); err != nil {
		t.Fatal(err)
	}
	return a
}

func sample(t *testing.T, name string) []byte {
	t.Helper()
	raw, err := os.ReadFile("../../events/" + name)
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

// withBody returns a sample with another body (and content type).
func withBody(t *testing.T, name, body, contentType string) []byte {
	t.Helper()
	var req events.APIGatewayV2HTTPRequest
	if err := json.Unmarshal(sample(t, name), &req); err != nil {
		t.Fatal(err)
	}
	req.Body = body
	req.Headers["content-type"] = contentType
	raw, _ := json.Marshal(req)
	return raw
}

type problem struct {
	Type   string `json:"type"`
	Status int    `json:"status"`
	Errors []struct {
		Field  string `json:"field"`
		Reason string `json:"reason"`
		Limit  int    `json:"limit"`
	} `json:"errors"`
}

func problemOf(t *testing.T, a answer) problem {
	t.Helper()
	if a.Headers["Content-Type"] != "application/problem+json" {
		t.Fatalf("got content type %q, want problem+json: %s", a.Headers["Content-Type"], a.Body)
	}
	var p problem
	if err := json.Unmarshal([]byte(a.Body), &p); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestLifecycleThroughTheSamples(t *testing.T) {
	h, _ := newHandler()
	a := invoke(t, h, sample(t, "subscriptions-create.json"))
	if a.StatusCode != 201 || a.Headers["Location"] != "/subscriptions/orchestrator" {
		t.Fatalf("create: got %d %v %s", a.StatusCode, a.Headers, a.Body)
	}
	var created map[string]any
	_ = json.Unmarshal([]byte(a.Body), &created)
	if s, _ := created["secret"].(string); !strings.HasPrefix(s, "whsec_") || created["version"] != 1.0 || created["state"] != "enabled" {
		t.Errorf("create: got %s", a.Body)
	}
	if a := invoke(t, h, sample(t, "subscriptions-create.json")); a.StatusCode != 409 || problemOf(t, a).Type != "https://flowbus.dev/problems/conflict" {
		t.Errorf("second create: got %d %s", a.StatusCode, a.Body)
	}
	if a := invoke(t, h, sample(t, "subscriptions-create-bus.json")); a.StatusCode != 201 || strings.Contains(a.Body, "secret") {
		t.Errorf("create bus: got %d %s", a.StatusCode, a.Body)
	}
	a = invoke(t, h, sample(t, "subscriptions-get.json"))
	if a.StatusCode != 200 || strings.Contains(a.Body, "whsec_") || !strings.Contains(a.Body, `"url":"http://127.0.0.1:9000/hook"`) {
		t.Errorf("get: got %d %s", a.StatusCode, a.Body)
	}
	a = invoke(t, h, sample(t, "subscriptions-list.json"))
	var list struct {
		Subscriptions []struct{ Name string } `json:"subscriptions"`
		Next          *string                 `json:"next"`
	}
	if err := json.Unmarshal([]byte(a.Body), &list); err != nil || a.StatusCode != 200 || len(list.Subscriptions) != 2 || list.Next != nil {
		t.Errorf("list: got %d %s", a.StatusCode, a.Body)
	}
	a = invoke(t, h, sample(t, "subscriptions-put.json"))
	if a.StatusCode != 200 || !strings.Contains(a.Body, `"version":2`) || !strings.Contains(a.Body, `"mode":"structured"`) {
		t.Errorf("put: got %d %s", a.StatusCode, a.Body)
	}
	a = invoke(t, h, sample(t, "subscriptions-rotate-secret.json"))
	if a.StatusCode != 200 || !strings.Contains(a.Body, `"secret":"whsec_`) || !strings.Contains(a.Body, `"previous_secret_expires":"1970-01-01T01:00:00Z"`) {
		t.Errorf("rotate: got %d %s", a.StatusCode, a.Body)
	}
	if a := invoke(t, h, sample(t, "subscriptions-delete.json")); a.StatusCode != 404 || problemOf(t, a).Type != "https://flowbus.dev/problems/not-found" {
		t.Errorf("delete missing: got %d %s", a.StatusCode, a.Body)
	}
}

func TestCreateRefusals(t *testing.T) {
	h, _ := newHandler()
	for _, c := range []struct {
		name, body, ct string
		status         int
		fields         []string
	}{
		{"bad pattern", `{"name":"a","pattern":{"data":{"amount":[{"numeric":[">"]}]}},"target":{"type":"http","url":"https://example.com"}}`, "application/json", 400, []string{"pattern.data.amount"}},
		{"bad target", `{"name":"a","pattern":{},"target":{"type":"http","url":"http://169.254.169.254/latest"}}`, "application/json", 400, []string{"target.url"}},
		{"every problem", `{"name":"","pattern":{},"target":{"type":"sqs"},"delivery":{"timeout_seconds":60}}`, "application/json", 400, []string{"name", "target.queue", "delivery.timeout_seconds"}},
		{"unknown member", `{"name":"a","pattern":{},"target":{"type":"lambda","function":"f"},"colour":"red"}`, "application/json", 400, []string{"colour"}},
		{"version on create", `{"name":"a","pattern":{},"target":{"type":"lambda","function":"f"},"version":3}`, "application/json", 400, []string{"version"}},
		{"self-feeding bus", `{"name":"a","pattern":{"type":["x.y"]},"target":{"type":"bus"},"input_transformer":{"input_template":"{\"type\":\"x.y\"}"}}`, "application/json", 400, []string{"pattern"}},
		{"not JSON media type", `{"name":"a"}`, "text/xml", 415, nil},
		{"other charset", `{"name":"a"}`, "application/json; charset=latin1", 415, nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			a := invoke(t, h, withBody(t, "subscriptions-create.json", c.body, c.ct))
			if a.StatusCode != c.status {
				t.Fatalf("got %d %s, want %d", a.StatusCode, a.Body, c.status)
			}
			p := problemOf(t, a)
			var got []string
			for _, e := range p.Errors {
				got = append(got, e.Field)
			}
			if strings.Join(got, ",") != strings.Join(c.fields, ",") {
				t.Errorf("got fields %v, want %v (%s)", got, c.fields, a.Body)
			}
		})
	}
}

func TestCurlFormTypeIsJSON(t *testing.T) {
	h, _ := newHandler()
	body := `{"name":"a","pattern":{},"target":{"type":"lambda","function":"f"}}`
	if a := invoke(t, h, withBody(t, "subscriptions-create.json", body, "application/x-www-form-urlencoded")); a.StatusCode != 201 {
		t.Errorf("got %d %s, want 201", a.StatusCode, a.Body)
	}
}

func TestPutAndGetRefusals(t *testing.T) {
	h, st := newHandler()
	if a := invoke(t, h, sample(t, "subscriptions-get.json")); a.StatusCode != 404 {
		t.Errorf("get missing: got %d", a.StatusCode)
	}
	if a := invoke(t, h, sample(t, "subscriptions-put.json")); a.StatusCode != 404 {
		t.Errorf("put missing: got %d %s", a.StatusCode, a.Body)
	}
	invoke(t, h, sample(t, "subscriptions-create.json"))
	renamed := `{"name":"other","pattern":{},"target":{"type":"lambda","function":"f"}}`
	if a := invoke(t, h, withBody(t, "subscriptions-put.json", renamed, "application/json")); a.StatusCode != 400 || problemOf(t, a).Errors[0].Field != "name" {
		t.Errorf("rename: got %d %s", a.StatusCode, a.Body)
	}
	stale := `{"pattern":{},"target":{"type":"lambda","function":"f"},"version":7}`
	if a := invoke(t, h, withBody(t, "subscriptions-put.json", stale, "application/json")); a.StatusCode != 409 {
		t.Errorf("stale version: got %d %s", a.StatusCode, a.Body)
	}
	st.fail = io.ErrUnexpectedEOF
	if a := invoke(t, h, withBody(t, "subscriptions-create.json", `{"name":"b","pattern":{},"target":{"type":"lambda","function":"f"}}`, "application/json")); a.StatusCode != 503 || strings.Contains(a.Body, "EOF") {
		t.Errorf("store down: got %d %s, want 503 without internals", a.StatusCode, a.Body)
	}
}

func TestPatternTest(t *testing.T) {
	h, _ := newHandler()
	a := invoke(t, h, sample(t, "patterns-test.json"))
	if a.StatusCode != 200 || !strings.Contains(a.Body, `"match":false`) || !strings.Contains(a.Body, `"field":"data.amount"`) {
		t.Errorf("sample: got %d %s", a.StatusCode, a.Body)
	}
	for _, c := range []struct {
		body   string
		status int
		want   string
	}{
		{`{"pattern":{"source":[{"prefix":"/n"}]},"event":{"source":"/n8n"}}`, 200, `{"match":true}`},
		{`{"pattern":{"detail":{"x":[1]}},"event":{"anything":"goes","detail":{"x":1}}}`, 200, `{"match":true}`},
		{`{"pattern":{"a":[{"nope":1}]},"event":{}}`, 400, `"field":"pattern.a"`},
		{`{"pattern":{},"event":[1]}`, 400, `"field":"event"`},
		{`{"event":{}}`, 400, `"field":"pattern"`},
		{`{"pattern":{},"event":{},"x":1}`, 400, `invalid-request`},
	} {
		a := invoke(t, h, withBody(t, "patterns-test.json", c.body, "application/json"))
		if a.StatusCode != c.status || !strings.Contains(a.Body, c.want) {
			t.Errorf("%s: got %d %s, want %d with %s", c.body, a.StatusCode, a.Body, c.status, c.want)
		}
	}
}

func TestHandMadeEventsRouteByPath(t *testing.T) {
	h, _ := newHandler()
	raw := `{"rawPath":"/subscriptions/x","requestContext":{"http":{"method":"GET","path":"/subscriptions/x"}}}`
	if a := invoke(t, h, []byte(raw)); a.StatusCode != 404 || !strings.Contains(a.Body, `\"x\"`) {
		t.Errorf("got %d %s", a.StatusCode, a.Body)
	}
}

func TestListPages(t *testing.T) {
	h, _ := newHandler()
	for _, n := range []string{"a", "b", "c"} {
		invoke(t, h, withBody(t, "subscriptions-create.json", `{"name":"`+n+`","pattern":{},"target":{"type":"lambda","function":"f"}}`, "application/json"))
	}
	var req events.APIGatewayV2HTTPRequest
	_ = json.Unmarshal(sample(t, "subscriptions-list.json"), &req)
	req.QueryStringParameters = map[string]string{"limit": "2"}
	raw, _ := json.Marshal(req)
	a := invoke(t, h, raw)
	if !strings.Contains(a.Body, `"next":"b"`) || a.Headers["Link"] != `</subscriptions?after=b&limit=2>; rel="next"` {
		t.Errorf("got %v %s", a.Headers, a.Body)
	}
	req.QueryStringParameters = map[string]string{"limit": "0"}
	raw, _ = json.Marshal(req)
	if a := invoke(t, h, raw); a.StatusCode != 400 {
		t.Errorf("limit 0: got %d", a.StatusCode)
	}
}

// fakeDeliveries answers with fixed figures and entries.
type fakeDeliveries struct {
	entries   []delivery.Entry
	redriven  []delivery.Entry
	forgotten []string // names whose figures and dead letters were removed
}

func (f *fakeDeliveries) Status(context.Context, string, time.Time) (delivery.Status, error) {
	return delivery.Status{Matched: 5, Delivered: 3, Retrying: 1, DeadLettered: 2, LatencyP50Ms: 12, LatencyP99Ms: 80}, nil
}

func (f *fakeDeliveries) List(_ context.Context, _, after string, limit int) (delivery.DeadLetterPage, error) {
	p := delivery.DeadLetterPage{Entries: []delivery.Entry{}}
	for _, e := range f.entries {
		if e.Key > after && len(p.Entries) < limit {
			p.Entries = append(p.Entries, e)
		}
	}
	if len(p.Entries) == limit && p.Entries[limit-1].Key != f.entries[len(f.entries)-1].Key {
		p.Next = p.Entries[limit-1].Key
	}
	return p, nil
}

func (f *fakeDeliveries) Redrive(context.Context, string) (int, bool, error) {
	f.redriven, f.entries = f.entries, nil
	return len(f.redriven), false, nil
}

func (f *fakeDeliveries) Forget(_ context.Context, name string) (int, error) {
	f.forgotten = append(f.forgotten, name)
	n := len(f.entries)
	f.entries = nil
	return n, nil
}

func withDeliveries(t *testing.T) (*handler, *fakeDeliveries) {
	t.Helper()
	h, st := newHandler()
	st.subs["orchestrator"] = subscription.Subscription{Name: "orchestrator", State: subscription.Enabled}
	d := &fakeDeliveries{}
	for i, id := range []string{"e1", "e2", "e3"} {
		d.entries = append(d.entries, delivery.Entry{Subscription: "orchestrator", Key: "dl#" + string(rune('1'+i)), EventID: id, WorkflowID: "wf", Error: "endpoint answered 500", Attempts: 185})
	}
	h.deliveries = d
	return h, d
}

func TestGetShowsTheDeliveryStatus(t *testing.T) {
	h, _ := withDeliveries(t)
	a := invoke(t, h, sample(t, "subscriptions-get.json"))
	var got struct {
		Name   string          `json:"name"`
		Status delivery.Status `json:"status"`
	}
	if err := json.Unmarshal([]byte(a.Body), &got); err != nil || a.StatusCode != 200 {
		t.Fatalf("got %d %s", a.StatusCode, a.Body)
	}
	if got.Status.Delivered != 3 || got.Status.DeadLettered != 2 || got.Status.LatencyP99Ms != 80 || got.Status.Matched != 5 {
		t.Errorf("got status %+v", got.Status)
	}
}

func TestDeadLettersArePaged(t *testing.T) {
	h, _ := withDeliveries(t)
	a := invoke(t, h, sample(t, "subscriptions-dead-letters.json"))
	var page delivery.DeadLetterPage
	if err := json.Unmarshal([]byte(a.Body), &page); err != nil || a.StatusCode != 200 {
		t.Fatalf("got %d %s", a.StatusCode, a.Body)
	}
	if len(page.Entries) != 2 || page.Entries[0].EventID != "e1" || page.Next != "dl#2" || !strings.Contains(a.Headers["Link"], "after=dl%232") {
		t.Errorf("got %+v, Link %q", page, a.Headers["Link"])
	}
}

func TestRedrive(t *testing.T) {
	h, d := withDeliveries(t)
	a := invoke(t, h, sample(t, "subscriptions-redrive.json"))
	if a.StatusCode != 202 || a.Body != `{"redriven":3,"more":false}` || len(d.redriven) != 3 {
		t.Errorf("got %d %s, redriven %d", a.StatusCode, a.Body, len(d.redriven))
	}
	delete(h.store.(*memStore).subs, "orchestrator")
	if a := invoke(t, h, sample(t, "subscriptions-redrive.json")); a.StatusCode != 404 {
		t.Errorf("got %d for an unknown subscription, want 404", a.StatusCode)
	}
}

// Deleting a subscription forgets its figures and dead letters, and so does
// creating one: a name used again starts empty.
func TestDeleteAndCreateForgetDeliveries(t *testing.T) {
	h, d := withDeliveries(t)
	h.store.(*memStore).subs["old-hook"] = subscription.Subscription{Name: "old-hook", State: subscription.Enabled}
	if a := invoke(t, h, sample(t, "subscriptions-delete.json")); a.StatusCode != 204 {
		t.Fatalf("delete: %d %s", a.StatusCode, a.Body)
	}
	if len(d.forgotten) != 1 || d.forgotten[0] != "old-hook" || d.entries != nil {
		t.Errorf("forgotten %v, entries left %d", d.forgotten, len(d.entries))
	}
	delete(h.store.(*memStore).subs, "orchestrator") // the sample creates it
	a := invoke(t, h, sample(t, "subscriptions-create.json"))
	if a.StatusCode != 201 || len(d.forgotten) != 2 || d.forgotten[1] != "orchestrator" {
		t.Errorf("create: %d %s, forgotten %v", a.StatusCode, a.Body, d.forgotten)
	}
}
