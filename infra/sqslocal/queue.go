package sqslocal

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"maps"
	"strings"
	"time"
)

// queue is one standard or FIFO queue. Every field is guarded by Server.mu.
type queue struct {
	name     string
	fifo     bool
	arn      string
	created  time.Time
	modified time.Time
	attrs    map[string]string // settable attributes, normalized, defaults included
	redrive  *redrivePolicy    // parsed RedrivePolicy; nil when unset
	// msgs holds the messages in the order they were sent, deleted ones
	// included until the next compaction; byID holds the live ones.
	msgs      []*message
	byID      map[string]*message
	dead      int           // deleted entries still in msgs
	changed   chan struct{} // closed, and replaced, when messages may have become receivable
	lastPurge time.Time
	deleted   bool
	// FIFO queues only: deduplication ids seen within the window, by
	// dedupKey, and the sequence numbers handed out.
	dedup      map[string]dedupEntry
	dedupSwept time.Time
	seqBase    uint64
	seq        uint64
	// attempts are the receives made with a ReceiveRequestAttemptId, by id.
	attempts map[string]*receiveAttempt
	// groupLive counts each group's live messages and inflight holds the
	// messages received and perhaps still in flight (FIFO queues only), so
	// that a receive finds the groups it may not take from without reading
	// every message, and answers at once when every group is held.
	groupLive map[string]int
	inflight  map[*message]struct{}
	// expired is when expire last ran: it reads every message, at most
	// once a second.
	expired time.Time
}

// message is one message and its delivery state.
type message struct {
	id           string
	body         string
	md5Body      string
	attrs        map[string]attributeValue
	sysAttrs     map[string]attributeValue
	md5SysAttrs  string
	groupID      string
	dedupID      string // FIFO queues only
	seq          string // FIFO queues only: its SequenceNumber
	sent         time.Time
	visibleAt    time.Time // end of the delay, or of the current visibility timeout
	receiveCount int
	firstReceive time.Time
	lastReceive  time.Time
	receipt      string // the receipt handle of the latest receive
	deleted      bool
}

// Default values of the settable attributes, as SQS has them.
var defaultQueueAttributes = map[string]string{
	"DelaySeconds":                  "0",
	"MaximumMessageSize":            "262144",
	"MessageRetentionPeriod":        "345600",
	"ReceiveMessageWaitTimeSeconds": "0",
	"VisibilityTimeout":             "30",
	"SqsManagedSseEnabled":          "true",
}

func newQueue(name, region string, now time.Time, fifo bool) *queue {
	q := &queue{
		name:     name,
		fifo:     fifo,
		arn:      queueARN(region, name),
		created:  now,
		modified: now,
		attrs:    maps.Clone(defaultQueueAttributes),
		byID:     make(map[string]*message),
		changed:  make(chan struct{}),
	}
	if fifo {
		maps.Copy(q.attrs, defaultFifoAttributes)
		q.dedup = make(map[string]dedupEntry)
		q.attempts = make(map[string]*receiveAttempt)
		q.groupLive = make(map[string]int)
		q.inflight = make(map[*message]struct{})
		// 20 digits from the start, increasing across queues created later.
		q.seqBase = 10_000_000_000_000_000_000 + uint64(now.UnixMicro())*1000
	}
	return q
}

func queueARN(region, name string) string {
	return "arn:aws:sqs:" + region + ":" + accountID + ":" + name
}

// seconds returns an integer attribute; its value was validated when set.
func (q *queue) seconds(name string) time.Duration {
	return time.Duration(atoiOrZero(q.attrs[name])) * time.Second
}

func (q *queue) intAttr(name string) int {
	return atoiOrZero(q.attrs[name])
}

// signal wakes every long poll waiting on the queue.
func (q *queue) signal() {
	close(q.changed)
	q.changed = make(chan struct{})
}

func (q *queue) push(m *message) {
	q.msgs = append(q.msgs, m)
	q.byID[m.id] = m
	if q.fifo {
		q.groupLive[m.groupID]++
	}
	q.signal()
}

// received notes that m was received (or its visibility changed): it may
// be in flight until m.visibleAt.
func (q *queue) received(m *message) {
	if q.fifo {
		q.inflight[m] = struct{}{}
	}
}

// heldGroups returns the groups of a FIFO queue with a message in flight,
// and the earliest time one of those messages becomes visible again (zero
// if none); it forgets the messages no longer in flight.
func (q *queue) heldGroups(now time.Time) (held map[string]bool, next time.Time) {
	held = make(map[string]bool)
	for m := range q.inflight {
		if m.deleted || !m.inFlight(now) {
			delete(q.inflight, m)
			continue
		}
		held[m.groupID] = true
		if next.IsZero() || m.visibleAt.Before(next) {
			next = m.visibleAt
		}
	}
	return held, next
}

// remove deletes m. Its slot in q.msgs stays until the next compact, so that
// removing while iterating over q.msgs is safe.
func (q *queue) remove(m *message) {
	if m.deleted {
		return
	}
	m.deleted = true
	delete(q.byID, m.id)
	q.dead++
	if q.fifo {
		delete(q.inflight, m)
		if q.groupLive[m.groupID]--; q.groupLive[m.groupID] <= 0 {
			delete(q.groupLive, m.groupID)
		}
	}
}

// compact drops deleted messages from q.msgs once they are the majority.
func (q *queue) compact() {
	if q.dead <= 64 || q.dead <= len(q.msgs)/2 {
		return
	}
	live := q.msgs[:0]
	for _, m := range q.msgs {
		if !m.deleted {
			live = append(live, m)
		}
	}
	clear(q.msgs[len(live):])
	q.msgs = live
	q.dead = 0
}

// expire removes the messages older than the retention period, reading
// them at most once a second (the period is given in seconds).
func (q *queue) expire(now time.Time) {
	if now.Sub(q.expired) < time.Second && !now.Before(q.expired) {
		return
	}
	q.expired = now
	cutoff := now.Add(-q.seconds("MessageRetentionPeriod"))
	for _, m := range q.msgs {
		if !m.deleted && !m.sent.After(cutoff) {
			q.remove(m)
		}
	}
}

func (q *queue) purge(now time.Time) {
	for _, m := range q.msgs {
		m.deleted = true
	}
	q.msgs = nil
	q.byID = make(map[string]*message)
	q.dead = 0
	if q.fifo {
		q.groupLive = make(map[string]int)
		q.inflight = make(map[*message]struct{})
	}
	q.lastPurge = now
}

// Counts is how many messages a queue holds, by state, as the
// ApproximateNumberOfMessages* attributes report them (exactly, here).
type Counts struct {
	Visible  int // receivable now
	InFlight int // received, visibility timeout not over
	Delayed  int // sent with a delay that is not over
}

func (q *queue) counts(now time.Time) Counts {
	var c Counts
	for _, m := range q.msgs {
		switch {
		case m.deleted:
		case !now.Before(m.visibleAt):
			c.Visible++
		case m.receiveCount == 0:
			c.Delayed++
		default:
			c.InFlight++
		}
	}
	return c
}

// receipt handles name the queue, the message and the receive, so that a
// handle from another queue, or from an earlier receive, is recognised.
func newReceipt(queueName, msgID string) string {
	nonce := make([]byte, 16)
	_, _ = rand.Read(nonce) // never fails (crypto/rand)
	raw := queueName + "\n" + msgID + "\n" + hex.EncodeToString(nonce)
	return base64.RawURLEncoding.EncodeToString([]byte(raw))
}

// lookupReceipt resolves a receipt handle. found is false when the handle is
// well formed but its message no longer exists (deleted, purged or expired).
// The error is ReceiptHandleIsInvalid when the handle is malformed, is another
// queue's, or was superseded by a later receive of the message.
func (q *queue) lookupReceipt(handle string) (m *message, found bool, err error) {
	raw, decErr := base64.RawURLEncoding.DecodeString(handle)
	parts := strings.Split(string(raw), "\n")
	if handle == "" || decErr != nil || len(parts) != 3 || parts[0] != q.name {
		return nil, false, errReceiptHandleIsInvalid("The input receipt handle %q is not a valid receipt handle.", handle)
	}
	m, found = q.byID[parts[1]]
	if !found {
		return nil, false, nil
	}
	if m.receipt != handle {
		return nil, false, errReceiptHandleIsInvalid("The receipt handle has expired: the message was received again since.")
	}
	return m, true, nil
}

// newID returns a random version 4 UUID, the form of SQS message ids.
func newID() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b) // never fails (crypto/rand)
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b)
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
}
