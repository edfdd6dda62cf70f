package replay_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/google/go-cmp/cmp"

	"github.com/flowbus/flowbus/shared/bus"
	"github.com/flowbus/flowbus/shared/consumer"
	"github.com/flowbus/flowbus/shared/dynamostore"
	"github.com/flowbus/flowbus/shared/event"
	"github.com/flowbus/flowbus/shared/eventstore"
	"github.com/flowbus/flowbus/shared/kinesisevent"
	"github.com/flowbus/flowbus/shared/replay"
	"github.com/flowbus/flowbus/shared/testenv"
)

var base = time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)

type fixture struct {
	db      *dynamodb.Client
	table   string
	store   *dynamostore.Store
	records *replay.Records
	kc      *kinesis.Client
	stream  string
	runner  *replay.Runner
}

// setup stores workflows × perWorkflow events, one a minute per workflow.
func setup(t *testing.T, workflows, perWorkflow int) *fixture {
	t.Helper()
	cfg := testenv.AWS(t)
	db, table := testenv.Table(t, cfg)
	kc, stream := testenv.Stream(t, cfg, 1)
	f := &fixture{db: db, table: table, store: dynamostore.New(db, table, dynamostore.Options{}), records: replay.NewRecords(db, table), kc: kc, stream: stream}
	for w := range workflows {
		wf := fmt.Sprintf("wf-%d", w)
		var in []eventstore.Incoming
		for n := range perWorkflow {
			e := &event.Event{ID: fmt.Sprintf("%s-%04d", wf, n), Source: "/t", Type: "step.done", WorkflowID: wf,
				Time: base.Add(time.Duration(n) * time.Minute), Data: []byte(fmt.Sprintf(`{"n":%d}`, n))}
			in = append(in, eventstore.Incoming{Event: e, Raw: event.Append(nil, e, true), Pos: eventstore.Position{Shard: "s", Seq: fmt.Sprintf("%06d", n)}})
		}
		if _, err := f.store.Append(context.Background(), wf, in); err != nil {
			t.Fatal(err)
		}
	}
	pub := bus.NewPublisher(kc, stream, bus.Options{})
	f.runner = &replay.Runner{Records: f.records, Source: f.store, PageSize: 50,
		Publishers: func(string) replay.Publisher { return pub }}
	return f
}

// onStream reads the target stream back: each workflow's event ids in order,
// checking every event is marked and keeps its position.
func (f *fixture) onStream(t *testing.T, replayID string) (map[string][]string, []byte) {
	t.Helper()
	shardID, arn, recs := testenv.ReadShard(t, f.kc, f.stream)
	got := map[string][]string{}
	for _, r := range recs {
		items, err := event.DecodeBatch(r.Data, event.DecodeOptions{Wire: true}, false, 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, it := range items {
			mark, _ := it.Event.Extension(event.AttrReplayID)
			if string(mark) != `"`+replayID+`"` || it.Event.Sequence == 0 {
				t.Fatalf("event %s: marker %s, sequence %d", it.Event.ID, mark, it.Event.Sequence)
			}
			got[it.Event.WorkflowID] = append(got[it.Event.WorkflowID], it.Event.ID)
		}
	}
	return got, testenv.LambdaEvent(t, shardID, arn, recs)
}

func ids(wf string, from, to int) []string {
	var out []string
	for n := from; n < to; n++ {
		out = append(out, fmt.Sprintf("%s-%04d", wf, n))
	}
	return out
}

func TestReplayOneWorkflow(t *testing.T) {
	f := setup(t, 3, 200)
	ctx := context.Background()
	rec, err := f.records.Create(ctx, replay.Spec{WorkflowID: "wf-1"}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	done, err := f.runner.Run(ctx, rec.ID)
	if err != nil || done.State != replay.Completed || done.Events != 200 {
		t.Fatalf("run: %+v, %v", done, err)
	}
	got, lambdaEvent := f.onStream(t, rec.ID)
	if diff := cmp.Diff(map[string][]string{"wf-1": ids("wf-1", 0, 200)}, got); diff != "" {
		t.Errorf("replayed (-want +got):\n%s", diff)
	}
	// The consumer sees the marked copies and the store does not grow.
	recs, err := kinesisevent.Decode(lambdaEvent)
	if err != nil {
		t.Fatal(err)
	}
	_, st := consumer.New(f.store, slog.New(slog.NewTextHandler(io.Discard, nil))).Handle(ctx, recs)
	if st.Replayed != 200 || st.Stored != 0 {
		t.Errorf("consumer stats %+v, want 200 replayed and nothing stored", st)
	}
	if h, _ := f.store.Head(ctx, "wf-1"); h.Last != 200 {
		t.Errorf("store holds %d events of wf-1 after the replay, want 200", h.Last)
	}
}

func TestTimeWindowReplayResumesAfterInterruption(t *testing.T) {
	f := setup(t, 3, 100)
	ctx := context.Background()
	from, to := base.Add(10*time.Minute), base.Add(70*time.Minute)
	rec, err := f.records.Create(ctx, replay.Spec{From: &from, To: &to, Types: []string{"step.*"}}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	// Each invocation ends before it finishes: the runner stops with
	// ErrPaused and the next invocation resumes from the saved position.
	// Small pages, each sent no faster than every 15 ms, make the whole
	// replay take longer than the first budget on any machine.
	f.runner.PageSize = 10
	pub := f.runner.Publishers("")
	f.runner.Publishers = func(string) replay.Publisher { return slowPublisher{pub, 15 * time.Millisecond} }
	invocations := 0
	id := rec.ID // Run gives no record when its deadline passes as it reads one
	// An invocation's budget starts short and doubles while invocations make
	// no progress, so a slow machine still gets through while the
	// interruption is exercised.
	budget, done := 120*time.Millisecond, int64(0)
	for {
		invocations++
		f.runner.Margin = budget / 2
		short, cancel := context.WithTimeout(ctx, budget)
		rec, err = f.runner.Run(short, id)
		cancel()
		if err == nil {
			break
		}
		if saved, gerr := f.records.Get(ctx, id); gerr == nil && saved.Events > done {
			done = saved.Events
		} else {
			budget = min(2*budget, 5*time.Second)
		}
		if !errors.Is(err, replay.ErrPaused) && !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("run: %v", err)
		}
		if rec != nil && rec.State.Terminal() {
			t.Fatalf("replay ended %s: %s", rec.State, rec.Error)
		}
		if invocations > 200 {
			t.Fatal("replay does not finish")
		}
	}
	if rec.State != replay.Completed || rec.Events != 180 {
		t.Errorf("replay %+v, want completed with 180 events", rec)
	}
	if invocations < 2 {
		t.Errorf("replay finished in %d invocation: the interruption was not exercised", invocations)
	}
	got, _ := f.onStream(t, rec.ID)
	// A page cut off by the end of an invocation is sent again whole by the
	// next one (at least once, never skipped): the first sending of each
	// event is the history in order.
	resent := 0
	for wf, evs := range got {
		first, seen := []string{}, map[string]bool{}
		for _, id := range evs {
			if seen[id] {
				resent++
				continue
			}
			seen[id] = true
			first = append(first, id)
		}
		got[wf] = first
	}
	want := map[string][]string{"wf-0": ids("wf-0", 10, 70), "wf-1": ids("wf-1", 10, 70), "wf-2": ids("wf-2", 10, 70)}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("replayed, first sendings (-want +got):\n%s", diff)
	}
	t.Logf("%d invocations, %d events sent again", invocations, resent)
}

// slowPublisher sends each page no sooner than delay after it is given.
type slowPublisher struct {
	replay.Publisher
	delay time.Duration
}

func (p slowPublisher) Publish(ctx context.Context, events []*event.Event) []bus.Result {
	select {
	case <-time.After(p.delay):
	case <-ctx.Done():
	}
	return p.Publisher.Publish(ctx, events)
}

func TestCancel(t *testing.T) {
	f := setup(t, 1, 10)
	ctx := context.Background()
	from, to := base, base.Add(time.Hour)
	rec, err := f.records.Create(ctx, replay.Spec{From: &from, To: &to}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if rec, err = f.records.Cancel(ctx, rec.ID, time.Now()); err != nil || rec.State != replay.Cancelled {
		t.Fatalf("cancel: %+v, %v", rec, err)
	}
	if rec, err = f.runner.Run(ctx, rec.ID); err != nil || rec.State != replay.Cancelled || rec.Events != 0 {
		t.Errorf("run of a cancelled replay: %+v, %v", rec, err)
	}
	if _, _, recs := testenv.ReadShard(t, f.kc, f.stream); len(recs) != 0 {
		t.Errorf("a cancelled replay put %d records", len(recs))
	}
	if _, err := f.records.Get(ctx, "nope"); !errors.Is(err, replay.ErrNotFound) {
		t.Errorf("Get of an unknown replay = %v, want ErrNotFound", err)
	}
}

// An id DynamoDB refuses as a key names no replay: ErrNotFound, never an
// error a client would be told to retry.
func TestGetRefusedKeyIsNotFound(t *testing.T) {
	f := setup(t, 0, 0)
	for _, id := range []string{"nope", strings.Repeat("x", 2100), strings.Repeat("é", 40000)} {
		if _, err := f.records.Get(context.Background(), id); !errors.Is(err, replay.ErrNotFound) {
			t.Errorf("Get(%d bytes) = %v, want ErrNotFound", len(id), err)
		}
	}
}

func TestValidID(t *testing.T) {
	for id, want := range map[string]bool{
		event.NewIDSource().New(time.Now()): true,
		"01JDX0000000000000000000AB":        true,
		"01JDX0000000000000000000A":         false, // 25
		"01JDX0000000000000000000ABC":       false, // 27
		"81JDX0000000000000000000AB":        false, // over 128 bits
		"01JDX0000000000000000000IL":        false, // not Crockford
		"01jdx0000000000000000000ab":        false,
		"":                                  false,
	} {
		if got := replay.ValidID(id); got != want {
			t.Errorf("ValidID(%q) = %v, want %v", id, got, want)
		}
	}
}
