package table

import (
	"os"
	"strings"
	"testing"
)

// rows are the table's items as the code builds their keys, in the order
// docs/design.md lists them.
var rows = [][2]string{
	{WorkflowPK("<workflow>"), PositionSK(1) + " …"},
	{WorkflowPK("<workflow>"), PartSK(PositionSK(7), 1) + " …"},
	{WorkflowPK("<workflow>"), HeadSK},
	{WorkflowPK("<workflow>"), MarkerSK("<event id>")},
	{WorkflowPK("<workflow>"), ParkedSK(1) + " …"},
	{ParkedListPK, "<workflow>"},
	{StatsPK, MinutePrefix + "<unix minute>"},
	{StatsPK, TotalsSK},
	{StatsPK, ShardSK("<shard id>")},
	{StatsPK, SnapshotSK},
	{ReplayPK("<replay id>"), ReplaySK},
	{SubscriptionPK, SubscriptionSK("<name>")},
	{DeliveryPK("<name>"), TotalsSK},
	{DeliveryPK("<name>"), SincePrefix + "<unix minute>"},
	{DeliveryPK("<name>"), DeadLetterSK(1, "<event id>") + " …"},
	// AttemptSK("<workflow id>", "<event id>") with the length as <n>
	{DeliveryPK("<name>"), AttemptPrefix + "<n>:<workflow id>#<event id>"},
	{DeliveryPK("<name>"), ProgressSK("<pack>")},
	{PolicyPK, PolicySK("<principal>")},
	{RootPK("<event id>"), BudgetSK},
}

// attrs are every attribute name of the table.
var attrs = []string{
	PK, SK,
	AttrID, AttrType, AttrAt, AttrData, AttrParts, AttrReason, AttrPos, AttrSeq,
	AttrLast, AttrBytes, AttrLease, AttrUntil, AttrParked, AttrParkedWritten, AttrParkedResolved,
	AttrPublished, AttrConsumed, AttrStored, AttrDuplicates, AttrParkedCount, AttrReplayed, AttrLatency, AttrEvents,
	TopAttr("<workflow>"),
	AttrDeadLettered, AttrParkedFromDeadLetter, AttrOrderBroken, AttrLostFromDeadLetter,
	AttrLastSeq, AttrLastArrival, AttrUpdated,
	AttrDoc, AttrState, AttrVersion,
	AttrSecret, AttrSecretPrev, AttrSecretPrevUntil,
	AttrDerived, AttrDerivedIDs, AttrExpires,
	AttrMatched, AttrDelivered, AttrRetrying, AttrHopLimited, AttrBudgetLimited, LatencyBucketAttr(-1), AttrMinute, AttrError, AttrStatus, AttrAttempts, AttrWorkflow, AttrDone,
}

// docs/design.md's layout table lists every item the code writes, with
// every attribute name, spelled as the code spells them.
func TestDesignDocMatchesTheCode(t *testing.T) {
	raw, err := os.ReadFile("../../docs/design.md")
	if err != nil {
		t.Fatal(err)
	}
	doc := string(raw)
	start := strings.Index(doc, "One DynamoDB table, string partition key `pk`")
	end := strings.Index(doc, "A Query on `w#<workflow>`")
	if start < 0 || end < start {
		t.Fatal("docs/design.md: no layout table under \"The event store\"")
	}
	section := doc[start:end]
	var got [][2]string
	for _, line := range strings.Split(section, "\n") {
		cells := strings.Split(line, " | ")
		if !strings.HasPrefix(line, "| `") || len(cells) < 3 {
			continue
		}
		unquote := func(s string) string { return strings.ReplaceAll(strings.TrimPrefix(s, "| "), "`", "") }
		got = append(got, [2]string{unquote(cells[0]), unquote(cells[1])})
	}
	if len(got) != len(rows) {
		t.Errorf("got %d rows, want %d", len(got), len(rows))
	}
	for i := range min(len(got), len(rows)) {
		if got[i] != rows[i] {
			t.Errorf("row %d: got pk %q sk %q, want pk %q sk %q", i+1, got[i][0], got[i][1], rows[i][0], rows[i][1])
		}
	}
	for _, a := range attrs {
		if !strings.Contains(section, "`"+a+"`") && !strings.Contains(section, "`"+a+"` ") {
			t.Errorf("attribute %q is not in docs/design.md's layout table", a)
		}
	}
}

// The package documentation shows the same items and attributes.
func TestPackageDocMatchesTheCode(t *testing.T) {
	raw, err := os.ReadFile("doc.go")
	if err != nil {
		t.Fatal(err)
	}
	doc := string(raw)
	for _, r := range rows {
		pk, sk := r[0], strings.TrimSuffix(r[1], " …")
		found := false
		for _, line := range strings.Split(doc, "\n") {
			rest, ok := strings.CutPrefix(strings.TrimSpace(strings.TrimPrefix(line, "//")), pk+" ")
			if ok && strings.HasPrefix(strings.TrimLeft(rest, " "), sk+" ") {
				found = true
			}
		}
		if !found {
			t.Errorf("doc.go has no line for pk %q sk %q", pk, sk)
		}
	}
	for _, a := range attrs[2:] {
		if !strings.Contains(doc, a) {
			t.Errorf("attribute %q is not in doc.go", a)
		}
	}
}

// AttemptSK puts the workflow id's length first, so that no two (workflow,
// event) pairs share a key.
func TestAttemptSK(t *testing.T) {
	if got := AttemptSK("wf-1", "e#1"); got != "a#4:wf-1#e#1" {
		t.Errorf("AttemptSK(wf-1, e#1) = %q", got)
	}
	if AttemptSK("x#y", "z") == AttemptSK("x", "y#z") {
		t.Error("(x#y, z) and (x, y#z) share a key")
	}
}
