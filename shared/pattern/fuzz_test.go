package pattern_test

import (
	"errors"
	"testing"

	"github.com/flowbus/flowbus/shared/pattern"
)

// FuzzCompile holds the parser to three promises: it never panics, whatever
// Lambda mode accepts EventBridge mode accepts too, and a compiled pattern
// round-trips: its canonical form compiles, renders the same text again and
// matches the same documents.
func FuzzCompile(f *testing.F) {
	for _, seed := range []string{
		`{}`,
		`{"a": ["x", 1, 3e2, null, true, ""]}`,
		`{"data": {"amount": [{"numeric": [">", 0, "<=", 5]}], "ip": [{"cidr": "10.0.0.0/24"}]}}`,
		`{"p": [{"wildcard": "dir/*.png"}, {"wildcard": "a\\*b\\\\*"}]}`,
		`{"s": [{"prefix": {"equals-ignore-case": "Ab"}}, {"suffix": "z"}, {"equals-ignore-case": "Q"}]}`,
		`{"s": [{"anything-but": {"wildcard": ["*.png", "x*"]}}, {"anything-but": [1, 2]}, {"anything-but": {"prefix": "us-"}}]}`,
		`{"e": [{"exists": false}], "$or": [{"a": ["1"]}, {"b": {"$or": [{"c": [2]}, {"d": [3]}]}}]}`,
		`{"ip6": [{"cidr": "2001:db8::/32"}]}`,
		`{"a": [{"numeric": ["=", -5e9]}]}`,
		`{"a": "x"}`,
		`[1]`,
	} {
		f.Add(seed)
	}
	docs := []any{}
	for _, d := range []string{order, ec2Event, cloudEvent, `{"a": "x", "s": "Abz", "p": "dir/a.png", "e": null, "b": {"c": 2}}`} {
		doc, err := pattern.DecodeJSON([]byte(d))
		if err != nil {
			f.Fatal(err)
		}
		docs = append(docs, doc)
	}
	f.Fuzz(func(t *testing.T, src string) {
		lp, lerr := pattern.Compile(src, pattern.Lambda)
		p, err := pattern.Compile(src, pattern.EventBridge)
		for _, e := range []error{err, lerr} {
			var pe *pattern.Error
			if e != nil && !errors.As(e, &pe) {
				t.Fatalf("Compile(%q) = %v, want a *pattern.Error", src, e)
			}
		}
		if lerr == nil && err != nil {
			var pe *pattern.Error
			if !errors.As(err, &pe) || pe.Limit != pattern.MaxLength {
				t.Fatalf("Compile(%q): Lambda mode accepts, EventBridge mode refuses: %v", src, err)
			}
		}
		if lerr == nil && lp.Canonical() != "" {
			if _, err := pattern.Compile(lp.Canonical(), pattern.Lambda); err != nil && !tooLong(err) {
				t.Fatalf("Lambda canonical form %s of %q does not compile: %v", lp.Canonical(), src, err)
			}
		}
		if err != nil {
			return
		}
		canon := p.Canonical()
		again, err := pattern.Compile(canon, pattern.EventBridge)
		if err != nil {
			if tooLong(err) { // escapes can make the canonical form longer
				return
			}
			t.Fatalf("canonical form %s of %q does not compile: %v", canon, src, err)
		}
		if got := again.Canonical(); got != canon {
			t.Fatalf("canonical form of %q is %s, and of that %s", src, canon, got)
		}
		for i, doc := range docs {
			if a, b := p.Match(doc), again.Match(doc); a != b {
				t.Fatalf("document %d: %q matches %v, its canonical form %s matches %v", i, src, a, canon, b)
			}
			if r := p.Explain(doc); r.Match != p.Match(doc) {
				t.Fatalf("document %d: %q: Explain says %v, Match %v", i, src, r.Match, p.Match(doc))
			}
		}
	})
}

func tooLong(err error) bool {
	var pe *pattern.Error
	return errors.As(err, &pe) && pe.Field == "" && (pe.Limit == pattern.MaxLength || pe.Limit == pattern.MaxLambdaLength)
}
