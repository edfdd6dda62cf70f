package sqsesm

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/flowbus/flowbus/shared/pattern"
)

func TestFailedItems(t *testing.T) {
	batch := map[string]bool{"m1": true, "m2": true, "m3": true}
	tests := []struct {
		name    string
		out     string
		want    map[string]bool
		wantErr string // part of the error that fails the whole batch
	}{
		{"empty answer", ``, nil, ""},
		{"null", `null`, nil, ""},
		{"empty object", `{}`, nil, ""},
		{"null list", `{"batchItemFailures":null}`, nil, ""},
		{"empty list", `{"batchItemFailures":[]}`, nil, ""},
		{"two failed", `{"batchItemFailures":[{"itemIdentifier":"m3"},{"itemIdentifier":"m1"}]}`, map[string]bool{"m1": true, "m3": true}, ""},
		{"not an object", `"done"`, nil, "not a JSON object"},
		{"not JSON", `{batch`, nil, "not a JSON object"},
		{"list of strings", `{"batchItemFailures":["m1"]}`, nil, "not a list of objects"},
		{"empty identifier", `{"batchItemFailures":[{"itemIdentifier":""}]}`, nil, "empty, null or missing"},
		{"null identifier", `{"batchItemFailures":[{"itemIdentifier":null}]}`, nil, "empty, null or missing"},
		{"misspelt key", `{"batchItemFailures":[{"itemIdentifer":"m1"}]}`, nil, "empty, null or missing"},
		{"number identifier", `{"batchItemFailures":[{"itemIdentifier":1}]}`, nil, "not a string"},
		{"not of the batch", `{"batchItemFailures":[{"itemIdentifier":"m9"}]}`, nil, `"m9" is not a message id of the batch`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := failedItems([]byte(tt.out), batch)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("failedItems: %v, want an error containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("failed (-want +got):\n%s", diff)
			}
		})
	}
}

func TestMatches(t *testing.T) {
	c, err := pattern.CompileAll([]string{`{"body": {"kind": ["a"]}}`, `{"body": [{"prefix": "plain "}]}`}, pattern.Lambda)
	if err != nil {
		t.Fatal(err)
	}
	for body, want := range map[string]bool{
		`{"kind":"a"}`:   true,
		`{"kind":"b"}`:   false,
		`plain text`:     true, // a body that is not JSON is matched as a string
		`other text`:     false,
		`{"kind":"a"} x`: false, // not JSON: a string, which the object pattern does not match
	} {
		if got := matches(c, body); got != want {
			t.Errorf("matches(%s) = %v, want %v", body, got, want)
		}
	}
	if !matches(nil, "anything") {
		t.Error("no filters must match everything")
	}
}
