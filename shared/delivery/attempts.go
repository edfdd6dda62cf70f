package delivery

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/flowbus/flowbus/shared/table"
)

// AttemptCounter counts each delivery's own failed attempts. SQS's
// ApproximateReceiveCount is not that count: a message waiting behind a
// failing one in its FIFO group is received (and handed back) each round
// without being attempted, and would run out of attempts it never made.
type AttemptCounter interface {
	// Failed counts one more failed attempt of delivering workflowID's
	// event eventID to sub and returns how many have failed.
	Failed(ctx context.Context, sub, workflowID, eventID string, now time.Time) (int, error)
	// Clear forgets the count once the delivery is handled.
	Clear(ctx context.Context, sub, workflowID, eventID string) error
}

// ProgressKeeper keeps how far a packed message got: written only when
// one of its events fails (or the invocation runs out of time) after
// earlier ones were handled, read only when the message comes back, so
// a retry starts at the event that failed and what was delivered is not
// delivered again.
type ProgressKeeper interface {
	// Progress is how many of pack's events were handled; 0 when none
	// were recorded.
	Progress(ctx context.Context, sub, pack string) (int, error)
	// SetProgress records that pack's first done events were handled.
	SetProgress(ctx context.Context, sub, pack string, done int, now time.Time) error
	// ClearProgress forgets it once the pack is through.
	ClearProgress(ctx context.Context, sub, pack string) error
}

// AttemptsAPI is what Attempts needs of DynamoDB.
type AttemptsAPI interface {
	UpdateItem(ctx context.Context, in *dynamodb.UpdateItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error)
	DeleteItem(ctx context.Context, in *dynamodb.DeleteItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.DeleteItemOutput, error)
	GetItem(ctx context.Context, in *dynamodb.GetItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error)
	PutItem(ctx context.Context, in *dynamodb.PutItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error)
}

// Attempts keeps the counts in the table: one item per (subscription,
// workflow, event id) being retried, at table.DeliveryPK / table.AttemptSK; and the
// progress of packed messages being retried, at table.ProgressSK.
type Attempts struct {
	db    AttemptsAPI
	table string
}

// NewAttempts returns the attempt counts on tableName.
func NewAttempts(db AttemptsAPI, tableName string) *Attempts {
	return &Attempts{db: db, table: tableName}
}

// Failed adds one to the count and returns it.
func (a *Attempts) Failed(ctx context.Context, sub, workflowID, eventID string, now time.Time) (int, error) {
	out, err := a.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{TableName: aws.String(a.table),
		Key:                      table.Key(table.DeliveryPK(sub), table.AttemptSK(workflowID, eventID)),
		UpdateExpression:         aws.String("ADD #n :one SET #at = :at"),
		ExpressionAttributeNames: map[string]string{"#n": table.AttrAttempts, "#at": table.AttrAt},
		ExpressionAttributeValues: map[string]types.AttributeValue{":one": &types.AttributeValueMemberN{Value: "1"},
			":at": &types.AttributeValueMemberN{Value: strconv.FormatInt(now.UnixMilli(), 10)}},
		ReturnValues: types.ReturnValueUpdatedNew})
	if err != nil {
		return 0, fmt.Errorf("count an attempt of %s to %s: %w", eventID, sub, err)
	}
	v, ok := out.Attributes[table.AttrAttempts].(*types.AttributeValueMemberN)
	if !ok {
		return 0, fmt.Errorf("count an attempt of %s to %s: no count answered", eventID, sub)
	}
	n, err := strconv.Atoi(v.Value)
	if err != nil {
		return 0, fmt.Errorf("count an attempt of %s to %s: %w", eventID, sub, err)
	}
	return n, nil
}

// Clear deletes the count.
func (a *Attempts) Clear(ctx context.Context, sub, workflowID, eventID string) error {
	if _, err := a.db.DeleteItem(ctx, &dynamodb.DeleteItemInput{TableName: aws.String(a.table),
		Key: table.Key(table.DeliveryPK(sub), table.AttemptSK(workflowID, eventID))}); err != nil {
		return fmt.Errorf("clear the attempts of %s to %s: %w", eventID, sub, err)
	}
	return nil
}

// Progress reads how many of pack's events were handled (strongly
// consistent: it was written by the invocation before this one).
func (a *Attempts) Progress(ctx context.Context, sub, pack string) (int, error) {
	out, err := a.db.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(a.table),
		Key: table.Key(table.DeliveryPK(sub), table.ProgressSK(pack)), ConsistentRead: aws.Bool(true)})
	if err != nil {
		return 0, fmt.Errorf("read the progress of pack %s to %s: %w", pack, sub, err)
	}
	v, ok := out.Item[table.AttrDone].(*types.AttributeValueMemberN)
	if !ok {
		return 0, nil
	}
	n, err := strconv.Atoi(v.Value)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("read the progress of pack %s to %s: done %q is not a count", pack, sub, v.Value)
	}
	return n, nil
}

// SetProgress records that pack's first done events were handled.
func (a *Attempts) SetProgress(ctx context.Context, sub, pack string, done int, now time.Time) error {
	item := table.Key(table.DeliveryPK(sub), table.ProgressSK(pack))
	item[table.AttrDone] = &types.AttributeValueMemberN{Value: strconv.Itoa(done)}
	item[table.AttrAt] = &types.AttributeValueMemberN{Value: strconv.FormatInt(now.UnixMilli(), 10)}
	if _, err := a.db.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(a.table), Item: item}); err != nil {
		return fmt.Errorf("record the progress of pack %s to %s: %w", pack, sub, err)
	}
	return nil
}

// ClearProgress deletes pack's progress.
func (a *Attempts) ClearProgress(ctx context.Context, sub, pack string) error {
	if _, err := a.db.DeleteItem(ctx, &dynamodb.DeleteItemInput{TableName: aws.String(a.table),
		Key: table.Key(table.DeliveryPK(sub), table.ProgressSK(pack))}); err != nil {
		return fmt.Errorf("clear the progress of pack %s to %s: %w", pack, sub, err)
	}
	return nil
}
