package kinesisevent

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/flowbus/flowbus/shared/jsonscan"
)

// Record is one Kinesis record of a Lambda event.
type Record struct {
	PartitionKey   string
	SequenceNumber string
	Data           []byte    // base64-decoded record data
	ArrivalTime    time.Time // approximateArrivalTimestamp (epoch seconds with fraction) as time, UTC
	ShardID        string    // from eventID "shardId-000000000006:<seq>" (the part before ':'), "" if absent
	EventSourceARN string
}

// Decode parses a Lambda Kinesis event payload. Records are returned in payload order.
//
// It scans the payload once, checking all of it is JSON and noting where
// each record's values are, then decodes the records. A payload without a
// "Records" member, or with "Records": null, or the literal null, gives no
// records and no error. Malformed JSON, nesting deeper than 10000, or a
// member Decode reads (or events.KinesisEvent types) holding the wrong JSON
// type, is a *jsonscan.SyntaxError giving the byte offset and what was expected. A
// record without a kinesis object or without data is an error naming the
// record; so is data that is not standard, padded base64 (as Lambda sends;
// "" is empty data), wrapping the base64.CorruptInputError. Unknown members
// are skipped, nulls are absent values, and a repeated member's last value
// wins (repeated kinesis objects merge), as with encoding/json. ShardID is the
// whole eventID when it has no ':'.
//
// Allocation: the records, one array holding all their data and one string
// holding all their partition keys, sequence numbers, shard ids and source
// ARNs (a ShardID or EventSourceARN equal to the previous record's shares its
// string). The string is built with a strings.Builder, so no unsafe
// conversion is involved. Record.Data slices are capped, so appending to one
// copies it rather than overwriting the next record's data. Nothing returned
// points into payload. A pooled scratch slice makes Decode safe for
// concurrent use and allocation-free apart from the above.
//
// Differences from encoding/json with events.KinesisEvent, all on input
// Lambda never sends:
//   - keys match exactly ("Records", "kinesis", "data", ...), not case-insensitively;
//   - a second non-null "Records" member is an error (encoding/json merges them);
//   - a null approximateArrivalTimestamp gives the zero time (encoding/json
//     gives the Unix epoch);
//   - the timestamp is read exactly from its decimal digits, truncated to the
//     nanosecond (encoding/json goes through float64, off by up to about
//     120ns for current dates), and must be below 1e18 seconds;
//   - data holding '\r' or '\n' is rejected (encoding/json, through
//     base64.StdEncoding, skips them); null or absent data is an error
//     (encoding/json gives nil).
func Decode(payload []byte) ([]Record, error) {
	p := rawPool.Get().(*[]rawRecord)
	raws, found, sz, err := parse(payload, (*p)[:0])
	var recs []Record
	if err != nil {
		err = fmt.Errorf("kinesisevent: %w", err)
	} else if found {
		recs, err = build(payload, raws, sz)
	}
	if cap(raws) <= maxPooled {
		*p = raws[:0]
		rawPool.Put(p)
	}
	if err != nil {
		return nil, err
	}
	return recs, nil
}

// rawRecord is what the parse pass keeps of a record: where its strings are
// in the payload and its timestamp. It holds no pointers, so pooled slices of
// it keep nothing alive.
type rawRecord struct {
	pk, seq, data, eventID, arn span
	sec, nsec                   int64
	hasKinesis, hasTime         bool
}

// maxPooled bounds the scratch slices kept for reuse (Lambda sends at most
// 10000 Kinesis records per batch).
const maxPooled = 1 << 14

var rawPool = sync.Pool{New: func() any { return new([]rawRecord) }}

// sizes are the arena sizes the build pass needs (the string size is an
// estimate: strings.Builder grows if it is short).
type sizes struct {
	data, str int
}

func (sz *sizes) add(buf []byte, r, prev *rawRecord) {
	sz.data += base64.StdEncoding.DecodedLen(r.data.end - r.data.start)
	sz.str += r.pk.end - r.pk.start + r.seq.end - r.seq.start
	arn := buf[r.arn.start:r.arn.end]
	shard := shardPrefix(buf[r.eventID.start:r.eventID.end])
	if prev == nil || !bytes.Equal(arn, buf[prev.arn.start:prev.arn.end]) {
		sz.str += len(arn)
	}
	if prev == nil || !bytes.Equal(shard, shardPrefix(buf[prev.eventID.start:prev.eventID.end])) {
		sz.str += len(shard)
	}
}

func shardPrefix(eventID []byte) []byte {
	if i := bytes.IndexByte(eventID, ':'); i >= 0 {
		return eventID[:i]
	}
	return eventID
}

// The members the decoder reads, in the order Lambda sends them.
var (
	topKeys    = []string{"Records"}
	recordKeys = []string{"kinesis", "eventSource", "eventVersion", "eventID", "eventName",
		"invokeIdentityArn", "awsRegion", "eventSourceARN"}
	kinesisKeys = []string{"kinesisSchemaVersion", "partitionKey", "sequenceNumber", "data",
		"approximateArrivalTimestamp", "encryptionType"}
)

// Indexes in topKeys, recordKeys and kinesisKeys.
const (
	topRecords        = 0
	recKinesis        = 0
	recEventID        = 3
	recEventSourceARN = 7
	kinPartitionKey   = 1
	kinSequenceNumber = 2
	kinData           = 3
	kinTimestamp      = 4
)

// parse checks the whole payload is JSON and collects the records into raws.
// found reports whether there was a "Records" array.
func parse(payload []byte, raws []rawRecord) (_ []rawRecord, found bool, sz sizes, err error) {
	var s jsonscan.Scanner
	s.Reset(payload)
	switch s.Peek() {
	case 'n':
		if _, err := s.Value(); err != nil {
			return raws, false, sz, err
		}
	case '{':
		if err := s.BeginObject(); err != nil {
			return raws, false, sz, err
		}
		for first := true; ; first = false {
			idx, _, more, err := s.NextKeyIn(first, topKeys, 0)
			if err != nil {
				return raws, false, sz, err
			}
			if !more {
				break
			}
			if idx != topRecords {
				if _, err := s.Value(); err != nil {
					return raws, false, sz, err
				}
				continue
			}
			switch s.Peek() {
			case 'n':
				if _, err := s.Value(); err != nil {
					return raws, false, sz, err
				}
				continue
			case '[':
			default:
				return raws, false, sz, s.Unexpected("array or null for Records")
			}
			if found {
				return raws, false, sz, &jsonscan.SyntaxError{Offset: s.Offset(), Expected: "one Records array", Found: "a second one"}
			}
			found = true
			if raws, err = records(&s, raws, &sz); err != nil {
				return raws, false, sz, err
			}
		}
	default:
		return raws, false, sz, s.Unexpected("'{' starting the event object")
	}
	if err := s.End(); err != nil {
		return raws, false, sz, err
	}
	return raws, found, sz, nil
}

func records(s *jsonscan.Scanner, raws []rawRecord, sz *sizes) ([]rawRecord, error) {
	if err := s.BeginArray(); err != nil {
		return raws, err
	}
	buf := s.Input()
	for first := true; ; first = false {
		more, err := s.NextElement(first)
		if err != nil || !more {
			return raws, err
		}
		i := len(raws)
		raws = append(raws, rawRecord{})
		if err := record(s, &raws[i]); err != nil {
			return raws, fmt.Errorf("record %d: %w", i, err)
		}
		var prev *rawRecord
		if i > 0 {
			prev = &raws[i-1]
		}
		sz.add(buf, &raws[i], prev)
	}
}

// record reads one element of Records: an object, or null (which then lacks
// its kinesis object).
func record(s *jsonscan.Scanner, r *rawRecord) error {
	switch s.Peek() {
	case 'n':
		_, err := s.Value()
		return err
	case '{':
	default:
		return s.Unexpected("object or null for record")
	}
	if err := s.BeginObject(); err != nil {
		return err
	}
	next := 0
	for first := true; ; first = false {
		idx, key, more, err := s.NextKeyIn(first, recordKeys, next)
		if err != nil || !more {
			return err
		}
		next = idx + 1
		var ignored span
		switch idx {
		case recKinesis:
			err = kinesis(s, r)
		case recEventID:
			err = stringOrNull(s, &r.eventID)
		case recEventSourceARN:
			err = stringOrNull(s, &r.arn)
		case -1:
			_, err = s.Value()
		default:
			// Not returned, but typed strings in events.KinesisEventRecord.
			err = stringOrNull(s, &ignored)
		}
		if err != nil {
			return keyErr(idx, recordKeys, key, err)
		}
	}
}

func kinesis(s *jsonscan.Scanner, r *rawRecord) error {
	switch s.Peek() {
	case 'n':
		_, err := s.Value()
		return err
	case '{':
	default:
		return s.Unexpected("object or null for kinesis")
	}
	r.hasKinesis = true
	if err := s.BeginObject(); err != nil {
		return err
	}
	next := 0
	for first := true; ; first = false {
		idx, key, more, err := s.NextKeyIn(first, kinesisKeys, next)
		if err != nil || !more {
			return err
		}
		next = idx + 1
		var ignored span
		switch idx {
		case kinData:
			err = data(s, r)
		case kinPartitionKey:
			err = stringOrNull(s, &r.pk)
		case kinSequenceNumber:
			err = stringOrNull(s, &r.seq)
		case kinTimestamp:
			err = timestamp(s, r)
		case -1:
			_, err = s.Value()
		default:
			err = stringOrNull(s, &ignored)
		}
		if err != nil {
			return keyErr(idx, kinesisKeys, key, err)
		}
	}
}

// keyErr adds the member's key to err.
func keyErr(idx int, known []string, key []byte, err error) error {
	if idx >= 0 {
		return fmt.Errorf("%s: %w", known[idx], err)
	}
	return fmt.Errorf("%s: %w", key, err)
}

// span is where the content of a JSON string (between the quotes) stands in
// the payload.
type span struct {
	start, end int
	set        bool // the field was present with a string value
	// plain: the raw bytes are the decoded string (no escapes, valid UTF-8).
	// For data strings read by SkimString it only means "no backslash".
	plain bool
}

// spanOf returns the span of raw, the string the scanner has just read.
func spanOf(s *jsonscan.Scanner, raw []byte, plain bool) span {
	end := s.Offset() - 1 // the closing quote
	return span{start: end - len(raw), end: end, set: true, plain: plain}
}

// stringOrNull reads a string value, or null which leaves sp unchanged.
func stringOrNull(s *jsonscan.Scanner, sp *span) error {
	switch s.Peek() {
	case '"':
		raw, plain, err := s.RawString()
		if err != nil {
			return err
		}
		*sp = spanOf(s, raw, plain)
		return nil
	case 'n':
		_, err := s.Value()
		return err
	}
	return s.Unexpected("string or null")
}

func data(s *jsonscan.Scanner, r *rawRecord) error {
	switch s.Peek() {
	case 'n':
		_, err := s.Value()
		return err
	case '"':
	default:
		return s.Unexpected("string or null")
	}
	if r.data.set {
		// A repeated key: the last value wins, but the earlier one must still
		// be a valid string and valid base64, as encoding/json requires.
		if err := checkData(s.Input(), r.data); err != nil {
			return err
		}
	}
	// Its content is not checked here when it has no backslash: base64
	// decoding later rejects every byte a JSON string may not hold raw (see
	// decodeBase64).
	raw, plain, err := s.SkimString()
	if err != nil {
		return err
	}
	r.data = spanOf(s, raw, plain)
	return nil
}

// checkData validates a data string that is replaced by a later one, as
// encoding/json does: it must be a valid string and decode with
// base64.StdEncoding (which skips '\r' and '\n').
func checkData(payload []byte, sp span) error {
	t := jsonscan.New(payload)
	t.Seek(sp.start - 1)
	src, plain, err := t.RawString()
	if err != nil {
		return err
	}
	if !plain {
		src = jsonscan.AppendUnquoted(nil, src)
	}
	_, err = base64.StdEncoding.Decode(make([]byte, base64.StdEncoding.DecodedLen(len(src))), src)
	return err
}

func timestamp(s *jsonscan.Scanner, r *rawRecord) error {
	switch c := s.Peek(); {
	case c == 'n':
		_, err := s.Value()
		return err
	case c == '-' || isDigit(c):
	default:
		return s.Unexpected("number or null")
	}
	num, err := s.Number()
	if err != nil {
		return err
	}
	sec, nsec, ok := parseEpoch(num)
	if !ok {
		return fmt.Errorf("offset %d: %w", s.Offset()-len(num), errTimeRange)
	}
	r.sec, r.nsec, r.hasTime = sec, nsec, true
	return nil
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

var errTimeRange = errors.New("timestamp out of range (must be below 1e18 seconds)")

// parseEpoch converts a JSON number (already validated) of epoch seconds to
// seconds and nanoseconds, exactly, truncating toward zero below the
// nanosecond like events.SecondsEpochTime. ok is false if the number of whole
// seconds has more than 18 digits.
func parseEpoch(num []byte) (sec, nsec int64, ok bool) {
	if sec, nsec, ok := parseEpochPlain(num); ok {
		return sec, nsec, true
	}
	return parseEpochExp(num)
}

// pow10 holds 10^(9-k): the nanosecond scale of a fraction of k digits.
var pow10 = [10]int64{1e9, 1e8, 1e7, 1e6, 1e5, 1e4, 1e3, 100, 10, 1}

// parseEpochPlain is parseEpoch for numbers without an exponent and fewer
// than 19 digits before the point, what Lambda sends. ok is false for others.
func parseEpochPlain(num []byte) (sec, nsec int64, ok bool) {
	i := 0
	neg := num[0] == '-'
	if neg {
		i = 1
	}
	start := i
	for ; i < len(num) && isDigit(num[i]); i++ {
		sec = sec*10 + int64(num[i]-'0')
	}
	if i-start > 18 { // JSON has no leading zeros: at least 1e18
		return 0, 0, false
	}
	if i < len(num) && num[i] == '.' {
		i++
		k := 0
		for ; i < len(num) && isDigit(num[i]); i++ {
			if k < 9 {
				nsec = nsec*10 + int64(num[i]-'0')
				k++
			}
		}
		nsec *= pow10[k]
	}
	if i != len(num) { // an exponent
		return 0, 0, false
	}
	if neg {
		sec, nsec = -sec, -nsec
	}
	return sec, nsec, true
}

// parseEpochExp is parseEpoch for any number.
func parseEpochExp(num []byte) (sec, nsec int64, ok bool) {
	i := 0
	neg := num[0] == '-'
	if neg {
		i = 1
	}
	mEnd, dot := i, -1
	for mEnd < len(num) && num[mEnd] != 'e' && num[mEnd] != 'E' {
		if num[mEnd] == '.' {
			dot = mEnd
		}
		mEnd++
	}
	// The mantissa digits, without the point, are D; D[k] is digit(k).
	intDigits := int64(mEnd - i)
	nd := int64(mEnd - i)
	if dot >= 0 {
		intDigits = int64(dot - i)
		nd--
	}
	digit := func(k int64) int64 {
		if k < 0 || k >= nd {
			return 0
		}
		p := i + int(k)
		if dot >= 0 && p >= dot {
			p++
		}
		return int64(num[p] - '0')
	}
	var exp int64
	if mEnd < len(num) {
		j := mEnd + 1
		eneg := num[j] == '-'
		if num[j] == '+' || num[j] == '-' {
			j++
		}
		for ; j < len(num); j++ {
			if exp < 1e15 { // saturate: far beyond any payload's digit count
				exp = exp*10 + int64(num[j]-'0')
			}
		}
		if eneg {
			exp = -exp
		}
	}
	first := int64(-1) // first non-zero digit
	for k := int64(0); k < nd; k++ {
		if digit(k) != 0 {
			first = k
			break
		}
	}
	if first < 0 {
		return 0, 0, true
	}
	point := intDigits + exp // D[:point] are the whole seconds
	if point-first > 18 {
		return 0, 0, false
	}
	for k := first; k < point; k++ {
		sec = sec*10 + digit(k)
	}
	for k := point; k < point+9; k++ {
		nsec = nsec*10 + digit(k)
	}
	if neg {
		sec, nsec = -sec, -nsec
	}
	return sec, nsec, true
}

// build decodes the records found by parse.
func build(payload []byte, raws []rawRecord, sz sizes) ([]Record, error) {
	recs := make([]Record, len(raws))
	arena := make([]byte, sz.data)
	var sb strings.Builder
	sb.Grow(sz.str)
	var tmpArr [256]byte
	tmp := tmpArr[:0] // decoded strings that had escapes
	off := 0
	for i := range raws {
		r, rec := &raws[i], &recs[i]
		if !r.hasKinesis {
			return nil, fmt.Errorf("kinesisevent: record %d: no kinesis object", i)
		}
		if !r.data.set {
			return nil, fmt.Errorf("kinesisevent: record %d: kinesis: no data", i)
		}
		var src []byte
		src, tmp = content(payload, r.data, tmp)
		n, err := decodeBase64(arena[off:], src)
		if err != nil {
			return nil, fmt.Errorf("kinesisevent: record %d: data: %w", i, err)
		}
		rec.Data = arena[off : off+n : off+n]
		off += n

		var v []byte
		v, tmp = content(payload, r.pk, tmp)
		rec.PartitionKey = write(&sb, v)
		v, tmp = content(payload, r.seq, tmp)
		rec.SequenceNumber = write(&sb, v)

		var prev *Record
		if i > 0 {
			prev = &recs[i-1]
		}
		v, tmp = content(payload, r.arn, tmp)
		if prev != nil && string(v) == prev.EventSourceARN {
			rec.EventSourceARN = prev.EventSourceARN
		} else {
			rec.EventSourceARN = write(&sb, v)
		}
		v, tmp = content(payload, r.eventID, tmp)
		v = shardPrefix(v)
		if prev != nil && string(v) == prev.ShardID {
			rec.ShardID = prev.ShardID
		} else {
			rec.ShardID = write(&sb, v)
		}

		if r.hasTime {
			rec.ArrivalTime = time.Unix(r.sec, r.nsec).UTC()
		}
	}
	return recs, nil
}

// content returns the decoded bytes of a string, pointing into payload when
// it needs no decoding and into tmp (returned for reuse) otherwise.
func content(payload []byte, sp span, tmp []byte) (v, _ []byte) {
	raw := payload[sp.start:sp.end]
	if sp.plain || !sp.set {
		return raw, tmp
	}
	tmp = jsonscan.AppendUnquoted(tmp[:0], raw)
	return tmp, tmp
}

// write appends v to the batch's string arena and returns it as a string.
// strings.Builder never modifies bytes it has handed out through String, so
// the substring stays valid and immutable as the builder grows.
func write(sb *strings.Builder, v []byte) string {
	if len(v) == 0 {
		return ""
	}
	off := sb.Len()
	sb.Write(v)
	return sb.String()[off:]
}
