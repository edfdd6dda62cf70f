package sqslocal

import (
	"context"
	"errors"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Message operations: SendMessage(Batch), ReceiveMessage, DeleteMessage(Batch),
// ChangeMessageVisibility(Batch). All but ReceiveMessage, which waits without
// the lock, run through onQueue: with s.mu held, on the queue looked up.

func (s *Server) sendMessage(q *queue, in sendEntry) (any, error) {
	return q.send(in, time.Now())
}

// send validates one message and enqueues it, unless it is a FIFO queue's
// duplicate: that answers success with the first message's id and sequence
// number, and enqueues nothing.
func (q *queue) send(e sendEntry, now time.Time) (sendOutput, error) {
	m, err := q.newMessage(e, now)
	if err != nil {
		return sendOutput{}, err
	}
	if q.fifo {
		q.sweepDedup(now)
		key := q.dedupKey(m.groupID, m.dedupID)
		if d, ok := q.dedup[key]; ok && now.Sub(d.at) < dedupWindow {
			res := sendResult(m)
			res.MessageID, res.SequenceNumber = d.id, d.seq
			return res, nil
		}
		m.seq = q.nextSequence()
		q.dedup[key] = dedupEntry{id: m.id, seq: m.seq, at: now}
	}
	q.push(m)
	return sendResult(m), nil
}

func (s *Server) sendMessageBatch(q *queue, in sendBatchInput) (any, error) {
	ids := make([]string, len(in.Entries))
	size := 0
	for i, e := range in.Entries {
		ids[i] = e.ID
		if e.MessageBody != nil {
			size += len(*e.MessageBody)
		}
		size += attributesSize(e.MessageAttributes)
	}
	if err := checkBatch("SendMessageBatchRequestEntry", ids); err != nil {
		return nil, err
	}
	if size > maxMessageSize {
		return nil, errBatchRequestTooLong(size)
	}
	out := sendBatchOutput{Successful: []sendOutput{}, Failed: []batchErrorEntry{}}
	now := time.Now()
	for _, e := range in.Entries {
		res, err := q.send(e, now)
		if err != nil {
			out.Failed = append(out.Failed, batchFailure(e.ID, err))
			continue
		}
		res.ID = e.ID
		out.Successful = append(out.Successful, res)
	}
	return out, nil
}

// checkBatch applies the rules every batch operation shares: 1 to 10 entries
// with distinct, well-formed ids.
func checkBatch(entryName string, ids []string) error {
	switch {
	case len(ids) == 0:
		return errEmptyBatchRequest(entryName)
	case len(ids) > maxBatchEntries:
		return errTooManyEntriesInBatchRequest(len(ids))
	}
	return checkBatchEntryIDs(ids)
}

// batchFailure is the Failed entry of a batch for err.
func batchFailure(id string, err error) batchErrorEntry {
	var ae *apiError
	if !errors.As(err, &ae) {
		return batchErrorEntry{ID: id, Code: "InternalError", Message: "internal error"}
	}
	return batchErrorEntry{ID: id, SenderFault: ae.sender, Code: ae.code(), Message: ae.message}
}

func sendResult(m *message) sendOutput {
	return sendOutput{
		MessageID:                    m.id,
		MD5OfMessageBody:             m.md5Body,
		MD5OfMessageAttributes:       md5OfAttributes(m.attrs),
		MD5OfMessageSystemAttributes: m.md5SysAttrs,
		SequenceNumber:               m.seq,
	}
}

// newMessage validates one message to send to q and builds it.
func (q *queue) newMessage(e sendEntry, now time.Time) (*message, error) {
	if e.MessageBody == nil || *e.MessageBody == "" {
		return nil, errMissingParameter("MessageBody")
	}
	body := *e.MessageBody
	if r, bad := firstDisallowedRune(body); bad {
		return nil, errInvalidMessageContents("Invalid binary character '#x%X' was found in the message body, the set of allowed characters is %s", r, allowedCharactersRule)
	}
	if len(e.MessageAttributes) > maxMessageAttributes {
		return nil, errInvalidParameterValue("Number of message attributes [%d] exceeds the allowed maximum [%d].", len(e.MessageAttributes), maxMessageAttributes)
	}
	for _, name := range slices.Sorted(maps.Keys(e.MessageAttributes)) {
		if err := checkAttributeName(name); err != nil {
			return nil, errInvalidParameterValue("%s", err.Error())
		}
		if err := checkAttributeValue(name, e.MessageAttributes[name]); err != nil {
			return nil, err
		}
	}
	for name, a := range e.MessageSystemAttributes {
		if name != "AWSTraceHeader" {
			return nil, errInvalidParameterValue("Message system attribute name '%s' is invalid.", name)
		}
		if a.DataType != "String" || a.StringValue == "" || a.BinaryValue != nil {
			return nil, errInvalidParameterValue("Message system attribute 'AWSTraceHeader' must have DataType String and a StringValue.")
		}
	}
	limit := q.intAttr("MaximumMessageSize")
	if size := len(body) + attributesSize(e.MessageAttributes); size > limit {
		return nil, errInvalidParameterValue("One or more parameters are invalid. Reason: Message must be shorter than %d bytes.", limit)
	}
	delay := q.seconds("DelaySeconds")
	if q.fifo {
		group, dedupID, err := q.fifoFields(e, body)
		if err != nil {
			return nil, err
		}
		return &message{
			id: newID(), body: body, md5Body: md5Hex(body),
			attrs: e.MessageAttributes, sysAttrs: e.MessageSystemAttributes, md5SysAttrs: md5OfAttributes(e.MessageSystemAttributes),
			groupID: group, dedupID: dedupID, sent: now, visibleAt: now.Add(delay),
		}, nil
	}
	if e.DelaySeconds != nil {
		if *e.DelaySeconds < 0 || *e.DelaySeconds > maxDelaySeconds {
			return nil, errInvalidParameterValue("Value %d for parameter DelaySeconds is invalid. Reason: DelaySeconds must be >= 0 and <= %d.", *e.DelaySeconds, maxDelaySeconds)
		}
		delay = time.Duration(*e.DelaySeconds) * time.Second
	}
	if e.MessageDeduplicationID != nil {
		return nil, errInvalidParameterValue("Value %s for parameter MessageDeduplicationId is invalid. Reason: The request includes a parameter that is not valid for this queue type.", *e.MessageDeduplicationID)
	}
	m := &message{
		id:          newID(),
		body:        body,
		md5Body:     md5Hex(body),
		attrs:       e.MessageAttributes,
		sysAttrs:    e.MessageSystemAttributes,
		md5SysAttrs: md5OfAttributes(e.MessageSystemAttributes),
		sent:        now,
		visibleAt:   now.Add(delay),
	}
	if e.MessageGroupID != nil {
		m.groupID = *e.MessageGroupID
	}
	return m, nil
}

func (s *Server) receiveMessage(ctx context.Context, _ *call, in receiveInput) (any, error) {
	limit := defaultReceiveBatch
	if in.MaxNumberOfMessages != nil {
		if n := *in.MaxNumberOfMessages; n < 1 || n > maxReceiveBatch {
			return nil, errInvalidParameterValue("Value %d for parameter MaxNumberOfMessages is invalid. Reason: Must be between 1 and %d, if provided.", n, maxReceiveBatch)
		}
		limit = int(*in.MaxNumberOfMessages)
	}
	if in.VisibilityTimeout != nil && (*in.VisibilityTimeout < 0 || *in.VisibilityTimeout > maxVisibilityTimeout) {
		return nil, errInvalidParameterValue("Value %d for parameter VisibilityTimeout is invalid. Reason: Must be between 0 and %d, if provided.", *in.VisibilityTimeout, maxVisibilityTimeout)
	}
	if in.WaitTimeSeconds != nil && (*in.WaitTimeSeconds < 0 || *in.WaitTimeSeconds > maxWaitTimeSeconds) {
		return nil, errInvalidParameterValue("Value %d for parameter WaitTimeSeconds is invalid. Reason: Must be >= 0 and <= %d, if provided.", *in.WaitTimeSeconds, maxWaitTimeSeconds)
	}
	attempt := ""
	if in.ReceiveRequestAttemptID != nil {
		attempt = *in.ReceiveRequestAttemptID
		if err := checkFifoToken("ReceiveRequestAttemptId", attempt); err != nil {
			return nil, err
		}
	}
	sel := newSelection(append(slices.Clone(in.AttributeNames), in.MessageSystemAttributeNames...), in.MessageAttributeNames)

	s.mu.Lock()
	q, err := s.lookup(in.QueueURL)
	if err != nil {
		s.mu.Unlock()
		return nil, err
	}
	wait, visibility := q.seconds("ReceiveMessageWaitTimeSeconds"), q.seconds("VisibilityTimeout")
	s.mu.Unlock()
	if in.WaitTimeSeconds != nil {
		wait = time.Duration(*in.WaitTimeSeconds) * time.Second
	}
	if in.VisibilityTimeout != nil {
		visibility = time.Duration(*in.VisibilityTimeout) * time.Second
	}

	deadline := time.Now().Add(wait)
	for {
		s.mu.Lock()
		if q.deleted {
			s.mu.Unlock()
			return nil, errQueueDoesNotExist()
		}
		if ctx.Err() != nil {
			// The client went away: a message taken now would be hidden
			// for its visibility timeout with nobody to handle it.
			s.mu.Unlock()
			return receiveOutput{}, nil
		}
		now := time.Now()
		var got []*message
		var next time.Time
		if q.fifo && attempt != "" {
			// A FIFO queue's attempt id (a standard queue ignores it): a
			// retry of a receive whose answer was lost gets its messages.
			got = q.retryAttempt(attempt, now, visibility)
		}
		if got == nil {
			got, next = s.take(q, now, limit, visibility)
			if q.fifo && attempt != "" && len(got) > 0 {
				q.rememberAttempt(attempt, now, got)
			}
		}
		var out receiveOutput
		for _, m := range got {
			out.Messages = append(out.Messages, sel.output(m))
		}
		changed, closed := q.changed, s.closed
		s.mu.Unlock()
		if len(got) > 0 || closed || !now.Before(deadline) {
			return out, nil
		}
		// Long poll: wait for a send, for a message to become visible, or
		// for the end of the wait.
		wake := deadline
		if !next.IsZero() && next.Before(wake) {
			wake = next
		}
		timer := time.NewTimer(wake.Sub(now))
		select {
		case <-changed:
		case <-timer.C:
		case <-s.closing:
		case <-ctx.Done():
			timer.Stop()
			return receiveOutput{}, nil
		}
		timer.Stop()
	}
}

// take receives up to limit visible messages of q, oldest first, and returns
// them with the time the next invisible message becomes visible (zero if
// none). Messages received more often than the redrive policy allows move to
// the dead-letter queue instead. Call with s.mu held.
func (s *Server) take(q *queue, now time.Time, limit int, visibility time.Duration) (got []*message, next time.Time) {
	q.expire(now)
	q.compact()
	var dlq *queue
	if q.redrive != nil {
		if d, ok := s.queueByARN(q.redrive.DeadLetterTargetArn); ok && d != q {
			dlq = d
		}
	}
	// FIFO: a group with a message in flight yields nothing until every
	// such message is deleted or visible again; a delayed message holds
	// back the ones sent after it. When every group is held, nothing can be
	// received before a message is deleted or sent (which signal the long
	// polls) or one in flight becomes visible again (next).
	var blocked map[string]bool
	if q.fifo {
		blocked, next = q.heldGroups(now)
		if len(blocked) >= len(q.groupLive) {
			return nil, next
		}
		next = time.Time{}
	}
	for _, m := range q.msgs {
		if len(got) == limit {
			break
		}
		if m.deleted {
			continue
		}
		if now.Before(m.visibleAt) {
			if next.IsZero() || m.visibleAt.Before(next) {
				next = m.visibleAt
			}
			if q.fifo {
				blocked[m.groupID] = true
			}
			continue
		}
		if blocked[m.groupID] {
			continue
		}
		if dlq != nil && m.receiveCount >= q.redrive.MaxReceiveCount {
			q.remove(m)
			moved := *m
			moved.deleted, moved.receipt, moved.visibleAt = false, "", now
			dlq.push(&moved)
			continue
		}
		m.receiveCount++
		if m.firstReceive.IsZero() {
			m.firstReceive = now
		}
		m.lastReceive = now
		m.receipt = newReceipt(q.name, m.id)
		m.visibleAt = now.Add(visibility)
		q.received(m)
		got = append(got, m)
	}
	return got, next
}

// selection is which attributes ReceiveMessage returns.
type selection struct {
	allSystem   bool
	system      map[string]bool
	allMessage  bool
	message     map[string]bool
	msgPrefixes []string
}

func newSelection(systemNames, messageNames []string) selection {
	sel := selection{system: make(map[string]bool), message: make(map[string]bool)}
	for _, n := range systemNames {
		if n == "All" {
			sel.allSystem = true
		}
		sel.system[n] = true
	}
	for _, n := range messageNames {
		switch {
		case n == "All" || n == ".*":
			sel.allMessage = true
		case strings.HasSuffix(n, ".*"):
			sel.msgPrefixes = append(sel.msgPrefixes, strings.TrimSuffix(n, "*"))
		default:
			sel.message[n] = true
		}
	}
	return sel
}

func (sel selection) wantsMessageAttribute(name string) bool {
	if sel.allMessage || sel.message[name] {
		return true
	}
	for _, p := range sel.msgPrefixes {
		if strings.HasPrefix(name, p) {
			return true
		}
	}
	return false
}

// output is m as ReceiveMessage returns it. MD5OfMessageAttributes covers the
// attributes returned. Call with s.mu held.
func (sel selection) output(m *message) messageOutput {
	out := messageOutput{MessageID: m.id, ReceiptHandle: m.receipt, MD5OfBody: m.md5Body, Body: m.body}
	system := map[string]string{
		"SenderId":                         accountID,
		"SentTimestamp":                    strconv.FormatInt(m.sent.UnixMilli(), 10),
		"ApproximateReceiveCount":          strconv.Itoa(m.receiveCount),
		"ApproximateFirstReceiveTimestamp": strconv.FormatInt(m.firstReceive.UnixMilli(), 10),
	}
	if tr, ok := m.sysAttrs["AWSTraceHeader"]; ok {
		system["AWSTraceHeader"] = tr.StringValue
	}
	if m.groupID != "" {
		system["MessageGroupId"] = m.groupID
	}
	if m.seq != "" {
		system["MessageDeduplicationId"] = m.dedupID
		system["SequenceNumber"] = m.seq
	}
	for name, value := range system {
		if sel.allSystem || sel.system[name] {
			if out.Attributes == nil {
				out.Attributes = make(map[string]string)
			}
			out.Attributes[name] = value
		}
	}
	for name, a := range m.attrs {
		if sel.wantsMessageAttribute(name) {
			if out.MessageAttributes == nil {
				out.MessageAttributes = make(map[string]attributeValue)
			}
			out.MessageAttributes[name] = a
		}
	}
	out.MD5OfMessageAttributes = md5OfAttributes(out.MessageAttributes)
	return out
}

func (s *Server) deleteMessage(q *queue, in receiptEntry) (any, error) {
	if err := q.deleteByReceipt(in.ReceiptHandle); err != nil {
		return nil, err
	}
	return struct{}{}, nil
}

// deleteByReceipt deletes the message of a receipt handle. Deleting a message
// that is already gone succeeds, as on SQS.
func (q *queue) deleteByReceipt(handle *string) error {
	if handle == nil || *handle == "" {
		return errMissingParameter("ReceiptHandle")
	}
	m, found, err := q.lookupReceipt(*handle)
	if err != nil {
		return err
	}
	if found {
		q.remove(m)
		if q.fifo {
			// Its group may have the next message ready.
			q.signal()
		}
	}
	return nil
}

func (s *Server) deleteMessageBatch(q *queue, in receiptBatchInput) (any, error) {
	return receiptBatch(q, in, "DeleteMessageBatchRequestEntry", func(e receiptEntry, _ time.Time) error {
		return q.deleteByReceipt(e.ReceiptHandle)
	})
}

func (s *Server) changeMessageVisibility(q *queue, in receiptEntry) (any, error) {
	if err := q.changeVisibility(in, time.Now()); err != nil {
		return nil, err
	}
	return struct{}{}, nil
}

func (s *Server) changeMessageVisibilityBatch(q *queue, in receiptBatchInput) (any, error) {
	return receiptBatch(q, in, "ChangeMessageVisibilityBatchRequestEntry", func(e receiptEntry, now time.Time) error {
		return q.changeVisibility(e, now)
	})
}

// receiptBatch runs apply on each entry of a batch of receipt handles to q
// and reports each entry's outcome. Call with the server's lock held.
func receiptBatch(q *queue, in receiptBatchInput, entryName string, apply func(receiptEntry, time.Time) error) (any, error) {
	ids := make([]string, len(in.Entries))
	for i, e := range in.Entries {
		ids[i] = e.ID
	}
	if err := checkBatch(entryName, ids); err != nil {
		return nil, err
	}
	out := receiptBatchOutput{Successful: []batchResultEntry{}, Failed: []batchErrorEntry{}}
	now := time.Now()
	for _, e := range in.Entries {
		if err := apply(e, now); err != nil {
			out.Failed = append(out.Failed, batchFailure(e.ID, err))
			continue
		}
		out.Successful = append(out.Successful, batchResultEntry{ID: e.ID})
	}
	return out, nil
}

// changeVisibility sets the visibility timeout of an in-flight message,
// counted from now. Its receipt handle must be the latest.
func (q *queue) changeVisibility(e receiptEntry, now time.Time) error {
	if e.ReceiptHandle == nil || *e.ReceiptHandle == "" {
		return errMissingParameter("ReceiptHandle")
	}
	if e.VisibilityTimeout == nil {
		return errMissingParameter("VisibilityTimeout")
	}
	timeout := *e.VisibilityTimeout
	if timeout < 0 || timeout > maxVisibilityTimeout {
		return errInvalidParameterValue("Value %d for parameter VisibilityTimeout is invalid. Reason: Must be between 0 and %d.", timeout, maxVisibilityTimeout)
	}
	m, found, err := q.lookupReceipt(*e.ReceiptHandle)
	if err != nil {
		return err
	}
	if !found {
		return errInvalidParameterValue("Value %s for parameter ReceiptHandle is invalid. Reason: Message does not exist or is not available for visibility timeout change.", *e.ReceiptHandle)
	}
	if !now.Before(m.visibleAt) {
		return errMessageNotInflight()
	}
	until := now.Add(time.Duration(timeout) * time.Second)
	if until.After(m.lastReceive.Add(maxVisibilityTimeout * time.Second)) {
		return errInvalidParameterValue("Value %d for parameter VisibilityTimeout is invalid. Reason: Total VisibilityTimeout for the message is beyond the limit [%d seconds].", timeout, maxVisibilityTimeout)
	}
	shorter := until.Before(m.visibleAt)
	m.visibleAt = until
	q.received(m)
	if shorter {
		// Visible now, or sooner than the long polls waiting (until the
		// old time, at most) know: they look again.
		q.signal()
	}
	return nil
}
