package subscription

import (
	"errors"
	"runtime"
	"strings"
	"testing"

	"github.com/flowbus/flowbus/shared/event"
)

// TestParseRefusesTextThatIsNotUnicode: a body with invalid UTF-8, or a \u
// escape of a lone UTF-16 surrogate, is refused naming the member, as
// POST /events refuses them; encoding/json would otherwise read both as
// U+FFFD and store a pattern or description other than the one sent.
func TestParseRefusesTextThatIsNotUnicode(t *testing.T) {
	for _, c := range []struct {
		name, body, field string
	}{
		{"invalid UTF-8 in description", "{\"name\":\"a\",\"description\":\"\xff\xfe\",\"pattern\":{},\"target\":{\"type\":\"http\",\"url\":\"http://127.0.0.1:9/h\"}}", ""},
		{"invalid UTF-8 in pattern", "{\"name\":\"a\",\"pattern\":{\"type\":[\"\xc3\x28\"]},\"target\":{\"type\":\"http\",\"url\":\"http://127.0.0.1:9/h\"}}", ""},
		{"lone surrogate in description", `{"name":"a","description":"\ud800","pattern":{},"target":{"type":"http","url":"http://127.0.0.1:9/h"}}`, "description"},
		{"lone low surrogate in a pattern value", `{"name":"a","pattern":{"type":["\udc00x"]},"target":{"type":"http","url":"http://127.0.0.1:9/h"}}`, "pattern"},
		{"lone surrogate in a pattern key", `{"name":"a","pattern":{"\ud800":["a"]},"target":{"type":"http","url":"http://127.0.0.1:9/h"}}`, "pattern"},
		{"lone surrogate in the template", `{"name":"a","pattern":{},"target":{"type":"bus"},"input_transformer":{"input_template":"{\"type\":\"x\"}\udfff"}}`, "input_transformer"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := Parse([]byte(c.body))
			var ve *ValidationError
			if !errors.As(err, &ve) {
				t.Fatalf("got %v, want a ValidationError", err)
			}
			if got := ve.Fields[0].Field; got != c.field {
				t.Errorf("got field %q, want %q (%v)", got, c.field, err)
			}
		})
	}
	// A surrogate pair is Unicode text: kept.
	s, err := Parse([]byte(`{"name":"a","description":"\ud83d\udca5","pattern":{"type":["\ud83d\udca5"]},"target":{"type":"http","url":"http://127.0.0.1:9/h"}}`))
	if err != nil {
		t.Fatalf("surrogate pair: got %v, want it parsed", err)
	}
	if s.Description != "💥" {
		t.Errorf("got description %q, want 💥", s.Description)
	}
}

// TestValidateRefusesDotNames: "." and ".." name no subscription a client
// can reach: /subscriptions/.. is /subscriptions once a client (curl, a
// browser, any RFC 3986 resolver) removes the dot segments.
func TestValidateRefusesDotNames(t *testing.T) {
	for _, name := range []string{".", ".."} {
		s, err := Parse([]byte(`{"name":"` + name + `","pattern":{},"target":{"type":"http","url":"http://127.0.0.1:9/h"}}`))
		if err != nil {
			t.Fatal(err)
		}
		if got := fields(s.Validate(local)); len(got) != 1 || got[0] != "name" {
			t.Errorf("name %q: got fields %v, want [name]", name, got)
		}
	}
	for _, name := range []string{"...", ".a", "a..b", "-"} {
		s, err := Parse([]byte(`{"name":"` + name + `","pattern":{},"target":{"type":"http","url":"http://127.0.0.1:9/h"}}`))
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Validate(local); err != nil {
			t.Errorf("name %q: got %v, want valid", name, err)
		}
	}
}

// TestParseNamesTheLimitOfANumber: a delivery member given a fraction, a
// number past int64 or a string is refused with the member's range, as an
// integer in range out of it is, not as "must be a JSON number" (1.5 is one).
func TestParseNamesTheLimitOfANumber(t *testing.T) {
	for _, c := range []struct {
		body, field string
		limit       int
	}{
		{`{"delivery":{"timeout_seconds":1.5}}`, "delivery.timeout_seconds", 30},
		{`{"delivery":{"timeout_seconds":1e300}}`, "delivery.timeout_seconds", 30},
		{`{"delivery":{"retry_attempts":9223372036854775808}}`, "delivery.retry_attempts", 185},
		{`{"delivery":{"maximum_event_age_seconds":"60"}}`, "delivery.maximum_event_age_seconds", 86400},
		{`{"delivery":{"backoff_max_ms":-0.5}}`, "delivery.backoff_max_ms", 3600000},
	} {
		_, err := Parse([]byte(c.body))
		var ve *ValidationError
		if !errors.As(err, &ve) {
			t.Errorf("%s: got %v, want a ValidationError", c.body, err)
			continue
		}
		f := ve.Fields[0]
		if f.Field != c.field || f.Limit != c.limit || !strings.Contains(f.Reason, "integer") {
			t.Errorf("%s: got %+v, want field %s, limit %d and a reason saying integer", c.body, f, c.field, c.limit)
		}
	}
}

// TestDeriveStopsAtTheEventLimit: an 8 KB template of 2,000 placeholders of
// one 50 KB value would build 100 MB (the local runtime measured the deliver
// function at 413-617 MB for it, over its 256 MB); rendering stops once the
// output passes what one event may hold and the derivation fails, so the
// delivery is dead-lettered instead of retried.
func TestDeriveStopsAtTheEventLimit(t *testing.T) {
	tpl := `{"type":"amp","data":[` + strings.Repeat("<e>,", 2000) + `<e>]}`
	tr, err := (&InputTransformer{InputPathsMap: map[string]string{"e": "$.data"}, InputTemplate: tpl}).Compile()
	if err != nil {
		t.Fatal(err)
	}
	src, err := event.Decode([]byte(`{"type":"big","workflow_id":"w","id":"e1","data":"`+strings.Repeat("a", 50000)+`"}`), event.DecodeOptions{DefaultSource: event.DefaultSource})
	if err != nil {
		t.Fatal(err)
	}
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	_, err = tr.Derive("amp", &src)
	runtime.ReadMemStats(&after)
	if !errors.Is(err, ErrOutputTooLarge) {
		t.Errorf("got %v, want ErrOutputTooLarge", err)
	}
	if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 16<<20 {
		t.Errorf("derivation allocated %d bytes, want at most 16 MiB (the output stops at %d)", alloc, MaxOutputBytes)
	}
}
