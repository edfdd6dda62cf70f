package route

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/flowbus/flowbus/shared/subscription"
)

// Lister is the subscription store's listing (subscription.Store.List):
// routing needs the patterns only, not the secrets Snapshot opens.
type Lister interface {
	List(ctx context.Context, after string, limit int) (subscription.Page, error)
}

// StoreSource lists the enabled subscriptions of a subscription store.
type StoreSource struct {
	Store Lister
	Log   *slog.Logger // nil discards
}

// Subscriptions reads every page and compiles the enabled subscriptions'
// patterns. A stored pattern that no longer compiles (it was valid when
// stored) is logged and left out rather than stopping every subscription.
func (s StoreSource) Subscriptions(ctx context.Context) ([]Sub, error) {
	var out []Sub
	after := ""
	for {
		page, err := s.Store.List(ctx, after, 0)
		if err != nil {
			return nil, fmt.Errorf("list subscriptions: %w", err)
		}
		for i := range page.Subscriptions {
			sub := &page.Subscriptions[i]
			if sub.State != subscription.Enabled {
				continue
			}
			p, err := sub.CompilePattern()
			if err != nil {
				if s.Log != nil {
					s.Log.Error("subscription pattern does not compile; not routed", "subscription", sub.Name, "err", err)
				}
				continue
			}
			out = append(out, Sub{Name: sub.Name, Pattern: p, Created: sub.Created})
		}
		if page.Next == "" {
			return out, nil
		}
		after = page.Next
	}
}
