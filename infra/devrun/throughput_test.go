package devrun

import (
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/flowbus/flowbus/shared/testenv"
)

// TestDeliveryThroughput measures webhook delivery through the local
// runtime, as make dev runs it: one subscription with an http target at a
// loopback receiver that verifies every signature, N events over M
// workflows published in requests of 100 as fast as the API takes them,
// then deliveries per second and publish-to-delivery p50/p99, each
// workflow's order checked. It is a load run, not part of make test: set
// FLOWBUS_DELIVERY_LOAD=N,M (e.g. 5000,50); it gives up after
// FLOWBUS_DELIVERY_WAIT (default 60s) and prints how far it got.
// FLOWBUS_DELIVERY_OUT=file writes the runtime's output (a line per batch).
//
// FLOWBUS_DELIVERY_BACKLOG=1 times the delivery engine alone: the deliver
// function's queue mapping is disabled while the events are published and
// routed, and enabled once all N wait in the delivery queue (the router's
// matched count says so); the rate is
// then the backlog's draining, with nothing else on the machine's cores.
// Publish-to-delivery then holds the wait, so it is not printed.
func TestDeliveryThroughput(t *testing.T) {
	spec := os.Getenv("FLOWBUS_DELIVERY_LOAD")
	if spec == "" {
		t.Skip("set FLOWBUS_DELIVERY_LOAD=N,M to publish N events over M workflows and measure their delivery")
	}
	n, m, err := parseLoad(spec)
	if err != nil {
		t.Fatalf("FLOWBUS_DELIVERY_LOAD=%q: %v", spec, err)
	}
	wait := time.Minute
	if s := os.Getenv("FLOWBUS_DELIVERY_WAIT"); s != "" {
		if wait, err = time.ParseDuration(s); err != nil {
			t.Fatalf("FLOWBUS_DELIVERY_WAIT: %v", err)
		}
	}
	testenv.AWS(t)
	name := testenv.Name("thru")
	e := &env{t: t, out: &testenv.SyncBuffer{}}
	e.opts = Options{
		Template: "../../template.yaml", Addr: "127.0.0.1:0", RunDir: t.TempDir(), PollEvery: 100 * time.Millisecond, Out: e.out, LiveEvery: -1,
		Parameters: map[string]string{"StreamName": name, "TableName": name, "DeadLetterQueueName": name, "DeliveryQueueName": name + "-delivery.fifo"},
	}
	start(t, e)
	defer func() { e.rt.Close() }()
	r := newReceiver(t)
	e.subscribe(r, "load", `{"type":["load.step"]}`, "")

	// Warm up: one delivery, so the functions are started and the
	// subscription loaded before the clock starts.
	e.post(`{"type":"load.step","workflow_id":"warm","id":"warm-0"}`)
	e.waitFor("the warm-up delivery", func() bool { return len(r.deliveries()) == 1 })
	t.Logf("warmed up (one delivery); publishing %d events", n)

	backlog := os.Getenv("FLOWBUS_DELIVERY_BACKLOG") == "1"
	if backlog {
		if err := e.rt.SetQueuesEnabled("DeliverFunction", false); err != nil {
			t.Fatal(err)
		}
	}

	// Four publishers, each owning a quarter of the workflows and sending
	// one request at a time, so each workflow's publish order is known.
	const publishers = 4
	want := map[string][]string{}
	batches := make([][]string, publishers)
	for i := range n {
		w, k := i%m, i/m
		wf, id := fmt.Sprintf("load-%03d", w), fmt.Sprintf("e-%03d-%05d", w, k)
		want[wf] = append(want[wf], id)
		batches[w%publishers] = append(batches[w%publishers], fmt.Sprintf(`{"type":"load.step","workflow_id":"%s","data":{"k":%d},"id":"%s"}`, wf, k, id))
	}
	var mu sync.Mutex
	published := map[string]time.Time{}
	begin := time.Now()
	var wg sync.WaitGroup
	for _, evs := range batches {
		wg.Go(func() {
			for len(evs) > 0 {
				b := evs[:min(100, len(evs))]
				evs = evs[len(b):]
				e.post("[" + strings.Join(b, ",") + "]")
				now := time.Now()
				mu.Lock()
				for _, ev := range b {
					published[ev[strings.Index(ev, `"id":"`)+6:strings.LastIndex(ev, `"`)]] = now
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	publishTook := time.Since(begin)

	deadline := time.Now().Add(wait)
	var enabled time.Time
	if backlog {
		// The router counts what it matched once the messages are sent;
		// matched holds the warm-up's one. (The queue's message count says
		// nothing here: a message carries a pack of events.)
		for e.status("load").Matched < int64(n+1) && time.Now().Before(deadline) {
			time.Sleep(100 * time.Millisecond)
		}
		if got := e.status("load").Matched - 1; got < int64(n) {
			t.Fatalf("%d of %d deliveries queued within %s", got, n, wait)
		}
		t.Logf("%d deliveries queued %s after the first publish", n, time.Since(begin).Round(time.Millisecond))
		enabled = time.Now()
		if err := e.rt.SetQueuesEnabled("DeliverFunction", true); err != nil {
			t.Fatal(err)
		}
	}
	for len(r.deliveries()) < n+1 && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	got := r.deliveries()[1:]
	var lags []time.Duration
	var first, last time.Time
	for _, d := range got {
		lags = append(lags, d.At.Sub(published[d.ID]))
		if d.At.After(last) {
			last = d.At
		}
		if first.IsZero() || d.At.Before(first) {
			first = d.At
		}
	}
	slices.Sort(lags)
	pct := func(p float64) time.Duration {
		if len(lags) == 0 {
			return 0
		}
		return lags[min(len(lags)-1, int(p*float64(len(lags))))].Round(time.Millisecond)
	}
	took := last.Sub(begin)
	// The delivery rate once deliveries flow (first to last delivery),
	// beside the rate from the first publish, which also holds the
	// pipeline's latency.
	flowing := last.Sub(first)
	t.Logf("%d events over %d workflows: published in %s (%.0f/s); delivered %d in %s: %.0f deliveries/s; first to last delivery %s: %.0f deliveries/s; publish-to-delivery p50 %s, p99 %s, max %s",
		n, m, publishTook.Round(time.Millisecond), float64(n)/publishTook.Seconds(), len(got), took.Round(time.Millisecond),
		float64(len(got))/took.Seconds(), flowing.Round(time.Millisecond), float64(len(got)-1)/flowing.Seconds(), pct(0.50), pct(0.99), pct(1))
	if backlog {
		drain := last.Sub(enabled)
		t.Logf("backlog of %d drained in %s from the enable: %.0f deliveries/s (first to last delivery %s: %.0f/s)",
			len(got), drain.Round(time.Millisecond), float64(len(got))/drain.Seconds(), flowing.Round(time.Millisecond), float64(len(got)-1)/flowing.Seconds())
	}
	byWf := byWorkflow(got)
	for wf, ids := range want {
		if !slices.Equal(byWf[wf], ids) {
			if len(byWf[wf]) == len(ids) || !slices.Equal(byWf[wf], ids[:min(len(ids), len(byWf[wf]))]) {
				t.Errorf("workflow %s out of order or repeated: got %d deliveries, want %d", wf, len(byWf[wf]), len(ids))
			}
		}
	}
	if len(got) < n {
		t.Errorf("delivered %d of %d events within %s", len(got), n, wait)
	}
	r.mu.Lock()
	if len(r.bad) > 0 {
		t.Errorf("%d deliveries whose signature did not verify, e.g. %s", len(r.bad), r.bad[0])
	}
	r.mu.Unlock()
	if out := os.Getenv("FLOWBUS_DELIVERY_OUT"); out != "" {
		if err := os.WriteFile(out, []byte(e.out.String()), 0o644); err != nil {
			t.Error(err)
		}
	}
	if t.Failed() {
		t.Logf("runtime output (tail):\n%s", tail(e.out.String(), 40))
	}
}

func parseLoad(s string) (n, m int, err error) {
	a, b, ok := strings.Cut(s, ",")
	if !ok {
		return 0, 0, fmt.Errorf("want N,M")
	}
	if n, err = strconv.Atoi(a); err != nil || n <= 0 {
		return 0, 0, fmt.Errorf("N: want a positive number")
	}
	if m, err = strconv.Atoi(b); err != nil || m <= 0 || m > n {
		return 0, 0, fmt.Errorf("M: want 1–N")
	}
	return n, m, nil
}

func tail(s string, lines int) string {
	ls := strings.Split(strings.TrimRight(s, "\n"), "\n")
	return strings.Join(ls[max(0, len(ls)-lines):], "\n")
}
