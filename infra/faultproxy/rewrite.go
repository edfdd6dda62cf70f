package faultproxy

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// The rewriting works on JSON objects as ordered lists of members with their
// raw values, so everything the proxy does not change reaches the engine and
// the client byte for byte, member order included.

type member struct {
	name  string
	value json.RawMessage
}

// members splits a JSON object into its members, in order.
func members(raw []byte) ([]member, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	tok, err := dec.Token()
	if err != nil {
		return nil, err
	}
	if tok != json.Delim('{') {
		return nil, errors.New("not a JSON object")
	}
	var ms []member
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, err
		}
		name, _ := tok.(string)
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return nil, fmt.Errorf("member %q: %w", name, err)
		}
		ms = append(ms, member{name, v})
	}
	if _, err := dec.Token(); err != nil {
		return nil, err
	}
	return ms, nil
}

func encodeObject(ms []member) []byte {
	var b bytes.Buffer
	b.WriteByte('{')
	for i, m := range ms {
		if i > 0 {
			b.WriteByte(',')
		}
		b.Write(quote(m.name))
		b.WriteByte(':')
		b.Write(m.value)
	}
	b.WriteByte('}')
	return b.Bytes()
}

func lookup(ms []member, name string) (json.RawMessage, bool) {
	for _, m := range ms {
		if m.name == name {
			return m.value, true
		}
	}
	return nil, false
}

// with returns ms with name set to v: replaced in place, or appended.
func with(ms []member, name string, v json.RawMessage) []member {
	for i := range ms {
		if ms[i].name == name {
			ms[i].value = v
			return ms
		}
	}
	return append(ms, member{name, v})
}

func array(raw json.RawMessage) ([]json.RawMessage, error) {
	var a []json.RawMessage
	if err := json.Unmarshal(raw, &a); err != nil {
		return nil, err
	}
	return a, nil
}

// encodeArray joins raw JSON values into a JSON array, bytes unchanged.
func encodeArray(items []json.RawMessage) json.RawMessage {
	var b bytes.Buffer
	b.WriteByte('[')
	for i, it := range items {
		if i > 0 {
			b.WriteByte(',')
		}
		b.Write(it)
	}
	b.WriteByte(']')
	return b.Bytes()
}

// quote encodes s as a JSON string (encoding a string cannot fail).
func quote(s string) json.RawMessage {
	b, _ := json.Marshal(s)
	return b
}

// --- Kinesis PutRecords -------------------------------------------------------

// putRecordsSplit is a PutRecords request with some entries taken out.
type putRecordsSplit struct {
	forward   []byte // the request with the kept entries, in order; nil if none is kept
	throttled []int  // indexes, in the original request, of the entries taken out
	total     int    // entries in the original request
	stream    string // stream name, for the error message
	account   string
}

// splitPutRecords takes out of a PutRecords request the entries for which
// throttle answers true.
func splitPutRecords(body []byte, throttle func() bool) (putRecordsSplit, error) {
	ms, err := members(body)
	if err != nil {
		return putRecordsSplit{}, fmt.Errorf("PutRecords request: %w", err)
	}
	s := putRecordsSplit{}
	s.stream, s.account = streamOf(ms)
	raw, _ := lookup(ms, "Records")
	recs, err := array(raw)
	if err != nil {
		return putRecordsSplit{}, fmt.Errorf("PutRecords request Records: %w", err)
	}
	s.total = len(recs)
	kept := make([]json.RawMessage, 0, len(recs))
	for i, r := range recs {
		if throttle() {
			s.throttled = append(s.throttled, i)
			continue
		}
		kept = append(kept, r)
	}
	if len(kept) > 0 {
		s.forward = encodeObject(with(ms, "Records", encodeArray(kept)))
	}
	return s, nil
}

// streamOf returns the stream name and account of a Kinesis request, from
// StreamName or StreamARN (arn:aws:kinesis:<region>:<account>:stream/<name>).
func streamOf(ms []member) (name, account string) {
	account = "000000000000" // kinesis-mock's default account
	if raw, ok := lookup(ms, "StreamARN"); ok {
		var arn string
		if json.Unmarshal(raw, &arn) == nil {
			if parts := strings.SplitN(arn, ":", 6); len(parts) == 6 {
				account = parts[4]
				name = strings.TrimPrefix(parts[5], "stream/")
			}
		}
	}
	if raw, ok := lookup(ms, "StreamName"); ok {
		_ = json.Unmarshal(raw, &name)
	}
	return name, account
}

// rateExceeded is Kinesis's message for a throttled record or call. Real
// Kinesis names the shard; the proxy does not know which shard an entry maps
// to, so it leaves the shard id out.
func rateExceeded(stream, account string) string {
	return fmt.Sprintf("Rate exceeded for shard in stream %s under account %s.", stream, account)
}

// mergePutRecords splices a ProvisionedThroughputExceededException entry for
// each throttled index into the engine's PutRecords answer (nil when nothing
// was forwarded) and adds them to FailedRecordCount. Other members are kept.
func mergePutRecords(resp []byte, s putRecordsSplit) ([]byte, error) {
	var ms []member
	var got []json.RawMessage
	failed := 0
	if resp != nil {
		var err error
		if ms, err = members(resp); err != nil {
			return nil, fmt.Errorf("PutRecords answer: %w", err)
		}
		raw, _ := lookup(ms, "Records")
		if got, err = array(raw); err != nil {
			return nil, fmt.Errorf("PutRecords answer Records: %w", err)
		}
		if raw, ok := lookup(ms, "FailedRecordCount"); ok {
			if failed, err = strconv.Atoi(string(raw)); err != nil {
				return nil, fmt.Errorf("PutRecords answer FailedRecordCount %s: %w", raw, err)
			}
		}
	}
	if len(got)+len(s.throttled) != s.total {
		return nil, fmt.Errorf("PutRecords answer has %d entries for %d forwarded", len(got), s.total-len(s.throttled))
	}
	entry := encodeObject([]member{
		{"ErrorCode", quote("ProvisionedThroughputExceededException")},
		{"ErrorMessage", quote(rateExceeded(s.stream, s.account))},
	})
	all := make([]json.RawMessage, 0, s.total)
	next := 0
	for i := range s.total {
		if next < len(s.throttled) && s.throttled[next] == i {
			all = append(all, entry)
			next++
			continue
		}
		all = append(all, got[0])
		got = got[1:]
	}
	ms = with(ms, "FailedRecordCount", json.RawMessage(strconv.Itoa(failed+len(s.throttled))))
	ms = with(ms, "Records", encodeArray(all))
	return encodeObject(ms), nil
}

// --- DynamoDB BatchWriteItem ------------------------------------------------

// batchWriteSplit is a BatchWriteItem request with some write requests held
// back.
type batchWriteSplit struct {
	forward []byte   // the request with the kept write requests; nil if none is kept
	held    []member // table name → JSON list of the write requests held back, in request order
	total   int      // write requests in the original request
	dropped int      // write requests held back
}

// splitBatchWrite holds back the write requests of a BatchWriteItem request
// for which unprocess answers true. A table left with no write request is
// removed from RequestItems, as DynamoDB refuses an empty list.
func splitBatchWrite(body []byte, unprocess func() bool) (batchWriteSplit, error) {
	ms, err := members(body)
	if err != nil {
		return batchWriteSplit{}, fmt.Errorf("BatchWriteItem request: %w", err)
	}
	raw, _ := lookup(ms, "RequestItems")
	tables, err := members(raw)
	if err != nil {
		return batchWriteSplit{}, fmt.Errorf("BatchWriteItem request RequestItems: %w", err)
	}
	var s batchWriteSplit
	var keptTables []member
	for _, t := range tables {
		reqs, err := array(t.value)
		if err != nil {
			return batchWriteSplit{}, fmt.Errorf("BatchWriteItem request %s: %w", t.name, err)
		}
		var kept, held []json.RawMessage
		for _, r := range reqs {
			s.total++
			if unprocess() {
				held = append(held, r)
				continue
			}
			kept = append(kept, r)
		}
		s.dropped += len(held)
		if len(kept) > 0 {
			keptTables = append(keptTables, member{t.name, encodeArray(kept)})
		}
		if len(held) > 0 {
			s.held = append(s.held, member{t.name, encodeArray(held)})
		}
	}
	if len(keptTables) > 0 {
		s.forward = encodeObject(with(ms, "RequestItems", encodeObject(keptTables)))
	}
	return s, nil
}

// mergeUnprocessed adds the held-back write requests to the UnprocessedItems
// of the engine's BatchWriteItem answer (after any the engine returned itself
// for the same table). Other members are kept.
func mergeUnprocessed(resp []byte, held []member) ([]byte, error) {
	ms, err := members(resp)
	if err != nil {
		return nil, fmt.Errorf("BatchWriteItem answer: %w", err)
	}
	var un []member
	if raw, ok := lookup(ms, "UnprocessedItems"); ok && string(raw) != "null" {
		if un, err = members(raw); err != nil {
			return nil, fmt.Errorf("BatchWriteItem answer UnprocessedItems: %w", err)
		}
	}
	for _, h := range held {
		prev, ok := lookup(un, h.name)
		if !ok {
			un = append(un, h)
			continue
		}
		a, err := array(prev)
		if err != nil {
			return nil, fmt.Errorf("BatchWriteItem answer UnprocessedItems %s: %w", h.name, err)
		}
		b, _ := array(h.value)
		un = with(un, h.name, encodeArray(append(a, b...)))
	}
	return encodeObject(with(ms, "UnprocessedItems", encodeObject(un))), nil
}
