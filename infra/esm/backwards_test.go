package esm

import (
	"testing"
	"time"
)

// kinesis-mock, killed with kill -9, loses the records put since its last
// write to disk and hands their sequence numbers out again with a later time
// part: these are the numbers it gave in such a run (one shard).
func TestCheckBackwards(t *testing.T) {
	t0 := time.Unix(1796163870, 0)
	const (
		kept  = "49680749989291963076885292792149621704343284191139463170" // persisted
		lost1 = "49680749989291963076885292792150830630162898820314169346" // acknowledged, read, lost in the kill
		lost2 = "49680749989291963076885292792152039555982513449488875522"
		new1  = "49680749989291963076885292792150830630162899163911553026" // put after the restart
		new2  = "49680749989291963076885292792152039555982513861805735938"
		new3  = "49680749989291963076885292792153248481802128491000000000"
	)
	sh := &shard{}
	steps := []struct {
		seq     string
		arrival time.Time
		back    bool
		passed  int
	}{
		{kept, t0, false, 0},
		{lost1, t0.Add(100 * time.Millisecond), false, 0},
		{lost2, t0.Add(200 * time.Millisecond), false, 0},
		// read again from the trim horizon: arrived before, not backwards
		{kept, t0, false, 0},
		{lost1, t0.Add(100 * time.Millisecond), false, 0},
		// after the restart
		{new1, t0.Add(3 * time.Second), true, 0},
		{new2, t0.Add(3100 * time.Millisecond), false, 1},
		{new3, t0.Add(3200 * time.Millisecond), false, 0},
	}
	for i, s := range steps {
		back, passed := sh.checkBackwards(&record{seq: s.seq, arrival: s.arrival})
		if back != s.back || passed != s.passed {
			t.Errorf("step %d (%s): back %v passed %d, want %v %d", i, s.seq[len(s.seq)-12:], back, passed, s.back, s.passed)
		}
	}
}
