package delivery

import (
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	"github.com/flowbus/flowbus/shared/jsonscan"
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
	raw := []byte(s)
	b, ok := scanBody(raw)
	if !ok {
		// Anything the scan does not read as the router writes it (a key
		// spelled otherwise, a value of another type, bad JSON) takes
		// encoding/json's way, which also says what is wrong.
		b = body{}
		if err := json.Unmarshal(raw, &b); err != nil {
			return body{}, fmt.Errorf("message body: %w", err)
		}
	}
	if b.Subscription == "" || b.WorkflowID == "" || b.EventID == "" {
		return body{}, fmt.Errorf("message body: subscription, workflow_id and event_id are required")
	}
	return b, nil
}

var (
	bodyKeys     = []string{"subscription", "workflow_id", "event_id", "position", "event", "subscription_created"}
	positionKeys = []string{"shard", "seq", "sub"}
)

// scanBody reads a body as the router writes it through jsonscan, the
// result encoding/json would give (FuzzParseBody holds it to that); ok is
// false for anything else. The event is a slice of raw.
func scanBody(raw []byte) (b body, ok bool) {
	s := jsonscan.New(raw)
	if s.BeginObject() != nil {
		return body{}, false
	}
	for first, hint := true, 0; ; first = false {
		idx, _, more, err := s.NextKeyIn(first, bodyKeys, hint)
		if err != nil || (more && idx < 0) {
			return body{}, false
		}
		if !more {
			break
		}
		hint = (idx + 1) % len(bodyKeys)
		switch idx {
		case 0, 1, 2, 5:
			if s.Null() {
				continue
			}
			v, err := s.String()
			if err != nil {
				return body{}, false
			}
			switch idx {
			case 0:
				b.Subscription = v
			case 1:
				b.WorkflowID = v
			case 2:
				b.EventID = v
			default:
				b.SubscriptionCreated = v
			}
		case 3:
			if s.Null() {
				continue
			}
			if !scanPosition(s, &b.Position) {
				return body{}, false
			}
		case 4:
			v, err := s.Value()
			if err != nil {
				return body{}, false
			}
			b.Event = v
		}
	}
	return b, s.End() == nil
}

func scanPosition(s *jsonscan.Scanner, p *route.Position) bool {
	if s.BeginObject() != nil {
		return false
	}
	for first := true; ; first = false {
		idx, _, more, err := s.NextKeyIn(first, positionKeys, 0)
		if err != nil || (more && idx < 0) {
			return false
		}
		if !more {
			return true
		}
		if s.Null() {
			continue
		}
		if idx == 2 {
			n, err := s.Number()
			if err != nil {
				return false
			}
			if p.Sub, err = strconv.Atoi(string(n)); err != nil {
				return false
			}
			continue
		}
		v, err := s.String()
		if err != nil {
			return false
		}
		if idx == 0 {
			p.Shard = v
		} else {
			p.Seq = v
		}
	}
}
