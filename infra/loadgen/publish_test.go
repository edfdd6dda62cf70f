package loadgen

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"
)

// A fake POST /events: acknowledges every event except those of workflow
// "<prefix>-w001" with an odd k, and fails every third request as a whole.
func TestPublishersRecordWhatWasAcknowledged(t *testing.T) {
	var mu sync.Mutex
	requests := 0
	seen := map[string][]int{} // k per workflow in arrival order
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var evs []wireEvent
		if err := json.NewDecoder(r.Body).Decode(&evs); err != nil {
			http.Error(w, err.Error(), 400)
			return
		}
		mu.Lock()
		requests++
		n := requests
		for _, e := range evs {
			seen[e.WorkflowID] = append(seen[e.WorkflowID], e.Data.K)
		}
		mu.Unlock()
		if n%3 == 0 {
			http.Error(w, "boom", 500)
			return
		}
		var entries []map[string]any
		for _, e := range evs {
			if e.WorkflowID == "t-w001" && e.Data.K%2 == 1 {
				entries = append(entries, map[string]any{"error_code": "EarlierEventFailed"})
				continue
			}
			entries = append(entries, map[string]any{"id": fmt.Sprintf("%s/%d", e.WorkflowID, e.Data.K)})
		}
		w.WriteHeader(http.StatusAccepted)
		_ = json.NewEncoder(w).Encode(map[string]any{"entries": entries})
	}))
	defer srv.Close()

	l := Run(context.Background(), Config{URL: srv.URL, Publishers: 2, Workflows: 4, Batch: 10, Duration: 100 * time.Millisecond, Prefix: "t"})
	if l.AckedCount() == 0 || l.UnackedCount() == 0 || l.FailedRequests == 0 {
		t.Fatalf("acked %d, unacked %d, failed requests %d: want some of each", l.AckedCount(), l.UnackedCount(), l.FailedRequests)
	}
	total := 0
	for wf, ks := range seen {
		total += len(ks)
		for i, k := range ks {
			if k != i {
				t.Fatalf("%s: event %d sent with k %d, want k to count sends per workflow", wf, i, k)
			}
		}
		prev := -1
		for _, a := range l.Acked[wf] {
			if a.K <= prev || a.ID != fmt.Sprintf("%s/%d", wf, a.K) {
				t.Fatalf("%s: acknowledged %+v after k %d: want ids in send order", wf, a, prev)
			}
			prev = a.K
			if _, both := l.Unacked[wf][a.K]; both {
				t.Fatalf("%s k %d both acknowledged and not", wf, a.K)
			}
		}
	}
	if got := l.AckedCount() + l.UnackedCount(); got != total {
		t.Errorf("acked+unacked = %d, want every event sent (%d)", got, total)
	}
	for k, why := range l.Unacked["t-w001"] {
		if k%2 == 1 && why != "EarlierEventFailed" && why[:8] != "request:" {
			t.Errorf("t-w001 k %d unacked as %q", k, why)
		}
	}
	if len(l.Requests) == 0 {
		t.Error("no request durations recorded")
	}
}

func TestRequestSummary(t *testing.T) {
	l := NewLedger()
	if got, want := l.RequestSummary(), "no request answered"; got != want {
		t.Errorf("empty ledger: got %q, want %q", got, want)
	}
	l.Requests = []time.Duration{3 * time.Second, 100 * time.Millisecond, 200 * time.Millisecond, 150 * time.Millisecond}
	if got, want := l.RequestSummary(), "4 requests, median 150ms, slowest 3s"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}
