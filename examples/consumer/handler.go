package main

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/flowbus/flowbus/shared/event"
)

// DB is the part of the DynamoDB client the projector uses.
type DB interface {
	UpdateItem(ctx context.Context, in *dynamodb.UpdateItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error)
}

// projector keeps one item per workflow: pk "wf#<workflow id>", sk
// "status", with its status, the count of steps and the ids of the events
// applied, in the order they were applied (a demonstration: a real status
// would not keep the list).
type projector struct {
	db    DB
	table string
	now   func() time.Time // nil: time.Now
}

// payload is the part of an event's data the example reads.
type payload struct {
	// FailUntil makes the example fail the event until then, as a
	// downstream outage would: the workflow waits, the others go on.
	FailUntil time.Time `json:"fail_until"`
}

// Apply is the subscriber's function: one event of a workflow, in order.
func (p *projector) Apply(ctx context.Context, e event.Event) error {
	var d payload
	if len(e.Data) > 0 && !e.DataBase64 {
		_ = json.Unmarshal(e.Data, &d) // data of another shape: nothing to read
	}
	now := time.Now()
	if p.now != nil {
		now = p.now()
	}
	if now.Before(d.FailUntil) {
		return fmt.Errorf("event %s: downstream unavailable until %s", e.ID, d.FailUntil.Format(time.RFC3339))
	}
	status := strings.TrimPrefix(e.Type, "workflow.")
	update := "SET #status = :status, #last = :id, #updated = :time, #events = list_append(if_not_exists(#events, :empty), :ids)"
	names := map[string]string{"#status": "status", "#last": "last_event_id", "#updated": "updated_at", "#events": "events"}
	values := map[string]types.AttributeValue{
		":status": &types.AttributeValueMemberS{Value: status},
		":id":     &types.AttributeValueMemberS{Value: e.ID},
		":time":   &types.AttributeValueMemberS{Value: e.Time.UTC().Format(time.RFC3339Nano)},
		":empty":  &types.AttributeValueMemberL{Value: []types.AttributeValue{}},
		":ids":    &types.AttributeValueMemberL{Value: []types.AttributeValue{&types.AttributeValueMemberS{Value: e.ID}}},
	}
	if e.Type == "workflow.step.completed" {
		update += " ADD #steps :one"
		names["#steps"] = "steps"
		values[":one"] = &types.AttributeValueMemberN{Value: "1"}
	}
	_, err := p.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName: aws.String(p.table),
		Key: map[string]types.AttributeValue{
			"pk": &types.AttributeValueMemberS{Value: "wf#" + e.WorkflowID},
			"sk": &types.AttributeValueMemberS{Value: "status"},
		},
		UpdateExpression:          aws.String(update),
		ExpressionAttributeNames:  names,
		ExpressionAttributeValues: values,
	})
	if err != nil {
		return fmt.Errorf("apply %s to %s: %w", e.ID, e.WorkflowID, err)
	}
	return nil
}
