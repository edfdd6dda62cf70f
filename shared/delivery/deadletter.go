package delivery

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/flowbus/flowbus/shared/route"
	"github.com/flowbus/flowbus/shared/table"
)

// Entry is one dead-lettered delivery: the full event (a CloudEvent in
// structured mode) and why it was given up.
type Entry struct {
	Subscription string          `json:"subscription"`
	Key          string          `json:"key"` // its place in the subscription's entries (the sort key)
	EventID      string          `json:"event_id"`
	WorkflowID   string          `json:"workflow_id"`
	Event        json.RawMessage `json:"event,omitempty"`
	Error        string          `json:"error"`
	Status       int             `json:"status,omitempty"` // the last HTTP status, when there was one
	Attempts     int             `json:"attempts"`
	At           time.Time       `json:"at"` // when it was given up
}

// DeadLetterAPI is what DeadLetters calls on DynamoDB.
type DeadLetterAPI interface {
	PutItem(ctx context.Context, in *dynamodb.PutItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error)
	Query(ctx context.Context, in *dynamodb.QueryInput, optFns ...func(*dynamodb.Options)) (*dynamodb.QueryOutput, error)
	DeleteItem(ctx context.Context, in *dynamodb.DeleteItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.DeleteItemOutput, error)
}

// DeadLetters keeps dead-letter entries in the table, under
// table.DeliveryPK, in the order they were given up.
type DeadLetters struct {
	db    DeadLetterAPI
	table string
}

// NewDeadLetters returns the dead-letter entries on tableName.
func NewDeadLetters(db DeadLetterAPI, tableName string) *DeadLetters {
	return &DeadLetters{db: db, table: tableName}
}

// Page sizes of List.
const (
	DefaultDeadLetterPage = 50
	MaxDeadLetterPage     = 100
)

// Put writes an entry; its key is its time (and event id).
func (s *DeadLetters) Put(ctx context.Context, e Entry) error {
	if e.At.IsZero() {
		e.At = time.Now()
	}
	sk := table.DeadLetterSK(e.At.UnixNano(), e.EventID)
	item := table.Key(table.DeliveryPK(e.Subscription), sk)
	item[table.AttrID] = &types.AttributeValueMemberS{Value: e.EventID}
	item[table.AttrData] = &types.AttributeValueMemberS{Value: string(e.Event)}
	item[table.AttrError] = &types.AttributeValueMemberS{Value: e.Error}
	item[table.AttrStatus] = num(int64(e.Status))
	item[table.AttrAttempts] = num(int64(e.Attempts))
	item[table.AttrAt] = num(e.At.UnixMilli())
	item[table.AttrWorkflow] = &types.AttributeValueMemberS{Value: e.WorkflowID}
	if _, err := s.db.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(s.table), Item: item}); err != nil {
		return fmt.Errorf("dead-letter %s of %s: %w", e.EventID, e.Subscription, err)
	}
	return nil
}

// DeadLetterPage is a page of entries, oldest first; Next, when set, is the
// key to list after.
type DeadLetterPage struct {
	Entries []Entry `json:"dead_letters"`
	Next    string  `json:"next,omitempty"`
}

// ErrBadCursor is a cursor that is not an entry's key.
var ErrBadCursor = errors.New("not a dead-letter key")

// List returns up to limit entries of sub after the key after ("" from the
// oldest).
func (s *DeadLetters) List(ctx context.Context, sub, after string, limit int) (DeadLetterPage, error) {
	if limit <= 0 || limit > MaxDeadLetterPage {
		limit = DefaultDeadLetterPage
	}
	if after != "" && !strings.HasPrefix(after, table.DeadLetterPrefix) {
		return DeadLetterPage{}, ErrBadCursor
	}
	in := &dynamodb.QueryInput{TableName: aws.String(s.table),
		KeyConditionExpression:   aws.String("#pk = :pk AND begins_with(#sk, :dl)"),
		ExpressionAttributeNames: map[string]string{"#pk": table.PK, "#sk": table.SK},
		ExpressionAttributeValues: map[string]types.AttributeValue{":pk": &types.AttributeValueMemberS{Value: table.DeliveryPK(sub)},
			":dl": &types.AttributeValueMemberS{Value: table.DeadLetterPrefix}},
		Limit: aws.Int32(int32(limit)), ConsistentRead: aws.Bool(true)}
	if after != "" {
		in.ExclusiveStartKey = table.Key(table.DeliveryPK(sub), after)
	}
	out, err := s.db.Query(ctx, in)
	if err != nil {
		return DeadLetterPage{}, fmt.Errorf("list dead letters of %s: %w", sub, err)
	}
	p := DeadLetterPage{Entries: []Entry{}}
	for _, it := range out.Items {
		p.Entries = append(p.Entries, readEntry(sub, it))
	}
	if len(out.LastEvaluatedKey) > 0 && len(p.Entries) > 0 {
		p.Next = p.Entries[len(p.Entries)-1].Key
	}
	return p, nil
}

func readEntry(sub string, it map[string]types.AttributeValue) Entry {
	s := func(a string) string {
		v, _ := it[a].(*types.AttributeValueMemberS)
		if v == nil {
			return ""
		}
		return v.Value
	}
	n := func(a string) int64 {
		v, _ := it[a].(*types.AttributeValueMemberN)
		if v == nil {
			return 0
		}
		x, _ := strconv.ParseInt(v.Value, 10, 64)
		return x
	}
	e := Entry{Subscription: sub, Key: s(table.SK), EventID: s(table.AttrID), WorkflowID: s(table.AttrWorkflow),
		Error: s(table.AttrError), Status: int(n(table.AttrStatus)), Attempts: int(n(table.AttrAttempts)), At: time.UnixMilli(n(table.AttrAt)).UTC()}
	if ev := s(table.AttrData); ev != "" {
		e.Event = json.RawMessage(ev)
	}
	return e
}

// Sender sends redriven messages to the delivery queue.
type Sender interface {
	SendMessage(ctx context.Context, in *sqs.SendMessageInput, optFns ...func(*sqs.Options)) (*sqs.SendMessageOutput, error)
}

// MaxRedrive bounds the entries one Redrive call sends.
const MaxRedrive = 1000

// Redrive sends sub's entries back to the delivery queue, oldest first
// (each group keeps its order), deleting each once the queue has it, up to
// MaxRedrive; more is true when entries remain. A redriven message is a new
// message: its attempts and age start again.
func (s *DeadLetters) Redrive(ctx context.Context, sub string, q Sender, queueURL string) (sent int, more bool, err error) {
	after := ""
	for sent < MaxRedrive {
		p, err := s.List(ctx, sub, after, MaxDeadLetterPage)
		if err != nil {
			return sent, true, err
		}
		for _, e := range p.Entries {
			if sent == MaxRedrive {
				return sent, true, nil
			}
			b := route.Pointer{Subscription: sub, WorkflowID: e.WorkflowID, EventID: e.EventID, Event: e.Event}
			raw, _ := json.Marshal(b)
			h := sha256.Sum256([]byte(sub + "\x00" + e.Key))
			if _, err := q.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: aws.String(queueURL), MessageBody: aws.String(string(raw)),
				MessageGroupId:         aws.String(route.GroupID(sub, e.WorkflowID)),
				MessageDeduplicationId: aws.String("redrive/" + hex.EncodeToString(h[:]))}); err != nil {
				return sent, true, fmt.Errorf("redrive %s of %s: %w", e.EventID, sub, err)
			}
			if _, err := s.db.DeleteItem(ctx, &dynamodb.DeleteItemInput{TableName: aws.String(s.table), Key: table.Key(table.DeliveryPK(sub), e.Key)}); err != nil {
				return sent, true, fmt.Errorf("redrive %s of %s: %w", e.EventID, sub, err)
			}
			sent++
		}
		if p.Next == "" {
			return sent, false, nil
		}
		after = p.Next
	}
	return sent, true, nil
}
