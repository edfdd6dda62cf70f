package subscription

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/flowbus/flowbus/shared/testenv"
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
