package sqsesm

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/google/go-cmp/cmp"
)

// Probes of SetEnabled (38386ec), a mapping disabled and enabled while it
// runs: toggled at random while it drains a FIFO backlog it loses nothing,
// handles nothing twice and keeps each group's order; disabled while a
// batching window gathers it invokes nothing and gives the batch back at
// once; stopped while disabled it returns; SetEnabled from many goroutines
// at once is safe; a disabled mapping adds no pollers.

// visibility counts the messages of a queue that are visible and those in
// flight (received, not deleted).
func visibility(t *testing.T, c *sqs.Client, url string) (visible, hidden int) {
	t.Helper()
	out, err := c.GetQueueAttributes(context.Background(), &sqs.GetQueueAttributesInput{QueueUrl: aws.String(url),
		AttributeNames: []types.QueueAttributeName{types.QueueAttributeNameApproximateNumberOfMessages, types.QueueAttributeNameApproximateNumberOfMessagesNotVisible}})
	if err != nil {
		t.Fatal(err)
	}
	visible, _ = strconv.Atoi(out.Attributes["ApproximateNumberOfMessages"])
	hidden, _ = strconv.Atoi(out.Attributes["ApproximateNumberOfMessagesNotVisible"])
	return visible, hidden
}

// started runs m until the returned stop is called (or t ends); stop
// cancels Run's ctx and waits for Run to return, at most limit.
func started(t *testing.T, m *Mapping, limit time.Duration) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- m.Run(ctx) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			select {
			case err := <-done:
				if err != nil {
					t.Errorf("Run: %v", err)
				}
			case <-time.After(limit):
				t.Errorf("Run did not return within %v of its ctx's end", limit)
			}
		})
	}
	t.Cleanup(stop)
	return stop
}

// handledOnce records each body a function handles and reports a body
// handled twice, a group in two invocations at once, and a group's bodies
// handled out of order (bodies "<group><n>", n counting from 0).
type handledOnce struct {
	mu      sync.Mutex
	times   map[string]int
	groups  map[string][]string
	inGroup map[string]int
	errs    []string
}

func newHandledOnce() *handledOnce {
	return &handledOnce{times: map[string]int{}, groups: map[string][]string{}, inGroup: map[string]int{}}
}

func (h *handledOnce) enter(ev events.SQSEvent) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, r := range ev.Records {
		if g := r.Attributes["MessageGroupId"]; g != "" {
			if h.inGroup[g]++; h.inGroup[g] > 1 {
				h.errs = append(h.errs, fmt.Sprintf("group %s in %d invocations at once", g, h.inGroup[g]))
			}
		}
	}
}

func (h *handledOnce) leave(ev events.SQSEvent) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, r := range ev.Records {
		if h.times[r.Body]++; h.times[r.Body] > 1 {
			h.errs = append(h.errs, fmt.Sprintf("%s handled %d times (receive count %s)", r.Body, h.times[r.Body], r.Attributes["ApproximateReceiveCount"]))
		}
		if g := r.Attributes["MessageGroupId"]; g != "" {
			h.inGroup[g]--
			if n := len(h.groups[g]); r.Body != fmt.Sprintf("%s%d", g, n) {
				h.errs = append(h.errs, fmt.Sprintf("group %s: %s handled after %v, want %s%d", g, r.Body, h.groups[g], g, n))
			}
			h.groups[g] = append(h.groups[g], r.Body)
		}
	}
}

func (h *handledOnce) count() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.times)
}

func (h *handledOnce) check(t *testing.T, want []string) {
	t.Helper()
	h.mu.Lock()
	defer h.mu.Unlock()
	for i, e := range h.errs {
		if i == 20 {
			t.Errorf("… and %d more", len(h.errs)-i)
			break
		}
		t.Error(e)
	}
	var missing []string
	for _, b := range want {
		if h.times[b] == 0 {
			missing = append(missing, b)
		}
	}
	if len(missing) > 0 {
		t.Errorf("%d of %d messages never handled: %v", len(missing), len(want), missing)
	}
}

// toggle disables and enables m at random intervals of 50–300 ms until
// stop is closed, and leaves it enabled; it returns how many times it
// disabled m.
func toggle(m *Mapping, stop <-chan struct{}) (disables int) {
	defer m.SetEnabled(true)
	for on := false; ; on = !on {
		select {
		case <-stop:
			return disables
		case <-time.After(time.Duration(50+rand.IntN(251)) * time.Millisecond):
		}
		m.SetEnabled(on)
		if !on {
			disables++
		}
	}
}

// TestProbeEnableToggleFifo: a FIFO backlog drains while another goroutine
// disables and enables the mapping every 50–300 ms. The visibility timeout is
// a minute, so no message may legitimately come back: each is handled
// exactly once, each group in order and in one invocation at a time, and
// the queue ends empty.
func TestProbeEnableToggleFifo(t *testing.T) {
	c := engine(t)
	url := fifoQueue(t, c)
	const groups, per = 20, 30
	bodies := groupBodies(groups, per)
	sendGroups(t, c, url, bodies...)

	h := newHandledOnce()
	fn := &fakeFunction{handle: func(ev events.SQSEvent) ([]byte, error) {
		h.enter(ev)
		time.Sleep(time.Duration(20+rand.IntN(20)) * time.Millisecond)
		h.leave(ev)
		return json.Marshal(events.SQSEventResponse{})
	}}
	// Small batches of slow invocations, so that the drain spans many
	// toggles even on a fast machine: 300 batches of 30 ms on 5 pollers
	// take 1.8 s enabled.
	m, err := New(Config{FunctionName: "fn", QueueURL: url, Enabled: true, BatchSize: 2, ReportBatchItemFailures: true, MaximumConcurrency: 5, VisibilityTimeout: time.Minute}, c, fn, nil)
	if err != nil {
		t.Fatal(err)
	}
	started(t, m, 30*time.Second)
	stop := make(chan struct{})
	disabled := make(chan int, 1)
	go func() { disabled <- toggle(m, stop) }()
	waitFor(t, "every message handled", func() bool { return h.count() >= len(bodies) })
	close(stop)
	n := <-disabled
	waitFor(t, "the queue empty", func() bool { return held(t, c, url) == 0 })
	h.check(t, bodies)
	if got := len(fn.bodies()); got != len(bodies) {
		t.Errorf("%d records in the invocations, want %d (each message once)", got, len(bodies))
	}
	t.Logf("%d messages, %d invocations, %d disables", len(bodies), len(fn.invocations()), n)
}

// TestProbeEnableToggleScaling: the same on a standard queue whose mapping
// scales (no MaximumConcurrency): toggling never loses or doubles a
// message, and the pollers stay within LocalMaxConcurrency.
func TestProbeEnableToggleScaling(t *testing.T) {
	c := engine(t)
	url := queue(t, c, nil)
	var bodies []string
	for i := range 300 {
		bodies = append(bodies, fmt.Sprint("m", i))
	}
	send(t, c, url, bodies...)
	h := newHandledOnce()
	fn := &fakeFunction{handle: func(ev events.SQSEvent) ([]byte, error) {
		h.enter(ev)
		time.Sleep(time.Duration(50+rand.IntN(50)) * time.Millisecond)
		h.leave(ev)
		return nil, nil
	}}
	m, err := New(Config{FunctionName: "fn", QueueURL: url, Enabled: true, BatchSize: 2, VisibilityTimeout: time.Minute}, c, fn, nil)
	if err != nil {
		t.Fatal(err)
	}
	started(t, m, 30*time.Second)
	stop := make(chan struct{})
	disabled := make(chan int, 1)
	go func() { disabled <- toggle(m, stop) }()
	most := 0
	deadline := time.Now().Add(30 * time.Second)
	for h.count() < len(bodies) && time.Now().Before(deadline) {
		n, _ := m.Pollers()
		most = max(most, n)
		time.Sleep(5 * time.Millisecond)
	}
	close(stop)
	<-disabled
	waitFor(t, "the queue empty", func() bool { return held(t, c, url) == 0 })
	h.check(t, bodies)
	if most > LocalMaxConcurrency {
		t.Errorf("%d pollers at most, want at most %d", most, LocalMaxConcurrency)
	}
}

// TestProbeEnableDisableDuringBatchingWindow: a mapping disabled while a
// batching window gathers invokes nothing, and the batch it gathered is
// visible again at once, not after the visibility timeout; enabled again it
// handles every message once.
func TestProbeEnableDisableDuringBatchingWindow(t *testing.T) {
	c := engine(t)
	url := queue(t, c, nil)
	fn := &fakeFunction{}
	m, err := New(Config{FunctionName: "fn", QueueURL: url, Enabled: true, BatchSize: 25, MaximumBatchingWindow: 2 * time.Second, VisibilityTimeout: time.Minute}, c, fn, nil)
	if err != nil {
		t.Fatal(err)
	}
	started(t, m, 30*time.Second)
	want := []string{"w0", "w1", "w2", "w3", "w4"}
	send(t, c, url, want...)
	// A window is gathering once the messages are in flight: fewer than
	// BatchSize, the batch waits for the window's end.
	waitFor(t, "the messages received", func() bool { _, hidden := visibility(t, c, url); return hidden == len(want) })
	m.SetEnabled(false)
	// Visible again well before the visibility timeout (a minute).
	waitFor(t, "the gathered messages visible again", func() bool {
		visible, hidden := visibility(t, c, url)
		return visible == len(want) && hidden == 0
	})
	// Past the window's end: still nothing invoked.
	time.Sleep(3 * time.Second)
	if n := len(fn.invocations()); n != 0 {
		t.Fatalf("disabled during the window: %d invocations (%v), want none", n, fn.bodies())
	}
	if visible, hidden := visibility(t, c, url); visible != len(want) || hidden != 0 {
		t.Errorf("disabled: %d visible, %d in flight, want %d and 0", visible, hidden, len(want))
	}
	m.SetEnabled(true)
	waitFor(t, "every message handled once enabled", func() bool { return len(fn.bodies()) >= len(want) && held(t, c, url) == 0 })
	if diff := cmp.Diff(want, fn.bodies(), cmpSorted); diff != "" {
		t.Errorf("bodies (-want +got):\n%s", diff)
	}
}

// TestProbeEnableDisableStopsGathering: once disabled, a window under way
// stops gathering. Messages keep arriving during a long window; a mapping
// that went on gathering until the window's end would keep taking them, in
// flight, for the whole window. Disabled, none stays in flight beyond the
// receives under way.
func TestProbeEnableDisableStopsGathering(t *testing.T) {
	c := engine(t)
	url := queue(t, c, nil)
	fn := &fakeFunction{}
	const window = 15 * time.Second
	m, err := New(Config{FunctionName: "fn", QueueURL: url, Enabled: true, BatchSize: 1000, MaximumBatchingWindow: window, VisibilityTimeout: time.Minute}, c, fn, nil)
	if err != nil {
		t.Fatal(err)
	}
	stop := started(t, m, 30*time.Second)
	stopSending := make(chan struct{})
	var sent []string
	sending := make(chan struct{})
	go func() {
		defer close(sending)
		for i := 0; ; i++ {
			select {
			case <-stopSending:
				return
			case <-time.After(100 * time.Millisecond):
			}
			b := fmt.Sprint("s", i)
			if _, err := c.SendMessage(context.Background(), &sqs.SendMessageInput{QueueUrl: aws.String(url), MessageBody: aws.String(b)}); err != nil {
				t.Error(err)
				return
			}
			sent = append(sent, b)
		}
	}()
	defer func() {
		select {
		case <-stopSending:
		default:
			close(stopSending)
		}
		<-sending
	}()
	waitFor(t, "a window gathering", func() bool { _, hidden := visibility(t, c, url); return hidden >= 3 })
	disabledAt := time.Now()
	m.SetEnabled(false)
	// Within a third of the window the messages are visible: none in flight
	// while new ones still arrive.
	for {
		if _, hidden := visibility(t, c, url); hidden == 0 {
			break
		}
		if time.Since(disabledAt) > window/3 {
			t.Fatalf("disabled %v ago, messages still in flight: the window goes on gathering", time.Since(disabledAt).Round(time.Millisecond))
		}
		time.Sleep(20 * time.Millisecond)
	}
	close(stopSending)
	<-sending
	stop()
	if n := len(fn.invocations()); n != 0 {
		t.Fatalf("disabled: %d invocations, want none", n)
	}
	// Nothing lost: a mapping without a window (this one's would take the
	// whole window) handles each message once.
	next := &fakeFunction{}
	run(t, Config{QueueURL: url, Enabled: true, VisibilityTimeout: time.Minute}, c, next)
	waitFor(t, "every message handled by the next run", func() bool { return len(next.bodies()) >= len(sent) && held(t, c, url) == 0 })
	if diff := cmp.Diff(sent, next.bodies(), cmpSorted); diff != "" {
		t.Errorf("bodies (-want +got):\n%s", diff)
	}
}

// TestProbeEnableStopWhileDisabled: the runtime stops a disabled mapping:
// Run returns (no poller left waiting to be enabled, none stuck in a long
// poll), and every message is still in the queue, visible; a new mapping
// handles each once.
func TestProbeEnableStopWhileDisabled(t *testing.T) {
	for _, tt := range []struct {
		name    string
		enabled bool // at New; disabled with SetEnabled otherwise
	}{{"disabled while running", true}, {"started disabled", false}} {
		t.Run(tt.name, func(t *testing.T) {
			c := engine(t)
			url := queue(t, c, nil)
			fn := &fakeFunction{}
			cfg := Config{FunctionName: "fn", QueueURL: url, Enabled: tt.enabled, MaximumConcurrency: 10, VisibilityTimeout: time.Minute}
			m, err := New(cfg, c, fn, nil)
			if err != nil {
				t.Fatal(err)
			}
			stop := started(t, m, 10*time.Second)
			want := []string{"first"}
			if tt.enabled {
				send(t, c, url, "first")
				waitFor(t, "the first message handled", func() bool { return len(fn.bodies()) == 1 && held(t, c, url) == 0 })
				m.SetEnabled(false)
			} else {
				want = nil
			}
			var later []string
			for i := range 12 {
				later = append(later, fmt.Sprint("later", i))
			}
			send(t, c, url, later...)
			// The long polls under way receive them and give them back.
			waitFor(t, "the messages visible", func() bool {
				visible, hidden := visibility(t, c, url)
				return visible == len(later) && hidden == 0
			})
			stopped := time.Now()
			stop()
			t.Logf("Run returned %v after its ctx's end", time.Since(stopped).Round(time.Millisecond))
			if visible, hidden := visibility(t, c, url); visible != len(later) || hidden != 0 {
				t.Errorf("stopped: %d visible, %d in flight; want %d and 0", visible, hidden, len(later))
			}
			if got := fn.bodies(); !cmp.Equal(want, got, cmpSorted) {
				t.Errorf("handled %v while disabled, want %v", got, want)
			}
			cfg.Enabled = true
			next := &fakeFunction{}
			run(t, cfg, c, next)
			waitFor(t, "the backlog handled by the next run", func() bool { return len(next.bodies()) >= len(later) && held(t, c, url) == 0 })
			if diff := cmp.Diff(later, next.bodies(), cmpSorted); diff != "" {
				t.Errorf("next run's bodies (-want +got):\n%s", diff)
			}
		})
	}
}

// TestProbeEnableConcurrentSetEnabled: SetEnabled and Enabled from many
// goroutines at once, on a running mapping and on one not running, never
// panic (a channel closed twice) or race; the last call decides, and the
// mapping then does what it says.
func TestProbeEnableConcurrentSetEnabled(t *testing.T) {
	c := engine(t)
	url := queue(t, c, nil)
	fn := &fakeFunction{}
	cfg := Config{FunctionName: "fn", QueueURL: url, Enabled: true, VisibilityTimeout: time.Minute}
	idle, err := New(cfg, c, fn, nil)
	if err != nil {
		t.Fatal(err)
	}
	m, err := New(cfg, c, fn, nil)
	if err != nil {
		t.Fatal(err)
	}
	started(t, m, 30*time.Second)
	var wg sync.WaitGroup
	var flips atomic.Int64
	for g := range 32 {
		wg.Go(func() {
			r := rand.New(rand.NewPCG(uint64(g), 1))
			for range 300 {
				on := r.IntN(2) == 0
				m.SetEnabled(on)
				idle.SetEnabled(on)
				_ = m.Enabled()
				_ = idle.Enabled()
				flips.Add(1)
			}
		})
	}
	wg.Wait()
	for _, mm := range []*Mapping{m, idle} {
		mm.SetEnabled(false)
		if mm.Enabled() {
			t.Errorf("Enabled() = true after SetEnabled(false)")
		}
		mm.SetEnabled(true)
		if !mm.Enabled() {
			t.Errorf("Enabled() = false after SetEnabled(true)")
		}
	}
	t.Logf("%d SetEnabled calls", 2*flips.Load())
	send(t, c, url, "after")
	waitFor(t, "a message handled once enabled", func() bool { return len(fn.bodies()) == 1 && held(t, c, url) == 0 })
	m.SetEnabled(false)
	// Let the long polls under way take the next message and give it back.
	send(t, c, url, "disabled")
	waitFor(t, "the message visible", func() bool { visible, hidden := visibility(t, c, url); return visible == 1 && hidden == 0 })
	time.Sleep(500 * time.Millisecond)
	if got := fn.bodies(); !cmp.Equal([]string{"after"}, got) {
		t.Errorf("handled %v, want only the message sent while enabled", got)
	}
}

// TestProbeEnableNoPollersAdded: a mapping disabled while every poller is in
// an invocation and the queue has a backlog (what scale adds a poller for)
// adds none, and starts no invocation, until it is enabled again.
func TestProbeEnableNoPollersAdded(t *testing.T) {
	c := engine(t)
	url := queue(t, c, nil)
	var bodies []string
	for i := range 40 {
		bodies = append(bodies, fmt.Sprint("m", i))
	}
	send(t, c, url, bodies...)
	var (
		m        *Mapping
		mu       sync.Mutex
		entered  int
		atStop   = -1 // pollers right after the disable
		release  = make(chan struct{})
		disabled = make(chan struct{})
	)
	fn := &fakeFunction{handle: func(events.SQSEvent) ([]byte, error) {
		mu.Lock()
		entered++
		if entered == DefaultConcurrency {
			// Every poller the mapping starts with is in an invocation,
			// and the queue has a backlog.
			m.SetEnabled(false)
			atStop, _ = m.Pollers()
			close(disabled)
		}
		mu.Unlock()
		<-release
		return nil, nil
	}}
	var err error
	m, err = New(Config{FunctionName: "fn", QueueURL: url, Enabled: true, BatchSize: 1, MaximumConcurrency: 20, VisibilityTimeout: time.Minute}, c, fn, nil)
	if err != nil {
		t.Fatal(err)
	}
	stop := started(t, m, 30*time.Second)
	defer stop()
	select {
	case <-disabled:
	case <-time.After(20 * time.Second):
		close(release)
		t.Fatal("timed out waiting for every poller in an invocation")
	}
	// Several ScaleIntervals: scale would add a poller at each.
	most := 0
	for end := time.Now().Add(8 * ScaleInterval); time.Now().Before(end); {
		n, _ := m.Pollers()
		most = max(most, n)
		time.Sleep(5 * time.Millisecond)
	}
	mu.Lock()
	n, at := entered, atStop
	mu.Unlock()
	close(release)
	if most > at {
		t.Errorf("disabled with %d pollers, all in an invocation: %d pollers at most afterwards, want no more", at, most)
	}
	if n > at {
		t.Errorf("disabled with %d pollers: %d invocations started, want at most one a poller", at, n)
	}
	m.SetEnabled(true)
	waitFor(t, "every message handled once enabled", func() bool { return len(fn.bodies()) >= len(bodies) && held(t, c, url) == 0 })
	if diff := cmp.Diff(bodies, fn.bodies(), cmpSorted); diff != "" {
		t.Errorf("bodies (-want +got):\n%s", diff)
	}
}

// TestProbeEnableDisableReceiveCount: the long polls under way when the
// mapping is disabled receive what is sent next and give it back, and each
// receive counts towards the queue's redrive policy: a message may be
// received once by each of them in turn (the limit of giving back rather
// than cutting the long polls short; a long poll cut short by the client
// can still take a message on the server, which then stays in flight for
// the visibility timeout). Each poller receives at most once while
// disabled, so with a maxReceiveCount above the pollers a disable moves
// nothing to the dead-letter queue; with a lower one, a message may reach
// it without an invocation. Either way nothing is lost or handled twice.
func TestProbeEnableDisableReceiveCount(t *testing.T) {
	for _, tt := range []struct {
		maxReceives  int
		noDeadLetter bool
	}{{DefaultConcurrency + 1, true}, {2, false}} {
		t.Run(fmt.Sprint("maxReceiveCount ", tt.maxReceives), func(t *testing.T) {
			c := engine(t)
			dlq := queue(t, c, nil)
			_, dlqName, _ := queueOfURL(dlq)
			url := queue(t, c, map[string]string{"RedrivePolicy": fmt.Sprintf(`{"deadLetterTargetArn":"arn:aws:sqs:us-east-1:000000000000:%s","maxReceiveCount":"%d"}`, dlqName, tt.maxReceives)})
			fn := &fakeFunction{}
			m, err := New(Config{FunctionName: "fn", QueueURL: url, Enabled: true, VisibilityTimeout: time.Minute}, c, fn, nil)
			if err != nil {
				t.Fatal(err)
			}
			started(t, m, 30*time.Second)
			send(t, c, url, "first")
			// Handled: the pollers are in long polls on the empty queue.
			waitFor(t, "the first message handled", func() bool { return len(fn.bodies()) == 1 && held(t, c, url) == 0 })
			m.SetEnabled(false)
			want := []string{"second", "third", "fourth"}
			send(t, c, url, want...)
			time.Sleep(time.Second)
			m.SetEnabled(true)
			waitFor(t, "the messages handled or dead-lettered", func() bool { return held(t, c, url) == 0 && len(fn.bodies())-1+held(t, c, dlq) == len(want) })
			handled := fn.bodies()[1:]
			dead := held(t, c, dlq)
			if tt.noDeadLetter && dead != 0 {
				t.Errorf("%d messages dead-lettered without an invocation, want none: each poller receives at most once while disabled", dead)
			}
			seen := map[string]bool{}
			for _, b := range handled {
				if seen[b] {
					t.Errorf("%s handled twice", b)
				}
				seen[b] = true
			}
			t.Logf("maxReceiveCount %d, %d pollers: of %d messages sent while disabled, %d handled once enabled, %d dead-lettered without an invocation",
				tt.maxReceives, DefaultConcurrency, len(want), len(handled), dead)
		})
	}
}
