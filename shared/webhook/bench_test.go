package webhook_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/flowbus/flowbus/shared/event"
	"github.com/flowbus/flowbus/shared/webhook"
)

// benchEvent is a stored event with about 1 KB of JSON data.
func benchEvent() event.Event {
	e := sample()
	e.Subject = ""
	e.Data = []byte(`{"payload":"` + string(bytes.Repeat([]byte("x"), 1000)) + `"}`)
	return e
}

// The CPU each attempt costs before the network: encoding the event in its
// mode and signing it with one secret (two during a rotation).
func BenchmarkNewRequest(b *testing.B) {
	s1, _ := webhook.GenerateSecret()
	s2, _ := webhook.GenerateSecret()
	now := time.Now()
	for _, mode := range []struct {
		name string
		m    webhook.Mode
	}{{"binary", webhook.Binary}, {"structured", webhook.Structured}} {
		for _, secrets := range [][]webhook.Secret{{s1}, {s1, s2}} {
			b.Run(fmt.Sprintf("%s/secrets=%d", mode.name, len(secrets)), func(b *testing.B) {
				e := benchEvent()
				t := webhook.Target{URL: "https://hooks.example.com/n8n/webhook/abc", Mode: mode.m, Secrets: secrets}
				ctx := context.Background()
				b.ReportAllocs()
				for b.Loop() {
					if _, err := webhook.NewRequest(ctx, t, &e, now); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

func BenchmarkVerify(b *testing.B) {
	s, _ := webhook.GenerateSecret()
	e := benchEvent()
	now := time.Now()
	req, _ := webhook.NewRequest(context.Background(), webhook.Target{URL: "https://x.example", Secrets: []webhook.Secret{s}}, &e, now)
	body, _ := io.ReadAll(req.Body)
	b.ReportAllocs()
	for b.Loop() {
		if err := webhook.Verify(s, req.Header, body, now); err != nil {
			b.Fatal(err)
		}
	}
}

// orderedReceiver verifies each delivery's signature and that every
// workflow's events arrive in sequence order, each exactly once.
type orderedReceiver struct {
	secret webhook.Secret
	mu     sync.Mutex
	last   map[string]uint64
	err    error
}

func (o *orderedReceiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	if err := webhook.Verify(o.secret, r.Header, body, time.Now()); err != nil {
		o.fail(err)
		w.WriteHeader(401)
		return
	}
	seq, _ := strconv.ParseUint(r.Header.Get("Ce-Sequence"), 10, 64)
	wf := r.Header.Get("Ce-Workflowid")
	o.mu.Lock()
	if seq != o.last[wf]+1 && o.err == nil {
		o.err = fmt.Errorf("workflow %s: got sequence %d after %d", wf, seq, o.last[wf])
	}
	o.last[wf] = seq
	o.mu.Unlock()
	w.WriteHeader(http.StatusNoContent)
}

func (o *orderedReceiver) fail(err error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.err == nil {
		o.err = err
	}
}

// Deliveries per second from one goroutine per workflow (one event of a
// workflow in flight at a time, as ordered delivery allows) to a local
// receiver that verifies every signature and the order.
func BenchmarkThroughput(b *testing.B) {
	for _, tlsOn := range []bool{false, true} {
		for _, workflows := range []int{1, 10, 100} {
			b.Run(fmt.Sprintf("tls=%v/workflows=%d", tlsOn, workflows), func(b *testing.B) {
				secret, _ := webhook.GenerateSecret()
				rcv := &orderedReceiver{secret: secret, last: map[string]uint64{}}
				srv := httptest.NewUnstartedServer(rcv)
				srv.Config.ErrorLog = log.New(io.Discard, "", 0) // handshakes cut short at Close
				if tlsOn {
					srv.StartTLS()
				} else {
					srv.Start()
				}
				defer srv.Close()
				opts := webhook.Options{Policy: webhook.Policy{AllowPlainLoopback: true}}
				if tlsOn {
					opts.TLSConfig = srv.Client().Transport.(*http.Transport).TLSClientConfig.Clone()
				}
				c := webhook.New(opts)
				defer c.CloseIdleConnections()
				target := webhook.Target{URL: srv.URL + "/hook", Secrets: []webhook.Secret{secret}}
				per := (b.N + workflows - 1) / workflows
				// Each workflow's first event opens its connection (and TLS
				// session) before the clock starts, as a warm function would
				// have them; the timed part is the steady state.
				run := func(from, to int) {
					var wg sync.WaitGroup
					for w := range workflows {
						wg.Go(func() {
							e := benchEvent()
							e.WorkflowID = "wf-" + strconv.Itoa(w)
							for i := from; i <= to; i++ {
								e.ID = e.WorkflowID + "-" + strconv.Itoa(i)
								e.Sequence = uint64(i)
								if res := c.Deliver(context.Background(), target, &e); res.Outcome != webhook.Delivered {
									rcv.fail(fmt.Errorf("%s: %v %d %v", e.ID, res.Outcome, res.Status, res.Err))
									return
								}
							}
						})
					}
					wg.Wait()
				}
				run(1, 1)
				b.ReportAllocs()
				b.ResetTimer()
				start := time.Now()
				run(2, per+1)
				elapsed := time.Since(start)
				b.StopTimer()
				if rcv.err != nil {
					b.Fatal(rcv.err)
				}
				b.ReportMetric(float64(per*workflows)/elapsed.Seconds(), "deliveries/s")
			})
		}
	}
}
