package delivery

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/google/go-cmp/cmp"

	"github.com/flowbus/flowbus/shared/config"
	"github.com/flowbus/flowbus/shared/route"
	"github.com/flowbus/flowbus/shared/subscription"
	"github.com/flowbus/flowbus/shared/testenv"
	"github.com/flowbus/flowbus/shared/webhook"
)

// receiver is a loopback webhook endpoint that verifies signatures, records
// event ids in order and answers what answer says for an id.
type receiver struct {
	mu     sync.Mutex
	secret webhook.Secret
	got    []string
	answer map[string][]int // id -> statuses to answer first, one per request
}

func (r *receiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	body, _ := io.ReadAll(req.Body)
	r.mu.Lock()
	defer r.mu.Unlock()
	if err := webhook.Verify(r.secret, req.Header, body, time.Now()); err != nil {
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	id := req.Header.Get("ce-id")
	if s := r.answer[id]; len(s) > 0 {
		r.answer[id] = s[1:]
		w.WriteHeader(s[0])
		return
	}
	r.got = append(r.got, id)
	w.WriteHeader(http.StatusNoContent)
}

func (r *receiver) received() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.got)
}

// TestDeliverThroughEngines runs the deliverer on an sqslocal FIFO queue and
// a dynalite table, to a signature-verifying loopback receiver: a 503 holds
// back the workflow (not another one) and is delivered after its backoff, in
// order; a 400 is dead-lettered, listed, redriven in order and delivered.
func TestDeliverThroughEngines(t *testing.T) {
	cfg := testenv.AWS(t)
	ctx := context.Background()
	db, tbl := testenv.Table(t, cfg)
	sealer, err := webhook.ParseAESGCMKey(config.DevSecretKey)
	if err != nil {
		t.Fatal(err)
	}
	store := subscription.NewStore(db, tbl, sealer)
	rcv := &receiver{answer: map[string][]int{"e2": {503}, "e5": {400}}}
	srv := httptest.NewServer(rcv)
	t.Cleanup(srv.Close)
	sub := subscription.Subscription{Name: "hook", Pattern: json.RawMessage(`{"source":["test"]}`), State: subscription.Enabled,
		Target: subscription.Target{Type: subscription.TargetHTTP, URL: srv.URL + "/hook"}, Delivery: subscription.DefaultDelivery()}
	_, sec, err := store.Create(ctx, sub)
	if err != nil {
		t.Fatal(err)
	}
	rcv.secret = sec

	sc := sqs.NewFromConfig(cfg)
	q, err := sc.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String(testenv.Name("deliver") + ".fifo"), Attributes: map[string]string{
		"FifoQueue": "true", "ContentBasedDeduplication": "false", "DeduplicationScope": "messageGroup", "FifoThroughputLimit": "perMessageGroupId",
		"VisibilityTimeout": "30"}})
	if err != nil {
		t.Fatalf("create the FIFO queue: %v", err)
	}
	t.Cleanup(func() { _, _ = sc.DeleteQueue(context.Background(), &sqs.DeleteQueueInput{QueueUrl: q.QueueUrl}) })
	queueURL := aws.ToString(q.QueueUrl)

	dead := NewDeadLetters(db, tbl)
	d, err := New(Config{QueueURL: queueURL}, Deps{Subscriptions: store, Queue: sc, DeadLetters: dead,
		Targets: Targets{Webhook: webhook.New(webhook.Options{Policy: webhook.Policy{AllowPlainLoopback: true}})}})
	if err != nil {
		t.Fatal(err)
	}
	rec := NewRecorder(db, tbl)

	// As the router sends them: wf-1 e1 e2 e3, wf-2 e4 e5 e6.
	for i := 1; i <= 6; i++ {
		wf := "wf-1"
		if i > 3 {
			wf = "wf-2"
		}
		id := fmt.Sprint("e", i)
		ce := `{"specversion":"1.0","id":"` + id + `","source":"test","type":"t","time":"` + time.Now().UTC().Format(time.RFC3339Nano) + `","workflowid":"` + wf + `","data":{}}`
		b, _ := json.Marshal(route.Pointer{Subscription: "hook", WorkflowID: wf, EventID: id, Event: json.RawMessage(ce)})
		if _, err := sc.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: q.QueueUrl, MessageBody: aws.String(string(b)),
			MessageGroupId: aws.String(route.GroupID("hook", wf)), MessageDeduplicationId: aws.String("hook/" + id)}); err != nil {
			t.Fatal(err)
		}
	}

	// poll is the event source mapping: receive, deliver, delete what is
	// not reported.
	poll := func() int {
		out, err := sc.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: q.QueueUrl, MaxNumberOfMessages: 10, WaitTimeSeconds: 1,
			MessageSystemAttributeNames: []sqstypes.MessageSystemAttributeName{sqstypes.MessageSystemAttributeNameAll}})
		if err != nil {
			t.Fatal(err)
		}
		msgs := make([]Message, len(out.Messages))
		for i, m := range out.Messages {
			var n, ms int
			fmt.Sscan(m.Attributes["ApproximateReceiveCount"], &n)
			fmt.Sscan(m.Attributes["SentTimestamp"], &ms)
			msgs[i] = Message{ID: aws.ToString(m.MessageId), ReceiptHandle: aws.ToString(m.ReceiptHandle), Body: aws.ToString(m.Body),
				GroupID: m.Attributes["MessageGroupId"], ReceiveCount: n, SentAt: time.UnixMilli(int64(ms))}
		}
		res, err := d.Deliver(ctx, msgs)
		if err != nil {
			t.Fatal(err)
		}
		if err := rec.Record(ctx, res.Figures, time.Now()); err != nil {
			t.Fatal(err)
		}
		for i, m := range out.Messages {
			if !slices.Contains(res.Failures, msgs[i].ID) {
				if _, err := sc.DeleteMessage(ctx, &sqs.DeleteMessageInput{QueueUrl: q.QueueUrl, ReceiptHandle: m.ReceiptHandle}); err != nil {
					t.Fatal(err)
				}
			}
		}
		return len(out.Messages)
	}
	deadline := time.Now().Add(20 * time.Second)
	for len(rcv.received()) < 5 && time.Now().Before(deadline) {
		poll()
	}
	got := rcv.received()
	// Per workflow in order; e5 (400) dead-lettered, so e6 follows e4.
	perWF := func(ids []string, wf ...string) []string {
		var out []string
		for _, id := range ids {
			if slices.Contains(wf, id) {
				out = append(out, id)
			}
		}
		return out
	}
	if diff := cmp.Diff([]string{"e1", "e2", "e3"}, perWF(got, "e1", "e2", "e3")); diff != "" {
		t.Errorf("wf-1 (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"e4", "e6"}, perWF(got, "e4", "e5", "e6")); diff != "" {
		t.Errorf("wf-2 (-want +got):\n%s", diff)
	}
	// wf-2 was not held back by wf-1's 503: e4 arrived before e2.
	if slices.Index(got, "e4") > slices.Index(got, "e2") {
		t.Errorf("got %v: wf-2 waited for wf-1's retry", got)
	}

	page, err := dead.List(ctx, "hook", "", 10)
	if err != nil || len(page.Entries) != 1 {
		t.Fatalf("dead letters: %+v, %v", page, err)
	}
	if e := page.Entries[0]; e.EventID != "e5" || e.Status != 400 || e.WorkflowID != "wf-2" || !json.Valid(e.Event) {
		t.Errorf("got entry %+v", e)
	}
	sent, more, err := dead.Redrive(ctx, "hook", sc, queueURL)
	if err != nil || sent != 1 || more {
		t.Fatalf("Redrive = %d, %v, %v", sent, more, err)
	}
	for len(rcv.received()) < 6 && time.Now().Before(deadline.Add(10*time.Second)) {
		poll()
	}
	if got := rcv.received(); len(got) != 6 || got[5] != "e5" {
		t.Errorf("got %v, want e5 redriven and delivered last", got)
	}
	if page, _ := dead.List(ctx, "hook", "", 10); len(page.Entries) != 0 {
		t.Errorf("got %d entries after the redrive, want none", len(page.Entries))
	}
	st, err := rec.Status(ctx, "hook", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if st.Delivered != 6 || st.Retrying != 1 || st.DeadLettered != 1 || st.LatencyP99Ms <= 0 {
		t.Errorf("got status %+v", st)
	}
}
