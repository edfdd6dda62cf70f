package delivery

import (
	"context"
	"time"
)

// forcedReloadEvery bounds the reloads that messages of a subscription
// newer than the snapshot force.
const forcedReloadEvery = time.Second

// current finds the subscription a message was routed for. The router
// writes the subscription's creation time into each message: a message of
// a subscription deleted (and perhaps created again under its name) is its
// predecessor's, and current answers nil for it, as for a deleted one. A
// message newer than the subscription this process knows (created again
// since the last reload, or known as deleted) reloads the snapshot first,
// at most once per forcedReloadEvery. Messages without the time (replays
// and redrives, sent for the subscription as it is) take the subscription
// as it is.
func (d *Deliverer) current(ctx context.Context, b *body) (*live, error) {
	sub, err := d.lookup(ctx, b.Subscription)
	if err != nil || b.SubscriptionCreated == "" {
		return sub, err
	}
	created, err := time.Parse(time.RFC3339Nano, b.SubscriptionCreated)
	if err != nil {
		return sub, nil // unreadable: as if absent
	}
	if sub != nil && sub.Created.Equal(created) {
		return sub, nil
	}
	if sub == nil || sub.Created.Before(created) {
		d.mu.Lock()
		if d.now().Sub(d.loadedAt) >= forcedReloadEvery {
			d.loadedAt = time.Time{}
		}
		d.mu.Unlock()
		if err := d.refresh(ctx); err != nil {
			return nil, err
		}
		if sub, err = d.lookup(ctx, b.Subscription); err != nil || sub == nil {
			return sub, err
		}
		if sub.Created.Equal(created) {
			return sub, nil
		}
	}
	return nil, nil
}
