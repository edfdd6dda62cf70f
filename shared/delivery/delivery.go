package delivery

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/flowbus/flowbus/shared/event"
	"github.com/flowbus/flowbus/shared/subscription"
	"github.com/flowbus/flowbus/shared/webhook"
)

// MaxVisibility is SQS's longest visibility timeout: no retry waits longer.
const MaxVisibility = 12 * time.Hour

// Subscriptions is what the deliverer asks of the subscription store.
type Subscriptions interface {
	Snapshot(ctx context.Context) ([]subscription.Live, error)
	Get(ctx context.Context, name string) (subscription.Subscription, error)
	Put(ctx context.Context, s subscription.Subscription) (subscription.Subscription, webhook.Secret, error)
}

// Events reads an event from the store when a message holds only a
// pointer; not yet stored is ErrNotStored.
type Events interface {
	Event(ctx context.Context, workflowID, eventID string) (event.Event, error)
}

// ErrNotStored is an event not (yet) in the store: the router can be ahead
// of the consumer, so the message is retried.
var ErrNotStored = errors.New("event not in the store")

// VisibilityAPI sets a retried message's backoff.
type VisibilityAPI interface {
	ChangeMessageVisibility(ctx context.Context, in *sqs.ChangeMessageVisibilityInput, optFns ...func(*sqs.Options)) (*sqs.ChangeMessageVisibilityOutput, error)
}

// DeadLetterWriter keeps what could not be delivered.
type DeadLetterWriter interface {
	Put(ctx context.Context, e Entry) error
}

// Config configures a Deliverer.
type Config struct {
	QueueURL string // the delivery FIFO queue (for ChangeMessageVisibility); required
	// Refresh is how long a subscription snapshot is used; 0 means
	// subscription.RefreshInterval, at most that.
	Refresh time.Duration
	// MaxHops stops derivation chains deeper than this; 0 means
	// subscription.DefaultMaxHops.
	MaxHops int
}

// Validate reports every problem at once.
func (c Config) Validate() error {
	var errs []error
	if c.QueueURL == "" {
		errs = append(errs, errors.New("QueueURL is required"))
	}
	if c.Refresh < 0 || c.Refresh > subscription.RefreshInterval {
		errs = append(errs, fmt.Errorf("refresh %s: want 0–%s", c.Refresh, subscription.RefreshInterval))
	}
	if c.MaxHops < 0 {
		errs = append(errs, errors.New("MaxHops must not be negative"))
	}
	return errors.Join(errs...)
}

// Deps are the deliverer's collaborators.
type Deps struct {
	Subscriptions Subscriptions
	Events        Events // may be nil when every body carries its event
	Queue         VisibilityAPI
	DeadLetters   DeadLetterWriter
	// Attempts counts each delivery's own failed attempts (Attempts in the
	// table); nil counts ApproximateReceiveCount instead, which also counts
	// the rounds a message waited behind a failing one in its group.
	Attempts AttemptCounter
	// Progress keeps how far a packed message got when one of its events
	// failed; nil starts a retried pack from its first event again (its
	// delivered events are then delivered again: at least once).
	Progress ProgressKeeper
	// Budget bounds the derived events one original event can cause (bus
	// targets); nil bounds only their depth (the hop limit).
	Budget  Budget
	Targets Targets
	Log     *slog.Logger // nil discards
}

// live is a subscription as delivery uses it.
type live struct {
	subscription.Live
	transformer *subscription.Transformer
	disabled    bool // known disabled: its messages are dead-lettered
}

// Deliverer delivers batches of queue messages. Build it once per cold
// start; it is safe for concurrent use.
type Deliverer struct {
	cfg      Config
	subs     Subscriptions
	events   Events
	queue    VisibilityAPI
	dl       DeadLetterWriter
	tries    AttemptCounter
	progress ProgressKeeper
	budget   Budget
	targets  Targets
	log      *slog.Logger
	now      func() time.Time
	// earlyDeleteAfter replaces EarlyDeleteAfter when set (tests).
	earlyDeleteAfter time.Duration

	mu       sync.Mutex
	loadedAt time.Time
	byName   map[string]*live
}

// New returns a Deliverer.
func New(cfg Config, deps Deps) (*Deliverer, error) {
	errs := []error{cfg.Validate()}
	if deps.Subscriptions == nil || deps.Queue == nil || deps.DeadLetters == nil {
		errs = append(errs, errors.New("Subscriptions, Queue and DeadLetters are required"))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("delivery: %w", err)
	}
	if cfg.Refresh == 0 {
		cfg.Refresh = subscription.RefreshInterval
	}
	if cfg.MaxHops == 0 {
		cfg.MaxHops = subscription.DefaultMaxHops
	}
	if deps.Log == nil {
		deps.Log = slog.New(slog.DiscardHandler)
	}
	return &Deliverer{cfg: cfg, subs: deps.Subscriptions, events: deps.Events, queue: deps.Queue, dl: deps.DeadLetters,
		tries: deps.Attempts, progress: deps.Progress, budget: deps.Budget, targets: deps.Targets, log: deps.Log, now: time.Now}, nil
}

// refresh reloads the snapshot when it is older than Refresh; a failed
// reload keeps the one it has and fails only when there is none.
func (d *Deliverer) refresh(ctx context.Context) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	now := d.now()
	if d.byName != nil && now.Sub(d.loadedAt) < d.cfg.Refresh {
		return nil
	}
	subs, err := d.subs.Snapshot(ctx)
	if err != nil {
		if d.byName == nil {
			return fmt.Errorf("load subscriptions: %w", err)
		}
		d.log.Warn("cannot reload subscriptions; delivering with the set loaded before", "loaded", d.loadedAt, "err", err)
		return nil
	}
	m := make(map[string]*live, len(subs))
	for _, s := range subs {
		l := &live{Live: s}
		if s.InputTransformer != nil {
			if l.transformer, err = s.InputTransformer.Compile(); err != nil {
				d.log.Warn("subscription transformer does not compile", "subscription", s.Name, "err", err)
			}
		}
		m[s.Name] = l
	}
	d.byName, d.loadedAt = m, now
	return nil
}

// lookup finds a subscription: nil when it no longer exists. One missing
// from the snapshot is read once (it may be disabled: its messages are then
// dead-lettered, so a re-enable and a redrive deliver them) and remembered
// until the next refresh.
func (d *Deliverer) lookup(ctx context.Context, name string) (*live, error) {
	d.mu.Lock()
	l, ok := d.byName[name]
	d.mu.Unlock()
	if ok {
		return l, nil
	}
	s, err := d.subs.Get(ctx, name)
	if errors.Is(err, subscription.ErrNotFound) {
		l = nil
	} else if err != nil {
		return nil, err
	} else {
		l = &live{Live: subscription.Live{Subscription: s}, disabled: s.State != subscription.Enabled}
	}
	d.mu.Lock()
	d.byName[name] = l
	d.mu.Unlock()
	return l, nil
}

// markDisabled remembers a subscription this process disabled.
func (d *Deliverer) markDisabled(name string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if l, ok := d.byName[name]; ok && l != nil {
		c := *l
		c.disabled = true
		d.byName[name] = &c
	}
}

// Result is what a batch came to: the ids of the messages to report as
// batchItemFailures, in batch order, and the figures.
type Result struct {
	Failures []string
	Figures  Figures
}

// Deliver delivers a batch: groups in parallel, each group's messages in
// order; a group done while a slower one holds the batch past
// EarlyDeleteAfter has its handled messages deleted at once, so that its
// next message is not held behind the slower group (earlyDelete). A
// message to retry is reported with every later message of its group,
// and made visible again after its backoff; one given up is
// dead-lettered and its group goes on. err is set only when the batch
// cannot be delivered at all (no subscription set): every message is then
// retried.
func (d *Deliverer) Deliver(ctx context.Context, msgs []Message) (Result, error) {
	if err := d.refresh(ctx); err != nil {
		return Result{}, err
	}
	groups := map[string][]int{}
	var order []string
	for i, m := range msgs {
		g := m.GroupID
		if _, ok := groups[g]; !ok {
			order = append(order, g)
		}
		groups[g] = append(groups[g], i)
	}
	began := time.Now()
	failed := make([]bool, len(msgs))
	figs := make([]Figures, len(order))
	early := d.newEarlyDelete(ctx, len(order))
	var wg sync.WaitGroup
	for gi, g := range order {
		wg.Go(func() {
			figs[gi] = Figures{}
			idx := groups[g]
			var handled []*Message
			defer func() { early.done(handled) }()
			for k, i := range idx {
				secs, ok := d.one(ctx, &msgs[i], figs[gi], began)
				if ok {
					handled = append(handled, &msgs[i])
					continue
				}
				for _, j := range idx[k:] {
					failed[j] = true
				}
				// The later ones come back with it: left in flight for the
				// queue's visibility timeout they would lock the group.
				for _, j := range idx[k+1:] {
					d.setVisibility(ctx, &msgs[j], secs)
				}
				return
			}
		})
	}
	wg.Wait()
	early.stop()
	var res Result
	res.Figures = Figures{}
	for _, f := range figs {
		res.Figures.Merge(f)
	}
	for i, m := range msgs {
		if failed[i] {
			res.Failures = append(res.Failures, m.ID)
		}
	}
	return res, nil
}

// one delivers one message and reports whether it is handled (delivered,
// dead-lettered or dropped); false means retry it after secs and hold its
// group. began is when the invocation's batch began.
func (d *Deliverer) one(ctx context.Context, m *Message, figs Figures, began time.Time) (secs int32, ok bool) {
	b, err := parseBody(m.Body)
	if err != nil {
		// Nothing can ever deliver it and no subscription is named: drop.
		d.log.Error("undeliverable message dropped", "message", m.ID, "err", err)
		return 0, true
	}
	if len(b.Events) > 0 {
		return d.pack(ctx, m, &b, figs, began)
	}
	ok = d.deliverOne(ctx, m, &b, figs, &secs)
	return secs, ok
}

// PackReserve is the time a pack's next event needs left in the
// invocation: the longest delivery timeout and a margin. With less, the
// pack stops there and comes back at once (its progress kept), so an
// invocation never runs out of time in the middle of a pack.
const PackReserve = subscription.MaxTimeout + 5*time.Second

// packReserve is the reserve of an invocation of total time: PackReserve,
// or half of it when the function's timeout is not above PackReserve (a
// deployment may lower the template's 300 s), else every pack would stop at
// its first event on every receive, for ever, holding its group.
func packReserve(total time.Duration) time.Duration {
	if total <= PackReserve {
		return total / 2
	}
	return PackReserve
}

// pack delivers a packed message's events in order, from where an earlier
// attempt stopped. When one is to be retried, or the invocation has too
// little time left for the next, the events handled so far are recorded
// (Progress) and the message is retried from that event.
func (d *Deliverer) pack(ctx context.Context, m *Message, b *body, figs Figures, began time.Time) (secs int32, ok bool) {
	items := bodyItems(b)
	start := 0
	if m.ReceiveCount > 1 && d.progress != nil {
		n, err := d.progress.Progress(ctx, b.Subscription, b.Pack)
		if err != nil {
			// Starting over would deliver the pack's first events again:
			// retry soon instead.
			d.log.Warn("cannot read a pack's progress; retried", "subscription", b.Subscription, "pack", b.Pack, "err", err)
			figs.of(b.Subscription).Retrying++
			d.setVisibility(ctx, m, 1)
			return 1, false
		}
		start = min(n, len(items))
	}
	for j := start; j < len(items); j++ {
		if dl, ok := ctx.Deadline(); ok && time.Until(dl) < packReserve(dl.Sub(began)) {
			d.log.Info("pack stopped: too little time left in the invocation; it comes back at once", "pack", b.Pack, "done", j, "of", len(items))
			d.keepProgress(ctx, b, start, j)
			d.setVisibility(ctx, m, 0)
			return 0, false
		}
		// A retry's backoff is set after the progress is written: set
		// first, a short backoff could bring the message back before
		// its progress, and the retry would deliver the pack's handled
		// events again.
		m.holdVisibility = true
		ok := d.deliverOne(ctx, m, &items[j], figs, &secs)
		m.holdVisibility = false
		if !ok {
			d.keepProgress(ctx, b, start, j)
			if secs > 0 {
				d.setVisibility(ctx, m, secs)
			}
			return secs, false
		}
	}
	if start > 0 {
		if err := d.progress.ClearProgress(ctx, b.Subscription, b.Pack); err != nil {
			d.log.Warn("cannot clear a pack's progress", "subscription", b.Subscription, "pack", b.Pack, "err", err)
		}
	}
	return 0, true
}

// keepProgress records that a pack's first done events are handled, when
// this attempt handled any.
func (d *Deliverer) keepProgress(ctx context.Context, b *body, start, done int) {
	if d.progress == nil || done == start {
		return
	}
	if err := d.progress.SetProgress(ctx, b.Subscription, b.Pack, done, d.now()); err != nil {
		// The retry starts where the last recorded progress was: events
		// after it are delivered again (at least once).
		d.log.Warn("cannot record a pack's progress; its delivered events will be delivered again", "subscription", b.Subscription, "pack", b.Pack, "done", done, "err", err)
	}
}

// deliverOne delivers one event of message m, b its body (or the body of
// one event of a pack).
func (d *Deliverer) deliverOne(ctx context.Context, m *Message, b *body, figs Figures, secs *int32) bool {
	sub, err := d.current(ctx, b)
	if err != nil {
		d.log.Warn("cannot read subscription", "subscription", b.Subscription, "err", err)
		return d.retry(ctx, m, b, nil, Attempt{Outcome: webhook.Retry, Err: err}, figs.of(b.Subscription), secs)
	}
	if sub == nil {
		d.log.Info("subscription deleted: message dropped", "subscription", b.Subscription, "event", b.EventID)
		d.handled(ctx, m, b)
		return true
	}
	f := figs.of(b.Subscription)
	ev, ce, err := d.event(ctx, b)
	if err != nil {
		var ve *event.ValidationError
		if errors.As(err, &ve) {
			var raw []byte
			if len(b.Event) > 0 {
				raw = b.Event // kept whole in the dead letter, as it came
			}
			return d.deadLetter(ctx, m, b, raw, Attempt{Outcome: webhook.DeadLetter, Err: err}, f)
		}
		return d.retry(ctx, m, b, sub, Attempt{Outcome: webhook.Retry, Err: err}, f, secs)
	}
	if sub.disabled {
		return d.deadLetter(ctx, m, b, ce, Attempt{Outcome: webhook.DeadLetter, Err: errors.New("subscription disabled")}, f)
	}
	a := d.attempt(ctx, sub, &ev, ce)
	switch a.Outcome {
	case webhook.Delivered:
		d.handled(ctx, m, b)
		if a.HopLimited {
			f.HopLimited++
			d.log.Warn("derivation chain stopped at the hop limit", "subscription", sub.Name, "event", ev.ID, "hops", subscription.Hops(&ev))
			return true
		}
		if a.BudgetLimited {
			f.BudgetLimited++
			d.log.Warn("derived event refused: its root's budget is spent", "subscription", sub.Name, "event", ev.ID,
				"root", subscription.RootID(&ev))
			return true
		}
		f.Delivered++
		f.latency().Add(d.now().Sub(publishTime(&ev, m)))
		return true
	case webhook.Disable:
		d.disable(ctx, sub)
		return d.deadLetter(ctx, m, b, ce, a, f)
	case webhook.DeadLetter:
		return d.deadLetter(ctx, m, b, ce, a, f)
	}
	return d.retry(ctx, m, b, sub, a, f, secs)
}

// event is the message's event and its CloudEvent JSON.
func (d *Deliverer) event(ctx context.Context, b *body) (event.Event, []byte, error) {
	if len(b.Event) > 0 {
		// Wire: the event came off the bus, where replays carry their
		// marks (replayid, replayedat) that producers may not send.
		ev, err := event.Decode(b.Event, event.DecodeOptions{Wire: true})
		if err != nil {
			return event.Event{}, nil, err
		}
		if ev.WorkflowID != b.WorkflowID {
			// Never the router's (it skips an event whose workflow is not
			// its record's): delivered in this group, it would break both
			// workflows' order.
			return event.Event{}, nil, &event.ValidationError{Fields: []event.FieldError{{Field: "workflowid",
				Reason: fmt.Sprintf("is %q in a message of workflow %q", ev.WorkflowID, b.WorkflowID)}}}
		}
		return ev, b.Event, nil
	}
	if d.events == nil {
		return event.Event{}, nil, fmt.Errorf("event %s: %w", b.EventID, ErrNotStored)
	}
	ev, err := d.events.Event(ctx, b.WorkflowID, b.EventID)
	if err != nil {
		return event.Event{}, nil, err
	}
	return ev, event.Append(nil, &ev, false), nil
}

// publishTime is when an event was published: its time, or when its
// message was sent when the time is missing or ahead.
func publishTime(ev *event.Event, m *Message) time.Time {
	if !ev.Time.IsZero() && (m.SentAt.IsZero() || !ev.Time.After(m.SentAt)) {
		return ev.Time
	}
	return m.SentAt
}

// Backoff is the delay before attempt n+1 after attempt n (n ≥ 1) failed:
// base×2^(n-1), at most max, or retryAfter when longer; never more than
// MaxVisibility.
func Backoff(p subscription.Delivery, n int, retryAfter time.Duration) time.Duration {
	delay := p.BackoffBase()
	for i := 1; i < n && delay < p.BackoffMax(); i++ {
		delay *= 2
	}
	delay = min(delay, p.BackoffMax())
	delay = max(delay, retryAfter)
	return min(delay, MaxVisibility)
}

// failed counts a failed attempt of m's own and returns how many it has
// made.
func (d *Deliverer) failed(ctx context.Context, m *Message, b *body) int {
	if d.tries == nil {
		return max(m.ReceiveCount, 1)
	}
	n, err := d.tries.Failed(ctx, b.Subscription, b.WorkflowID, b.EventID, d.now())
	if err != nil {
		// Unknown: not counted as spent (the maximum event age still bounds
		// the retries), rather than spent too early.
		d.log.Warn("cannot count a failed attempt", "subscription", b.Subscription, "event", b.EventID, "err", err)
		return 1
	}
	return n
}

// handled forgets m's count of failed attempts once it is delivered,
// dead-lettered or dropped. A message received for the first time has
// none: a count is written before a failed message is seen again.
func (d *Deliverer) handled(ctx context.Context, m *Message, b *body) {
	if d.tries == nil || m.ReceiveCount <= 1 {
		return
	}
	if err := d.tries.Clear(ctx, b.Subscription, b.WorkflowID, b.EventID); err != nil {
		d.log.Warn("cannot clear the count of failed attempts", "subscription", b.Subscription, "event", b.EventID, "err", err)
	}
}

// retry holds the message back for its backoff, or dead-letters it when
// its attempts or age are spent. sub is nil when unknown (default policy).
func (d *Deliverer) retry(ctx context.Context, m *Message, b *body, sub *live, a Attempt, f *SubFigures, secs *int32) bool {
	policy := subscription.DefaultDelivery()
	if sub != nil {
		policy = sub.Delivery
	}
	n := d.failed(ctx, m, b)
	delay := Backoff(policy, n, a.RetryAfter)
	age := d.now().Sub(m.SentAt)
	if m.SentAt.IsZero() {
		age = 0
	}
	if sub != nil && (n > policy.RetryAttempts || age+delay > policy.MaximumEventAge()) {
		var ce []byte
		if len(b.Event) > 0 {
			ce = b.Event
		}
		why := fmt.Errorf("gave up after %d attempts, %s old: %w", n, age.Round(time.Second), a.Err)
		return d.deadLetterAfter(ctx, m, b, ce, Attempt{Outcome: webhook.DeadLetter, Status: a.Status, Err: why}, f, n)
	}
	f.Retrying++
	*secs = int32((delay + time.Second - 1) / time.Second)
	if !m.holdVisibility {
		d.setVisibility(ctx, m, *secs)
	}
	d.log.Info("delivery retried", "group", m.GroupID, "attempt", n, "backoff", delay, "err", a.Err)
	return false
}

// setVisibility makes m visible again after secs.
func (d *Deliverer) setVisibility(ctx context.Context, m *Message, secs int32) {
	if _, err := d.queue.ChangeMessageVisibility(ctx, &sqs.ChangeMessageVisibilityInput{QueueUrl: aws.String(d.cfg.QueueURL),
		ReceiptHandle: aws.String(m.ReceiptHandle), VisibilityTimeout: secs}); err != nil {
		// It comes back after the queue's visibility timeout instead.
		d.log.Warn("cannot set the retry backoff", "message", m.ID, "err", err)
	}
}

// deadLetter writes a dead-letter entry after a failed attempt (or none)
// that is not retried; the message is then handled. A failed write retries
// the message instead, so nothing is lost.
func (d *Deliverer) deadLetter(ctx context.Context, m *Message, b *body, ce []byte, a Attempt, f *SubFigures) bool {
	attempts := 1
	if d.tries == nil || m.ReceiveCount > 1 {
		attempts = d.failed(ctx, m, b) // this one after the earlier ones, if any
	}
	return d.deadLetterAfter(ctx, m, b, ce, a, f, attempts)
}

// deadLetterAfter writes a dead-letter entry after attempts failed ones.
func (d *Deliverer) deadLetterAfter(ctx context.Context, m *Message, b *body, ce []byte, a Attempt, f *SubFigures, attempts int) bool {
	if ce == nil && d.events != nil {
		if ev, err := d.events.Event(ctx, b.WorkflowID, b.EventID); err == nil {
			ce = event.Append(nil, &ev, false)
		}
	}
	e := Entry{Subscription: b.Subscription, EventID: b.EventID, WorkflowID: b.WorkflowID, Event: ce,
		Status: a.Status, Attempts: attempts, At: d.now()}
	if a.Err != nil {
		e.Error = a.Err.Error()
	}
	if err := d.dl.Put(ctx, e); err != nil {
		d.log.Error("cannot write a dead-letter entry; the message is retried", "subscription", b.Subscription, "event", b.EventID, "err", err)
		f.Retrying++
		return false
	}
	f.DeadLettered++
	d.handled(ctx, m, b)
	d.log.Warn("delivery dead-lettered", "subscription", b.Subscription, "event", b.EventID, "status", a.Status, "err", e.Error)
	return true
}

// disable sets a subscription disabled (its endpoint answered 410 Gone).
func (d *Deliverer) disable(ctx context.Context, sub *live) {
	d.markDisabled(sub.Name)
	s, err := d.subs.Get(ctx, sub.Name)
	if err == nil && s.State != subscription.Disabled {
		s.State = subscription.Disabled
		_, _, err = d.subs.Put(ctx, s)
	}
	if err != nil && !errors.Is(err, subscription.ErrNotFound) {
		d.log.Error("cannot disable subscription", "subscription", sub.Name, "err", err)
		return
	}
	d.log.Warn("subscription disabled: its endpoint answered 410 Gone", "subscription", sub.Name)
}

// dedupToken is a valid MessageDeduplicationId for key.
func dedupToken(key string) string {
	if len(key) <= 128 && printable(key) {
		return key
	}
	s := sha256.Sum256([]byte(key))
	return hex.EncodeToString(s[:])
}

func printable(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '!' || s[i] > '~' {
			return false
		}
	}
	return true
}
