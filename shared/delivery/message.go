package delivery

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/flowbus/flowbus/shared/route"
)

// Message is one message of the delivery queue, as the event source
// mapping hands it over.
type Message struct {
	ID            string
	ReceiptHandle string
	Body          string
	GroupID       string
	// ReceiveCount is ApproximateReceiveCount: the attempt this is (1 for
	// the first).
	ReceiveCount int
	// SentAt is when the message was sent to the queue (by the router, or
	// by a redrive): the event's age is counted from it.
	SentAt time.Time
}

// body is a message body: route.Pointer, the event inline when it fit.
type body = route.Pointer

func parseBody(s string) (body, error) {
	var b body
	if err := json.Unmarshal([]byte(s), &b); err != nil {
		return body{}, fmt.Errorf("message body: %w", err)
	}
	if b.Subscription == "" || b.WorkflowID == "" || b.EventID == "" {
		return body{}, fmt.Errorf("message body: subscription, workflow_id and event_id are required")
	}
	return b, nil
}
