package esm

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// notices collects the reports about the stream itself.
type notices struct {
	mu   sync.Mutex
	seen []string
}

func (n *notices) hook(r Report) {
	if r.Shard != "" {
		return
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	n.seen = append(n.seen, r.Result)
}

func (n *notices) contain(s string) bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	return slices.ContainsFunc(n.seen, func(x string) bool { return strings.Contains(x, s) })
}

func TestStreamCreatedAgainUnderARunningMapping(t *testing.T) {
	k := newFakeKinesis(shard0)
	for i := range 5 {
		k.put(shard0, "k", fmt.Sprint("old-", i))
	}
	fn := &fakeFunction{}
	cp := NewMemoryCheckpoints()
	m := newMapping(t, testConfig(), k, fn, nil, cp)
	var n notices
	m.OnInvoke(n.hook)
	start(t, m)
	eventually(t, 5*time.Second, "the old stream's records", func() bool { return len(fn.delivered()) == 5 })

	// The engine restarts without the stream; a while later it is provisioned
	// again and gets fewer records than the old one had, so the old
	// checkpoint's sequence number is nowhere in the new shard.
	k.deleteStream()
	eventually(t, 5*time.Second, "a notice that the stream is gone", func() bool { return n.contain("not found") })
	time.Sleep(20 * time.Millisecond)
	k.createStream(shard0)
	var last string
	for i := range 3 {
		last = k.put(shard0, "k", fmt.Sprint("new-", i))
	}
	eventually(t, 5*time.Second, "the new stream's records", func() bool { return len(fn.delivered()) == 8 })
	eventually(t, 5*time.Second, "the checkpoint at the new stream's last record", func() bool { return checkpoint(t, cp, m, shard0) == last })
	want := []string{"old-0", "old-1", "old-2", "old-3", "old-4", "new-0", "new-1", "new-2"}
	if diff := cmp.Diff(want, fn.delivered()); diff != "" {
		t.Errorf("delivered mismatch (-want +got):\n%s", diff)
	}
	if !n.contain("created again") {
		t.Errorf("notices %q, want one saying the stream was created again", n.seen)
	}

	// Records put later keep flowing.
	k.put(shard0, "k", "new-3")
	eventually(t, 5*time.Second, "a record put later", func() bool { return len(fn.delivered()) == 9 })
}

func TestStreamCreatedAgainBetweenTwoLooks(t *testing.T) {
	// Deleted and created again so fast that the supervisor never sees it
	// missing: the pollers' errors and the new creation timestamp tell.
	k := newFakeKinesis(shard0)
	for i := range 4 {
		k.put(shard0, "k", fmt.Sprint("old-", i))
	}
	fn := &fakeFunction{}
	cfg := testConfig()
	cfg.PollInterval = 20 * time.Millisecond
	m := newMapping(t, cfg, k, fn, nil, nil)
	var n notices
	m.OnInvoke(n.hook)
	start(t, m)
	eventually(t, 5*time.Second, "the old stream's records", func() bool { return len(fn.delivered()) == 4 })
	k.deleteStream()
	k.createStream(shard0)
	k.put(shard0, "k", "new-0")
	eventually(t, 5*time.Second, "the new stream's record", func() bool { return len(fn.delivered()) == 5 })
	if got := fn.delivered()[4]; got != "new-0" {
		t.Errorf("delivered %q after the old records, want new-0", got)
	}
	if !n.contain("created again") {
		t.Errorf("notices %q, want one saying the stream was created again", n.seen)
	}
}

func TestRestartWithCheckpointsOfAnOlderStream(t *testing.T) {
	for _, position := range []string{TrimHorizon, Latest} {
		t.Run(position, func(t *testing.T) {
			k := newFakeKinesis(shard0)
			for i := range 6 {
				k.put(shard0, "k", fmt.Sprint("old-", i))
			}
			path := t.TempDir() + "/checkpoints.json"
			cp, err := OpenFileCheckpoints(path)
			if err != nil {
				t.Fatal(err)
			}
			cfg := testConfig()
			fn1 := &fakeFunction{}
			m1 := newMapping(t, cfg, k, fn1, nil, cp)
			stop := start(t, m1)
			eventually(t, 5*time.Second, "the old stream's records", func() bool { return len(fn1.delivered()) == 6 })
			eventually(t, 5*time.Second, "a checkpoint", func() bool { return checkpoint(t, cp, m1, shard0) != "" })
			stop()

			// While the runtime is down the stream is deleted and created
			// again, and gets records.
			k.deleteStream()
			k.createStream(shard0)
			k.put(shard0, "k", "new-0")
			k.put(shard0, "k", "new-1")

			cp2, err := OpenFileCheckpoints(path)
			if err != nil {
				t.Fatal(err)
			}
			cfg.StartingPosition = position
			fn2 := &fakeFunction{}
			m2 := newMapping(t, cfg, k, fn2, nil, cp2)
			var n notices
			m2.OnInvoke(n.hook)
			start(t, m2)
			eventually(t, 5*time.Second, "a notice", func() bool { return n.contain("created again") })
			k.mu.Lock()
			calls := k.getCalls
			k.mu.Unlock()
			eventually(t, 5*time.Second, "a poll of the new stream", func() bool {
				k.mu.Lock()
				defer k.mu.Unlock()
				return k.getCalls > calls
			})
			last := k.put(shard0, "k", "new-2")
			eventually(t, 5*time.Second, "the checkpoint at the last record", func() bool { return checkpoint(t, cp2, m2, shard0) == last })
			want := []string{"new-0", "new-1", "new-2"}
			if position == Latest {
				// LATEST: what the new stream had before the mapping looked
				// is skipped, as a new mapping would.
				want = want[2:]
			}
			if diff := cmp.Diff(want, fn2.delivered()); diff != "" {
				t.Errorf("delivered mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestEngineDownForAWhile(t *testing.T) {
	// An engine stopped and started again with its data: the same stream, the
	// iterators possibly worthless. Nothing is delivered twice or lost.
	k := newFakeKinesis(shard0)
	var want []string
	for i := range 3 {
		k.put(shard0, "k", fmt.Sprint(i))
		want = append(want, fmt.Sprint(i))
	}
	fn := &fakeFunction{}
	m := newMapping(t, testConfig(), k, fn, nil, nil)
	var n notices
	m.OnInvoke(n.hook)
	start(t, m)
	eventually(t, 5*time.Second, "three records", func() bool { return len(fn.delivered()) == 3 })
	k.setDown(true)
	time.Sleep(100 * time.Millisecond)
	for i := 3; i < 6; i++ {
		k.mu.Lock()
		k.iters = map[string]fakeIter{} // a restarted engine knows no iterator
		k.mu.Unlock()
		want = append(want, fmt.Sprint(i))
	}
	k.setDown(false)
	for _, d := range want[3:] {
		k.put(shard0, "k", d)
	}
	eventually(t, 5*time.Second, "six records", func() bool { return len(fn.delivered()) >= 6 })
	time.Sleep(30 * time.Millisecond)
	if diff := cmp.Diff(want, fn.delivered()); diff != "" {
		t.Errorf("delivered mismatch (-want +got):\n%s", diff)
	}
	if n.contain("created again") {
		t.Errorf("notices %q: the stream was not created again", n.seen)
	}
}

func TestStreamKeyRecordsTheStreamsCreation(t *testing.T) {
	k := newFakeKinesis(shard0)
	cp := NewMemoryCheckpoints()
	m := newMapping(t, testConfig(), k, &fakeFunction{}, nil, cp)
	start(t, m)
	want := k.created.UTC().Format(time.RFC3339Nano)
	eventually(t, 5*time.Second, "the stream key saved", func() bool {
		got, _ := cp.Load(context.Background(), m.streamKey())
		return got == want
	})
}
