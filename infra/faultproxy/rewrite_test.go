package faultproxy

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

// picks answers the given draws in turn.
func picks(draws ...bool) func() bool {
	return func() bool {
		d := draws[0]
		draws = draws[1:]
		return d
	}
}

func TestPutRecordsRewrite(t *testing.T) {
	const req = `{"Records":[{"Data":"YQ==","PartitionKey":"a"},{"Data":"Yg==","PartitionKey":"b"},{"Data":"Yw==","PartitionKey":"c"}],"StreamName":"s1"}`
	const msg = `{"ErrorCode":"ProvisionedThroughputExceededException","ErrorMessage":"Rate exceeded for shard in stream s1 under account 000000000000."}`
	tests := []struct {
		name        string
		draws       []bool
		wantForward string
		answer      string
		want        string
	}{
		{
			name:        "middle throttled",
			draws:       []bool{false, true, false},
			wantForward: `{"Records":[{"Data":"YQ==","PartitionKey":"a"},{"Data":"Yw==","PartitionKey":"c"}],"StreamName":"s1"}`,
			answer:      `{"FailedRecordCount":0,"Records":[{"SequenceNumber":"1","ShardId":"shardId-000000000000"},{"SequenceNumber":"2","ShardId":"shardId-000000000000"}]}`,
			want:        `{"FailedRecordCount":1,"Records":[{"SequenceNumber":"1","ShardId":"shardId-000000000000"},` + msg + `,{"SequenceNumber":"2","ShardId":"shardId-000000000000"}]}`,
		},
		{
			name:        "engine failures counted with ours, other members kept",
			draws:       []bool{true, false, false},
			wantForward: `{"Records":[{"Data":"Yg==","PartitionKey":"b"},{"Data":"Yw==","PartitionKey":"c"}],"StreamName":"s1"}`,
			answer:      `{"EncryptionType":"NONE","FailedRecordCount":1,"Records":[{"ErrorCode":"InternalFailure","ErrorMessage":"x"},{"SequenceNumber":"2","ShardId":"shardId-000000000001"}]}`,
			want:        `{"EncryptionType":"NONE","FailedRecordCount":2,"Records":[` + msg + `,{"ErrorCode":"InternalFailure","ErrorMessage":"x"},{"SequenceNumber":"2","ShardId":"shardId-000000000001"}]}`,
		},
		{
			name:  "all throttled, nothing forwarded",
			draws: []bool{true, true, true},
			want:  `{"FailedRecordCount":3,"Records":[` + msg + `,` + msg + `,` + msg + `]}`,
		},
		{
			name:        "none throttled: FailedRecordCount added when missing",
			draws:       []bool{false, false, false},
			wantForward: req,
			answer:      `{"Records":[{"SequenceNumber":"1"},{"SequenceNumber":"2"},{"SequenceNumber":"3"}]}`,
			want:        `{"Records":[{"SequenceNumber":"1"},{"SequenceNumber":"2"},{"SequenceNumber":"3"}],"FailedRecordCount":0}`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := splitPutRecords([]byte(req), picks(tt.draws...))
			if err != nil {
				t.Fatal(err)
			}
			if got := string(s.forward); got != tt.wantForward {
				t.Errorf("forwarded\n got %s\nwant %s", got, tt.wantForward)
			}
			var answer []byte
			if tt.answer != "" {
				answer = []byte(tt.answer)
			}
			got, err := mergePutRecords(answer, s)
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != tt.want {
				t.Errorf("answer\n got %s\nwant %s", got, tt.want)
			}
		})
	}
}

func TestPutRecordsAnswerMismatch(t *testing.T) {
	s, err := splitPutRecords([]byte(`{"Records":[{"PartitionKey":"a"},{"PartitionKey":"b"}]}`), picks(true, false))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := mergePutRecords([]byte(`{"FailedRecordCount":0,"Records":[]}`), s); err == nil {
		t.Error("an answer with fewer entries than forwarded was accepted")
	}
}

func TestStreamOf(t *testing.T) {
	tests := []struct {
		req, name, account string
	}{
		{`{"StreamName":"a"}`, "a", "000000000000"},
		{`{"StreamARN":"arn:aws:kinesis:us-east-1:123456789012:stream/b"}`, "b", "123456789012"},
		{`{}`, "", "000000000000"},
	}
	for _, tt := range tests {
		ms, err := members([]byte(tt.req))
		if err != nil {
			t.Fatal(err)
		}
		name, account := streamOf(ms)
		if name != tt.name || account != tt.account {
			t.Errorf("streamOf(%s) = %q, %q; want %q, %q", tt.req, name, account, tt.name, tt.account)
		}
	}
}

func TestBatchWriteRewrite(t *testing.T) {
	const req = `{"RequestItems":{"t1":[{"PutRequest":{"Item":{"pk":{"S":"1"}}}},{"DeleteRequest":{"Key":{"pk":{"S":"2"}}}}],"t2":[{"PutRequest":{"Item":{"pk":{"S":"3"}}}}]},"ReturnConsumedCapacity":"TOTAL"}`
	tests := []struct {
		name        string
		draws       []bool
		wantForward string
		wantDropped int
		answer      string
		want        string
	}{
		{
			name:        "one of t1 and all of t2 held back",
			draws:       []bool{true, false, true},
			wantForward: `{"RequestItems":{"t1":[{"DeleteRequest":{"Key":{"pk":{"S":"2"}}}}]},"ReturnConsumedCapacity":"TOTAL"}`,
			wantDropped: 2,
			answer:      `{"ConsumedCapacity":[{"TableName":"t1","CapacityUnits":1}],"UnprocessedItems":{}}`,
			want:        `{"ConsumedCapacity":[{"TableName":"t1","CapacityUnits":1}],"UnprocessedItems":{"t1":[{"PutRequest":{"Item":{"pk":{"S":"1"}}}}],"t2":[{"PutRequest":{"Item":{"pk":{"S":"3"}}}}]}}`,
		},
		{
			name:        "merged after the engine's own unprocessed items",
			draws:       []bool{false, true, false},
			wantForward: `{"RequestItems":{"t1":[{"PutRequest":{"Item":{"pk":{"S":"1"}}}}],"t2":[{"PutRequest":{"Item":{"pk":{"S":"3"}}}}]},"ReturnConsumedCapacity":"TOTAL"}`,
			wantDropped: 1,
			answer:      `{"UnprocessedItems":{"t1":[{"PutRequest":{"Item":{"pk":{"S":"1"}}}}]}}`,
			want:        `{"UnprocessedItems":{"t1":[{"PutRequest":{"Item":{"pk":{"S":"1"}}}},{"DeleteRequest":{"Key":{"pk":{"S":"2"}}}}]}}`,
		},
		{
			name:        "nothing held back",
			draws:       []bool{false, false, false},
			wantForward: req,
			answer:      `{}`,
			want:        `{"UnprocessedItems":{}}`,
		},
		{
			name:        "all held back",
			draws:       []bool{true, true, true},
			wantDropped: 3,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := splitBatchWrite([]byte(req), picks(tt.draws...))
			if err != nil {
				t.Fatal(err)
			}
			if got := string(s.forward); got != tt.wantForward {
				t.Errorf("forwarded\n got %s\nwant %s", got, tt.wantForward)
			}
			if s.total != 3 || s.dropped != tt.wantDropped {
				t.Errorf("total, dropped = %d, %d; want 3, %d", s.total, s.dropped, tt.wantDropped)
			}
			if tt.answer == "" {
				return
			}
			got, err := mergeUnprocessed([]byte(tt.answer), s.held)
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != tt.want {
				t.Errorf("answer\n got %s\nwant %s", got, tt.want)
			}
		})
	}
}

func TestMembersKeepBytes(t *testing.T) {
	const in = `{ "b" : {"x": 1.50e3},"a":"\u00e9<>" ,"c":[1, 2]}`
	ms, err := members([]byte(in))
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, m := range ms {
		got[m.name] = string(m.value)
	}
	want := map[string]string{"b": `{"x": 1.50e3}`, "a": `"\u00e9<>"`, "c": `[1, 2]`}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("members (-want +got):\n%s", d)
	}
	if _, err := members([]byte(`[1]`)); err == nil {
		t.Error("an array was taken for an object")
	}
}
