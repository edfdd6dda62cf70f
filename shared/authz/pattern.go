package authz

import (
	"encoding/json"
	"strings"
)

// SubscriptionReads are the Read requests a subscription's event pattern
// amounts to: a subscription receives every event its pattern matches, so
// creating or changing one asks to read them. The pattern's top-level
// `workflowid` and `type` (ANDed with the rest, so every matched event
// meets them) narrow the request when they hold only exact strings and
// prefixes: one request per workflow value or prefix ("orders-*"), with the
// types as values or prefixes. Anything else there (anything-but, a
// wildcard, $or, a pattern that does not parse) asks for every workflow
// ("*") or every type.
func SubscriptionReads(pattern []byte) []Request {
	var top map[string]json.RawMessage
	if json.Unmarshal(pattern, &top) != nil {
		return []Request{{Action: Read, Workflow: "*"}}
	}
	workflows, ok := valuesOrPrefixes(top["workflowid"])
	if !ok {
		workflows = []string{"*"}
	}
	types, ok := valuesOrPrefixes(top["type"])
	if !ok {
		types = nil // every type
	}
	out := make([]Request, 0, len(workflows))
	for _, w := range workflows {
		out = append(out, Request{Action: Read, Workflow: w, Types: types})
	}
	return out
}

// valuesOrPrefixes reads a pattern's list of exact strings and {"prefix":
// "p"} matchers as values and "p*" patterns; ok is false for an absent key
// or any other matcher.
func valuesOrPrefixes(raw json.RawMessage) (out []string, ok bool) {
	if len(raw) == 0 {
		return nil, false
	}
	var list []json.RawMessage
	if json.Unmarshal(raw, &list) != nil || len(list) == 0 {
		return nil, false
	}
	for _, m := range list {
		var s string
		if json.Unmarshal(m, &s) == nil {
			if strings.HasSuffix(s, "*") {
				return nil, false // a value ending in * is not a prefix pattern
			}
			out = append(out, s)
			continue
		}
		var p struct {
			Prefix *string `json:"prefix"`
		}
		var keys map[string]json.RawMessage
		if json.Unmarshal(m, &keys) != nil || len(keys) != 1 || json.Unmarshal(m, &p) != nil || p.Prefix == nil {
			return nil, false
		}
		out = append(out, *p.Prefix+"*")
	}
	return out, true
}
