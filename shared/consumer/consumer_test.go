package consumer

import (
	"errors"
	"testing"

	"github.com/flowbus/flowbus/shared/event"
	"github.com/flowbus/flowbus/shared/kinesisevent"
)

func TestDecodeMarksWhatCanNeverBeStored(t *testing.T) {
	good := `{"specversion":"1.0","id":"a","source":"/s","type":"t","workflowid":"wf"}`
	tests := []struct {
		name     string
		key      string
		data     string
		problems []bool // per entry: has a Problem
	}{
		{"one event", "wf", good, []bool{false}},
		{"aggregated", "wf", "[" + good + "," + good + "]", []bool{false, false}},
		{"not JSON", "wf", "garbage", []bool{true}},
		{"empty batch", "wf", "[]", []bool{true}},
		{"invalid event in a batch", "wf", `[` + good + `,{"type":"t"}]`, []bool{false, true}},
		{"key mismatch", "other", good, []bool{true}},
		{"replayed events left out", "wf", `[` + good + `,{"specversion":"1.0","id":"b","source":"/s","type":"t","workflowid":"wf","replayid":"r1"}]`, []bool{false}},
		{"no id", "wf", `{"specversion":"1.0","source":"/s","type":"t","workflowid":"wf"}`, []bool{true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in, _ := Decode(nil, kinesisevent.Record{PartitionKey: tt.key, SequenceNumber: "1", ShardID: "shardId-0", Data: []byte(tt.data)}, event.NewInterner())
			if len(in) != len(tt.problems) {
				t.Fatalf("%d entries, want %d", len(in), len(tt.problems))
			}
			for i, x := range in {
				if got := x.Problem != nil; got != tt.problems[i] {
					t.Errorf("entry %d: problem %v, want problem %v", i, x.Problem, tt.problems[i])
				}
				if (x.Problem == nil) != (x.Event != nil) {
					t.Errorf("entry %d: event %v with problem %v", i, x.Event, x.Problem)
				}
				if x.Pos.Sub != i || x.Pos.Seq != "1" || len(x.Raw) == 0 {
					t.Errorf("entry %d: position %+v, raw %d bytes", i, x.Pos, len(x.Raw))
				}
			}
			if tt.name == "invalid event in a batch" && !errors.Is(in[1].Problem, event.ErrInvalid) {
				t.Errorf("problem %v, want ErrInvalid", in[1].Problem)
			}
		})
	}
}
