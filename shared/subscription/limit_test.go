package subscription

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/flowbus/flowbus/shared/table"
	"github.com/flowbus/flowbus/shared/testenv"
	"github.com/flowbus/flowbus/shared/webhook"
)

// TestLimit: past Limit subscriptions, Create is a *LimitError naming the
// limit; deleting one makes room again.
func TestLimit(t *testing.T) {
	db, tbl := testenv.Table(t, testenv.AWS(t))
	ctx := context.Background()
	st := NewStore(db, tbl, testSealer(t)).Limit(3)
	for i := range 3 {
		s := mustParse(t, fmt.Sprintf(`{"name":"s%d","pattern":{},"target":{"type":"lambda","function":"f"}}`, i))
		if _, _, err := st.Create(ctx, s); err != nil {
			t.Fatalf("create %d: %v", i, err)
		}
	}
	fourth := mustParse(t, `{"name":"s3","pattern":{},"target":{"type":"lambda","function":"f"}}`)
	_, _, err := st.Create(ctx, fourth)
	var le *LimitError
	if !errors.Is(err, ErrLimit) || !errors.As(err, &le) || le.Limit != 3 {
		t.Fatalf("4th create = %v, want a *LimitError of 3", err)
	}
	if err := st.Delete(ctx, "s0"); err != nil {
		t.Fatal(err)
	}
	if _, _, err := st.Create(ctx, fourth); err != nil {
		t.Errorf("create after a delete: %v", err)
	}
}

// TestLimitPerOwner: one owner past LimitPerOwner is a *LimitError naming
// the owner; another owner, and a replace, are not held back; the owner
// survives a replace.
func TestLimitPerOwner(t *testing.T) {
	db, tbl := testenv.Table(t, testenv.AWS(t))
	ctx := context.Background()
	st := NewStore(db, tbl, testSealer(t)).Limit(10).LimitPerOwner(2)
	create := func(name, owner string) error {
		s := mustParse(t, `{"name":"`+name+`","pattern":{},"target":{"type":"lambda","function":"f"}}`)
		s.Owner = owner
		_, _, err := st.Create(ctx, s)
		return err
	}
	for _, c := range []struct{ name, owner string }{{"a1", "sub:alice"}, {"a2", "sub:alice"}, {"b1", "sub:bob"}, {"n1", ""}, {"n2", ""}, {"n3", ""}} {
		if err := create(c.name, c.owner); err != nil {
			t.Fatalf("create %s of %q: %v", c.name, c.owner, err)
		}
	}
	var le *LimitError
	if err := create("a3", "sub:alice"); !errors.As(err, &le) || le.Limit != 2 || le.Owner != "sub:alice" || !strings.Contains(err.Error(), "sub:alice") {
		t.Fatalf("alice's 3rd create = %v, want a *LimitError of 2 naming her", err)
	}
	if err := create("b2", "sub:bob"); err != nil {
		t.Errorf("bob's 2nd create: %v", err)
	}
	// A replace keeps the owner, whatever the new body says.
	repl := mustParse(t, `{"name":"a1","pattern":{"type":["x"]},"target":{"type":"lambda","function":"g"}}`)
	repl.Owner = "sub:mallory"
	if got, _, err := st.Put(ctx, repl); err != nil || got.Owner != "sub:alice" {
		t.Fatalf("replace: owner %q, %v; want sub:alice", got.Owner, err)
	}
	if got, err := st.Get(ctx, "a1"); err != nil || got.Owner != "sub:alice" {
		t.Errorf("get after replace: owner %q, %v", got.Owner, err)
	}
	if err := st.Delete(ctx, "a2"); err != nil {
		t.Fatal(err)
	}
	if err := create("a3", "sub:alice"); err != nil {
		t.Errorf("alice's create after a delete: %v", err)
	}
}

// TestSecretsStoredAsEnvelopes: with the envelope sealer the table holds
// version-2 envelopes, never the secret, and the snapshot opens them, the
// rotated-out one beside the new one during the overlap.
func TestSecretsStoredAsEnvelopes(t *testing.T) {
	db, tbl := testenv.Table(t, testenv.AWS(t))
	ctx := context.Background()
	key, _ := webhook.NewAESGCM(bytes.Repeat([]byte{9}, webhook.KeyBytes))
	st := NewStore(db, tbl, webhook.NewEnvelope(webhook.NewLocalKeys(key), nil))
	hook := mustParse(t, `{"name":"hook","pattern":{},"target":{"type":"http","url":"http://127.0.0.1:9000/h"}}`)
	_, sec, err := st.Create(ctx, hook)
	if err != nil {
		t.Fatal(err)
	}
	_, sec2, _, err := st.RotateSecret(ctx, "hook", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	out, err := db.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(tbl), Key: map[string]types.AttributeValue{
		table.PK: &types.AttributeValueMemberS{Value: table.SubscriptionPK}, table.SK: &types.AttributeValueMemberS{Value: "hook"}}})
	if err != nil {
		t.Fatal(err)
	}
	for _, attr := range []string{table.AttrSecret, table.AttrSecretPrev} {
		b, ok := out.Item[attr].(*types.AttributeValueMemberB)
		if !ok || len(b.Value) == 0 || b.Value[0] != 2 {
			t.Fatalf("%s = %v, want an envelope (version 2)", attr, out.Item[attr])
		}
		for _, s := range []webhook.Secret{sec, sec2} {
			if bytes.Contains(b.Value, []byte(strings.TrimPrefix(s.String(), webhook.SecretPrefix))) {
				t.Errorf("%s holds a secret in the clear", attr)
			}
		}
	}
	live, err := st.Snapshot(ctx)
	if err != nil || len(live) != 1 || len(live[0].Secrets) != 2 {
		t.Fatalf("snapshot = %+v, %v; want one subscription with two secrets", live, err)
	}
	if live[0].Secrets[0].String() != sec2.String() || live[0].Secrets[1].String() != sec.String() {
		t.Error("snapshot secrets are not the new one then the old one")
	}
}
