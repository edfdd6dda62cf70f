package stats_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"

	"github.com/flowbus/flowbus/shared/metrics"
	"github.com/flowbus/flowbus/shared/stats"
	"github.com/flowbus/flowbus/shared/testenv"
)

func TestRecordAndSnapshot(t *testing.T) {
	cfg := testenv.AWS(t)
	db, table := testenv.Table(t, cfg)
	kc, stream := testenv.Stream(t, cfg, 1)
	ctx := context.Background()
	// Five records on the stream; the consumer has stored the first three.
	var seqs []string
	var arrivals []time.Time
	for i := range 5 {
		out, err := kc.PutRecord(ctx, &kinesis.PutRecordInput{StreamName: aws.String(stream), PartitionKey: aws.String("wf"), Data: []byte(fmt.Sprint(i))})
		if err != nil {
			t.Fatal(err)
		}
		seqs = append(seqs, aws.ToString(out.SequenceNumber))
		arrivals = append(arrivals, time.Now())
	}
	rec := stats.NewRecorder(db, table)
	now := time.Now()
	for i, n := range []int{2, 1} {
		lat := &metrics.Sketch{}
		for range n {
			lat.Add(time.Duration(10*(i+1)) * time.Millisecond)
		}
		err := rec.RecordBatch(ctx, stats.Batch{
			Shard: "shardId-000000000000", LastSeq: seqs[[]int{1, 2}[i]], LastArrival: arrivals[2], Published: map[int64]int{now.Unix() / 60: n},
			Consumed: n, Stored: n, Bytes: 100 * n, Latency: lat, Now: now,
			Workflows: []stats.WorkflowSize{{WorkflowID: "wf", Events: uint64(3 * (i + 1)), Bytes: int64(300 * (i + 1))}},
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	// An older position never moves the shard back.
	if err := rec.RecordBatch(ctx, stats.Batch{Shard: "shardId-000000000000", LastSeq: seqs[0], Now: now}); err != nil {
		t.Fatal(err)
	}
	snaps := &stats.Snapshots{DB: db, Kin: kc, Table: table, Stream: stream}
	snap, err := snaps.Compute(ctx, now.Add(time.Second))
	if err != nil {
		t.Fatal(err)
	}
	if snap.Counts.Published != 3 || snap.Counts.Stored != 3 || snap.Store.Events != 3 || snap.Store.Bytes != 300 {
		t.Errorf("counts %+v store %+v", snap.Counts, snap.Store)
	}
	if len(snap.Store.Top) != 1 || snap.Store.Top[0].Bytes != 600 {
		t.Errorf("top %+v, want wf at its latest size", snap.Store.Top)
	}
	if snap.Latency.Count != 3 || snap.Latency.P50 < 9.5 || snap.Latency.P50 > 10.5 || snap.Latency.P99 > 21 {
		t.Errorf("latency %+v", snap.Latency)
	}
	if len(snap.Lag) != 1 || snap.Lag[0].Records != 2 || snap.Lag[0].LastStoredSeq != seqs[2] {
		t.Errorf("lag %+v, want 2 records behind %s", snap.Lag, seqs[2])
	}
	if err := snaps.Save(ctx, snap); err != nil {
		t.Fatal(err)
	}
	back, err := snaps.Load(ctx)
	if err != nil || back.Store.Events != 3 {
		t.Errorf("Load = %+v, %v", back, err)
	}
}
