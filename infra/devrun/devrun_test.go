package devrun

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/google/go-cmp/cmp"

	"github.com/flowbus/flowbus/shared/testenv"
)

type env struct {
	t     *testing.T
	opts  Options
	rt    *Runtime
	out   *testenv.SyncBuffer
	probe string // the probe's log
}

// newEnv prepares a run of testdata/template.yaml with resources of its own.
func newEnv(t *testing.T, prefix string) *env {
	t.Helper()
	dir := t.TempDir()
	e := &env{t: t, out: &testenv.SyncBuffer{}, probe: filepath.Join(dir, "probe.log")}
	if err := os.Mkdir(filepath.Join(dir, "probe-state"), 0o755); err != nil {
		t.Fatal(err)
	}
	name := testenv.Name(prefix)
	e.opts = Options{
		Template: "testdata/template.yaml", Addr: "127.0.0.1:0", RunDir: filepath.Join(dir, "run"), PollEvery: 100 * time.Millisecond, Out: e.out,
		Parameters: map[string]string{"StreamName": name, "TableName": name, "QueueName": name, "ProbeQueueName": name + "-probe", "ProbeLog": e.probe, "ProbeState": filepath.Join(dir, "probe-state")},
	}
	return e
}

func start(t *testing.T, e *env) {
	t.Helper()
	rt, err := Start(context.Background(), e.opts)
	if err != nil {
		t.Fatalf("start: %v\n%s", err, e.out)
	}
	e.rt = rt
}

func (e *env) post(body string) map[string]any {
	e.t.Helper()
	resp, err := e.rt.Client().Post(e.rt.URL()+"/events", "application/json", strings.NewReader(body))
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 202 {
		e.t.Fatalf("POST /events: %d %s", resp.StatusCode, raw)
	}
	var out map[string]any
	if err := json.Unmarshal(raw, &out); err != nil {
		e.t.Fatal(err)
	}
	if out["failed_entry_count"] != float64(0) {
		e.t.Fatalf("POST /events: %s", raw)
	}
	return out
}

// history reads a workflow's event ids through GET /workflows/{id}/events.
func (e *env) history(wf string) []string {
	e.t.Helper()
	var ids []string
	after := ""
	for {
		u := e.rt.URL() + "/workflows/" + wf + "/events?limit=17" // many pages: no gap, no repeat across them
		if after != "" {
			u += "&after=" + after
		}
		resp, err := e.rt.Client().Get(u)
		if err != nil {
			e.t.Fatal(err)
		}
		var page struct {
			Events []struct {
				ID       string `json:"id"`
				Sequence string `json:"sequence"`
			} `json:"events"`
			Next *string `json:"next"`
		}
		err = json.NewDecoder(resp.Body).Decode(&page)
		resp.Body.Close()
		if err != nil || resp.StatusCode != 200 {
			e.t.Fatalf("GET %s: %d %v", u, resp.StatusCode, err)
		}
		for _, ev := range page.Events {
			ids = append(ids, ev.ID)
		}
		if page.Next == nil {
			return ids
		}
		after = *page.Next
	}
}

// waitFor polls until cond holds or a minute passes.
func (e *env) waitFor(what string, cond func() bool) {
	e.t.Helper()
	deadline := time.Now().Add(time.Minute)
	for !cond() {
		if time.Now().After(deadline) {
			e.t.Fatalf("timed out waiting for %s\nruntime output:\n%s", what, e.out)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func (e *env) postJSON(path, body string, status int, v any) {
	e.t.Helper()
	resp, err := e.rt.Client().Post(e.rt.URL()+path, "application/json", strings.NewReader(body))
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != status {
		e.t.Fatalf("POST %s: %d %s, want %d", path, resp.StatusCode, raw, status)
	}
	if err := json.Unmarshal(raw, v); err != nil {
		e.t.Fatalf("POST %s: %s: %v", path, raw, err)
	}
}

func (e *env) getJSON(path string, v any) {
	e.t.Helper()
	resp, err := e.rt.Client().Get(e.rt.URL() + path)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil || resp.StatusCode != 200 {
		e.t.Fatalf("GET %s: %d %v", path, resp.StatusCode, err)
	}
}

// settle waits until the probe has stopped handling records.
func (e *env) settle() {
	e.t.Helper()
	n := -1
	for stable := 0; stable < 8; stable++ {
		if m := len(e.probeLines()); m != n {
			n, stable = m, 0
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func (e *env) probeLines() []string {
	raw, _ := os.ReadFile(e.probe)
	var lines []string
	sc := bufio.NewScanner(bytes.NewReader(raw))
	for sc.Scan() {
		lines = append(lines, sc.Text())
	}
	return lines
}

// TestLocalRuntime drives the local runtime over HTTP, as make dev runs it:
// the real functions under the Runtime Interface Emulator, the HTTP API, the
// Kinesis event source mappings, against the engines.
func TestLocalRuntime(t *testing.T) {
	testenv.AWS(t)
	if os.Getenv("AWS_ENDPOINT_URL_SQS") == "" && os.Getenv("AWS_ENDPOINT_URL") == "" {
		t.Fatal("no SQS endpoint: make test starts sqslocal with the other engines")
	}
	e := newEnv(t, "e2e")
	e.opts.LiveEvery = time.Second
	out := e.out
	start(t, e)
	defer func() { e.rt.Close() }()

	// 20 workflows × 50 events, interleaved, in requests of 100.
	var all []string
	for n := range 50 {
		for w := range 20 {
			all = append(all, fmt.Sprintf(`{"type":"step.done","workflow_id":"wf-%02d","id":"wf-%02d-%02d","data":{"n":%d}}`, w, w, n, n))
		}
	}
	for i := 0; i < len(all); i += 100 {
		e.post("[" + strings.Join(all[i:i+100], ",") + "]")
	}
	// The probe's workflow, one record per request (a request's events of a
	// workflow share a record): one fails once, one is poison.
	e.post(`{"type":"probe.ok","workflow_id":"probe-a","id":"p1"}`)
	e.post(`{"type":"probe.fail-once","workflow_id":"probe-a","id":"p2"}`)
	e.post(`{"type":"probe.ok","workflow_id":"probe-a","id":"p3"}`)

	want := func(w, upTo int) []string {
		var ids []string
		for n := range upTo {
			ids = append(ids, fmt.Sprintf("wf-%02d-%02d", w, n))
		}
		return ids
	}
	e.waitFor("1,000 events in the store", func() bool {
		for w := range 20 {
			if len(e.history(fmt.Sprintf("wf-%02d", w))) < 50 {
				return false
			}
		}
		return true
	})
	for w := range 20 {
		if diff := cmp.Diff(want(w, 50), e.history(fmt.Sprintf("wf-%02d", w))); diff != "" {
			t.Errorf("wf-%02d (-want +got):\n%s", w, diff)
		}
	}

	// ReportBatchItemFailures: p2 failed once and was retried from there, so
	// the probe handled p1, p2, p3 in that order, once each.
	e.waitFor("the probe to handle probe-a", func() bool { return len(e.probeLines()) >= 3 })
	var handled []string
	for _, l := range e.probeLines() {
		if f := strings.Fields(l); len(f) == 3 && f[0] == "probe-a" {
			handled = append(handled, f[2])
		}
	}
	if diff := cmp.Diff([]string{"p1", "p2", "p3"}, handled); diff != "" {
		t.Errorf("probe-a handled (-want +got):\n%s", diff)
	}

	// A poison record (published once probe-a is done, so no other record
	// shares its batches) ends in the dead-letter queue after the retries.
	poison := e.post(`{"type":"probe.poison","workflow_id":"probe-b","id":"p9"}`)
	poisonSeq := poison["entries"].([]any)[0].(map[string]any)["sequence_number"].(string)

	qc := sqs.NewFromConfig(awsConfig(t))
	var dlq []string
	e.waitFor("the poison record in the dead-letter queue", func() bool {
		msgs, err := qc.ReceiveMessage(context.Background(), &sqs.ReceiveMessageInput{QueueUrl: aws.String(e.rt.QueueURLs["DeadLetterQueue"]), MaxNumberOfMessages: 10, WaitTimeSeconds: 1})
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range msgs.Messages {
			dlq = append(dlq, aws.ToString(m.Body))
		}
		return len(dlq) > 0
	})
	var failure struct {
		RequestContext struct {
			Condition              string `json:"condition"`
			ApproximateInvokeCount int    `json:"approximateInvokeCount"`
		} `json:"requestContext"`
		KinesisBatchInfo struct {
			StartSequenceNumber string `json:"startSequenceNumber"`
			EndSequenceNumber   string `json:"endSequenceNumber"`
			BatchSize           int    `json:"batchSize"`
		} `json:"KinesisBatchInfo"`
	}
	if err := json.Unmarshal([]byte(dlq[0]), &failure); err != nil {
		t.Fatal(err)
	}
	if failure.KinesisBatchInfo.StartSequenceNumber != poisonSeq || failure.KinesisBatchInfo.BatchSize != 1 || failure.RequestContext.Condition != "RetryAttemptsExhausted" {
		t.Errorf("on-failure record %s, want the poison record %s alone after its retries", dlq[0], poisonSeq)
	}
	e.waitFor("the live line to count the record sent to the dead-letter queue", func() bool {
		return strings.Contains(e.out.String(), "  dlq 1 (parked ")
	})

	// Schema evolution end to end: the design note's WorkflowEventV2 needs a
	// status, V1 has no data; read back with upcast=latest, V1 comes as V2.
	resp, err := e.rt.Client().Post(e.rt.URL()+"/events", "application/json", strings.NewReader(`{"type":"workflow.started","workflow_id":"schema-wf","version":2,"data":{}}`))
	if err != nil || resp.StatusCode != 400 {
		t.Fatalf("V2 without a status: %v %v, want 400", resp, err)
	}
	resp.Body.Close()
	e.post(`{"type":"workflow.started","workflow_id":"schema-wf","id":"v1"}`)
	e.post(`{"type":"workflow.completed","workflow_id":"schema-wf","id":"v2","version":2,"data":{"status":"done"}}`)
	e.waitFor("the schema workflow in the store", func() bool { return len(e.history("schema-wf")) == 2 })
	var upcast struct {
		Events []struct {
			ID      string         `json:"id"`
			Version int            `json:"dataversion"`
			Data    map[string]any `json:"data"`
		} `json:"events"`
	}
	e.getJSON("/workflows/schema-wf/events?upcast=latest", &upcast)
	if len(upcast.Events) != 2 || upcast.Events[0].Version != 2 || upcast.Events[0].Data["status"] != "unknown" || upcast.Events[1].Data["status"] != "done" {
		t.Errorf("upcast read %+v, want both events at version 2", upcast.Events)
	}

	// Replays, through the API. One workflow: answered at once; the copies
	// reach the stream marked (the probe sees them) and the store does not grow.
	var one struct {
		ID     string `json:"replay_id"`
		State  string `json:"state"`
		Events int    `json:"events_replayed"`
	}
	e.postJSON("/replays", `{"workflow_id":"wf-00"}`, 200, &one)
	if one.State != "completed" || one.Events != 50 {
		t.Errorf("replay of wf-00: %+v, want completed with 50 events", one)
	}
	e.waitFor("the probe to see the replayed copies", func() bool {
		for _, l := range e.probeLines() {
			if strings.HasPrefix(l, "wf-00 ") && strings.HasSuffix(l, " replay="+one.ID) {
				return true
			}
		}
		return false
	})
	// A time window across workflows runs in the background (the replay
	// function invokes itself through the local Lambda API).
	var window struct {
		ID    string `json:"replay_id"`
		State string `json:"state"`
	}
	e.postJSON("/replays", `{"from":"2000-01-01T00:00:00Z","to":"2100-01-01T00:00:00Z","types":["step.*"]}`, 202, &window)
	e.waitFor("the window replay to finish", func() bool {
		var got struct {
			State  string `json:"state"`
			Events int    `json:"events_replayed"`
		}
		e.getJSON("/replays/"+window.ID, &got)
		if got.State == "completed" && got.Events != 1000 {
			t.Errorf("window replay replayed %d events, want the 1,000 step.done events", got.Events)
		}
		return got.State == "completed"
	})
	// Cancelling answers 202 and leaves the replay in a final state (it may
	// have finished first: the worker starts at once).
	var doomed struct {
		ID string `json:"replay_id"`
	}
	e.postJSON("/replays", `{"from":"2000-01-01T00:00:00Z","to":"2100-01-01T00:00:00Z"}`, 202, &doomed)
	req, _ := http.NewRequest(http.MethodDelete, e.rt.URL()+"/replays/"+doomed.ID, nil)
	resp, err = e.rt.Client().Do(req)
	if err != nil || resp.StatusCode != 202 {
		t.Fatalf("DELETE /replays/%s: %v %v", doomed.ID, resp, err)
	}
	resp.Body.Close()
	e.waitFor("the cancelled replay to end", func() bool {
		var got struct{ State string }
		e.getJSON("/replays/"+doomed.ID, &got)
		return got.State == "cancelled" || got.State == "completed"
	})
	for w := range 20 {
		if n := len(e.history(fmt.Sprintf("wf-%02d", w))); n != 50 {
			t.Errorf("wf-%02d holds %d events after the replays, want 50", w, n)
		}
	}
	e.settle()

	// A restart loses nothing and stores nothing twice; the mappings resume
	// at their checkpoints instead of the start of the stream.
	before := len(e.probeLines())
	if err := e.rt.Close(); err != nil {
		t.Fatal(err)
	}
	start(t, e)
	var more []string
	for w := range 20 {
		for n := 50; n < 55; n++ {
			more = append(more, fmt.Sprintf(`{"type":"step.done","workflow_id":"wf-%02d","id":"wf-%02d-%02d"}`, w, w, n))
		}
	}
	e.post("[" + strings.Join(more, ",") + "]")
	e.post(`{"type":"probe.ok","workflow_id":"probe-a","id":"p4"}`)
	e.waitFor("the events published after the restart", func() bool {
		return len(e.history("wf-19")) >= 55 && len(e.probeLines()) > before
	})
	time.Sleep(time.Second) // anything re-read from the start of the stream would show by now
	for w := range 20 {
		if diff := cmp.Diff(want(w, 55), e.history(fmt.Sprintf("wf-%02d", w))); diff != "" {
			t.Errorf("after restart, wf-%02d (-want +got):\n%s", w, diff)
		}
	}
	if got := e.probeLines()[before:]; len(got) != 1 || !strings.HasSuffix(got[0], " p4") {
		t.Errorf("after the restart the probe handled %v, want only p4", got)
	}
	t.Logf("runtime output:\n%s", out)
}

func awsConfig(t *testing.T) aws.Config {
	return testenv.AWS(t)
}
