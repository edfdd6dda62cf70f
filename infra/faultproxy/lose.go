package faultproxy

import (
	"io"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
)

// LoseFirstReceive is an http.RoundTripper that breaks the body of the
// first SQS ReceiveMessage answer holding messages, as the local runtime
// saw now and then: a 200 whose body read fails with "use of closed
// network connection". The SDK retries the call. Next is the transport
// underneath (http.DefaultTransport when nil).
type LoseFirstReceive struct {
	Next http.RoundTripper
	lost atomic.Bool
}

// Lost reports whether an answer was broken.
func (l *LoseFirstReceive) Lost() bool { return l.lost.Load() }

// RoundTrip passes r on and breaks the first answer with messages.
func (l *LoseFirstReceive) RoundTrip(r *http.Request) (*http.Response, error) {
	next := l.Next
	if next == nil {
		next = http.DefaultTransport
	}
	resp, err := next.RoundTrip(r)
	if err != nil || r.Header.Get("X-Amz-Target") != "AmazonSQS.ReceiveMessage" {
		return resp, err
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return nil, err
	}
	if strings.Contains(string(body), `"Messages"`) && l.lost.CompareAndSwap(false, true) {
		resp.Body = io.NopCloser(io.MultiReader(strings.NewReader(string(body[:len(body)/2])),
			errReader{&net.OpError{Op: "read", Net: "tcp", Err: net.ErrClosed}}))
		return resp, nil
	}
	resp.Body = io.NopCloser(strings.NewReader(string(body)))
	return resp, nil
}

type errReader struct{ err error }

func (e errReader) Read([]byte) (int, error) { return 0, e.err }
