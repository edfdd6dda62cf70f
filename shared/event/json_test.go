package event

import (
	"errors"
	"strings"
	"testing"

	"github.com/flowbus/flowbus/shared/jsonscan"
)

// A producer's body nests at most 1000 deep, counted from its top (or from
// the array in the {"events":[...]} wrapper); the record flowbus writes of
// it, a batch array one level deeper, reads back.
func TestDecodeDepth(t *testing.T) {
	deep := func(n int) string { return strings.Repeat("[", n) + strings.Repeat("]", n) }
	opts := DecodeOptions{DefaultSource: DefaultSource}
	body := `{"type":"a","workflow_id":"w","data":` + deep(999) + `}`
	e, err := Decode([]byte(body), opts)
	if err != nil {
		t.Fatalf("Decode of a body 1000 deep: %v", err)
	}
	// In the {"events":[...]} wrapper, depth counts from the array.
	inArray := `{"type":"a","workflow_id":"w","data":` + deep(998) + `}`
	items, err := DecodeBatch([]byte(`{"events":[`+inArray+`]}`), opts, true, 0)
	if err != nil || len(items) != 1 || items[0].Err != nil {
		t.Fatalf("DecodeBatch of a wrapped array 1000 deep: %v", err)
	}
	tooDeep := `{"type":"a","workflow_id":"w","data":` + deep(1000) + `}`
	if _, err := Decode([]byte(tooDeep), opts); !errors.Is(err, jsonscan.ErrSyntax) {
		t.Errorf("Decode of a body 1001 deep: %v, want a syntax error", err)
	}
	if _, err := DecodeBatch([]byte("["+body+"]"), opts, false, 0); !errors.Is(err, jsonscan.ErrSyntax) {
		t.Errorf("DecodeBatch of an array whose event nests 1000 deep (1001 in all): %v, want a syntax error", err)
	}
	one := string(Append(nil, &e, true))
	items, err = DecodeBatch([]byte("["+one+","+one+"]"), DecodeOptions{Wire: true}, false, 0)
	if err != nil || len(items) != 2 || items[0].Err != nil {
		t.Errorf("DecodeBatch of the record: %v", err)
	}
}

// Strings must be valid UTF-8, wherever they stand; escapes are read as
// encoding/json reads them.
func TestDecodeUTF8(t *testing.T) {
	opts := DecodeOptions{DefaultSource: DefaultSource}
	for _, body := range []string{
		"{\"type\":\"a\xff\",\"workflow_id\":\"w\"}",
		"{\"type\":\"a\",\"workflow_id\":\"w\",\"data\":{\"k\":\"\xed\xa0\x80\"}}",
		"{\"type\":\"a\",\"workflow_id\":\"w\",\"x\xc0\xaf\":1}",
	} {
		if _, err := Decode([]byte(body), opts); !errors.Is(err, jsonscan.ErrSyntax) {
			t.Errorf("Decode(%q): %v, want a syntax error", body, err)
		}
	}
	e, err := Decode([]byte(`{"type":"a\u00e9\ud83d\ude00","workflow_id":"w"}`), opts)
	if err != nil || e.Type != "aé😀" {
		t.Errorf("Decode: type %q, %v", e.Type, err)
	}
}
