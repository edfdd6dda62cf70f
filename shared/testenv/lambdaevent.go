package testenv

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"
)

// ReadShard reads every record of the stream's first shard from the start,
// as a Lambda event source mapping with TRIM_HORIZON would.
func ReadShard(t testing.TB, client *kinesis.Client, stream string) (shardID, streamARN string, recs []types.Record) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	desc, err := client.DescribeStream(ctx, &kinesis.DescribeStreamInput{StreamName: aws.String(stream)})
	if err != nil {
		t.Fatal(err)
	}
	shardID = aws.ToString(desc.StreamDescription.Shards[0].ShardId)
	streamARN = aws.ToString(desc.StreamDescription.StreamARN)
	it, err := client.GetShardIterator(ctx, &kinesis.GetShardIteratorInput{
		StreamName: aws.String(stream), ShardId: aws.String(shardID), ShardIteratorType: types.ShardIteratorTypeTrimHorizon,
	})
	if err != nil {
		t.Fatal(err)
	}
	iter := it.ShardIterator
	for iter != nil {
		out, err := client.GetRecords(ctx, &kinesis.GetRecordsInput{ShardIterator: iter, Limit: aws.Int32(10000)})
		if err != nil {
			t.Fatal(err)
		}
		recs = append(recs, out.Records...)
		if len(out.Records) == 0 && aws.ToInt64(out.MillisBehindLatest) == 0 {
			break
		}
		iter = out.NextShardIterator
	}
	return shardID, streamARN, recs
}

// LambdaEvent is the payload Lambda sends a function for these records, as
// JSON.
func LambdaEvent(t testing.TB, shardID, streamARN string, recs []types.Record) []byte {
	t.Helper()
	b, err := KinesisEvent(shardID, streamARN, recs)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// KinesisEvent is LambdaEvent for callers outside a test, such as the fault
// suite, which re-delivers batches read back from the stream.
func KinesisEvent(shardID, streamARN string, recs []types.Record) ([]byte, error) {
	ev := events.KinesisEvent{Records: make([]events.KinesisEventRecord, len(recs))}
	for i, r := range recs {
		ev.Records[i] = events.KinesisEventRecord{
			AwsRegion: "us-east-1", EventID: shardID + ":" + aws.ToString(r.SequenceNumber),
			EventName: "aws:kinesis:record", EventSource: "aws:kinesis", EventSourceArn: streamARN,
			EventVersion: "1.0", InvokeIdentityArn: "arn:aws:iam::000000000000:role/flowbus-consume",
			Kinesis: events.KinesisRecord{
				ApproximateArrivalTimestamp: events.SecondsEpochTime{Time: aws.ToTime(r.ApproximateArrivalTimestamp)},
				Data:                        r.Data, PartitionKey: aws.ToString(r.PartitionKey),
				SequenceNumber: aws.ToString(r.SequenceNumber), KinesisSchemaVersion: "1.0",
			},
		}
	}
	return json.Marshal(ev)
}
