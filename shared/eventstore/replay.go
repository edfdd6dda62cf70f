package eventstore

import (
	"context"
	"fmt"

	"github.com/flowbus/flowbus/shared/event"
)

// Reader reads pages of a workflow's events: the one method of Store that
// ReplayEvents uses.
type Reader interface {
	Read(ctx context.Context, workflowID string, q Query) (Page, error)
}

// ReplayEvents calls fn with each of a workflow's events in order, page by
// page, with q's filters: the design note's replay_events(workflow_id,
// callback) for Go users. q.After starts past a position; q.Limit is the page
// size. An error from fn stops the replay and is returned.
func ReplayEvents(ctx context.Context, s Reader, workflowID string, q Query, fn func(event.Event) error) error {
	for {
		page, err := s.Read(ctx, workflowID, q)
		if err != nil {
			return fmt.Errorf("replay %s: %w", workflowID, err)
		}
		for _, e := range page.Events {
			if err := fn(e); err != nil {
				return err
			}
		}
		if page.Next == 0 {
			return nil
		}
		q.After = page.Next
	}
}
