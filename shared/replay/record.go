package replay

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/smithy-go"

	"github.com/flowbus/flowbus/shared/event"
	"github.com/flowbus/flowbus/shared/table"
)

// State is where a replay stands.
type State string

// States of a replay.
const (
	Pending   State = "pending"
	Running   State = "running"
	Completed State = "completed"
	Failed    State = "failed"
	Cancelled State = "cancelled"
)

// Terminal reports whether nothing more will happen to a replay in s.
func (s State) Terminal() bool { return s == Completed || s == Failed || s == Cancelled }

// Spec says what to replay and where.
type Spec struct {
	WorkflowID string     `json:"workflow_id,omitempty"`
	Types      []string   `json:"types,omitempty"`
	From       *time.Time `json:"from,omitempty"`
	To         *time.Time `json:"to,omitempty"`
	Target     Target     `json:"target"`
}

// Target is where replayed events go: the bus stream itself (so every
// consumer sees them again), another Kinesis stream, or one subscription's
// groups of the delivery queue (no other subscription sees them).
type Target struct {
	Stream string `json:"stream,omitempty"` // name or ARN; "" is the bus stream
	// Subscription names the one subscription the events are delivered
	// to, straight through the delivery queue.
	Subscription string `json:"subscription,omitempty"`
	// Match, for a subscription target, says whether the subscription's
	// pattern still chooses the events (as an EventBridge replay to a rule
	// evaluates the rule's pattern). nil is true; false sends every
	// selected event.
	Match *bool `json:"match,omitempty"`
	// emptyGiven names a member given as "" ("stream" or "subscription"):
	// an empty subscription must not quietly become every consumer of the
	// bus stream.
	emptyGiven string
}

// UnmarshalJSON reads a target as encoding/json would, refusing unknown
// members, and notes a stream or subscription given as "".
func (t *Target) UnmarshalJSON(b []byte) error {
	type plain Target
	var aux struct {
		plain
		Stream       *string `json:"stream"`
		Subscription *string `json:"subscription"`
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&aux); err != nil {
		return err
	}
	*t = Target(aux.plain)
	for _, m := range []struct {
		name string
		v    *string
		dst  *string
	}{{"stream", aux.Stream, &t.Stream}, {"subscription", aux.Subscription, &t.Subscription}} {
		if m.v == nil {
			continue
		}
		*m.dst = *m.v
		if *m.v == "" {
			t.emptyGiven = m.name
		}
	}
	return nil
}

// Matches reports whether a subscription target applies the subscription's
// pattern.
func (t Target) Matches() bool { return t.Match == nil || *t.Match }

// Record is a replay and its progress.
type Record struct {
	ID              string    `json:"replay_id"`
	Spec            Spec      `json:"spec"`
	State           State     `json:"state"`
	Events          int64     `json:"events_replayed"`
	Unmatched       int64     `json:"events_unmatched,omitempty"` // not sent: the target subscription's pattern left them out
	Position        string    `json:"last_position,omitempty"`
	Error           string    `json:"error,omitempty"`
	CancelRequested bool      `json:"cancel_requested,omitempty"`
	Created         time.Time `json:"created"`
	Updated         time.Time `json:"updated"`
	version         int64
}

// ErrNotFound and ErrConflict are what Records answers for a missing record
// and for a write that lost to another one.
var (
	ErrNotFound = errors.New("no such replay")
	ErrConflict = errors.New("replay changed meanwhile")
)

// DynamoAPI is the part of the DynamoDB client Records uses.
type DynamoAPI interface {
	GetItem(ctx context.Context, in *dynamodb.GetItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error)
	PutItem(ctx context.Context, in *dynamodb.PutItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error)
}

// Records keeps replay records in the event store's table, under partition
// keys of their own (table.ReplayPK), beside the workflows.
type Records struct {
	db    DynamoAPI
	table string
}

// NewRecords returns Records on table.
func NewRecords(db DynamoAPI, table string) *Records { return &Records{db: db, table: table} }

func recordKey(id string) map[string]types.AttributeValue {
	return table.Key(table.ReplayPK(id), table.ReplaySK)
}

// IDLength is the length of a replay id, a ULID.
const IDLength = 26

// ValidID reports whether id has the form of the ids Create gives (a ULID:
// 26 Crockford base-32 digits, the first 0 to 7), so a request naming any
// other can be answered without a lookup.
func ValidID(id string) bool {
	if len(id) != IDLength || id[0] > '7' {
		return false
	}
	for i := range len(id) {
		if !strings.ContainsRune(crockford, rune(id[i])) {
			return false
		}
	}
	return true
}

const crockford = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"

// Get returns a replay's record. An id DynamoDB refuses as a key (too long,
// say) names no record: ErrNotFound, not an outage.
func (r *Records) Get(ctx context.Context, id string) (*Record, error) {
	out, err := r.db.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(r.table), Key: recordKey(id), ConsistentRead: aws.Bool(true)})
	if keyRefused(err) {
		return nil, fmt.Errorf("get replay %s: %w", id, ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("get replay %s: %w", id, err)
	}
	if out.Item == nil {
		return nil, fmt.Errorf("get replay %s: %w", id, ErrNotFound)
	}
	doc, _ := out.Item[table.AttrDoc].(*types.AttributeValueMemberS)
	ver, _ := out.Item[table.AttrVersion].(*types.AttributeValueMemberN)
	if doc == nil || ver == nil {
		return nil, fmt.Errorf("get replay %s: malformed record", id)
	}
	var rec Record
	if err := json.Unmarshal([]byte(doc.Value), &rec); err != nil {
		return nil, fmt.Errorf("get replay %s: %w", id, err)
	}
	rec.version, _ = strconv.ParseInt(ver.Value, 10, 64)
	return &rec, nil
}

// keyRefused tells whether DynamoDB refused a request's input
// (ValidationException): for a GetItem that is its key.
func keyRefused(err error) bool {
	var api smithy.APIError
	return errors.As(err, &api) && api.ErrorCode() == "ValidationException"
}

// Save writes rec if nobody wrote it since it was read (or, for a new
// record, if it does not exist yet).
func (r *Records) Save(ctx context.Context, rec *Record) error {
	doc, err := json.Marshal(rec)
	if err != nil {
		return fmt.Errorf("save replay %s: %w", rec.ID, err)
	}
	item := recordKey(rec.ID)
	item[table.AttrDoc] = &types.AttributeValueMemberS{Value: string(doc)}
	item[table.AttrState] = &types.AttributeValueMemberS{Value: string(rec.State)}
	item[table.AttrVersion] = &types.AttributeValueMemberN{Value: strconv.FormatInt(rec.version+1, 10)}
	in := &dynamodb.PutItemInput{TableName: aws.String(r.table), Item: item}
	if rec.version == 0 {
		in.ConditionExpression = aws.String("attribute_not_exists(" + table.PK + ")")
	} else {
		in.ConditionExpression = aws.String("#v = :v")
		in.ExpressionAttributeNames = map[string]string{"#v": table.AttrVersion}
		in.ExpressionAttributeValues = map[string]types.AttributeValue{":v": &types.AttributeValueMemberN{Value: strconv.FormatInt(rec.version, 10)}}
	}
	if _, err := r.db.PutItem(ctx, in); err != nil {
		var ccf *types.ConditionalCheckFailedException
		if errors.As(err, &ccf) {
			return fmt.Errorf("save replay %s: %w", rec.ID, ErrConflict)
		}
		return fmt.Errorf("save replay %s: %w", rec.ID, err)
	}
	rec.version++
	return nil
}

var ids = event.NewIDSource()

// Validate checks a spec; every problem is reported.
func (s Spec) Validate() []event.FieldError {
	var errs []event.FieldError
	if len(s.WorkflowID) > event.MaxWorkflowIDBytes {
		errs = append(errs, event.FieldError{Field: "workflow_id", Reason: "is longer than the limit", Limit: event.MaxWorkflowIDBytes})
	}
	if s.WorkflowID == "" && (s.From == nil || s.To == nil) {
		errs = append(errs, event.FieldError{Field: "from", Reason: "a replay across workflows needs both from and to"})
	}
	if s.From != nil && s.To != nil && !s.From.Before(*s.To) {
		errs = append(errs, event.FieldError{Field: "to", Reason: "must be after from"})
	}
	for _, t := range s.Types {
		if t == "" || len(t) > event.MaxTypeBytes {
			errs = append(errs, event.FieldError{Field: "types", Reason: "each type must be 1 to 256 bytes", Limit: event.MaxTypeBytes})
		}
	}
	if len(s.Target.Stream) > 2048 {
		errs = append(errs, event.FieldError{Field: "target.stream", Reason: "is longer than the limit", Limit: 2048})
	}
	if s.Target.emptyGiven != "" {
		errs = append(errs, event.FieldError{Field: "target." + s.Target.emptyGiven,
			Reason: "must not be empty: leave it out to replay to the bus stream"})
	}
	if s.Target.Subscription != "" && s.Target.Stream != "" {
		errs = append(errs, event.FieldError{Field: "target", Reason: "names a stream or a subscription, not both"})
	}
	if s.Target.Match != nil && s.Target.Subscription == "" {
		errs = append(errs, event.FieldError{Field: "target.match", Reason: "applies to a subscription target only"})
	}
	return errs
}

// Create saves a new pending replay of spec.
func (r *Records) Create(ctx context.Context, spec Spec, now time.Time) (*Record, error) {
	rec := &Record{ID: ids.New(now), Spec: spec, State: Pending, Created: now.UTC(), Updated: now.UTC()}
	if err := r.Save(ctx, rec); err != nil {
		return nil, err
	}
	return rec, nil
}

// Cancel asks a replay to stop. A pending one is cancelled at once; a running
// one stops at its next page.
func (r *Records) Cancel(ctx context.Context, id string, now time.Time) (*Record, error) {
	for range 5 {
		rec, err := r.Get(ctx, id)
		if err != nil {
			return nil, err
		}
		if rec.State.Terminal() {
			return rec, nil
		}
		rec.CancelRequested, rec.Updated = true, now.UTC()
		if rec.State == Pending {
			rec.State = Cancelled
		}
		err = r.Save(ctx, rec)
		if err == nil {
			return rec, nil
		}
		if !errors.Is(err, ErrConflict) {
			return nil, err
		}
	}
	return nil, fmt.Errorf("cancel replay %s: %w", id, ErrConflict)
}
