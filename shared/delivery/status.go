package delivery

import (
	"context"
	"fmt"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/flowbus/flowbus/shared/stats"
	"github.com/flowbus/flowbus/shared/subscription"
)

// statusReaders bounds the Status reads StatusSource runs at once.
const statusReaders = 8

// StatusSource gives GET /metrics every subscription's delivery figures
// (stats.DeliverySource): the subscriptions listed from Subscriptions, each
// one's Status read from Figures.
type StatusSource struct {
	Subscriptions *subscription.Store
	Figures       *Recorder
}

// DeliveryFigures reads up to limit subscriptions' figures in name order,
// and says whether there were more.
func (s StatusSource) DeliveryFigures(ctx context.Context, now time.Time, limit int) ([]stats.SubscriptionFigures, bool, error) {
	var names []string
	more, after := false, ""
	for {
		page, err := s.Subscriptions.List(ctx, after, subscription.MaxPageSize)
		if err != nil {
			return nil, false, fmt.Errorf("delivery figures: %w", err)
		}
		for _, sub := range page.Subscriptions {
			if len(names) == limit {
				more = true
				break
			}
			names = append(names, sub.Name)
		}
		if more || page.Next == "" {
			break
		}
		after = page.Next
	}
	out := make([]stats.SubscriptionFigures, len(names))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(statusReaders)
	for i, name := range names {
		g.Go(func() error {
			st, err := s.Figures.Status(gctx, name, now)
			out[i] = stats.SubscriptionFigures{Name: name, DeliveryStatus: st}
			return err
		})
	}
	if err := g.Wait(); err != nil {
		return nil, false, fmt.Errorf("delivery figures: %w", err)
	}
	return out, more, nil
}
