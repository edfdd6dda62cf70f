package stats_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/flowbus/flowbus/shared/metrics"
	"github.com/flowbus/flowbus/shared/stats"
	"github.com/flowbus/flowbus/shared/testenv"
)

func TestDeadLetterFigures(t *testing.T) {
	db, table := testenv.Table(t, testenv.AWS(t))
	ctx := context.Background()
	rec := stats.NewRecorder(db, table)
	now := time.Now()
	for _, d := range []stats.DeadLetter{
		{Records: 3, Parked: 4, OrderBroken: 2, Now: now.Add(-20 * time.Minute)}, // in the totals only
		{Records: 2, Parked: 2, Now: now},
		{Records: 5, Parked: 1, Lost: 4, Now: now},
	} {
		if err := rec.RecordDeadLetter(ctx, d); err != nil {
			t.Fatal(err)
		}
	}
	snaps := &stats.Snapshots{DB: db, Table: table}
	snap, err := snaps.Compute(ctx, now.Add(time.Second))
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(stats.DeadLetterCounts{Records: 7, Parked: 3, Lost: 4}, snap.Counts.DeadLetter); diff != "" {
		t.Errorf("last 15 minutes (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(stats.DeadLetterCounts{Records: 10, Parked: 7, OrderBroken: 2, Lost: 4}, snap.DeadLetter); diff != "" {
		t.Errorf("totals (-want +got):\n%s", diff)
	}
	var b strings.Builder
	if err := metrics.WritePrometheus(&b, snap.Samples()); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"flowbus_dead_letter_parked_total 7", "flowbus_dead_letter_order_broken_total 2", "flowbus_dead_letter_records_15m 7"} {
		if !strings.Contains(b.String(), want+"\n") {
			t.Errorf("Prometheus text lacks %q", want)
		}
	}
}
