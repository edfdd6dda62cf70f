// Package examples_test runs the workflow-tool examples' own tests from
// go test, so make test runs them: the Python client's and the Prefect
// example's unittest suites against the local runtime's real HTTP API (the
// functions of template.yaml under the Runtime Interface Emulator, as make
// dev runs them), and the n8n workflows' checks under Node.js.
package examples_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/flowbus/flowbus/infra/devrun"
	"github.com/flowbus/flowbus/shared/event"
	"github.com/flowbus/flowbus/shared/testenv"
	"github.com/flowbus/flowbus/shared/webhook"
)

// syncBuffer collects the runtime's output across goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestPython runs examples/prefect's and examples/python's unittest suites
// with FLOWBUS_URL set to a local runtime of template.yaml with resources of
// its own. The Prefect suite goes first: it creates its subscription before
// any event is published, so the router's first snapshot has it.
func TestPython(t *testing.T) {
	py, err := exec.LookPath("python3")
	if err != nil {
		t.Skip("python3 is not installed: the Python client and Prefect example tests need it (any Python 3.8 or later)")
	}
	testenv.AWS(t)
	name := testenv.Name("tools")
	out := &syncBuffer{}
	rt, err := devrun.Start(context.Background(), devrun.Options{
		Template: "../template.yaml", Addr: "127.0.0.1:0", RunDir: t.TempDir(), PollEvery: 100 * time.Millisecond, Out: out, LiveEvery: -1,
		Parameters: map[string]string{"StreamName": name, "TableName": name, "DeadLetterQueueName": name, "DeliveryQueueName": name + "-delivery.fifo"},
	})
	if err != nil {
		t.Fatalf("start the local runtime: %v\n%s", err, out)
	}
	defer rt.Close()
	fixture := signedFixture(t)

	for _, suite := range []string{"prefect", "python"} {
		t.Run(suite, func(t *testing.T) {
			cmd := exec.Command(py, "-m", "unittest", "discover", "-v", "-s", ".", "-p", "test_*.py")
			cmd.Dir = suite
			cmd.Env = append(os.Environ(),
				"FLOWBUS_URL="+rt.URL(),
				"FLOWBUS_SIGNED_FIXTURE="+fixture,
				"PYTHONDONTWRITEBYTECODE=1",
			)
			got, err := cmd.CombinedOutput()
			if err != nil {
				t.Fatalf("python3 -m unittest in examples/%s: %v\n%s\nruntime output:\n%s", suite, err, got, out)
			}
			if strings.Contains(string(got), "skipped") {
				t.Errorf("examples/%s: a test was skipped with the runtime running:\n%s", suite, got)
			}
			t.Logf("examples/%s:\n%s", suite, got)
		})
	}
}

// signedFixture writes a delivery signed by shared/webhook (what flowbus's
// deliverer sends, binary mode, two secrets as during a rotation) to a file
// the Python and Node.js checks verify: one signing scheme, three
// implementations.
func signedFixture(t *testing.T) string {
	t.Helper()
	s1, err := webhook.GenerateSecret()
	if err != nil {
		t.Fatal(err)
	}
	s2, err := webhook.GenerateSecret()
	if err != nil {
		t.Fatal(err)
	}
	e := event.Event{
		ID: "01JDXFIXTURE0000000000000A", Source: "/flowbus", Type: "workflow.started", WorkflowID: "wf-fixture",
		Time: time.Now().UTC().Truncate(time.Second), Sequence: 1, Data: []byte(`{"order":42,"note":"grüße"}`),
	}
	now := time.Now()
	req, err := webhook.NewRequest(context.Background(), webhook.Target{URL: "http://127.0.0.1/hook", Secrets: []webhook.Secret{s1, s2}}, &e, now)
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(req.Body)
	if err != nil {
		t.Fatal(err)
	}
	headers := map[string]string{}
	for k, v := range req.Header {
		headers[strings.ToLower(k)] = v[0] // as Node.js and n8n hand them over
	}
	raw, err := json.Marshal(map[string]any{
		"secret": s2.String(), "other_secret": s1.String(), "headers": headers, "body": string(body),
		"event": map[string]any{"id": e.ID, "type": e.Type, "workflow_id": e.WorkflowID},
	})
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "signed-delivery.json")
	if err := os.WriteFile(path, raw, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}
