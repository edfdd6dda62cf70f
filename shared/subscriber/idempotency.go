package subscriber

import (
	"context"
	crand "crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/flowbus/flowbus/shared/event"
)

// Key is the idempotency key of an event: its workflow id and id, each
// preceded by its length so no two events share a key, and for a replayed
// event its replay id too, so that a replay, which keeps the ids, is handed
// to the function again.
func Key(e *event.Event) string {
	k := make([]byte, 0, 16+len(e.WorkflowID)+len(e.ID))
	k = strconv.AppendInt(k, int64(len(e.WorkflowID)), 10)
	k = append(k, ':')
	k = append(k, e.WorkflowID...)
	k = strconv.AppendInt(k, int64(len(e.ID)), 10)
	k = append(k, ':')
	k = append(k, e.ID...)
	if v, ok := e.Extension(event.AttrReplayID); ok {
		k = append(k, "r:"...)
		k = append(k, v...)
	}
	return string(k)
}

// Attribute names and values of an idempotency item. The table is the
// user's own: string partition key pk and string sort key sk (the same
// schema as flowbus's table, so `make dev` creates it), with TTL on
// AttrExpiration.
const (
	AttrPK         = "pk"
	AttrSK         = "sk"
	AttrStatus     = "status"
	AttrExpiration = "expiration"       // epoch seconds: the item's end, and the table's TTL attribute
	AttrInProgress = "inprogress_until" // epoch milliseconds: an INPROGRESS mark's end
	AttrOwner      = "owner"            // the Subscriber instance that holds the mark
	SortKey        = "idempotency"      // sk of every item
	StatusRunning  = "INPROGRESS"
	StatusDone     = "COMPLETED"
)

// Defaults of DynamoStore.
const (
	// DefaultExpiry is how long a finished event is remembered: the bus
	// stream's retention (24 hours), past which Lambda cannot deliver its
	// record again. Raise it with the retention or MaximumRecordAge.
	DefaultExpiry = 24 * time.Hour
	// DefaultInProgress is the longest an in-progress mark holds: Lambda's
	// largest timeout. Under Lambda it ends sooner, with the invocation's
	// deadline (the context's).
	DefaultInProgress = 15 * time.Minute
)

// DynamoDB is the part of the DynamoDB client DynamoStore uses.
type DynamoDB interface {
	PutItem(ctx context.Context, in *dynamodb.PutItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error)
	GetItem(ctx context.Context, in *dynamodb.GetItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error)
	UpdateItem(ctx context.Context, in *dynamodb.UpdateItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error)
	DeleteItem(ctx context.Context, in *dynamodb.DeleteItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.DeleteItemOutput, error)
}

// DynamoStore is an Idempotency store in a DynamoDB table, as Powertools'
// idempotency utility keeps one: a conditional put claims an event
// (INPROGRESS, until the invocation's deadline), an update completes it
// (COMPLETED, until Expiry), a delete releases it after a failure. A claim
// whose holder crashed expires with the holder's deadline, so it never
// blocks a workflow for longer than one invocation.
type DynamoStore struct {
	db     DynamoDB
	table  string
	prefix string
	owner  string
	// Expiry is how long a finished event is remembered; default DefaultExpiry.
	Expiry time.Duration
	now    func() time.Time
}

// NewDynamoStore returns a store in table. prefix names the consumer (its
// function name, say) so several consumers can share a table; each item's pk
// is prefix#Key(event).
func NewDynamoStore(db DynamoDB, table, prefix string) *DynamoStore {
	var b [8]byte
	_, _ = crand.Read(b[:])
	return &DynamoStore{db: db, table: table, prefix: prefix, owner: hex.EncodeToString(b[:]), Expiry: DefaultExpiry, now: time.Now}
}

func (s *DynamoStore) key(k string) map[string]types.AttributeValue {
	return map[string]types.AttributeValue{
		AttrPK: &types.AttributeValueMemberS{Value: s.prefix + "#" + k},
		AttrSK: &types.AttributeValueMemberS{Value: SortKey},
	}
}

func num(n int64) types.AttributeValue {
	return &types.AttributeValueMemberN{Value: strconv.FormatInt(n, 10)}
}

// Start claims key: it puts an INPROGRESS mark unless a live one or a
// COMPLETED item that has not expired is there.
func (s *DynamoStore) Start(ctx context.Context, key string) (bool, error) {
	now := s.now()
	until := now.Add(DefaultInProgress)
	if d, ok := ctx.Deadline(); ok && d.Before(until) {
		until = d
	}
	item := s.key(key)
	item[AttrStatus] = &types.AttributeValueMemberS{Value: StatusRunning}
	item[AttrExpiration] = num(now.Add(s.Expiry).Unix())
	item[AttrInProgress] = num(until.UnixMilli())
	item[AttrOwner] = &types.AttributeValueMemberS{Value: s.owner}
	_, err := s.db.PutItem(ctx, &dynamodb.PutItemInput{
		TableName: aws.String(s.table),
		Item:      item,
		ConditionExpression: aws.String("attribute_not_exists(#pk) OR #exp < :now OR " +
			"(#status = :running AND #until < :nowms)"),
		ExpressionAttributeNames: map[string]string{"#pk": AttrPK, "#exp": AttrExpiration, "#status": AttrStatus, "#until": AttrInProgress},
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":now": num(now.Unix()), ":nowms": num(now.UnixMilli()), ":running": &types.AttributeValueMemberS{Value: StatusRunning},
		},
		ReturnValuesOnConditionCheckFailure: types.ReturnValuesOnConditionCheckFailureAllOld,
	})
	var ccf *types.ConditionalCheckFailedException
	if err == nil {
		return false, nil
	}
	if !errors.As(err, &ccf) {
		return false, fmt.Errorf("idempotency claim %s: %w", key, err)
	}
	old := ccf.Item
	if old == nil {
		// An engine that does not return the item: read it.
		out, err := s.db.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(s.table), Key: s.key(key), ConsistentRead: aws.Bool(true)})
		if err != nil {
			return false, fmt.Errorf("idempotency read %s: %w", key, err)
		}
		old = out.Item
	}
	if st, ok := old[AttrStatus].(*types.AttributeValueMemberS); ok && st.Value == StatusDone {
		return true, nil
	}
	// INPROGRESS, or gone between the put and the read: retry later.
	return false, fmt.Errorf("idempotency claim %s: %w", key, ErrInProgress)
}

// Complete marks key COMPLETED for Expiry, if this store still holds it.
func (s *DynamoStore) Complete(ctx context.Context, key string) error {
	_, err := s.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                aws.String(s.table),
		Key:                      s.key(key),
		UpdateExpression:         aws.String("SET #status = :done, #exp = :exp REMOVE #until"),
		ConditionExpression:      aws.String("#owner = :owner"),
		ExpressionAttributeNames: map[string]string{"#status": AttrStatus, "#exp": AttrExpiration, "#until": AttrInProgress, "#owner": AttrOwner},
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":done": &types.AttributeValueMemberS{Value: StatusDone}, ":exp": num(s.now().Add(s.Expiry).Unix()),
			":owner": &types.AttributeValueMemberS{Value: s.owner},
		},
	})
	if err != nil {
		return fmt.Errorf("idempotency complete %s: %w", key, err)
	}
	return nil
}

// Release deletes this store's INPROGRESS mark on key.
func (s *DynamoStore) Release(ctx context.Context, key string) error {
	_, err := s.db.DeleteItem(ctx, &dynamodb.DeleteItemInput{
		TableName:                aws.String(s.table),
		Key:                      s.key(key),
		ConditionExpression:      aws.String("#owner = :owner AND #status = :running"),
		ExpressionAttributeNames: map[string]string{"#owner": AttrOwner, "#status": AttrStatus},
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":owner": &types.AttributeValueMemberS{Value: s.owner}, ":running": &types.AttributeValueMemberS{Value: StatusRunning},
		},
	})
	if err != nil {
		return fmt.Errorf("idempotency release %s: %w", key, err)
	}
	return nil
}
