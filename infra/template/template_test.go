package template

import (
	"encoding/json"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/awslabs/goformation/v7"
	"github.com/awslabs/goformation/v7/intrinsics"
	"github.com/google/go-cmp/cmp"

	"github.com/flowbus/flowbus/shared/bus"
	"github.com/flowbus/flowbus/shared/deadletter"
	"github.com/flowbus/flowbus/shared/delivery"
	"github.com/flowbus/flowbus/shared/dynamostore"
	"github.com/flowbus/flowbus/shared/stats"
	"github.com/flowbus/flowbus/shared/subscription"
)

const templatePath = "../../template.yaml"

func load(t *testing.T) *Template {
	t.Helper()
	tpl, err := Load(templatePath, nil)
	if err != nil {
		t.Fatal(err)
	}
	return tpl
}

// TestGoformationReadsTheTemplate checks the template is a SAM template the
// standard Go library for them accepts, with the resources the code expects.
func TestGoformationReadsTheTemplate(t *testing.T) {
	raw, err := os.ReadFile(templatePath)
	if err != nil {
		t.Fatal(err)
	}
	unresolved, err := intrinsics.ProcessYAML(raw, &intrinsics.ProcessorOptions{NoProcess: true})
	if err != nil {
		t.Fatal(err)
	}
	var generic map[string]any
	if err := json.Unmarshal(unresolved, &generic); err != nil {
		t.Fatal(err)
	}
	// SAM properties newer than goformation's schema, dropped so the rest is
	// checked strictly. Each one must still be in the template.
	for _, p := range [][]string{{"HttpApi", "Auth", "EnableIamAuthorizer"}} {
		props, _ := section(generic, "Resources")[p[0]].(map[string]any)["Properties"].(map[string]any)
		parent, _ := props[p[1]].(map[string]any)
		if _, ok := parent[p[2]]; !ok {
			t.Errorf("%s.%s.%s is gone: drop it from this list", p[0], p[1], p[2])
		}
		delete(parent, p[2])
	}
	stripped, err := json.Marshal(generic)
	if err != nil {
		t.Fatal(err)
	}
	tpl, err := goformation.ParseJSONWithOptions(stripped, &intrinsics.ProcessorOptions{})
	if err != nil {
		t.Fatal(err)
	}
	fns := tpl.GetAllServerlessFunctionResources()
	var names []string
	for name, fn := range fns {
		names = append(names, name)
		if fn.Policies != nil {
			t.Errorf("%s has Policies: give its role the statements instead", name)
		}
		meta := fn.AWSCloudFormationMetadata
		if meta["BuildMethod"] != "makefile" {
			t.Errorf("%s: Metadata.BuildMethod = %v, want makefile", name, meta["BuildMethod"])
		}
	}
	sort.Strings(names)
	if diff := cmp.Diff([]string{"ConsumeFunction", "DeadLetterFunction", "DeliverFunction", "MetricsFunction", "PublishFunction", "ReplayFunction", "RouteFunction", "SubscriptionsFunction"}, names); diff != "" {
		t.Errorf("functions (-want +got):\n%s", diff)
	}
	doc, err := Resolve(raw, nil)
	if err != nil {
		t.Fatal(err)
	}
	// goformation does not merge Globals; read them from the resolved document.
	globals, _ := section(doc, "Globals")["Function"].(map[string]any)
	want := map[string]any{"Runtime": "provided.al2023", "Handler": "bootstrap", "Architectures": []any{"arm64"}}
	for k, v := range want {
		if !reflect.DeepEqual(globals[k], v) {
			t.Errorf("Globals.Function.%s = %v, want %v", k, globals[k], v)
		}
	}
}

// TestMakefileBuildsEveryFunction checks sam build can build each function.
func TestMakefileBuildsEveryFunction(t *testing.T) {
	mk, err := os.ReadFile("../../Makefile")
	if err != nil {
		t.Fatal(err)
	}
	for id := range load(t).Functions {
		if !strings.Contains(string(mk), "\nbuild-"+id+":") {
			t.Errorf("Makefile has no build-%s target", id)
		}
	}
}

// pkg parses a function's folder.
func pkg(t *testing.T, dir string) map[string]*ast.File {
	t.Helper()
	files := map[string]*ast.File{}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if !strings.HasSuffix(e.Name(), ".go") || strings.HasSuffix(e.Name(), "_test.go") {
			continue
		}
		f, err := parser.ParseFile(token.NewFileSet(), filepath.Join(dir, e.Name()), nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		files[e.Name()] = f
	}
	return files
}

func TestCodeURIsHoldMainPackages(t *testing.T) {
	for id, fn := range load(t).Functions {
		files := pkg(t, filepath.Join("../..", fn.CodeURI))
		hasMain := false
		for _, f := range files {
			if f.Name.Name != "main" {
				t.Errorf("%s: %s is package %s, want main", id, fn.CodeURI, f.Name.Name)
			}
			for _, d := range f.Decls {
				if fd, ok := d.(*ast.FuncDecl); ok && fd.Name.Name == "main" && fd.Recv == nil {
					hasMain = true
				}
			}
		}
		if !hasMain {
			t.Errorf("%s: %s has no func main", id, fn.CodeURI)
		}
	}
}

// needs reads the config.Needs{...} literal in a function's code: the
// resources whose variables it requires.
func needs(files map[string]*ast.File) []string {
	var env []string
	for _, f := range files {
		ast.Inspect(f, func(n ast.Node) bool {
			cl, ok := n.(*ast.CompositeLit)
			if !ok {
				return true
			}
			if sel, ok := cl.Type.(*ast.SelectorExpr); !ok || sel.Sel.Name != "Needs" {
				return true
			}
			for _, elt := range cl.Elts {
				kv, ok := elt.(*ast.KeyValueExpr)
				if !ok {
					continue
				}
				if v, ok := kv.Value.(*ast.Ident); ok && v.Name == "true" {
					env = append(env, map[string]string{"Stream": "FLOWBUS_STREAM", "Table": "FLOWBUS_TABLE", "SecretKey": "FLOWBUS_KMS_KEY", "DeliveryQueue": "FLOWBUS_DELIVERY_QUEUE"}[kv.Key.(*ast.Ident).Name])
				}
			}
			return true
		})
	}
	return env
}

// knownEnv lists the FLOWBUS_ variables shared/config reads.
func knownEnv(t *testing.T) map[string]bool {
	files := pkg(t, "../../shared/config")
	known := map[string]bool{}
	for _, f := range files {
		ast.Inspect(f, func(n ast.Node) bool {
			if lit, ok := n.(*ast.BasicLit); ok && lit.Kind == token.STRING {
				if s, err := strconv.Unquote(lit.Value); err == nil && strings.HasPrefix(s, "FLOWBUS_") {
					known[s] = true
				}
			}
			return true
		})
	}
	return known
}

func TestEnvironmentMatchesTheCode(t *testing.T) {
	known := knownEnv(t)
	for id, fn := range load(t).Functions {
		for _, v := range needs(pkg(t, filepath.Join("../..", fn.CodeURI))) {
			if _, ok := fn.Env[v]; !ok {
				t.Errorf("%s reads %s but the template does not set it", id, v)
			}
		}
		for v := range fn.Env {
			if !known[v] {
				t.Errorf("%s: the template sets %s, which no code reads", id, v)
			}
		}
	}
}

// codeRoutes reads the routes variable of a function's code.
func codeRoutes(files map[string]*ast.File) []string {
	var out []string
	for _, f := range files {
		for _, d := range f.Decls {
			gd, ok := d.(*ast.GenDecl)
			if !ok {
				continue
			}
			for _, spec := range gd.Specs {
				vs, ok := spec.(*ast.ValueSpec)
				if !ok || len(vs.Names) != 1 || vs.Names[0].Name != "routes" {
					continue
				}
				ast.Inspect(vs, func(n ast.Node) bool {
					if lit, ok := n.(*ast.BasicLit); ok && lit.Kind == token.STRING {
						s, _ := strconv.Unquote(lit.Value)
						out = append(out, s)
					}
					return true
				})
			}
		}
	}
	return out
}

func TestRoutesMatchTheCode(t *testing.T) {
	tpl := load(t)
	inTemplate := map[string][]string{}
	for _, r := range tpl.Routes {
		inTemplate[r.Function] = append(inTemplate[r.Function], r.Method+" "+r.Path)
	}
	for id, fn := range tpl.Functions {
		got := inTemplate[id]
		want := codeRoutes(pkg(t, filepath.Join("../..", fn.CodeURI)))
		slices.Sort(got)
		slices.Sort(want)
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("%s routes (-code +template):\n%s", id, diff)
		}
	}
}

// methods lists an interface's methods as IAM actions.
func methods(service string, iface any) []string {
	typ := reflect.TypeOf(iface).Elem()
	var out []string
	for i := range typ.NumMethod() {
		out = append(out, service+":"+typ.Method(i).Name)
	}
	return out
}

// TestPoliciesAreLeastPrivilege checks each function's role allows exactly
// the actions its code can call (read off the client interfaces it is built
// on), on resources of this template only, with no wildcard and no managed
// policy.
func TestPoliciesAreLeastPrivilege(t *testing.T) {
	raw, err := os.ReadFile(templatePath)
	if err != nil {
		t.Fatal(err)
	}
	doc, err := Resolve(raw, nil)
	if err != nil {
		t.Fatal(err)
	}
	resources := section(doc, "Resources")
	arns := map[string]bool{}
	for id := range resources {
		if arn, ok := getAtt("Fn::GetAtt", id+".Arn", doc).(string); ok {
			arns[arn] = true
		}
	}
	logs := []string{"logs:CreateLogStream", "logs:PutLogEvents"}
	esm := []string{"kinesis:DescribeStream", "kinesis:DescribeStreamSummary", "kinesis:GetRecords", "kinesis:GetShardIterator", "kinesis:ListShards"}
	want := map[string][]string{
		// + authz.Store.List: the authorization policy's items.
		"PublishFunction": append(append(methods("kinesis", (*bus.KinesisAPI)(nil)), "dynamodb:Query"), logs...),
		"ConsumeFunction": append(append(append(methods("dynamodb", (*dynamostore.API)(nil)), esm...), "sqs:SendMessage"), logs...),
		"MetricsFunction": append(append(methods("dynamodb", (*stats.ReadAPI)(nil)), methods("kinesis", (*stats.KinesisAPI)(nil))...), logs...),
		// The store (stats.WriteAPI's UpdateItem is one of its calls), reading back, the SQS mapping.
		"DeadLetterFunction": append(append(append(methods("dynamodb", (*dynamostore.API)(nil)), methods("kinesis", (*deadletter.KinesisAPI)(nil))...),
			"sqs:DeleteMessage", "sqs:GetQueueAttributes", "sqs:ReceiveMessage"), logs...),
		// The store, the figures and dead-letter entries (reads, deletes), redrive's delivery.Sender (+ GetQueueUrl).
		// + kmskey.Service.GenerateDataKey: sealing new and rotated secrets (it never opens one).
		"SubscriptionsFunction": append(append(methods("dynamodb", (*subscription.DynamoAPI)(nil)), "sqs:GetQueueUrl", "sqs:SendMessage", "kms:GenerateDataKey"), logs...),
		// subscription.Store.List, delivery.Recorder (matched; PutItem for a minute's first copy of the totals), the Kinesis mapping, route.Sender (+ GetQueueUrl for a queue name).
		"RouteFunction": append(append(append([]string{"dynamodb:PutItem", "dynamodb:Query", "dynamodb:UpdateItem"}, esm...), "sqs:GetQueueUrl", "sqs:SendMessage"), logs...),
		// The SQS mapping, delivery.VisibilityAPI (+ GetQueueUrl); the table
		// (subscription Snapshot/Get/Put, delivery.StoreEvents, DeadLetters.Put,
		// Recorder.Record, delivery.AttemptsAPI: attempts and packs' progress, GetItem
		// and PutItem among them); bus.KinesisAPI on the bus stream.
		// Targets outside the template (lambda, sqs, kinesis, eventbridge) are
		// granted per deployment. sealing.Decrypter: kms:Decrypt, opening secrets.
		"DeliverFunction": append(append(append([]string{"sqs:ChangeMessageVisibility", "sqs:DeleteMessage", "sqs:GetQueueAttributes", "sqs:GetQueueUrl", "sqs:ReceiveMessage", "kms:Decrypt",
			"dynamodb:Query"}, methods("dynamodb", (*delivery.AttemptsAPI)(nil))...), methods("kinesis", (*bus.KinesisAPI)(nil))...), logs...),
		"ReplayFunction": append(append(append(
			[]string{"dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:Query", "dynamodb:Scan"},                                      // Store.Read, Records, ScanEvents
			methods("kinesis", (*bus.KinesisAPI)(nil))...), "lambda:InvokeFunction", "sqs:GetQueueUrl", "sqs:SendMessage"), logs...), // + route.Sender for a subscription target
	}
	for id := range load(t).Functions {
		fnProps, _ := resources[id].(map[string]any)["Properties"].(map[string]any)
		roleARN, _ := fnProps["Role"].(string) // without a Role, SAM attaches broad managed policies
		roleID := strings.TrimPrefix(roleARN, "arn:aws:iam::"+Account+":role/")
		role, ok := resources[roleID].(map[string]any)
		if !ok {
			t.Errorf("%s: role %q is not a resource of the template", id, roleARN)
			continue
		}
		props, _ := role["Properties"].(map[string]any)
		if _, ok := props["ManagedPolicyArns"]; ok {
			t.Errorf("%s: role %s has managed policies", id, roleID)
		}
		var got []string
		policies, _ := props["Policies"].([]any)
		for _, p := range policies {
			doc, _ := p.(map[string]any)["PolicyDocument"].(map[string]any)
			stmts, _ := doc["Statement"].([]any)
			for _, s := range stmts {
				st, _ := s.(map[string]any)
				if st["Effect"] != "Allow" {
					continue
				}
				for _, a := range list(st["Action"]) {
					if strings.Contains(a, "*") {
						t.Errorf("%s: wildcard action %s", id, a)
					}
					got = append(got, a)
				}
				for _, r := range list(st["Resource"]) {
					if !arns[r] {
						t.Errorf("%s: resource %q is not one of the template's own", id, r)
					}
				}
			}
		}
		slices.Sort(got)
		w := slices.Clone(want[id])
		slices.Sort(w)
		if diff := cmp.Diff(w, got); diff != "" {
			t.Errorf("%s actions (-what the code uses +what the role allows):\n%s", id, diff)
		}
	}
}

func list(v any) []string {
	switch x := v.(type) {
	case string:
		return []string{x}
	case []any:
		var out []string
		for _, e := range x {
			s, _ := e.(string)
			out = append(out, s)
		}
		return out
	}
	return []string{"<not a string>"}
}

func TestLoadResolvesLocalResources(t *testing.T) {
	tpl, err := Load(templatePath, map[string]string{"StreamName": "s1", "TableName": "t1", "BatchSize": "7"})
	if err != nil {
		t.Fatal(err)
	}
	c := tpl.Functions["ConsumeFunction"]
	if c.Env["FLOWBUS_TABLE"] != "t1" || tpl.Functions["PublishFunction"].Env["FLOWBUS_STREAM"] != "s1" {
		t.Errorf("env %v / %v, want the overridden names", c.Env, tpl.Functions["PublishFunction"].Env)
	}
	if len(c.Kinesis) != 1 || c.Kinesis[0].BatchSize != 7 || c.Kinesis[0].Stream != "EventStream" || c.Kinesis[0].OnFailure != "DeadLetterQueue" || !c.Kinesis[0].ReportBatchItemFailures {
		t.Errorf("kinesis event %+v", c.Kinesis)
	}
	if tpl.Streams["EventStream"].Name != "s1" || tpl.Tables["EventTable"].Name != "t1" {
		t.Errorf("resources %+v %+v", tpl.Streams["EventStream"], tpl.Tables["EventTable"])
	}
}

func TestSQSEvents(t *testing.T) {
	const head = `
Resources:
  Stream:
    Type: AWS::Kinesis::Stream
    Properties: {Name: s}
  Parked:
    Type: AWS::SQS::Queue
    Properties: {QueueName: parked-q}
  Fn:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: functions/x
      Events:
        Letters:
          Type: SQS
          Properties:
`
	tests := []struct {
		name    string
		props   string
		want    SQSEvent
		wantErr string
	}{
		{"every property", `
            Queue: !GetAtt Parked.Arn
            BatchSize: 25
            MaximumBatchingWindowInSeconds: 2
            FunctionResponseTypes: [ReportBatchItemFailures]
            Enabled: false
            ScalingConfig: {MaximumConcurrency: 3}
            FilterCriteria:
              Filters:
                - Pattern: '{"body": {"kind": ["a"]}}'
`, SQSEvent{Name: "Letters", Queue: "Parked", BatchSize: 25, MaximumBatchingWindow: 2 * time.Second, ReportBatchItemFailures: true,
			FilterPatterns: []string{`{"body": {"kind": ["a"]}}`}, MaximumConcurrency: 3}, ""},
		{"defaults", `
            Queue: !GetAtt Parked.Arn
`, SQSEvent{Name: "Letters", Queue: "Parked", BatchSize: 10, Enabled: true}, ""},
		{"a Ref resolves to the queue's local name", `
            Queue: !Ref Parked
`, SQSEvent{Name: "Letters", Queue: "Parked", BatchSize: 10, Enabled: true}, ""},
		{"a queue of another stack", `
            Queue: arn:aws:sqs:us-east-1:000000000000:elsewhere
`, SQSEvent{}, `SQS event Letters: the queue "arn:aws:sqs:us-east-1:000000000000:elsewhere" is not a queue of this template`},
		{"a stream is not a queue", `
            Queue: !GetAtt Stream.Arn
`, SQSEvent{}, "is not a queue of this template"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "template.yaml")
			if err := os.WriteFile(path, []byte(head+strings.TrimPrefix(tt.props, "\n")), 0o644); err != nil {
				t.Fatal(err)
			}
			tpl, err := Load(path, nil)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("Load: %v, want an error containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff([]SQSEvent{tt.want}, tpl.Functions["Fn"].SQS); diff != "" {
				t.Errorf("SQS events (-want +got):\n%s", diff)
			}
		})
	}
}

func TestQueueAttributes(t *testing.T) {
	tpl, err := Load(templatePath, map[string]string{"DeadLetterQueueName": "dlq"})
	if err != nil {
		t.Fatal(err)
	}
	q := tpl.Queues["DeadLetterQueue"]
	if q.RedriveTarget == "" || tpl.Queues[q.RedriveTarget] == nil {
		t.Fatalf("DeadLetterQueue %+v: want its redrive target, a queue of the template", q)
	}
	var policy struct {
		Target string `json:"deadLetterTargetArn"`
	}
	if err := json.Unmarshal([]byte(q.Attributes["RedrivePolicy"]), &policy); err != nil {
		t.Fatal(err)
	}
	if want := "arn:aws:sqs:" + Region + ":" + Account + ":" + tpl.Queues[q.RedriveTarget].Name; policy.Target != want {
		t.Errorf("RedrivePolicy %s, want the target %s", q.Attributes["RedrivePolicy"], want)
	}
	if q.Attributes["MessageRetentionPeriod"] != "1209600" || q.Attributes["SqsManagedSseEnabled"] != "true" {
		t.Errorf("attributes %v", q.Attributes)
	}
	// The dead-letter function reads the queue the consumer's mapping sends
	// what it gives up on to.
	var reads []string
	for id, fn := range tpl.Functions {
		for _, e := range fn.SQS {
			reads = append(reads, id+" "+e.Queue)
		}
		for _, k := range fn.Kinesis {
			if k.OnFailure != "" && k.OnFailure != "DeadLetterQueue" {
				t.Errorf("%s gives up to %s, not DeadLetterQueue", id, k.OnFailure)
			}
		}
	}
	// The deliver function reads the subscriptions' delivery FIFO queue.
	sort.Strings(reads)
	if diff := cmp.Diff([]string{"DeadLetterFunction DeadLetterQueue", "DeliverFunction DeliveryQueue"}, reads); diff != "" {
		t.Errorf("SQS events (-want +got):\n%s", diff)
	}
}

func TestFifoQueueAttributes(t *testing.T) {
	const doc = `
Resources:
  Delivery:
    Type: AWS::SQS::Queue
    Properties:
      QueueName: delivery.fifo
      FifoQueue: true
      ContentBasedDeduplication: false
      DeduplicationScope: messageGroup
      FifoThroughputLimit: perMessageGroupId
      VisibilityTimeout: 60
`
	path := filepath.Join(t.TempDir(), "template.yaml")
	if err := os.WriteFile(path, []byte(doc), 0o644); err != nil {
		t.Fatal(err)
	}
	tpl, err := Load(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"FifoQueue": "true", "ContentBasedDeduplication": "false", "DeduplicationScope": "messageGroup",
		"FifoThroughputLimit": "perMessageGroupId", "VisibilityTimeout": "60"}
	if diff := cmp.Diff(want, tpl.Queues["Delivery"].Attributes); diff != "" {
		t.Errorf("attributes (-want +got):\n%s", diff)
	}
}

// The delivery queue is <stack>-delivery.fifo unless DeliveryQueueName names
// it (a test's own queue); either way functions find it by Ref and GetAtt.
func TestDeliveryQueueName(t *testing.T) {
	for _, tt := range []struct{ override, want string }{{"", "flowbus-delivery.fifo"}, {"e2e-1.fifo", "e2e-1.fifo"}} {
		tpl, err := Load(templatePath, map[string]string{"DeliveryQueueName": tt.override})
		if err != nil {
			t.Fatal(err)
		}
		if got := tpl.Queues["DeliveryQueue"].Name; got != tt.want {
			t.Errorf("DeliveryQueueName %q: queue %q, want %q", tt.override, got, tt.want)
		}
		if got := tpl.Functions["RouteFunction"].Env["FLOWBUS_DELIVERY_QUEUE"]; got != tt.want {
			t.Errorf("DeliveryQueueName %q: FLOWBUS_DELIVERY_QUEUE %q, want %q", tt.override, got, tt.want)
		}
		if got := tpl.Functions["DeliverFunction"].SQS[0].Queue; got != "DeliveryQueue" {
			t.Errorf("DeliveryQueueName %q: DeliverFunction reads %q", tt.override, got)
		}
	}
}
