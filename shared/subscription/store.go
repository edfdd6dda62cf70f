package subscription

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/flowbus/flowbus/shared/table"
	"github.com/flowbus/flowbus/shared/webhook"
)

// RefreshInterval is how long the delivery engine may keep a Snapshot: a
// created, changed, disabled or deleted subscription applies within this
// long, without a deploy (docs/api.md).
const RefreshInterval = 10 * time.Second

// DefaultRotationOverlap is how long a rotated-out secret keeps signing
// beside the new one, so receivers can switch without missing a delivery.
const DefaultRotationOverlap = 24 * time.Hour

// List page sizes.
const (
	DefaultPageSize = 100
	MaxPageSize     = 100
)

// DynamoAPI is what Store calls on DynamoDB.
type DynamoAPI interface {
	GetItem(ctx context.Context, in *dynamodb.GetItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error)
	PutItem(ctx context.Context, in *dynamodb.PutItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error)
	DeleteItem(ctx context.Context, in *dynamodb.DeleteItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.DeleteItemOutput, error)
	Query(ctx context.Context, in *dynamodb.QueryInput, optFns ...func(*dynamodb.Options)) (*dynamodb.QueryOutput, error)
}

// Store keeps subscriptions in flowbus's table, one item each under
// table.SubscriptionPK; an http target's secrets are sealed before they are
// written.
type Store struct {
	db     DynamoAPI
	table  string
	sealer webhook.Sealer
	max    int
	// maxPerOwner bounds the subscriptions of one owner (0: none).
	maxPerOwner int
	// Now is the clock; time.Now when nil.
	Now func() time.Time
}

// ErrLimit is a create past the deployment's subscription limit; it comes
// as a *LimitError.
var ErrLimit = errors.New("subscription limit reached")

// LimitError says how many subscriptions the deployment, or one caller
// (Owner set), may hold.
type LimitError struct {
	Limit int
	Owner string
}

func (e *LimitError) Error() string {
	if e.Owner != "" {
		return fmt.Sprintf("%s created %d subscriptions, the limit per caller", e.Owner, e.Limit)
	}
	return fmt.Sprintf("the deployment holds %d subscriptions, its limit", e.Limit)
}

func (e *LimitError) Unwrap() error { return ErrLimit }

// Limit makes Create refuse a subscription past n in the table (0: no
// limit). The count is read before the write, so creates racing at the
// limit may pass it by their number.
func (s *Store) Limit(n int) *Store {
	s.max = n
	return s
}

// LimitPerOwner makes Create refuse a subscription of an owner that has n
// (0: no limit), counted as Limit counts.
func (s *Store) LimitPerOwner(n int) *Store {
	s.maxPerOwner = n
	return s
}

// count counts the subscriptions, of owner when it is not empty, up to
// stop.
func (s *Store) count(ctx context.Context, owner string, stop int) (int, error) {
	in := &dynamodb.QueryInput{
		TableName:                 aws.String(s.table),
		KeyConditionExpression:    aws.String("#pk = :pk"),
		ExpressionAttributeNames:  map[string]string{"#pk": table.PK},
		ExpressionAttributeValues: map[string]types.AttributeValue{":pk": &types.AttributeValueMemberS{Value: table.SubscriptionPK}},
		Select:                    types.SelectCount,
	}
	if owner != "" {
		in.FilterExpression = aws.String("#o = :o")
		in.ExpressionAttributeNames["#o"] = table.AttrOwner
		in.ExpressionAttributeValues[":o"] = &types.AttributeValueMemberS{Value: owner}
	}
	n := 0
	for {
		page, err := s.db.Query(ctx, in)
		if err != nil {
			return 0, fmt.Errorf("count subscriptions: %w", err)
		}
		n += int(page.Count)
		if n >= stop || len(page.LastEvaluatedKey) == 0 {
			return n, nil
		}
		in.ExclusiveStartKey = page.LastEvaluatedKey
	}
}

// NewStore returns a store over table.
func NewStore(db DynamoAPI, tableName string, sealer webhook.Sealer) *Store {
	return &Store{db: db, table: tableName, sealer: sealer}
}

func (s *Store) now() time.Time {
	if s.Now != nil {
		return s.Now().UTC()
	}
	return time.Now().UTC()
}

// item is a stored subscription with its secrets.
type item struct {
	sub       Subscription
	secret    []byte // sealed
	prev      []byte // sealed
	prevUntil time.Time
}

func key(name string) map[string]types.AttributeValue {
	return table.Key(table.SubscriptionPK, table.SubscriptionSK(name))
}

func (it *item) attrs() (map[string]types.AttributeValue, error) {
	doc, err := json.Marshal(&it.sub)
	if err != nil {
		return nil, err
	}
	m := key(it.sub.Name)
	m[table.AttrDoc] = &types.AttributeValueMemberS{Value: string(doc)}
	m[table.AttrState] = &types.AttributeValueMemberS{Value: string(it.sub.State)}
	m[table.AttrVersion] = &types.AttributeValueMemberN{Value: strconv.FormatInt(it.sub.Version, 10)}
	if it.sub.Owner != "" {
		m[table.AttrOwner] = &types.AttributeValueMemberS{Value: it.sub.Owner}
	}
	if len(it.secret) > 0 {
		m[table.AttrSecret] = &types.AttributeValueMemberB{Value: it.secret}
	}
	if len(it.prev) > 0 {
		m[table.AttrSecretPrev] = &types.AttributeValueMemberB{Value: it.prev}
		m[table.AttrSecretPrevUntil] = &types.AttributeValueMemberN{Value: strconv.FormatInt(it.prevUntil.UnixMilli(), 10)}
	}
	return m, nil
}

func readItem(m map[string]types.AttributeValue) (item, error) {
	var it item
	doc, ok := m[table.AttrDoc].(*types.AttributeValueMemberS)
	if !ok {
		return it, errors.New("subscription item has no document")
	}
	if err := json.Unmarshal([]byte(doc.Value), &it.sub); err != nil {
		return it, fmt.Errorf("subscription document: %w", err)
	}
	if v, ok := m[table.AttrSecret].(*types.AttributeValueMemberB); ok {
		it.secret = v.Value
	}
	if v, ok := m[table.AttrSecretPrev].(*types.AttributeValueMemberB); ok {
		it.prev = v.Value
	}
	if v, ok := m[table.AttrSecretPrevUntil].(*types.AttributeValueMemberN); ok {
		if ms, err := strconv.ParseInt(v.Value, 10, 64); err == nil {
			it.prevUntil = time.UnixMilli(ms).UTC()
		}
	}
	return it, nil
}

func condFailed(err error) bool {
	var ccf *types.ConditionalCheckFailedException
	return errors.As(err, &ccf)
}

// newSecret generates a secret and seals it.
func (s *Store) newSecret(ctx context.Context) (webhook.Secret, []byte, error) {
	sec, err := webhook.GenerateSecret()
	if err != nil {
		return webhook.Secret{}, nil, err
	}
	sealed, err := s.sealer.Seal(ctx, []byte(sec.String()))
	if err != nil {
		return webhook.Secret{}, nil, err
	}
	return sec, sealed, nil
}

// Create stores a new subscription (already validated) at version 1. An http
// target gets a new secret, returned this once; other targets a zero
// Secret. A name in use is ErrExists; past the Limit, a *LimitError.
func (s *Store) Create(ctx context.Context, sub Subscription) (Subscription, webhook.Secret, error) {
	limits := []LimitError{{Limit: s.max}}
	if sub.Owner != "" {
		limits = append(limits, LimitError{Limit: s.maxPerOwner, Owner: sub.Owner})
	}
	for _, l := range limits {
		if l.Limit <= 0 {
			continue
		}
		n, err := s.count(ctx, l.Owner, l.Limit)
		if err != nil {
			return Subscription{}, webhook.Secret{}, fmt.Errorf("create subscription %s: %w", sub.Name, err)
		}
		if n >= l.Limit {
			return Subscription{}, webhook.Secret{}, fmt.Errorf("create subscription %s: %w", sub.Name, &l)
		}
	}
	now := s.now()
	sub.Created, sub.Updated, sub.Version = now, now, 1
	it := item{sub: sub}
	var sec webhook.Secret
	if sub.Target.Type == TargetHTTP {
		var err error
		if sec, it.secret, err = s.newSecret(ctx); err != nil {
			return Subscription{}, webhook.Secret{}, fmt.Errorf("create subscription %s: %w", sub.Name, err)
		}
	}
	m, err := it.attrs()
	if err != nil {
		return Subscription{}, webhook.Secret{}, fmt.Errorf("create subscription %s: %w", sub.Name, err)
	}
	_, err = s.db.PutItem(ctx, &dynamodb.PutItemInput{
		TableName: aws.String(s.table), Item: m,
		ConditionExpression: aws.String("attribute_not_exists(" + table.PK + ")"),
	})
	if condFailed(err) {
		return Subscription{}, webhook.Secret{}, fmt.Errorf("create subscription %s: %w", sub.Name, ErrExists)
	}
	if err != nil {
		return Subscription{}, webhook.Secret{}, fmt.Errorf("create subscription %s: %w", sub.Name, err)
	}
	return sub, sec, nil
}

func (s *Store) get(ctx context.Context, name string) (item, error) {
	if !ValidName(name) {
		return item{}, ErrNotFound
	}
	out, err := s.db.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(s.table), Key: key(name), ConsistentRead: aws.Bool(true)})
	if err != nil {
		return item{}, err
	}
	if out.Item == nil {
		return item{}, ErrNotFound
	}
	return readItem(out.Item)
}

// Get returns one subscription, or ErrNotFound.
func (s *Store) Get(ctx context.Context, name string) (Subscription, error) {
	it, err := s.get(ctx, name)
	if err != nil {
		return Subscription{}, fmt.Errorf("get subscription %s: %w", name, err)
	}
	return it.sub, nil
}

// Page is one page of a listing; Next, when not empty, is the name to list
// after for the next page.
type Page struct {
	Subscriptions []Subscription
	Next          string
}

// List returns up to limit subscriptions (DefaultPageSize when 0) in name
// order, after the name after ("" from the start).
func (s *Store) List(ctx context.Context, after string, limit int) (Page, error) {
	if limit <= 0 || limit > MaxPageSize {
		limit = DefaultPageSize
	}
	in := &dynamodb.QueryInput{
		TableName:                 aws.String(s.table),
		KeyConditionExpression:    aws.String("#pk = :pk"),
		ExpressionAttributeNames:  map[string]string{"#pk": table.PK},
		ExpressionAttributeValues: map[string]types.AttributeValue{":pk": &types.AttributeValueMemberS{Value: table.SubscriptionPK}},
		Limit:                     aws.Int32(int32(limit)),
		ConsistentRead:            aws.Bool(true),
	}
	if after != "" {
		in.ExclusiveStartKey = key(after)
	}
	out, err := s.db.Query(ctx, in)
	if err != nil {
		return Page{}, fmt.Errorf("list subscriptions: %w", err)
	}
	var p Page
	for _, m := range out.Items {
		it, err := readItem(m)
		if err != nil {
			return Page{}, fmt.Errorf("list subscriptions: %w", err)
		}
		p.Subscriptions = append(p.Subscriptions, it.sub)
	}
	if len(out.LastEvaluatedKey) > 0 && len(p.Subscriptions) > 0 {
		p.Next = p.Subscriptions[len(p.Subscriptions)-1].Name
	}
	return p, nil
}

// Put replaces a subscription (already validated), keeping its creation
// time and secrets. When sub.Version is not 0 it must be the stored version,
// or the answer is ErrConflict; either way a concurrent write in between is
// ErrConflict, never lost. A missing subscription is ErrNotFound. A target
// that becomes http gets a new secret, returned this once.
func (s *Store) Put(ctx context.Context, sub Subscription) (Subscription, webhook.Secret, error) {
	fail := func(err error) (Subscription, webhook.Secret, error) {
		return Subscription{}, webhook.Secret{}, fmt.Errorf("put subscription %s: %w", sub.Name, err)
	}
	it, err := s.get(ctx, sub.Name)
	if err != nil {
		return fail(err)
	}
	read := it.sub.Version
	if sub.Version != 0 && sub.Version != read {
		return fail(ErrConflict)
	}
	sub.Created, sub.Updated, sub.Version, sub.Owner = it.sub.Created, s.now(), read+1, it.sub.Owner
	it.sub = sub
	var sec webhook.Secret
	if sub.Target.Type == TargetHTTP && len(it.secret) == 0 {
		if sec, it.secret, err = s.newSecret(ctx); err != nil {
			return fail(err)
		}
	}
	if err := s.replace(ctx, &it, read); err != nil {
		return fail(err)
	}
	return sub, sec, nil
}

// replace writes it if the stored version is still read.
func (s *Store) replace(ctx context.Context, it *item, read int64) error {
	m, err := it.attrs()
	if err != nil {
		return err
	}
	_, err = s.db.PutItem(ctx, &dynamodb.PutItemInput{
		TableName: aws.String(s.table), Item: m,
		ConditionExpression:       aws.String("#v = :v"),
		ExpressionAttributeNames:  map[string]string{"#v": table.AttrVersion},
		ExpressionAttributeValues: map[string]types.AttributeValue{":v": &types.AttributeValueMemberN{Value: strconv.FormatInt(read, 10)}},
	})
	if condFailed(err) {
		return ErrConflict // changed or deleted since it was read
	}
	return err
}

// Delete removes a subscription, or answers ErrNotFound.
func (s *Store) Delete(ctx context.Context, name string) error {
	if !ValidName(name) {
		return fmt.Errorf("delete subscription %s: %w", name, ErrNotFound)
	}
	_, err := s.db.DeleteItem(ctx, &dynamodb.DeleteItemInput{
		TableName: aws.String(s.table), Key: key(name),
		ConditionExpression: aws.String("attribute_exists(" + table.PK + ")"),
	})
	if condFailed(err) {
		return fmt.Errorf("delete subscription %s: %w", name, ErrNotFound)
	}
	if err != nil {
		return fmt.Errorf("delete subscription %s: %w", name, err)
	}
	return nil
}

// ErrNoSecret is a rotation asked of a subscription whose target is not
// http.
var ErrNoSecret = errors.New("only http targets have a secret")

// RotateSecret gives an http subscription a new secret, returned this once;
// the current one keeps signing beside it for overlap
// (DefaultRotationOverlap when 0), so both signatures are sent meanwhile.
// It returns the subscription and when the old secret stops.
func (s *Store) RotateSecret(ctx context.Context, name string, overlap time.Duration) (Subscription, webhook.Secret, time.Time, error) {
	fail := func(err error) (Subscription, webhook.Secret, time.Time, error) {
		return Subscription{}, webhook.Secret{}, time.Time{}, fmt.Errorf("rotate secret of %s: %w", name, err)
	}
	if overlap <= 0 {
		overlap = DefaultRotationOverlap
	}
	it, err := s.get(ctx, name)
	if err != nil {
		return fail(err)
	}
	if it.sub.Target.Type != TargetHTTP {
		return fail(ErrNoSecret)
	}
	read := it.sub.Version
	now := s.now()
	sec, sealed, err := s.newSecret(ctx)
	if err != nil {
		return fail(err)
	}
	if len(it.secret) > 0 {
		it.prev, it.prevUntil = it.secret, now.Add(overlap)
	}
	it.secret = sealed
	it.sub.Updated, it.sub.Version = now, read+1
	if err := s.replace(ctx, &it, read); err != nil {
		return fail(err)
	}
	return it.sub, sec, it.prevUntil, nil
}

// Live is an enabled subscription as the delivery engine uses it: with the
// secrets that sign its deliveries (the current one first, then during a
// rotation the previous one).
type Live struct {
	Subscription
	Secrets []webhook.Secret
}

// Snapshot returns every enabled subscription with its secrets opened. The
// delivery engine keeps it for at most RefreshInterval.
func (s *Store) Snapshot(ctx context.Context) ([]Live, error) {
	now := s.now()
	var out []Live
	in := &dynamodb.QueryInput{
		TableName:                 aws.String(s.table),
		KeyConditionExpression:    aws.String("#pk = :pk"),
		ExpressionAttributeNames:  map[string]string{"#pk": table.PK},
		ExpressionAttributeValues: map[string]types.AttributeValue{":pk": &types.AttributeValueMemberS{Value: table.SubscriptionPK}},
		ConsistentRead:            aws.Bool(true),
	}
	for {
		page, err := s.db.Query(ctx, in)
		if err != nil {
			return nil, fmt.Errorf("snapshot subscriptions: %w", err)
		}
		for _, m := range page.Items {
			it, err := readItem(m)
			if err != nil {
				return nil, fmt.Errorf("snapshot subscriptions: %w", err)
			}
			if it.sub.State != Enabled {
				continue
			}
			l := Live{Subscription: it.sub}
			sealed := [][]byte{it.secret}
			if now.Before(it.prevUntil) {
				sealed = append(sealed, it.prev)
			}
			for _, b := range sealed {
				if len(b) == 0 {
					continue
				}
				sec, err := s.open(ctx, b)
				if err != nil {
					return nil, fmt.Errorf("snapshot subscriptions: %s: %w", it.sub.Name, err)
				}
				l.Secrets = append(l.Secrets, sec)
			}
			out = append(out, l)
		}
		if len(page.LastEvaluatedKey) == 0 {
			return out, nil
		}
		in.ExclusiveStartKey = page.LastEvaluatedKey
	}
}

func (s *Store) open(ctx context.Context, sealed []byte) (webhook.Secret, error) {
	plain, err := s.sealer.Open(ctx, sealed)
	if err != nil {
		return webhook.Secret{}, err
	}
	return webhook.ParseSecret(string(plain))
}
