package deadletter_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"
	"github.com/google/go-cmp/cmp"

	"github.com/flowbus/flowbus/shared/consumer"
	"github.com/flowbus/flowbus/shared/deadletter"
	"github.com/flowbus/flowbus/shared/dynamostore"
	"github.com/flowbus/flowbus/shared/event"
	"github.com/flowbus/flowbus/shared/eventstore"
	"github.com/flowbus/flowbus/shared/kinesisevent"
	"github.com/flowbus/flowbus/shared/testenv"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

func TestParse(t *testing.T) {
	const good = `{"requestContext":{"requestId":"r","functionArn":"arn:aws:lambda:us-east-1:000000000000:function:consume","condition":"RecordAgeExceeded","approximateInvokeCount":3},` +
		`"version":"1.0","timestamp":"2019-11-14T00:38:06.021Z","KinesisBatchInfo":{"shardId":"shardId-000000000001",` +
		`"startSequenceNumber":"49601189658422359378836298521827638475320189012309704722","endSequenceNumber":"49601189658422359378836298522902373528957594348623495186",` +
		`"approximateArrivalOfFirstRecord":"2019-11-14T00:38:04.835Z","approximateArrivalOfLastRecord":"2019-11-14T00:38:05.580Z","batchSize":500,` +
		`"streamArn":"arn:aws:kinesis:us-east-1:000000000000:stream/flowbus-events"}}`
	tests := []struct {
		name    string
		body    string
		wantErr string
	}{
		{"the documented record", good, ""},
		{"not JSON", "hello", "not an on-failure record"},
		{"an SQS message of something else", `{"type":"workflow.started"}`, "KinesisBatchInfo without endSequenceNumber, shardId, startSequenceNumber, streamArn"},
		{"end before start", strings.Replace(good, `"endSequenceNumber":"4960`, `"endSequenceNumber":"3960`, 1), "sequence numbers"},
		{"a sequence number that is not one", strings.Replace(good, `"startSequenceNumber":"4960`, `"startSequenceNumber":"x960`, 1), "sequence numbers"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := deadletter.Parse([]byte(tt.body))
			if tt.wantErr == "" {
				if err != nil {
					t.Fatal(err)
				}
				if got, want := r.GaveUpAt(time.Time{}), time.Date(2019, 11, 14, 0, 38, 6, 21e6, time.UTC); !got.Equal(want) {
					t.Errorf("GaveUpAt = %v, want %v", got, want)
				}
				return
			}
			if !errors.Is(err, deadletter.ErrUnreadable) || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("Parse = %v, want ErrUnreadable containing %q", err, tt.wantErr)
			}
		})
	}
}

// put writes one record per event (partition key = workflow id) and
// returns their sequence numbers.
func put(t *testing.T, kin *kinesis.Client, stream string, evs ...*event.Event) []string {
	t.Helper()
	var seqs []string
	for _, e := range evs {
		out, err := kin.PutRecord(context.Background(), &kinesis.PutRecordInput{StreamName: aws.String(stream),
			PartitionKey: aws.String(e.WorkflowID), Data: event.Append(nil, e, true)})
		if err != nil {
			t.Fatal(err)
		}
		seqs = append(seqs, aws.ToString(out.SequenceNumber))
	}
	return seqs
}

func ev(wf string, n int) *event.Event {
	return &event.Event{ID: fmt.Sprintf("%s-%d", wf, n), Source: "/t", Type: "step.done", WorkflowID: wf,
		Data: []byte(fmt.Sprintf(`{"n":%d}`, n)), Time: time.Unix(1700000000, 0).UTC()}
}

func streamARN(t *testing.T, kin *kinesis.Client, stream string) string {
	out, err := kin.DescribeStreamSummary(context.Background(), &kinesis.DescribeStreamSummaryInput{StreamName: aws.String(stream)})
	if err != nil {
		t.Fatal(err)
	}
	return aws.ToString(out.StreamDescriptionSummary.StreamARN)
}

func TestHandleParksWhatWasGivenUpOn(t *testing.T) {
	cfg := testenv.AWS(t)
	kin, stream := testenv.Stream(t, cfg, 1)
	db, table := testenv.Table(t, cfg)
	store := dynamostore.New(db, table, dynamostore.Options{})
	ctx := context.Background()
	arn := streamARN(t, kin, stream)

	// a-1 is stored already (the function stored it and timed out); the
	// batch given up on runs from a-1 to b-2; c-1 comes after it.
	seqs := put(t, kin, stream, ev("a", 1), ev("b", 1), ev("a", 2), ev("b", 2), ev("c", 1))
	recs := readAll(t, kin, stream)
	in, _ := consumer.Decode(nil, recs[0], nil)
	if _, err := store.Append(ctx, "a", in); err != nil {
		t.Fatal(err)
	}
	rec := deadletter.Record{}
	rec.RequestContext.Condition = "RetryAttemptsExhausted"
	rec.KinesisBatchInfo = deadletter.BatchInfo{ShardID: "shardId-000000000000", StartSequenceNumber: seqs[0], EndSequenceNumber: seqs[3], BatchSize: 4, StreamARN: arn}

	r := deadletter.New(kin, store, quiet)
	res, err := r.Handle(ctx, rec, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	want := deadletter.Result{Records: 4, Events: 4, Workflows: 2, Parked: 3, Duplicates: 1}
	if diff := cmp.Diff(want, res); diff != "" {
		t.Errorf("Handle (-want +got):\n%s", diff)
	}
	for wf, wantSeqs := range map[string][]string{"a": {seqs[2]}, "b": {seqs[1], seqs[3]}} {
		entries, err := store.Parked(ctx, wf)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, e := range entries {
			got = append(got, e.Pos.Seq)
			if !strings.Contains(e.Reason, "RetryAttemptsExhausted") {
				t.Errorf("%s: reason %q, want the condition", wf, e.Reason)
			}
		}
		if diff := cmp.Diff(wantSeqs, got); diff != "" {
			t.Errorf("%s parked (-want +got):\n%s", wf, diff)
		}
	}
	// The same message again parks nothing twice.
	if res, err := r.Handle(ctx, rec, time.Now()); err != nil || res.Parked != 0 || res.AlreadyParked != 3 || res.Duplicates != 1 {
		t.Errorf("again = %+v, %v; want 3 already parked, 1 duplicate", res, err)
	}
	// Resumed, the workflows hold everything in order.
	if _, err := store.Resume(ctx, "a", consumer.ResumeDecoder("a"), eventstore.Fix{}); err != nil {
		t.Fatal(err)
	}
	page, err := store.Read(ctx, "a", eventstore.Query{})
	if err != nil || len(page.Events) != 2 || page.Events[0].ID != "a-1" || page.Events[1].ID != "a-2" {
		t.Errorf("a after resume = %+v, %v; want a-1, a-2", page.Events, err)
	}
}

func TestHandleReportsRecordsNoLongerThere(t *testing.T) {
	cfg := testenv.AWS(t)
	kin, stream := testenv.Stream(t, cfg, 1)
	db, table := testenv.Table(t, cfg)
	store := dynamostore.New(db, table, dynamostore.Options{})
	arn := streamARN(t, kin, stream)
	seqs := put(t, kin, stream, ev("a", 1), ev("a", 2))

	rec := deadletter.Record{}
	rec.RequestContext.Condition = "RecordAgeExceeded"
	// The batch began before the first record still there (as after the
	// retention period trimmed it).
	rec.KinesisBatchInfo = deadletter.BatchInfo{ShardID: "shardId-000000000000", StartSequenceNumber: seqs[0], EndSequenceNumber: seqs[1], BatchSize: 3, StreamARN: arn}
	fk := &trimmed{KinesisAPI: kin, firstSeq: seqs[1]}
	res, err := deadletter.New(fk, store, quiet).Handle(context.Background(), rec, time.Now())
	if !errors.Is(err, deadletter.ErrLost) {
		t.Fatalf("Handle = %v, want ErrLost", err)
	}
	if res.Parked != 1 || res.Lost != 2 {
		t.Errorf("Handle = %+v; want the record still there parked and 2 lost", res)
	}
	// A shard that is gone.
	rec.KinesisBatchInfo.ShardID = "shardId-000000000009"
	if res, err := deadletter.New(kin, store, quiet).Handle(context.Background(), rec, time.Now()); !errors.Is(err, deadletter.ErrLost) || res.Lost != 3 {
		t.Errorf("Handle of a shard that is gone = %+v, %v; want 3 lost", res, err)
	}
}

// trimmed answers GetShardIterator AT_SEQUENCE_NUMBER of a record trimmed
// from the stream as Kinesis does: with an iterator at the oldest one left.
type trimmed struct {
	deadletter.KinesisAPI
	firstSeq string
}

func (k *trimmed) GetShardIterator(ctx context.Context, in *kinesis.GetShardIteratorInput, o ...func(*kinesis.Options)) (*kinesis.GetShardIteratorOutput, error) {
	cp := *in
	cp.StartingSequenceNumber = aws.String(k.firstSeq)
	return k.KinesisAPI.GetShardIterator(ctx, &cp, o...)
}

func readAll(t *testing.T, kin *kinesis.Client, stream string) []kinesisevent.Record {
	t.Helper()
	it, err := kin.GetShardIterator(context.Background(), &kinesis.GetShardIteratorInput{StreamName: aws.String(stream),
		ShardId: aws.String("shardId-000000000000"), ShardIteratorType: types.ShardIteratorTypeTrimHorizon})
	if err != nil {
		t.Fatal(err)
	}
	out, err := kin.GetRecords(context.Background(), &kinesis.GetRecordsInput{ShardIterator: it.ShardIterator})
	if err != nil {
		t.Fatal(err)
	}
	var recs []kinesisevent.Record
	for _, r := range out.Records {
		recs = append(recs, kinesisevent.Record{PartitionKey: aws.ToString(r.PartitionKey), SequenceNumber: aws.ToString(r.SequenceNumber),
			Data: r.Data, ShardID: "shardId-000000000000"})
	}
	return recs
}
