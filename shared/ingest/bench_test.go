package ingest

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"

	"github.com/flowbus/flowbus/shared/bus"
)

// instantKinesis accepts every record without a network, so a benchmark
// measures flowbus's own CPU.
type instantKinesis struct{ out *kinesis.PutRecordsOutput }

func (k *instantKinesis) PutRecords(_ context.Context, in *kinesis.PutRecordsInput, _ ...func(*kinesis.Options)) (*kinesis.PutRecordsOutput, error) {
	if k.out == nil || len(k.out.Records) < len(in.Records) {
		k.out = &kinesis.PutRecordsOutput{Records: make([]types.PutRecordsResultEntry, 500)}
		for i := range k.out.Records {
			k.out.Records[i] = types.PutRecordsResultEntry{SequenceNumber: aws.String("49590338271490256608559692538361571095921575989136588898"), ShardId: aws.String("shardId-000000000000")}
		}
	}
	return &kinesis.PutRecordsOutput{Records: k.out.Records[:len(in.Records)]}, nil
}

// body returns a request of n simple-shape events of about size bytes each,
// spread over workflows.
func body(n, size, workflows int) []byte {
	var b strings.Builder
	b.WriteByte('[')
	for i := range n {
		if i > 0 {
			b.WriteByte(',')
		}
		head := fmt.Sprintf(`{"type":"workflow.step.completed","workflow_id":"order-%04d","timestamp":"2024-01-01T00:00:00Z","metadata":{"origin":"n8n"},"data":{"step":%d,"payload":"`, i%workflows, i)
		b.WriteString(head)
		b.WriteString(strings.Repeat("x", max(size-len(head)-3, 0)))
		b.WriteString(`"}}`)
	}
	b.WriteByte(']')
	return []byte(b.String())
}

// BenchmarkPublishCPU is the publish path without the network: decode,
// validate, id and time, encode, aggregate into records, split into calls,
// build the answer. Target: ≤ 5 µs and ≤ 10 allocations per 1 KB event.
func BenchmarkPublishCPU(b *testing.B) {
	for _, size := range []int{200, 1024} {
		b.Run(fmt.Sprintf("event=%dB", size), func(b *testing.B) {
			const n = 500
			req := body(n, size, 20)
			svc := New(bus.NewPublisher(&instantKinesis{}, "s", bus.Options{}), 500, "/bench", nil)
			ctx := context.Background()
			b.SetBytes(int64(len(req)))
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				out, err := svc.Publish(ctx, req, Events)
				if err != nil || out.NothingSent || out.Response.FailedEntryCount != 0 {
					b.Fatalf("publish: %v, %+v", err, out.Response)
				}
			}
			b.StopTimer()
			perEvent := float64(b.Elapsed().Nanoseconds()) / float64(b.N) / n
			b.ReportMetric(perEvent/1000, "µs/event")
			b.ReportMetric(0, "ns/op")
		})
	}
}
