package kinesisevent

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"math"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

// FuzzDecode checks Decode never panics and agrees with encoding/json and
// events.KinesisEvent: when encoding/json accepts a payload whose records all
// have valid data, Decode returns the same records, and when encoding/json
// rejects it, so does Decode. Inputs touching the documented differences (see
// Decode) are only checked for not panicking: keys that match a field
// case-insensitively but not exactly, several top-level "Records" members,
// and numbers of 1e18 or more. A null timestamp is not compared (Decode:
// zero time; encoding/json: the Unix epoch), and timestamps are compared
// within float64 precision.
func FuzzDecode(f *testing.F) {
	// Seeds are kept short: the fuzzer minimizes each new interesting input,
	// which costs about the square of its length.
	for _, s := range []string{
		`{"Records":[{"kinesis":{"kinesisSchemaVersion":"1.0","partitionKey":"pk","sequenceNumber":"49","data":"aGk=",` +
			`"approximateArrivalTimestamp":1545084650.987},"eventSource":"aws:kinesis","eventVersion":"1.0","eventID":"shardId-0:49",` +
			`"eventName":"aws:kinesis:record","invokeIdentityArn":"arn:r","awsRegion":"us-east-2","eventSourceARN":"arn:s"}]}`,
		`{"Records":[{"kinesis":{"data":"","partitionKey":"a"},"eventID":"s:1","eventSourceARN":"x"},` +
			`{"kinesis":{"data":"AAEC"},"eventID":"s:2","eventSourceARN":"x"},{"kinesis":{"data":"AA=="},"eventID":"t"}]}`,
		" {\n \"Records\" : [ {\"kinesis\" : {\"data\" : \"YWJj\" , \"approximateArrivalTimestamp\" : 1.5 } } ] }\t",
		`{"Records":[{"kinesis":{"data":"aGk=","partitionKey":"\u00e9\ud83d\ude00\ud800","approximateArrivalTimestamp":1.5e9},"eventID":"s:1","eventSourceARN":"a"}]}`,
		`{"Records":[{"kinesis":{"data":"AA==","data":"AQ==","partitionKey":null},"kinesis":{"sequenceNumber":"1"},"x":[{},[],"\"",1e5,true,null]}]}`,
		`{"Records":[{"kinesis":{"data":"","approximateArrivalTimestamp":-0.000000001}},{"kinesis":{"data":"YQ=="}}],"Records":null}`,
		`{"Records":null}`,
		`{"Records":[{"kinesis":{"data":"AAAA\nAAAA","data":"\u0041\/8="}}]}`,
		`null`,
		`{"Records":[{"kinesis":{"data":"AA\nAA=="}}]}`,
		`{"Records":[{"kinesis":{"data":"!!"}}]}`,
		`{"Records":[{"kinesis":null}]}`,
		`{"Records":[],"records":[{"kinesis":{}}]}`,
		"{\"Records\":[{\"kinesis\":{\"data\":\"\",\"partitionKey\":\"\xff\xe2\x82\"}}]}",
		`{"Records":[{"kinesis":{"data":"","approximateArrivalTimestamp":1545084650.987e-3}}]}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, payload []byte) {
		got, err := Decode(payload)
		if err != nil && got != nil {
			t.Fatalf("Decode returned %d records and error %v", len(got), err)
		}
		for i, r := range got {
			if cap(r.Data) != len(r.Data) {
				t.Fatalf("record %d: cap(Data) = %d, want len(Data) = %d", i, cap(r.Data), len(r.Data))
			}
		}
		o := newOracle(payload)
		switch {
		case o.skip:
			return
		case o.reject != "":
			if err == nil {
				t.Fatalf("Decode accepted %q, want an error (%s)", payload, o.reject)
			}
			return
		case err != nil:
			t.Fatalf("Decode(%q): %v; encoding/json accepts it", payload, err)
		}
		if len(got) != len(o.want) {
			t.Fatalf("Decode(%q): %d records, encoding/json %d", payload, len(got), len(o.want))
		}
		for i := range got {
			if tc := o.times[i]; tc.check {
				if d := got[i].ArrivalTime.Sub(o.want[i].ArrivalTime).Abs(); d > tc.tol {
					t.Errorf("record %d: ArrivalTime = %v, encoding/json %v (off by %v, more than %v)",
						i, got[i].ArrivalTime, o.want[i].ArrivalTime, d, tc.tol)
				}
			}
			got[i].ArrivalTime, o.want[i].ArrivalTime = time.Time{}, time.Time{}
		}
		if diff := cmp.Diff(got, o.want, cmpopts.EquateEmpty()); diff != "" {
			t.Errorf("Decode(%q) differs from encoding/json (-got +want):\n%s", payload, diff)
		}
	})
}

// oracle is what encoding/json makes of a payload.
type oracle struct {
	skip   bool     // the payload touches a documented difference
	reject string   // why Decode must reject it, if it must
	want   []Record // otherwise, the records
	times  []timeCheck
}

type timeCheck struct {
	check bool
	tol   time.Duration
}

// shadowEvent reads the raw values encoding/json would decode, with the same
// member matching as events.KinesisEvent.
type shadowEvent struct {
	Records []struct {
		Kinesis struct {
			Data                        json.RawMessage `json:"data"`
			ApproximateArrivalTimestamp json.RawMessage `json:"approximateArrivalTimestamp"`
		} `json:"kinesis"`
	} `json:"Records"`
}

var fieldNames = []string{
	"Records", "kinesis", "eventID", "eventSourceARN", "awsRegion", "eventName", "eventSource",
	"eventVersion", "invokeIdentityArn", "partitionKey", "sequenceNumber", "data",
	"approximateArrivalTimestamp", "encryptionType", "kinesisSchemaVersion",
}

func newOracle(payload []byte) oracle {
	if !json.Valid(payload) {
		return oracle{reject: "invalid JSON"}
	}
	if differs, err := touchesDifferences(payload); err != nil || differs {
		return oracle{skip: true}
	}
	var ev events.KinesisEvent
	if err := json.Unmarshal(payload, &ev); err != nil {
		return oracle{reject: "encoding/json: " + err.Error()}
	}
	var sh shadowEvent
	if err := json.Unmarshal(payload, &sh); err != nil || len(sh.Records) != len(ev.Records) {
		return oracle{skip: true} // cannot happen: same members
	}
	o := oracle{want: fromEvents(ev), times: make([]timeCheck, len(ev.Records))}
	for i, r := range sh.Records {
		var data string
		if raw := r.Kinesis.Data; len(raw) == 0 || string(raw) == "null" || json.Unmarshal(raw, &data) != nil {
			return oracle{reject: "record without data"} // absent or null
		}
		if strings.ContainsAny(data, "\r\n") {
			return oracle{reject: "newline in base64 data"}
		}
		if _, err := base64.StdEncoding.DecodeString(data); err != nil {
			return oracle{reject: "bad base64"} // encoding/json would have said so
		}
		ts := r.Kinesis.ApproximateArrivalTimestamp
		switch {
		case len(ts) == 0:
			o.times[i] = timeCheck{check: true}
		case string(ts) != "null":
			v, err := strconv.ParseFloat(string(ts), 64)
			if err != nil {
				return oracle{skip: true}
			}
			// float64 rounding of the value, and truncation to the nanosecond.
			tol := time.Duration(math.Abs(v)*0x1p-52*1e9) + 2
			o.times[i] = timeCheck{check: true, tol: tol}
		}
	}
	return o
}

// touchesDifferences reports whether a valid JSON payload has a key equal to
// a field name except for case, several top-level "Records" members, or a
// number of magnitude 1e18 or more.
func touchesDifferences(payload []byte) (bool, error) {
	dec := json.NewDecoder(bytes.NewReader(payload))
	dec.UseNumber()
	type frame struct{ object, wantKey bool }
	var stack []frame
	records := 0
	for {
		tok, err := dec.Token()
		if errors.Is(err, io.EOF) {
			return records > 1, nil
		}
		if err != nil {
			return false, err
		}
		top := len(stack) - 1
		if s, ok := tok.(string); ok && top >= 0 && stack[top].object && stack[top].wantKey {
			stack[top].wantKey = false
			for _, name := range fieldNames {
				if s != name && strings.EqualFold(s, name) {
					return true, nil
				}
			}
			if top == 0 && s == "Records" {
				records++
			}
			continue
		}
		if d, ok := tok.(json.Delim); ok && (d == '}' || d == ']') {
			stack = stack[:top]
			continue
		}
		if top >= 0 && stack[top].object {
			stack[top].wantKey = true // after this value
		}
		switch v := tok.(type) {
		case json.Delim:
			stack = append(stack, frame{object: v == '{', wantKey: v == '{'})
		case json.Number:
			if f, err := strconv.ParseFloat(string(v), 64); err != nil || math.Abs(f) >= 1e18 {
				return true, nil
			}
		}
	}
}
