package devrun

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/flowbus/flowbus/infra/jwtlocal"
	"github.com/flowbus/flowbus/shared/apigw"
	"github.com/flowbus/flowbus/shared/authz"
	"github.com/flowbus/flowbus/shared/testenv"
)

// TestAuthorization runs template.yaml and takes every route through the
// local HTTP API's JWT authorizer and the functions' policy, end to end: no
// token, a malformed one, an expired one and one for another audience get
// 401 problem+json; a valid token of a caller the policy does not grant the
// request gets 403 problem+json and nothing is read or written; one it
// grants gets through.
func TestAuthorization(t *testing.T) {
	cfg := testenv.AWS(t)
	name := testenv.Name("authz")
	out := &testenv.SyncBuffer{}
	rt, err := Start(context.Background(), Options{
		Template: "../../template.yaml", Addr: "127.0.0.1:0", RunDir: t.TempDir(), PollEvery: 100 * time.Millisecond, Out: out, LiveEvery: -1,
		Parameters: map[string]string{"StreamName": name, "TableName": name, "DeadLetterQueueName": name, "DeliveryQueueName": name + "-delivery.fifo"},
	})
	if err != nil {
		t.Fatalf("start: %v\n%s", err, out)
	}
	defer rt.Close()

	// The policy is in the table before any function reads (and caches) it.
	policy := authz.NewStore(dynamodb.NewFromConfig(cfg), name)
	for _, e := range []authz.Entry{
		{Principal: "sub:alice", Grants: []authz.Grant{
			{Actions: []authz.Action{authz.Publish}, Sources: []string{"alice-app"}, Workflows: []string{"alice-*"}},
			{Actions: []authz.Action{authz.Read, authz.Replay}, Workflows: []string{"alice-*"}},
			{Actions: []authz.Action{authz.Subscriptions, authz.Redrive}, Subscriptions: []string{"alice-*"}},
			{Actions: []authz.Action{authz.Metrics}},
		}},
		{Principal: "group:bobs", Grants: []authz.Grant{
			{Actions: []authz.Action{authz.Publish}, Sources: []string{"bob-app"}, Workflows: []string{"bob-*"}},
			{Actions: []authz.Action{authz.Read, authz.Replay}, Workflows: []string{"bob-*"}},
			{Actions: []authz.Action{authz.Subscriptions}, Subscriptions: []string{"bob-*"}},
		}},
	} {
		if err := policy.Put(context.Background(), e); err != nil {
			t.Fatal(err)
		}
	}
	mint := func(c jwtlocal.Claims) string {
		tok, err := rt.Mint(c)
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	alice := mint(jwtlocal.Claims{Subject: "alice"})
	bob := mint(jwtlocal.Claims{Subject: "bob", Extra: map[string]any{"groups": []string{"bobs"}}})
	carol := mint(jwtlocal.Claims{Subject: "carol"}) // no grant at all
	admin := rt.Token()
	refused := []struct{ name, header, reason string }{
		{"no token", "", "no token"},
		{"malformed token", "Bearer abc.def", "not a JWT"},
		{"expired token", "Bearer " + mint(jwtlocal.Claims{Subject: "alice", TTL: -time.Minute}), "expired"},
		{"token for another audience", "Bearer " + mint(jwtlocal.Claims{Subject: "alice", Audience: "someone-else"}), "audience"},
	}

	do := func(t *testing.T, method, path, body, token string) (int, []byte, http.Header) {
		t.Helper()
		req, err := http.NewRequest(method, rt.URL()+path, strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		if body != "" {
			req.Header.Set("Content-Type", "application/json")
		}
		if token != "" {
			req.Header.Set("Authorization", token)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		raw, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, raw, resp.Header
	}
	problem := func(t *testing.T, status int, raw []byte, h http.Header, want int, wantType string) {
		t.Helper()
		var p apigw.Problem
		if status != want || h.Get("Content-Type") != apigw.ContentTypeProblem || json.Unmarshal(raw, &p) != nil || p.Type != wantType {
			t.Fatalf("got %d %s %s, want %d problem+json of type %s", status, h.Get("Content-Type"), raw, want, wantType)
		}
	}

	replayID := ""
	steps := []struct {
		method, path, body string
		without, with      string // a valid token the policy does not grant this, and one it does
		ok                 []int  // what the granted caller may get
	}{
		{"POST", "/events", `[{"type":"t.created","workflow_id":"alice-1","source":"alice-app","data":{}}]`, bob, alice, []int{202}},
		{"GET", "/workflows/alice-1/events", "", bob, alice, []int{200}},
		{"POST", "/replays", `{"workflow_id":"alice-1","target":{}}`, bob, alice, []int{200, 202}},
		{"GET", "/replays/{id}", "", bob, alice, []int{200}},
		{"DELETE", "/replays/{id}", "", bob, alice, []int{202, 409}},
		{"POST", "/subscriptions", `{"name":"alice-sub","pattern":{"source":["alice-app"],"workflowid":[{"prefix":"alice-"}]},"target":{"type":"http","url":"http://127.0.0.1:9/hook"}}`, bob, alice, []int{201}},
		{"GET", "/subscriptions", "", carol, alice, []int{200}},
		{"GET", "/subscriptions/alice-sub", "", bob, alice, []int{200}},
		{"PUT", "/subscriptions/alice-sub", `{"name":"alice-sub","pattern":{"source":["alice-app"],"workflowid":[{"prefix":"alice-"}]},"target":{"type":"http","url":"http://127.0.0.1:9/other"},"version":1}`, bob, alice, []int{200}},
		{"POST", "/subscriptions/alice-sub/rotate-secret", "", bob, alice, []int{200}},
		{"GET", "/subscriptions/alice-sub/dead-letters", "", bob, alice, []int{200}},
		{"POST", "/subscriptions/alice-sub/redrive", "", bob, alice, []int{200, 202}},
		{"POST", "/patterns/test", `{"pattern":{"source":["x"]},"event":{"specversion":"1.0","id":"1","type":"t","source":"x","workflowid":"w"}}`, carol, alice, []int{200}},
		{"DELETE", "/subscriptions/alice-sub", "", bob, alice, []int{204}},
		{"GET", "/metrics", "", bob, alice, []int{200}},
		{"GET", "/policies", "", alice, admin, []int{200}},
		{"PUT", "/policies", `{"principal":"sub:dave","grants":[{"actions":["metrics"]}]}`, alice, admin, []int{200}},
		{"DELETE", "/policies?principal=sub:dave", "", alice, admin, []int{204}},
	}
	covered := map[string]bool{}
	for _, s := range steps {
		t.Run(s.method+" "+s.path, func(t *testing.T) {
			path := strings.ReplaceAll(s.path, "{id}", replayID)
			key, _, _ := strings.Cut(s.method+" "+strings.ReplaceAll(s.path, "{id}", "{replay_id}"), "?")
			key = strings.ReplaceAll(strings.ReplaceAll(key, "alice-sub", "{name}"), "alice-1", "{workflow_id}")
			covered[key] = true
			for _, r := range refused {
				status, raw, h := do(t, s.method, path, s.body, r.header)
				problem(t, status, raw, h, http.StatusUnauthorized, apigw.TypeUnauthorized)
				if !strings.Contains(string(raw), r.reason) {
					t.Errorf("%s: %s; want the reason %q", r.name, raw, r.reason)
				}
			}
			status, raw, h := do(t, s.method, path, s.body, "Bearer "+s.without)
			problem(t, status, raw, h, http.StatusForbidden, apigw.TypeForbidden)
			status, raw, _ = do(t, s.method, path, s.body, "Bearer "+s.with)
			if !slices.Contains(s.ok, status) {
				t.Fatalf("granted: got %d %s, want one of %v", status, raw, s.ok)
			}
			if s.path == "/replays" {
				var rec struct {
					ID string `json:"replay_id"`
				}
				_ = json.Unmarshal(raw, &rec)
				replayID = rec.ID
			}
			if s.path == "/subscriptions" && s.method == "GET" {
				if !strings.Contains(string(raw), `"alice-sub"`) {
					t.Errorf("alice's list %s: want alice-sub", raw)
				}
				_, raw, _ = do(t, "GET", "/subscriptions", "", "Bearer "+bob)
				if strings.Contains(string(raw), "alice-sub") {
					t.Errorf("bob's list %s shows alice's subscription", raw)
				}
			}
		})
	}
	for _, r := range rt.Template().Routes {
		if !covered[r.Method+" "+r.Path] {
			t.Errorf("route %s %s is not exercised", r.Method, r.Path)
		}
	}

	// A subscription receives what its pattern matches: alice may subscribe
	// to her workflows only, and a pattern reaching beyond them is refused
	// and writes nothing.
	t.Run("a pattern beyond the caller's reads", func(t *testing.T) {
		for _, pattern := range []string{`{"source":["alice-app"]}`, `{"workflowid":[{"prefix":"bob-"}]}`, `{"workflowid":[{"anything-but":"bob-1"}]}`} {
			status, raw, h := do(t, "POST", "/subscriptions", `{"name":"alice-wide","pattern":`+pattern+`,"target":{"type":"http","url":"http://127.0.0.1:9/hook"}}`, "Bearer "+alice)
			problem(t, status, raw, h, http.StatusForbidden, apigw.TypeForbidden)
			if !strings.Contains(string(raw), "read workflow") {
				t.Errorf("pattern %s: 403 %s, want it to name the read", pattern, raw)
			}
		}
		if status, raw, _ := do(t, "GET", "/subscriptions/alice-wide", "", "Bearer "+alice); status != 404 {
			t.Errorf("refused subscription: GET %d %s, want 404", status, raw)
		}
	})

	// Nothing written: alice's PUT of version 1 and her DELETE went through
	// after bob's were refused, so his wrote nothing; and a batch with one
	// event bob may not publish is refused whole.
	t.Run("a batch with one forbidden event writes nothing", func(t *testing.T) {
		status, raw, h := do(t, "POST", "/events", `[{"type":"t.a","workflow_id":"bob-1","source":"bob-app","data":{}},`+
			`{"type":"t.b","workflow_id":"alice-2","source":"bob-app","data":{}}]`, "Bearer "+bob)
		problem(t, status, raw, h, http.StatusForbidden, apigw.TypeForbidden)
		if !strings.Contains(string(raw), "alice-2") {
			t.Errorf("403 %s: want it to name the refused workflow", raw)
		}
		status, raw, _ = do(t, "POST", "/events", `[{"type":"t.c","workflow_id":"bob-1","source":"bob-app","data":{}}]`, "Bearer "+bob)
		if status != 202 {
			t.Fatalf("bob's own event: %d %s", status, raw)
		}
		var page struct {
			Events []struct{ Type string } `json:"events"`
		}
		deadline := time.Now().Add(30 * time.Second)
		for len(page.Events) == 0 && time.Now().Before(deadline) {
			time.Sleep(200 * time.Millisecond)
			_, raw, _ = do(t, "GET", "/workflows/bob-1/events", "", "Bearer "+bob)
			_ = json.Unmarshal(raw, &page)
		}
		if len(page.Events) != 1 || page.Events[0].Type != "t.c" {
			t.Errorf("bob-1 holds %s; want only t.c, the refused batch's t.a never published", raw)
		}
	})
	if t.Failed() {
		t.Logf("runtime output:\n%s", out)
	}
}
