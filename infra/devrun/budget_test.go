package devrun

import (
	"testing"
	"time"

	"github.com/flowbus/flowbus/shared/testenv"
)

// budgetLimited reads a subscription's hop_limited and budget_limited.
func (e *env) budgetLimited(name string) (hops, budget int64) {
	e.t.Helper()
	var out struct {
		Status struct {
			HopLimited    int64 `json:"hop_limited"`
			BudgetLimited int64 `json:"budget_limited"`
		} `json:"status"`
	}
	e.getJSON("/subscriptions/"+name, &out)
	return out.Status.HopLimited, out.Status.BudgetLimited
}

// TestDerivedEventBudget is the hostile probe's amplifier (docs/
// reliability.md, "Subscriptions under attack") under the local runtime:
// A1 and A2 turn probe.ping into probe.pong, B1 and B2 probe.pong into
// probe.ping. With the hop limit alone one ping became 511 stored events;
// with DerivedEventBudget 6 the workflow holds the ping and 6 derived
// events, and the 8 other derivations (2 for the ping and for each of the 6,
// less the 6 granted; none reaches the hop limit) are counted
// budget_limited, whatever order the deliveries ran in.
func TestDerivedEventBudget(t *testing.T) {
	testenv.AWS(t)
	name := testenv.Name("budget")
	e := &env{t: t, out: &testenv.SyncBuffer{}}
	e.opts = Options{
		Template: "../../template.yaml", Addr: "127.0.0.1:0", RunDir: t.TempDir(), PollEvery: 100 * time.Millisecond, Out: e.out, LiveEvery: -1,
		Parameters: map[string]string{"StreamName": name, "TableName": name, "DeadLetterQueueName": name,
			"DeliveryQueueName": name + "-delivery.fifo", "DerivedEventBudget": "6"},
	}
	start(t, e)
	defer func() { e.rt.Close() }()

	subs := []string{"A1", "A2", "B1", "B2"}
	for _, s := range subs {
		in, out := "probe.ping", "probe.pong"
		if s[0] == 'B' {
			in, out = out, in
		}
		var created map[string]any
		e.postJSON("/subscriptions", `{"name":"`+s+`","pattern":{"type":["`+in+`"]},"target":{"type":"bus"},
			"input_transformer":{"input_template":"{\"type\":\"`+out+`\",\"data\":{}}"}}`, 201, &created)
	}
	e.post(`{"type":"probe.ping","workflow_id":"wfan","id":"ping-1"}`)

	limited := func() (hops, budget int64) {
		for _, s := range subs {
			h, b := e.budgetLimited(s)
			hops, budget = hops+h, budget+b
		}
		return hops, budget
	}
	e.waitFor("8 derivations refused by the budget", func() bool { _, b := limited(); return b >= 8 })
	e.waitFor("the ping and 6 derived events in the store", func() bool { return len(e.history("wfan")) >= 7 })
	time.Sleep(2 * time.Second) // nothing more comes
	if n := len(e.history("wfan")); n != 7 {
		t.Errorf("wfan holds %d events, want the ping and 6 derived ones", n)
	}
	if hops, budget := limited(); hops != 0 || budget != 8 {
		t.Errorf("got %d hop-limited and %d budget-limited, want 0 and 8", hops, budget)
	}
	if t.Failed() {
		t.Logf("runtime output:\n%s", e.out)
	}
}
