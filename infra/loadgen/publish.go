package loadgen

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Config says what the publishers send.
type Config struct {
	URL        string        // base URL of the HTTP API, e.g. http://127.0.0.1:3000
	Publishers int           // concurrent publishers; default 4
	Workflows  int           // workflows in all, split between publishers; default 20
	Batch      int           // events per request; default 100
	EventBytes int           // approximate encoded size of one event; default 200
	Duration   time.Duration // how long to publish; default 30s
	Prefix     string        // workflow ids are <Prefix>-w<n>; default a unique run id
	// Extra workflows published to in addition to the numbered ones, owned
	// by the publishers in turn (a fault scenario names one it poisons).
	Extra  []string
	Client *http.Client
	// Token is sent as "Authorization: Bearer <Token>" when set: a caller
	// the policy lets publish every workflow (Local.Token, an admin's).
	Token string
	// Timeout bounds one request; default 30s.
	Timeout time.Duration
}

// SetDefaults fills in what is unset (a unique Prefix among them).
func (c *Config) SetDefaults() {
	if c.Publishers <= 0 {
		c.Publishers = 4
	}
	if c.Workflows <= 0 {
		c.Workflows = 20
	}
	if c.Batch <= 0 {
		c.Batch = 100
	}
	if c.EventBytes <= 0 {
		c.EventBytes = 200
	}
	if c.Duration <= 0 {
		c.Duration = 30 * time.Second
	}
	if c.Prefix == "" {
		c.Prefix = "ld" + strconv.FormatInt(time.Now().UnixMilli()%1e9, 36)
	}
	if c.Client == nil {
		c.Client = &http.Client{Transport: &http.Transport{Proxy: nil, MaxIdleConnsPerHost: c.Publishers + 1}}
	}
	if c.Timeout <= 0 {
		c.Timeout = 30 * time.Second
	}
}

// WorkflowIDs lists the workflows a run with this config publishes to.
func (c Config) WorkflowIDs() []string {
	c.SetDefaults()
	out := make([]string, 0, c.Workflows+len(c.Extra))
	for i := range c.Workflows {
		out = append(out, fmt.Sprintf("%s-w%03d", c.Prefix, i))
	}
	return append(out, c.Extra...)
}

// Ack is one acknowledged event: the publish API gave it an id.
type Ack struct {
	ID     string
	K      int       // the workflow's send counter: 0, 1, 2 … per workflow
	SentAt time.Time // when its request went out (also in the event's data.t)
}

// Ledger is what the publishers know: per workflow, every acknowledged event
// in acknowledgement order (which is the order the store must hold), and the
// events sent without an acknowledgement, which may or may not be stored.
type Ledger struct {
	mu sync.Mutex
	// Acked per workflow, in order.
	Acked map[string][]Ack
	// Unacked per workflow: send counter → why (the entry's error code, or
	// the request's failure). Such an event is never expected in the store,
	// but one that reached the stream before its request failed may be there.
	Unacked map[string]map[int]string
	// Requests is every request's duration, in the order they ended.
	Requests []time.Duration
	// FailedRequests counts requests with no per-event answer (transport
	// error, unexpected status); RequestErrors keeps the first few reasons.
	FailedRequests int
	RequestErrors  []string
	Started, Ended time.Time
}

// NewLedger returns an empty ledger.
func NewLedger() *Ledger {
	return &Ledger{Acked: map[string][]Ack{}, Unacked: map[string]map[int]string{}}
}

// AckedCount is the number of acknowledged events.
func (l *Ledger) AckedCount() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, a := range l.Acked {
		n += len(a)
	}
	return n
}

// UnackedCount is the number of events sent without an acknowledgement.
func (l *Ledger) UnackedCount() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, u := range l.Unacked {
		n += len(u)
	}
	return n
}

// RequestSummary says how many requests were answered and how long they
// took (median and slowest): a publishing stall shows as a slowest request
// of seconds.
func (l *Ledger) RequestSummary() string {
	l.mu.Lock()
	reqs := append([]time.Duration(nil), l.Requests...)
	l.mu.Unlock()
	if len(reqs) == 0 {
		return "no request answered"
	}
	slices.Sort(reqs)
	return fmt.Sprintf("%d requests, median %s, slowest %s", len(reqs),
		reqs[(len(reqs)-1)/2].Round(time.Millisecond), reqs[len(reqs)-1].Round(time.Millisecond))
}

// Workflows lists every workflow the ledger knows, acknowledged or not.
func (l *Ledger) Workflows() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	seen := map[string]bool{}
	var out []string
	for wf := range l.Acked {
		seen[wf] = true
		out = append(out, wf)
	}
	for wf := range l.Unacked {
		if !seen[wf] {
			out = append(out, wf)
		}
	}
	sortStrings(out)
	return out
}

func (l *Ledger) ack(wf string, a Ack) {
	l.Acked[wf] = append(l.Acked[wf], a)
}

func (l *Ledger) unack(wf string, k int, why string) {
	m := l.Unacked[wf]
	if m == nil {
		m = map[int]string{}
		l.Unacked[wf] = m
	}
	m[k] = why
}

// Run publishes for cfg.Duration (or until ctx ends) and returns what was
// acknowledged. Each publisher owns a disjoint set of workflows and sends
// one request at a time, so a workflow's events are acknowledged in the
// order they were sent.
func Run(ctx context.Context, cfg Config) *Ledger {
	cfg.SetDefaults()
	l := NewLedger()
	wfs := cfg.WorkflowIDs()
	owned := make([][]string, cfg.Publishers)
	for i, wf := range wfs {
		owned[i%cfg.Publishers] = append(owned[i%cfg.Publishers], wf)
	}
	ctx, cancel := context.WithTimeout(ctx, cfg.Duration)
	defer cancel()
	l.Started = time.Now()
	var wg sync.WaitGroup
	for i := range cfg.Publishers {
		if len(owned[i]) == 0 {
			continue
		}
		p := &publisher{cfg: cfg, l: l, wfs: owned[i], next: map[string]int{}}
		wg.Go(func() { p.run(ctx) })
	}
	wg.Wait()
	l.Ended = time.Now()
	return l
}

type publisher struct {
	cfg    Config
	l      *Ledger
	wfs    []string
	next   map[string]int // next send counter per workflow
	cursor int
}

// wireEvent is one event of a request, in the simple shape.
type wireEvent struct {
	Type       string   `json:"type"`
	WorkflowID string   `json:"workflow_id"`
	Data       loadData `json:"data"`
}

// loadData is what each event carries: the workflow's send counter, the
// publish time (Unix ms) and padding up to the configured size.
type loadData struct {
	K   int    `json:"k"`
	T   int64  `json:"t"`
	Pad string `json:"pad,omitempty"`
}

// eventOverhead is about what an event's envelope adds to its padding once
// published (id, source, specversion, time, the attributes above).
const eventOverhead = 190

func (p *publisher) run(ctx context.Context) {
	pad := strings.Repeat("x", max(p.cfg.EventBytes-eventOverhead, 0))
	for ctx.Err() == nil {
		sent := time.Now()
		evs := make([]wireEvent, p.cfg.Batch)
		for i := range evs {
			wf := p.wfs[p.cursor%len(p.wfs)]
			p.cursor++
			evs[i] = wireEvent{Type: "load.tick", WorkflowID: wf, Data: loadData{K: p.next[wf], T: sent.UnixMilli(), Pad: pad}}
			p.next[wf]++
		}
		entries, err := p.send(ctx, evs)
		took := time.Since(sent)
		p.l.mu.Lock()
		if err == nil {
			p.l.Requests = append(p.l.Requests, took)
		}
		for i, e := range evs {
			switch {
			case err != nil:
				p.l.unack(e.WorkflowID, e.Data.K, "request: "+err.Error())
			case i >= len(entries):
				p.l.unack(e.WorkflowID, e.Data.K, "no entry in the answer")
			case entries[i].ID != "" && entries[i].ErrorCode == "":
				p.l.ack(e.WorkflowID, Ack{ID: entries[i].ID, K: e.Data.K, SentAt: sent})
			default:
				p.l.unack(e.WorkflowID, e.Data.K, entries[i].ErrorCode)
			}
		}
		if err != nil {
			p.l.FailedRequests++
			if len(p.l.RequestErrors) < 5 {
				p.l.RequestErrors = append(p.l.RequestErrors, err.Error())
			}
		}
		p.l.mu.Unlock()
		if err != nil && ctx.Err() == nil {
			select { // do not spin on a runtime that is down
			case <-ctx.Done():
			case <-time.After(200 * time.Millisecond):
			}
		}
	}
}

// entry is one event's answer from POST /events.
type entry struct {
	ID        string `json:"id"`
	ErrorCode string `json:"error_code"`
}

// send posts one request and returns the per-event answer. A request that
// ends because the run's time is up is sent to the end anyway (bounded by
// the request timeout), so what it acknowledged is known.
func (p *publisher) send(ctx context.Context, evs []wireEvent) ([]entry, error) {
	body, err := json.Marshal(evs)
	if err != nil {
		return nil, err
	}
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), p.cfg.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(rctx, http.MethodPost, strings.TrimRight(p.cfg.URL, "/")+"/events", bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	if p.cfg.Token != "" {
		req.Header.Set("Authorization", "Bearer "+p.cfg.Token)
	}
	resp, err := p.cfg.Client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return nil, fmt.Errorf("read answer: %w", err)
	}
	if resp.StatusCode != http.StatusAccepted && resp.StatusCode != http.StatusServiceUnavailable {
		return nil, fmt.Errorf("status %d: %.200s", resp.StatusCode, raw)
	}
	var ans struct {
		Entries []entry `json:"entries"`
	}
	if err := json.Unmarshal(raw, &ans); err != nil {
		return nil, fmt.Errorf("answer: %w", err)
	}
	if len(ans.Entries) != len(evs) {
		return nil, errors.New("answer has " + strconv.Itoa(len(ans.Entries)) + " entries for " + strconv.Itoa(len(evs)) + " events")
	}
	return ans.Entries, nil
}
