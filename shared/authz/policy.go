package authz

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/flowbus/flowbus/shared/event"
)

// Action is what a grant allows.
type Action string

// The actions. Admin allows every other and the policy's own routes.
const (
	Publish       Action = "publish"       // POST /events: sources × workflows
	Read          Action = "read"          // GET /workflows/{id}/events: workflows (× types)
	Replay        Action = "replay"        // POST, GET, DELETE /replays: workflows (× types); to a subscription, its name too
	Subscriptions Action = "subscriptions" // create, read, change, delete, rotate, list dead letters: subscription names
	Redrive       Action = "redrive"       // POST /subscriptions/{name}/redrive: subscription names
	Metrics       Action = "metrics"       // GET /metrics
	Admin         Action = "admin"         // everything, and GET, PUT, DELETE /policies
)

var actions = []Action{Publish, Read, Replay, Subscriptions, Redrive, Metrics, Admin}

// Grant allows its actions on the resources its patterns match. A pattern
// is a value, or a prefix ending in "*" ("orders-*"; "*" is every value).
// An empty Sources, Workflows or Subscriptions matches nothing; an empty
// Types matches every type (Types narrows what Read and Replay may select).
type Grant struct {
	Actions       []Action `json:"actions"`
	Sources       []string `json:"sources,omitempty"`
	Workflows     []string `json:"workflows,omitempty"`
	Types         []string `json:"types,omitempty"`
	Subscriptions []string `json:"subscriptions,omitempty"`
}

// Entry is one principal's grants, one table item.
type Entry struct {
	// Principal is "sub:<subject>", "group:<group>", "scope:<scope>", an
	// IAM principal ARN, or a pattern of one ending in "*".
	Principal string    `json:"principal"`
	Grants    []Grant   `json:"grants"`
	Updated   time.Time `json:"updated,omitzero"`
}

// Limits of a policy entry.
const (
	MaxPrincipalBytes = 1024
	MaxGrants         = 50
	MaxPatterns       = 100 // per list of a grant
	MaxPatternBytes   = 512
)

// Validate reports every problem of an entry at once.
func (e *Entry) Validate() []event.FieldError {
	var fields []event.FieldError
	switch {
	case e.Principal == "":
		fields = append(fields, event.FieldError{Field: "principal", Reason: "is required"})
	case len(e.Principal) > MaxPrincipalBytes:
		fields = append(fields, event.FieldError{Field: "principal", Reason: "is longer than the limit", Limit: MaxPrincipalBytes})
	case !validPattern(e.Principal):
		fields = append(fields, event.FieldError{Field: "principal", Reason: "may hold \"*\" only as its last character"})
	}
	if len(e.Grants) > MaxGrants {
		fields = append(fields, event.FieldError{Field: "grants", Reason: "has more entries than the limit", Limit: MaxGrants})
	}
	for i, g := range e.Grants {
		at := fmt.Sprintf("grants[%d]", i)
		if len(g.Actions) == 0 {
			fields = append(fields, event.FieldError{Field: at + ".actions", Reason: "is required"})
		}
		for _, a := range g.Actions {
			if !slices.Contains(actions, a) {
				fields = append(fields, event.FieldError{Field: at + ".actions", Reason: fmt.Sprintf("%q is not one of %v", a, actions)})
			}
		}
		for _, list := range []struct {
			name     string
			patterns []string
		}{{"sources", g.Sources}, {"workflows", g.Workflows}, {"types", g.Types}, {"subscriptions", g.Subscriptions}} {
			if len(list.patterns) > MaxPatterns {
				fields = append(fields, event.FieldError{Field: at + "." + list.name, Reason: "has more patterns than the limit", Limit: MaxPatterns})
			}
			for _, p := range list.patterns {
				if p == "" || len(p) > MaxPatternBytes || !validPattern(p) {
					fields = append(fields, event.FieldError{Field: at + "." + list.name,
						Reason: "patterns are 1 to the limit bytes, with \"*\" only as the last character", Limit: MaxPatternBytes})
					break
				}
			}
		}
	}
	return fields
}

func validPattern(p string) bool {
	i := strings.IndexByte(p, '*')
	return i < 0 || i == len(p)-1
}

// Policy is every entry, and the bootstrap admins (FLOWBUS_ADMINS), who
// are granted Admin whatever the table holds.
type Policy struct {
	Admins  []string
	Entries []Entry
}

// grants are the grants of every entry whose principal (or pattern)
// matches one of the caller's principals.
func (p *Policy) grants(c Caller) []Grant {
	if c.Anonymous() {
		return nil
	}
	var out []Grant
	for _, pr := range c.Principals {
		if slices.Contains(p.Admins, pr) {
			out = append(out, Grant{Actions: []Action{Admin}})
		}
	}
	for _, e := range p.Entries {
		for _, pr := range c.Principals {
			if covers(e.Principal, pr) {
				out = append(out, e.Grants...)
				break
			}
		}
	}
	return out
}

// Request is one thing a caller asks to do.
type Request struct {
	Action Action
	// Source and Workflow of an event to publish.
	Source string
	// Workflow to read, publish to or replay: a workflow id, or a pattern
	// ("*" for a replay across every workflow).
	Workflow string
	// Types a read or replay selects: none for every type.
	Types []string
	// Subscription managed, redriven, or replayed to.
	Subscription string
}

// String names the request in logs and answers, without any payload.
func (r Request) String() string {
	var b strings.Builder
	b.WriteString(string(r.Action))
	add := func(k, v string) {
		if v != "" {
			fmt.Fprintf(&b, " %s=%q", k, v)
		}
	}
	add("source", r.Source)
	add("workflow", r.Workflow)
	if len(r.Types) > 0 {
		add("types", strings.Join(r.Types, ","))
	}
	add("subscription", r.Subscription)
	return b.String()
}

// Allowed tells whether a grant of the policy allows c to do r.
func (p *Policy) Allowed(c Caller, r Request) bool { return allowedBy(p.grants(c), r) }

func allowedBy(grants []Grant, r Request) bool {
	for _, g := range grants {
		if g.allows(r) {
			return true
		}
	}
	return false
}

// Any tells whether c has a grant of action a on anything (a caller with
// no subscriptions grant gets 403 from GET /subscriptions rather than an
// empty list).
func (p *Policy) Any(c Caller, a Action) bool {
	for _, g := range p.grants(c) {
		if slices.Contains(g.Actions, Admin) || slices.Contains(g.Actions, a) {
			return true
		}
	}
	return false
}

func (g Grant) allows(r Request) bool {
	if slices.Contains(g.Actions, Admin) {
		return true
	}
	if !slices.Contains(g.Actions, r.Action) {
		return false
	}
	switch r.Action {
	case Publish:
		return anyCovers(g.Sources, r.Source) && anyCovers(g.Workflows, r.Workflow)
	case Read:
		return anyCovers(g.Workflows, r.Workflow) && g.typesCover(r.Types)
	case Replay:
		if !anyCovers(g.Workflows, r.Workflow) || !g.typesCover(r.Types) {
			return false
		}
		return r.Subscription == "" || anyCovers(g.Subscriptions, r.Subscription)
	case Subscriptions, Redrive:
		return anyCovers(g.Subscriptions, r.Subscription)
	case Metrics:
		return true
	}
	return false
}

// typesCover: a grant without types covers every selection; one with
// types covers a selection only of types (or prefixes) inside them.
func (g Grant) typesCover(types []string) bool {
	if len(g.Types) == 0 {
		return true
	}
	if len(types) == 0 {
		return false
	}
	for _, t := range types {
		if !anyCovers(g.Types, t) {
			return false
		}
	}
	return true
}

func anyCovers(patterns []string, v string) bool {
	for _, p := range patterns {
		if covers(p, v) {
			return true
		}
	}
	return false
}

// covers tells whether pattern p matches every value v does: v itself
// when v is a value, every value v's prefix selects when v ends in "*".
func covers(p, v string) bool {
	if prefix, ok := strings.CutSuffix(p, "*"); ok {
		return strings.HasPrefix(strings.TrimSuffix(v, "*"), prefix)
	}
	return p == v
}
