package devrun

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/flowbus/flowbus/shared/testenv"
	"github.com/flowbus/flowbus/shared/webhook"
)

// receiver is a loopback webhook endpoint that verifies every delivery's
// Standard Webhooks signature and records what it got, in arrival order.
type receiver struct {
	t      *testing.T
	srv    *httptest.Server
	mu     sync.Mutex
	secret webhook.Secret
	status int // what it answers; 204 by default
	// failing, when set, answers 503 to the events it picks (with status
	// 204 otherwise): a receiver failing in the middle of a pack.
	failing func(id string) bool
	got     []delivered
	bad     []string // deliveries whose signature did not verify
	tried   int      // requests answered with a failure
}

type delivered struct {
	ID, Type, Workflow, Body string
	At                       time.Time
}

func newReceiver(t *testing.T) *receiver {
	r := &receiver{t: t, status: http.StatusNoContent}
	r.srv = httptest.NewServer(http.HandlerFunc(r.serve))
	t.Cleanup(r.srv.Close)
	return r
}

func (r *receiver) serve(w http.ResponseWriter, req *http.Request) {
	body, _ := io.ReadAll(req.Body)
	r.mu.Lock()
	defer r.mu.Unlock()
	if err := webhook.Verify(r.secret, req.Header, body, time.Now()); err != nil {
		r.bad = append(r.bad, req.Header.Get("webhook-id")+": "+err.Error())
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	if r.status >= 300 {
		r.tried++
		w.WriteHeader(r.status)
		return
	}
	if r.failing != nil && r.failing(req.Header.Get("ce-id")) {
		r.tried++
		w.WriteHeader(http.StatusServiceUnavailable)
		return
	}
	r.got = append(r.got, delivered{ID: req.Header.Get("ce-id"), Type: req.Header.Get("ce-type"), Workflow: req.Header.Get("ce-workflowid"), Body: string(body), At: time.Now()})
	w.WriteHeader(r.status)
}

func (r *receiver) setStatus(s int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.status = s
}

func (r *receiver) setFailing(f func(id string) bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.failing = f
}

func (r *receiver) deliveries() []delivered {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]delivered(nil), r.got...)
}

// subscribe creates a subscription with an http target at the receiver.
func (e *env) subscribe(r *receiver, name, pattern, extra string) {
	e.t.Helper()
	var out struct {
		Secret string `json:"secret"`
	}
	e.postJSON("/subscriptions", `{"name":"`+name+`","pattern":`+pattern+`,"target":{"type":"http","url":"`+r.srv.URL+`/hook"}`+extra+`}`, 201, &out)
	s, err := webhook.ParseSecret(out.Secret)
	if err != nil {
		e.t.Fatalf("secret %q: %v", out.Secret, err)
	}
	r.mu.Lock()
	r.secret = s
	r.mu.Unlock()
}

// subscription reads GET /subscriptions/{name}'s status.
func (e *env) status(name string) (st struct {
	Matched      int64   `json:"matched"`
	Delivered    int64   `json:"delivered"`
	Retrying     int64   `json:"retrying"`
	DeadLettered int64   `json:"dead_lettered"`
	HopLimited   int64   `json:"hop_limited"`
	P50          float64 `json:"latency_p50_ms"`
	P99          float64 `json:"latency_p99_ms"`
}) {
	e.t.Helper()
	var out struct {
		Status *struct {
			Matched      int64   `json:"matched"`
			Delivered    int64   `json:"delivered"`
			Retrying     int64   `json:"retrying"`
			DeadLettered int64   `json:"dead_lettered"`
			HopLimited   int64   `json:"hop_limited"`
			P50          float64 `json:"latency_p50_ms"`
			P99          float64 `json:"latency_p99_ms"`
		} `json:"status"`
	}
	e.getJSON("/subscriptions/"+name, &out)
	if out.Status != nil {
		st = *out.Status
	}
	return st
}

// byWorkflow is the receiver's event ids per workflow, in arrival order.
func byWorkflow(ds []delivered) map[string][]string {
	m := map[string][]string{}
	for _, d := range ds {
		m[d.Workflow] = append(m[d.Workflow], d.ID)
	}
	return m
}

// TestSubscriptions runs template.yaml's subscriptions end to end under the
// local runtime, as make dev runs them: the router on its own Kinesis
// mapping of the bus stream, the deliverer on the delivery FIFO queue's SQS
// mapping, webhooks to loopback receivers that verify every signature.
func TestSubscriptions(t *testing.T) {
	testenv.AWS(t)
	name := testenv.Name("subs")
	e := &env{t: t, out: &testenv.SyncBuffer{}}
	e.opts = Options{
		Template: "../../template.yaml", Addr: "127.0.0.1:0", RunDir: t.TempDir(), PollEvery: 100 * time.Millisecond, Out: e.out, LiveEvery: -1,
		Parameters: map[string]string{"StreamName": name, "TableName": name, "DeadLetterQueueName": name, "DeliveryQueueName": name + "-delivery.fifo"},
	}
	start(t, e)
	defer func() { e.rt.Close() }()

	// Every subscription exists before the first event: the router and the
	// deliverer load them at their first batch.
	fast := `,"delivery":{"backoff_base_ms":100,"backoff_max_ms":1000}`
	steady, flaky, picky, refusing, derived := newReceiver(t), newReceiver(t), newReceiver(t), newReceiver(t), newReceiver(t)
	e.subscribe(steady, "steady", `{"type":[{"prefix":"order."}]}`, fast)
	e.subscribe(flaky, "flaky", `{"type":[{"prefix":"order."}]}`, fast)
	// picky fails the second event of each workflow's pair (a request's
	// two events of a workflow go in one packed message) during the
	// outage: its retries start at that event, the first is not sent again.
	e.subscribe(picky, "picky", `{"type":[{"prefix":"order."}]}`, fast)
	picky.setFailing(func(id string) bool { return strings.HasSuffix(id, "-1") })
	e.subscribe(refusing, "refusing", `{"type":["pay.failed"]}`, fast)
	e.subscribe(derived, "derived", `{"type":["workflow.trigger"]}`, fast)
	var created map[string]any
	e.postJSON("/subscriptions", `{"name":"orchestrator","pattern":{"type":["workflow.started"]},"target":{"type":"bus"},
		"input_transformer":{"input_paths_map":{"wf":"$.workflowid"},"input_template":"{\"type\":\"workflow.trigger\",\"workflow_id\":<wf>,\"data\":{\"action\":\"trigger\"}}"}}`, 201, &created)
	// Its output's type is the input's: creation cannot prove the loop.
	e.postJSON("/subscriptions", `{"name":"echo","pattern":{"type":["loop.ping"]},"target":{"type":"bus"},
		"input_transformer":{"input_paths_map":{"t":"$.type"},"input_template":"{\"type\":<t>,\"data\":{\"echo\":true}}"}}`, 201, &created)
	flaky.setStatus(http.StatusInternalServerError)
	refusing.setStatus(http.StatusBadRequest)

	e.post(`{"type":"workflow.started","workflow_id":"orch-1","id":"s1"}`)
	e.post(`{"type":"loop.ping","workflow_id":"loop-1","id":"l1"}`)
	for n := range 3 {
		e.post(fmt.Sprintf(`{"type":"pay.failed","workflow_id":"pay-1","id":"pay-%d"}`, n))
	}

	// Rounds of order.* events (and noise nobody matches) over 3 workflows
	// while flaky answers 500: steady and the store must keep up.
	type published struct {
		id string
		at time.Time
	}
	var orders []published
	want := map[string][]string{}
	outage := time.Now()
	for round := range 12 {
		var batch []string
		for w := range 3 {
			for k := range 2 {
				id := fmt.Sprintf("o-%d-%02d-%d", w, round, k)
				batch = append(batch, fmt.Sprintf(`{"type":"order.step","workflow_id":"ord-%d","id":"%s","data":{"round":%d}}`, w, id, round))
				want[fmt.Sprintf("ord-%d", w)] = append(want[fmt.Sprintf("ord-%d", w)], id)
				orders = append(orders, published{id: id, at: time.Now()})
			}
		}
		batch = append(batch, fmt.Sprintf(`{"type":"noise.step","workflow_id":"ord-0","id":"noise-%02d"}`, round))
		want["ord-0-all"] = nil
		e.post("[" + strings.Join(batch, ",") + "]")
		time.Sleep(500 * time.Millisecond)
	}
	// Before flaky recovers: steady got every order.* event already, the
	// store every event, though flaky's groups are all held back.
	e.waitFor("steady to get the orders during flaky's outage", func() bool { return len(steady.deliveries()) >= len(orders) })
	lastPublished := orders[len(orders)-1].at
	e.waitFor("the store to hold the orders during flaky's outage", func() bool {
		for w := range 3 {
			if len(e.history(fmt.Sprintf("ord-%d", w))) < 24 {
				return false
			}
		}
		return true
	})
	storeLag := time.Since(lastPublished)
	outageEnd := time.Now()
	flaky.mu.Lock()
	failedTries, flakyGot := flaky.tried, len(flaky.got)
	flaky.mu.Unlock()
	if failedTries == 0 || flakyGot != 0 {
		t.Errorf("flaky answered 500 to %d attempts and got %d events during its outage; want attempts and nothing", failedTries, flakyGot)
	}
	var lags []time.Duration
	at := map[string]time.Time{}
	for _, d := range steady.deliveries() {
		at[d.ID] = d.At
	}
	for _, p := range orders {
		lags = append(lags, at[p.id].Sub(p.at))
	}
	slices.Sort(lags)
	t.Logf("during flaky's %s outage: steady's publish-to-delivery p50 %s, max %s", outageEnd.Sub(outage).Round(time.Millisecond),
		lags[len(lags)/2].Round(time.Millisecond), lags[len(lags)-1].Round(time.Millisecond))
	t.Logf("the store held every order %s after the last was published, flaky still failing", storeLag.Round(time.Millisecond))
	if storeLag > 5*time.Second {
		t.Errorf("the store held the orders %s after the last was published during flaky's outage; want under 5s", storeLag)
	}
	if worst := lags[len(lags)-1]; worst > 5*time.Second {
		t.Errorf("steady waited up to %s for an event during flaky's outage; want under 5s", worst)
	}
	delete(want, "ord-0-all")
	if diff := cmp.Diff(want, byWorkflow(steady.deliveries())); diff != "" {
		t.Errorf("steady got (-want +got):\n%s", diff)
	}

	picky.mu.Lock()
	pickyTries, pickyGot := picky.tried, len(picky.got)
	picky.mu.Unlock()
	if pickyTries == 0 || pickyGot != 3 {
		t.Errorf("picky failed %d attempts and got %d events during the outage; want attempts and each workflow's first event", pickyTries, pickyGot)
	}

	// flaky and picky recover and get everything, in order per workflow,
	// once each.
	flaky.setStatus(http.StatusNoContent)
	picky.setFailing(nil)
	e.waitFor("flaky to catch up", func() bool { return len(flaky.deliveries()) >= len(orders) })
	if diff := cmp.Diff(want, byWorkflow(flaky.deliveries())); diff != "" {
		t.Errorf("flaky got after its recovery (-want +got):\n%s", diff)
	}
	e.waitFor("picky to catch up", func() bool { return len(picky.deliveries()) >= len(orders) })
	time.Sleep(time.Second) // a delivery twice would come now
	if diff := cmp.Diff(want, byWorkflow(picky.deliveries())); diff != "" {
		t.Errorf("picky got after its recovery (-want +got):\n%s", diff)
	}
	// Figures of full batches are written within delivery.BufferFor.
	e.waitFor("flaky's figures", func() bool { return e.status("flaky").Delivered >= int64(len(orders)) })
	e.waitFor("steady's figures", func() bool { return e.status("steady").Delivered >= int64(len(orders)) })
	if st := e.status("flaky"); st.Retrying == 0 || st.Delivered != int64(len(orders)) || st.Matched != int64(len(orders)) {
		t.Errorf("flaky's status %+v: want %d matched, retries and %d delivered", st, len(orders), len(orders))
	}
	if st := e.status("steady"); st.Matched != int64(len(orders)) || st.Delivered != int64(len(orders)) || st.Retrying != 0 {
		t.Errorf("steady's status %+v: want %d matched and delivered, no retries", st, len(orders))
	}

	// refusing answered 400: all three dead-lettered at once; fixed, a
	// redrive delivers them in order.
	e.waitFor("refusing's dead letters", func() bool { return e.status("refusing").DeadLettered == 3 })
	var letters struct {
		DeadLetters []struct {
			EventID string          `json:"event_id"`
			Status  int             `json:"status"`
			Event   json.RawMessage `json:"event"`
		} `json:"dead_letters"`
	}
	e.getJSON("/subscriptions/refusing/dead-letters", &letters)
	if len(letters.DeadLetters) != 3 || letters.DeadLetters[0].Status != 400 || len(letters.DeadLetters[0].Event) == 0 {
		t.Errorf("dead letters %+v: want the 3 events with status 400", letters.DeadLetters)
	}
	refusing.setStatus(http.StatusNoContent)
	var redriven struct {
		Redriven int `json:"redriven"`
	}
	e.postJSON("/subscriptions/refusing/redrive", `{}`, 202, &redriven)
	if redriven.Redriven != 3 {
		t.Errorf("redrive answered %+v, want 3 redriven", redriven)
	}
	e.waitFor("refusing to get the redriven events", func() bool { return len(refusing.deliveries()) >= 3 })
	if diff := cmp.Diff(map[string][]string{"pay-1": {"pay-0", "pay-1", "pay-2"}}, byWorkflow(refusing.deliveries())); diff != "" {
		t.Errorf("refusing got after the redrive (-want +got):\n%s", diff)
	}

	// The orchestrator's derived event is stored after its cause, explains
	// itself, and is routed like any other.
	e.waitFor("the derived event to reach its subscriber", func() bool { return len(derived.deliveries()) > 0 })
	var hist struct {
		Events []struct {
			ID          string         `json:"id"`
			Type        string         `json:"type"`
			Causation   string         `json:"causationid"`
			Correlation string         `json:"correlationid"`
			Data        map[string]any `json:"data"`
		} `json:"events"`
	}
	e.waitFor("the derived event in the store", func() bool { e.getJSON("/workflows/orch-1/events", &hist); return len(hist.Events) == 2 })
	if d := hist.Events[1]; d.Type != "workflow.trigger" || d.Causation != "s1" || d.Correlation != "s1" || d.Data["action"] != "trigger" {
		t.Errorf("derived event %+v: want workflow.trigger caused by and correlated to s1", d)
	}
	if got := derived.deliveries(); len(got) != 1 || got[0].ID != hist.Events[1].ID || got[0].Workflow != "orch-1" {
		t.Errorf("derived's deliveries %+v: want the one derived event %s", got, hist.Events[1].ID)
	}

	// The echo chain stops at the hop limit (8): the cause and 8 derived
	// events, counted once, nothing after.
	e.waitFor("the echo chain to stop at the hop limit", func() bool { return e.status("echo").HopLimited == 1 })
	time.Sleep(2 * time.Second)
	if n := len(e.history("loop-1")); n != 9 {
		t.Errorf("loop-1 holds %d events, want the cause and 8 derived ones", n)
	}
	if st := e.status("echo"); st.HopLimited != 1 || st.Delivered != 8 {
		t.Errorf("echo's status %+v: want 8 delivered and 1 stopped at the hop limit", st)
	}
	for _, r := range []*receiver{steady, flaky, picky, refusing, derived} {
		r.mu.Lock()
		if len(r.bad) > 0 {
			t.Errorf("deliveries whose signature did not verify: %v", r.bad)
		}
		r.mu.Unlock()
	}
	if t.Failed() {
		t.Logf("runtime output:\n%s", e.out)
	}
}
