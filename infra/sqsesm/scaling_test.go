package sqsesm

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
)

// TestSlowGroupsDoNotHoldOthers: on a FIFO queue, message groups whose
// invocations hang (a target that never answers) take more pollers than
// the mapping starts with; the other groups' messages are still handled
// promptly, because the mapping adds pollers while every poller is in an
// invocation and the queue has messages, and retires them once the queue is
// empty.
func TestSlowGroupsDoNotHoldOthers(t *testing.T) {
	c := engine(t)
	url := fifoQueue(t, c)
	const (
		slowGroups = 8 // more than DefaultConcurrency
		hold       = 20 * time.Second
		// bound is generous for a loaded machine, far below hold: the
		// other groups wait for a few ScaleIntervals.
		bound = 8 * time.Second
	)
	ctx := context.Background()
	for i := range slowGroups {
		if _, err := c.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: aws.String(url), MessageBody: aws.String(fmt.Sprintf("slow%d", i)),
			MessageGroupId: aws.String(fmt.Sprintf("slow%d", i))}); err != nil {
			t.Fatal(err)
		}
	}
	var fast []string
	for _, g := range []string{"a", "b", "c"} {
		for n := range 4 {
			fast = append(fast, fmt.Sprintf("%s%d", g, n))
		}
	}
	sendGroups(t, c, url, fast...)

	var mu sync.Mutex
	handled := map[string]time.Duration{}
	release := make(chan struct{})
	start := time.Now()
	fn := &fakeFunction{handle: func(ev events.SQSEvent) ([]byte, error) {
		slow := false
		mu.Lock()
		for _, r := range ev.Records {
			if r.Attributes["MessageGroupId"][:1] == "s" {
				slow = true
				continue
			}
			handled[r.Body] = time.Since(start)
		}
		mu.Unlock()
		if slow {
			select {
			case <-time.After(hold):
			case <-release:
			}
		}
		return nil, nil
	}}
	m, err := New(Config{FunctionName: "fn", QueueURL: url, Enabled: true, BatchSize: 1, VisibilityTimeout: time.Minute}, c, fn, nil)
	if err != nil {
		t.Fatal(err)
	}
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- m.Run(runCtx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	t.Cleanup(func() { close(release) }) // first: the held invocations end

	deadline := time.Now().Add(hold)
	for {
		mu.Lock()
		n := len(handled)
		mu.Unlock()
		if n == len(fast) || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	mu.Lock()
	for _, b := range fast {
		took, ok := handled[b]
		switch {
		case !ok:
			t.Errorf("%s not handled within %s: held behind the slow groups", b, hold)
		case took > bound:
			t.Errorf("%s handled after %s, want within %s (the slow groups hold for %s)", b, took.Round(time.Millisecond), bound, hold)
		}
	}
	mu.Unlock()
	if running, _ := m.Pollers(); running > slowGroups+DefaultConcurrency {
		t.Errorf("%d pollers for %d held groups, want at most %d: pollers are added only while every poller is in an invocation", running, slowGroups, slowGroups+DefaultConcurrency)
	}
}

// TestBacklogAddsPollers: a backlog of messages for quick invocations (many
// FIFO groups, 100 ms a message) makes the mapping add pollers beyond the 5
// it starts with, as Lambda scales on the queue's backlog, and the groups
// are each handled in order.
func TestBacklogAddsPollers(t *testing.T) {
	c := engine(t)
	url := fifoQueue(t, c)
	const groups, per = 40, 3
	bodies := groupBodies(groups, per)
	sendGroups(t, c, url, bodies...)

	var mu sync.Mutex
	seen := map[string][]string{}
	fn := &fakeFunction{handle: func(ev events.SQSEvent) ([]byte, error) {
		time.Sleep(100 * time.Millisecond)
		mu.Lock()
		defer mu.Unlock()
		for _, r := range ev.Records {
			g := r.Attributes["MessageGroupId"]
			seen[g] = append(seen[g], r.Body)
		}
		return nil, nil
	}}
	handled := func() bool {
		mu.Lock()
		defer mu.Unlock()
		n := 0
		for _, b := range seen {
			n += len(b)
		}
		return n >= len(bodies)
	}
	_, most := watched(t, Config{FunctionName: "fn", QueueURL: url, Enabled: true, BatchSize: 1, VisibilityTimeout: time.Minute}, c, fn, handled)
	if most <= DefaultConcurrency {
		t.Errorf("at most %d pollers during a backlog of %d messages, want more than the %d the mapping starts with", most, len(bodies), DefaultConcurrency)
	}
	mu.Lock()
	defer mu.Unlock()
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
}
