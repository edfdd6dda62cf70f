package sqslocal

import (
	"crypto/sha256"
	"encoding/hex"
	"strconv"
	"strings"
	"time"
)

// FIFO queues, as SQS has them: a message group's messages are received in
// the order they were sent, and none of a group while one of its messages is
// in flight; a send whose deduplication id was seen within the last five
// minutes answers success with the first message's id and enqueues nothing.

const (
	// dedupWindow is how long SQS remembers a deduplication id.
	dedupWindow = 5 * time.Minute
	// maxFifoTokenLen bounds MessageGroupId and MessageDeduplicationId.
	maxFifoTokenLen = 128
	fifoSuffix      = ".fifo"
	fifoNameRule    = "The name of a FIFO queue can only include alphanumeric characters, hyphens, or underscores, must end with .fifo suffix and be 1 to 80 in length"
)

// Default values of the FIFO attributes of a FIFO queue.
var defaultFifoAttributes = map[string]string{
	"FifoQueue":                 "true",
	"ContentBasedDeduplication": "false",
	"DeduplicationScope":        "queue",
	"FifoThroughputLimit":       "perQueue",
}

// fifoChoices are the values an enumerated FIFO attribute takes.
var fifoChoices = map[string][]string{
	"ContentBasedDeduplication": {"true", "false"},
	"DeduplicationScope":        {"messageGroup", "queue"},
	"FifoThroughputLimit":       {"perQueue", "perMessageGroupId"},
}

// dedupEntry is a deduplication id seen: the message it enqueued and when.
type dedupEntry struct {
	id, seq string
	at      time.Time
}

// checkFifoToken applies SQS's rules to a MessageGroupId or
// MessageDeduplicationId: 1 to 128 characters, each alphanumeric or ASCII
// punctuation.
func checkFifoToken(param, v string) error {
	if v == "" || len(v) > maxFifoTokenLen {
		return errInvalidParameterValue("Value %s for parameter %s is invalid. Reason: %s must be 1 to %d characters long.", v, param, param, maxFifoTokenLen)
	}
	for i := 0; i < len(v); i++ {
		if c := v[i]; c < '!' || c > '~' {
			return errInvalidParameterValue("Value %s for parameter %s is invalid. Reason: %s can only contain alphanumeric characters and punctuation (!\"#$%%&'()*+,-./:;<=>?@[\\]^_`{|}~).", v, param, param)
		}
	}
	return nil
}

// dedupKey is where a deduplication id is remembered: per queue, or per
// message group with DeduplicationScope messageGroup.
func (q *queue) dedupKey(group, dedupID string) string {
	if q.attrs["DeduplicationScope"] == "messageGroup" {
		return group + "\x00" + dedupID
	}
	return dedupID
}

// sweepDedup forgets deduplication ids older than the window, at most once
// a second.
func (q *queue) sweepDedup(now time.Time) {
	if now.Sub(q.dedupSwept) < time.Second {
		return
	}
	q.dedupSwept = now
	for k, d := range q.dedup {
		if now.Sub(d.at) >= dedupWindow {
			delete(q.dedup, k)
		}
	}
}

// fifoFields checks the FIFO members of a message to send to FIFO queue q
// and returns its group and deduplication id.
func (q *queue) fifoFields(e sendEntry, body string) (group, dedupID string, err error) {
	if e.DelaySeconds != nil && *e.DelaySeconds != 0 {
		return "", "", errInvalidParameterValue("Value %d for parameter DelaySeconds is invalid. Reason: The request include parameter that is not valid for this queue type.", *e.DelaySeconds)
	}
	if e.MessageGroupID == nil {
		return "", "", errMissingParameter("MessageGroupId")
	}
	if err := checkFifoToken("MessageGroupId", *e.MessageGroupID); err != nil {
		return "", "", err
	}
	switch {
	case e.MessageDeduplicationID != nil:
		if err := checkFifoToken("MessageDeduplicationId", *e.MessageDeduplicationID); err != nil {
			return "", "", err
		}
		dedupID = *e.MessageDeduplicationID
	case q.attrs["ContentBasedDeduplication"] == "true":
		sum := sha256.Sum256([]byte(body))
		dedupID = hex.EncodeToString(sum[:])
	default:
		return "", "", errInvalidParameterValue("The queue should either have ContentBasedDeduplication enabled or MessageDeduplicationId provided explicitly")
	}
	return *e.MessageGroupID, dedupID, nil
}

// nextSequence returns the next sequence number of q: 20 decimal digits,
// increasing, as SQS's (which are large and not consecutive) sort.
func (q *queue) nextSequence() string {
	q.seq++
	return strconv.FormatUint(q.seqBase+q.seq, 10)
}

// isFifoName reports whether a queue name has the FIFO suffix.
func isFifoName(name string) bool { return strings.HasSuffix(name, fifoSuffix) }

// inFlight reports whether m was received and its visibility timeout is not
// over.
func (m *message) inFlight(now time.Time) bool {
	return m.receiveCount > 0 && now.Before(m.visibleAt)
}

// receiveAttempt is what a FIFO ReceiveMessage with a
// ReceiveRequestAttemptId returned: a retry with the same id within the
// window gets the same messages and receipt handles back, so an answer lost
// on the way (the client retries) does not leave its messages in flight,
// holding their groups, until their visibility timeout.
type receiveAttempt struct {
	at        time.Time
	msgs      []*message
	receipts  []string
	visibleAt []time.Time
}

// attemptWindow is how long SQS honours a ReceiveRequestAttemptId.
const attemptWindow = 5 * time.Minute

// retryAttempt returns the messages an earlier receive with attempt id
// returned, their visibility timeout reset to visibility from now, when
// none of them was deleted, received again or had its visibility changed
// since; nil otherwise (the receive then runs as a new one). Call with s.mu
// held.
func (q *queue) retryAttempt(id string, now time.Time, visibility time.Duration) []*message {
	q.sweepAttempts(now)
	a, ok := q.attempts[id]
	if !ok {
		return nil
	}
	for i, m := range a.msgs {
		if m.deleted || m.receipt != a.receipts[i] || !m.visibleAt.Equal(a.visibleAt[i]) {
			delete(q.attempts, id)
			return nil
		}
	}
	for i, m := range a.msgs {
		m.visibleAt = now.Add(visibility)
		a.visibleAt[i] = m.visibleAt
		q.received(m)
	}
	return a.msgs
}

// rememberAttempt keeps what a receive with attempt id returned. Call with
// s.mu held.
func (q *queue) rememberAttempt(id string, now time.Time, got []*message) {
	a := &receiveAttempt{at: now, msgs: got}
	for _, m := range got {
		a.receipts = append(a.receipts, m.receipt)
		a.visibleAt = append(a.visibleAt, m.visibleAt)
	}
	q.attempts[id] = a
}

// sweepAttempts forgets attempts older than the window.
func (q *queue) sweepAttempts(now time.Time) {
	for id, a := range q.attempts {
		if now.Sub(a.at) >= attemptWindow {
			delete(q.attempts, id)
		}
	}
}
