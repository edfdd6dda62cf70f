package delivery

import (
	"context"
	"fmt"
	"strconv"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/flowbus/flowbus/shared/event"
	"github.com/flowbus/flowbus/shared/eventstore"
	"github.com/flowbus/flowbus/shared/table"
)

// Reader reads a workflow's events (a *dynamostore.Store).
type Reader interface {
	Read(ctx context.Context, workflowID string, q eventstore.Query) (eventstore.Page, error)
}

// MarkerAPI reads id markers.
type MarkerAPI interface {
	GetItem(ctx context.Context, in *dynamodb.GetItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error)
}

// StoreEvents finds an event in the store by workflow and id: through its
// id marker when the producer chose the id, otherwise by reading the
// workflow in order (only events too large for a queue message are read
// this way).
type StoreEvents struct {
	DB     MarkerAPI
	Table  string
	Reader Reader
}

// Event returns the event, or ErrNotStored.
func (s StoreEvents) Event(ctx context.Context, wf, id string) (event.Event, error) {
	out, err := s.DB.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(s.Table),
		Key: table.Key(table.WorkflowPK(wf), table.MarkerSK(id)), ConsistentRead: aws.Bool(true)})
	if err != nil {
		return event.Event{}, fmt.Errorf("read event %s: %w", id, err)
	}
	var after uint64
	if v, ok := out.Item[table.AttrSeq].(*types.AttributeValueMemberN); ok {
		if n, err := strconv.ParseUint(v.Value, 10, 64); err == nil && n > 0 {
			after = n - 1
		}
	}
	for {
		p, err := s.Reader.Read(ctx, wf, eventstore.Query{After: after, Limit: eventstore.MaxLimit})
		if err != nil {
			return event.Event{}, fmt.Errorf("read event %s: %w", id, err)
		}
		for _, e := range p.Events {
			if e.ID == id {
				return e, nil
			}
		}
		if p.Next == 0 {
			return event.Event{}, fmt.Errorf("event %s of %s: %w", id, wf, ErrNotStored)
		}
		after = p.Next
	}
}
