package subscription

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/flowbus/flowbus/shared/testenv"
	"github.com/flowbus/flowbus/shared/webhook"
)

func testSealer(t *testing.T) webhook.Sealer {
	t.Helper()
	s, err := webhook.NewAESGCM(make([]byte, webhook.KeyBytes))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func mustParse(t *testing.T, body string) Subscription {
	t.Helper()
	s, err := Parse([]byte(body))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Validate(local); err != nil {
		t.Fatal(err)
	}
	return s
}

func TestStore(t *testing.T) {
	db, tbl := testenv.Table(t, testenv.AWS(t))
	ctx := context.Background()
	clock := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	st := NewStore(db, tbl, testSealer(t))
	st.Now = func() time.Time { return clock }

	hook := mustParse(t, `{"name":"hook","pattern":{"type":["a"]},"target":{"type":"http","url":"http://127.0.0.1:9000/h"}}`)
	created, sec, err := st.Create(ctx, hook)
	if err != nil {
		t.Fatal(err)
	}
	if sec.IsZero() || created.Version != 1 || !created.Created.Equal(clock) {
		t.Fatalf("got %+v secret zero %v", created, sec.IsZero())
	}
	if _, _, err := st.Create(ctx, hook); !errors.Is(err, ErrExists) {
		t.Errorf("second create: got %v, want ErrExists", err)
	}
	got, err := st.Get(ctx, "hook")
	if err != nil || got.Target.URL != hook.Target.URL || got.Version != 1 {
		t.Errorf("get: got %+v %v", got, err)
	}
	if _, err := st.Get(ctx, "missing"); !errors.Is(err, ErrNotFound) {
		t.Errorf("get missing: got %v, want ErrNotFound", err)
	}
	if _, err := st.Get(ctx, "bad name!"); !errors.Is(err, ErrNotFound) {
		t.Errorf("get bad name: got %v, want ErrNotFound", err)
	}

	// Snapshot: the secret opens to what Create returned.
	snap, err := st.Snapshot(ctx)
	if err != nil || len(snap) != 1 || len(snap[0].Secrets) != 1 || snap[0].Secrets[0].String() != sec.String() {
		t.Fatalf("snapshot: got %+v %v", snap, err)
	}

	// Put: optimistic version, secret kept.
	clock = clock.Add(time.Minute)
	hook.Delivery.RetryAttempts = 3
	hook.Version = 1
	put, newSec, err := st.Put(ctx, hook)
	if err != nil || put.Version != 2 || !newSec.IsZero() || !put.Created.Equal(created.Created) || !put.Updated.Equal(clock) {
		t.Fatalf("put: got %+v %v", put, err)
	}
	if _, _, err := st.Put(ctx, hook); !errors.Is(err, ErrConflict) {
		t.Errorf("stale put: got %v, want ErrConflict", err)
	}
	hook.Version = 0
	if put, _, err = st.Put(ctx, hook); err != nil || put.Version != 3 {
		t.Errorf("put without version: got %+v %v", put, err)
	}
	missing := hook
	missing.Name = "missing"
	if _, _, err := st.Put(ctx, missing); !errors.Is(err, ErrNotFound) {
		t.Errorf("put missing: got %v, want ErrNotFound", err)
	}

	// Rotation: both secrets sign until the overlap ends.
	_, rotated, until, err := st.RotateSecret(ctx, "hook", time.Hour)
	if err != nil || rotated.String() == sec.String() || !until.Equal(clock.Add(time.Hour)) {
		t.Fatalf("rotate: got %v %v", until, err)
	}
	snap, _ = st.Snapshot(ctx)
	if len(snap[0].Secrets) != 2 || snap[0].Secrets[0].String() != rotated.String() || snap[0].Secrets[1].String() != sec.String() {
		t.Errorf("snapshot during rotation: got %d secrets", len(snap[0].Secrets))
	}
	clock = clock.Add(time.Hour)
	snap, _ = st.Snapshot(ctx)
	if len(snap[0].Secrets) != 1 || snap[0].Secrets[0].String() != rotated.String() {
		t.Errorf("snapshot after rotation: got %d secrets", len(snap[0].Secrets))
	}

	// Other targets have no secret; disabled ones are not in the snapshot.
	lam := mustParse(t, `{"name":"lam","pattern":{},"target":{"type":"lambda","function":"f"},"state":"disabled"}`)
	if _, sec, err := st.Create(ctx, lam); err != nil || !sec.IsZero() {
		t.Fatalf("create lambda: %v secret %v", err, sec.IsZero())
	}
	if _, _, _, err := st.RotateSecret(ctx, "lam", 0); !errors.Is(err, ErrNoSecret) {
		t.Errorf("rotate lambda: got %v, want ErrNoSecret", err)
	}
	snap, _ = st.Snapshot(ctx)
	if len(snap) != 1 || snap[0].Name != "hook" {
		t.Errorf("snapshot: got %d subscriptions, want hook only", len(snap))
	}

	// List pages in name order.
	for i := range 5 {
		s := lam
		s.Name = fmt.Sprintf("p%d", i)
		if _, _, err := st.Create(ctx, s); err != nil {
			t.Fatal(err)
		}
	}
	var names []string
	after := ""
	for range 10 {
		page, err := st.List(ctx, after, 3)
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range page.Subscriptions {
			names = append(names, s.Name)
		}
		if after = page.Next; after == "" {
			break
		}
	}
	if fmt.Sprint(names) != "[hook lam p0 p1 p2 p3 p4]" {
		t.Errorf("list: got %v", names)
	}

	// Delete.
	if err := st.Delete(ctx, "lam"); err != nil {
		t.Fatal(err)
	}
	if err := st.Delete(ctx, "lam"); !errors.Is(err, ErrNotFound) {
		t.Errorf("second delete: got %v, want ErrNotFound", err)
	}
	// The wrong key cannot open the secrets.
	other, _ := webhook.NewAESGCM([]byte("0123456789abcdef0123456789abcdef"))
	if _, err := NewStore(db, tbl, other).Snapshot(ctx); !errors.Is(err, webhook.ErrSealed) {
		t.Errorf("snapshot under another key: got %v, want ErrSealed", err)
	}
}
