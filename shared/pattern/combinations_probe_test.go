package pattern

import (
	"errors"
	"strings"
	"testing"
)

// TestCombinationsRefusalSaysMoreThan: the count stops at the limit + 1, so
// the refusal says "more than 1000", not a count the pattern does not have
// (10 × 10 × 11 = 1,100 was reported as 1001).
func TestCombinationsRefusalSaysMoreThan(t *testing.T) {
	_, err := Compile(`{"a":[0,1,2,3,4,5,6,7,8,9],"b":[0,1,2,3,4,5,6,7,8,9],"c":[0,1,2,3,4,5,6,7,8,9,10]}`, EventBridge)
	var pe *Error
	if !errors.As(err, &pe) {
		t.Fatalf("got %v, want a *pattern.Error", err)
	}
	if pe.Limit != MaxCombinations || !strings.Contains(pe.Reason, "more than 1000") || strings.Contains(pe.Reason, "1001") {
		t.Errorf("got %+v, want limit %d and a reason saying more than 1000", pe, MaxCombinations)
	}
}
