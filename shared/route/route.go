package route

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/flowbus/flowbus/shared/backoff"
	"github.com/flowbus/flowbus/shared/event"
	"github.com/flowbus/flowbus/shared/kinesisevent"
	"github.com/flowbus/flowbus/shared/pattern"
)

// Limits and defaults.
const (
	// MaxRefresh is the longest a subscription set is used before it is
	// read again: a change applies within this long (docs/api.md).
	MaxRefresh = 10 * time.Second
	// MaxBatchEntries and MaxBatchBytes are SendMessageBatch's limits (the
	// bytes: every body of the call, as SQS's 256 KiB).
	MaxBatchEntries = 10
	MaxBatchBytes   = 262144
	// maxToken is the longest MessageGroupId or MessageDeduplicationId.
	maxToken = 128

	defaultConcurrency = 8
	defaultAttempts    = 3
)

// Sub is one enabled subscription as routing needs it.
type Sub struct {
	Name    string
	Pattern *pattern.Pattern
	// Created tells this subscription from an earlier one of the same
	// name: its messages carry it, and the deliverer drops those of a
	// subscription that was deleted (and perhaps created again).
	Created time.Time
}

// Source lists the enabled subscriptions.
type Source interface {
	Subscriptions(ctx context.Context) ([]Sub, error)
}

// Sender is the part of the SQS client the router sends with.
type Sender interface {
	SendMessageBatch(ctx context.Context, in *sqs.SendMessageBatchInput, optFns ...func(*sqs.Options)) (*sqs.SendMessageBatchOutput, error)
}

// Config configures a Router.
type Config struct {
	QueueURL string // the delivery FIFO queue; required
	// Refresh is how long a subscription set is used; 0 means MaxRefresh,
	// at most MaxRefresh.
	Refresh time.Duration
	// Concurrency is how many SendMessageBatch calls run at once; 0 means 8.
	Concurrency int
	// Attempts is how many times an entry is sent before its group stops
	// and the batch reports its record; 0 means 3.
	Attempts int
}

// Validate reports every problem at once.
func (c Config) Validate() error {
	var errs []error
	if c.QueueURL == "" {
		errs = append(errs, errors.New("QueueURL is required"))
	}
	if c.Refresh < 0 || c.Refresh > MaxRefresh {
		errs = append(errs, fmt.Errorf("refresh %s: want 0–%s", c.Refresh, MaxRefresh))
	}
	if c.Concurrency < 0 || c.Attempts < 0 {
		errs = append(errs, errors.New("concurrency and attempts must not be negative"))
	}
	return errors.Join(errs...)
}

// Router routes batches. Build it once per cold start with New; it is safe
// for concurrent use.
type Router struct {
	cfg     Config
	src     Source
	sqs     Sender
	log     *slog.Logger
	now     func() time.Time
	matcher *pattern.Matcher
	created map[string]string // subscription name → SubscriptionCreated
	pause   func(ctx context.Context, attempt int) error

	mu       sync.Mutex
	loadedAt time.Time // zero until the first successful load
}

// New returns a router sending to cfg.QueueURL; log nil discards logs.
func New(cfg Config, src Source, sender Sender, log *slog.Logger) (*Router, error) {
	errs := []error{cfg.Validate()}
	if src == nil {
		errs = append(errs, errors.New("a Source is required"))
	}
	if sender == nil {
		errs = append(errs, errors.New("a Sender is required"))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("route: %w", err)
	}
	if cfg.Refresh == 0 {
		cfg.Refresh = MaxRefresh
	}
	if cfg.Concurrency == 0 {
		cfg.Concurrency = defaultConcurrency
	}
	if cfg.Attempts == 0 {
		cfg.Attempts = defaultAttempts
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Router{cfg: cfg, src: src, sqs: sender, log: log, now: time.Now, matcher: pattern.NewMatcher(),
		pause: func(ctx context.Context, attempt int) error {
			return backoff.Sleep(ctx, backoff.FullJitter(50*time.Millisecond, time.Second, attempt))
		}}, nil
}

// refresh reloads the subscriptions when the set is older than Refresh. A
// failed reload keeps the set it has, and fails only when there is none.
func (r *Router) refresh(ctx context.Context) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	now := r.now()
	if !r.loadedAt.IsZero() && now.Sub(r.loadedAt) < r.cfg.Refresh {
		return nil
	}
	subs, err := r.src.Subscriptions(ctx)
	if err != nil {
		if r.loadedAt.IsZero() {
			return fmt.Errorf("load subscriptions: %w", err)
		}
		r.log.Warn("cannot reload subscriptions; routing with the set loaded before", "loaded", r.loadedAt, "err", err)
		return nil
	}
	pats := make(map[string]*pattern.Pattern, len(subs))
	created := make(map[string]string, len(subs))
	for _, s := range subs {
		pats[s.Name] = s.Pattern
		if !s.Created.IsZero() {
			created[s.Name] = s.Created.UTC().Format(time.RFC3339Nano)
		}
	}
	r.matcher.Replace(pats)
	r.created = created
	r.loadedAt = now
	return nil
}

// Stats counts what one batch did.
type Stats struct {
	Records int
	Events  int // events routed (every decodable event, replayed ones too)
	Skipped int // events that cannot be decoded or stored: never routed
	Matched int // (subscription, event) pairs
	// MatchedBy is Matched per subscription (a record retried is counted
	// again when it comes back).
	MatchedBy map[string]int
	Sent      int // pairs the queue accepted (a duplicate within 5 minutes counts: SQS says success)
	Messages  int // messages the queue accepted: a pack carries several pairs
	Calls     int // SendMessageBatch calls
	Stopped   int // groups stopped by a failure
	Pointers  int // messages sent without their events, too large to go inline
}

// Pointer is the message body: which subscription, workflow and event, the
// event's stream position and, when it fits, the event itself (a CloudEvent
// in structured mode). Without Event, the deliverer reads the event from the
// store by WorkflowID and EventID. A packed message carries several events
// of the workflow in Events instead.
type Pointer struct {
	Subscription string   `json:"subscription"`
	WorkflowID   string   `json:"workflow_id"`
	EventID      string   `json:"event_id"`
	Position     Position `json:"position"`
	// SubscriptionCreated is the creation time (RFC 3339, nanoseconds) of
	// the subscription the router matched; empty for messages of a replay
	// or a redrive, which are sent for the subscription as it is.
	SubscriptionCreated string          `json:"subscription_created,omitempty"`
	Event               json.RawMessage `json:"event,omitempty"`
	// Pack and Events make a packed message (MaxPackEvents): EventID,
	// Position and Event are then empty, Events holds the events in order
	// and Pack is the pack's deduplication id, which the deliverer keeps
	// its progress through the pack under.
	Pack   string        `json:"pack,omitempty"`
	Events []PackedEvent `json:"events,omitempty"`
}

// Position is where an event is on the stream: its record and its index in
// the record.
type Position struct {
	Shard string `json:"shard"`
	Seq   string `json:"seq"`
	Sub   int    `json:"sub"`
}

// entry is one message: one (subscription, event) pair, or a pack of a
// record's pairs of one subscription.
type entry struct {
	record  int // index of its record in the batch
	group   string
	dedup   string
	body    []byte
	pointer []byte // the body without the events, when body has them
	events  int    // in the message: 0 means 1
}

// count is how many (subscription, event) pairs e carries.
func (e *entry) count() int { return max(e.events, 1) }

// Route routes a batch. retry lists the sequence numbers of the records
// Lambda should retry from (a stopped group's first record not sent), in
// batch order; Lambda checkpoints before the lowest and sends the rest again,
// which the queue's deduplication makes safe within five minutes. err is set
// only when the batch cannot be routed at all (no subscription set): the
// whole batch is then retried.
func (r *Router) Route(ctx context.Context, records []kinesisevent.Record) (retry []string, st Stats, err error) {
	st.Records = len(records)
	if err := r.refresh(ctx); err != nil {
		return nil, st, err
	}
	if r.matcher.Len() == 0 {
		return nil, st, nil
	}
	groups, order := r.entries(records, &st)
	stopped := r.send(ctx, groups, order, &st)
	seen := map[int]bool{}
	for _, rec := range stopped {
		seen[rec] = true
	}
	for i := range records {
		if seen[i] {
			retry = append(retry, records[i].SequenceNumber)
		}
	}
	return retry, st, nil
}

// entries decodes the batch and matches every event, giving each group's
// entries in stream order and the groups in order of their first entry.
func (r *Router) entries(records []kinesisevent.Record, st *Stats) (map[string][]*entry, []string) {
	groups := map[string][]*entry{}
	var order []string
	r.mu.Lock()
	created := r.created
	r.mu.Unlock()
	intern := event.NewInterner()
	var names []string
	var buf []byte
	var pk packer
	for ri, rec := range records {
		items, err := event.DecodeBatch(rec.Data, event.DecodeOptions{Wire: true, Intern: intern}, false, 0)
		if err != nil {
			st.Skipped++
			continue
		}
		pk.reset(rec.PartitionKey, ri)
		for i := range items {
			it := &items[i]
			ev := &it.Event
			if it.Err != nil || ev.ID == "" || ev.WorkflowID != rec.PartitionKey {
				// The store parks it; it never reaches subscriptions.
				st.Skipped++
				continue
			}
			st.Events++
			buf = event.Append(buf[:0], ev, false)
			doc, err := pattern.DecodeJSON(buf)
			if err != nil {
				st.Skipped++
				continue
			}
			names = r.matcher.AppendMatches(names[:0], doc)
			for _, sub := range names {
				if !pk.add(sub, ev, buf, Position{Shard: rec.ShardID, Seq: rec.SequenceNumber, Sub: i}) {
					continue // the record repeats the event: routed once
				}
				st.Matched++
				if st.MatchedBy == nil {
					st.MatchedBy = map[string]int{}
				}
				st.MatchedBy[sub]++
			}
		}
		pk.entries(created, func(e *entry) {
			if e.pointer == nil {
				st.Pointers++
			}
			if _, ok := groups[e.group]; !ok {
				order = append(order, e.group)
			}
			groups[e.group] = append(groups[e.group], e)
		})
	}
	return groups, order
}

// newEntry is the entry of one (subscription, event) message; dedup is its
// deduplication id (DedupID).
func newEntry(sub, created, workflowID, eventID, dedup string, cloudEvent []byte, pos Position) *entry {
	p := Pointer{Subscription: sub, WorkflowID: workflowID, EventID: eventID, Position: pos, SubscriptionCreated: created}
	pointer, _ := json.Marshal(p) // strings and ints: cannot fail
	e := &entry{group: GroupID(sub, workflowID), dedup: dedup, body: pointer}
	if len(pointer)+len(cloudEvent)+len(`,"event":`) <= MaxBatchBytes {
		body := make([]byte, 0, len(pointer)+len(cloudEvent)+len(`,"event":`))
		body = append(body, pointer[:len(pointer)-1]...)
		body = append(body, `,"event":`...)
		body = append(body, cloudEvent...)
		e.body, e.pointer = append(body, '}'), pointer
	}
	return e
}

// GroupID is the message group of a (subscription, workflow) pair:
// subscription/workflow, or, when that is not a valid MessageGroupId (too
// long, or a character outside printable ASCII), subscription/# and a hash
// of the workflow id.
func GroupID(sub, workflowID string) string {
	return token(sub, workflowID)
}

// DedupID is the deduplication id of a (subscription, event) message: the
// subscription and the event id, and the replay id for a replayed event (a
// replay is delivered again even within five minutes); hashed when not a
// valid MessageDeduplicationId.
func DedupID(sub string, ev *event.Event) string {
	return token(sub, dedupKey(ev))
}

// dedupKey is what identifies an event's delivery: its id, and the replay
// id of a replayed event.
func dedupKey(ev *event.Event) string {
	id := ev.ID
	if replay, ok := ev.Extension(event.AttrReplayID); ok {
		var s string
		if json.Unmarshal(replay, &s) != nil {
			s = string(replay)
		}
		id += "/" + s
	}
	return id
}

// token is sub/key, or sub/# and a hash of key when that is too long, not
// printable ASCII, or when key starts with "=", which packs' deduplication
// ids take (packDedup).
func token(sub, key string) string {
	t := sub + "/" + key
	if len(t) <= maxToken && printableASCII(t) && !strings.HasPrefix(key, "=") {
		return t
	}
	sum := sha256.Sum256([]byte(key))
	return sub + "/#" + hex.EncodeToString(sum[:20])
}

func printableASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '!' || s[i] > '~' {
			return false
		}
	}
	return true
}

// group is one group's progress through a batch.
type groupState struct {
	name     string
	entries  []*entry
	next     int // index of the next entry to send
	failures int // failed sends of entries[next]
	stopped  bool
}

// send sends every group's entries in order, one entry per group per
// SendMessageBatch call — so that no entry is ever accepted after an earlier
// one of its group failed — until each group is done or stopped. It returns
// the record index of each stopped group's first unsent entry.
func (r *Router) send(ctx context.Context, groups map[string][]*entry, order []string, st *Stats) []int {
	states := make([]*groupState, 0, len(order))
	for _, g := range order {
		states = append(states, &groupState{name: g, entries: groups[g]})
	}
	var stopped []int
	for round := 0; ; round++ {
		var ready []*groupState
		for _, g := range states {
			if !g.stopped && g.next < len(g.entries) {
				ready = append(ready, g)
			}
		}
		if len(ready) == 0 {
			return stopped
		}
		if ctx.Err() != nil {
			for _, g := range ready {
				g.stopped = true
				st.Stopped++
				stopped = append(stopped, g.entries[g.next].record)
			}
			return stopped
		}
		failed := r.sendRound(ctx, ready, st)
		for _, g := range ready {
			if !failed[g] {
				st.Sent += g.entries[g.next].count()
				st.Messages++
				g.next++
				g.failures = 0
				continue
			}
			g.failures++
			if g.failures >= r.cfg.Attempts {
				g.stopped = true
				st.Stopped++
				stopped = append(stopped, g.entries[g.next].record)
				r.log.Warn("group stopped: its record is retried", "group", g.name, "record", g.entries[g.next].record)
			}
		}
		if len(failed) > 0 {
			_ = r.pause(ctx, round)
		}
	}
}

// sendRound sends the next entry of each ready group, in calls of at most
// MaxBatchEntries entries and MaxBatchBytes, Concurrency calls at once, and
// returns the groups whose entry failed.
func (r *Router) sendRound(ctx context.Context, ready []*groupState, st *Stats) map[*groupState]bool {
	var calls [][]*groupState
	var cur []*groupState
	size := 0
	for _, g := range ready {
		n := len(g.entries[g.next].body)
		if len(cur) == MaxBatchEntries || (len(cur) > 0 && size+n > MaxBatchBytes) {
			calls = append(calls, cur)
			cur, size = nil, 0
		}
		cur = append(cur, g)
		size += n
	}
	calls = append(calls, cur)
	st.Calls += len(calls)

	var mu sync.Mutex
	failed := map[*groupState]bool{}
	sem := make(chan struct{}, r.cfg.Concurrency)
	var wg sync.WaitGroup
	for _, call := range calls {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			bad := r.call(ctx, call)
			mu.Lock()
			for _, g := range bad {
				failed[g] = true
			}
			mu.Unlock()
		})
	}
	wg.Wait()
	return failed
}

// call sends one SendMessageBatch and returns the groups whose entry failed.
// An entry refused for its content is sent again without the event.
func (r *Router) call(ctx context.Context, call []*groupState) []*groupState {
	in := &sqs.SendMessageBatchInput{QueueUrl: aws.String(r.cfg.QueueURL), Entries: make([]types.SendMessageBatchRequestEntry, len(call))}
	for i, g := range call {
		e := g.entries[g.next]
		in.Entries[i] = types.SendMessageBatchRequestEntry{
			Id: aws.String(strconv.Itoa(i)), MessageBody: aws.String(string(e.body)),
			MessageGroupId: aws.String(e.group), MessageDeduplicationId: aws.String(e.dedup),
		}
	}
	out, err := r.sqs.SendMessageBatch(ctx, in)
	if err != nil {
		r.log.Warn("SendMessageBatch failed", "entries", len(call), "err", err)
		return call
	}
	var bad []*groupState
	ok := make([]bool, len(call))
	for _, s := range out.Successful {
		if i, err := strconv.Atoi(aws.ToString(s.Id)); err == nil && i >= 0 && i < len(call) {
			ok[i] = true
		}
	}
	for _, f := range out.Failed {
		i, err := strconv.Atoi(aws.ToString(f.Id))
		if err != nil || i < 0 || i >= len(call) {
			continue
		}
		e := call[i].entries[call[i].next]
		r.log.Warn("entry refused", "group", e.group, "code", aws.ToString(f.Code), "message", aws.ToString(f.Message), "senderFault", f.SenderFault)
		if f.SenderFault && e.pointer != nil && slices.Contains([]string{"InvalidMessageContents", "InvalidParameterValue"}, aws.ToString(f.Code)) {
			e.body, e.pointer = e.pointer, nil // the store has the event
		}
	}
	for i, g := range call {
		if !ok[i] {
			bad = append(bad, g)
		}
	}
	return bad
}
