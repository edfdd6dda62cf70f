package kinesisevent

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
)

// partitionKeys are JSON string literals, as they appear in a payload.
var partitionKeys = []string{
	`"user-1234"`,
	`"order/2024-06-01/42"`,
	`"été-\u00e9t\u00e9"`,
	`"日本語キー"`,
	`"emoji \ud83d\ude00 pair \uD83C\uDF89"`,
	`"tab\there \"quoted\" back\\slash \/slash"`,
	`"\u003chtml\u003e \u0026amp; \b\f\n\r"`,
	`"lone \ud800 surrogate"`,
	`""`,
}

// testPayload builds a payload shaped like the ones Lambda sends (compact
// JSON): n records of dataSize random bytes each, all from one shard and
// stream.
func testPayload(n, dataSize int, seed uint64) []byte {
	var b bytes.Buffer
	if err := json.Compact(&b, prettyPayload(n, dataSize, seed)); err != nil {
		panic(err)
	}
	return b.Bytes()
}

// prettyPayload is testPayload indented, as AWS documents it.
func prettyPayload(n, dataSize int, seed uint64) []byte {
	rng := rand.New(rand.NewPCG(seed, 1))
	var b strings.Builder
	b.WriteString("{\n  \"Records\": [")
	data := make([]byte, dataSize)
	for i := range n {
		for j := range data {
			data[j] = byte(rng.Uint32())
		}
		seq := fmt.Sprintf("4959033827149025660855969253836157109592157598913658%04d", i)
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `
    {
      "kinesis": {
        "kinesisSchemaVersion": "1.0",
        "partitionKey": %s,
        "sequenceNumber": "%s",
        "data": "%s",
        "approximateArrivalTimestamp": %d.%03d
      },
      "eventSource": "aws:kinesis",
      "eventVersion": "1.0",
      "eventID": "shardId-000000000006:%s",
      "eventName": "aws:kinesis:record",
      "invokeIdentityArn": "arn:aws:iam::123456789012:role/lambda-role",
      "awsRegion": "us-east-2",
      "eventSourceARN": "arn:aws:kinesis:us-east-2:123456789012:stream/lambda-stream"
    }`, partitionKeys[i%len(partitionKeys)], seq, base64.StdEncoding.EncodeToString(data),
			1545084650+i/1000, i%1000, seq)
	}
	b.WriteString("\n  ]\n}\n")
	return []byte(b.String())
}

// fromEvents converts what encoding/json decodes to the records Decode should return.
func fromEvents(ev events.KinesisEvent) []Record {
	if ev.Records == nil {
		return nil
	}
	recs := make([]Record, len(ev.Records))
	for i, r := range ev.Records {
		shard, _, _ := strings.Cut(r.EventID, ":")
		recs[i] = Record{
			PartitionKey:   r.Kinesis.PartitionKey,
			SequenceNumber: r.Kinesis.SequenceNumber,
			Data:           r.Kinesis.Data,
			ArrivalTime:    r.Kinesis.ApproximateArrivalTimestamp.UTC(),
			ShardID:        shard,
			EventSourceARN: r.EventSourceArn,
		}
	}
	return recs
}

func decodeEncodingJSON(tb testing.TB, payload []byte) []Record {
	tb.Helper()
	var ev events.KinesisEvent
	if err := json.Unmarshal(payload, &ev); err != nil {
		tb.Fatalf("encoding/json: %v", err)
	}
	return fromEvents(ev)
}

// closeTime compares times within tol: encoding/json goes through float64.
func closeTime(tol time.Duration) func(a, b time.Time) bool {
	return func(a, b time.Time) bool {
		d := a.Sub(b)
		return d <= tol && d >= -tol
	}
}
