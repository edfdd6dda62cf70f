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
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/flowbus/flowbus/infra/devrun"
	"github.com/flowbus/flowbus/shared/event"
	"github.com/flowbus/flowbus/shared/testenv"
	"github.com/flowbus/flowbus/shared/webhook"
)

// TestPython runs examples/prefect's and examples/python's unittest suites
// with FLOWBUS_URL set to a local runtime of template.yaml with resources of
// its own (and AWS_ENDPOINT_URL_SQS, the engines' SQS, for the Prefect
// suite's queue).
func TestPython(t *testing.T) {
	py, err := exec.LookPath("python3")
	if err != nil {
		t.Skip("python3 is not installed: the Python client and Prefect example tests need it (any Python 3.8 or later)")
	}
	testenv.AWS(t)
	name := testenv.Name("tools")
	out := &testenv.SyncBuffer{}
	rt, err := devrun.Start(context.Background(), devrun.Options{
		Template: "../template.yaml", Addr: "127.0.0.1:0", RunDir: t.TempDir(), PollEvery: 100 * time.Millisecond, Out: out, LiveEvery: -1,
		Parameters: map[string]string{"StreamName": name, "TableName": name, "DeadLetterQueueName": name, "DeliveryQueueName": name + "-delivery.fifo"},
	})
	if err != nil {
		t.Fatalf("start the local runtime: %v\n%s", err, out)
	}
	defer rt.Close()
	fixture := signedFixture(t)
	env := append(os.Environ(), "FLOWBUS_URL="+rt.URL(), "FLOWBUS_SIGNED_FIXTURE="+fixture, "PYTHONDONTWRITEBYTECODE=1")
	// A runtime whose HTTP API checks tokens gives its admin's: the clients
	// send it as Authorization: Bearer.
	if tr, ok := any(rt).(interface{ Token() string }); ok && tr.Token() != "" {
		env = append(env, "FLOWBUS_TOKEN="+tr.Token())
	}

	for _, suite := range []string{"prefect", "python"} {
		t.Run(suite, func(t *testing.T) {
			cmd := exec.Command(py, "-m", "unittest", "discover", "-v", "-s", ".", "-p", "test_*.py")
			cmd.Dir = suite
			cmd.Env = env
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

// n8nTypes are the node types the workflows use and the typeVersions n8n
// has for each (packages/nodes-base: Webhook [1, 1.1, 2, 2.1], Code [1, 2],
// HTTP Request V1, V2 and V3 [3, 4, 4.1, 4.2], Execute Workflow Trigger
// [1, 1.1]).
var n8nTypes = map[string][]float64{
	"n8n-nodes-base.webhook":                {1, 1.1, 2, 2.1},
	"n8n-nodes-base.code":                   {1, 2},
	"n8n-nodes-base.httpRequest":            {1, 2, 3, 4, 4.1, 4.2},
	"n8n-nodes-base.executeWorkflowTrigger": {1, 1.1},
}

// n8nCode is each workflow's Code nodes and the file under n8n/code their
// jsCode must equal (python3 n8n/sync_code.py copies them in).
var n8nCode = map[string]map[string]string{
	"flowbus-orchestrator.json": {"Verify and decide": "verify-and-decide.js", "Check the answer": "check-answer.js"},
	"flowbus-publish.json":      {"Build events": "build-events.js", "Check the answer": "check-answer.js"},
}

type n8nWorkflow struct {
	Name        string                                  `json:"name"`
	Nodes       []n8nNode                               `json:"nodes"`
	Connections map[string]map[string][][]n8nConnection `json:"connections"`
	Settings    map[string]any                          `json:"settings"`
}

type n8nNode struct {
	ID          string         `json:"id"`
	Name        string         `json:"name"`
	Type        string         `json:"type"`
	TypeVersion float64        `json:"typeVersion"`
	Position    []float64      `json:"position"`
	Parameters  map[string]any `json:"parameters"`
	WebhookID   string         `json:"webhookId"`
}

type n8nConnection struct {
	Node  string `json:"node"`
	Type  string `json:"type"`
	Index *int   `json:"index"`
}

// TestN8n checks that examples/n8n's workflows are importable n8n workflow
// JSON wired as documented, then runs their Code nodes under Node.js
// (n8n/code_nodes.test.mjs), with a delivery signed by shared/webhook.
func TestN8n(t *testing.T) {
	for file, code := range n8nCode {
		t.Run(file, func(t *testing.T) {
			raw, err := os.ReadFile(filepath.Join("n8n", file))
			if err != nil {
				t.Fatal(err)
			}
			var wf n8nWorkflow
			dec := json.NewDecoder(bytes.NewReader(raw))
			if err := dec.Decode(&wf); err != nil {
				t.Fatalf("not JSON of a workflow: %v", err)
			}
			checkN8nWorkflow(t, wf)
			for _, n := range wf.Nodes {
				file, ok := code[n.Name]
				if n.Type != "n8n-nodes-base.code" {
					continue
				}
				if !ok {
					t.Errorf("Code node %q has no file in n8n/code", n.Name)
					continue
				}
				want, err := os.ReadFile(filepath.Join("n8n", "code", file))
				if err != nil {
					t.Fatal(err)
				}
				if got, _ := n.Parameters["jsCode"].(string); got != string(want) {
					t.Errorf("Code node %q differs from n8n/code/%s: run python3 examples/n8n/sync_code.py", n.Name, file)
				}
			}
		})
	}

	nodeBin, err := exec.LookPath("node")
	if err != nil {
		msg := "node is not installed: the n8n Code nodes run under Node.js 20 (make test needs it for the engines too)"
		if os.Getenv(testenv.EnvRequire) != "" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	cmd := exec.Command(nodeBin, "--test", "code_nodes.test.mjs")
	cmd.Dir = "n8n"
	cmd.Env = append(os.Environ(), "FLOWBUS_SIGNED_FIXTURE="+signedFixture(t))
	got, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("node --test examples/n8n/code_nodes.test.mjs: %v\n%s", err, got)
	}
	if !bytes.Contains(got, []byte("\n# skipped 0\n")) || !bytes.Contains(got, []byte("\n# fail 0\n")) {
		t.Fatalf("node --test: a test failed or was skipped:\n%s", got)
	}
}

func checkN8nWorkflow(t *testing.T, wf n8nWorkflow) {
	t.Helper()
	if wf.Name == "" || len(wf.Nodes) == 0 || wf.Connections == nil {
		t.Fatalf("a workflow needs name, nodes and connections: %+v", wf)
	}
	if wf.Settings["executionOrder"] != "v1" {
		t.Errorf("settings.executionOrder: got %v, want v1 (n8n 1.x and later)", wf.Settings["executionOrder"])
	}
	names, ids := map[string]n8nNode{}, map[string]bool{}
	triggers := 0
	for _, n := range wf.Nodes {
		if n.ID == "" || n.Name == "" || n.Parameters == nil || len(n.Position) != 2 {
			t.Errorf("node %+v: id, name, position [x, y] and parameters are required", n)
		}
		if _, dup := names[n.Name]; dup || ids[n.ID] {
			t.Errorf("node %q: name and id must be unique", n.Name)
		}
		names[n.Name], ids[n.ID] = n, true
		versions, known := n8nTypes[n.Type]
		if !known {
			t.Errorf("node %q: type %q is not one n8n has", n.Name, n.Type)
		} else if !slices.Contains(versions, n.TypeVersion) {
			t.Errorf("node %q: %s has typeVersions %v, not %v", n.Name, n.Type, versions, n.TypeVersion)
		}
		switch n.Type {
		case "n8n-nodes-base.webhook":
			triggers++
			opts, _ := n.Parameters["options"].(map[string]any)
			if n.Parameters["httpMethod"] != "POST" || opts["rawBody"] != true || n.WebhookID == "" {
				t.Errorf("webhook %q: POST, options.rawBody (the signature is over the raw bytes) and webhookId: %v", n.Name, n.Parameters)
			}
			// Answered when the workflow ends, so a failure is a 500 that
			// flowbus retries; with no body, so an event that needs nothing
			// (no item out of the Code node) is a 200, where firstEntryJson
			// would answer 500 and have it retried for a day.
			if n.Parameters["responseMode"] != "lastNode" || n.Parameters["responseData"] != "noData" {
				t.Errorf("webhook %q: responseMode %v and responseData %v, want lastNode and noData", n.Name, n.Parameters["responseMode"], n.Parameters["responseData"])
			}
		case "n8n-nodes-base.executeWorkflowTrigger":
			triggers++
		case "n8n-nodes-base.httpRequest":
			if n.Parameters["method"] != "POST" || !strings.HasSuffix(fmt.Sprint(n.Parameters["url"]), "/events") ||
				n.Parameters["specifyBody"] != "json" || !strings.HasPrefix(fmt.Sprint(n.Parameters["jsonBody"]), "={{") {
				t.Errorf("HTTP Request %q: POST to /events with a JSON body expression: %v", n.Name, n.Parameters)
			}
		}
	}
	if triggers != 1 {
		t.Errorf("got %d trigger nodes, want 1", triggers)
	}
	fed := map[string]bool{}
	for from, outputs := range wf.Connections {
		if _, ok := names[from]; !ok {
			t.Errorf("connections: %q is no node", from)
		}
		for kind, lists := range outputs {
			if kind != "main" {
				t.Errorf("connections of %q: %q, want main", from, kind)
			}
			for _, list := range lists {
				for _, c := range list {
					if _, ok := names[c.Node]; !ok || c.Type != "main" || c.Index == nil || *c.Index < 0 {
						t.Errorf("connection %q → %+v: an existing node, type main, index ≥ 0", from, c)
					}
					fed[c.Node] = true
				}
			}
		}
	}
	for name, n := range names {
		if n.Type != "n8n-nodes-base.webhook" && n.Type != "n8n-nodes-base.executeWorkflowTrigger" && !fed[name] {
			t.Errorf("node %q: nothing connects to it", name)
		}
	}
}
