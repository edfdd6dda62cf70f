package lambdarun

import (
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"regexp"
	"sync"
	"time"
)

// runtimeProxy stands between the bootstrap and RIE's Runtime API and notes
// which invocations the runtime reported as errors. RIE answers a handler's
// error with 200 and the error document, exactly as it answers a success, so
// without this an error and an answer that looks like one could not be told
// apart; Lambda tells them apart with X-Amz-Function-Error.
type runtimeProxy struct {
	addr string
	srv  *http.Server

	mu   sync.Mutex
	errs map[string]string // request id -> error type the runtime gave ("" if none)
}

var invocationError = regexp.MustCompile(`^/2018-06-01/runtime/invocation/([^/]+)/error$`)

// initErrorKey is where an init error (/runtime/init/error) is noted.
const initErrorKey = "\x00init"

// newRuntimeProxy serves on a free loopback port and forwards to RIE's
// Runtime API at target; reported runs as the runtime reports an outcome.
func newRuntimeProxy(target string, transport http.RoundTripper, reported func()) (*runtimeProxy, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	p := &runtimeProxy{addr: ln.Addr().String(), errs: map[string]string{}}
	rp := &httputil.ReverseProxy{
		Rewrite: func(r *httputil.ProxyRequest) {
			r.SetURL(&url.URL{Scheme: "http", Host: target})
		},
		Transport:     transport,
		FlushInterval: -1,
		ErrorLog:      log.New(io.Discard, "", 0),
	}
	p.srv = &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Method == http.MethodPost {
				errType := r.Header.Get("Lambda-Runtime-Function-Error-Type")
				if m := invocationError.FindStringSubmatch(r.URL.Path); m != nil {
					p.note(m[1], errType)
				} else if r.URL.Path == "/2018-06-01/runtime/init/error" {
					p.note(initErrorKey, errType)
				}
				reported()
			}
			rp.ServeHTTP(w, r)
		}),
		ReadHeaderTimeout: 10 * time.Second,
	}
	go func() { _ = p.srv.Serve(ln) }()
	return p, nil
}

func (p *runtimeProxy) note(id, errType string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.errs[id] = errType
}

// takeError tells whether the runtime reported invocation id (or its init)
// as failed, with the error type it gave, and forgets it.
func (p *runtimeProxy) takeError(id string) (errType string, failed bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, k := range []string{id, initErrorKey} {
		if t, ok := p.errs[k]; ok {
			delete(p.errs, k)
			return t, true
		}
	}
	return "", false
}

// close drops the listener and every connection, the runtime's pending
// long poll included: it runs once the runtime is gone.
func (p *runtimeProxy) close() {
	_ = p.srv.Close()
}
