package delivery

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/flowbus/flowbus/shared/bus"
	"github.com/flowbus/flowbus/shared/config"
	"github.com/flowbus/flowbus/shared/event"
	"github.com/flowbus/flowbus/shared/route"
	"github.com/flowbus/flowbus/shared/subscription"
	"github.com/flowbus/flowbus/shared/table"
	"github.com/flowbus/flowbus/shared/testenv"
)

// memBudget is the budget's rule in memory: a slot per id, at most max.
type memBudget struct {
	mu    sync.Mutex
	max   int
	slots map[string]map[string]bool // root -> ids granted
	asked []string                   // root/id of every call
	err   error
}

func (m *memBudget) Reserve(_ context.Context, root, id string, _ time.Time) (bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.asked = append(m.asked, root+"/"+id)
	if m.err != nil {
		return false, m.err
	}
	if m.slots == nil {
		m.slots = map[string]map[string]bool{}
	}
	s := m.slots[root]
	if s == nil {
		s = map[string]bool{}
		m.slots[root] = s
	}
	if s[id] {
		return true, nil
	}
	if len(s) >= m.max {
		return false, nil
	}
	s[id] = true
	return true, nil
}

func TestBudgetRefusesBeyondItsSlots(t *testing.T) {
	f := newFixture(t, busSub())
	b := &memBudget{max: 1}
	f.d.budget = b
	// Two cause events of one chain (root r): the first gets the slot, the
	// second is refused, handled and counted, never published.
	res, _ := f.d.Deliver(context.Background(), []Message{
		f.msg("orch", "wf", "e1", 1, 0, `,"correlationid":"r","causationhops":1`),
		f.msg("orch", "wf", "e2", 1, 0, `,"correlationid":"r","causationhops":1`),
	})
	if len(res.Failures) != 0 || len(f.bus.published) != 1 || len(f.dl.entries) != 0 {
		t.Fatalf("got failures %v, published %d, dead letters %d", res.Failures, len(f.bus.published), len(f.dl.entries))
	}
	if got := res.Figures["orch"]; got.BudgetLimited != 1 || got.Delivered != 1 || got.HopLimited != 0 {
		t.Errorf("got figures %+v, want 1 delivered, 1 budget-limited", got)
	}
	want := []string{"r/" + subscription.DerivedID("orch", "e1"), "r/" + subscription.DerivedID("orch", "e2")}
	if len(b.asked) != 2 || b.asked[0] != want[0] || b.asked[1] != want[1] {
		t.Errorf("asked %v, want %v (root = correlationid, id = the derived id)", b.asked, want)
	}
	// An original event is its own root; e1 delivered again takes no new slot.
	res, _ = f.d.Deliver(context.Background(), []Message{f.msg("orch", "wf", "e1", 2, 0, `,"correlationid":"r","causationhops":1`),
		f.msg("orch", "wf2", "o1", 1, 0)})
	if got := res.Figures["orch"]; got.Delivered != 2 || got.BudgetLimited != 0 || !slices.Contains(b.asked, "o1/"+subscription.DerivedID("orch", "o1")) ||
		b.slots["r"][subscription.DerivedID("orch", "e2")] {
		t.Errorf("got figures %+v, asked %v", got, b.asked)
	}
}

func TestBudgetFailureRetries(t *testing.T) {
	f := newFixture(t, busSub())
	f.d.budget = &memBudget{max: 1, err: errors.New("throttled")}
	res, _ := f.d.Deliver(context.Background(), []Message{f.msg("orch", "wf", "e1", 1, 0)})
	if len(res.Failures) != 1 || len(f.bus.published) != 0 || res.Figures["orch"].Retrying != 1 {
		t.Errorf("got failures %v, published %d, figures %+v: want a retry", res.Failures, len(f.bus.published), res.Figures["orch"])
	}
}

func TestBudgetIsNotAskedPastTheHopLimit(t *testing.T) {
	f := newFixture(t, busSub())
	b := &memBudget{max: 1}
	f.d.budget = b
	f.d.Deliver(context.Background(), []Message{f.msg("orch", "wf", "e1", 1, 0, `,"causationhops":`+strconv.Itoa(subscription.DefaultMaxHops))})
	if len(b.asked) != 0 {
		t.Errorf("asked %v: a hop-limited event takes no slot", b.asked)
	}
}

func TestNewBudgetsLimits(t *testing.T) {
	if b, err := NewBudgets(nil, "t", 0); err != nil || b.Max() != DefaultDerivedBudget {
		t.Errorf("0: %v %v, want the default", b, err)
	}
	for _, n := range []int{-1, MaxDerivedBudget + 1} {
		if _, err := NewBudgets(nil, "t", n); err == nil {
			t.Errorf("%d: no error", n)
		}
	}
}

// condAPI answers UpdateItem with a failed condition carrying item (nil:
// none, as dynalite), and GetItem with read.
type condAPI struct {
	item, read map[string]types.AttributeValue
	err        error
	gets       int
}

func (c *condAPI) UpdateItem(context.Context, *dynamodb.UpdateItemInput, ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error) {
	if c.err != nil {
		return nil, c.err
	}
	return nil, &types.ConditionalCheckFailedException{Message: aws.String("failed"), Item: c.item}
}

func (c *condAPI) GetItem(context.Context, *dynamodb.GetItemInput, ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error) {
	c.gets++
	return &dynamodb.GetItemOutput{Item: c.read}, nil
}

func TestReserveTellsARetryFromASpentBudget(t *testing.T) {
	with := func(ids ...string) map[string]types.AttributeValue {
		return map[string]types.AttributeValue{table.AttrDerivedIDs: &types.AttributeValueMemberSS{Value: ids}}
	}
	for name, c := range map[string]struct {
		api  *condAPI
		want bool
		gets int
	}{
		"granted before, item returned": {&condAPI{item: with("a", "x")}, true, 0},
		"spent, item returned":          {&condAPI{item: with("a", "b")}, false, 0},
		"granted before, item read":     {&condAPI{read: with("x")}, true, 1},
		"spent, item read":              {&condAPI{read: with("a")}, false, 1},
	} {
		t.Run(name, func(t *testing.T) {
			b, _ := NewBudgets(c.api, "t", 2)
			got, err := b.Reserve(context.Background(), "r", "x", time.Now())
			if err != nil || got != c.want || c.api.gets != c.gets {
				t.Errorf("got %v %v after %d reads, want %v after %d", got, err, c.api.gets, c.want, c.gets)
			}
		})
	}
	b, _ := NewBudgets(&condAPI{err: errors.New("throttled")}, "t", 2)
	if _, err := b.Reserve(context.Background(), "r", "x", time.Now()); err == nil {
		t.Error("an UpdateItem error: no error")
	}
}

// TestReserveOnDynalite runs the conditional UpdateItem on the engine: a
// budget of 3 grants 3 ids, refuses the fourth, grants a granted id again
// without counting it, and sets the expiry once.
func TestReserveOnDynalite(t *testing.T) {
	cfg := testenv.AWS(t)
	db, tbl := testenv.Table(t, cfg)
	ctx := context.Background()
	b, err := NewBudgets(db, tbl, 3)
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Unix(1796126400, 0)
	for i, c := range []struct {
		id   string
		want bool
	}{{"a", true}, {"b", true}, {"a", true}, {"c", true}, {"d", false}, {"b", true}, {"d", false}} {
		got, err := b.Reserve(ctx, "root1", c.id, t0.Add(time.Duration(i)*time.Minute))
		if err != nil || got != c.want {
			t.Errorf("reserve %d %q: got %v %v, want %v", i, c.id, got, err, c.want)
		}
	}
	if ok, err := b.Reserve(ctx, "root2", "d", t0); err != nil || !ok {
		t.Errorf("another root: got %v %v, want a slot", ok, err)
	}
	out, err := db.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(tbl), Key: table.Key(table.RootPK("root1"), table.BudgetSK)})
	if err != nil {
		t.Fatal(err)
	}
	n, _ := out.Item[table.AttrDerived].(*types.AttributeValueMemberN)
	exp, _ := out.Item[table.AttrExpires].(*types.AttributeValueMemberN)
	if n == nil || n.Value != "3" || exp == nil || exp.Value != strconv.FormatInt(t0.Add(BudgetLifetime).Unix(), 10) {
		t.Errorf("got item %v, want derived 3 and the first reservation's expiry", out.Item)
	}
}

// loopBus routes what it publishes back to the bus subscriptions as route
// would: ping to A1 and A2, pong to B1 and B2.
type loopBus struct {
	mu        sync.Mutex
	published map[string]int // derived id -> times published
	queue     []Message
}

func (l *loopBus) Publish(_ context.Context, evs []*event.Event) []bus.Result {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, e := range evs {
		l.published[e.ID]++
		l.queue = append(l.queue, pingPongMessages(e)...)
	}
	return make([]bus.Result, len(evs))
}

func pingPongMessages(e *event.Event) []Message {
	subs := []string{"A1", "A2"}
	if e.Type == "probe.pong" {
		subs = []string{"B1", "B2"}
	}
	var out []Message
	for _, s := range subs {
		body, _ := json.Marshal(route.Pointer{Subscription: s, WorkflowID: e.WorkflowID, EventID: e.ID,
			Event: json.RawMessage(event.Append(nil, e, false))})
		out = append(out, Message{ID: s + "-" + e.ID, ReceiptHandle: "rh-" + s + "-" + e.ID, Body: string(body),
			GroupID: route.GroupID(s, e.WorkflowID), ReceiveCount: 1, SentAt: time.Now()})
	}
	return out
}

func pingPongSub(name, out string) subscription.Subscription {
	return subscription.Subscription{Name: name, State: subscription.Enabled, Delivery: subscription.DefaultDelivery(),
		Target:           subscription.Target{Type: subscription.TargetBus},
		InputTransformer: &subscription.InputTransformer{InputTemplate: `{"type":"` + out + `","data":{}}`}}
}

// TestPingPongStopsAtTheBudget is the hostile probe's setup (docs/
// reliability.md): A1, A2 turn ping into pong, B1, B2 pong into ping. With
// the hop limit alone one ping became 511 events; with a budget of 10 on
// dynalite exactly 10 derived events are published, whatever the order, and
// every other derivation (2 per published event and the root, 22 in all) is
// refused and counted. Delivering every message again (a redelivery after
// a lost acknowledgement) takes no further slot.
func TestPingPongStopsAtTheBudget(t *testing.T) {
	cfg := testenv.AWS(t)
	db, tbl := testenv.Table(t, cfg)
	ctx := context.Background()
	const max = 10
	budget, err := NewBudgets(db, tbl, max)
	if err != nil {
		t.Fatal(err)
	}
	subs := &fakeSubs{subs: map[string]subscription.Subscription{}}
	for _, s := range []subscription.Subscription{pingPongSub("A1", "probe.pong"), pingPongSub("A2", "probe.pong"),
		pingPongSub("B1", "probe.ping"), pingPongSub("B2", "probe.ping")} {
		subs.subs[s.Name] = s
	}
	lb := &loopBus{published: map[string]int{}}
	d, err := New(Config{QueueURL: "http://sqs/q.fifo"}, Deps{Subscriptions: subs, Queue: &fakeQueue{vis: map[string]int32{}},
		DeadLetters: &fakeDL{}, Budget: budget, Targets: Targets{Bus: lb}})
	if err != nil {
		t.Fatal(err)
	}
	root := event.Event{ID: "ping-root", Source: "probe", Type: "probe.ping", WorkflowID: "wfan", Time: time.Now()}
	lb.queue = pingPongMessages(&root)
	var all []Message
	total := Figures{}
	for round := 0; len(lb.queue) > 0; round++ {
		if round > 100 {
			t.Fatal("the chain does not stop")
		}
		lb.mu.Lock()
		batch := lb.queue[:min(10, len(lb.queue))]
		lb.queue = lb.queue[len(batch):]
		lb.mu.Unlock()
		all = append(all, batch...)
		res, err := d.Deliver(ctx, batch)
		if err != nil || len(res.Failures) != 0 {
			t.Fatalf("round %d: %v, failures %v", round, err, res.Failures)
		}
		total.Merge(res.Figures)
	}
	limited, delivered := 0, 0
	for _, f := range total {
		limited += f.BudgetLimited
		delivered += f.Delivered
		if f.HopLimited != 0 {
			t.Errorf("hop-limited %d: the budget should stop the chain first", f.HopLimited)
		}
	}
	if len(lb.published) != max || delivered != max || limited != 2*(max+1)-max {
		t.Errorf("published %d distinct, delivered %d, budget-limited %d; want %d, %d, %d",
			len(lb.published), delivered, limited, max, max, 2*(max+1)-max)
	}
	// Every message again: the granted ones publish the same ids again (the
	// store keeps one copy), the refused ones stay refused, no slot is taken.
	lb.queue = nil
	again := Figures{}
	for i := 0; i < len(all); i += 10 {
		res, err := d.Deliver(ctx, all[i:min(i+10, len(all))])
		if err != nil || len(res.Failures) != 0 {
			t.Fatalf("redelivery: %v, failures %v", err, res.Failures)
		}
		again.Merge(res.Figures)
	}
	limited, delivered = 0, 0
	for _, f := range again {
		limited += f.BudgetLimited
		delivered += f.Delivered
	}
	if len(lb.published) != max || delivered != max || limited != 2*(max+1)-max {
		t.Errorf("redelivered: published %d distinct, delivered %d, budget-limited %d; want %d, %d, %d",
			len(lb.published), delivered, limited, max, max, 2*(max+1)-max)
	}
	out, err := db.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(tbl), Key: table.Key(table.RootPK("ping-root"), table.BudgetSK)})
	if err != nil {
		t.Fatal(err)
	}
	if n, _ := out.Item[table.AttrDerived].(*types.AttributeValueMemberN); n == nil || n.Value != strconv.Itoa(max) {
		t.Errorf("budget item %v, want derived %d", out.Item, max)
	}
}

// The configuration's default and limit of FLOWBUS_DERIVED_BUDGET are the
// budget's.
func TestBudgetLimitsMatchTheConfig(t *testing.T) {
	if config.DefaultDerivedBudget != DefaultDerivedBudget || config.DerivedBudgetLimit != MaxDerivedBudget {
		t.Errorf("config %d/%d, delivery %d/%d", config.DefaultDerivedBudget, config.DerivedBudgetLimit, DefaultDerivedBudget, MaxDerivedBudget)
	}
}
