package main

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"os"
	"testing"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/google/go-cmp/cmp"

	"github.com/flowbus/flowbus/shared/testenv"
)

// Status is a workflow's item in the example's table.
type Status struct {
	Status string
	Steps  int
	Events []string
}

// ReadStatus reads a workflow's status item; ok is false when there is none.
func ReadStatus(ctx context.Context, db *dynamodb.Client, table, wf string) (Status, bool, error) {
	out, err := db.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(table), ConsistentRead: aws.Bool(true),
		Key: map[string]types.AttributeValue{"pk": &types.AttributeValueMemberS{Value: "wf#" + wf}, "sk": &types.AttributeValueMemberS{Value: "status"}}})
	if err != nil || out.Item == nil {
		return Status{}, false, err
	}
	var st Status
	if v, ok := out.Item["status"].(*types.AttributeValueMemberS); ok {
		st.Status = v.Value
	}
	if v, ok := out.Item["steps"].(*types.AttributeValueMemberN); ok {
		_ = json.Unmarshal([]byte(v.Value), &st.Steps)
	}
	if v, ok := out.Item["events"].(*types.AttributeValueMemberL); ok {
		for _, x := range v.Value {
			if s, ok := x.(*types.AttributeValueMemberS); ok {
				st.Events = append(st.Events, s.Value)
			}
		}
	}
	return st, true, nil
}

// TestSampleEvent runs events/consumer-example.json through the function as
// the Lambda runtime would, twice, against the DynamoDB engine: the
// invoice.created event in the aggregated record is left out by the
// pattern, and the second delivery changes nothing.
func TestSampleEvent(t *testing.T) {
	db, table := testenv.Table(t, testenv.AWS(t))
	s, err := newSubscriber(db, table, `{"type":[{"prefix":"workflow."}]}`, "consumer-example", slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	h := lambda.NewHandler(s)
	payload, err := os.ReadFile("../../events/consumer-example.json")
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for range 2 {
		out, err := h.Invoke(ctx, payload)
		if err != nil {
			t.Fatal(err)
		}
		var resp events.KinesisEventResponse
		if err := json.Unmarshal(out, &resp); err != nil || len(resp.BatchItemFailures) != 0 {
			t.Fatalf("response %s, %v: want no failures", out, err)
		}
	}
	want := map[string]Status{
		"order-123": {Status: "completed", Steps: 1, Events: []string{"01KBE2Y0000000000000000001", "01KBE2Y0000000000000000003", "01KBE2Y0000000000000000005"}},
		"order-124": {Status: "started", Events: []string{"01KBE2Y0000000000000000004"}},
	}
	for wf, w := range want {
		got, ok, err := ReadStatus(ctx, db, table, wf)
		if err != nil || !ok {
			t.Fatalf("%s: no status (%v)", wf, err)
		}
		if diff := cmp.Diff(w, got); diff != "" {
			t.Errorf("%s (-want +got):\n%s", wf, diff)
		}
	}
}

func TestBadPattern(t *testing.T) {
	if _, err := newSubscriber(nil, "t", `{"type":"not a list"}`, "x", nil); err == nil {
		t.Error("a pattern that cannot compile was accepted")
	}
}
