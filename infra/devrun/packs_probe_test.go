package devrun

import (
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/flowbus/flowbus/shared/testenv"
)

// Probes of packed delivery messages (shared/route/pack.go,
// shared/delivery's pack) through the local runtime: many events of a
// workflow per request, so packs of up to 25 form and longer runs split,
// against receivers that fail at random, a deliverer killed mid-pack,
// mixed sizes and awkward ids, dead letters and redrives, and bodies sent
// to the queue by hand.

// packReceiver is a loopback webhook endpoint (signatures are not
// checked: subscriptions_test's receiver does) that answers 503 to a
// share of the deliveries while failing, may pause before answering, and
// records what it accepted, in arrival order.
type packReceiver struct {
	srv *httptest.Server

	mu      sync.Mutex
	rnd     *rand.Rand
	failP   float64             // share of deliveries answered 503
	refuse  func(id string) int // a status other than 2xx for an id, or 0
	pause   time.Duration
	got     []delivered
	tried   int
	started chan struct{} // closed at the first delivery
	once    sync.Once
}

func newPackReceiver(t *testing.T, seed uint64) *packReceiver {
	r := &packReceiver{rnd: rand.New(rand.NewPCG(seed, seed)), started: make(chan struct{})}
	r.srv = httptest.NewServer(http.HandlerFunc(r.serve))
	t.Cleanup(r.srv.Close)
	return r
}

func (r *packReceiver) serve(w http.ResponseWriter, req *http.Request) {
	body, _ := io.ReadAll(req.Body)
	r.once.Do(func() { close(r.started) })
	// CloudEvents' HTTP binding percent-encodes what is not printable
	// ASCII in a ce- header.
	id, err := url.PathUnescape(req.Header.Get("ce-id"))
	if err != nil {
		id = req.Header.Get("ce-id")
	}
	r.mu.Lock()
	pause, failP, refuse := r.pause, r.failP, r.refuse
	fail := failP > 0 && r.rnd.Float64() < failP
	r.mu.Unlock()
	time.Sleep(pause)
	status := 0
	if refuse != nil {
		status = refuse(id)
	}
	if fail && status == 0 {
		status = http.StatusServiceUnavailable
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if status != 0 {
		r.tried++
		w.WriteHeader(status)
		return
	}
	r.got = append(r.got, delivered{ID: id, Type: req.Header.Get("ce-type"), Workflow: req.Header.Get("ce-workflowid"), Body: string(body), At: time.Now()})
	w.WriteHeader(http.StatusNoContent)
}

func (r *packReceiver) set(f func(r *packReceiver)) {
	r.mu.Lock()
	defer r.mu.Unlock()
	f(r)
}

func (r *packReceiver) deliveries() []delivered {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]delivered(nil), r.got...)
}

// subscribePack creates a subscription with an http target at r.
func (e *env) subscribePack(r *packReceiver, name, pattern, extra string) {
	e.t.Helper()
	var out map[string]any
	e.postJSON("/subscriptions", `{"name":"`+name+`","pattern":`+pattern+`,"target":{"type":"http","url":"`+r.srv.URL+`/hook"}`+extra+`}`, 201, &out)
}

// packTemplate is template.yaml with its functions built from this repo
// and, when deliverTimeout is set, DeliverFunction's Timeout replaced: the
// local mapping receives with the function's timeout as visibility, so a
// killed invocation's messages come back after it.
func packTemplate(t *testing.T, deliverTimeout int) string {
	t.Helper()
	raw, err := os.ReadFile("../../template.yaml")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	rel, err := filepath.Rel(dir, root)
	if err != nil {
		t.Fatal(err)
	}
	s := strings.ReplaceAll(string(raw), "CodeUri: functions/", "CodeUri: "+filepath.ToSlash(rel)+"/functions/")
	if deliverTimeout > 0 {
		i := strings.Index(s, "\n  DeliverFunction:\n")
		j := i + strings.Index(s[i:], "      Timeout: 300\n")
		if i < 0 || j < i {
			t.Fatal("template.yaml: DeliverFunction's Timeout: 300 not found")
		}
		s = s[:j] + fmt.Sprintf("      Timeout: %d\n", deliverTimeout) + s[j+len("      Timeout: 300\n"):]
	}
	path := filepath.Join(dir, "template.yaml")
	if err := os.WriteFile(path, []byte(s), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// newPackEnv starts the local runtime on tpl with resources of its own.
func newPackEnv(t *testing.T, prefix, tpl string) *env {
	t.Helper()
	testenv.AWS(t)
	name := testenv.Name(prefix)
	e := &env{t: t, out: &testenv.SyncBuffer{}}
	e.opts = Options{
		Template: tpl, Addr: "127.0.0.1:0", RunDir: t.TempDir(), PollEvery: 100 * time.Millisecond, Out: e.out, LiveEvery: -1,
		Parameters: map[string]string{"StreamName": name, "TableName": name, "DeadLetterQueueName": name, "DeliveryQueueName": name + "-delivery.fifo"},
	}
	start(t, e)
	t.Cleanup(func() {
		e.rt.Close()
		if t.Failed() {
			t.Logf("runtime output:\n%s", tail(e.out.String(), 200))
		}
	})
	return e
}

// packLoad publishes requests each holding sizes[w] events of workflow
// prefix-w, and returns each workflow's ids in publish order.
func (e *env) packLoad(prefix, typ string, requests int, sizes []int) map[string][]string {
	e.t.Helper()
	return e.packLoadFrom(prefix, typ, 0, requests, sizes)
}

// packLoadFrom is packLoad with the requests numbered from first (in the
// ids), so that a second load's ids differ from the first's.
func (e *env) packLoadFrom(prefix, typ string, first, requests int, sizes []int) map[string][]string {
	e.t.Helper()
	want := map[string][]string{}
	for r := first; r < first+requests; r++ {
		var batch []string
		for w, n := range sizes {
			wf := fmt.Sprintf("%s-%d", prefix, w)
			for k := range n {
				id := fmt.Sprintf("%s-%d-%d-%03d", prefix, w, r, k)
				batch = append(batch, fmt.Sprintf(`{"type":%q,"workflow_id":%q,"id":%q,"data":{"k":%d}}`, typ, wf, id, k))
				want[wf] = append(want[wf], id)
			}
		}
		e.post("[" + strings.Join(batch, ",") + "]")
	}
	return want
}

func count(m map[string][]string) int {
	n := 0
	for _, ids := range m {
		n += len(ids)
	}
	return n
}

// duplicates is how many deliveries repeat an event already delivered.
func duplicates(ds []delivered) int {
	seen, n := map[string]bool{}, 0
	for _, d := range ds {
		if seen[d.ID] {
			n++
		}
		seen[d.ID] = true
	}
	return n
}

// Packs of up to 25 (and runs of more, split) delivered to a receiver that
// answers 503 to about 30 % of the deliveries for a while, then recovers:
// every event arrives, in order per workflow, exactly once (nothing is
// killed, so the pack's progress leaves nothing to deliver twice); a
// receiver that never fails gets the same, also once each.
func TestPacksUnderRandomFailures(t *testing.T) {
	e := newPackEnv(t, "pkrand", "../../template.yaml")
	fast := `,"delivery":{"backoff_base_ms":100,"backoff_max_ms":500}`
	clean, flaky := newPackReceiver(t, 1), newPackReceiver(t, 2)
	flaky.set(func(r *packReceiver) { r.failP = 0.3 })
	e.subscribePack(clean, "clean", `{"type":["pk.step"]}`, fast)
	e.subscribePack(flaky, "flaky", `{"type":["pk.step"]}`, fast)

	// Per request: 60 events of pk-0 (25+25+10), 26 of pk-1 (25+1), 25 of
	// pk-2, 1 of pk-3, 7 of pk-4.
	want := e.packLoad("pk", "pk.step", 2, []int{60, 26, 25, 1, 7})
	total := count(want)
	e.waitFor("the clean receiver to get every event", func() bool { return len(clean.deliveries()) >= total })
	// Failing for 10 s from the first delivery, then recovered.
	<-flaky.started
	time.Sleep(10 * time.Second)
	flaky.set(func(r *packReceiver) { r.failP = 0 })
	e.waitFor("the flaky receiver to get every event", func() bool { return len(flaky.deliveries()) >= total })
	time.Sleep(2 * time.Second) // a delivery twice would come now

	for _, r := range []struct {
		name string
		r    *packReceiver
	}{{"clean", clean}, {"flaky", flaky}} {
		got := r.r.deliveries()
		if diff := cmp.Diff(want, byWorkflow(got)); diff != "" {
			t.Errorf("%s got (-want +got):\n%s", r.name, diff)
		}
		if d := duplicates(got); d != 0 {
			t.Errorf("%s got %d duplicates, nothing killed", r.name, d)
		}
	}
	flaky.mu.Lock()
	tried := flaky.tried
	flaky.mu.Unlock()
	t.Logf("%d events over %d workflows; flaky answered 503 %d times", total, len(want), tried)
	if tried == 0 {
		t.Error("flaky never failed: the probe proved nothing")
	}
	if n := deliverMessages(e.out.String()); n == 0 || n >= total {
		t.Errorf("the deliverer was handed %d messages for %d events: no packs formed", n, total)
	}
}

// deliverMessages sums the messages of DeliverFunction's invocations in the
// runtime's output (a line per invocation: "… DeliverFunction … n messages …").
func deliverMessages(out string) int {
	n := 0
	for _, l := range strings.Split(out, "\n") {
		if !strings.Contains(l, "DeliverFunction") {
			continue
		}
		f := strings.Fields(l)
		for i := 1; i < len(f); i++ {
			if strings.HasPrefix(f[i], "message") {
				var k int
				if _, err := fmt.Sscan(f[i-1], &k); err == nil {
					n += k
				}
				break
			}
		}
	}
	return n
}

// bootstraps are the pids of fn's running bootstrap processes under the
// runtime's run dir (processes this test started).
func bootstraps(t *testing.T, runDir, fn string) []int {
	t.Helper()
	want := filepath.Join(runDir, "build", fn, "bootstrap")
	procs, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	var pids []int
	for _, p := range procs {
		raw, err := os.ReadFile(p)
		if err != nil || !strings.Contains(string(raw), want) {
			continue
		}
		args := strings.Split(strings.TrimRight(string(raw), "\x00"), "\x00")
		if len(args) == 0 || args[0] != want {
			continue // RIE or env(1), which only name it
		}
		var pid int
		if _, err := fmt.Sscan(filepath.Base(filepath.Dir(p)), &pid); err == nil {
			pids = append(pids, pid)
		}
	}
	return pids
}

// inOrderWithRestarts checks one workflow's deliveries against its publish
// order: every event's first delivery comes after every earlier event's,
// and a delivery is the next event or goes back (a redelivery from a pack's
// last recorded progress), never skips ahead.
func inOrderWithRestarts(want, got []string) error {
	pos := map[string]int{}
	for i, id := range want {
		pos[id] = i
	}
	next, last := 0, -1
	for i, id := range got {
		p, ok := pos[id]
		if !ok {
			return fmt.Errorf("delivery %d: %s was never published here", i, id)
		}
		if p > next || (last >= 0 && p > last+1) {
			return fmt.Errorf("delivery %d: %s (published %d) after %d, with %d the first not delivered", i, id, p, last, next)
		}
		if p == next {
			next++
		}
		last = p
	}
	if next != len(want) {
		return fmt.Errorf("%d of %d delivered; first missing %s", next, len(want), want[next])
	}
	return nil
}

// The deliverer's bootstrap killed (SIGKILL) in the middle of delivering
// packs: nothing is lost and each workflow's order holds; the killed
// invocation's messages come back after the queue's visibility (here the
// function's timeout, cut to 40 s: PackReserve, 35 s, then leaves each
// invocation 5 s of packs, so packs also stop early and come back at once)
// and their packs start from the last recorded progress, so the events
// delivered since are delivered again: the duplicates counted.
func TestPacksDelivererKilled(t *testing.T) {
	e := newPackEnv(t, "pkkill", packTemplate(t, 40))
	r := newPackReceiver(t, 3)
	r.set(func(r *packReceiver) { r.pause = 30 * time.Millisecond })
	e.subscribePack(r, "victim", `{"type":["kill.step"]}`, "")
	want := e.packLoad("kl", "kill.step", 2, []int{60, 50, 30})
	total := count(want)

	e.waitFor("deliveries to start", func() bool { return len(r.deliveries()) >= 30 })
	pids := bootstraps(t, e.opts.RunDir, "DeliverFunction")
	if len(pids) == 0 {
		t.Fatal("no DeliverFunction bootstrap found to kill")
	}
	before := len(r.deliveries())
	for _, pid := range pids {
		p, err := os.FindProcess(pid)
		if err == nil {
			err = p.Kill()
		}
		t.Logf("kill -9 %d: %v", pid, err)
	}
	killedAt := time.Now()
	// The killed batch waits out its visibility (40 s): a wait of its own.
	for {
		got, done := byWorkflow(r.deliveries()), true
		for wf, ids := range want {
			done = done && inOrderWithRestarts(ids, got[wf]) == nil
		}
		if done {
			break
		}
		if time.Since(killedAt) > 2*time.Minute {
			t.Fatalf("not every event delivered 2 min after the kill: %d deliveries", len(r.deliveries()))
		}
		time.Sleep(200 * time.Millisecond)
	}
	took := time.Since(killedAt)
	time.Sleep(2 * time.Second)
	got := r.deliveries()
	for wf, ids := range want {
		if err := inOrderWithRestarts(ids, byWorkflow(got)[wf]); err != nil {
			t.Errorf("%s: %v", wf, err)
		}
	}
	t.Logf("%d events; %d delivered before killing %d bootstrap(s); all delivered %s after; %d duplicates",
		total, before, len(pids), took.Round(time.Second), duplicates(got))
}

// deadLetters reads a subscription's dead-letter entries.
func (e *env) deadLetters(name string) []struct {
	EventID string          `json:"event_id"`
	Status  int             `json:"status"`
	Event   json.RawMessage `json:"event"`
} {
	e.t.Helper()
	var out struct {
		DeadLetters []struct {
			EventID string          `json:"event_id"`
			Status  int             `json:"status"`
			Event   json.RawMessage `json:"event"`
		} `json:"dead_letters"`
	}
	e.getJSON("/subscriptions/"+name+"/dead-letters", &out)
	return out.DeadLetters
}

// A pack mixing events over MaxPackBytes/2 with small ones, an event too
// large to go inline (a pointer to the store), ids starting with "=" and
// ids that are not ASCII: delivered in order and whole; two of them refused
// (400) mid-pack are dead-lettered with their full event while the pack
// goes on, and a redrive delivers them; a replay aimed at the subscription
// delivers the workflow again, in order.
func TestPacksMixed(t *testing.T) {
	e := newPackEnv(t, "pkmix", "../../template.yaml")
	r := newPackReceiver(t, 4)
	refused := map[string]bool{"=x-6": true, "big-7": true}
	var refusing sync.Mutex
	on := true
	r.set(func(r *packReceiver) {
		r.refuse = func(id string) int {
			refusing.Lock()
			defer refusing.Unlock()
			if on && refused[id] {
				return http.StatusBadRequest
			}
			return 0
		}
	})
	e.subscribePack(r, "mixed", `{"type":["mix.step"]}`, `,"delivery":{"backoff_base_ms":100,"backoff_max_ms":500}`)

	big, huge := 40<<10, 300<<10 // big: over MaxPackBytes/2; huge: over a message's 256 KiB
	type ev struct {
		id   string
		size int
	}
	evs := []ev{{"=eq", 10}, {"é-big-1", big}, {"s-2", 10}, {"big-3", big}, {"日本-4", 10}, {"huge-5", huge}, {"=x-6", 10}, {"big-7", big},
		{"s-8", 10}, {"=", 10}, {"ü-10", 10}, {"s-11", 10}, {"s-12", 10}}
	var batch, all, first []string
	size := map[string]int{}
	for _, x := range evs {
		batch = append(batch, fmt.Sprintf(`{"type":"mix.step","workflow_id":"mx-0","id":%q,"data":{"pad":%q}}`, x.id, strings.Repeat("p", x.size)))
		all = append(all, x.id)
		size[x.id] = x.size
		if !refused[x.id] {
			first = append(first, x.id)
		}
	}
	e.post("[" + strings.Join(batch, ",") + "]")

	e.waitFor("every event not refused", func() bool { return len(r.deliveries()) >= len(first) })
	e.waitFor("the refused events' dead letters", func() bool { return len(e.deadLetters("mixed")) == 2 })
	got := r.deliveries()
	if diff := cmp.Diff(map[string][]string{"mx-0": first}, byWorkflow(got)); diff != "" {
		t.Errorf("delivered (-want +got):\n%s", diff)
	}
	for _, d := range got {
		var data struct {
			Pad string `json:"pad"`
		}
		// Binary mode: the body is the data.
		if err := json.Unmarshal([]byte(d.Body), &data); err != nil || len(data.Pad) != size[d.ID] {
			t.Errorf("%s delivered with %d bytes of data (%v), want %d", d.ID, len(data.Pad), err, size[d.ID])
		}
	}
	dl := e.deadLetters("mixed")
	var dlIDs []string
	for _, x := range dl {
		dlIDs = append(dlIDs, x.EventID)
		var ce struct {
			ID   string `json:"id"`
			Data struct {
				Pad string `json:"pad"`
			} `json:"data"`
		}
		if err := json.Unmarshal(x.Event, &ce); err != nil || ce.ID != x.EventID || len(ce.Data.Pad) != size[x.EventID] || x.Status != 400 {
			t.Errorf("dead letter %s: status %d, event id %q with %d bytes of data (%v): want 400 and the whole event", x.EventID, x.Status, ce.ID, len(ce.Data.Pad), err)
		}
	}
	if diff := cmp.Diff([]string{"=x-6", "big-7"}, dlIDs); diff != "" {
		t.Errorf("dead letters (-want +got):\n%s", diff)
	}

	// Fixed, a redrive delivers the two, in order.
	refusing.Lock()
	on = false
	refusing.Unlock()
	var redriven struct {
		Redriven int `json:"redriven"`
	}
	e.postJSON("/subscriptions/mixed/redrive", `{}`, 202, &redriven)
	if redriven.Redriven != 2 {
		t.Errorf("redrive answered %+v, want 2", redriven)
	}
	e.waitFor("the redriven events", func() bool { return len(r.deliveries()) >= len(all) })
	if diff := cmp.Diff(append(append([]string{}, first...), "=x-6", "big-7"), byWorkflow(r.deliveries())["mx-0"]); diff != "" {
		t.Errorf("delivered after the redrive (-want +got):\n%s", diff)
	}

	// A replay aimed at the subscription delivers the workflow again.
	var rep map[string]any
	e.postJSON("/replays", `{"workflow_id":"mx-0","target":{"subscription":"mixed"}}`, 200, &rep)
	e.waitFor("the replayed events", func() bool { return len(r.deliveries()) >= 2*len(all) })
	time.Sleep(time.Second)
	if diff := cmp.Diff(all, byWorkflow(r.deliveries()[len(all):])["mx-0"]); diff != "" {
		t.Errorf("replayed (-want +got):\n%s", diff)
	}
}

// Two workflows' packs of the same event ids (ids are unique within a
// workflow only): one fails at its third event, the other at its first,
// for a while. Each retry starts from its own pack's progress: before
// route keyed a pack by its workflow too (12ad9a2), both packs had one id,
// the second's retry started at the first's progress (skipping its first
// two events) and its end cleared the first's progress (delivering the
// first's first two events again).
func TestPacksOfTheSameIDsInTwoWorkflows(t *testing.T) {
	e := newPackEnv(t, "pktwin", "../../template.yaml")
	r := newPackReceiver(t, 5)
	var mu sync.Mutex
	holding := true
	srv := r.srv.Config.Handler
	r.srv.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		wf, id := req.Header.Get("ce-workflowid"), req.Header.Get("ce-id")
		mu.Lock()
		hold := holding && ((wf == "tw-a" && id == "e-2") || (wf == "tw-b" && id == "e-0"))
		mu.Unlock()
		if hold {
			r.set(func(r *packReceiver) { r.tried++ })
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		srv.ServeHTTP(w, req)
	})
	e.subscribePack(r, "twins", `{"type":["twin.step"]}`, `,"delivery":{"backoff_base_ms":100,"backoff_max_ms":300}`)
	var batch []string
	want := map[string][]string{}
	for _, wf := range []string{"tw-a", "tw-b"} {
		for k := range 5 {
			id := fmt.Sprintf("e-%d", k)
			batch = append(batch, fmt.Sprintf(`{"type":"twin.step","workflow_id":%q,"id":%q}`, wf, id))
			want[wf] = append(want[wf], id)
		}
	}
	e.post("[" + strings.Join(batch, ",") + "]")
	// Both held until each failed at least twice (the second a retry that
	// read its pack's progress).
	e.waitFor("both packs to fail and be retried", func() bool {
		r.mu.Lock()
		defer r.mu.Unlock()
		return r.tried >= 4
	})
	time.Sleep(time.Second)
	mu.Lock()
	holding = false
	mu.Unlock()
	e.waitFor("every event", func() bool { return len(r.deliveries()) >= 10 })
	time.Sleep(2 * time.Second) // a delivery twice would come now
	got := r.deliveries()
	if diff := cmp.Diff(want, byWorkflow(got)); diff != "" {
		t.Errorf("delivered (-want +got):\n%s", diff)
	}
	if d := duplicates2(got); d != 0 {
		t.Errorf("%d duplicates", d)
	}
}

// duplicates2 counts deliveries repeating a (workflow, id) already
// delivered.
func duplicates2(ds []delivered) int {
	seen, n := map[string]bool{}, 0
	for _, d := range ds {
		k := d.Workflow + "\x00" + d.ID
		if seen[k] {
			n++
		}
		seen[k] = true
	}
	return n
}

// A subscription deleted and created again under its name while its packs
// are in flight: the old one's receiver gets a prefix of each workflow, in
// order, once each (its messages are dropped once the deliverer knows);
// the new one gets exactly what was published after it was created, in
// order — no old pack holds its groups (subscription/workflow, the same
// names) — and none of the old events.
func TestPacksSubscriptionRecreated(t *testing.T) {
	e := newPackEnv(t, "pkphx", "../../template.yaml")
	old, fresh := newPackReceiver(t, 6), newPackReceiver(t, 7)
	old.set(func(r *packReceiver) { r.pause = 50 * time.Millisecond })
	e.subscribePack(old, "phoenix", `{"type":["phx.step"]}`, "")
	before := e.packLoad("ph", "phx.step", 2, []int{50, 30, 25})
	e.waitFor("the old subscription's first deliveries", func() bool { return len(old.deliveries()) >= 10 })
	req, _ := http.NewRequest(http.MethodDelete, e.rt.URL()+"/subscriptions/phoenix", nil)
	resp, err := e.rt.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		t.Fatalf("DELETE /subscriptions/phoenix: %d", resp.StatusCode)
	}
	e.subscribePack(fresh, "phoenix", `{"type":["phx.step"]}`, "")
	// The router reloads its set within 10 s: until then new events may be
	// matched for the old subscription (and dropped). Events published
	// after that reach the new one.
	time.Sleep(11 * time.Second)
	after := e.packLoadFrom("ph", "phx.step", 2, 1, []int{30, 26, 1})
	e.waitFor("the new subscription's deliveries", func() bool { return len(fresh.deliveries()) >= count(after) })
	time.Sleep(2 * time.Second)
	gotOld, gotNew := byWorkflow(old.deliveries()), byWorkflow(fresh.deliveries())
	for wf, ids := range before {
		g := gotOld[wf]
		if len(g) > len(ids) || !slices.Equal(g, ids[:len(g)]) {
			t.Errorf("old subscription's %s: got %v, want a prefix of %v", wf, g, ids)
		}
	}
	if diff := cmp.Diff(after, gotNew); diff != "" {
		t.Errorf("new subscription got (-want +got):\n%s", diff)
	}
	t.Logf("old subscription got %d of %d before it was dropped", len(old.deliveries()), count(before))
}
