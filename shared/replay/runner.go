package replay

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/flowbus/flowbus/shared/bus"
	"github.com/flowbus/flowbus/shared/event"
	"github.com/flowbus/flowbus/shared/eventstore"
	"github.com/flowbus/flowbus/shared/route"
	"github.com/flowbus/flowbus/shared/subscription"
)

// Source is where replayed events are read: a workflow's history, or every
// workflow's events page by page.
type Source interface {
	Read(ctx context.Context, workflowID string, q eventstore.Query) (eventstore.Page, error)
	ScanEvents(ctx context.Context, cursor string, limit int, fn func(event.Event) error) (string, error)
}

// Publisher puts events on one stream, keeping each workflow's order.
type Publisher interface {
	Publish(ctx context.Context, events []*event.Event) []bus.Result
}

// Enqueuer sends events to one subscription's groups of the delivery queue,
// each workflow's in the order given (route.Enqueuer).
type Enqueuer interface {
	Enqueue(ctx context.Context, subscription string, events []*event.Event) (route.Stats, error)
}

// Subscriptions finds a subscription by name (subscription.Store.Get).
type Subscriptions interface {
	Get(ctx context.Context, name string) (subscription.Subscription, error)
}

// ErrTargetGone means a replay's target subscription was deleted or
// disabled: the replay fails rather than deliver to it.
var ErrTargetGone = errors.New("the target subscription is deleted or disabled")

// ErrPaused means a run stopped because its invocation is about to end; the
// replay goes on in the next.
var ErrPaused = errors.New("replay paused: time is up for this invocation")

// Runner works on replays. Build it once per cold start.
type Runner struct {
	Records    *Records
	Source     Source
	Publishers func(stream string) Publisher // "" is the bus stream
	// Enqueuer and Subscriptions serve replays to one subscription; a
	// runner without them fails such replays.
	Enqueuer      Enqueuer
	Subscriptions Subscriptions
	PageSize      int           // events per step; default 500
	Margin        time.Duration // stop this long before the deadline; default 5s
	Now           func() time.Time
}

func (r *Runner) now() time.Time {
	if r.Now != nil {
		return r.Now()
	}
	return time.Now()
}

// Run works on a replay until it is done, cancelled, failed, or ctx's
// deadline comes within Margin (ErrPaused: call Run again, from another
// invocation). Progress is saved after every page, so a run that dies
// re-publishes at most one page.
func (r *Runner) Run(ctx context.Context, id string) (*Record, error) {
	return r.RunPages(ctx, id, 0)
}

// RunPages is Run stopping after at most pages pages (0: no limit), with
// ErrPaused when the replay is not done by then.
func (r *Runner) RunPages(ctx context.Context, id string, pages int) (*Record, error) {
	margin := r.Margin
	if margin == 0 {
		margin = 5 * time.Second
	}
	pageSize := r.PageSize
	if pageSize <= 0 {
		pageSize = 500
	}
	for stepped := 0; ; {
		rec, err := r.Records.Get(ctx, id)
		if err != nil {
			return nil, err
		}
		if rec.State.Terminal() {
			return rec, nil
		}
		if pages > 0 && stepped == pages {
			return rec, ErrPaused
		}
		if rec.CancelRequested {
			rec.State, rec.Updated = Cancelled, r.now()
			return rec, r.Records.Save(ctx, rec)
		}
		if d, ok := ctx.Deadline(); ok && time.Until(d) < margin {
			return rec, ErrPaused
		}
		// A page once begun is finished and saved even if the invocation's
		// context ends meanwhile (it has margin left when it starts): a page
		// cut off halfway would be sent again whole by the next invocation.
		pageCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), margin)
		done, err := r.step(pageCtx, rec, pageSize)
		if err != nil {
			timedOut := pageCtx.Err() != nil
			cancel()
			if timedOut {
				return rec, ErrPaused // the page ran out of time: it is done again next time
			}
			rec.Error = err.Error()
			rec.State = Failed
			rec.Updated = r.now()
			if serr := r.Records.Save(ctx, rec); serr != nil {
				return nil, errors.Join(err, serr)
			}
			return rec, err
		}
		rec.State, rec.Updated = Running, r.now()
		if done {
			rec.State = Completed
		}
		err = r.Records.Save(pageCtx, rec)
		cancel()
		if err != nil {
			if errors.Is(err, ErrConflict) {
				continue // cancelled meanwhile: the next loop sees it
			}
			return nil, err
		}
		stepped++
		if done {
			return rec, nil
		}
	}
}

// step replays one page and moves rec's position past it.
func (r *Runner) step(ctx context.Context, rec *Record, pageSize int) (done bool, err error) {
	spec := rec.Spec
	q := eventstore.Query{Types: spec.Types, Limit: pageSize}
	if spec.From != nil {
		q.From = *spec.From
	}
	if spec.To != nil {
		q.To = *spec.To
	}
	var evs []*event.Event
	var next string
	if spec.WorkflowID != "" {
		if rec.Position != "" {
			if q.After, err = strconv.ParseUint(rec.Position, 10, 64); err != nil {
				return false, fmt.Errorf("position %q: %w", rec.Position, err)
			}
		}
		page, err := r.Source.Read(ctx, spec.WorkflowID, q)
		if err != nil {
			return false, err
		}
		for i := range page.Events {
			evs = append(evs, &page.Events[i])
		}
		switch {
		case page.Next != 0:
			next = strconv.FormatUint(page.Next, 10)
		case len(evs) > 0:
			next = strconv.FormatUint(evs[len(evs)-1].Sequence, 10)
		default:
			next = rec.Position
		}
		done = page.Next == 0
	} else {
		next, err = r.Source.ScanEvents(ctx, rec.Position, pageSize, func(e event.Event) error {
			if eventstore.Matches(q.Types, e.Type) && q.MatchesTime(e.Time) {
				evs = append(evs, &e)
			}
			return nil
		})
		if err != nil {
			return false, err
		}
		done = next == ""
	}
	if len(evs) > 0 {
		mark := []byte(`"` + rec.ID + `"`)
		at := []byte(`"` + r.now().UTC().Format(time.RFC3339Nano) + `"`)
		for _, e := range evs {
			e.Extensions = append(e.Extensions, event.Extension{Name: event.AttrReplayID, Value: mark}, event.Extension{Name: event.AttrReplayedAt, Value: at})
		}
		if spec.Target.Subscription != "" {
			sent, err := r.enqueue(ctx, spec.Target, evs)
			if err != nil {
				return false, err
			}
			rec.Unmatched += int64(len(evs) - len(sent))
			evs = sent
		} else {
			for _, res := range r.Publishers(spec.Target.Stream).Publish(ctx, evs) {
				if res.Err != nil {
					return false, fmt.Errorf("publish: %w", res.Err)
				}
			}
		}
	}
	rec.Events += int64(len(evs))
	rec.Position = next
	return done, nil
}

// enqueue sends a page of marked events to the target subscription's groups
// of the delivery queue, those its pattern matches unless target.Match is
// false, and returns the events sent. The subscription is read again for
// every page, so a replay stops when it is deleted or disabled and follows a
// changed pattern.
func (r *Runner) enqueue(ctx context.Context, target Target, evs []*event.Event) ([]*event.Event, error) {
	if r.Enqueuer == nil || r.Subscriptions == nil {
		return nil, fmt.Errorf("subscription %s: this replay runner has no delivery queue", target.Subscription)
	}
	sub, err := r.Subscriptions.Get(ctx, target.Subscription)
	if errors.Is(err, subscription.ErrNotFound) {
		return nil, fmt.Errorf("subscription %s: %w", target.Subscription, ErrTargetGone)
	}
	if err != nil {
		return nil, err
	}
	if sub.State != subscription.Enabled {
		return nil, fmt.Errorf("subscription %s is %s: %w", target.Subscription, sub.State, ErrTargetGone)
	}
	if target.Matches() {
		p, err := sub.CompilePattern()
		if err != nil {
			return nil, fmt.Errorf("subscription %s: pattern: %w", target.Subscription, err)
		}
		var kept []*event.Event
		var buf []byte
		for _, e := range evs {
			buf = event.Append(buf[:0], e, false)
			if ok, err := p.MatchJSON(buf); err == nil && ok {
				kept = append(kept, e)
			}
		}
		evs = kept
	}
	if len(evs) == 0 {
		return nil, nil
	}
	if _, err := r.Enqueuer.Enqueue(ctx, target.Subscription, evs); err != nil {
		return nil, fmt.Errorf("enqueue: %w", err)
	}
	return evs, nil
}
