package route

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/flowbus/flowbus/shared/event"
)

// ErrStopped means some of an Enqueue call's messages were not accepted
// after every attempt: their groups stopped at the first one not sent, so
// no later message of a group went ahead of it.
var ErrStopped = errors.New("delivery queue refused messages")

// Enqueuer sends chosen events to one subscription's groups of the delivery
// queue, without matching: a replay aimed at one subscription. Messages are
// built and sent as the Router's (same body, MessageGroupId and
// deduplication id; one entry per group per SendMessageBatch call), so a
// subscription's deliverer cannot tell them from routed ones. Build it once
// per cold start; it is safe for concurrent use.
type Enqueuer struct {
	r *Router
}

// NewEnqueuer returns an Enqueuer sending to cfg.QueueURL (cfg.Refresh is
// not used); log nil discards logs.
func NewEnqueuer(cfg Config, sender Sender, log *slog.Logger) (*Enqueuer, error) {
	r, err := New(cfg, noSource{}, sender, log)
	if err != nil {
		return nil, err
	}
	return &Enqueuer{r: r}, nil
}

// noSource is the Router's Source for an Enqueuer, which never matches.
type noSource struct{}

func (noSource) Subscriptions(context.Context) ([]Sub, error) { return nil, nil }

// Enqueue sends sub's events to the groups of their workflows, each
// workflow's events in the order given, packed as the router packs a
// record's (up to MaxPackEvents a message): a replay of a long workflow to
// one subscription takes a call per pack, not per event. The events have no
// stream position: their Position is empty. It answers ErrStopped when a
// group stopped; Stats say how far it got.
func (q *Enqueuer) Enqueue(ctx context.Context, sub string, events []*event.Event) (Stats, error) {
	st := Stats{Events: len(events)}
	byWorkflow := map[string]*packer{}
	var workflows []string
	var buf []byte
	for i, ev := range events {
		p := byWorkflow[ev.WorkflowID]
		if p == nil {
			p = &packer{}
			p.reset(ev.WorkflowID, i)
			byWorkflow[ev.WorkflowID] = p
			workflows = append(workflows, ev.WorkflowID)
		}
		buf = event.Append(buf[:0], ev, false)
		if p.add(sub, ev, buf, Position{}) {
			st.Matched++
		}
	}
	groups := map[string][]*entry{}
	var order []string
	for _, wf := range workflows {
		byWorkflow[wf].entries(nil, func(e *entry) {
			if e.pointer == nil {
				st.Pointers++
			}
			if _, ok := groups[e.group]; !ok {
				order = append(order, e.group)
			}
			groups[e.group] = append(groups[e.group], e)
		})
	}
	if stopped := q.r.send(ctx, groups, order, &st); len(stopped) > 0 {
		return st, fmt.Errorf("enqueue to %s: %d of %d groups stopped: %w", sub, len(stopped), len(order), ErrStopped)
	}
	return st, nil
}
