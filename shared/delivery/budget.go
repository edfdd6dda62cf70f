package delivery

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/flowbus/flowbus/shared/table"
)

// Limits of the budget of derived events per root.
const (
	// DefaultDerivedBudget is how many derived events the chains one
	// original event starts may publish.
	DefaultDerivedBudget = 100
	// MaxDerivedBudget is the most a deployment may allow: the budget item
	// holds each derived id (27 bytes), and every reservation writes it
	// whole (one write unit per KB).
	MaxDerivedBudget = 1000
	// BudgetLifetime is how long a root's budget is kept after its first
	// reservation (the table's TTL deletes it afterwards).
	BudgetLifetime = 24 * time.Hour
)

// Budget bounds how many derived events one original event can cause: the
// hop limit bounds a chain's depth, not its width (k bus subscriptions
// feeding each other give k^hops events).
type Budget interface {
	// Reserve takes a slot for derived event id in the budget of root (the
	// id of the original event, the derived event's correlationid) and
	// reports whether it got one. A slot already taken for id is answered
	// true again without taking a second: the id is fixed by the
	// subscription and the cause event, so a retried or redelivered attempt
	// asks for the same one.
	Reserve(ctx context.Context, root, id string, now time.Time) (bool, error)
}

// BudgetsAPI is what Budgets needs of DynamoDB.
type BudgetsAPI interface {
	UpdateItem(ctx context.Context, in *dynamodb.UpdateItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error)
	GetItem(ctx context.Context, in *dynamodb.GetItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error)
}

// Budgets keeps the budgets in the table: one item per root
// (table.RootPK, table.BudgetSK) holding the count and the set of the ids
// granted, expiring BudgetLifetime after its first reservation.
type Budgets struct {
	db    BudgetsAPI
	table string
	max   int
}

// NewBudgets returns the budgets on tableName, max derived events per root
// (1 to MaxDerivedBudget; 0 is DefaultDerivedBudget).
func NewBudgets(db BudgetsAPI, tableName string, max int) (*Budgets, error) {
	if max == 0 {
		max = DefaultDerivedBudget
	}
	if max < 1 || max > MaxDerivedBudget {
		return nil, fmt.Errorf("delivery: derived-event budget %d: want 1 to %d", max, MaxDerivedBudget)
	}
	return &Budgets{db: db, table: tableName, max: max}, nil
}

// Max is the number of derived events a root may cause.
func (b *Budgets) Max() int { return b.max }

// Reserve adds id to root's set and one to its count in one conditional
// UpdateItem: only while the count is below the budget and id is not in the
// set. When the condition fails, the item as it was tells which: id already
// granted (true) or the budget spent (false).
func (b *Budgets) Reserve(ctx context.Context, root, id string, now time.Time) (bool, error) {
	key := table.Key(table.RootPK(root), table.BudgetSK)
	_, err := b.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{TableName: aws.String(b.table), Key: key,
		UpdateExpression:    aws.String("ADD #n :one, #ids :ids SET #exp = if_not_exists(#exp, :exp)"),
		ConditionExpression: aws.String("attribute_not_exists(#n) OR (#n < :max AND NOT contains(#ids, :id))"),
		ExpressionAttributeNames: map[string]string{"#n": table.AttrDerived, "#ids": table.AttrDerivedIDs,
			"#exp": table.AttrExpires},
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":one": &types.AttributeValueMemberN{Value: "1"},
			":ids": &types.AttributeValueMemberSS{Value: []string{id}},
			":id":  &types.AttributeValueMemberS{Value: id},
			":max": &types.AttributeValueMemberN{Value: strconv.Itoa(b.max)},
			":exp": &types.AttributeValueMemberN{Value: strconv.FormatInt(now.Add(BudgetLifetime).Unix(), 10)},
		},
		ReturnValuesOnConditionCheckFailure: types.ReturnValuesOnConditionCheckFailureAllOld})
	if err == nil {
		return true, nil
	}
	var cf *types.ConditionalCheckFailedException
	if !errors.As(err, &cf) {
		return false, fmt.Errorf("reserve derived event %s in the budget of %s: %w", id, root, err)
	}
	item := cf.Item
	if item == nil {
		// An engine that does not return the item (dynalite): read it.
		out, err := b.db.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(b.table), Key: key, ConsistentRead: aws.Bool(true),
			ProjectionExpression: aws.String("#ids"), ExpressionAttributeNames: map[string]string{"#ids": table.AttrDerivedIDs}})
		if err != nil {
			return false, fmt.Errorf("read the budget of %s: %w", root, err)
		}
		item = out.Item
	}
	if set, ok := item[table.AttrDerivedIDs].(*types.AttributeValueMemberSS); ok {
		for _, v := range set.Value {
			if v == id {
				return true, nil
			}
		}
	}
	return false, nil
}
