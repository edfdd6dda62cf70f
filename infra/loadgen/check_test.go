package loadgen

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/google/go-cmp/cmp"

	"github.com/flowbus/flowbus/shared/table"
)

// fakeTable answers Query on pk with its items in sort-key order, two per
// page so paging is exercised.
type fakeTable struct {
	mu      sync.Mutex
	items   map[string][]map[string]types.AttributeValue
	queries int
	onQuery func(n int) // runs before each query answers (the checker reads one workflow at a time here)
}

func (f *fakeTable) put(pk, sk string, attrs map[string]types.AttributeValue) {
	if f.items == nil {
		f.items = map[string][]map[string]types.AttributeValue{}
	}
	it := table.Key(pk, sk)
	for k, v := range attrs {
		it[k] = v
	}
	f.items[pk] = append(f.items[pk], it)
	sort.Slice(f.items[pk], func(i, j int) bool { return str(f.items[pk][i], table.SK) < str(f.items[pk][j], table.SK) })
}

func (f *fakeTable) Query(_ context.Context, in *dynamodb.QueryInput, _ ...func(*dynamodb.Options)) (*dynamodb.QueryOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.queries++
	if f.onQuery != nil {
		f.onQuery(f.queries)
	}
	pk := in.ExpressionAttributeValues[":pk"].(*types.AttributeValueMemberS).Value
	all := f.items[pk]
	from := 0
	if in.ExclusiveStartKey != nil {
		last := str(in.ExclusiveStartKey, table.SK)
		for from < len(all) && str(all[from], table.SK) <= last {
			from++
		}
	}
	to := min(from+2, len(all))
	out := &dynamodb.QueryOutput{Items: all[from:to]}
	if to < len(all) {
		out.LastEvaluatedKey = table.Key(pk, str(all[to-1], table.SK))
	}
	return out, nil
}

func sv(s string) types.AttributeValue { return &types.AttributeValueMemberS{Value: s} }
func nv(n int) types.AttributeValue    { return &types.AttributeValueMemberN{Value: fmt.Sprint(n)} }
func bv(s string) types.AttributeValue { return &types.AttributeValueMemberB{Value: []byte(s)} }

// storeEvent writes an event item as the store does.
func (f *fakeTable) storeEvent(wf string, p uint64, id string, k int) {
	ev := fmt.Sprintf(`{"specversion":"1.0","id":%q,"source":"/flowbus","type":"load.tick","workflowid":%q,"data":{"k":%d,"t":1000}}`, id, wf, k)
	f.put(table.WorkflowPK(wf), table.PositionSK(p), map[string]types.AttributeValue{table.AttrID: sv(id), table.AttrAt: nv(1000 + int(p)), table.AttrData: bv(ev)})
}

func (f *fakeTable) head(wf string, last int, parked string) {
	attrs := map[string]types.AttributeValue{table.AttrLast: nv(last)}
	if parked != "" {
		attrs[table.AttrParked] = sv(parked)
	}
	f.put(table.WorkflowPK(wf), table.HeadSK, attrs)
}

// ledger acknowledges n events of wf with ids <wf>-<k>.
func ledger(n map[string]int) *Ledger {
	l := NewLedger()
	for wf, c := range n {
		for k := range c {
			l.ack(wf, Ack{ID: fmt.Sprintf("%s-%d", wf, k), K: k, SentAt: time.UnixMilli(900)})
		}
	}
	return l
}

func TestJudge(t *testing.T) {
	type want struct {
		stored, missing, dups, ooo, gaps, foreign, parkedExp, parkedWrong, storedUnacked, beyond int
		kinds                                                                                    []string
	}
	tests := []struct {
		name  string
		acked map[string]int
		setup func(f *fakeTable, l *Ledger)
		exp   Expect
		want  want
	}{
		{
			name: "all stored in order", acked: map[string]int{"a": 3, "b": 2},
			setup: func(f *fakeTable, _ *Ledger) {
				for k := range 3 {
					f.storeEvent("a", uint64(k+1), fmt.Sprintf("a-%d", k), k)
				}
				f.head("a", 3, "")
				f.storeEvent("b", 1, "b-0", 0)
				f.storeEvent("b", 2, "b-1", 1)
				f.head("b", 2, "")
			},
			want: want{stored: 5},
		},
		{
			name: "one missing", acked: map[string]int{"a": 3},
			setup: func(f *fakeTable, _ *Ledger) {
				f.storeEvent("a", 1, "a-0", 0)
				f.storeEvent("a", 2, "a-2", 2)
				f.head("a", 2, "")
			},
			want: want{stored: 2, missing: 1, kinds: []string{"missing a id a-1 k 1"}},
		},
		{
			name: "stored twice", acked: map[string]int{"a": 2},
			setup: func(f *fakeTable, _ *Ledger) {
				f.storeEvent("a", 1, "a-0", 0)
				f.storeEvent("a", 2, "a-1", 1)
				f.storeEvent("a", 3, "a-1", 1)
				f.head("a", 3, "")
			},
			want: want{stored: 2, dups: 1, kinds: []string{"duplicate a id a-1 k 1 pos 3"}},
		},
		{
			name: "out of order", acked: map[string]int{"a": 3},
			setup: func(f *fakeTable, _ *Ledger) {
				f.storeEvent("a", 1, "a-0", 0)
				f.storeEvent("a", 2, "a-2", 2)
				f.storeEvent("a", 3, "a-1", 1)
				f.head("a", 3, "")
			},
			want: want{stored: 3, ooo: 1, kinds: []string{"out-of-order a id a-1 k 1 pos 3"}},
		},
		{
			name: "gap under the head, items past it ignored", acked: map[string]int{"a": 2},
			setup: func(f *fakeTable, _ *Ledger) {
				f.storeEvent("a", 1, "a-0", 0)
				f.storeEvent("a", 3, "a-1", 1)
				f.storeEvent("a", 4, "a-9", 9) // an unfinished append
				f.head("a", 3, "")
			},
			want: want{stored: 2, gaps: 1, beyond: 1, kinds: []string{"gap a pos 2"}},
		},
		{
			name: "an event nobody sent", acked: map[string]int{"a": 1},
			setup: func(f *fakeTable, _ *Ledger) {
				f.storeEvent("a", 1, "a-0", 0)
				f.storeEvent("a", 2, "zz", 7)
				f.head("a", 2, "")
			},
			want: want{stored: 1, foreign: 1, kinds: []string{"foreign a id zz k 7 pos 2"}},
		},
		{
			name: "an unacknowledged event may be stored", acked: map[string]int{"a": 1},
			setup: func(f *fakeTable, l *Ledger) {
				l.unack("a", 1, "Cancelled")
				l.unack("a", 2, "Cancelled")
				f.storeEvent("a", 1, "a-0", 0)
				f.storeEvent("a", 2, "x-1", 1)
				f.head("a", 2, "")
			},
			want: want{stored: 1, storedUnacked: 1},
		},
		{
			name: "parked without a reason to be", acked: map[string]int{"a": 2},
			setup: func(f *fakeTable, _ *Ledger) {
				f.storeEvent("a", 1, "a-0", 0)
				f.head("a", 1, "undecodable")
				f.put(table.WorkflowPK("a"), table.ParkedSK(1), map[string]types.AttributeValue{table.AttrReason: sv("undecodable"), table.AttrData: bv(`{"id":"a-1"}`)})
				f.put(table.ParkedListPK, "a", map[string]types.AttributeValue{table.AttrReason: sv("undecodable")})
			},
			want: want{stored: 1, missing: 1, parkedWrong: 1, kinds: []string{"parked-unexpected a", "missing a id a-1 k 1"}},
		},
		{
			name: "poisoned and parked, good events behind it parked", acked: map[string]int{"a": 3},
			exp: Expect{Parked: map[string]bool{"a": true}},
			setup: func(f *fakeTable, _ *Ledger) {
				f.storeEvent("a", 1, "a-0", 0)
				f.head("a", 1, "undecodable")
				f.put(table.WorkflowPK("a"), table.ParkedSK(1), map[string]types.AttributeValue{table.AttrReason: sv("undecodable"), table.AttrData: bv(`garbage`)})
				f.put(table.WorkflowPK("a"), table.ParkedSK(2), map[string]types.AttributeValue{table.AttrReason: sv("parked"), table.AttrData: bv(`[{"id":"a-1"},{"id":"a-2"}]`)})
				f.put(table.ParkedListPK, "a", map[string]types.AttributeValue{table.AttrReason: sv("undecodable")})
			},
			want: want{stored: 1, parkedExp: 2},
		},
		{
			name: "poisoned but not parked", acked: map[string]int{"a": 1},
			exp: Expect{Parked: map[string]bool{"a": true}},
			setup: func(f *fakeTable, _ *Ledger) {
				f.storeEvent("a", 1, "a-0", 0)
				f.head("a", 1, "")
			},
			want: want{stored: 1, parkedWrong: 1, kinds: []string{"not-parked a"}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := &fakeTable{}
			l := ledger(tt.acked)
			tt.setup(f, l)
			c := &Checker{DB: f, Table: "t"}
			if _, err := c.Check(context.Background(), l, CheckOptions{Wait: time.Millisecond, Poll: time.Millisecond, Expect: tt.exp, Prefix: ""}); err != nil {
				t.Fatal(err)
			}
			parked, err := c.ParkedWorkflows(context.Background(), "")
			if err != nil {
				t.Fatal(err)
			}
			stored, err := c.Snapshot(context.Background(), l.Workflows())
			if err != nil {
				t.Fatal(err)
			}
			rep := Judge(l, stored, parked, tt.exp)
			got := want{stored: rep.Stored, missing: rep.Missing, dups: rep.Duplicates, ooo: rep.OutOfOrder, gaps: rep.Gaps,
				foreign: rep.Foreign, parkedExp: rep.ParkedExpected, parkedWrong: rep.ParkedWrong, storedUnacked: rep.StoredUnacked, beyond: rep.Beyond}
			for _, p := range rep.Problems {
				s := p.String()
				if i := strings.Index(s, ":"); i >= 0 {
					s = s[:i]
				}
				got.kinds = append(got.kinds, strings.Join(strings.Fields(s), " "))
			}
			if diff := cmp.Diff(tt.want, got, cmp.AllowUnexported(want{})); diff != "" {
				t.Errorf("report (-want +got):\n%s\n%s", diff, rep.Details(20))
			}
			if rep.OK() != (len(tt.want.kinds) == 0) {
				t.Errorf("OK() = %v with problems %v", rep.OK(), got.kinds)
			}
		})
	}
}

func TestCheckWaitsForTheConsumer(t *testing.T) {
	f := &fakeTable{}
	l := ledger(map[string]int{"a": 3})
	f.storeEvent("a", 1, "a-0", 0)
	f.head("a", 1, "")
	// The consumer stores the second event a few readings later, never the third.
	f.onQuery = func(n int) {
		if n == 5 {
			f.storeEvent("a", 2, "a-1", 1)
			f.head("a", 2, "")
		}
	}
	c := &Checker{DB: f, Table: "t"}
	start := time.Now()
	rep, err := c.Check(context.Background(), l, CheckOptions{Wait: 150 * time.Millisecond, Poll: 10 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if took := time.Since(start); took < 150*time.Millisecond || took > 2*time.Second {
		t.Errorf("Check took %s, want about the 150ms bound", took)
	}
	if rep.Missing != 1 || rep.Stored != 2 {
		t.Errorf("missing %d, stored %d; want 1 and 2 (the bound ends the wait, not the first reading)", rep.Missing, rep.Stored)
	}
}

func TestUnchangedSnapshot(t *testing.T) {
	f := &fakeTable{}
	l := ledger(map[string]int{"a": 1})
	f.storeEvent("a", 1, "a-0", 0)
	f.head("a", 1, "")
	c := &Checker{DB: f, Table: "t"}
	before, err := c.Snapshot(context.Background(), []string{"a"})
	if err != nil {
		t.Fatal(err)
	}
	f.storeEvent("a", 2, "a-0", 0)
	f.head("a", 2, "")
	after, _ := c.Snapshot(context.Background(), []string{"a"})
	rep := Judge(l, after, nil, Expect{Unchanged: before})
	var kinds []string
	for _, p := range rep.Problems {
		kinds = append(kinds, p.Kind)
	}
	if diff := cmp.Diff([]string{"duplicate", "changed"}, kinds); diff != "" {
		t.Errorf("problems (-want +got):\n%s", diff)
	}
}

func TestPercentile(t *testing.T) {
	v := []float64{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}
	if got := Percentile(v, 50); got != 5 {
		t.Errorf("p50 = %v, want 5", got)
	}
	if got := Percentile(v, 99); got != 10 {
		t.Errorf("p99 = %v, want 10", got)
	}
	if got := Percentile(nil, 50); got != 0 {
		t.Errorf("p50 of nothing = %v, want 0", got)
	}
}
