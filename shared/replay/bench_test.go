package replay_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/flowbus/flowbus/shared/bus"
	"github.com/flowbus/flowbus/shared/dynamostore"
	"github.com/flowbus/flowbus/shared/event"
	"github.com/flowbus/flowbus/shared/eventstore"
	"github.com/flowbus/flowbus/shared/replay"
	"github.com/flowbus/flowbus/shared/testenv"
)

// BenchmarkReplayThroughput replays 10,000 stored events of one workflow
// (200 bytes of data each) to a fresh 1-shard stream and reports events per
// second read from the store and put back on the stream, all read back. A
// Kinesis shard takes 1,000 records/s or 1 MB/s; aggregation puts many
// events of the workflow in each record, so the byte limit is the one that
// counts on AWS.
func BenchmarkReplayThroughput(b *testing.B) {
	cfg := testenv.AWS(b)
	const n = 10000
	var rate, mbps float64
	for range b.N {
		db, table := testenv.Table(b, cfg)
		kc, stream := testenv.Stream(b, cfg, 1)
		store := dynamostore.New(db, table, dynamostore.Options{})
		data := []byte(`{"payload":"` + strings.Repeat("x", 186) + `"}`)
		ctx := context.Background()
		for start := 0; start < n; start += 500 {
			var in []eventstore.Incoming
			for i := start; i < start+500; i++ {
				e := &event.Event{ID: fmt.Sprintf("e%05d", i), Source: "/bench", Type: "workflow.step", WorkflowID: "wf",
					Time: time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC).Add(time.Duration(i) * time.Second), Data: data}
				in = append(in, eventstore.Incoming{Event: e, Raw: event.Append(nil, e, true), Pos: eventstore.Position{Shard: "s", Seq: fmt.Sprintf("%06d", i)}})
			}
			if _, err := store.Append(ctx, "wf", in); err != nil {
				b.Fatal(err)
			}
		}
		records := replay.NewRecords(db, table)
		pub := bus.NewPublisher(kc, stream, bus.Options{})
		runner := &replay.Runner{Records: records, Source: store, PageSize: eventstore.MaxLimit,
			Publishers: func(string) replay.Publisher { return pub }}
		rec, err := records.Create(ctx, replay.Spec{WorkflowID: "wf"}, time.Now())
		if err != nil {
			b.Fatal(err)
		}
		start := time.Now()
		done, err := runner.Run(ctx, rec.ID)
		elapsed := time.Since(start)
		if err != nil || done.Events != n {
			b.Fatalf("replay: %+v, %v", done, err)
		}
		_, _, recs := testenv.ReadShard(b, kc, stream)
		got, bytes := 0, 0
		for _, r := range recs {
			items, err := event.DecodeBatch(r.Data, event.DecodeOptions{Wire: true}, false, 0)
			if err != nil {
				b.Fatal(err)
			}
			got += len(items)
			bytes += len(r.Data)
		}
		if got != n {
			b.Fatalf("read back %d events, want %d", got, n)
		}
		rate = float64(n) / elapsed.Seconds()
		mbps = float64(bytes) / elapsed.Seconds() / 1e6
		b.ReportMetric(float64(len(recs)), "records")
	}
	b.ReportMetric(rate, "events/s")
	b.ReportMetric(mbps, "MB/s")
	b.ReportMetric(0, "ns/op")
}
