package route

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"strconv"

	"github.com/flowbus/flowbus/shared/event"
)

// A record's events of one workflow that one subscription matches go in
// packed messages: one message carries up to MaxPackEvents of them, in
// stream order, within MaxPackBytes. A pack never spans records, so a
// retried batch packs a record as before and the queue's deduplication still
// drops what was accepted. Packing cuts the queue's calls, the deliverer's
// invocations and their costs per event by the pack's size; the deliverer
// delivers a pack's events in order and keeps its progress when one fails
// (shared/delivery).
const (
	MaxPackEvents = 25
	MaxPackBytes  = 64 << 10
)

// PackedEvent is one event of a packed message: its id, its stream position
// and, unless the pack went as pointers, the event itself.
type PackedEvent struct {
	EventID  string          `json:"event_id"`
	Position Position        `json:"position"`
	Event    json.RawMessage `json:"event,omitempty"`
}

// packItem is a matched event waiting to be packed.
type packItem struct {
	id, dedupKey string
	pos          Position
	cloudEvent   []byte // its own copy
}

// packer gathers one record's matches per subscription, in order.
type packer struct {
	workflowID string
	record     int
	subs       []string
	items      map[string][]packItem
	seen       map[packSeen]struct{}
}

// packSeen is a (subscription, dedup key) pair already in a record's packs.
type packSeen struct{ sub, key string }

func (p *packer) reset(workflowID string, record int) {
	p.workflowID, p.record, p.subs = workflowID, record, p.subs[:0]
	clear(p.items)
	clear(p.seen)
}

// add gathers a match, unless the record's earlier events already gave sub
// this event (same id, same replay): false then. Sent one message each,
// the second took the first's deduplication id and the queue dropped it;
// one pack would deliver it twice.
func (p *packer) add(sub string, ev *event.Event, cloudEvent []byte, pos Position) bool {
	if p.items == nil {
		p.items, p.seen = map[string][]packItem{}, map[packSeen]struct{}{}
	}
	key := dedupKey(ev)
	if _, dup := p.seen[packSeen{sub, key}]; dup {
		return false
	}
	p.seen[packSeen{sub, key}] = struct{}{}
	if _, ok := p.items[sub]; !ok {
		p.subs = append(p.subs, sub)
	}
	p.items[sub] = append(p.items[sub], packItem{id: ev.ID, dedupKey: key, pos: pos, cloudEvent: append([]byte(nil), cloudEvent...)})
	return true
}

// entries packs what was gathered: for each subscription in order of its
// first match, its events in order, in as few messages as the limits allow.
func (p *packer) entries(created map[string]string, yield func(*entry)) {
	for _, sub := range p.subs {
		items := p.items[sub]
		for len(items) > 0 {
			n, size := 0, 0
			for n < len(items) && n < MaxPackEvents {
				size += len(items[n].cloudEvent) + len(items[n].id) + packItemOverhead
				if n > 0 && size > MaxPackBytes {
					break
				}
				n++
			}
			var e *entry
			if n == 1 {
				it := items[0]
				e = newEntry(sub, created[sub], p.workflowID, it.id, token(sub, it.dedupKey), it.cloudEvent, it.pos)
			} else {
				e = newPack(sub, created[sub], p.workflowID, items[:n])
			}
			e.record = p.record
			yield(e)
			items = items[n:]
		}
	}
}

// packItemOverhead is a packed event's bytes besides its id and event: the
// keys, quotes and a position.
const packItemOverhead = 160

// packHeader is a packed body's fields before its events.
type packHeader struct {
	Subscription        string `json:"subscription"`
	WorkflowID          string `json:"workflow_id"`
	SubscriptionCreated string `json:"subscription_created,omitempty"`
	Pack                string `json:"pack"`
}

// newPack is the entry of a packed message: the body with every event,
// and the pointer body (ids and positions only) should SQS refuse it.
func newPack(sub, created, workflowID string, items []packItem) *entry {
	dedup := packDedup(sub, workflowID, items)
	head, _ := json.Marshal(packHeader{Subscription: sub, WorkflowID: workflowID, SubscriptionCreated: created, Pack: dedup})
	build := func(inline bool) []byte {
		b := append([]byte(nil), head[:len(head)-1]...)
		b = append(b, `,"events":[`...)
		for i, it := range items {
			if i > 0 {
				b = append(b, ',')
			}
			id, _ := json.Marshal(it.id)
			pos, _ := json.Marshal(it.pos)
			b = append(b, `{"event_id":`...)
			b = append(b, id...)
			b = append(b, `,"position":`...)
			b = append(b, pos...)
			if inline {
				b = append(b, `,"event":`...)
				b = append(b, it.cloudEvent...)
			}
			b = append(b, '}')
		}
		return append(b, "]}"...)
	}
	return &entry{group: GroupID(sub, workflowID), dedup: dedup, body: build(true), pointer: build(false), events: len(items)}
}

// packDedup is a pack's deduplication id: the subscription and a hash of
// its workflow and every event's key, which a single event's id (never
// starting with "=" after the "/", see token) cannot take. Event ids are
// unique within a workflow only, and the deliverer keeps a pack's progress
// under this id (sub#<name>/pk#<pack>): the workflow keeps two workflows'
// packs of the same ids apart, and every key keeps apart two packs that
// differ only between their first and last events (hashing the ends and
// the size had the queue drop the second as a duplicate).
func packDedup(sub, workflowID string, items []packItem) string {
	h := sha256.New()
	write := func(s string) {
		h.Write(strconv.AppendInt(nil, int64(len(s)), 10))
		h.Write([]byte{0})
		h.Write([]byte(s))
	}
	write(workflowID)
	for _, it := range items {
		write(it.dedupKey)
	}
	return sub + "/=" + hex.EncodeToString(h.Sum(nil)[:20])
}
