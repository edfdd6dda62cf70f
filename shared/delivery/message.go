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

	// holdVisibility leaves a retry's backoff to the caller (a pack sets it
	// once its progress is written).
	holdVisibility bool
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
	if b.Subscription == "" || b.WorkflowID == "" {
		return body{}, fmt.Errorf("message body: subscription and workflow_id are required")
	}
	if len(b.Events) == 0 && b.EventID == "" {
		return body{}, fmt.Errorf("message body: event_id, or events, is required")
	}
	for i := range b.Events {
		if b.Events[i].EventID == "" {
			return body{}, fmt.Errorf("message body: events[%d].event_id is required", i)
		}
	}
	if len(b.Events) > 0 && b.Pack == "" {
		return body{}, fmt.Errorf("message body: a body with events needs its pack")
	}
	return b, nil
}

// bodyItems are b's events as single bodies, in order: b itself when it
// carries one event, one per event of a pack.
func bodyItems(b *body) []body {
	if len(b.Events) == 0 {
		return []body{*b}
	}
	out := make([]body, len(b.Events))
	for i, e := range b.Events {
		out[i] = body{Subscription: b.Subscription, WorkflowID: b.WorkflowID, SubscriptionCreated: b.SubscriptionCreated,
			EventID: e.EventID, Position: e.Position, Event: e.Event}
	}
	return out
}

var (
	bodyKeys     = []string{"subscription", "workflow_id", "event_id", "position", "event", "subscription_created", "pack", "events"}
	packedKeys   = []string{"event_id", "position", "event"}
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
		case 0, 1, 2, 5, 6:
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
			case 5:
				b.SubscriptionCreated = v
			default:
				b.Pack = v
			}
		case 7:
			if s.Null() {
				b.Events = nil
				continue
			}
			evs, ok := scanPacked(s)
			if !ok {
				return body{}, false
			}
			b.Events = evs
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

// scanPacked reads a pack's events as encoding/json would into
// []route.PackedEvent.
func scanPacked(s *jsonscan.Scanner) ([]route.PackedEvent, bool) {
	if s.BeginArray() != nil {
		return nil, false
	}
	evs := []route.PackedEvent{}
	for first := true; ; first = false {
		more, err := s.NextElement(first)
		if err != nil {
			return nil, false
		}
		if !more {
			return evs, true
		}
		var e route.PackedEvent
		if s.Null() {
			evs = append(evs, e)
			continue
		}
		if s.BeginObject() != nil {
			return nil, false
		}
		for first := true; ; first = false {
			idx, _, more, err := s.NextKeyIn(first, packedKeys, 0)
			if err != nil || (more && idx < 0) {
				return nil, false
			}
			if !more {
				break
			}
			switch idx {
			case 0:
				if s.Null() {
					continue
				}
				if e.EventID, err = s.String(); err != nil {
					return nil, false
				}
			case 1:
				if s.Null() {
					continue
				}
				if !scanPosition(s, &e.Position) {
					return nil, false
				}
			case 2:
				v, err := s.Value()
				if err != nil {
					return nil, false
				}
				e.Event = v
			}
		}
		evs = append(evs, e)
	}
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
