package sqslocal

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"
)

const (
	targetPrefix  = "AmazonSQS."
	jsonMediaType = "application/x-amz-json-1.0"
	// maxRequestBytes bounds a request body: a full batch of the largest
	// messages, JSON-escaped, with room to spare.
	maxRequestBytes = 8 << 20
)

// Options configures a Server.
type Options struct {
	// Region goes into queue ARNs. Default us-east-1.
	Region string
	// Logger receives one debug record per request and the errors answered
	// with a 5xx status. Default: no logging.
	Logger *slog.Logger
}

// Server is an in-memory SQS engine. It is an http.Handler and safe for
// concurrent use. The zero value is not usable: call New.
type Server struct {
	region string
	log    *slog.Logger
	ops    map[string]operation

	mu      sync.Mutex
	queues  map[string]*queue
	closing chan struct{}
	closed  bool
}

// call is one request as an operation sees it.
type call struct {
	body []byte
	// base is the scheme and host the request came to; queue URLs are
	// built on it.
	base string
}

type operation func(ctx context.Context, c *call) (any, error)

// decoded is an operation that takes the request decoded into In.
func decoded[In any](op func(ctx context.Context, c *call, in In) (any, error)) operation {
	return func(ctx context.Context, c *call) (any, error) {
		var in In
		if err := c.decode(&in); err != nil {
			return nil, err
		}
		return op(ctx, c, in)
	}
}

// queueRequest is a request on the one queue its QueueUrl names.
type queueRequest interface {
	queueURLMember() *string
}

// onQueue is an operation on the queue its request names: it decodes the
// request, takes s.mu, looks the queue up and runs op with s.mu held.
func onQueue[In queueRequest](s *Server, op func(q *queue, in In) (any, error)) operation {
	return decoded(func(_ context.Context, _ *call, in In) (any, error) {
		s.mu.Lock()
		defer s.mu.Unlock()
		q, err := s.lookup(in.queueURLMember())
		if err != nil {
			return nil, err
		}
		return op(q, in)
	})
}

// New returns an empty engine.
func New(opts Options) *Server {
	s := &Server{
		region:  opts.Region,
		log:     opts.Logger,
		queues:  make(map[string]*queue),
		closing: make(chan struct{}),
	}
	if s.region == "" {
		s.region = "us-east-1"
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	s.ops = map[string]operation{
		"CreateQueue":                  decoded(s.createQueue),
		"GetQueueUrl":                  decoded(s.getQueueURL),
		"ListQueues":                   decoded(s.listQueues),
		"DeleteQueue":                  onQueue(s, s.deleteQueue),
		"GetQueueAttributes":           onQueue(s, s.getQueueAttributes),
		"SetQueueAttributes":           onQueue(s, s.setQueueAttributes),
		"PurgeQueue":                   onQueue(s, s.purgeQueue),
		"SendMessage":                  onQueue(s, s.sendMessage),
		"SendMessageBatch":             onQueue(s, s.sendMessageBatch),
		"ReceiveMessage":               decoded(s.receiveMessage),
		"DeleteMessage":                onQueue(s, s.deleteMessage),
		"DeleteMessageBatch":           onQueue(s, s.deleteMessageBatch),
		"ChangeMessageVisibility":      onQueue(s, s.changeMessageVisibility),
		"ChangeMessageVisibilityBatch": onQueue(s, s.changeMessageVisibilityBatch),
	}
	return s
}

// Close ends the long polls in progress, which then answer with no messages,
// and makes later ones return at once. Call it before shutting the HTTP
// server down so that the shutdown does not wait for them.
func (s *Server) Close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.closed {
		s.closed = true
		close(s.closing)
	}
}

// Counts returns how many messages the named queue holds, by state.
func (s *Server) Counts(queueName string) (Counts, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	q, ok := s.queues[queueName]
	if !ok {
		return Counts{}, ErrQueueNotFound
	}
	now := time.Now()
	q.expire(now)
	return q.counts(now), nil
}

// ServeHTTP answers one AWS JSON 1.0 request. Signatures are accepted without
// being checked.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	op := strings.TrimPrefix(r.Header.Get("X-Amz-Target"), targetPrefix)
	out, err := s.handle(w, r)
	status := http.StatusOK
	if err != nil {
		status = s.writeError(w, op, err)
	} else {
		writeJSON(w, http.StatusOK, out)
	}
	s.log.LogAttrs(r.Context(), slog.LevelDebug, "request",
		slog.String("op", op), slog.Int("status", status), slog.Duration("took", time.Since(start)))
}

func (s *Server) handle(w http.ResponseWriter, r *http.Request) (any, error) {
	target := r.Header.Get("X-Amz-Target")
	if r.Method != http.MethodPost || !strings.HasPrefix(target, targetPrefix) {
		if strings.HasPrefix(r.Header.Get("Content-Type"), "application/x-www-form-urlencoded") {
			return nil, errUnknownOperation("sqslocal speaks the AWS JSON 1.0 protocol only (POST with X-Amz-Target: AmazonSQS.<Operation>), not the Query protocol")
		}
		return nil, errUnknownOperation("sqslocal answers POST requests with X-Amz-Target: AmazonSQS.<Operation>; got %s with target %q", r.Method, target)
	}
	name := strings.TrimPrefix(target, targetPrefix)
	op, ok := s.ops[name]
	if !ok {
		return nil, errUnsupportedOperation("sqslocal does not implement %s", name)
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxRequestBytes))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return nil, errSerialization("request body is larger than %d bytes", maxRequestBytes)
		}
		return nil, errSerialization("read request body: %v", err)
	}
	return op(r.Context(), &call{body: body, base: baseURL(r)})
}

// baseURL is the scheme and host the request was sent to.
func baseURL(r *http.Request) string {
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	host := r.Host
	if host == "" {
		host = "localhost"
	}
	return scheme + "://" + host
}

// decode reads the request body into in; an empty body is an empty object.
func (c *call) decode(in any) error {
	if len(bytes.TrimSpace(c.body)) == 0 {
		return nil
	}
	if err := json.Unmarshal(c.body, in); err != nil {
		return errSerialization("request body is not a valid JSON object of this operation: %v", err)
	}
	return nil
}

func (c *call) queueURL(name string) string {
	return c.base + "/" + accountID + "/" + name
}

// writeError answers err and returns the status it used.
func (s *Server) writeError(w http.ResponseWriter, op string, err error) int {
	var ae *apiError
	if !errors.As(err, &ae) {
		s.log.Error("internal error", slog.String("op", op), slog.Any("err", err))
		ae = &apiError{shape: "InternalError", queryCode: "InternalError", status: http.StatusInternalServerError,
			message: "We encountered an internal error. Please try again."}
	}
	if h := ae.queryHeader(); h != "" {
		w.Header().Set("X-Amzn-Query-Error", h)
	}
	writeJSON(w, ae.status, errorOutput{Type: ae.shapeID(), Message: ae.message})
	return ae.status
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		// Every response type is plain data; this cannot happen.
		status = http.StatusInternalServerError
		buf.Reset()
		buf.WriteString(`{"__type":"com.amazonaws.sqs#InternalError","message":"encode response"}`)
	}
	h := w.Header()
	h.Set("Content-Type", jsonMediaType)
	h.Set("X-Amzn-RequestId", newID())
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}

// lookup returns the queue a QueueUrl names. The URL's host is not checked
// (clients may reach the engine under several names); its path must be
// /<account>/<queue>. Call with s.mu held.
func (s *Server) lookup(queueURL *string) (*queue, error) {
	if queueURL == nil || *queueURL == "" {
		return nil, errMissingParameter("QueueUrl")
	}
	u, err := url.Parse(*queueURL)
	if err != nil {
		return nil, errInvalidAddress(*queueURL)
	}
	path := strings.Trim(u.Path, "/")
	account, name, ok := strings.Cut(path, "/")
	if !ok || account == "" || name == "" || strings.Contains(name, "/") {
		return nil, errInvalidAddress(*queueURL)
	}
	q, found := s.queues[name]
	if account != accountID || !found {
		return nil, errQueueDoesNotExist()
	}
	return q, nil
}

// queueByARN returns the queue an ARN of this engine's region and account
// names.
func (s *Server) queueByARN(arn string) (*queue, bool) {
	prefix := queueARN(s.region, "")
	if !strings.HasPrefix(arn, prefix) {
		return nil, false
	}
	q, ok := s.queues[strings.TrimPrefix(arn, prefix)]
	return q, ok
}
