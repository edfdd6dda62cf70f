package filter_test

import (
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/flowbus/flowbus/infra/esm/filter"
)

// order is a record's data as a producer might put it on the stream.
const order = `{
  "id": "ord-1001",
  "status": "SHIPPED",
  "region": "us-west-2",
  "file": "label.PNG",
  "amount": 250.5,
  "count": 3,
  "price": 300,
  "flags": {"express": true, "gift": false},
  "note": null,
  "comment": "",
  "tags": ["fragile", "priority"],
  "items": [
    {"sku": "A-1", "qty": 2},
    {"sku": "B-7", "qty": 1, "backorder": true}
  ],
  "matrix": [[1, 2], [3]],
  "empty": [],
  "customer": {"name": "Ada", "tier": "gold", "address": {"city": "Seattle"}}
}`

func TestMatch(t *testing.T) {
	tests := []struct {
		name    string
		pattern string
		want    bool
	}{
		// exact values
		{"exact string", `{"status": ["SHIPPED"]}`, true},
		{"exact string is case sensitive", `{"status": ["shipped"]}`, false},
		{"exact list is OR", `{"status": ["PENDING", "SHIPPED"]}`, true},
		{"exact list none", `{"status": ["PENDING", "CANCELLED"]}`, false},
		{"exact number", `{"count": [3]}`, true},
		{"exact number by its text: 3.0 is not 3", `{"count": [3.0]}`, false},
		{"exact number by its text: 3e2 is not 300", `{"price": [3e2]}`, false},
		{"string is not number", `{"count": ["3"]}`, false},
		{"number is not string", `{"id": [1001]}`, false},
		{"exact bool", `{"flags": {"express": [true]}}`, true},
		{"exact bool false", `{"flags": {"gift": [false]}}`, true},
		{"exact bool mismatch", `{"flags": {"gift": [true]}}`, false},
		{"null", `{"note": [null]}`, true},
		{"null does not match absent", `{"missing": [null]}`, false},
		{"null does not match a string", `{"status": [null]}`, false},
		{"empty string", `{"comment": [""]}`, true},
		{"empty string is not null", `{"note": [""]}`, false},
		{"and of fields", `{"status": ["SHIPPED"], "count": [3]}`, true},
		{"and fails on one field", `{"status": ["SHIPPED"], "count": [4]}`, false},
		{"nested object", `{"customer": {"address": {"city": ["Seattle"]}}}`, true},
		{"nested object mismatch", `{"customer": {"address": {"city": ["Paris"]}}}`, false},
		{"nested pattern under a leaf", `{"status": {"x": ["y"]}}`, false},
		{"object value is not a leaf", `{"customer": ["Ada"]}`, false},
		{"empty pattern matches all", `{}`, true},

		// arrays in the document
		{"array any element", `{"tags": ["priority"]}`, true},
		{"array no element", `{"tags": ["heavy"]}`, false},
		{"array of objects", `{"items": {"sku": ["B-7"]}}`, true},
		{"array of objects, fields from one element", `{"items": {"sku": ["B-7"], "qty": [1]}}`, true},
		{"array of objects, fields from two elements do not combine", `{"items": {"sku": ["A-1"], "qty": [1]}}`, false},
		{"nested arrays are flattened", `{"matrix": [3]}`, true},
		{"numeric over array", `{"items": {"qty": [{"numeric": [">", 1]}]}}`, true},

		// prefix, suffix, equals-ignore-case
		{"prefix", `{"region": [{"prefix": "us-"}]}`, true},
		{"prefix mismatch", `{"region": [{"prefix": "eu-"}]}`, false},
		{"prefix is case sensitive", `{"region": [{"prefix": "US-"}]}`, false},
		{"prefix ignore case", `{"region": [{"prefix": {"equals-ignore-case": "US-"}}]}`, true},
		{"prefix only on strings", `{"count": [{"prefix": "3"}]}`, false},
		{"prefix on array", `{"tags": [{"prefix": "prio"}]}`, true},
		{"empty prefix matches any string", `{"status": [{"prefix": ""}]}`, true},
		{"suffix", `{"file": [{"suffix": ".PNG"}]}`, true},
		{"suffix is case sensitive", `{"file": [{"suffix": ".png"}]}`, false},
		{"suffix ignore case", `{"file": [{"suffix": {"equals-ignore-case": ".png"}}]}`, true},
		{"equals-ignore-case", `{"status": [{"equals-ignore-case": "shipped"}]}`, true},
		{"equals-ignore-case mismatch", `{"status": [{"equals-ignore-case": "ship"}]}`, false},
		{"equals-ignore-case only strings", `{"count": [{"equals-ignore-case": "3"}]}`, false},

		// anything-but
		{"anything-but string", `{"status": [{"anything-but": "PENDING"}]}`, true},
		{"anything-but same string", `{"status": [{"anything-but": "SHIPPED"}]}`, false},
		{"anything-but list", `{"status": [{"anything-but": ["PENDING", "SHIPPED"]}]}`, false},
		{"anything-but list other", `{"status": [{"anything-but": ["PENDING", "CANCELLED"]}]}`, true},
		{"anything-but number", `{"count": [{"anything-but": 3}]}`, false},
		{"anything-but number compares numerically", `{"count": [{"anything-but": [3.0]}]}`, false},
		{"anything-but other number", `{"count": [{"anything-but": [4, 5]}]}`, true},
		{"anything-but string list on a number", `{"count": [{"anything-but": ["3"]}]}`, true},
		{"anything-but absent field", `{"missing": [{"anything-but": "x"}]}`, false},
		{"anything-but object field", `{"customer": [{"anything-but": "x"}]}`, false},
		{"anything-but null is a value", `{"note": [{"anything-but": "x"}]}`, true},
		{"anything-but array: any other element", `{"tags": [{"anything-but": "fragile"}]}`, true},
		{"anything-but array: every element excluded", `{"tags": [{"anything-but": ["fragile", "priority"]}]}`, false},
		{"anything-but prefix", `{"region": [{"anything-but": {"prefix": "eu-"}}]}`, true},
		{"anything-but prefix excluded", `{"region": [{"anything-but": {"prefix": "us-"}}]}`, false},
		{"anything-but prefix list", `{"region": [{"anything-but": {"prefix": ["eu-", "us-"]}}]}`, false},
		{"anything-but prefix on number", `{"count": [{"anything-but": {"prefix": "3"}}]}`, true},
		{"anything-but suffix", `{"file": [{"anything-but": {"suffix": ".PNG"}}]}`, false},
		{"anything-but equals-ignore-case", `{"status": [{"anything-but": {"equals-ignore-case": "shipped"}}]}`, false},
		{"anything-but equals-ignore-case other", `{"status": [{"anything-but": {"equals-ignore-case": ["pending"]}}]}`, true},

		// numeric
		{"numeric =", `{"count": [{"numeric": ["=", 3]}]}`, true},
		{"numeric = across forms", `{"price": [{"numeric": ["=", 3e2]}]}`, true},
		{"numeric = mismatch", `{"count": [{"numeric": ["=", 4]}]}`, false},
		{"numeric >", `{"amount": [{"numeric": [">", 250]}]}`, true},
		{"numeric > boundary", `{"count": [{"numeric": [">", 3]}]}`, false},
		{"numeric >= boundary", `{"count": [{"numeric": [">=", 3]}]}`, true},
		{"numeric <", `{"count": [{"numeric": ["<", 3]}]}`, false},
		{"numeric <= boundary", `{"count": [{"numeric": ["<=", 3]}]}`, true},
		{"numeric range inside", `{"amount": [{"numeric": [">", 100, "<=", 250.5]}]}`, true},
		{"numeric range outside", `{"amount": [{"numeric": [">", 100, "<", 250.5]}]}`, false},
		{"numeric range reversed order", `{"amount": [{"numeric": ["<=", 300, ">=", 200]}]}`, true},
		{"numeric on string", `{"id": [{"numeric": [">", 0]}]}`, false},
		{"numeric on absent", `{"missing": [{"numeric": [">", 0]}]}`, false},
		{"numeric negative", `{"count": [{"numeric": [">", -10, "<", 10]}]}`, true},

		// exists
		{"exists true", `{"status": [{"exists": true}]}`, true},
		{"exists true absent", `{"missing": [{"exists": true}]}`, false},
		{"exists false absent", `{"missing": [{"exists": false}]}`, true},
		{"exists false present", `{"status": [{"exists": false}]}`, false},
		{"exists true null is a leaf", `{"note": [{"exists": true}]}`, true},
		{"exists true empty string", `{"comment": [{"exists": true}]}`, true},
		{"exists only on leaves: object", `{"customer": [{"exists": true}]}`, false},
		{"exists false on object", `{"customer": [{"exists": false}]}`, true},
		{"exists false on empty array", `{"empty": [{"exists": false}]}`, true},
		{"exists true on array", `{"tags": [{"exists": true}]}`, true},
		{"exists false nested under absent", `{"missing": {"deeper": [{"exists": false}]}}`, true},
		{"exists true nested under absent", `{"missing": {"deeper": [{"exists": true}]}}`, false},
		{"exists in array element", `{"items": {"backorder": [{"exists": true}]}}`, true},
		{"exists false in some array element", `{"items": {"backorder": [{"exists": false}]}}`, true},
		{"exists or value", `{"missing": [{"exists": false}, "x"]}`, true},

		// mixed rule lists and $or
		{"list mixes rules", `{"status": [{"prefix": "PEND"}, {"suffix": "PED"}]}`, true},
		{"$or first", `{"$or": [{"status": ["SHIPPED"]}, {"count": [99]}]}`, true},
		{"$or second", `{"$or": [{"status": ["PENDING"]}, {"count": [3]}]}`, true},
		{"$or none", `{"$or": [{"status": ["PENDING"]}, {"count": [99]}]}`, false},
		{"$or with and", `{"region": [{"prefix": "us-"}], "$or": [{"status": ["PENDING"]}, {"count": [3]}]}`, true},
		{"$or with failing and", `{"region": [{"prefix": "eu-"}], "$or": [{"status": ["SHIPPED"]}, {"count": [3]}]}`, false},
		{"$or nested", `{"customer": {"$or": [{"tier": ["silver"]}, {"address": {"city": ["Seattle"]}}]}}`, true},
		{"$or alternative with two fields", `{"$or": [{"status": ["SHIPPED"], "count": [4]}, {"tier": ["gold"]}]}`, false},
		{"$or inside $or", `{"$or": [{"status": ["X"]}, {"$or": [{"count": [9]}, {"price": [300]}]}]}`, true},
		{"$or within one array element", `{"items": {"$or": [{"sku": ["A-1"], "backorder": [true]}, {"sku": ["C-0"]}]}}`, false},
	}
	doc, err := filter.DecodeJSON([]byte(order))
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := filter.Compile(tt.pattern)
			if err != nil {
				t.Fatalf("Compile(%s): %v", tt.pattern, err)
			}
			if got := p.Match(doc); got != tt.want {
				t.Errorf("Match(%s) = %v, want %v", tt.pattern, got, tt.want)
			}
		})
	}
}

func TestMatchDocumentsBuiltInCode(t *testing.T) {
	doc := map[string]any{
		"partitionKey":                "wf-42",
		"approximateArrivalTimestamp": 1545084650.987,
		"count":                       int64(7),
		"n":                           5,
	}
	tests := []struct {
		pattern string
		want    bool
	}{
		{`{"partitionKey": [{"prefix": "wf-"}]}`, true},
		{`{"approximateArrivalTimestamp": [{"numeric": [">", 1545084650]}]}`, true},
		{`{"approximateArrivalTimestamp": [1545084650.987]}`, true},
		{`{"count": [7]}`, true},
		{`{"n": [{"numeric": ["<", 5]}]}`, false},
	}
	for _, tt := range tests {
		p, err := filter.Compile(tt.pattern)
		if err != nil {
			t.Fatal(err)
		}
		if got := p.Match(doc); got != tt.want {
			t.Errorf("Match(%s) = %v, want %v", tt.pattern, got, tt.want)
		}
	}
}

func TestMatchNonObjectDocuments(t *testing.T) {
	tests := []struct {
		doc     string
		pattern string
		want    bool
	}{
		{`"text"`, `{"a": [{"exists": false}]}`, true},
		{`"text"`, `{"a": ["x"]}`, false},
		{`[{"a": "x"}, {"a": "y"}]`, `{"a": ["y"]}`, false}, // only objects have fields
		{`null`, `{}`, true},
	}
	for _, tt := range tests {
		p, err := filter.Compile(tt.pattern)
		if err != nil {
			t.Fatal(err)
		}
		got, err := p.MatchJSON([]byte(tt.doc))
		if err != nil {
			t.Fatal(err)
		}
		if got != tt.want {
			t.Errorf("MatchJSON(%s, %s) = %v, want %v", tt.doc, tt.pattern, got, tt.want)
		}
	}
}

func TestCompileErrors(t *testing.T) {
	tests := []struct {
		name    string
		pattern string
	}{
		{"not JSON", `{"a": [`},
		{"trailing data", `{"a": ["x"]} {}`},
		{"not an object", `["a"]`},
		{"scalar field", `{"a": "x"}`},
		{"number field", `{"a": 1}`},
		{"null field", `{"a": null}`},
		{"empty list", `{"a": []}`},
		{"nested list", `{"a": [["x"]]}`},
		{"two operators", `{"a": [{"prefix": "x", "suffix": "y"}]}`},
		{"empty operator", `{"a": [{}]}`},
		{"unknown operator", `{"a": [{"contains": "x"}]}`},
		{"wildcard unsupported", `{"a": [{"wildcard": "x*"}]}`},
		{"cidr unsupported", `{"a": [{"cidr": "10.0.0.0/8"}]}`},
		{"prefix number", `{"a": [{"prefix": 1}]}`},
		{"prefix bad object", `{"a": [{"prefix": {"x": "y"}}]}`},
		{"suffix list", `{"a": [{"suffix": ["x"]}]}`},
		{"equals-ignore-case number", `{"a": [{"equals-ignore-case": 1}]}`},
		{"exists string", `{"a": [{"exists": "true"}]}`},
		{"anything-but empty list", `{"a": [{"anything-but": []}]}`},
		{"anything-but mixed list", `{"a": [{"anything-but": ["x", 1]}]}`},
		{"anything-but bool", `{"a": [{"anything-but": true}]}`},
		{"anything-but null in list", `{"a": [{"anything-but": [null]}]}`},
		{"anything-but unknown object", `{"a": [{"anything-but": {"numeric": [">", 1]}}]}`},
		{"anything-but prefix number", `{"a": [{"anything-but": {"prefix": 1}}]}`},
		{"numeric not a list", `{"a": [{"numeric": ">"}]}`},
		{"numeric odd list", `{"a": [{"numeric": [">", 1, "<"]}]}`},
		{"numeric string operand", `{"a": [{"numeric": [">", "1"]}]}`},
		{"numeric unknown operator", `{"a": [{"numeric": ["!=", 1]}]}`},
		{"numeric two lower bounds", `{"a": [{"numeric": [">", 1, ">=", 2]}]}`},
		{"numeric = combined", `{"a": [{"numeric": ["=", 1, "<", 2]}]}`},
		{"numeric empty range", `{"a": [{"numeric": [">", 5, "<", 5]}]}`},
		{"numeric out of range", `{"a": [{"numeric": [">", 6e9]}]}`},
		{"numeric too many", `{"a": [{"numeric": [">", 1, "<", 5, "<", 6]}]}`},
		{"$or one alternative", `{"$or": [{"a": ["x"]}]}`},
		{"$or not a list", `{"$or": {"a": ["x"]}}`},
		{"$or empty alternative", `{"$or": [{"a": ["x"]}, {}]}`},
		{"$or bad alternative", `{"$or": [{"a": ["x"]}, {"b": "y"}]}`},
		{"deep error", `{"a": {"b": {"c": [{"numeric": ["?", 1]}]}}}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := filter.Compile(tt.pattern)
			if err == nil {
				t.Fatalf("Compile(%s) = nil error, want one", tt.pattern)
			}
			if !errors.Is(err, filter.ErrInvalidPattern) {
				t.Errorf("Compile(%s) = %v, want it to wrap ErrInvalidPattern", tt.pattern, err)
			}
		})
	}
}

func TestHasField(t *testing.T) {
	p, err := filter.Compile(`{"partitionKey": ["a"], "$or": [{"data": {"x": ["1"]}}, {"eventID": ["e"]}]}`)
	if err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]bool{"partitionKey": true, "data": true, "eventID": true, "x": false, "kinesis": false} {
		if got := p.HasField(name); got != want {
			t.Errorf("HasField(%q) = %v, want %v", name, got, want)
		}
	}
}

func TestCriteria(t *testing.T) {
	c, err := filter.CompileAll([]string{`{"a": ["1"]}`, `{"b": [{"exists": true}]}`})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		doc  string
		want bool
	}{
		{`{"a": "1"}`, true},
		{`{"b": 0}`, true},
		{`{"a": "2"}`, false},
	}
	for _, tt := range tests {
		doc, err := filter.DecodeJSON([]byte(tt.doc))
		if err != nil {
			t.Fatal(err)
		}
		if got := c.Match(doc); got != tt.want {
			t.Errorf("Match(%s) = %v, want %v", tt.doc, got, tt.want)
		}
	}
	if !filter.Criteria(nil).Match(map[string]any{}) {
		t.Error("empty criteria should match everything")
	}
	_, err = filter.CompileAll([]string{`{"a": "x"}`, `{}`, `[1]`})
	if err == nil || !errors.Is(err, filter.ErrInvalidPattern) {
		t.Errorf("CompileAll with two bad patterns = %v, want ErrInvalidPattern", err)
	}
}

func TestFields(t *testing.T) {
	p, err := filter.Compile(`{"b": ["1"], "a": {"x": ["2"]}, "$or": [{"c": ["3"]}, {"a": ["4"], "d": ["5"]}]}`)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"a", "b", "c", "d"}, p.Fields()); diff != "" {
		t.Errorf("Fields() mismatch (-want +got):\n%s", diff)
	}
}
