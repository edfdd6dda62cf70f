package pattern_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/flowbus/flowbus/shared/pattern"
)

// order is a document as a producer might send it as data.
const order = `{
  "id": "ord-1001",
  "status": "SHIPPED",
  "region": "us-west-2",
  "file": "label.PNG",
  "path": "dir/sub/label.png",
  "star": "a*b",
  "slash": "a\\b",
  "ip": "10.0.0.17",
  "ip6": "2001:db8:a::5",
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

// TestMatch holds every operator to EventBridge's semantics against one
// document. Every pattern here is also valid in Lambda mode unless lambda
// says it is not, and matches the same there.
func TestMatch(t *testing.T) {
	tests := []struct {
		name    string
		pattern string
		want    bool
		ebOnly  bool // EventBridge only: Lambda mode refuses it
	}{
		// exact values
		{"exact string", `{"status": ["SHIPPED"]}`, true, false},
		{"exact string is case sensitive", `{"status": ["shipped"]}`, false, false},
		{"exact list is OR", `{"status": ["PENDING", "SHIPPED"]}`, true, false},
		{"exact list none", `{"status": ["PENDING", "CANCELLED"]}`, false, false},
		{"exact number", `{"count": [3]}`, true, false},
		{"exact number by its text: 3.0 is not 3", `{"count": [3.0]}`, false, false},
		{"exact number by its text: 3e2 is not 300", `{"price": [3e2]}`, false, false},
		{"string is not number", `{"count": ["3"]}`, false, false},
		{"number is not string", `{"id": [1001]}`, false, false},
		{"exact bool", `{"flags": {"express": [true]}}`, true, false},
		{"exact bool false", `{"flags": {"gift": [false]}}`, true, false},
		{"exact bool mismatch", `{"flags": {"gift": [true]}}`, false, false},
		{"null", `{"note": [null]}`, true, false},
		{"null does not match absent", `{"missing": [null]}`, false, false},
		{"null does not match a string", `{"status": [null]}`, false, false},
		{"empty string", `{"comment": [""]}`, true, false},
		{"empty string is not null", `{"note": [""]}`, false, false},
		{"and of fields", `{"status": ["SHIPPED"], "count": [3]}`, true, false},
		{"and fails on one field", `{"status": ["SHIPPED"], "count": [4]}`, false, false},
		{"nested object", `{"customer": {"address": {"city": ["Seattle"]}}}`, true, false},
		{"nested object mismatch", `{"customer": {"address": {"city": ["Paris"]}}}`, false, false},
		{"nested pattern under a leaf", `{"status": {"x": ["y"]}}`, false, false},
		{"object value is not a leaf", `{"customer": ["Ada"]}`, false, false},
		{"empty pattern matches all", `{}`, true, false},

		// arrays in the document
		{"array any element", `{"tags": ["priority"]}`, true, false},
		{"array no element", `{"tags": ["heavy"]}`, false, false},
		{"array of objects", `{"items": {"sku": ["B-7"]}}`, true, false},
		{"array of objects, fields from one element", `{"items": {"sku": ["B-7"], "qty": [1]}}`, true, false},
		{"array of objects, fields from two elements do not combine", `{"items": {"sku": ["A-1"], "qty": [1]}}`, false, false},
		{"nested arrays are flattened", `{"matrix": [3]}`, true, false},
		{"numeric over array", `{"items": {"qty": [{"numeric": [">", 1]}]}}`, true, false},

		// prefix, suffix, equals-ignore-case
		{"prefix", `{"region": [{"prefix": "us-"}]}`, true, false},
		{"prefix mismatch", `{"region": [{"prefix": "eu-"}]}`, false, false},
		{"prefix is case sensitive", `{"region": [{"prefix": "US-"}]}`, false, false},
		{"prefix ignore case", `{"region": [{"prefix": {"equals-ignore-case": "US-"}}]}`, true, false},
		{"prefix only on strings", `{"count": [{"prefix": "3"}]}`, false, false},
		{"prefix on array", `{"tags": [{"prefix": "prio"}]}`, true, false},
		{"empty prefix matches any string", `{"status": [{"prefix": ""}]}`, true, false},
		{"suffix", `{"file": [{"suffix": ".PNG"}]}`, true, false},
		{"suffix is case sensitive", `{"file": [{"suffix": ".png"}]}`, false, false},
		{"suffix ignore case", `{"file": [{"suffix": {"equals-ignore-case": ".png"}}]}`, true, false},
		{"equals-ignore-case", `{"status": [{"equals-ignore-case": "shipped"}]}`, true, false},
		{"equals-ignore-case mismatch", `{"status": [{"equals-ignore-case": "ship"}]}`, false, false},
		{"equals-ignore-case only strings", `{"count": [{"equals-ignore-case": "3"}]}`, false, false},

		// anything-but
		{"anything-but string", `{"status": [{"anything-but": "PENDING"}]}`, true, false},
		{"anything-but same string", `{"status": [{"anything-but": "SHIPPED"}]}`, false, false},
		{"anything-but list", `{"status": [{"anything-but": ["PENDING", "SHIPPED"]}]}`, false, false},
		{"anything-but list other", `{"status": [{"anything-but": ["PENDING", "CANCELLED"]}]}`, true, false},
		{"anything-but number", `{"count": [{"anything-but": 3}]}`, false, false},
		{"anything-but number compares numerically", `{"count": [{"anything-but": [3.0]}]}`, false, false},
		{"anything-but other number", `{"count": [{"anything-but": [4, 5]}]}`, true, false},
		{"anything-but string list on a number", `{"count": [{"anything-but": ["3"]}]}`, true, false},
		{"anything-but absent field", `{"missing": [{"anything-but": "x"}]}`, false, false},
		{"anything-but object field", `{"customer": [{"anything-but": "x"}]}`, false, false},
		{"anything-but null is a value", `{"note": [{"anything-but": "x"}]}`, true, false},
		{"anything-but array: any other element", `{"tags": [{"anything-but": "fragile"}]}`, true, false},
		{"anything-but array: every element excluded", `{"tags": [{"anything-but": ["fragile", "priority"]}]}`, false, false},
		{"anything-but prefix", `{"region": [{"anything-but": {"prefix": "eu-"}}]}`, true, true},
		{"anything-but prefix excluded", `{"region": [{"anything-but": {"prefix": "us-"}}]}`, false, true},
		{"anything-but prefix list", `{"region": [{"anything-but": {"prefix": ["eu-", "us-"]}}]}`, false, true},
		{"anything-but prefix on number", `{"count": [{"anything-but": {"prefix": "3"}}]}`, true, true},
		{"anything-but suffix", `{"file": [{"anything-but": {"suffix": ".PNG"}}]}`, false, true},
		{"anything-but equals-ignore-case", `{"status": [{"anything-but": {"equals-ignore-case": "shipped"}}]}`, false, true},
		{"anything-but equals-ignore-case other", `{"status": [{"anything-but": {"equals-ignore-case": ["pending"]}}]}`, true, true},

		// numeric
		{"numeric =", `{"count": [{"numeric": ["=", 3]}]}`, true, false},
		{"numeric = across forms", `{"price": [{"numeric": ["=", 3e2]}]}`, true, false},
		{"numeric = mismatch", `{"count": [{"numeric": ["=", 4]}]}`, false, false},
		{"numeric >", `{"amount": [{"numeric": [">", 250]}]}`, true, false},
		{"numeric > boundary", `{"count": [{"numeric": [">", 3]}]}`, false, false},
		{"numeric >= boundary", `{"count": [{"numeric": [">=", 3]}]}`, true, false},
		{"numeric <", `{"count": [{"numeric": ["<", 3]}]}`, false, false},
		{"numeric <= boundary", `{"count": [{"numeric": ["<=", 3]}]}`, true, false},
		{"numeric range inside", `{"amount": [{"numeric": [">", 100, "<=", 250.5]}]}`, true, false},
		{"numeric range outside", `{"amount": [{"numeric": [">", 100, "<", 250.5]}]}`, false, false},
		{"numeric range reversed order", `{"amount": [{"numeric": ["<=", 300, ">=", 200]}]}`, true, false},
		{"numeric on string", `{"id": [{"numeric": [">", 0]}]}`, false, false},
		{"numeric on absent", `{"missing": [{"numeric": [">", 0]}]}`, false, false},
		{"numeric negative", `{"count": [{"numeric": [">", -10, "<", 10]}]}`, true, false},

		// exists
		{"exists true", `{"status": [{"exists": true}]}`, true, false},
		{"exists true absent", `{"missing": [{"exists": true}]}`, false, false},
		{"exists false absent", `{"missing": [{"exists": false}]}`, true, false},
		{"exists false present", `{"status": [{"exists": false}]}`, false, false},
		{"exists true null is a leaf", `{"note": [{"exists": true}]}`, true, false},
		{"exists true empty string", `{"comment": [{"exists": true}]}`, true, false},
		{"exists only on leaves: object", `{"customer": [{"exists": true}]}`, false, false},
		{"exists false on object", `{"customer": [{"exists": false}]}`, true, false},
		{"exists false on empty array", `{"empty": [{"exists": false}]}`, true, false},
		{"exists true on array", `{"tags": [{"exists": true}]}`, true, false},
		{"exists false nested under absent", `{"missing": {"deeper": [{"exists": false}]}}`, true, false},
		{"exists true nested under absent", `{"missing": {"deeper": [{"exists": true}]}}`, false, false},
		{"exists in array element", `{"items": {"backorder": [{"exists": true}]}}`, true, false},
		{"exists false in some array element", `{"items": {"backorder": [{"exists": false}]}}`, true, false},
		{"exists or value", `{"missing": [{"exists": false}, "x"]}`, true, false},

		// mixed rule lists and $or
		{"list mixes rules", `{"status": [{"prefix": "PEND"}, {"suffix": "PED"}]}`, true, false},
		{"$or first", `{"$or": [{"status": ["SHIPPED"]}, {"count": [99]}]}`, true, false},
		{"$or second", `{"$or": [{"status": ["PENDING"]}, {"count": [3]}]}`, true, false},
		{"$or none", `{"$or": [{"status": ["PENDING"]}, {"count": [99]}]}`, false, false},
		{"$or with and", `{"region": [{"prefix": "us-"}], "$or": [{"status": ["PENDING"]}, {"count": [3]}]}`, true, false},
		{"$or with failing and", `{"region": [{"prefix": "eu-"}], "$or": [{"status": ["SHIPPED"]}, {"count": [3]}]}`, false, false},
		{"$or nested", `{"customer": {"$or": [{"tier": ["silver"]}, {"address": {"city": ["Seattle"]}}]}}`, true, false},
		{"$or alternative with two fields", `{"$or": [{"status": ["SHIPPED"], "count": [4]}, {"tier": ["gold"]}]}`, false, false},
		{"$or inside $or", `{"$or": [{"status": ["X"]}, {"$or": [{"count": [9]}, {"price": [300]}]}]}`, true, false},
		{"$or within one array element", `{"items": {"$or": [{"sku": ["A-1"], "backorder": [true]}, {"sku": ["C-0"]}]}}`, false, false},

		// wildcard (EventBridge only)
		{"wildcard", `{"path": [{"wildcard": "dir/*.png"}]}`, true, true},
		{"wildcard star crosses slashes", `{"path": [{"wildcard": "dir/*"}]}`, true, true},
		{"wildcard mismatch", `{"path": [{"wildcard": "dir/*.jpg"}]}`, false, true},
		{"wildcard is case sensitive", `{"file": [{"wildcard": "*.png"}]}`, false, true},
		{"wildcard several stars", `{"path": [{"wildcard": "*/sub/*.p*g"}]}`, true, true},
		{"wildcard star matches empty", `{"path": [{"wildcard": "dir/sub/label.png*"}]}`, true, true},
		{"wildcard without star is exact", `{"status": [{"wildcard": "SHIPPED"}]}`, true, true},
		{"wildcard lone star matches any string", `{"comment": [{"wildcard": "*"}]}`, true, true},
		{"wildcard only on strings", `{"count": [{"wildcard": "*"}]}`, false, true},
		{"wildcard escaped star is literal", `{"star": [{"wildcard": "a\\*b"}]}`, true, true},
		{"wildcard escaped star is not a wildcard", `{"status": [{"wildcard": "S\\*"}]}`, false, true},
		{"wildcard escaped backslash", `{"slash": [{"wildcard": "a\\\\*"}]}`, true, true},
		{"wildcard on array", `{"tags": [{"wildcard": "*ior*"}]}`, true, true},
		{"wildcard middle must be in order", `{"path": [{"wildcard": "*label*sub*"}]}`, false, true},
		{"anything-but wildcard", `{"path": [{"anything-but": {"wildcard": "*/lib/*"}}]}`, true, true},
		{"anything-but wildcard excluded", `{"path": [{"anything-but": {"wildcard": "*/sub/*"}}]}`, false, true},
		{"anything-but wildcard list", `{"path": [{"anything-but": {"wildcard": ["*.jpg", "*.png"]}}]}`, false, true},

		// cidr (EventBridge only)
		{"cidr IPv4", `{"ip": [{"cidr": "10.0.0.0/24"}]}`, true, true},
		{"cidr IPv4 outside", `{"ip": [{"cidr": "10.0.1.0/24"}]}`, false, true},
		{"cidr IPv4 host bits are ignored", `{"ip": [{"cidr": "10.0.0.20/28"}]}`, true, true},
		{"cidr /32", `{"ip": [{"cidr": "10.0.0.17/32"}]}`, true, true},
		{"cidr IPv6", `{"ip6": [{"cidr": "2001:db8:a::/48"}]}`, true, true},
		{"cidr IPv6 outside", `{"ip6": [{"cidr": "2001:db8:b::/48"}]}`, false, true},
		{"cidr IPv4 against IPv6", `{"ip6": [{"cidr": "10.0.0.0/8"}]}`, false, true},
		{"cidr not an address", `{"status": [{"cidr": "10.0.0.0/8"}]}`, false, true},
		{"cidr only strings", `{"count": [{"cidr": "0.0.0.0/0"}]}`, false, true},
	}
	doc, err := pattern.DecodeJSON([]byte(order))
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := pattern.Compile(tt.pattern, pattern.EventBridge)
			if err != nil {
				t.Fatalf("Compile(%s): %v", tt.pattern, err)
			}
			if got := p.Match(doc); got != tt.want {
				t.Errorf("Match(%s) = %v, want %v", tt.pattern, got, tt.want)
			}
			if got := p.Explain(doc); got.Match != tt.want || (!got.Match && got.Field == "") {
				t.Errorf("Explain(%s) = %+v, want match %v and a field when false", tt.pattern, got, tt.want)
			}
			lp, err := pattern.Compile(tt.pattern, pattern.Lambda)
			if tt.ebOnly {
				if !errors.Is(err, pattern.ErrInvalid) {
					t.Errorf("Lambda Compile(%s) = %v, want ErrInvalid", tt.pattern, err)
				}
				return
			}
			if err != nil {
				t.Fatalf("Lambda Compile(%s): %v", tt.pattern, err)
			}
			if got := lp.Match(doc); got != tt.want {
				t.Errorf("Lambda Match(%s) = %v, want %v", tt.pattern, got, tt.want)
			}
		})
	}
}

// ec2Event is the example event of EventBridge's documentation
// ("Amazon EventBridge event patterns"), with the detail fields the
// content-filtering examples test added.
const ec2Event = `{
  "version": "0",
  "id": "6a7e8feb-b491-4cf7-a9f1-bf3703467718",
  "detail-type": "EC2 Instance State-change Notification",
  "source": "aws.ec2",
  "account": "111122223333",
  "time": "2017-12-22T18:43:48Z",
  "region": "us-west-1",
  "resources": [
    "arn:aws:autoscaling:us-east-1:123456789012:autoScalingGroup:eb56d16b-bbf0-401d-b893-d5978ed4a025:autoScalingGroupName/ASGTerminate",
    "arn:aws:ec2:us-east-1:123456789012:instance/i-b188560f"
  ],
  "detail": {
    "instance-id": "i-1234567890abcdef0",
    "state": "terminated",
    "service": "eventbridge",
    "FileName": "image.png",
    "c-count": 5,
    "d-count": 4,
    "x-limit": 301.8,
    "source-ip": "10.0.0.255",
    "sourceIPAddress": "2001:db8:a:b::12"
  }
}`

// TestDocumentedExamples runs the examples of EventBridge's user guide
// (event patterns, content filtering, arrays) and of the event-ruler README.
func TestDocumentedExamples(t *testing.T) {
	tests := []struct {
		name    string
		pattern string
		want    bool
	}{
		{"instance termination", `{"source": ["aws.ec2"], "detail-type": ["EC2 Instance State-change Notification"], "detail": {"state": ["terminated"]}}`, true},
		{"instance running", `{"source": ["aws.ec2"], "detail": {"state": ["running"]}}`, false},
		{"source list", `{"source": ["aws.ec2", "aws.fargate"]}`, true},
		{"resources intersect", `{"resources": ["arn:aws:ec2:us-east-1:123456789012:instance/i-b188560f", "arn:aws:ec2:us-east-1:111122223333:instance/i-b188560f", "arn:aws:ec2:us-east-1:444455556666:instance/i-b188560f"]}`, true},
		{"resources disjoint", `{"resources": ["arn:aws:ec2:us-east-1:444455556666:instance/i-b188560f"]}`, false},
		{"time prefix", `{"time": [{"prefix": "2017-12-22"}]}`, true},
		{"prefix ignore case", `{"detail": {"service": [{"prefix": {"equals-ignore-case": "EventB"}}]}}`, true},
		{"suffix", `{"detail": {"FileName": [{"suffix": ".png"}]}}`, true},
		{"suffix ignore case", `{"detail": {"FileName": [{"suffix": {"equals-ignore-case": ".PNG"}}]}}`, true},
		{"anything-but initializing", `{"detail": {"state": [{"anything-but": "initializing"}]}}`, true},
		{"anything-but number", `{"detail": {"x-limit": [{"anything-but": 123}]}}`, true},
		{"anything-but list", `{"detail": {"state": [{"anything-but": ["stopped", "overloaded"]}]}}`, true},
		{"anything-but prefix us-", `{"region": [{"anything-but": {"prefix": "us-"}}]}`, false},
		{"anything-but suffix", `{"detail": {"FileName": [{"anything-but": {"suffix": ".png"}}]}}`, false},
		{"anything-but ignore case", `{"detail": {"state": [{"anything-but": {"equals-ignore-case": "TERMINATED"}}]}}`, false},
		{"anything-but wildcard", `{"detail": {"FileName": [{"anything-but": {"wildcard": "*/lib/*"}}]}}`, true},
		{"numeric", `{"detail": {"c-count": [{"numeric": [">", 0, "<=", 5]}], "d-count": [{"numeric": ["<", 10]}], "x-limit": [{"numeric": ["=", 3.018e2]}]}}`, true},
		{"cidr", `{"detail": {"source-ip": [{"cidr": "10.0.0.0/24"}]}}`, true},
		{"cidr IPv6", `{"detail": {"sourceIPAddress": [{"cidr": "2001:db8:a:b::/64"}]}}`, true},
		{"exists", `{"detail": {"state": [{"exists": true}]}}`, true},
		{"does not exist", `{"detail": {"state": [{"exists": false}]}}`, false},
		{"does not exist, absent", `{"detail": {"reason": [{"exists": false}]}}`, true},
		{"equals-ignore-case", `{"detail-type": [{"equals-ignore-case": "ec2 instance state-change notification"}]}`, true},
		{"wildcard", `{"resources": [{"wildcard": "arn:aws:ec2:*:instance/*"}]}`, true},
		{"or of fields", `{"$or": [{"detail": {"c-count": [{"numeric": [">", 10]}]}}, {"detail": {"d-count": [{"numeric": ["<", 10]}]}}]}`, true},
		{"source and or", `{"source": ["aws.ec2"], "$or": [{"region": ["eu-west-1"]}, {"account": ["111122223333"]}]}`, true},
		{"ruler complex example", `{"time": [{"prefix": "2017-12-22"}], "detail": {"state": [{"anything-but": "initializing"}], "c-count": [{"numeric": [">", 0, "<=", 5]}], "d-count": [{"numeric": ["<", 10]}], "x-limit": [{"anything-but": [100, 200, 300]}], "source-ip": [{"cidr": "10.0.0.0/8"}]}}`, true},
	}
	doc, err := pattern.DecodeJSON([]byte(ec2Event))
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := pattern.Compile(tt.pattern, pattern.EventBridge)
			if err != nil {
				t.Fatalf("Compile(%s): %v", tt.pattern, err)
			}
			if got := p.Match(doc); got != tt.want {
				t.Errorf("Match(%s) = %v, want %v", tt.pattern, got, tt.want)
			}
		})
	}
}

// TestNullAndEmpty: the documented null and empty-string examples.
func TestNullAndEmpty(t *testing.T) {
	tests := []struct {
		event, pattern string
		want           bool
	}{
		{`{"UserID": null}`, `{"UserID": [null]}`, true},
		{`{"UserID": ""}`, `{"UserID": [null]}`, false},
		{`{}`, `{"UserID": [null]}`, false},
		{`{"LastName": ""}`, `{"LastName": [""]}`, true},
		{`{"LastName": null}`, `{"LastName": [""]}`, false},
		{`{"LastName": "Doe"}`, `{"LastName": [""]}`, false},
	}
	for _, tt := range tests {
		p := pattern.MustCompile(tt.pattern, pattern.EventBridge)
		got, err := p.MatchJSON([]byte(tt.event))
		if err != nil {
			t.Fatal(err)
		}
		if got != tt.want {
			t.Errorf("MatchJSON(%s, %s) = %v, want %v", tt.event, tt.pattern, got, tt.want)
		}
	}
}

// cloudEvent is a flowbus event as subscriptions see it: attributes,
// extensions and data.
const cloudEvent = `{
  "specversion": "1.0",
  "id": "01J9ZQ4M7X2V8K3N5P6R7S8T9V",
  "source": "/n8n/prod",
  "type": "workflow.started",
  "time": "2026-11-27T10:00:00Z",
  "workflowid": "wf-42",
  "dataversion": 2,
  "data": {"status": "running", "amount": 250, "owner": {"team": "billing"}}
}`

func TestMatchCloudEvent(t *testing.T) {
	tests := []struct {
		pattern string
		want    bool
	}{
		{`{"type": ["workflow.started"], "workflowid": [{"prefix": "wf-"}]}`, true},
		{`{"type": [{"prefix": "workflow."}], "source": [{"wildcard": "/n8n/*"}], "data": {"status": ["running"]}}`, true},
		{`{"type": ["workflow.started"], "data": {"amount": [{"numeric": [">=", 1000]}]}}`, false},
		{`{"replayid": [{"exists": false}]}`, true},
		{`{"dataversion": [{"numeric": ["=", 2]}], "data": {"owner": {"team": ["billing"]}}}`, true},
	}
	doc, err := pattern.DecodeJSON([]byte(cloudEvent))
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range tests {
		if got := pattern.MustCompile(tt.pattern, pattern.EventBridge).Match(doc); got != tt.want {
			t.Errorf("Match(%s) = %v, want %v", tt.pattern, got, tt.want)
		}
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
		if got := pattern.MustCompile(tt.pattern, pattern.Lambda).Match(doc); got != tt.want {
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
		got, err := pattern.MustCompile(tt.pattern, pattern.EventBridge).MatchJSON([]byte(tt.doc))
		if err != nil {
			t.Fatal(err)
		}
		if got != tt.want {
			t.Errorf("MatchJSON(%s, %s) = %v, want %v", tt.doc, tt.pattern, got, tt.want)
		}
	}
}

func TestCompileErrors(t *testing.T) {
	long := `{"a": ["` + strings.Repeat("x", pattern.MaxLength) + `"]}`
	tests := []struct {
		name      string
		pattern   string
		mode      pattern.Mode
		wantField string
		wantLimit int
		wantIn    string // part of the reason
	}{
		{"not JSON", `{"a": [`, pattern.EventBridge, "", 0, "not JSON"},
		{"trailing data", `{"a": ["x"]} {}`, pattern.EventBridge, "", 0, "not JSON"},
		{"not an object", `["a"]`, pattern.EventBridge, "", 0, "JSON object"},
		{"scalar field", `{"a": "x"}`, pattern.EventBridge, "a", 0, "list of values"},
		{"number field", `{"data": {"amount": 1}}`, pattern.EventBridge, "data.amount", 0, "list of values"},
		{"null field", `{"a": null}`, pattern.EventBridge, "a", 0, "list of values"},
		{"empty list", `{"data": {"status": []}}`, pattern.EventBridge, "data.status", 0, "matches nothing"},
		{"empty nested object", `{"data": {}}`, pattern.EventBridge, "data", 0, "empty object"},
		{"nested list", `{"a": [["x"]]}`, pattern.EventBridge, "a", 0, "not a list"},
		{"two operators", `{"a": [{"prefix": "x", "suffix": "y"}]}`, pattern.EventBridge, "a", 0, "exactly one operator"},
		{"empty operator", `{"a": [{}]}`, pattern.EventBridge, "a", 0, "exactly one operator"},
		{"unknown operator", `{"a": [{"contains": "x"}]}`, pattern.EventBridge, "a", 0, `unknown operator "contains"`},
		{"wildcard in Lambda", `{"a": [{"wildcard": "x*"}]}`, pattern.Lambda, "a", 0, "Lambda"},
		{"cidr in Lambda", `{"a": [{"cidr": "10.0.0.0/8"}]}`, pattern.Lambda, "a", 0, "Lambda"},
		{"anything-but wildcard in Lambda", `{"a": [{"anything-but": {"wildcard": "x*"}}]}`, pattern.Lambda, "a", 0, "Lambda"},
		{"wildcard consecutive stars", `{"a": [{"wildcard": "x**y"}]}`, pattern.EventBridge, "a", 0, "consecutive"},
		{"wildcard bad escape", `{"a": [{"wildcard": "x\\y"}]}`, pattern.EventBridge, "a", 0, "backslash"},
		{"wildcard trailing backslash", `{"a": [{"wildcard": "x\\"}]}`, pattern.EventBridge, "a", 0, "backslash"},
		{"wildcard number", `{"a": [{"wildcard": 1}]}`, pattern.EventBridge, "a", 0, "takes a string"},
		{"anything-but wildcard bad", `{"a": [{"anything-but": {"wildcard": ["*.png", "**"]}}]}`, pattern.EventBridge, "a", 0, "consecutive"},
		{"cidr not a network", `{"detail": {"ip": [{"cidr": "10.0.0.0/33"}]}}`, pattern.EventBridge, "detail.ip", 0, "CIDR"},
		{"cidr bare address", `{"a": [{"cidr": "10.0.0.1"}]}`, pattern.EventBridge, "a", 0, "CIDR"},
		{"prefix number", `{"a": [{"prefix": 1}]}`, pattern.EventBridge, "a", 0, "prefix takes"},
		{"prefix bad object", `{"a": [{"prefix": {"x": "y"}}]}`, pattern.EventBridge, "a", 0, "prefix takes"},
		{"suffix list", `{"a": [{"suffix": ["x"]}]}`, pattern.EventBridge, "a", 0, "suffix takes"},
		{"equals-ignore-case number", `{"a": [{"equals-ignore-case": 1}]}`, pattern.EventBridge, "a", 0, "equals-ignore-case takes"},
		{"exists string", `{"a": [{"exists": "true"}]}`, pattern.EventBridge, "a", 0, "exists takes"},
		{"anything-but empty list", `{"a": [{"anything-but": []}]}`, pattern.EventBridge, "a", 0, "at least one"},
		{"anything-but mixed list", `{"a": [{"anything-but": ["x", 1]}]}`, pattern.EventBridge, "a", 0, "only strings or only numbers"},
		{"anything-but bool", `{"a": [{"anything-but": true}]}`, pattern.EventBridge, "a", 0, "anything-but takes"},
		{"anything-but null in list", `{"a": [{"anything-but": [null]}]}`, pattern.EventBridge, "a", 0, "strings or numbers"},
		{"anything-but unknown object", `{"a": [{"anything-but": {"numeric": [">", 1]}}]}`, pattern.EventBridge, "a", 0, `"numeric"`},
		{"anything-but prefix number", `{"a": [{"anything-but": {"prefix": 1}}]}`, pattern.EventBridge, "a", 0, "anything-but prefix takes"},
		{"numeric not a list", `{"a": [{"numeric": ">"}]}`, pattern.EventBridge, "a", 0, "operator/number pairs"},
		{"numeric odd list", `{"a": [{"numeric": [">", 1, "<"]}]}`, pattern.EventBridge, "a", 0, "operator/number pairs"},
		{"numeric string operand", `{"data": {"amount": [{"numeric": [">", "1"]}]}}`, pattern.EventBridge, "data.amount", 0, "takes a number"},
		{"numeric unknown operator", `{"a": [{"numeric": ["!=", 1]}]}`, pattern.EventBridge, "a", 0, "unknown numeric operator"},
		{"numeric two lower bounds", `{"a": [{"numeric": [">", 1, ">=", 2]}]}`, pattern.EventBridge, "a", 0, "two lower bounds"},
		{"numeric = combined", `{"a": [{"numeric": ["=", 1, "<", 2]}]}`, pattern.EventBridge, "a", 0, "cannot be combined"},
		{"numeric empty range", `{"data": {"amount": [{"numeric": [">", 5, "<", 5]}]}}`, pattern.EventBridge, "data.amount", 0, "range is empty"},
		{"numeric out of range", `{"a": [{"numeric": [">", 6e9]}]}`, pattern.EventBridge, "a", 0, "outside the range"},
		{"numeric too many", `{"a": [{"numeric": [">", 1, "<", 5, "<", 6]}]}`, pattern.EventBridge, "a", 0, "operator/number pairs"},
		{"$or one alternative", `{"$or": [{"a": ["x"]}]}`, pattern.EventBridge, "$or", 0, "at least two"},
		{"$or not a list", `{"$or": {"a": ["x"]}}`, pattern.EventBridge, "$or", 0, "at least two"},
		{"$or empty alternative", `{"$or": [{"a": ["x"]}, {}]}`, pattern.EventBridge, "$or[1]", 0, "non-empty"},
		{"$or bad alternative", `{"data": {"$or": [{"a": ["x"]}, {"b": "y"}]}}`, pattern.EventBridge, "data.$or[1].b", 0, "list of values"},
		{"deep error", `{"a": {"b": {"c": [{"numeric": ["?", 1]}]}}}`, pattern.EventBridge, "a.b.c", 0, "unknown numeric operator"},
		{"too long", long, pattern.EventBridge, "", pattern.MaxLength, "characters"},
		{"too many combinations", `{"a": [1,2,3,4,5,6,7,8,9,10], "b": [1,2,3,4,5,6,7,8,9,10], "c": [1,2,3,4,5,6,7,8,9,10,11]}`, pattern.EventBridge, "", pattern.MaxCombinations, "combinations"},
		{"too many $or combinations", `{"$or": [{"a": [1,2,3,4,5,6,7,8,9,10], "b": [1,2,3,4,5,6,7,8,9,10]}, {"c": ["x"]}], "d": [1,2,3,4,5,6,7,8,9,10]}`, pattern.EventBridge, "", pattern.MaxCombinations, "combinations"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := pattern.Compile(tt.pattern, tt.mode)
			if !errors.Is(err, pattern.ErrInvalid) {
				t.Fatalf("Compile(%s) = %v, want ErrInvalid", tt.pattern, err)
			}
			var pe *pattern.Error
			if !errors.As(err, &pe) {
				t.Fatalf("Compile(%s) = %T, want *pattern.Error", tt.pattern, err)
			}
			if pe.Field != tt.wantField || pe.Limit != tt.wantLimit || !strings.Contains(pe.Reason, tt.wantIn) {
				t.Errorf("Compile(%s) = field %q limit %d reason %q, want field %q limit %d reason containing %q",
					tt.pattern, pe.Field, pe.Limit, pe.Reason, tt.wantField, tt.wantLimit, tt.wantIn)
			}
		})
	}
}

func TestLimits(t *testing.T) {
	// Lambda mode allows longer patterns, as CloudFormation does.
	long := `{"a": ["` + strings.Repeat("x", pattern.MaxLength) + `"]}`
	if _, err := pattern.Compile(long, pattern.Lambda); err != nil {
		t.Errorf("Lambda Compile of a %d-character pattern: %v", len(long), err)
	}
	// Characters, not bytes.
	wide := `{"a": ["` + strings.Repeat("é", pattern.MaxLength-20) + `"]}`
	if _, err := pattern.Compile(wide, pattern.EventBridge); err != nil {
		t.Errorf("Compile of %d characters in %d bytes: %v", pattern.MaxLength-8, len(wide), err)
	}
	// Exactly at the combinations limit.
	at := `{"a": [1,2,3,4,5,6,7,8,9,10], "b": [1,2,3,4,5,6,7,8,9,10], "c": [1,2,3,4,5,6,7,8,9,10]}`
	if _, err := pattern.Compile(at, pattern.EventBridge); err != nil {
		t.Errorf("Compile of %d combinations: %v", pattern.MaxCombinations, err)
	}
}

func TestExplain(t *testing.T) {
	tests := []struct {
		pattern   string
		wantField string
		wantIn    string
	}{
		{`{"type": ["workflow.started"], "data": {"amount": [{"numeric": [">", 1000]}]}}`, "data.amount", "250"},
		{`{"data": {"missing": ["x"]}}`, "data.missing", "absent"},
		{`{"replayid": [{"exists": true}]}`, "replayid", "absent"},
		{`{"workflowid": [{"exists": false}]}`, "workflowid", `"wf-42"`},
		{`{"type": ["a"], "source": ["b"]}`, "source", `"/n8n/prod"`}, // fields are tested in sorted order
		{`{"data": {"$or": [{"status": ["done"]}, {"amount": [1]}]}}`, "data.$or", "2 alternatives"},
	}
	doc, err := pattern.DecodeJSON([]byte(cloudEvent))
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range tests {
		got := pattern.MustCompile(tt.pattern, pattern.EventBridge).Explain(doc)
		if got.Match || got.Field != tt.wantField || !strings.Contains(got.Reason, tt.wantIn) {
			t.Errorf("Explain(%s) = %+v, want field %q, reason containing %q", tt.pattern, got, tt.wantField, tt.wantIn)
		}
	}
}

func TestTest(t *testing.T) {
	got, err := pattern.Test(`{"type": ["workflow.started"]}`, []byte(cloudEvent))
	if err != nil || !got.Match {
		t.Errorf("Test = %+v, %v, want a match", got, err)
	}
	got, err = pattern.Test(`{"type": ["workflow.done"]}`, []byte(cloudEvent))
	if err != nil || got.Match || got.Field != "type" {
		t.Errorf("Test = %+v, %v, want no match on type", got, err)
	}
	if _, err := pattern.Test(`{"type": "x"}`, []byte(cloudEvent)); !errors.Is(err, pattern.ErrInvalid) {
		t.Errorf("Test with a bad pattern = %v, want ErrInvalid", err)
	}
	for _, ev := range []string{`[1]`, `"x"`, `{`} {
		if _, err := pattern.Test(`{}`, []byte(ev)); !errors.Is(err, pattern.ErrEventNotObject) {
			t.Errorf("Test with event %s = %v, want ErrEventNotObject", ev, err)
		}
	}
}

func TestCanonical(t *testing.T) {
	tests := []struct{ in, want string }{
		{`{ "b": ["x", 3e2, null, true], "a": {"z": [{"prefix": {"equals-ignore-case": "Ab"}}]} }`,
			`{"a":{"z":[{"prefix":{"equals-ignore-case":"Ab"}}]},"b":["x",3e2,null,true]}`},
		{`{"z": [{"numeric": ["<=", 5, ">", 0]}], "$or": [{"c": [{"anything-but": {"wildcard": ["*.png"]}}]}, {"d": [{"anything-but": 5}]}], "A": [{"cidr": "10.0.0.0/8"}]}`,
			`{"$or":[{"c":[{"anything-but":{"wildcard":["*.png"]}}]},{"d":[{"anything-but":5}]}],"A":[{"cidr":"10.0.0.0/8"}],"z":[{"numeric":["<=",5,">",0]}]}`},
		{`{"w": [{"wildcard": "a\\*b*"}, {"exists": false}, {"anything-but": ["x", "y"]}, {"suffix": "s"}, {"equals-ignore-case": "E"}]}`,
			`{"w":[{"wildcard":"a\\*b*"},{"exists":false},{"anything-but":["x","y"]},{"suffix":"s"},{"equals-ignore-case":"E"}]}`},
		{`{}`, `{}`},
	}
	for _, tt := range tests {
		p := pattern.MustCompile(tt.in, pattern.EventBridge)
		if diff := cmp.Diff(tt.want, p.Canonical()); diff != "" {
			t.Errorf("Canonical(%s) (-want +got):\n%s", tt.in, diff)
		}
		again := pattern.MustCompile(p.Canonical(), pattern.EventBridge)
		if again.Canonical() != p.Canonical() {
			t.Errorf("Canonical of the canonical form of %s = %s, want %s", tt.in, again.Canonical(), p.Canonical())
		}
	}
}

func TestFieldsAndHasField(t *testing.T) {
	p := pattern.MustCompile(`{"b": ["1"], "a": {"x": ["2"]}, "$or": [{"c": ["3"]}, {"a": ["4"], "d": ["5"]}]}`, pattern.Lambda)
	if diff := cmp.Diff([]string{"a", "b", "c", "d"}, p.Fields()); diff != "" {
		t.Errorf("Fields() mismatch (-want +got):\n%s", diff)
	}
	for name, want := range map[string]bool{"a": true, "d": true, "x": false, "kinesis": false} {
		if got := p.HasField(name); got != want {
			t.Errorf("HasField(%q) = %v, want %v", name, got, want)
		}
	}
}

func TestCriteria(t *testing.T) {
	c, err := pattern.CompileAll([]string{`{"a": ["1"]}`, `{"b": [{"exists": true}]}`}, pattern.Lambda)
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
		doc, err := pattern.DecodeJSON([]byte(tt.doc))
		if err != nil {
			t.Fatal(err)
		}
		if got := c.Match(doc); got != tt.want {
			t.Errorf("Match(%s) = %v, want %v", tt.doc, got, tt.want)
		}
	}
	if !pattern.Criteria(nil).Match(map[string]any{}) {
		t.Error("empty criteria should match everything")
	}
	_, err = pattern.CompileAll([]string{`{"a": "x"}`, `{}`, `[1]`}, pattern.Lambda)
	var pe *pattern.Error
	if !errors.As(err, &pe) || pe.Field != "a" {
		t.Errorf("CompileAll with two bad patterns = %v, want a *pattern.Error on field a first", err)
	}
}
