package table

import (
	"sort"
	"testing"
)

func TestSortKeys(t *testing.T) {
	for _, c := range []struct{ got, want string }{
		{PositionSK(1), "00000000000000000001"},
		{PositionSK(18446744073709551615), "18446744073709551615"},
		{PartSK(PositionSK(7), 1), "00000000000000000007#1"},
		{ParkedSK(3), "p#00000000000000000003"},
		{PartSK(ParkedSK(3), 2), "p#00000000000000000003#2"},
		{MarkerSK("evt-1"), "i#evt-1"},
		{WorkflowPK("wf-1"), "w#wf-1"},
		{MinuteSK(29000000), "m#29000000"},
		{ShardSK("shardId-000000000001"), "shard#shardId-000000000001"},
		{ReplayPK("01J0000000000000000000000"), "replay#01J0000000000000000000000"},
		{TopAttr("wf-1"), "top:wf-1"},
	} {
		if c.got != c.want {
			t.Errorf("got %q, want %q", c.got, c.want)
		}
	}
}

// A workflow's items sort as the store reads them: events by position, each
// followed by its parts, then the head, the markers and the parked entries.
func TestWorkflowItemsSortInOrder(t *testing.T) {
	want := []string{
		PositionSK(1), PositionSK(2), PartSK(PositionSK(2), 1), PartSK(PositionSK(2), 2), PositionSK(10),
		HeadSK, MarkerSK("a"), ParkedSK(1), PartSK(ParkedSK(1), 1), ParkedSK(2),
	}
	got := append([]string(nil), want...)
	sort.Strings(got)
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("sorted %q, want %q", got, want)
		}
	}
}

func TestKey(t *testing.T) {
	k := Key(WorkflowPK("a"), HeadSK)
	if len(k) != 2 || k[PK] == nil || k[SK] == nil {
		t.Errorf("got %v, want pk and sk", k)
	}
}
