package faultproxy

import (
	"bytes"
	"compress/gzip"
	"context"
	crand "crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Options configure a proxy.
type Options struct {
	// Target is the engine's endpoint, e.g. http://127.0.0.1:4567. Its host
	// must be a loopback address or localhost.
	Target string
	// Addr is the loopback address to listen on; "127.0.0.1:0" (the default)
	// picks a free port.
	Addr string
	// Seed makes the fault draws reproducible: the same seed, faults and
	// sequence of requests throttle the same entries. 0 draws a random seed.
	// Concurrent requests draw in arrival order, so only a sequential client
	// gets the same run twice.
	Seed uint64
	// Faults are the faults active from the start.
	Faults Faults
}

// Faults are the faults the proxy injects; Set switches them at run time.
// Rates are shares between 0 and 1, drawn independently for each entry or
// request.
type Faults struct {
	// ThrottlePutRecords is the share of Kinesis PutRecords entries answered
	// ProvisionedThroughputExceededException in the 200 answer (the other
	// entries are really written, in order, and FailedRecordCount counts
	// both), and the share of PutRecord calls answered 400
	// ProvisionedThroughputExceededException without forwarding.
	ThrottlePutRecords float64
	// UnprocessedBatchWrite is the share of DynamoDB BatchWriteItem write
	// requests not forwarded and returned in UnprocessedItems. If every write
	// request of a call is drawn, the call is answered 400
	// ProvisionedThroughputExceededException, as DynamoDB does.
	UnprocessedBatchWrite float64
	// ThrottleDynamo is the share of DynamoDB data-plane calls (item reads and
	// writes, Query, Scan, batch and transaction calls) answered 400
	// ProvisionedThroughputExceededException without forwarding. Table
	// management calls are never throttled.
	ThrottleDynamo float64
	// Latency is added before forwarding each request.
	Latency time.Duration
	// Pause holds every request — the connection is accepted, no answer comes
	// — until Pause is switched off, like an engine stopped with SIGSTOP. A
	// request already forwarded is held before its answer. A client that
	// times out cuts its held request; the engine never sees it.
	Pause bool
	// Refuse makes the proxy look like an engine that is down: it stops
	// listening (new connections are refused) and resets the open ones.
	// Switching it off listens again on the same address.
	Refuse bool
}

// Stats are counts since Start.
type Stats struct {
	Requests            int64 // requests received
	Forwarded           int64 // requests sent to the engine, whole or in part
	Held                int64 // requests held by Pause (each counted once)
	ConnsReset          int64 // open connections reset when Refuse was switched on
	PutRecordsEntries   int64 // PutRecords entries received
	EntriesThrottled    int64 // PutRecords entries answered ProvisionedThroughputExceededException
	PutRecordThrottled  int64 // PutRecord calls answered ProvisionedThroughputExceededException
	WriteRequests       int64 // BatchWriteItem write requests received
	ItemsUnprocessed    int64 // write requests returned in UnprocessedItems
	BatchWriteThrottled int64 // BatchWriteItem calls throttled because every write request was drawn
	DynamoThrottled     int64 // DynamoDB calls answered ProvisionedThroughputExceededException by ThrottleDynamo
	EngineErrors        int64 // requests the engine did not answer (answered 502)
}

type counters struct {
	requests, forwarded, held, connsReset                   atomic.Int64
	putRecordsEntries, entriesThrottled, putRecordThrottled atomic.Int64
	writeRequests, itemsUnprocessed, batchWriteThrottled    atomic.Int64
	dynamoThrottled, engineErrors                           atomic.Int64
}

// Proxy is a running fault proxy.
type Proxy struct {
	target *url.URL
	addr   string // the bound address, kept for listening again after Refuse
	srv    *http.Server
	client *http.Client
	c      counters

	mu        sync.Mutex
	faults    Faults
	rng       *rand.Rand
	ln        net.Listener // nil while refusing
	conns     map[net.Conn]struct{}
	unpaused  chan struct{} // closed while not paused
	closed    bool
	serving   sync.WaitGroup
	done      chan struct{} // closed by Close
	closeOnce sync.Once
}

const maxBody = 32 << 20 // DynamoDB's largest request is 16 MB, Kinesis's 10 MiB

// Start listens on opts.Addr and forwards to opts.Target until Close; ctx
// bounds only the start.
func Start(ctx context.Context, opts Options) (*Proxy, error) {
	target, err := url.Parse(opts.Target)
	if err != nil {
		return nil, fmt.Errorf("faultproxy target %q: %w", opts.Target, err)
	}
	if target.Scheme != "http" || !isLoopback(target.Hostname()) {
		return nil, fmt.Errorf("faultproxy target %q: must be http:// on a loopback address", opts.Target)
	}
	addr := opts.Addr
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	if host, _, err := net.SplitHostPort(addr); err != nil || !isLoopback(host) {
		return nil, fmt.Errorf("faultproxy addr %q: must be a loopback host:port", addr)
	}
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("faultproxy listen: %w", err)
	}
	seed := opts.Seed
	if seed == 0 {
		var b [8]byte
		_, _ = crand.Read(b[:])
		seed = binary.LittleEndian.Uint64(b[:])
	}
	p := &Proxy{
		target: target,
		addr:   ln.Addr().String(),
		rng:    rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)),
		conns:  map[net.Conn]struct{}{},
		done:   make(chan struct{}),
		client: &http.Client{Transport: &http.Transport{
			Proxy:               nil,  // never through an HTTP proxy from the environment
			DisableCompression:  true, // pass the client's Accept-Encoding and the engine's bytes through unchanged
			MaxIdleConnsPerHost: 64,
			IdleConnTimeout:     30 * time.Second,
		}},
	}
	p.unpaused = make(chan struct{})
	close(p.unpaused)
	p.srv = &http.Server{Handler: p, ConnState: p.track, ReadHeaderTimeout: 30 * time.Second}
	p.mu.Lock()
	p.serve(ln)
	p.mu.Unlock()
	if err := p.Set(opts.Faults); err != nil {
		p.Close()
		return nil, err
	}
	return p, nil
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// URL is the proxy's endpoint, to give clients instead of the engine's.
func (p *Proxy) URL() string { return "http://" + p.addr }

// serve runs the server on ln; p.mu is held.
func (p *Proxy) serve(ln net.Listener) {
	p.ln = ln
	p.serving.Add(1)
	go func() {
		defer p.serving.Done()
		_ = p.srv.Serve(ln) // returns when ln is closed (Refuse) or at Close
	}()
}

func (p *Proxy) track(c net.Conn, s http.ConnState) {
	p.mu.Lock()
	defer p.mu.Unlock()
	switch s {
	case http.StateNew:
		if p.faults.Refuse { // accepted just before the listener closed
			reset(c)
			p.c.connsReset.Add(1)
			return
		}
		p.conns[c] = struct{}{}
	case http.StateClosed, http.StateHijacked:
		delete(p.conns, c)
	}
}

// Set switches to faults f. It fails only when switching Refuse off and the
// address cannot be listened on again.
func (p *Proxy) Set(f Faults) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return errors.New("faultproxy: closed")
	}
	old := p.faults
	p.faults = f
	if f.Pause && !old.Pause {
		p.unpaused = make(chan struct{})
	}
	if !f.Pause && old.Pause {
		close(p.unpaused)
	}
	if f.Refuse && p.ln != nil {
		_ = p.ln.Close()
		p.ln = nil
		for c := range p.conns {
			reset(c)
			delete(p.conns, c)
			p.c.connsReset.Add(1)
		}
	}
	if !f.Refuse && p.ln == nil {
		ln, err := net.Listen("tcp", p.addr)
		if err != nil {
			p.faults.Refuse = true
			return fmt.Errorf("faultproxy listen again on %s: %w", p.addr, err)
		}
		p.serve(ln)
	}
	return nil
}

// Faults returns the faults in force.
func (p *Proxy) Faults() Faults {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.faults
}

// Stats returns the counts since Start.
func (p *Proxy) Stats() Stats {
	return Stats{
		Requests: p.c.requests.Load(), Forwarded: p.c.forwarded.Load(), Held: p.c.held.Load(),
		ConnsReset: p.c.connsReset.Load(), PutRecordsEntries: p.c.putRecordsEntries.Load(),
		EntriesThrottled: p.c.entriesThrottled.Load(), PutRecordThrottled: p.c.putRecordThrottled.Load(),
		WriteRequests: p.c.writeRequests.Load(), ItemsUnprocessed: p.c.itemsUnprocessed.Load(),
		BatchWriteThrottled: p.c.batchWriteThrottled.Load(), DynamoThrottled: p.c.dynamoThrottled.Load(),
		EngineErrors: p.c.engineErrors.Load(),
	}
}

// Close stops listening, cuts every connection and releases held requests;
// it returns once the server no longer accepts. Handlers still running end as
// their connections are gone.
func (p *Proxy) Close() error {
	p.closeOnce.Do(func() {
		p.mu.Lock()
		p.closed = true
		close(p.done)
		p.mu.Unlock()
		_ = p.srv.Close()
		p.serving.Wait()
		p.client.CloseIdleConnections()
	})
	return nil
}

// draw answers true with probability rate.
func (p *Proxy) draw(rate float64) bool {
	if rate <= 0 {
		return false
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.rng.Float64() < rate
}

// hold waits while paused. It returns false if the client went away or the
// proxy closed meanwhile.
func (p *Proxy) hold(ctx context.Context, counted *bool) bool {
	p.mu.Lock()
	ch := p.unpaused
	p.mu.Unlock()
	select {
	case <-ch:
		return true
	default:
	}
	if !*counted {
		*counted = true
		p.c.held.Add(1)
	}
	select {
	case <-ch:
		return p.hold(ctx, counted) // paused again meanwhile
	case <-ctx.Done():
	case <-p.done:
	}
	return false
}

// dataPlane lists the DynamoDB operations ThrottleDynamo applies to.
var dataPlane = map[string]bool{
	"GetItem": true, "PutItem": true, "UpdateItem": true, "DeleteItem": true,
	"Query": true, "Scan": true, "BatchGetItem": true, "BatchWriteItem": true,
	"TransactGetItems": true, "TransactWriteItems": true,
	"ExecuteStatement": true, "BatchExecuteStatement": true, "ExecuteTransaction": true,
}

const (
	kinesisPrefix = "Kinesis_20131202."
	dynamoPrefix  = "DynamoDB_20120810."
)

func (p *Proxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	p.c.requests.Add(1)
	if p.Faults().Refuse {
		abort(w)
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
	if err != nil {
		http.Error(w, "faultproxy: read request: "+err.Error(), http.StatusBadRequest)
		return
	}
	// The body is read, so the server now notices a client that hangs up.
	ctx := r.Context()
	held := false
	if !p.hold(ctx, &held) {
		abort(w)
		return
	}
	f := p.Faults()
	if f.Latency > 0 {
		t := time.NewTimer(f.Latency)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			abort(w)
			return
		case <-p.done:
			t.Stop()
			abort(w)
			return
		}
	}
	target := r.Header.Get("X-Amz-Target")
	switch {
	case target == kinesisPrefix+"PutRecords" && f.ThrottlePutRecords > 0:
		p.putRecords(w, r, body, f, &held)
	case target == kinesisPrefix+"PutRecord" && f.ThrottlePutRecords > 0:
		if p.draw(f.ThrottlePutRecords) {
			p.c.putRecordThrottled.Add(1)
			ms, _ := members(body)
			stream, account := streamOf(ms)
			writeAWSError(w, false, "ProvisionedThroughputExceededException", rateExceeded(stream, account))
			return
		}
		p.pass(w, r, body, &held)
	case strings.HasPrefix(target, dynamoPrefix):
		op := strings.TrimPrefix(target, dynamoPrefix)
		if dataPlane[op] && p.draw(f.ThrottleDynamo) {
			p.c.dynamoThrottled.Add(1)
			writeDynamoThrottle(w)
			return
		}
		if op == "BatchWriteItem" && f.UnprocessedBatchWrite > 0 {
			p.batchWrite(w, r, body, f, &held)
			return
		}
		p.pass(w, r, body, &held)
	default:
		p.pass(w, r, body, &held)
	}
}

// abort cuts the client's connection without an answer (returning from the
// handler would answer an empty 200).
func abort(w http.ResponseWriter) {
	hj, ok := w.(http.Hijacker)
	if !ok {
		return
	}
	if c, _, err := hj.Hijack(); err == nil {
		reset(c)
	}
}

// reset closes c with a TCP reset, as the kernel does for a dead process.
func reset(c net.Conn) {
	if tc, ok := c.(*net.TCPConn); ok {
		_ = tc.SetLinger(0)
	}
	_ = c.Close()
}

// forward sends body to the engine with r's method, path and headers.
// identity asks the engine for an uncompressed answer (for answers the proxy
// rewrites).
func (p *Proxy) forward(r *http.Request, body []byte, identity bool) (*http.Response, error) {
	u := *p.target
	u.Path = r.URL.Path
	u.RawPath = r.URL.RawPath
	u.RawQuery = r.URL.RawQuery
	out, err := http.NewRequestWithContext(r.Context(), r.Method, u.String(), bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	for k, vs := range r.Header {
		if !hopByHop[http.CanonicalHeaderKey(k)] {
			out.Header[k] = vs
		}
	}
	out.Header.Del("Content-Length")
	out.ContentLength = int64(len(body))
	if identity {
		out.Header.Set("Accept-Encoding", "identity")
	}
	p.c.forwarded.Add(1)
	resp, err := p.client.Do(out)
	if err != nil {
		p.c.engineErrors.Add(1)
	}
	return resp, err
}

var hopByHop = map[string]bool{
	"Connection": true, "Keep-Alive": true, "Proxy-Authenticate": true, "Proxy-Authorization": true,
	"Proxy-Connection": true, "Te": true, "Trailer": true, "Transfer-Encoding": true, "Upgrade": true,
}

func copyHeader(dst, src http.Header) {
	for k, vs := range src {
		if !hopByHop[http.CanonicalHeaderKey(k)] {
			dst[k] = vs
		}
	}
}

// pass forwards the request unchanged and streams the engine's answer back
// unchanged (Content-Length, Content-Encoding and X-Amz-Crc32 included).
func (p *Proxy) pass(w http.ResponseWriter, r *http.Request, body []byte, held *bool) {
	resp, err := p.forward(r, body, false)
	if err != nil {
		engineDown(w, err)
		return
	}
	defer resp.Body.Close()
	if !p.hold(r.Context(), held) {
		abort(w)
		return
	}
	copyHeader(w.Header(), resp.Header)
	w.WriteHeader(resp.StatusCode)
	_, _ = io.Copy(w, resp.Body)
}

// engineDown answers a request the engine did not answer. The SDK retries a
// 502 as a transient server error.
func engineDown(w http.ResponseWriter, err error) {
	http.Error(w, "faultproxy: engine: "+err.Error(), http.StatusBadGateway)
}

// readAnswer reads the engine's answer, uncompressed.
func readAnswer(resp *http.Response) ([]byte, error) {
	var rd io.Reader = resp.Body
	switch enc := resp.Header.Get("Content-Encoding"); enc {
	case "", "identity":
	case "gzip":
		zr, err := gzip.NewReader(resp.Body)
		if err != nil {
			return nil, fmt.Errorf("gunzip answer: %w", err)
		}
		rd = zr
	default:
		return nil, fmt.Errorf("answer in unsupported Content-Encoding %q", enc)
	}
	return io.ReadAll(rd)
}

// writeRewritten answers with the engine's status and headers and a new
// body: Content-Length, Content-Encoding and X-Amz-Crc32 follow the new body.
func writeRewritten(w http.ResponseWriter, dynamo bool, resp *http.Response, body []byte) {
	copyHeader(w.Header(), resp.Header)
	h := w.Header()
	h.Del("Content-Encoding")
	h.Set("Content-Length", strconv.Itoa(len(body)))
	if dynamo || h.Get("X-Amz-Crc32") != "" {
		h.Set("X-Amz-Crc32", strconv.FormatUint(uint64(crc32.ChecksumIEEE(body)), 10))
	}
	w.WriteHeader(resp.StatusCode)
	_, _ = w.Write(body)
}

func (p *Proxy) putRecords(w http.ResponseWriter, r *http.Request, body []byte, f Faults, held *bool) {
	s, err := splitPutRecords(body, func() bool { return p.draw(f.ThrottlePutRecords) })
	if err != nil { // not ours to judge: let the engine answer it
		p.pass(w, r, body, held)
		return
	}
	p.c.putRecordsEntries.Add(int64(s.total))
	p.c.entriesThrottled.Add(int64(len(s.throttled)))
	if s.forward == nil {
		out, _ := mergePutRecords(nil, s)
		writeAWS(w, false, http.StatusOK, out)
		return
	}
	p.forwardMerged(w, r, s.forward, held, false, func(ans []byte) ([]byte, error) {
		return mergePutRecords(ans, s)
	})
}

func (p *Proxy) batchWrite(w http.ResponseWriter, r *http.Request, body []byte, f Faults, held *bool) {
	s, err := splitBatchWrite(body, func() bool { return p.draw(f.UnprocessedBatchWrite) })
	if err != nil {
		p.pass(w, r, body, held)
		return
	}
	p.c.writeRequests.Add(int64(s.total))
	if s.forward == nil {
		// DynamoDB throttles the call when it can process none of its items.
		p.c.batchWriteThrottled.Add(1)
		writeDynamoThrottle(w)
		return
	}
	p.forwardMerged(w, r, s.forward, held, true, func(ans []byte) ([]byte, error) {
		out, err := mergeUnprocessed(ans, s.held)
		if err == nil {
			p.c.itemsUnprocessed.Add(int64(s.dropped))
		}
		return out, err
	})
}

// forwardMerged forwards body, the part of a split call the engine is to
// answer, waits out a hold, and answers with what merge makes of the engine's
// answer and what the proxy kept back. An engine's refusal (not 200) stands
// as it is; an answer that cannot be read or merged is the engine's fault.
func (p *Proxy) forwardMerged(w http.ResponseWriter, r *http.Request, body []byte, held *bool, dynamo bool, merge func(ans []byte) ([]byte, error)) {
	resp, err := p.forward(r, body, true)
	if err != nil {
		engineDown(w, err)
		return
	}
	defer resp.Body.Close()
	ans, err := readAnswer(resp)
	if err != nil {
		p.c.engineErrors.Add(1)
		engineDown(w, err)
		return
	}
	if !p.hold(r.Context(), held) {
		abort(w)
		return
	}
	if resp.StatusCode != http.StatusOK { // the engine refused the call: its answer stands
		writeRewritten(w, dynamo, resp, ans)
		return
	}
	out, err := merge(ans)
	if err != nil {
		p.c.engineErrors.Add(1)
		engineDown(w, err)
		return
	}
	writeRewritten(w, dynamo, resp, out)
}

func requestID() string {
	var b [16]byte
	_, _ = crand.Read(b[:])
	h := hex.EncodeToString(b[:])
	return h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

// writeAWS writes an answer the proxy made itself, with the headers the
// service sends: DynamoDB's carry X-Amz-Crc32 of the body.
func writeAWS(w http.ResponseWriter, dynamo bool, status int, body []byte) {
	h := w.Header()
	h.Set("X-Amzn-Requestid", requestID())
	h.Set("Content-Length", strconv.Itoa(len(body)))
	if dynamo {
		h.Set("Content-Type", "application/x-amz-json-1.0")
		h.Set("X-Amz-Crc32", strconv.FormatUint(uint64(crc32.ChecksumIEEE(body)), 10))
	} else {
		h.Set("Content-Type", "application/x-amz-json-1.1")
	}
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

// writeAWSError writes a 400 error in the AWS JSON protocols' shape.
func writeAWSError(w http.ResponseWriter, dynamo bool, code, msg string) {
	typ := code
	if dynamo {
		typ = "com.amazonaws.dynamodb.v20120810#" + code
	}
	writeAWS(w, dynamo, http.StatusBadRequest, encodeObject([]member{{"__type", quote(typ)}, {"message", quote(msg)}}))
}

func writeDynamoThrottle(w http.ResponseWriter) {
	writeAWSError(w, true, "ProvisionedThroughputExceededException",
		"The level of configured provisioned throughput for the table was exceeded. Consider increasing your provisioning level with the UpdateTable API.")
}
