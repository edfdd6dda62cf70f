package authz

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/flowbus/flowbus/shared/table"
)

// CacheFor is how long a function keeps the policy it read: a changed
// entry applies within this long, without a deploy.
const CacheFor = 30 * time.Second

// retryAfter is how soon a function tries the table again after a failed
// read, meanwhile deciding with the policy it had.
const retryAfter = 5 * time.Second

// ErrNotFound: no entry for that principal.
var ErrNotFound = errors.New("no policy entry for that principal")

// DynamoAPI is what Store calls on DynamoDB.
type DynamoAPI interface {
	PutItem(ctx context.Context, in *dynamodb.PutItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error)
	DeleteItem(ctx context.Context, in *dynamodb.DeleteItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.DeleteItemOutput, error)
	Query(ctx context.Context, in *dynamodb.QueryInput, optFns ...func(*dynamodb.Options)) (*dynamodb.QueryOutput, error)
}

// Store keeps the policy in flowbus's table, one item per principal under
// table.PolicyPK.
type Store struct {
	db    DynamoAPI
	table string
}

// NewStore returns a store over tableName.
func NewStore(db DynamoAPI, tableName string) *Store { return &Store{db: db, table: tableName} }

// List reads every entry, in principal order.
func (s *Store) List(ctx context.Context) ([]Entry, error) {
	var out []Entry
	var start map[string]types.AttributeValue
	for {
		res, err := s.db.Query(ctx, &dynamodb.QueryInput{
			TableName:              aws.String(s.table),
			KeyConditionExpression: aws.String("#pk = :pk"),
			ExpressionAttributeNames: map[string]string{
				"#pk": table.PK,
			},
			ExpressionAttributeValues: map[string]types.AttributeValue{":pk": &types.AttributeValueMemberS{Value: table.PolicyPK}},
			ConsistentRead:            aws.Bool(true),
			ExclusiveStartKey:         start,
		})
		if err != nil {
			return nil, fmt.Errorf("read policy of %s: %w", s.table, err)
		}
		for _, item := range res.Items {
			doc, _ := item[table.AttrDoc].(*types.AttributeValueMemberS)
			if doc == nil {
				continue
			}
			var e Entry
			if err := json.Unmarshal([]byte(doc.Value), &e); err != nil {
				return nil, fmt.Errorf("read policy of %s: an entry is not JSON: %w", s.table, err)
			}
			out = append(out, e)
		}
		if len(res.LastEvaluatedKey) == 0 {
			return out, nil
		}
		start = res.LastEvaluatedKey
	}
}

// Put writes e, replacing the principal's entry if there is one.
func (s *Store) Put(ctx context.Context, e Entry) error {
	doc, err := json.Marshal(e)
	if err != nil {
		return err
	}
	item := table.Key(table.PolicyPK, table.PolicySK(e.Principal))
	item[table.AttrDoc] = &types.AttributeValueMemberS{Value: string(doc)}
	item[table.AttrUpdated] = &types.AttributeValueMemberN{Value: strconv.FormatInt(e.Updated.UnixMilli(), 10)}
	if _, err := s.db.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(s.table), Item: item}); err != nil {
		return fmt.Errorf("put policy of %s: %w", e.Principal, err)
	}
	return nil
}

// Delete removes the principal's entry: ErrNotFound when there is none.
func (s *Store) Delete(ctx context.Context, principal string) error {
	_, err := s.db.DeleteItem(ctx, &dynamodb.DeleteItemInput{
		TableName:           aws.String(s.table),
		Key:                 table.Key(table.PolicyPK, table.PolicySK(principal)),
		ConditionExpression: aws.String("attribute_exists(#pk)"),
		ExpressionAttributeNames: map[string]string{
			"#pk": table.PK,
		},
	})
	var cond *types.ConditionalCheckFailedException
	if errors.As(err, &cond) {
		return ErrNotFound
	}
	if err != nil {
		return fmt.Errorf("delete policy of %s: %w", principal, err)
	}
	return nil
}

// Lister reads every policy entry; *Store is one.
type Lister interface {
	List(ctx context.Context) ([]Entry, error)
}

// Authorizer decides requests with the policy: the bootstrap admins and the
// table's entries, read at most every CacheFor. Build one per cold start.
type Authorizer struct {
	admins []string
	store  Lister // nil: the admins only
	log    *slog.Logger
	// Now is the clock; time.Now when nil.
	Now func() time.Time

	mu      sync.Mutex
	policy  *Policy
	fresh   time.Time // until when policy is used without reading again
	haveOne bool
}

// NewAuthorizer returns an authorizer granting Admin to admins (the
// bootstrap, FLOWBUS_ADMINS) and what store's entries grant. It logs each
// decision to log: the caller, the request, allowed or not (never a payload
// or a token).
func NewAuthorizer(admins []string, store Lister, log *slog.Logger) *Authorizer {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Authorizer{admins: admins, store: store, log: log}
}

func (a *Authorizer) now() time.Time {
	if a.Now != nil {
		return a.Now()
	}
	return time.Now()
}

// Policy is the policy to decide with: the cached one while fresh, else
// read again. A failed read keeps the last policy for retryAfter; with none
// read yet it is an error.
func (a *Authorizer) Policy(ctx context.Context) (*Policy, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	now := a.now()
	if a.haveOne && now.Before(a.fresh) {
		return a.policy, nil
	}
	p := &Policy{Admins: a.admins}
	if a.store != nil {
		entries, err := a.store.List(ctx)
		if err != nil {
			if !a.haveOne {
				return nil, err
			}
			a.log.WarnContext(ctx, "policy read failed; deciding with the last one read", "error", err)
			a.fresh = now.Add(retryAfter)
			return a.policy, nil
		}
		p.Entries = entries
	}
	a.policy, a.fresh, a.haveOne = p, now.Add(CacheFor), true
	return p, nil
}

// Decide tells whether c may do every request of rs (all or nothing: a
// publish batch with one forbidden event is refused whole), and logs the
// decision. It answers the first request refused.
func (a *Authorizer) Decide(ctx context.Context, c Caller, rs ...Request) (allowed bool, refused Request, err error) {
	p, err := a.Policy(ctx)
	if err != nil {
		return false, Request{}, err
	}
	grants := p.grants(c) // once for the request, not per event
	for _, r := range rs {
		if !allowedBy(grants, r) {
			a.log.InfoContext(ctx, "authz", "caller", c.ID, "decision", "deny", "request", r.String(), "requests", len(rs))
			return false, r, nil
		}
	}
	if len(rs) > 0 {
		a.log.InfoContext(ctx, "authz", "caller", c.ID, "decision", "allow", "request", rs[0].String(), "requests", len(rs))
	}
	return true, Request{}, nil
}

// ErrAnonymous: no authorizer identified the caller (a route without one),
// and an anonymous caller is granted nothing.
var ErrAnonymous = errors.New("no caller identity")

// DeniedError is a request the policy does not grant its caller.
type DeniedError struct {
	Caller  string
	Request Request
}

func (e *DeniedError) Error() string { return e.Caller + " may not " + e.Request.String() }

// Check is Decide as an error: nil when c may do every request of rs,
// ErrAnonymous, a *DeniedError naming the first refused, or the error of
// reading the policy.
func (a *Authorizer) Check(ctx context.Context, c Caller, rs ...Request) error {
	if c.Anonymous() {
		a.log.InfoContext(ctx, "authz", "caller", "", "decision", "deny", "reason", "anonymous")
		return ErrAnonymous
	}
	ok, refused, err := a.Decide(ctx, c, rs...)
	if err != nil {
		return err
	}
	if !ok {
		return &DeniedError{Caller: c.ID, Request: refused}
	}
	return nil
}

// CheckAny tells whether c has any grant of action (GET /subscriptions
// then shows only the names it may manage), as Check does.
func (a *Authorizer) CheckAny(ctx context.Context, c Caller, action Action) (*Policy, error) {
	if c.Anonymous() {
		return nil, ErrAnonymous
	}
	p, err := a.Policy(ctx)
	if err != nil {
		return nil, err
	}
	if !p.Any(c, action) {
		a.log.InfoContext(ctx, "authz", "caller", c.ID, "decision", "deny", "request", string(action)+" (any)")
		return nil, &DeniedError{Caller: c.ID, Request: Request{Action: action}}
	}
	return p, nil
}

// ForTable is the authorizer of a function: the bootstrap admins, and the
// entries of tableName (none when it is "": the admins only).
func ForTable(admins []string, db DynamoAPI, tableName string, log *slog.Logger) *Authorizer {
	if tableName == "" {
		return NewAuthorizer(admins, nil, log)
	}
	return NewAuthorizer(admins, NewStore(db, tableName), log)
}

// Forget drops the cached policy, so the next decision reads the table
// (the admin's routes call it after a change: this environment applies it
// at once, the others within CacheFor).
func (a *Authorizer) Forget() {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.fresh = time.Time{}
}
