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
	// Failed counts one more failed attempt of delivering eventID to sub and
	// returns how many have failed.
	Failed(ctx context.Context, sub, eventID string, now time.Time) (int, error)
	// Clear forgets the count once the delivery is handled.
	Clear(ctx context.Context, sub, eventID string) error
}

// AttemptsAPI is what Attempts needs of DynamoDB.
type AttemptsAPI interface {
	UpdateItem(ctx context.Context, in *dynamodb.UpdateItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error)
	DeleteItem(ctx context.Context, in *dynamodb.DeleteItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.DeleteItemOutput, error)
}

// Attempts keeps the counts in the table: one item per (subscription, event
// id) being retried, at table.DeliveryPK / table.AttemptSK.
type Attempts struct {
	db    AttemptsAPI
	table string
}

// NewAttempts returns the attempt counts on tableName.
func NewAttempts(db AttemptsAPI, tableName string) *Attempts {
	return &Attempts{db: db, table: tableName}
}

// Failed adds one to the count and returns it.
func (a *Attempts) Failed(ctx context.Context, sub, eventID string, now time.Time) (int, error) {
	out, err := a.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{TableName: aws.String(a.table),
		Key:                      table.Key(table.DeliveryPK(sub), table.AttemptSK(eventID)),
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
func (a *Attempts) Clear(ctx context.Context, sub, eventID string) error {
	if _, err := a.db.DeleteItem(ctx, &dynamodb.DeleteItemInput{TableName: aws.String(a.table),
		Key: table.Key(table.DeliveryPK(sub), table.AttemptSK(eventID))}); err != nil {
		return fmt.Errorf("clear the attempts of %s to %s: %w", eventID, sub, err)
	}
	return nil
}
