package devrun

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/flowbus/flowbus/shared/dynamostore"
	"github.com/flowbus/flowbus/shared/stats"
	"github.com/flowbus/flowbus/shared/testenv"
)

// TestMetrics checks GET /metrics against what was published through the
// local runtime: exact counts, a store size that matches the table, lag that
// goes to zero, and lag that grows while the consumer is stopped.
func TestMetrics(t *testing.T) {
	cfg := testenv.AWS(t)
	e := newEnv(t, "metrics")
	e.opts.ScheduleEvery = time.Hour // the test asks for fresh snapshots itself
	name := e.opts.Parameters["TableName"]
	start(t, e)
	defer func() { e.rt.Close() }()

	const workflows, perWorkflow = 10, 30
	var all []string
	for n := range perWorkflow {
		for w := range workflows {
			all = append(all, fmt.Sprintf(`{"type":"step.done","workflow_id":"m-%02d","data":{"n":%d}}`, w, n))
		}
	}
	for i := 0; i < len(all); i += 100 {
		e.post("[" + strings.Join(all[i:i+100], ",") + "]")
	}
	e.waitFor("300 events stored", func() bool {
		for w := range workflows {
			if len(e.history(fmt.Sprintf("m-%02d", w))) != perWorkflow {
				return false
			}
		}
		return true
	})
	var snap stats.Snapshot
	e.waitFor("lag to reach zero", func() bool {
		e.getJSON("/metrics?fresh=true", &snap)
		for _, l := range snap.Lag {
			if l.Records != 0 {
				return false
			}
		}
		return len(snap.Lag) > 0
	})
	if snap.Counts.Published != 300 || snap.Counts.Stored != 300 || snap.Store.Events != 300 || snap.Counts.Duplicates != 0 {
		t.Errorf("counts %+v, store %+v: want 300 published, 300 stored, 300 in the store", snap.Counts, snap.Store)
	}
	store := dynamostore.New(dynamoClient(cfg), name, dynamostore.Options{})
	var bytes int64
	for w := range workflows {
		h, err := store.Head(context.Background(), fmt.Sprintf("m-%02d", w))
		if err != nil {
			t.Fatal(err)
		}
		bytes += h.Bytes
	}
	if snap.Store.Bytes != bytes || len(snap.Store.Top) != stats.TopWorkflows {
		t.Errorf("store %d bytes, %d top workflows; the table holds %d bytes", snap.Store.Bytes, len(snap.Store.Top), bytes)
	}
	if snap.Rates.Published.M15 <= 0 || snap.Latency.Count != 300 || snap.Latency.P50 <= 0 {
		t.Errorf("rates %+v, latency %+v", snap.Rates, snap.Latency)
	}
	// Prometheus text when asked.
	req, _ := http.NewRequest(http.MethodGet, e.rt.URL()+"/metrics", nil)
	req.Header.Set("Accept", "text/plain")
	resp, err := e.rt.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	text, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(text), "flowbus_store_events 300") || !strings.Contains(string(text), "# TYPE flowbus_consumer_lag_records gauge") {
		t.Errorf("Prometheus answer:\n%s", text)
	}

	// Stop the consumer: what is published now waits, and the lag grows.
	if err := e.rt.Close(); err != nil {
		t.Fatal(err)
	}
	e.opts.NoMappings = true
	start(t, e)
	for w := range 5 {
		e.post(fmt.Sprintf(`{"type":"step.done","workflow_id":"m-%02d"}`, w))
	}
	lag := func() (records int, ms int64) {
		var s stats.Snapshot
		e.getJSON("/metrics?fresh=true", &s)
		for _, l := range s.Lag {
			records += l.Records
			ms = max(ms, l.Milliseconds)
		}
		return records, ms
	}
	r1, ms1 := lag()
	time.Sleep(1500 * time.Millisecond)
	r2, ms2 := lag()
	if r1 != 5 || r2 != 5 || ms2 <= ms1 {
		t.Errorf("lag with the consumer stopped: %d records %d ms, then %d records %d ms; want 5 records and growing age", r1, ms1, r2, ms2)
	}
}

func dynamoClient(cfg aws.Config) *dynamodb.Client { return dynamodb.NewFromConfig(cfg) }
