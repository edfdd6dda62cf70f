package kinesisevent

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"
	"unsafe"

	"github.com/google/go-cmp/cmp"

	"github.com/flowbus/flowbus/shared/jsonscan"
)

func TestDecodeMatchesEncodingJSON(t *testing.T) {
	for _, tc := range []struct {
		records, dataSize int
	}{
		{1, 0}, {1, 200}, {1, 1024}, {1, 100 << 10},
		{100, 0}, {100, 200}, {100, 1024},
		{1000, 0}, {1000, 200}, {1000, 1024},
		{10, 100 << 10},
	} {
		payload := testPayload(tc.records, tc.dataSize, uint64(tc.records*7+tc.dataSize))
		if tc.records%2 == 1 {
			payload = prettyPayload(tc.records, tc.dataSize, uint64(tc.records*7+tc.dataSize))
		}
		got, err := Decode(payload)
		if err != nil {
			t.Fatalf("%d records of %d bytes: Decode: %v", tc.records, tc.dataSize, err)
		}
		want := decodeEncodingJSON(t, payload)
		if diff := cmp.Diff(got, want, cmp.Comparer(closeTime(time.Microsecond))); diff != "" {
			t.Errorf("%d records of %d bytes: Decode differs from encoding/json (-got +want):\n%s", tc.records, tc.dataSize, diff)
		}
		// Timestamps are exact, not float64-rounded.
		for i, r := range got {
			wantTime := time.Unix(int64(1545084650+i/1000), int64(i%1000)*1e6).UTC()
			if !r.ArrivalTime.Equal(wantTime) || r.ArrivalTime.Location() != time.UTC {
				t.Fatalf("%d records: record %d: ArrivalTime = %v, want %v", tc.records, i, r.ArrivalTime, wantTime)
			}
		}
	}
}

func TestDecodeSharesStrings(t *testing.T) {
	payload := testPayload(3, 16, 1)
	got, err := Decode(payload)
	if err != nil {
		t.Fatal(err)
	}
	if got[0].ShardID != "shardId-000000000006" {
		t.Errorf("ShardID = %q, want %q", got[0].ShardID, "shardId-000000000006")
	}
	// Equal shard ids and ARNs are one string.
	for i := 1; i < len(got); i++ {
		if unsafe.StringData(got[i].EventSourceARN) != unsafe.StringData(got[0].EventSourceARN) {
			t.Errorf("record %d: EventSourceARN %q is a copy of record 0's", i, got[i].EventSourceARN)
		}
		if unsafe.StringData(got[i].ShardID) != unsafe.StringData(got[0].ShardID) {
			t.Errorf("record %d: ShardID %q is a copy of record 0's", i, got[i].ShardID)
		}
	}
	// Appending to one record's data must not overwrite the next one's.
	next := append([]byte(nil), got[1].Data...)
	_ = append(got[0].Data, 0xff, 0xff, 0xff)
	if diff := cmp.Diff(got[1].Data, next); diff != "" {
		t.Errorf("append to record 0 data changed record 1 data (-got +want):\n%s", diff)
	}
	// Nothing points into the payload.
	want := decodeEncodingJSON(t, payload)
	for i := range payload {
		payload[i] = 'x'
	}
	if diff := cmp.Diff(got, want, cmp.Comparer(closeTime(time.Microsecond))); diff != "" {
		t.Errorf("after the payload is overwritten (-got +want):\n%s", diff)
	}
}

func TestDecodeAllocations(t *testing.T) {
	payload := testPayload(100, 1024, 2)
	if _, err := Decode(payload); err != nil {
		t.Fatal(err)
	}
	allocs := testing.AllocsPerRun(50, func() {
		if _, err := Decode(payload); err != nil {
			t.Fatal(err)
		}
	})
	// records, data arena, string arena; a pooled scratch slice may be
	// reallocated after a GC.
	if allocs > 5 {
		t.Errorf("Decode of 100 records: %v allocations, want at most 5", allocs)
	}
}

func TestDecodeShapes(t *testing.T) {
	utc := func(sec, nsec int64) time.Time { return time.Unix(sec, nsec).UTC() }
	for _, tc := range []struct {
		name    string
		payload string
		want    []Record
	}{
		{"null payload", ` null `, nil},
		{"no Records", `{"other":[1,2,{"Records":[]}]}`, nil},
		{"Records null", `{"Records":null}`, nil},
		{"Records empty", `{"Records":[]}`, []Record{}},
		{
			"minimal record, empty data",
			`{"Records":[{"kinesis":{"data":""}}]}`,
			[]Record{{Data: []byte{}}},
		},
		{
			"fields in any order, whitespace everywhere, unknown values of every type",
			" \t\r\n{ \"x\" : { \"a\" : [ 1 , -2.5e+3 , true , false , null , \"s\\\"}]\" , { } , [ ] ] } ,\n" +
				" \"Records\" : [ { \"eventSourceARN\" : \"arn:x\" , \"zz\" : [[[{\"k\":\"}\"}]]] , " +
				"\"kinesis\" : { \"approximateArrivalTimestamp\" : 1.5e9 , \"unknown\" : {\"data\":\"!!\"} , " +
				"\"data\" : \"aGVsbG8=\" , \"partitionKey\" : \"pk\" , \"sequenceNumber\" : \"12\" } , " +
				"\"eventID\" : \"shardId-1:12\" } ] , \"y\" : \"z\" } \n",
			[]Record{{PartitionKey: "pk", SequenceNumber: "12", Data: []byte("hello"), ArrivalTime: utc(1.5e9, 0), ShardID: "shardId-1", EventSourceARN: "arn:x"}},
		},
		{
			"escapes in strings and keys",
			`{"R\u0065cords":[{"kinesis":{"d\u0061ta":"aGk\u003d","partitionKey":"a\u00e9\ud83d\ude00\"\\\/\b\f\n\r\t\ud800x\udc00"},` +
				`"eventID":"sh\u0061rd\u003a1","eventSourceARN":"\u0061rn"}]}`,
			[]Record{{PartitionKey: "a\u00e9\U0001F600\"\\/\b\f\n\r\t\uFFFDx\uFFFD", Data: []byte("hi"), ShardID: "shard", EventSourceARN: "arn"}},
		},
		{
			"invalid UTF-8 becomes U+FFFD",
			"{\"Records\":[{\"kinesis\":{\"data\":\"\",\"partitionKey\":\"a\xffb\xe2\x82\"}}]}",
			[]Record{{PartitionKey: "a\uFFFDb\uFFFD\uFFFD", Data: []byte{}}},
		},
		{
			"nulls are absent values",
			`{"Records":[{"kinesis":{"data":"AA==","partitionKey":null,"sequenceNumber":null,"approximateArrivalTimestamp":null,"data":null},` +
				`"eventID":null,"eventSourceARN":null,"kinesis":null,"awsRegion":null}]}`,
			[]Record{{Data: []byte{0}}},
		},
		{
			"repeated keys: last value wins, kinesis objects merge",
			`{"Records":[{"kinesis":{"data":"AA==","partitionKey":"a"},"kinesis":{"partitionKey":"b","data":"AQ=="},"eventID":"x:1","eventID":"y:2"}]}`,
			[]Record{{PartitionKey: "b", Data: []byte{1}, ShardID: "y"}},
		},
		{
			"replaced data is checked as encoding/json does",
			`{"Records":[{"kinesis":{"data":"AAAA\nAAAA","data":"\u0041\/8="}}]}`,
			[]Record{{Data: []byte{0x03, 0xff}}},
		},
		{
			"eventID without colon",
			`{"Records":[{"kinesis":{"data":""},"eventID":"shardId-7"}]}`,
			[]Record{{Data: []byte{}, ShardID: "shardId-7"}},
		},
		{
			"shard and ARN change between records",
			`{"Records":[{"kinesis":{"data":""},"eventID":"s1:1","eventSourceARN":"a"},{"kinesis":{"data":""},"eventID":"s1:2","eventSourceARN":"a"},` +
				`{"kinesis":{"data":""},"eventID":"s2:3","eventSourceARN":"b"},{"kinesis":{"data":""}}]}`,
			[]Record{
				{Data: []byte{}, ShardID: "s1", EventSourceARN: "a"},
				{Data: []byte{}, ShardID: "s1", EventSourceARN: "a"},
				{Data: []byte{}, ShardID: "s2", EventSourceARN: "b"},
				{Data: []byte{}},
			},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Decode([]byte(tc.payload))
			if err != nil {
				t.Fatalf("Decode: %v", err)
			}
			if diff := cmp.Diff(got, tc.want); diff != "" {
				t.Errorf("Decode (-got +want):\n%s", diff)
			}
			if (got == nil) != (tc.want == nil) {
				t.Errorf("Decode = %#v, want %#v", got, tc.want)
			}
		})
	}
}

func TestDecodeNestingLimit(t *testing.T) {
	// encoding/json accepts 10000 levels, the top-level object included.
	for _, depth := range []int{jsonscan.MaxDepth - 1, jsonscan.MaxDepth, jsonscan.MaxDepth + 1} {
		payload := []byte(`{"x":` + strings.Repeat("[", depth-1) + strings.Repeat("]", depth-1) + `}`)
		_, err := Decode(payload)
		if got, want := err == nil, json.Valid(payload); got != want {
			t.Errorf("depth %d: Decode error %v; encoding/json accepts: %v", depth, err, want)
		}
	}
}

func TestDecodeTimestamp(t *testing.T) {
	for _, tc := range []struct {
		num  string
		want time.Time
	}{
		{"1545084650.987", time.Unix(1545084650, 987000000)},
		{"1545084650", time.Unix(1545084650, 0)},
		{"1.545084650987e9", time.Unix(1545084650, 987000000)},
		{"1545084650987E-3", time.Unix(1545084650, 987000000)},
		{"15450846509870000e-7", time.Unix(1545084650, 987000000)},
		{"0.1545084650987e+10", time.Unix(1545084650, 987000000)},
		{"1545084650.1234567899", time.Unix(1545084650, 123456789)},
		{"0", time.Unix(0, 0)},
		{"-0", time.Unix(0, 0)},
		{"0e999999999999999999999", time.Unix(0, 0)},
		{"0.000e-5", time.Unix(0, 0)},
		{"-1.5", time.Unix(-1, -500000000)},
		{"-0.000000001", time.Unix(0, -1)},
		{"1e-10", time.Unix(0, 0)},
		{"1e-99999999999999999999", time.Unix(0, 0)},
		{"999999999999999999.999999999", time.Unix(999999999999999999, 999999999)},
		{"-999999999999999999", time.Unix(-999999999999999999, 0)},
		{"00000000000000000000000000001e0", time.Unix(1, 0)}, // not JSON, parseEpoch only
	} {
		sec, nsec, ok := parseEpoch([]byte(tc.num))
		if !ok {
			t.Errorf("parseEpoch(%s): out of range", tc.num)
			continue
		}
		if got := time.Unix(sec, nsec); !got.Equal(tc.want) {
			t.Errorf("parseEpoch(%s) = %v, want %v", tc.num, got.UTC(), tc.want.UTC())
		}
		// The general path agrees with the fast one.
		if sec2, nsec2, ok := parseEpochExp([]byte(tc.num)); !ok || sec2 != sec || nsec2 != nsec {
			t.Errorf("parseEpochExp(%s) = %d, %d, %v; parseEpoch %d, %d", tc.num, sec2, nsec2, ok, sec, nsec)
		}
	}
	for _, num := range []string{"1e18", "1000000000000000000", "-1e18", "1e400", "123456789e10"} {
		if _, _, ok := parseEpoch([]byte(num)); ok {
			t.Errorf("parseEpoch(%s): ok, want out of range", num)
		}
	}
}

func TestDecodeErrors(t *testing.T) {
	const rec = `{"kinesis":{"data":"AA=="}}`
	for _, tc := range []struct {
		name, payload, want string
	}{
		{"empty", ``, "offset 0: expected '{' starting the event object, found end of input"},
		{"whitespace only", " \n", "offset 2: expected '{'"},
		{"array at top level", `[]`, `offset 0: expected '{' starting the event object, found '['`},
		{"string at top level", `"Records"`, "offset 0: expected '{'"},
		{"truncated object", `{"Records":[` + rec, "offset 39: expected ',' or ']' after array element, found end of input"},
		{"truncated key", `{"Rec`, "expected '\"' ending string, found end of input"},
		{"truncated data", `{"Records":[{"kinesis":{"data":"AAAA`, "record 0: kinesis: data: offset 36: expected '\"' ending string"},
		{"truncated literal", `{"Records":nul`, `offset 14: expected "null", found end of input`},
		{"missing colon", `{"Records" []}`, "offset 11: expected ':' after object key, found '['"},
		{"missing comma", `{"a":1 "b":2}`, "offset 7: expected ',' or '}' after object member"},
		{"trailing comma in object", `{"a":1,}`, "offset 7: expected '\"' starting object key, found '}'"},
		{"trailing comma in array", `{"a":[1,]}`, "offset 8: expected JSON value, found ']'"},
		{"unquoted key", `{Records:[]}`, "offset 1: expected '\"' starting object key or '}'"},
		{"single quotes", `{'Records':[]}`, "offset 1"},
		{"trailing garbage", `{"Records":[]} x`, "offset 15: expected end of input, found 'x'"},
		{"two objects", `{}{}`, "offset 2: expected end of input"},
		{"Records not an array", `{"Records":{}}`, "offset 11: expected array or null for Records, found '{'"},
		{"Records a string", `{"Records":"[]"}`, "expected array or null for Records"},
		{"record not an object", `{"Records":[1]}`, "record 0: offset 12: expected object or null for record"},
		{"kinesis not an object", `{"Records":[{"kinesis":[]}]}`, "record 0: kinesis: offset 23: expected object or null for kinesis"},
		{"data a number", `{"Records":[{"kinesis":{"data":12}}]}`, "record 0: kinesis: data: offset 31: expected string or null, found '1'"},
		{"data an array", `{"Records":[{"kinesis":{"data":["AA=="]}}]}`, "record 0: kinesis: data: offset 31: expected string or null"},
		{"partitionKey a number", `{"Records":[{"kinesis":{"data":"","partitionKey":1}}]}`, "record 0: kinesis: partitionKey: offset 49: expected string or null"},
		{"sequenceNumber a number", `{"Records":[{"kinesis":{"data":"","sequenceNumber":495}}]}`, "kinesis: sequenceNumber: offset 51: expected string or null"},
		{"timestamp a string", `{"Records":[{"kinesis":{"data":"","approximateArrivalTimestamp":"1.5"}}]}`, "approximateArrivalTimestamp: offset 64: expected number or null"},
		{"timestamp out of range", `{"Records":[{"kinesis":{"data":"","approximateArrivalTimestamp":1e18}}]}`, "approximateArrivalTimestamp: offset 64: timestamp out of range"},
		{"eventID an object", `{"Records":[{"eventID":{},` + rec[1:] + `]}`, "record 0: eventID: offset 23: expected string or null"},
		{"eventSourceARN true", `{"Records":[` + rec + `,{"eventSourceARN":true}]}`, "record 1: eventSourceARN: offset 58: expected string or null"},
		{"awsRegion a number", `{"Records":[{"awsRegion":2}]}`, "record 0: awsRegion: offset 25: expected string or null"},
		{"bad number", `{"a":01}`, "offset 6: expected ',' or '}' after object member, found '1'"},
		{"bad fraction", `{"a":1.}`, "offset 7: expected digit after decimal point"},
		{"bad exponent", `{"a":1e+}`, "offset 8: expected digit in exponent"},
		{"lone minus", `{"a":-}`, "offset 6: expected digit"},
		{"plus sign", `{"a":+1}`, "offset 5: expected JSON value, found '+'"},
		{"bad literal", `{"a":tru}`, `offset 8: expected "true", found '}'`},
		{"NaN", `{"a":NaN}`, "expected JSON value, found 'N'"},
		{"bad escape", `{"a":"\x"}`, `offset 7: expected escape character, found 'x'`},
		{"bad unicode escape", `{"a":"\u12g4"}`, `offset 10: expected hexadecimal digit in \u escape, found 'g'`},
		{"control character in string", "{\"a\":\"x\ty\"}", "offset 7: expected string character (control characters must be escaped), found byte 0x09"},
		{"control character in key", "{\"a\x00\":1}", "offset 3: expected string character"},
		{"unterminated string", `{"a":"abc`, "offset 9: expected '\"' ending string, found end of input"},
		{"unclosed array", `{"a":[1,2`, "offset 9: expected ',' or ']' after array element, found end of input"},
		{"unclosed nested", `{"a":{"b":[{}`, "offset 13: expected ',' or ']'"},
		{"mismatched brackets", `{"a":[}`, "offset 6: expected JSON value, found '}'"},
		{"too deep", `{"a":` + strings.Repeat("[", jsonscan.MaxDepth) + strings.Repeat("]", jsonscan.MaxDepth) + `}`, "expected nesting depth at most 10000"},
		{"second Records array", `{"Records":[],"Records":[]}`, "expected one Records array, found a second one"},
		{"no kinesis", `{"Records":[` + rec + `,{"eventID":"x"}]}`, "kinesisevent: record 1: no kinesis object"},
		{"null record", `{"Records":[null]}`, "kinesisevent: record 0: no kinesis object"},
		{"kinesis null", `{"Records":[{"kinesis":null}]}`, "kinesisevent: record 0: no kinesis object"},
		{"no data", `{"Records":[{"kinesis":{"partitionKey":"a"}}]}`, "kinesisevent: record 0: kinesis: no data"},
		{"data null", `{"Records":[{"kinesis":{"data":null}}]}`, "record 0: kinesis: no data"},
		{"bad base64 character", `{"Records":[` + rec + `,{"kinesis":{"data":"AA*A"}}]}`, "kinesisevent: record 1: data: illegal base64 data at input byte 2"},
		{"base64 unpadded", `{"Records":[{"kinesis":{"data":"AA"}}]}`, "record 0: data: illegal base64 data at input byte 0"},
		{"base64 URL alphabet", `{"Records":[{"kinesis":{"data":"-_-_"}}]}`, "record 0: data: illegal base64 data at input byte 0"},
		{"base64 too much padding", `{"Records":[{"kinesis":{"data":"A==="}}]}`, "record 0: data: illegal base64 data"},
		{"base64 with escaped newline", `{"Records":[{"kinesis":{"data":"AAAA\nAAAA\r\nAAAA\n"}}]}`, "record 0: data: illegal base64 data at input byte 4"},
		{"base64 with raw newline", "{\"Records\":[{\"kinesis\":{\"data\":\"AAAA\nAAAA\"}}]}", "record 0: data: illegal base64 data at input byte 4"},
		{"base64 with raw control", "{\"Records\":[{\"kinesis\":{\"data\":\"AA\x01A\"}}]}", "record 0: data: illegal base64 data at input byte 2"},
		{"base64 with non-ASCII", `{"Records":[{"kinesis":{"data":"AAé="}}]}`, "record 0: data: illegal base64 data at input byte 2"},
		{"earlier data invalid", `{"Records":[{"kinesis":{"data":"!!!!","data":"AA=="}}]}`, "record 0: kinesis: data: illegal base64 data at input byte 0"},
		{"earlier data invalid JSON", "{\"Records\":[{\"kinesis\":{\"data\":\"AA\x01=\",\"data\":\"AA==\"}}]}", "record 0: kinesis: data: offset 34: expected string character"},
		{"syntax error after bad record", `{"Records":[{"kinesis":{"data":"!"}}],}`, "offset 38: expected '\"' starting object key"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Decode([]byte(tc.payload))
			if err == nil {
				t.Fatalf("Decode(%q) = %v, nil; want error containing %q", tc.payload, got, tc.want)
			}
			if got != nil {
				t.Errorf("Decode(%q) returned records %v with error", tc.payload, got)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Decode(%q) error = %q, want it to contain %q", tc.payload, err, tc.want)
			}
			if !strings.HasPrefix(err.Error(), "kinesisevent: ") {
				t.Errorf("error %q lacks the package prefix", err)
			}
		})
	}
}

func TestDecodeErrorTypes(t *testing.T) {
	_, err := Decode([]byte(`{"Records":[{"kinesis":{"data":1}}]}`))
	var se *jsonscan.SyntaxError
	if !errors.As(err, &se) {
		t.Fatalf("error %v is not a *jsonscan.SyntaxError", err)
	}
	if diff := cmp.Diff(*se, jsonscan.SyntaxError{Offset: 31, Expected: "string or null", Found: "'1'"}); diff != "" {
		t.Errorf("SyntaxError (-got +want):\n%s", diff)
	}
	_, err = Decode([]byte(`{"Records":[{"kinesis":{"data":"A*=="}}]}`))
	var ce base64.CorruptInputError
	if !errors.As(err, &ce) || ce != 1 {
		t.Errorf("error %v: want a base64.CorruptInputError(1)", err)
	}
}
