package dynamostore

import (
	"context"
	crand "crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/flowbus/flowbus/shared/backoff"
	"github.com/flowbus/flowbus/shared/eventstore"
	"github.com/flowbus/flowbus/shared/table"
)

// A writer holds a workflow through a lease on its head item: a random token
// and an expiry a short LeaseDuration ahead, renewed every third of it while
// the writer works. A writer that dies (kill -9, a Lambda timeout) stops
// renewing, so its workflow is free again within LeaseDuration, not at its
// invocation's deadline. The commit is fenced by the token: a writer whose
// lease was taken over can never commit, and its context ends as soon as it
// cannot prove its lease, so it issues no further writes either.

// errLeaseLost is the cause of a lease context that ended because the lease
// could not be kept.
var errLeaseLost = fmt.Errorf("lease lost: %w", eventstore.ErrBusy)

// lease is a claim on one workflow's head.
type lease struct {
	wf        string
	token     string
	head      head
	committed bool
}

// withLease runs fn holding wf's lease. A busy workflow is waited for while
// the context leaves time to write (Options.ClaimReserve); fn's context ends
// if the lease cannot be renewed. The lease is released afterwards unless fn
// committed it.
func (st *Store) withLease(ctx context.Context, wf string, fn func(ctx context.Context, l *lease) error) error {
	l, err := st.claimWaiting(ctx, wf)
	if err != nil {
		return err
	}
	lctx, stop := st.keep(ctx, l)
	err = fn(lctx, l)
	stop()
	if !l.committed {
		st.release(ctx, l)
	}
	if err != nil && errors.Is(context.Cause(lctx), errLeaseLost) && ctx.Err() == nil {
		return fmt.Errorf("%w (%w)", err, errLeaseLost)
	}
	return err
}

// claimWaiting claims wf, waiting with backoff while another writer holds it
// and the context leaves more than ClaimReserve. Without a deadline it waits
// up to twice LeaseDuration: long enough for a dead writer's lease to lapse.
func (st *Store) claimWaiting(ctx context.Context, wf string) (*lease, error) {
	giveUp := st.now().Add(2 * st.opts.LeaseDuration)
	if d, ok := ctx.Deadline(); ok {
		giveUp = d.Add(-st.opts.ClaimReserve)
	}
	for attempt := 0; ; attempt++ {
		l, err := st.claim(ctx, wf)
		if err == nil || !errors.Is(err, eventstore.ErrBusy) {
			return l, err
		}
		wait := backoff.FullJitter(50*time.Millisecond, time.Second, attempt)
		if st.now().Add(wait).After(giveUp) {
			return nil, err
		}
		if err := backoff.Sleep(ctx, wait); err != nil {
			return nil, fmt.Errorf("claim %s: %w", wf, err)
		}
	}
}

// claim takes the workflow's lease once, creating the head if needed, and
// returns the head as it stands. Another live lease gives eventstore.ErrBusy.
func (st *Store) claim(ctx context.Context, wf string) (*lease, error) {
	now := st.now()
	var tok [12]byte
	_, _ = crand.Read(tok[:])
	l := &lease{wf: wf, token: hex.EncodeToString(tok[:])}
	out, err := st.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                aws.String(st.table),
		Key:                      table.Key(table.WorkflowPK(wf), table.HeadSK),
		UpdateExpression:         aws.String("SET #lease = :tok, #until = :until"),
		ConditionExpression:      aws.String("attribute_not_exists(#until) OR #until < :now"),
		ExpressionAttributeNames: map[string]string{"#lease": table.AttrLease, "#until": table.AttrUntil},
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":tok": s(l.token), ":until": ni(now.Add(st.opts.LeaseDuration).UnixMilli()), ":now": ni(now.UnixMilli()),
		},
		ReturnValues: types.ReturnValueAllNew,
	})
	if err != nil {
		if isConditionFailed(err) {
			return nil, fmt.Errorf("claim %s: %w", wf, eventstore.ErrBusy)
		}
		return nil, fmt.Errorf("claim %s: %w", wf, err)
	}
	if l.head, err = decodeHead(out.Attributes); err != nil {
		return nil, fmt.Errorf("claim %s: %w", wf, err)
	}
	return l, nil
}

// keep renews l every third of LeaseDuration until stop is called. The
// returned context ends with cause errLeaseLost when another writer took the
// lease, or when no renewal succeeded before the lease would lapse (less a
// safety margin of a sixth of it), so that nothing is written under a lease
// that may belong to somebody else.
func (st *Store) keep(ctx context.Context, l *lease) (context.Context, func()) {
	lctx, cancel := context.WithCancelCause(ctx)
	done := make(chan struct{})
	finished := make(chan struct{})
	d := st.opts.LeaseDuration
	go func() {
		defer close(finished)
		validUntil := st.now().Add(d - d/6) // measured from before the claim returned
		for {
			next := min(d/3, validUntil.Sub(st.now()))
			t := time.NewTimer(max(next, 0))
			select {
			case <-done:
				t.Stop()
				return
			case <-lctx.Done():
				t.Stop()
				return
			case <-t.C:
			}
			if !st.now().Before(validUntil) {
				cancel(errLeaseLost)
				return
			}
			started := st.now()
			err := st.renew(lctx, l, started.Add(d))
			switch {
			case err == nil:
				validUntil = started.Add(d - d/6)
			case isConditionFailed(err):
				cancel(errLeaseLost)
				return
			}
			// Another error (throttling, the engine briefly away): try
			// again at the next tick while the lease is still ours.
		}
	}()
	return lctx, func() {
		close(done)
		<-finished
		cancel(nil)
	}
}

// renew moves l's expiry to until if the lease is still l's.
func (st *Store) renew(ctx context.Context, l *lease, until time.Time) error {
	ctx, cancel := context.WithTimeout(ctx, st.opts.LeaseDuration/3)
	defer cancel()
	_, err := st.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                 aws.String(st.table),
		Key:                       table.Key(table.WorkflowPK(l.wf), table.HeadSK),
		UpdateExpression:          aws.String("SET #until = :until"),
		ConditionExpression:       aws.String("#lease = :tok"),
		ExpressionAttributeNames:  map[string]string{"#lease": table.AttrLease, "#until": table.AttrUntil},
		ExpressionAttributeValues: map[string]types.AttributeValue{":tok": s(l.token), ":until": ni(until.UnixMilli())},
	})
	return err
}

// release gives a lease up unless it was committed, so a retry need not wait
// for it to expire. Best effort: an expired lease is as good.
func (st *Store) release(ctx context.Context, l *lease) {
	if l.committed {
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
	defer cancel()
	_, _ = st.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                 aws.String(st.table),
		Key:                       table.Key(table.WorkflowPK(l.wf), table.HeadSK),
		UpdateExpression:          aws.String("REMOVE #lease, #until"),
		ConditionExpression:       aws.String("#lease = :tok"),
		ExpressionAttributeNames:  map[string]string{"#lease": table.AttrLease, "#until": table.AttrUntil},
		ExpressionAttributeValues: map[string]types.AttributeValue{":tok": s(l.token)},
	})
}
