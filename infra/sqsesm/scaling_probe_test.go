package sqsesm

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
)

// Probes of the backlog scaling (385f5b0): the pollers and the invocations
// in flight never pass MaximumConcurrency; on a FIFO queue a group is never
// in two invocations at once and is handled in order, and the pollers stay
// bounded by the groups; once the queue is empty they go back to the 5 the
// mapping starts with.

// watched runs a mapping until t ends and samples its pollers until stop
// returns true; it returns the most pollers seen.
func watched(t *testing.T, cfg Config, c *sqs.Client, fn Invoker, stop func() bool) (*Mapping, int) {
	t.Helper()
	m, err := New(cfg, c, fn, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- m.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	most := 0
	deadline := time.Now().Add(60 * time.Second)
	for !stop() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out; at most %d pollers seen", most)
		}
		n, _ := m.Pollers()
		most = max(most, n)
		time.Sleep(5 * time.Millisecond)
	}
	n, _ := m.Pollers()
	return m, max(most, n)
}

// concurrent counts the invocations in flight and the most seen at once.
type concurrent struct {
	mu        sync.Mutex
	now, most int
	handled   int
}

func (c *concurrent) enter() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now++
	c.most = max(c.most, c.now)
}

func (c *concurrent) leave(records int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now--
	c.handled += records
}

func (c *concurrent) counts() (most, handled int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.most, c.handled
}

func TestProbeMaximumConcurrencyBound(t *testing.T) {
	c := engine(t)
	for _, limit := range []int{3, 7} {
		t.Run(fmt.Sprint(limit), func(t *testing.T) {
			url := queue(t, c, nil)
			const total = 80
			var bodies []string
			for i := range total {
				bodies = append(bodies, fmt.Sprint("m", i))
			}
			send(t, c, url, bodies...)
			var inv concurrent
			fn := &fakeFunction{handle: func(ev events.SQSEvent) ([]byte, error) {
				inv.enter()
				time.Sleep(40 * time.Millisecond)
				inv.leave(len(ev.Records))
				return nil, nil
			}}
			cfg := Config{FunctionName: "fn", QueueURL: url, Enabled: true, BatchSize: 1, MaximumConcurrency: limit, VisibilityTimeout: time.Minute}
			_, most := watched(t, cfg, c, fn, func() bool { _, h := inv.counts(); return h >= total })
			if most > limit {
				t.Errorf("%d pollers at most, want at most MaximumConcurrency %d", most, limit)
			}
			if got, _ := inv.counts(); got > limit {
				t.Errorf("%d invocations at once, want at most MaximumConcurrency %d", got, limit)
			}
			if got := len(fn.bodies()); got != total {
				t.Errorf("%d records handled, want %d (each once)", got, total)
			}
		})
	}
}

// A FIFO backlog over few groups: every poller added beyond the groups
// receives nothing, so the pollers stay within the groups plus one (a
// poller is added only while every poller is in an invocation, and with
// BatchSize 1 each of those holds a group of its own); each group is in at
// most one invocation at a time and handled in order. Afterwards the
// pollers go back to 5 within a long poll.
func TestProbeFifoScalingBounded(t *testing.T) {
	c := engine(t)
	url := fifoQueue(t, c)
	const groups, per = 9, 6
	bodies := groupBodies(groups, per)
	sendGroups(t, c, url, bodies...)

	var (
		mu      sync.Mutex
		seen    = map[string][]string{}
		inGroup = map[string]int{}
		errs    []string
		inv     concurrent
	)
	fn := &fakeFunction{handle: func(ev events.SQSEvent) ([]byte, error) {
		inv.enter()
		mu.Lock()
		for _, r := range ev.Records {
			g := r.Attributes["MessageGroupId"]
			if inGroup[g]++; inGroup[g] > 1 {
				errs = append(errs, fmt.Sprintf("group %s in %d invocations at once", g, inGroup[g]))
			}
		}
		mu.Unlock()
		time.Sleep(30 * time.Millisecond)
		mu.Lock()
		for _, r := range ev.Records {
			g := r.Attributes["MessageGroupId"]
			inGroup[g]--
			seen[g] = append(seen[g], r.Body)
		}
		mu.Unlock()
		inv.leave(len(ev.Records))
		return nil, nil
	}}
	cfg := Config{FunctionName: "fn", QueueURL: url, Enabled: true, BatchSize: 1, VisibilityTimeout: time.Minute}
	m, most := watched(t, cfg, c, fn, func() bool { _, h := inv.counts(); return h >= len(bodies) })
	if bound := max(DefaultConcurrency, groups+1); most > bound {
		t.Errorf("%d pollers at most for %d groups, want at most %d", most, groups, bound)
	}
	mu.Lock()
	for _, e := range errs {
		t.Error(e)
	}
	for g := range groups {
		name := string(rune('A' + g))
		var want []string
		for n := range per {
			want = append(want, fmt.Sprintf("%s%d", name, n))
		}
		if fmt.Sprint(seen[name]) != fmt.Sprint(want) {
			t.Errorf("group %s handled %v, want %v", name, seen[name], want)
		}
	}
	mu.Unlock()

	// Drained: an empty receive retires a poller while more than 5 run.
	// The empty answers come at the end of a long poll (LongPoll).
	deadline := time.Now().Add(LongPoll + 15*time.Second)
	for {
		n, _ := m.Pollers()
		if n <= DefaultConcurrency {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d pollers %v after the queue drained, want %d", n, LongPoll+15*time.Second, DefaultConcurrency)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
