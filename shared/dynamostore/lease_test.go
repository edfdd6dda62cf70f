package dynamostore_test

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/google/go-cmp/cmp"

	"github.com/flowbus/flowbus/shared/dynamostore"
	"github.com/flowbus/flowbus/shared/eventstore"
	"github.com/flowbus/flowbus/shared/testenv"
)

// stallingDB passes calls through, except that BatchWriteItem first waits
// stall (or until its context ends, as the SDK would) and lease renewals fail
// while failRenew is set.
type stallingDB struct {
	dynamostore.API
	stall     time.Duration
	failRenew atomic.Bool
	renewals  atomic.Int32
	writes    atomic.Int32
}

var errUnreachable = errors.New("injected: engine unreachable")

func isRenewal(in *dynamodb.UpdateItemInput) bool {
	return strings.HasPrefix(aws.ToString(in.UpdateExpression), "SET #until") && !strings.Contains(aws.ToString(in.UpdateExpression), "#lease")
}

func (d *stallingDB) UpdateItem(ctx context.Context, in *dynamodb.UpdateItemInput, o ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error) {
	if isRenewal(in) {
		d.renewals.Add(1)
		if d.failRenew.Load() {
			return nil, errUnreachable
		}
	}
	return d.API.UpdateItem(ctx, in, o...)
}

func (d *stallingDB) BatchWriteItem(ctx context.Context, in *dynamodb.BatchWriteItemInput, o ...func(*dynamodb.Options)) (*dynamodb.BatchWriteItemOutput, error) {
	t := time.NewTimer(d.stall)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-t.C:
	}
	d.writes.Add(1)
	return d.API.BatchWriteItem(ctx, in, o...)
}

// A writer that dies holding a workflow (kill -9 after its claim) frees it
// within the lease, and a live writer that finds it busy waits for it inside
// its own budget instead of failing at once.
func TestDeadWriterFreesItsWorkflowWithinTheLease(t *testing.T) {
	db, table := testenv.Table(t, testenv.AWS(t))
	ctx := context.Background()
	const lease = time.Second
	// The dying writer makes its claim and nothing after it.
	dying := dynamostore.New(&crashingDB{API: db, crashAt: 2}, table, dynamostore.Options{LeaseDuration: lease})
	if _, err := dying.Append(ctx, "wf", incoming("wf", 1, 5)); !errors.Is(err, errCrash) {
		t.Fatalf("dying append: %v, want the injected crash", err)
	}
	live := dynamostore.New(db, table, dynamostore.Options{LeaseDuration: lease, ClaimReserve: time.Second})
	budget, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	start := time.Now()
	res, err := live.Append(budget, "wf", incoming("wf", 1, 5))
	waited := time.Since(start)
	if err != nil {
		t.Fatalf("live append after %s: %v", waited, err)
	}
	if res.Stored != 5 {
		t.Errorf("stored %d, want 5", res.Stored)
	}
	if waited > 3*lease {
		t.Errorf("the live writer waited %s for a dead writer's lease of %s", waited, lease)
	}
	t.Logf("workflow free again after %s (lease %s)", waited, lease)
}

// Without time left in its budget, a writer that finds the workflow busy
// answers ErrBusy rather than waiting past its deadline.
func TestBusyWorkflowAnswersBusyWhenNoBudgetIsLeft(t *testing.T) {
	db, table := testenv.Table(t, testenv.AWS(t))
	ctx := context.Background()
	dying := dynamostore.New(&crashingDB{API: db, crashAt: 2}, table, dynamostore.Options{LeaseDuration: time.Minute})
	if _, err := dying.Append(ctx, "wf", incoming("wf", 1, 1)); !errors.Is(err, errCrash) {
		t.Fatalf("dying append: %v", err)
	}
	live := dynamostore.New(db, table, dynamostore.Options{ClaimReserve: 5 * time.Second})
	short, cancel := context.WithTimeout(ctx, 6*time.Second)
	defer cancel()
	start := time.Now()
	_, err := live.Append(short, "wf", incoming("wf", 1, 1))
	if !errors.Is(err, eventstore.ErrBusy) {
		t.Fatalf("append on a busy workflow: %v, want ErrBusy", err)
	}
	if waited := time.Since(start); waited > 2*time.Second {
		t.Errorf("answered busy after %s; the budget allowed about 1 s of waiting", waited)
	}
}

// A writer whose append outlasts the lease keeps the workflow by renewing:
// nobody else gets in, and it commits.
func TestLeaseIsRenewedWhileTheAppendRuns(t *testing.T) {
	db, table := testenv.Table(t, testenv.AWS(t))
	ctx := context.Background()
	// 1.5 s: with 600 ms a renewal queued behind a busy dynalite on a loaded
	// machine once came too late and the test failed (the lease lost).
	const lease = 1500 * time.Millisecond
	slow := &stallingDB{API: db, stall: 3 * lease}
	writer := dynamostore.New(slow, table, dynamostore.Options{LeaseDuration: lease})
	done := make(chan error, 1)
	go func() {
		_, err := writer.Append(ctx, "wf", incoming("wf", 1, 3))
		done <- err
	}()
	time.Sleep(lease / 3)
	other := dynamostore.New(db, table, dynamostore.Options{LeaseDuration: lease})
	if _, err := other.Append(ctx, "wf", incoming("wf", 1, 3)); !errors.Is(err, eventstore.ErrBusy) {
		t.Errorf("second writer during a renewed lease: %v, want ErrBusy", err)
	}
	if err := <-done; err != nil {
		t.Fatalf("slow append: %v", err)
	}
	if slow.renewals.Load() < 2 {
		t.Errorf("%d renewals during an append of 3 leases", slow.renewals.Load())
	}
	if diff := cmp.Diff(ids(incoming("wf", 1, 3)), history(t, other, "wf")); diff != "" {
		t.Errorf("history (-want +got):\n%s", diff)
	}
}

// A writer that cannot renew (cut off from DynamoDB) stops before its lease
// lapses: its pending writes are cancelled, it never commits, and the writer
// that takes the workflow over stores every event once.
func TestWriterThatLosesItsLeaseNeverCommits(t *testing.T) {
	db, table := testenv.Table(t, testenv.AWS(t))
	ctx := context.Background()
	const lease = 600 * time.Millisecond
	cut := &stallingDB{API: db, stall: 10 * lease}
	cut.failRenew.Store(true)
	stale := dynamostore.New(cut, table, dynamostore.Options{LeaseDuration: lease})
	start := time.Now()
	_, err := stale.Append(ctx, "wf", incoming("wf", 1, 4))
	if !errors.Is(err, eventstore.ErrBusy) {
		t.Fatalf("append that lost its lease: %v, want ErrBusy (lease lost)", err)
	}
	if took := time.Since(start); took > 2*lease {
		t.Errorf("the stale writer went on for %s with a lease of %s", took, lease)
	}
	if n := cut.writes.Load(); n != 0 {
		t.Errorf("%d writes went out after the lease could no longer be proven", n)
	}
	next := dynamostore.New(db, table, dynamostore.Options{LeaseDuration: lease})
	budget, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	if _, err := next.Append(budget, "wf", incoming("wf", 1, 6)); err != nil {
		t.Fatalf("take-over append: %v", err)
	}
	if diff := cmp.Diff(ids(incoming("wf", 1, 6)), history(t, next, "wf")); diff != "" {
		t.Errorf("history (-want +got):\n%s", diff)
	}
}
