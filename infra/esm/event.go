package esm

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"

	"github.com/flowbus/flowbus/shared/jsonscan"
)

// The Lambda event is {"Records":[<record>,<record>,...]}.
const (
	payloadPrefix = `{"Records":[`
	payloadSuffix = `]}`
)

// encodeRecord writes one record as Lambda puts it in a Kinesis event, in the
// key order of AWS's documented example: the events.KinesisEventRecord shape.
func (m *Mapping) encodeRecord(shardID string, r *types.Record) []byte {
	seq := aws.ToString(r.SequenceNumber)
	b := make([]byte, 0, 400+base64.StdEncoding.EncodedLen(len(r.Data)))
	b = append(b, `{"kinesis":{"kinesisSchemaVersion":"1.0","partitionKey":`...)
	b = jsonscan.AppendString(b, aws.ToString(r.PartitionKey))
	b = append(b, `,"sequenceNumber":`...)
	b = jsonscan.AppendString(b, seq)
	b = append(b, `,"data":"`...)
	b = base64.StdEncoding.AppendEncode(b, r.Data)
	b = append(b, `","approximateArrivalTimestamp":`...)
	b = append(b, epochSeconds(aws.ToTime(r.ApproximateArrivalTimestamp))...)
	if r.EncryptionType != "" && r.EncryptionType != types.EncryptionTypeNone {
		b = append(b, `,"encryptionType":`...)
		b = jsonscan.AppendString(b, string(r.EncryptionType))
	}
	b = append(b, `},"eventSource":"aws:kinesis","eventVersion":"1.0","eventID":`...)
	b = jsonscan.AppendString(b, shardID+":"+seq)
	b = append(b, `,"eventName":"aws:kinesis:record","invokeIdentityArn":`...)
	b = jsonscan.AppendString(b, m.cfg.RoleARN)
	b = append(b, `,"awsRegion":`...)
	b = jsonscan.AppendString(b, m.cfg.Region)
	b = append(b, `,"eventSourceARN":`...)
	b = jsonscan.AppendString(b, m.streamARN)
	return append(b, '}')
}

// epochSeconds formats t as Kinesis arrival timestamps appear in Lambda
// events: epoch seconds with the milliseconds as a fraction (1545084650.987).
func epochSeconds(t time.Time) string {
	ms := t.UnixMilli()
	sec, frac := ms/1000, ms%1000
	if frac < 0 {
		sec, frac = sec-1, frac+1000
	}
	s := strconv.FormatInt(sec, 10)
	if frac == 0 {
		return s
	}
	return strings.TrimRight(fmt.Sprintf("%s.%03d", s, frac), "0")
}

// payload assembles the event for a batch.
func payload(recs []*record) []byte {
	size := len(payloadPrefix) + len(payloadSuffix) + len(recs)
	for _, r := range recs {
		size += len(r.event)
	}
	b := make([]byte, 0, size)
	b = append(b, payloadPrefix...)
	for i, r := range recs {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, r.event...)
	}
	return append(b, payloadSuffix...)
}

// failureRecord is the invocation record Lambda sends an SQS or SNS
// on-failure destination for a Kinesis batch: metadata only, not the records.
type failureRecord struct {
	RequestContext   failureRequest   `json:"requestContext"`
	ResponseContext  *failureResponse `json:"responseContext,omitempty"`
	Version          string           `json:"version"`
	Timestamp        string           `json:"timestamp"`
	KinesisBatchInfo kinesisBatchInfo `json:"KinesisBatchInfo"`
}

type failureRequest struct {
	RequestID              string `json:"requestId"`
	FunctionARN            string `json:"functionArn"`
	Condition              string `json:"condition"`
	ApproximateInvokeCount int    `json:"approximateInvokeCount"`
}

type failureResponse struct {
	StatusCode      int    `json:"statusCode"`
	ExecutedVersion string `json:"executedVersion"`
	FunctionError   string `json:"functionError,omitempty"`
}

type kinesisBatchInfo struct {
	ShardID                         string `json:"shardId"`
	StartSequenceNumber             string `json:"startSequenceNumber"`
	EndSequenceNumber               string `json:"endSequenceNumber"`
	ApproximateArrivalOfFirstRecord string `json:"approximateArrivalOfFirstRecord"`
	ApproximateArrivalOfLastRecord  string `json:"approximateArrivalOfLastRecord"`
	BatchSize                       int    `json:"batchSize"`
	StreamARN                       string `json:"streamArn"`
}

// isoMillis is the time format of failure records: 2019-11-14T00:38:04.835Z.
const isoMillis = "2006-01-02T15:04:05.000Z"

// outcome is what the last invocation of a batch came to.
type outcome struct {
	invokes  int  // invocations that included these records
	fnError  bool // the last one was a function error
	response bool // the function was reached at least once
}

func (m *Mapping) failureRecord(shardID string, recs []*record, condition string, o outcome) ([]byte, error) {
	first, last := recs[0], recs[len(recs)-1]
	fr := failureRecord{
		RequestContext: failureRequest{
			RequestID: newRequestID(), FunctionARN: m.cfg.FunctionARN,
			Condition: condition, ApproximateInvokeCount: o.invokes,
		},
		Version:   "1.0",
		Timestamp: m.now().UTC().Format(isoMillis),
		KinesisBatchInfo: kinesisBatchInfo{
			ShardID:                         shardID,
			StartSequenceNumber:             first.seq,
			EndSequenceNumber:               last.seq,
			ApproximateArrivalOfFirstRecord: first.arrival.UTC().Format(isoMillis),
			ApproximateArrivalOfLastRecord:  last.arrival.UTC().Format(isoMillis),
			BatchSize:                       len(recs),
			StreamARN:                       m.streamARN,
		},
	}
	if o.response {
		fr.ResponseContext = &failureResponse{StatusCode: 200, ExecutedVersion: "$LATEST"}
		if o.fnError {
			fr.ResponseContext.FunctionError = "Unhandled"
		}
	}
	b, err := json.Marshal(fr)
	if err != nil {
		return nil, fmt.Errorf("encode failure record: %w", err)
	}
	return b, nil
}

// newRequestID returns a random UUID (version 4), as Lambda request ids are.
func newRequestID() string {
	var u [16]byte
	_, _ = rand.Read(u[:])
	u[6] = u[6]&0x0f | 0x40
	u[8] = u[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", u[0:4], u[4:6], u[6:8], u[8:10], u[10:16])
}

// parseBatchResponse reads a partial batch response for recs. It returns the
// index of the lowest failed record and how many failures were reported;
// failed 0 means the batch succeeded (an empty or null batchItemFailures, an
// empty or null response). err means Lambda counts the whole batch failed:
// not JSON or not an object, an item without an itemIdentifier key (keys
// match exactly, so a bad key name is a missing one), an empty or null
// itemIdentifier, or one that is not a sequence number of the batch.
func parseBatchResponse(out []byte, recs []*record) (first, failed int, err error) {
	trimmed := strings.TrimSpace(string(out))
	if trimmed == "" || trimmed == "null" {
		return 0, 0, nil
	}
	var resp map[string]json.RawMessage
	if err := json.Unmarshal([]byte(trimmed), &resp); err != nil {
		return 0, 0, fmt.Errorf("the response is not a JSON object: %w", err)
	}
	var items []map[string]json.RawMessage
	if raw, ok := resp["batchItemFailures"]; ok {
		if err := json.Unmarshal(raw, &items); err != nil {
			return 0, 0, fmt.Errorf("batchItemFailures is not a list of objects: %w", err)
		}
	}
	if len(items) == 0 {
		return 0, 0, nil
	}
	index := make(map[string]int, len(recs))
	for i, r := range recs {
		index[r.seq] = i
	}
	first = len(recs)
	for _, item := range items {
		var id *string
		if raw, ok := item["itemIdentifier"]; ok {
			if err := json.Unmarshal(raw, &id); err != nil {
				return 0, 0, fmt.Errorf("itemIdentifier %s is not a string", raw)
			}
		}
		if id == nil || *id == "" {
			return 0, 0, fmt.Errorf("a batch item failure has an empty, null or missing itemIdentifier")
		}
		i, ok := index[*id]
		if !ok {
			return 0, 0, fmt.Errorf("itemIdentifier %q is not a sequence number of the batch", *id)
		}
		first = min(first, i)
	}
	return first, len(items), nil
}
