package devrun

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
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

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/google/go-cmp/cmp"

	"github.com/flowbus/flowbus/shared/subscription"
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
	// intercept, when set, sees each request first; true means it
	// answered (503) and the request is not recorded.
	intercept func(req *http.Request) bool
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
	r.mu.Lock()
	intercept := r.intercept
	r.mu.Unlock()
	if intercept != nil && intercept(req) {
		w.WriteHeader(http.StatusServiceUnavailable)
		return
	}
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
	if path := os.Getenv("FLOWBUS_PACK_LOG"); path != "" {
		f, err := os.Create(path)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { f.Close() })
		e.opts.Log = slog.New(slog.NewTextHandler(f, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	start(t, e)
	t.Cleanup(func() {
		e.rt.Close()
		if out := os.Getenv("FLOWBUS_PACK_OUT"); out != "" {
			_ = os.WriteFile(out, []byte(e.out.String()), 0o644)
		}
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

// killRequester kills (SIGKILL) the DeliverFunction bootstrap on the
// other end of a request to a loopback receiver: the one whose socket has
// the request's remote address as its local one. Only that invocation is
// cut short: killing idle environments too makes the local runtime fail
// each one's next invocation, every such batch then waiting out its
// visibility.
func killRequester(runDir, remoteAddr string) (int, error) {
	_, port, err := net.SplitHostPort(remoteAddr)
	if err != nil {
		return 0, err
	}
	var p int
	if _, err := fmt.Sscan(port, &p); err != nil {
		return 0, err
	}
	local := fmt.Sprintf(":%04X", p)
	inodes := map[string]bool{}
	for _, table := range []string{"/proc/net/tcp", "/proc/net/tcp6"} {
		raw, _ := os.ReadFile(table)
		for _, l := range strings.Split(string(raw), "\n")[1:] {
			f := strings.Fields(l)
			if len(f) > 9 && strings.HasSuffix(f[1], local) {
				inodes["socket:["+f[9]+"]"] = true
			}
		}
	}
	want := filepath.Join(runDir, "build", "DeliverFunction", "bootstrap")
	procs, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	for _, c := range procs {
		raw, err := os.ReadFile(c)
		if err != nil || !strings.HasPrefix(string(raw), want+"\x00") {
			continue
		}
		fds, _ := filepath.Glob(filepath.Join(filepath.Dir(c), "fd", "*"))
		for _, fd := range fds {
			if link, err := os.Readlink(fd); err == nil && inodes[link] {
				var pid int
				if _, err := fmt.Sscan(filepath.Base(filepath.Dir(c)), &pid); err != nil {
					return 0, err
				}
				proc, err := os.FindProcess(pid)
				if err == nil {
					err = proc.Kill()
				}
				return pid, err
			}
		}
	}
	return 0, fmt.Errorf("no DeliverFunction bootstrap holds the connection from %s", remoteAddr)
}

// killAt makes r kill the bootstrap delivering its nth request (counting
// from 1) and answer 503; killed receives the pid once done.
func (r *packReceiver) killAt(t *testing.T, runDir string, n int) (killed chan int) {
	killed = make(chan int, 1)
	seen := 0
	r.set(func(r *packReceiver) {
		r.intercept = func(req *http.Request) bool {
			r.mu.Lock()
			seen++
			now := seen == n
			r.mu.Unlock()
			if !now {
				return false
			}
			pid, err := killRequester(runDir, req.RemoteAddr)
			t.Logf("kill -9 %d (the bootstrap delivering request %d) at %s: %v", pid, n, time.Now().Format("15:04:05.000"), err)
			killed <- pid
			return true
		}
	})
	return killed
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

// restarts describes each point where got goes back in want's order (a
// redelivery): the delivery's index and the positions it went from and to.
func restarts(want, got []string) []string {
	pos := map[string]int{}
	for i, id := range want {
		pos[id] = i
	}
	var out []string
	last := -1
	for i, id := range got {
		p := pos[id]
		if last >= 0 && p <= last {
			out = append(out, fmt.Sprintf("#%d: %d back to %d", i, last, p))
		}
		last = p
	}
	return out
}

// The deliverer's bootstrap killed (SIGKILL) in the middle of delivering
// packs: nothing is lost and each workflow's order holds; the killed
// invocation's messages come back after the queue's visibility (here the
// function's timeout, cut to 40 s: PackReserve, 35 s, then leaves each
// invocation 5 s of packs, so packs also stop early and come back at once)
// and their packs start from the last recorded progress, so the events
// delivered since are delivered again: the duplicates counted.
func TestPacksDelivererKilled(t *testing.T) {
	// Mostly waiting out a visibility timeout: the two kill tests overlap.
	t.Parallel()
	e := newPackEnv(t, "pkkill", packTemplate(t, 40))
	r := newPackReceiver(t, 3)
	r.set(func(r *packReceiver) { r.pause = 30 * time.Millisecond })
	e.subscribePack(r, "victim", `{"type":["kill.step"]}`, "")
	want := e.packLoad("kl", "kill.step", 2, []int{60, 50, 30})
	total := count(want)

	killed := r.killAt(t, e.opts.RunDir, 30)
	var pid int
	select {
	case pid = <-killed:
	case <-time.After(time.Minute):
		t.Fatal("no 30th delivery within a minute")
	}
	if pid == 0 {
		t.Fatal("the bootstrap delivering the 30th event was not found")
	}
	before := len(r.deliveries())
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
	t.Logf("%d events; %d delivered before the kill; all delivered %s after; %d duplicates",
		total, before, took.Round(time.Second), duplicates(got))
	for wf, ids := range want {
		t.Logf("%s: %d deliveries, redelivered from %v", wf, len(byWorkflow(got)[wf]), restarts(ids, byWorkflow(got)[wf]))
	}
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

	// A replay onto the bus stream: the router packs the replayed events
	// (their replay id in the pack's id) and delivers them again, in order.
	e.postJSON("/replays", `{"workflow_id":"mx-0"}`, 200, &rep)
	e.waitFor("the events replayed onto the stream", func() bool { return len(r.deliveries()) >= 3*len(all) })
	time.Sleep(time.Second)
	if diff := cmp.Diff(all, byWorkflow(r.deliveries()[2*len(all):])["mx-0"]); diff != "" {
		t.Errorf("replayed onto the stream (-want +got):\n%s", diff)
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

// A subscription whose input transformer derives an event of each source
// event (bus target), fed by packs, with the deliverer killed while it
// derives: each source event's derived event (its id fixed per
// subscription and source event) is stored once, and reaches the derived
// events' own subscriber once and in order, though the killed packs'
// events are derived again.
func TestPacksDeriveOnce(t *testing.T) {
	// Mostly waiting out a visibility timeout: the two kill tests overlap.
	t.Parallel()
	e := newPackEnv(t, "pkdrv", packTemplate(t, 40))
	sink := newPackReceiver(t, 8)
	var created map[string]any
	e.postJSON("/subscriptions", `{"name":"deriver","pattern":{"type":["src.step"]},"target":{"type":"bus"},
		"input_transformer":{"input_paths_map":{"id":"$.id"},"input_template":"{\"type\":\"drv.step\",\"data\":{\"from\":<id>}}"}}`, 201, &created)
	e.subscribePack(sink, "sink", `{"type":["drv.step"]}`, "")
	// tap gets the source events too: the bootstrap delivering its 40th is
	// killed, with the deriver's packs of the same batch in flight.
	tap := newPackReceiver(t, 10)
	e.subscribePack(tap, "tap", `{"type":["src.step"]}`, "")
	killed := tap.killAt(t, e.opts.RunDir, 40)
	src := e.packLoad("dv", "src.step", 1, []int{100, 60, 40})
	select {
	case pid := <-killed:
		if pid == 0 {
			t.Fatal("the bootstrap delivering tap's 40th event was not found")
		}
	case <-time.After(time.Minute):
		t.Fatal("tap got no 40th delivery within a minute")
	}
	deadline := time.Now().Add(2 * time.Minute)
	for len(sink.deliveries()) < count(src) {
		if time.Now().After(deadline) {
			t.Fatalf("the sink got %d of %d derived events 2 min after the kill", len(sink.deliveries()), count(src))
		}
		time.Sleep(200 * time.Millisecond)
	}
	time.Sleep(2 * time.Second) // a delivery twice would come now
	got := sink.deliveries()
	if d := duplicates2(got); d != 0 {
		t.Errorf("the sink got %d duplicates", d)
	}
	for wf, ids := range src {
		var want []string
		for _, id := range ids {
			want = append(want, subscription.DerivedID("deriver", id))
		}
		if diff := cmp.Diff(want, byWorkflow(got)[wf]); diff != "" {
			t.Errorf("the sink's %s (-want +got):\n%s", wf, diff)
		}
		hist := e.history(wf)
		seen := map[string]int{}
		for _, id := range hist {
			seen[id]++
		}
		if len(hist) != 2*len(ids) || len(seen) != len(hist) {
			t.Errorf("%s holds %d events (%d ids), want %d sources and as many derived, once each", wf, len(hist), len(seen), len(ids))
		}
	}
	t.Logf("%d source events; a bootstrap killed mid-batch; the sink got %d once each; tap got %d duplicates", count(src), len(got), duplicates2(tap.deliveries()))
	for wf, ids := range src {
		t.Logf("tap's %s: %d deliveries, redelivered from %v", wf, len(byWorkflow(tap.deliveries())[wf]), restarts(ids, byWorkflow(tap.deliveries())[wf]))
	}
}

// Bodies sent to the delivery queue by hand, in one group, that the router
// never writes — not JSON, a pack without its id, no events, a null event,
// 26 events, events of another workflow than the body's, an event that is
// not valid, pointers to events the store does not hold — never hold the
// group: each is dropped, dead-lettered or delivered, and the group's last
// message arrives.
func TestPacksMalformedBodies(t *testing.T) {
	e := newPackEnv(t, "pkbad", "../../template.yaml")
	r := newPackReceiver(t, 9)
	e.subscribePack(r, "bad", `{"type":["never.matched"]}`, `,"delivery":{"retry_attempts":1,"backoff_base_ms":100,"backoff_max_ms":200}`)
	cfg := awsConfig(t)
	q := sqs.NewFromConfig(cfg)
	u, err := q.GetQueueUrl(context.Background(), &sqs.GetQueueUrlInput{QueueName: aws.String(e.opts.Parameters["DeliveryQueueName"])})
	if err != nil {
		t.Fatal(err)
	}
	ce := func(wf, id string) string {
		return fmt.Sprintf(`{"specversion":"1.0","id":%q,"source":"probe","type":"never.matched","workflowid":%q,"data":{}}`, id, wf)
	}
	packed := func(wf string, inline bool, ids ...string) string {
		var evs []string
		for i, id := range ids {
			ev := fmt.Sprintf(`{"event_id":%q,"position":{"shard":"s","seq":"1","sub":%d}`, id, i)
			if inline {
				ev += `,"event":` + ce(wf, id)
			}
			evs = append(evs, ev+"}")
		}
		return "[" + strings.Join(evs, ",") + "]"
	}
	var many []string
	for i := range 26 {
		many = append(many, fmt.Sprintf("many-%02d", i))
	}
	head := `{"subscription":"bad","workflow_id":"mal-1"`
	bodies := []string{
		`not json`,
		head + `,"events":` + packed("mal-1", true, "nopack-0") + `}`,
		head + `,"pack":"bad/=p2","events":[]}`,
		head + `,"pack":"bad/=p3","events":[null]}`,
		head + `,"pack":"bad/=p4","events":` + packed("mal-1", true, many...) + `}`,
		head + `,"pack":"bad/=p5","events":` + packed("other", true, "other-0", "other-1") + `}`,
		head + `,"pack":"bad/=p6","events":[{"event_id":"invalid-0","position":{},"event":{"id":"invalid-0"}},` +
			`{"event_id":"after-invalid","position":{},"event":` + ce("mal-1", "after-invalid") + `}]}`,
		head + `,"pack":"bad/=p7","events":` + packed("mal-1", false, "absent-0", "absent-1") + `}`,
		head + `,"event_id":"last","position":{},"event":` + ce("mal-1", "last") + `}`,
	}
	for i, b := range bodies {
		if _, err := q.SendMessage(context.Background(), &sqs.SendMessageInput{QueueUrl: u.QueueUrl, MessageBody: aws.String(b),
			MessageGroupId: aws.String("bad/mal-1"), MessageDeduplicationId: aws.String(fmt.Sprintf("probe-%d", i))}); err != nil {
			t.Fatalf("send %d: %v", i, err)
		}
	}
	e.waitFor("the group's last message", func() bool {
		ds := r.deliveries()
		return len(ds) > 0 && ds[len(ds)-1].ID == "last"
	})
	var got []string
	for _, d := range r.deliveries() {
		got = append(got, d.Workflow+"/"+d.ID)
	}
	want := []string{}
	for _, id := range many {
		want = append(want, "mal-1/"+id)
	}
	want = append(want, "mal-1/after-invalid", "mal-1/last")
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("delivered (-want +got):\n%s", diff)
	}
	var dl []string
	for _, x := range e.deadLetters("bad") {
		dl = append(dl, x.EventID)
		if inline := !strings.HasPrefix(x.EventID, "absent-"); inline && !strings.Contains(string(x.Event), `"id":"`+x.EventID+`"`) {
			t.Errorf("dead letter %s keeps %s, want the event as it came", x.EventID, x.Event)
		}
	}
	if diff := cmp.Diff([]string{"other-0", "other-1", "invalid-0", "absent-0", "absent-1"}, dl); diff != "" {
		t.Errorf("dead letters (-want +got):\n%s", diff)
	}
}

// A DeliverFunction timeout below PackReserve (35 s; here 20 s) still
// delivers packs, in order: the reserve is half the invocation then
// (before, every pack stopped at its first event on every receive).
func TestPacksShortDeliverTimeout(t *testing.T) {
	e := newPackEnv(t, "pkshort", packTemplate(t, 20))
	r := newPackReceiver(t, 11)
	e.subscribePack(r, "short", `{"type":["short.step"]}`, "")
	want := e.packLoad("sh", "short.step", 1, []int{30, 5})
	e.waitFor("every event", func() bool { return len(r.deliveries()) >= count(want) })
	if diff := cmp.Diff(want, byWorkflow(r.deliveries())); diff != "" {
		t.Errorf("delivered (-want +got):\n%s", diff)
	}
}
