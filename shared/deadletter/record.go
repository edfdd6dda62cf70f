package deadletter

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
)

// ErrUnreadable means a message is not an on-failure record of a Kinesis
// event source mapping: it can never be handled, however often it comes.
var ErrUnreadable = errors.New("not an on-failure record of a Kinesis event source mapping")

// Record is the invocation record a Kinesis event source mapping sends an
// SQS or SNS on-failure destination: where the records are, not the records.
type Record struct {
	RequestContext struct {
		RequestID              string `json:"requestId"`
		FunctionARN            string `json:"functionArn"`
		Condition              string `json:"condition"`
		ApproximateInvokeCount int    `json:"approximateInvokeCount"`
	} `json:"requestContext"`
	Version          string    `json:"version"`
	Timestamp        string    `json:"timestamp"`
	KinesisBatchInfo BatchInfo `json:"KinesisBatchInfo"`
}

// BatchInfo locates the records given up on: a range of one shard.
type BatchInfo struct {
	ShardID                         string `json:"shardId"`
	StartSequenceNumber             string `json:"startSequenceNumber"`
	EndSequenceNumber               string `json:"endSequenceNumber"`
	ApproximateArrivalOfFirstRecord string `json:"approximateArrivalOfFirstRecord"`
	ApproximateArrivalOfLastRecord  string `json:"approximateArrivalOfLastRecord"`
	BatchSize                       int    `json:"batchSize"`
	StreamARN                       string `json:"streamArn"`
}

// Parse reads an on-failure record. Anything else, or a record that does
// not say where its records are, is ErrUnreadable.
func Parse(body []byte) (Record, error) {
	var r Record
	if err := json.Unmarshal(body, &r); err != nil {
		return Record{}, fmt.Errorf("%w: %v", ErrUnreadable, err)
	}
	b := r.KinesisBatchInfo
	var missing []string
	for name, v := range map[string]string{"shardId": b.ShardID, "startSequenceNumber": b.StartSequenceNumber,
		"endSequenceNumber": b.EndSequenceNumber, "streamArn": b.StreamARN} {
		if v == "" {
			missing = append(missing, name)
		}
	}
	if len(missing) > 0 {
		return Record{}, fmt.Errorf("%w: KinesisBatchInfo without %s", ErrUnreadable, strings.Join(slices.Sorted(slices.Values(missing)), ", "))
	}
	if !isSeq(b.StartSequenceNumber) || !isSeq(b.EndSequenceNumber) || seqLess(b.EndSequenceNumber, b.StartSequenceNumber) {
		return Record{}, fmt.Errorf("%w: sequence numbers %q..%q", ErrUnreadable, b.StartSequenceNumber, b.EndSequenceNumber)
	}
	if r.RequestContext.Condition == "" {
		r.RequestContext.Condition = "unknown condition"
	}
	return r, nil
}

// GaveUpAt is when the mapping gave up: the record's timestamp, else
// fallback (when the message reached the queue), else the arrival of the
// batch's first record, which is earlier, so that events stored in between
// are counted as later ones rather than missed.
func (r Record) GaveUpAt(fallback time.Time) time.Time {
	if t, err := time.Parse(time.RFC3339Nano, r.Timestamp); err == nil {
		return t
	}
	if !fallback.IsZero() {
		return fallback
	}
	t, _ := time.Parse(time.RFC3339Nano, r.KinesisBatchInfo.ApproximateArrivalOfFirstRecord)
	return t
}

// isSeq reports whether s is a Kinesis sequence number: decimal digits.
func isSeq(s string) bool {
	if s == "" || len(s) > 128 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// seqLess compares two sequence numbers of a shard (decimal strings).
func seqLess(a, b string) bool {
	a, b = strings.TrimLeft(a, "0"), strings.TrimLeft(b, "0")
	if len(a) != len(b) {
		return len(a) < len(b)
	}
	return a < b
}
