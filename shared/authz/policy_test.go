package authz

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/google/go-cmp/cmp"
)

func jwtCaller(claims map[string]string, scopes ...string) Caller {
	return CallerOf(events.APIGatewayV2HTTPRequestContext{Authorizer: &events.APIGatewayV2HTTPRequestContextAuthorizerDescription{
		JWT: &events.APIGatewayV2HTTPRequestContextAuthorizerJWTDescription{Claims: claims, Scopes: scopes}}})
}

func TestCallerOf(t *testing.T) {
	tests := []struct {
		name string
		rc   events.APIGatewayV2HTTPRequestContext
		want Caller
	}{
		{"no authorizer", events.APIGatewayV2HTTPRequestContext{}, Caller{}},
		{"IAM", events.APIGatewayV2HTTPRequestContext{Authorizer: &events.APIGatewayV2HTTPRequestContextAuthorizerDescription{
			IAM: &events.APIGatewayV2HTTPRequestContextAuthorizerIAMDescription{UserARN: "arn:aws:iam::123456789012:user/alice", AccountID: "123456789012"}}},
			Caller{ID: "arn:aws:iam::123456789012:user/alice", Principals: []string{"arn:aws:iam::123456789012:user/alice"}}},
		{"JWT without sub", jwtRC(map[string]string{"iss": "x"}), Caller{}},
		{"JWT, groups as API Gateway flattens them, scope claim", jwtRC(map[string]string{"sub": "alice", "groups": "[ops billing]", "scope": "flowbus/publish flowbus/read"}),
			Caller{ID: "sub:alice", Principals: []string{"sub:alice", "group:ops", "group:billing", "scope:flowbus/publish", "scope:flowbus/read"}}},
		{"JWT, cognito groups as a JSON array, scp", jwtRC(map[string]string{"sub": "bob", "cognito:groups": `["a","b c"]`, "scp": "x,y"}),
			Caller{ID: "sub:bob", Principals: []string{"sub:bob", "group:a", "group:b c", "scope:x", "scope:y"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(CallerOf(tt.rc), tt.want); diff != "" {
				t.Errorf("CallerOf (-got +want):\n%s", diff)
			}
		})
	}
	if got := jwtCaller(map[string]string{"sub": "s"}, "route/scope"); !cmp.Equal(got.Principals, []string{"sub:s", "scope:route/scope"}) {
		t.Errorf("route scopes: got %v", got.Principals)
	}
}

func jwtRC(claims map[string]string) events.APIGatewayV2HTTPRequestContext {
	return events.APIGatewayV2HTTPRequestContext{Authorizer: &events.APIGatewayV2HTTPRequestContextAuthorizerDescription{
		JWT: &events.APIGatewayV2HTTPRequestContextAuthorizerJWTDescription{Claims: claims}}}
}

func TestAllowed(t *testing.T) {
	p := &Policy{
		Admins: []string{"sub:root"},
		Entries: []Entry{
			{Principal: "sub:alice", Grants: []Grant{
				{Actions: []Action{Publish}, Sources: []string{"orders"}, Workflows: []string{"order-*"}},
				{Actions: []Action{Read, Replay}, Workflows: []string{"order-*"}},
				{Actions: []Action{Subscriptions}, Subscriptions: []string{"alice-*"}},
			}},
			{Principal: "group:ops", Grants: []Grant{{Actions: []Action{Metrics, Redrive}, Subscriptions: []string{"*"}}}},
			{Principal: "scope:flowbus/audit", Grants: []Grant{{Actions: []Action{Read, Replay}, Workflows: []string{"*"}, Types: []string{"audit.*"}}}},
			{Principal: "arn:aws:sts::123456789012:assumed-role/Billing/*", Grants: []Grant{
				{Actions: []Action{Publish}, Sources: []string{"billing*"}, Workflows: []string{"*"}}}},
		},
	}
	alice := Caller{ID: "sub:alice", Principals: []string{"sub:alice"}}
	opsBob := Caller{ID: "sub:bob", Principals: []string{"sub:bob", "group:ops"}}
	auditor := Caller{ID: "sub:carol", Principals: []string{"sub:carol", "scope:flowbus/audit"}}
	root := Caller{ID: "sub:root", Principals: []string{"sub:root"}}
	billing := Caller{ID: "arn:aws:sts::123456789012:assumed-role/Billing/s1", Principals: []string{"arn:aws:sts::123456789012:assumed-role/Billing/s1"}}
	tests := []struct {
		name   string
		caller Caller
		req    Request
		want   bool
	}{
		{"anonymous is denied everything", Caller{}, Request{Action: Metrics}, false},
		{"unknown caller is denied", Caller{ID: "sub:eve", Principals: []string{"sub:eve"}}, Request{Action: Metrics}, false},
		{"bootstrap admin may do anything", root, Request{Action: Publish, Source: "x", Workflow: "y"}, true},
		{"bootstrap admin administers", root, Request{Action: Admin}, true},
		{"publish own source and prefix", alice, Request{Action: Publish, Source: "orders", Workflow: "order-1"}, true},
		{"publish another source", alice, Request{Action: Publish, Source: "billing", Workflow: "order-1"}, false},
		{"publish outside the prefix", alice, Request{Action: Publish, Source: "orders", Workflow: "invoice-1"}, false},
		{"a source pattern is a prefix", billing, Request{Action: Publish, Source: "billing/eu", Workflow: "w"}, true},
		{"an IAM role pattern covers its sessions only", Caller{ID: "arn:aws:sts::123456789012:assumed-role/Other/s", Principals: []string{"arn:aws:sts::123456789012:assumed-role/Other/s"}},
			Request{Action: Publish, Source: "billing", Workflow: "w"}, false},
		{"read own workflow", alice, Request{Action: Read, Workflow: "order-7"}, true},
		{"read another's workflow", alice, Request{Action: Read, Workflow: "invoice-7"}, false},
		{"replay own workflow", alice, Request{Action: Replay, Workflow: "order-7"}, true},
		{"replay across every workflow needs *", alice, Request{Action: Replay, Workflow: "*"}, false},
		{"replay own prefix", alice, Request{Action: Replay, Workflow: "order-*"}, true},
		{"replay to a subscription not granted", alice, Request{Action: Replay, Workflow: "order-7", Subscription: "alice-x"}, false},
		{"types narrow: no type filter", auditor, Request{Action: Read, Workflow: "any"}, false},
		{"types narrow: inside", auditor, Request{Action: Read, Workflow: "any", Types: []string{"audit.login", "audit.*"}}, true},
		{"types narrow: one outside", auditor, Request{Action: Read, Workflow: "any", Types: []string{"audit.login", "order.created"}}, false},
		{"types narrow: a wider prefix", auditor, Request{Action: Replay, Workflow: "*", Types: []string{"aud*"}}, false},
		{"subscription by prefix", alice, Request{Action: Subscriptions, Subscription: "alice-hooks"}, true},
		{"another's subscription", alice, Request{Action: Subscriptions, Subscription: "bob-hooks"}, false},
		{"redrive needs its own action", alice, Request{Action: Redrive, Subscription: "alice-hooks"}, false},
		{"redrive by group", opsBob, Request{Action: Redrive, Subscription: "anything"}, true},
		{"metrics by group", opsBob, Request{Action: Metrics}, true},
		{"metrics not granted", alice, Request{Action: Metrics}, false},
		{"group grants no publish", opsBob, Request{Action: Publish, Source: "orders", Workflow: "order-1"}, false},
		{"admin action only for admins", alice, Request{Action: Admin}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := p.Allowed(tt.caller, tt.req); got != tt.want {
				t.Errorf("Allowed(%s, %s) = %v, want %v", tt.caller.ID, tt.req, got, tt.want)
			}
		})
	}
	if !p.Any(alice, Subscriptions) || p.Any(alice, Redrive) || !p.Any(root, Redrive) {
		t.Error("Any: alice has subscriptions and no redrive; root has everything")
	}
}

func TestValidate(t *testing.T) {
	e := Entry{Principal: "sub:*x", Grants: []Grant{{Actions: []Action{"fly"}, Sources: []string{"a*b"}}, {}}}
	got := e.Validate()
	var fields []string
	for _, f := range got {
		fields = append(fields, f.Field)
	}
	want := []string{"principal", "grants[0].actions", "grants[0].sources", "grants[1].actions"}
	if diff := cmp.Diff(fields, want); diff != "" {
		t.Errorf("fields (-got +want):\n%s", diff)
	}
	ok := Entry{Principal: "group:ops", Grants: []Grant{{Actions: []Action{Publish}, Sources: []string{"*"}, Workflows: []string{"ops-*"}}}}
	if f := ok.Validate(); len(f) != 0 {
		t.Errorf("a valid entry: %v", f)
	}
}

type lister struct {
	entries []Entry
	err     error
	calls   int
}

func (l *lister) List(context.Context) ([]Entry, error) {
	l.calls++
	return l.entries, l.err
}

func TestAuthorizerCaches(t *testing.T) {
	now := time.Unix(1000, 0)
	l := &lister{entries: []Entry{{Principal: "sub:a", Grants: []Grant{{Actions: []Action{Metrics}}}}}}
	a := NewAuthorizer(nil, l, nil)
	a.Now = func() time.Time { return now }
	caller := Caller{ID: "sub:a", Principals: []string{"sub:a"}}
	decide := func() bool {
		t.Helper()
		ok, _, err := a.Decide(context.Background(), caller, Request{Action: Metrics})
		if err != nil {
			t.Fatal(err)
		}
		return ok
	}
	if !decide() {
		t.Fatal("granted metrics: denied")
	}
	l.entries = nil // revoked in the table
	now = now.Add(CacheFor - time.Second)
	if !decide() || l.calls != 1 {
		t.Errorf("within CacheFor: want the cached policy and one read, got %d reads", l.calls)
	}
	now = now.Add(2 * time.Second)
	if decide() || l.calls != 2 {
		t.Errorf("after CacheFor: want the revocation applied after a second read, got %d reads", l.calls)
	}
	l.err = errors.New("table down")
	now = now.Add(CacheFor)
	if decide() {
		t.Error("a failed read keeps the last policy, which denies")
	}
	fresh := NewAuthorizer(nil, &lister{err: errors.New("table down")}, nil)
	if _, _, err := fresh.Decide(context.Background(), caller, Request{Action: Metrics}); err == nil {
		t.Error("no policy read yet and the table down: want an error, not a decision")
	}
}

func TestDecideAllOrNothing(t *testing.T) {
	a := NewAuthorizer(nil, &lister{entries: []Entry{{Principal: "sub:a", Grants: []Grant{
		{Actions: []Action{Publish}, Sources: []string{"s"}, Workflows: []string{"w-*"}}}}}}, nil)
	caller := Caller{ID: "sub:a", Principals: []string{"sub:a"}}
	ok, refused, err := a.Decide(context.Background(), caller,
		Request{Action: Publish, Source: "s", Workflow: "w-1"}, Request{Action: Publish, Source: "t", Workflow: "w-2"})
	if err != nil || ok || refused.Source != "t" {
		t.Errorf("a batch with one forbidden event: got ok %v, refused %s, err %v; want refused source t", ok, refused, err)
	}
}
