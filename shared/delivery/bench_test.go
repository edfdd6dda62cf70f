package delivery

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/flowbus/flowbus/shared/subscription"
	"github.com/flowbus/flowbus/shared/webhook"
)

// liveSubs is a subscription set whose snapshot carries signing secrets.
type liveSubs struct{ live []subscription.Live }

func (l liveSubs) Snapshot(context.Context) ([]subscription.Live, error) { return l.live, nil }
func (l liveSubs) Get(context.Context, string) (subscription.Subscription, error) {
	return subscription.Subscription{}, subscription.ErrNotFound
}
func (l liveSubs) Put(_ context.Context, s subscription.Subscription) (subscription.Subscription, webhook.Secret, error) {
	return s, webhook.Secret{}, nil
}

// BenchmarkDeliver is the deliver function's own cost per message and per
// event: a batch of 10 messages of 10 workflows (one FIFO group each,
// delivered in parallel as a batch is), each carrying its ~300-byte
// CloudEvent, or a pack of 8 (events-per-message=8, as a request of 100
// events over 13 workflows packs), parsed,
// decoded, signed and attempted, figures counted. target=fake stops at the
// target (what delivery adds around it); target=http is a signed webhook
// request to a loopback receiver that reads the body and answers 204 (the
// receiver's cost included: same process). No AWS call is made: a
// delivered message needs none (figures are written once per batch by the
// handler, attempt counts only after a failure).
func BenchmarkDeliver(b *testing.B) {
	secret, err := webhook.GenerateSecret()
	if err != nil {
		b.Fatal(err)
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.WriteHeader(http.StatusNoContent)
	}))
	defer srv.Close()
	for _, c := range []struct {
		target string
		pack   int // events per message; 1 is the one-event body
	}{{"fake", 1}, {"http", 1}, {"fake", 8}, {"http", 8}} {
		target := c.target
		b.Run(fmt.Sprintf("target=%s/events-per-message=%d", target, c.pack), func(b *testing.B) {
			f := newFixture(b)
			sub := httpSub("bench")
			sub.Target.URL = srv.URL + "/hook"
			var hook Webhook = f.hook
			if target == "http" {
				hook = webhook.New(webhook.Options{Policy: webhook.Policy{AllowPlainLoopback: true}})
			}
			d, err := New(Config{QueueURL: "http://sqs/q.fifo"}, Deps{Subscriptions: liveSubs{[]subscription.Live{{Subscription: sub, Secrets: []webhook.Secret{secret}}}},
				Queue: f.queue, DeadLetters: f.dl, Targets: Targets{Webhook: hook}})
			if err != nil {
				b.Fatal(err)
			}
			msgs := make([]Message, 10)
			for i := range msgs {
				if c.pack == 1 {
					msgs[i] = f.msg("bench", fmt.Sprintf("wf-%d", i), fmt.Sprintf("e-%d", i), 1, time.Second)
					continue
				}
				ids := make([]string, c.pack)
				for k := range ids {
					ids[k] = fmt.Sprintf("e-%d-%d", i, k)
				}
				msgs[i] = f.pack("bench", fmt.Sprintf("wf-%d", i), ids, 1)
			}
			ctx := context.Background()
			if _, err := d.Deliver(ctx, msgs); err != nil { // warm: snapshot, connections
				b.Fatal(err)
			}
			f.hook.delivered = nil
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				res, err := d.Deliver(ctx, msgs)
				if err != nil || len(res.Failures) > 0 || res.Figures["bench"].Delivered != len(msgs)*c.pack {
					b.Fatalf("got %+v, %v", res, err)
				}
				f.hook.delivered = f.hook.delivered[:0]
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(msgs)), "ns/message")
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(msgs)*c.pack), "ns/event")
		})
	}
}
