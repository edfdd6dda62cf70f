package sqsesm

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"strconv"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/flowbus/flowbus/shared/backoff"
	"github.com/flowbus/flowbus/shared/pattern"
)

// SQSAPI is the part of the SQS client a mapping reads the queue with.
type SQSAPI interface {
	ReceiveMessage(ctx context.Context, in *sqs.ReceiveMessageInput, optFns ...func(*sqs.Options)) (*sqs.ReceiveMessageOutput, error)
	DeleteMessageBatch(ctx context.Context, in *sqs.DeleteMessageBatchInput, optFns ...func(*sqs.Options)) (*sqs.DeleteMessageBatchOutput, error)
	ChangeMessageVisibilityBatch(ctx context.Context, in *sqs.ChangeMessageVisibilityBatchInput, optFns ...func(*sqs.Options)) (*sqs.ChangeMessageVisibilityBatchOutput, error)
}

// Invoker runs the function once; payload is the Lambda event JSON, the
// answer the function's response. Any error — the function's own or one
// reaching it — fails the whole batch. It is the signature of the Kinesis
// mapping's Invoker (infra/esm), so one adapter serves both.
type Invoker interface {
	Invoke(ctx context.Context, payload []byte) ([]byte, error)
}

// Report describes one batch received, for a runtime that prints a line
// for each.
type Report struct {
	Function string
	Queue    string        // name
	Messages int           // the function was invoked with
	Handled  int           // of those, deleted as handled
	Filtered int           // deleted without an invocation: no filter matched
	Duration time.Duration // of the invocation
	// Result is "ok", "partial (n failed)", "error: <why>" (nothing
	// deleted; the messages come back after the visibility timeout) or
	// "filtered out" when no message of the batch matched the filters.
	Result string
}

// Mapping is one running SQS event source mapping. Build it with New.
type Mapping struct {
	cfg     Config
	queue   string // name
	filters pattern.Criteria
	sqs     SQSAPI
	fn      Invoker
	log     *slog.Logger

	hookMu   sync.Mutex
	onInvoke func(Report)

	// initial and ceiling bound the pollers: the mapping starts initial
	// and adds one, up to ceiling, while every poller is held by a slow
	// invocation (see scale).
	initial, ceiling int
	scaleMu          sync.Mutex
	pollers          int               // running
	busy             map[*int]struct{} // the pollers in an invocation
	receivable       bool              // the last receive returned messages

	// enabledMu guards opened: closed while the mapping is enabled, open
	// (pollers wait on it) while it is disabled.
	enabledMu sync.Mutex
	opened    chan struct{}
}

// New checks cfg and returns a mapping; log nil discards logs.
func New(cfg Config, client SQSAPI, fn Invoker, log *slog.Logger) (*Mapping, error) {
	var errs []error
	if err := cfg.Validate(); err != nil {
		errs = append(errs, err)
	}
	if client == nil {
		errs = append(errs, errors.New("an SQS client is required"))
	}
	if fn == nil {
		errs = append(errs, errors.New("an Invoker is required"))
	}
	filters, err := pattern.CompileAll(cfg.FilterCriteria, pattern.Lambda)
	if err != nil {
		errs = append(errs, fmt.Errorf("FilterCriteria: %w", err))
	}
	if len(errs) > 0 {
		return nil, fmt.Errorf("SQS event source mapping %s: %w", cfg.FunctionName, errors.Join(errs...))
	}
	cfg = cfg.withDefaults()
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	_, name, _ := queueOfURL(cfg.QueueURL)
	m := &Mapping{cfg: cfg, queue: name, filters: filters, sqs: client, fn: fn,
		initial: cfg.InitialConcurrency(), ceiling: cfg.Concurrency(), busy: map[*int]struct{}{},
		opened: make(chan struct{})}
	if cfg.Enabled {
		close(m.opened)
	}
	m.log = log.With("function", cfg.FunctionName, "queue", name)
	for _, p := range filters {
		for _, f := range p.Fields() {
			if f != "body" {
				m.log.Warn("filter tests a field other than body; SQS mappings filter on body only, so it never matches", "field", f)
			}
		}
	}
	return m, nil
}

// OnInvoke sets a hook called once per batch. Calls are serialised, but the
// hook runs on the pollers: keep it fast.
func (m *Mapping) OnInvoke(f func(Report)) {
	m.hookMu.Lock()
	defer m.hookMu.Unlock()
	m.onInvoke = f
}

func (m *Mapping) report(r Report) {
	m.hookMu.Lock()
	defer m.hookMu.Unlock()
	if m.onInvoke != nil {
		r.Function, r.Queue = m.cfg.FunctionName, m.queue
		m.onInvoke(r)
	}
}

// Run polls the queue until ctx is done: InitialConcurrency pollers, and
// more, up to Concurrency, while every poller is held by a slow invocation
// (see scale). Errors reaching SQS or the function are logged and retried
// with backoff, so Run returns nil once ctx is done and every poller has
// finished its batch. While the mapping is disabled its pollers wait
// without receiving (SetEnabled).
func (m *Mapping) Run(ctx context.Context) error {
	m.log.Info("event source mapping started", "batchSize", m.cfg.BatchSize, "pollers", m.initial, "maxPollers", m.ceiling, "enabled", m.Enabled())
	var wg sync.WaitGroup
	m.scaleMu.Lock()
	m.pollers = m.initial
	m.scaleMu.Unlock()
	for range m.initial {
		wg.Go(func() { m.poll(ctx) })
	}
	if m.ceiling > m.initial {
		wg.Go(func() { m.scale(ctx, &wg) })
	}
	wg.Wait()
	return nil
}

// scale adds a poller, at most one per ScaleInterval (Lambda adds up to 300
// a minute), while every poller is in an invocation, the last receive
// returned messages (a backlog, as Lambda scales on) and fewer than
// Concurrency run. On a FIFO queue the active message groups bound the
// pollers, as on AWS: a poller added when every group is held receives
// nothing and retires. A poller whose receive comes back empty retires while
// more than InitialConcurrency run.
func (m *Mapping) scale(ctx context.Context, wg *sync.WaitGroup) {
	t := time.NewTicker(ScaleInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if n, ok := m.grow(); ok {
				m.log.Debug("poller added: every poller is in an invocation and the queue has messages", "pollers", n)
				wg.Go(func() { m.poll(ctx) })
			}
		}
	}
}

// grow counts one more poller if scale should add one, and returns the count.
// A disabled mapping adds none: its pollers still in an invocation look like
// a backlog, but a poller added would only wait to be enabled.
func (m *Mapping) grow() (int, bool) {
	m.scaleMu.Lock()
	defer m.scaleMu.Unlock()
	if m.pollers >= m.ceiling || len(m.busy) < m.pollers || !m.receivable || !m.Enabled() {
		return m.pollers, false
	}
	m.pollers++
	return m.pollers, true
}

// received notes whether a receive found messages; on an empty one it
// retires the poller (true) while more than InitialConcurrency run.
func (m *Mapping) received(some bool) (retire bool) {
	m.scaleMu.Lock()
	defer m.scaleMu.Unlock()
	m.receivable = some
	if !some && m.pollers > m.initial {
		m.pollers--
		return true
	}
	return false
}

// invoking marks poller id in an invocation (true) or out of it.
func (m *Mapping) invoking(id *int, in bool) {
	m.scaleMu.Lock()
	defer m.scaleMu.Unlock()
	if in {
		m.busy[id] = struct{}{}
	} else {
		delete(m.busy, id)
	}
}

// Pollers reports how many pollers run and how many of them are in an
// invocation.
func (m *Mapping) Pollers() (running, invoking int) {
	m.scaleMu.Lock()
	defer m.scaleMu.Unlock()
	return m.pollers, len(m.busy)
}

// SetEnabled enables or disables the mapping while it runs, as AWS's
// UpdateEventSourceMapping Enabled does: a disabled mapping invokes nothing
// (what is in the queue stays there, a backlog), while the batches already in
// an invocation finish. A long poll under way when the mapping is disabled
// gives what it receives back to the queue, visible at once; a batching
// window stops gathering after its receive under way and gives its batch back
// too, rather than at the window's end. Each of those receives counts towards
// the queue's redrive policy, and a message given back can be received by
// another long poll under way, once by each: with a maxReceiveCount not above
// the pollers, a message sent just after a disable may reach the dead-letter
// queue without an invocation (TestProbeEnableDisableReceiveCount). Cutting
// the long polls short instead is worse: the server may still take a message
// for a receive its client gave up, and that message stays in flight for the
// visibility timeout.
func (m *Mapping) SetEnabled(on bool) {
	m.enabledMu.Lock()
	defer m.enabledMu.Unlock()
	select {
	case <-m.opened:
		if !on {
			m.opened = make(chan struct{})
			m.log.Info("event source mapping disabled")
		}
	default:
		if on {
			close(m.opened)
			m.log.Info("event source mapping enabled")
		}
	}
}

// Enabled reports whether the mapping receives.
func (m *Mapping) Enabled() bool {
	m.enabledMu.Lock()
	defer m.enabledMu.Unlock()
	select {
	case <-m.opened:
		return true
	default:
		return false
	}
}

// waitEnabled blocks while the mapping is disabled; false means ctx ended.
func (m *Mapping) waitEnabled(ctx context.Context) bool {
	m.enabledMu.Lock()
	opened := m.opened
	m.enabledMu.Unlock()
	select {
	case <-opened:
		return true
	case <-ctx.Done():
		return false
	}
}

// poll gathers and processes batches, one at a time, until ctx is done or
// an empty receive retires it.
func (m *Mapping) poll(ctx context.Context) {
	id := new(int)
	failures := 0
	for m.waitEnabled(ctx) {
		batch, dropped, err := m.gather(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			m.log.Warn("cannot receive; retrying", "err", err)
			failures++
			if backoff.Sleep(ctx, backoff.FullJitter(100*time.Millisecond, 5*time.Second, failures)) != nil {
				return
			}
			continue
		}
		failures = 0
		if m.received(len(batch) > 0 || len(dropped) > 0) {
			return
		}
		if len(batch) == 0 && len(dropped) == 0 {
			continue
		}
		if !m.Enabled() {
			// Disabled during the receive (a long poll started before):
			// the batch goes back to the queue, visible at once, and the
			// poller waits.
			m.release(ctx, batch)
			if batch = nil; len(dropped) == 0 {
				continue
			}
		}
		m.invoking(id, true)
		ok := m.process(ctx, batch, dropped)
		m.invoking(id, false)
		if !ok {
			failures++
			if backoff.Sleep(ctx, backoff.FullJitter(100*time.Millisecond, 5*time.Second, failures)) != nil {
				return
			}
		}
	}
}

// message is a received message with its record encoded.
type message struct {
	msg    types.Message
	record []byte
}

// gather receives one batch: messages until BatchSize, the end of the
// batching window (counted from the first message) or the payload limit,
// whichever comes first; nothing when a long poll comes back empty before
// any message, so that the poller sees an empty receive. Messages no filter
// matches are returned apart, to be deleted. Messages beyond the payload
// limit, or received when ctx ends, are made visible again at once. Disabled
// while the window gathers, it stops after the receive under way.
func (m *Mapping) gather(ctx context.Context) (batch []message, dropped []types.Message, err error) {
	var deadline time.Time
	var records [][]byte
	for len(batch) < m.cfg.BatchSize {
		wait := LongPoll
		if !deadline.IsZero() {
			if !m.Enabled() {
				// Disabled while the window gathers: no more receives,
				// and poll gives the batch back now rather than at the
				// window's end.
				break
			}
			wait = min(time.Until(deadline), LongPoll)
			if wait <= 0 {
				break
			}
		}
		in := &sqs.ReceiveMessageInput{
			QueueUrl: aws.String(m.cfg.QueueURL), MaxNumberOfMessages: int32(min(MaxReceiveBatch, m.cfg.BatchSize-len(batch))),
			WaitTimeSeconds: int32(math.Ceil(wait.Seconds())), MessageAttributeNames: []string{"All"},
			MessageSystemAttributeNames: []types.MessageSystemAttributeName{types.MessageSystemAttributeNameAll},
		}
		if m.cfg.VisibilityTimeout > 0 {
			in.VisibilityTimeout = int32(math.Ceil(m.cfg.VisibilityTimeout.Seconds()))
		}
		if m.cfg.FIFO() {
			// The SDK retries a call whose answer was lost with the same
			// input: with an attempt id, a FIFO queue answers the retry with
			// the messages the lost answer held, instead of leaving them in
			// flight (and their groups held) for the visibility timeout.
			in.ReceiveRequestAttemptId = aws.String(attemptID())
		}
		out, err := m.sqs.ReceiveMessage(ctx, in)
		if err != nil {
			if len(batch) > 0 || len(dropped) > 0 {
				// What was gathered is returned; ctx's end or the
				// error shows again at the next receive.
				if ctx.Err() != nil {
					m.release(ctx, batch)
					return nil, dropped, nil
				}
				break
			}
			return nil, nil, fmt.Errorf("receive from %s: %w", m.queue, err)
		}
		if len(out.Messages) == 0 && deadline.IsZero() {
			// An empty long poll, nothing gathered: the poller learns the
			// queue is empty (and may retire) before it polls again.
			break
		}
		for i, msg := range out.Messages {
			if !matches(m.filters, aws.ToString(msg.Body)) {
				dropped = append(dropped, msg)
				continue
			}
			rec, err := json.Marshal(m.record(msg))
			if err != nil {
				return nil, nil, err
			}
			if len(batch) > 0 && payloadSize(append(records, rec)) > MaxPayloadBytes {
				var back []message
				for _, rest := range out.Messages[i:] {
					back = append(back, message{msg: rest})
				}
				m.release(ctx, back)
				return batch, dropped, nil
			}
			batch = append(batch, message{msg: msg, record: rec})
			records = append(records, rec)
		}
		if len(out.Messages) > 0 && deadline.IsZero() {
			if m.cfg.MaximumBatchingWindow == 0 {
				break
			}
			deadline = time.Now().Add(m.cfg.MaximumBatchingWindow)
		}
	}
	return batch, dropped, nil
}

// process invokes the function with a batch and deletes what it handled
// and what the filters dropped. It returns false if the invocation failed.
// On a FIFO queue, a message not deleted keeps its group locked, so the
// group's later messages wait and come back after it, in order.
func (m *Mapping) process(ctx context.Context, batch []message, dropped []types.Message) bool {
	var del []types.Message
	del = append(del, dropped...)
	if len(batch) == 0 {
		m.delete(ctx, del)
		m.report(Report{Filtered: len(dropped), Result: "filtered out"})
		return true
	}
	records := make([][]byte, len(batch))
	ids := make(map[string]bool, len(batch))
	for i, b := range batch {
		records[i] = b.record
		ids[aws.ToString(b.msg.MessageId)] = true
	}
	start := time.Now()
	out, err := m.fn.Invoke(ctx, payload(records))
	rep := Report{Messages: len(batch), Filtered: len(dropped), Duration: time.Since(start)}
	var failed map[string]bool
	switch {
	case err != nil:
		rep.Result = "error: " + err.Error()
	case m.cfg.ReportBatchItemFailures:
		failed, err = failedItems(out, ids)
		if err != nil {
			rep.Result = "error: " + err.Error()
		}
	}
	if err != nil {
		// Nothing of the batch is deleted: it comes back after the
		// visibility timeout, and the queue's redrive policy counts it.
		m.delete(ctx, del)
		if ctx.Err() != nil {
			// Stopped mid-invocation: no failure of the function's, so
			// the batch is visible again at once for the next run.
			m.release(ctx, batch)
			return true
		}
		m.report(rep)
		return false
	}
	for _, b := range batch {
		if !failed[aws.ToString(b.msg.MessageId)] {
			del = append(del, b.msg)
		}
	}
	if m.cfg.FIFO() {
		m.warnOrder(batch, failed)
	}
	rep.Handled = len(batch) - len(failed)
	rep.Result = "ok"
	if len(failed) > 0 {
		rep.Result = fmt.Sprintf("partial (%d failed)", len(failed))
	}
	m.delete(ctx, del)
	m.report(rep)
	return true
}

// delete deletes messages, ten at a time, retrying a failed call a few
// times. It runs on after ctx ends (a handled message is deleted even when
// the runtime stops meanwhile), for at most ten seconds. A message that
// cannot be deleted is logged: it comes back and is handled again, as in
// Lambda.
func (m *Mapping) delete(ctx context.Context, msgs []types.Message) {
	if len(msgs) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	for i := 0; i < len(msgs); i += MaxReceiveBatch {
		chunk := msgs[i:min(i+MaxReceiveBatch, len(msgs))]
		entries := make([]types.DeleteMessageBatchRequestEntry, len(chunk))
		for j, msg := range chunk {
			entries[j] = types.DeleteMessageBatchRequestEntry{Id: aws.String(strconv.Itoa(j)), ReceiptHandle: msg.ReceiptHandle}
		}
		for attempt := 0; ; attempt++ {
			out, err := m.sqs.DeleteMessageBatch(ctx, &sqs.DeleteMessageBatchInput{QueueUrl: aws.String(m.cfg.QueueURL), Entries: entries})
			if err == nil {
				for _, f := range out.Failed {
					m.log.Warn("cannot delete a handled message; it will come back", "id", aws.ToString(f.Id), "code", aws.ToString(f.Code), "message", aws.ToString(f.Message))
				}
				break
			}
			if attempt == 3 || backoff.Sleep(ctx, backoff.FullJitter(100*time.Millisecond, 2*time.Second, attempt)) != nil {
				m.log.Error("cannot delete handled messages; they will come back", "messages", len(chunk), "err", err)
				break
			}
		}
	}
}

// release makes messages visible again at once (best effort: otherwise they
// come back after the visibility timeout).
func (m *Mapping) release(ctx context.Context, msgs []message) {
	if len(msgs) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	for i := 0; i < len(msgs); i += MaxReceiveBatch {
		chunk := msgs[i:min(i+MaxReceiveBatch, len(msgs))]
		entries := make([]types.ChangeMessageVisibilityBatchRequestEntry, len(chunk))
		for j, msg := range chunk {
			entries[j] = types.ChangeMessageVisibilityBatchRequestEntry{Id: aws.String(strconv.Itoa(j)), ReceiptHandle: msg.msg.ReceiptHandle, VisibilityTimeout: 0}
		}
		if _, err := m.sqs.ChangeMessageVisibilityBatch(ctx, &sqs.ChangeMessageVisibilityBatchInput{QueueUrl: aws.String(m.cfg.QueueURL), Entries: entries}); err != nil {
			m.log.Warn("cannot make messages visible again; they come back after the visibility timeout", "messages", len(chunk), "err", err)
		}
	}
}

// warnOrder logs the messages of a FIFO batch that the function reported
// handled although an earlier message of their group failed. Lambda deletes
// them as it deletes any message not reported (AWS asks a function on a FIFO
// queue to stop at the first failure and report it and every message after
// it), so the failed message comes back after them: the group's order is
// broken, here as on AWS.
func (m *Mapping) warnOrder(batch []message, failed map[string]bool) {
	if len(failed) == 0 {
		return
	}
	failedGroups := map[string]string{} // group → its first failed message
	for _, b := range batch {
		id, group := aws.ToString(b.msg.MessageId), b.msg.Attributes["MessageGroupId"]
		first, groupFailed := failedGroups[group]
		switch {
		case failed[id] && !groupFailed:
			failedGroups[group] = id
		case !failed[id] && groupFailed:
			m.log.Warn("FIFO order broken: the function reported a message handled after an earlier message of its group failed; "+
				"it is deleted and the failed one comes back after it (report every message after the first failure of a group)",
				"group", group, "failed", first, "deleted", id)
		}
	}
}

// attemptID is a fresh ReceiveRequestAttemptId.
func attemptID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
