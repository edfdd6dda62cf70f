package template

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/awslabs/goformation/v7/intrinsics"
)

// Local account and region: what ARNs resolve to when the template runs here.
const (
	Account = "000000000000"
	Region  = "us-east-1"
)

// Template is the part of template.yaml the local runtime uses.
type Template struct {
	Functions map[string]*Function // by logical id
	Routes    []Route
	Streams   map[string]*Stream // by logical id
	Tables    map[string]*Table
	Queues    map[string]*Queue
}

// Function is one AWS::Serverless::Function, Globals merged in.
type Function struct {
	LogicalID string
	CodeURI   string // relative to Root
	Root      string // the folder of the template that declares it
	Env       map[string]string
	MemoryMB  int
	Timeout   time.Duration
	Kinesis   []KinesisEvent
	SQS       []SQSEvent
	Schedules []Schedule
}

// Schedule is a Schedule (EventBridge) event of a function: rate(N unit).
type Schedule struct {
	Name       string
	Expression string
	Every      time.Duration
}

// Route is one HttpApi event of a function.
type Route struct {
	Method, Path string
	Function     string // logical id
}

// KinesisEvent is a function's Kinesis event source mapping.
type KinesisEvent struct {
	Name   string
	Stream string // logical id
	// StreamARN is the ARN of a stream another template declares, set
	// while Stream is empty; Include resolves it.
	StreamARN               string
	StartingPosition        string
	BatchSize               int
	MaximumBatchingWindow   time.Duration
	ParallelizationFactor   int
	BisectOnFunctionError   bool
	MaximumRetryAttempts    int // -1 means until the record expires
	MaximumRecordAge        time.Duration
	ReportBatchItemFailures bool
	FilterPatterns          []string
	OnFailure               string // logical id of the destination queue, "" if none
	Enabled                 bool
}

// SQSEvent is a function's SQS event source mapping (a SAM SQS event).
type SQSEvent struct {
	Name                    string
	Queue                   string // logical id
	BatchSize               int    // default 10
	MaximumBatchingWindow   time.Duration
	ReportBatchItemFailures bool
	FilterPatterns          []string
	MaximumConcurrency      int // ScalingConfig.MaximumConcurrency; 0 when unset
	Enabled                 bool
}

// Stream is an AWS::Kinesis::Stream.
type Stream struct {
	LogicalID, Name string
	Shards          int // 0 means on-demand
}

// Table is an AWS::DynamoDB::Table.
type Table struct{ LogicalID, Name string }

// Queue is an AWS::SQS::Queue.
type Queue struct {
	LogicalID, Name string
	// Attributes are the queue attributes the template sets, as CreateQueue
	// takes them; RedrivePolicy is JSON naming its target's local ARN.
	Attributes map[string]string
	// RedriveTarget is the logical id of the RedrivePolicy's dead-letter
	// queue, "" if none: create it first.
	RedriveTarget string
}

// queueAttributes are the properties of AWS::SQS::Queue that are queue
// attributes (of a standard or FIFO queue) and change what a local run does
// or shows.
var queueAttributes = []string{
	"DelaySeconds", "MaximumMessageSize", "MessageRetentionPeriod", "ReceiveMessageWaitTimeSeconds",
	"VisibilityTimeout", "SqsManagedSseEnabled", "RedrivePolicy",
	"FifoQueue", "ContentBasedDeduplication", "DeduplicationScope", "FifoThroughputLimit",
}

// ARN returns the stream's ARN in the local account.
func (s *Stream) ARN() string {
	return fmt.Sprintf("arn:aws:kinesis:%s:%s:stream/%s", Region, Account, s.Name)
}

// Load reads a SAM template, resolving parameters (defaults, or overrides),
// conditions and the intrinsic functions the local runtime needs: Ref and
// GetAtt to the template's own resources resolve to their local names and ARNs.
func Load(path string, overrides map[string]string) (*Template, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read template: %w", err)
	}
	doc, err := Resolve(raw, overrides)
	if err != nil {
		return nil, fmt.Errorf("template %s: %w", path, err)
	}
	t, err := build(doc)
	if err != nil {
		return nil, fmt.Errorf("template %s: %w", path, err)
	}
	for _, f := range t.Functions {
		f.Root = filepath.Dir(path)
	}
	return t, nil
}

// Include adds another template's resources to t, as a second stack
// deployed beside it: its Kinesis events on a stream of t, named by ARN
// (the example consumer's BusStreamArn), are attached to that stream. A
// logical id both templates use is an error, and so is a stream neither
// declares.
func (t *Template) Include(o *Template) error {
	var errs []error
	for id, f := range o.Functions {
		if _, dup := t.Functions[id]; dup {
			errs = append(errs, fmt.Errorf("function %s is in both templates", id))
			continue
		}
		for i := range f.Kinesis {
			k := &f.Kinesis[i]
			if k.Stream != "" {
				continue
			}
			for sid, s := range t.Streams {
				if s.ARN() == k.StreamARN {
					k.Stream, k.StreamARN = sid, ""
				}
			}
			if k.Stream == "" {
				errs = append(errs, fmt.Errorf("%s: Kinesis event %s: stream %s is in neither template", id, k.Name, k.StreamARN))
			}
		}
		t.Functions[id] = f
	}
	for id, s := range o.Streams {
		if _, dup := t.Streams[id]; dup {
			errs = append(errs, fmt.Errorf("stream %s is in both templates", id))
		}
		t.Streams[id] = s
	}
	for id, tb := range o.Tables {
		if _, dup := t.Tables[id]; dup {
			errs = append(errs, fmt.Errorf("table %s is in both templates", id))
		}
		t.Tables[id] = tb
	}
	for id, q := range o.Queues {
		if _, dup := t.Queues[id]; dup {
			errs = append(errs, fmt.Errorf("queue %s is in both templates", id))
		}
		t.Queues[id] = q
	}
	t.Routes = append(t.Routes, o.Routes...)
	return errors.Join(errs...)
}

// Resolve processes the intrinsic functions of a template and returns it as
// generic JSON values.
func Resolve(raw []byte, overrides map[string]string) (map[string]any, error) {
	params := make(map[string]any, len(overrides))
	for k, v := range overrides {
		params[k] = v
	}
	out, err := intrinsics.ProcessYAML(raw, &intrinsics.ProcessorOptions{
		ParameterOverrides: params,
		EvaluateConditions: true,
		IntrinsicHandlerOverrides: map[string]intrinsics.IntrinsicHandler{
			"Ref":        ref,
			"Fn::GetAtt": getAtt,
			"Fn::Sub":    sub,
		},
	})
	if err != nil {
		return nil, err
	}
	var doc map[string]any
	if err := json.Unmarshal(out, &doc); err != nil {
		return nil, err
	}
	return doc, nil
}

// nameProperty is the property that names each resource type Ref returns.
var nameProperty = map[string]string{
	"AWS::Kinesis::Stream":      "Name",
	"AWS::DynamoDB::Table":      "TableName",
	"AWS::SQS::Queue":           "QueueName",
	"AWS::Logs::LogGroup":       "LogGroupName",
	"AWS::IAM::Role":            "RoleName",
	"AWS::Serverless::HttpApi":  "",
	"AWS::Serverless::Function": "FunctionName",
}

func pseudo(name string) (any, bool) {
	switch name {
	case "AWS::AccountId":
		return Account, true
	case "AWS::Region":
		return Region, true
	case "AWS::Partition":
		return "aws", true
	case "AWS::URLSuffix":
		return "amazonaws.com", true
	case "AWS::StackName":
		return "flowbus", true
	case "AWS::NoValue":
		return nil, true
	}
	return nil, false
}

func section(template any, name string) map[string]any {
	t, _ := template.(map[string]any)
	s, _ := t[name].(map[string]any)
	return s
}

// ref resolves a parameter to its value and a resource to its local
// physical name (its name property, or its logical id).
func ref(_ string, input any, template any) any {
	name, ok := input.(string)
	if !ok {
		return nil
	}
	if v, ok := pseudo(name); ok {
		return v
	}
	if p, ok := section(template, "Parameters")[name].(map[string]any); ok {
		return p["Default"]
	}
	if r, ok := section(template, "Resources")[name].(map[string]any); ok {
		typ, _ := r["Type"].(string)
		props, _ := r["Properties"].(map[string]any)
		if prop := nameProperty[typ]; prop != "" {
			if s, ok := nameValue(props[prop], template); ok {
				return s
			}
		}
		return name
	}
	return nil
}

// nameValue is a name property's value before the template is resolved: a
// string, a Ref, a Fn::Sub or a Fn::If on a condition (conditions are
// evaluated first) between those.
func nameValue(v any, template any) (string, bool) {
	switch v := v.(type) {
	case string:
		return v, true
	case map[string]any:
		if p, ok := v["Ref"].(string); ok {
			s, ok := ref("Ref", p, template).(string)
			return s, ok
		}
		if p, ok := v["Fn::Sub"].(string); ok {
			s, ok := sub("Fn::Sub", p, template).(string)
			return s, ok
		}
		if args, ok := v["Fn::If"].([]any); ok && len(args) == 3 {
			cond, _ := args[0].(string)
			if yes, ok := section(template, "Conditions")[cond].(bool); ok {
				if yes {
					return nameValue(args[1], template)
				}
				return nameValue(args[2], template)
			}
		}
	}
	return "", false
}

// getAtt resolves X.Arn of the template's resources to local ARNs.
func getAtt(_ string, input any, template any) any {
	var logical, attr string
	switch v := input.(type) {
	case []any:
		if len(v) != 2 {
			return nil
		}
		logical, _ = v[0].(string)
		attr, _ = v[1].(string)
	case string:
		logical, attr, _ = strings.Cut(v, ".")
	}
	r, ok := section(template, "Resources")[logical].(map[string]any)
	if !ok || attr != "Arn" {
		return nil
	}
	name, _ := ref("Ref", logical, template).(string)
	switch r["Type"] {
	case "AWS::Kinesis::Stream":
		return fmt.Sprintf("arn:aws:kinesis:%s:%s:stream/%s", Region, Account, name)
	case "AWS::DynamoDB::Table":
		return fmt.Sprintf("arn:aws:dynamodb:%s:%s:table/%s", Region, Account, name)
	case "AWS::SQS::Queue":
		return fmt.Sprintf("arn:aws:sqs:%s:%s:%s", Region, Account, name)
	case "AWS::Logs::LogGroup":
		return fmt.Sprintf("arn:aws:logs:%s:%s:log-group:%s:*", Region, Account, name)
	case "AWS::IAM::Role":
		return fmt.Sprintf("arn:aws:iam::%s:role/%s", Account, name)
	case "AWS::Serverless::Function":
		return fmt.Sprintf("arn:aws:lambda:%s:%s:function:%s", Region, Account, name)
	case "AWS::KMS::Key": // the local runtime has no KMS: functions use a local key
		return fmt.Sprintf("arn:aws:kms:%s:%s:key/%s", Region, Account, name)
	}
	return nil
}

// sub resolves ${Name} and ${Name.Arn} in Fn::Sub strings.
func sub(_ string, input any, template any) any {
	s, ok := input.(string)
	if !ok {
		return nil
	}
	var b strings.Builder
	for {
		i := strings.Index(s, "${")
		if i < 0 {
			b.WriteString(s)
			return b.String()
		}
		j := strings.IndexByte(s[i:], '}')
		if j < 0 {
			b.WriteString(s)
			return b.String()
		}
		b.WriteString(s[:i])
		name := s[i+2 : i+j]
		var v any
		if strings.Contains(name, ".") && !strings.HasPrefix(name, "AWS::") {
			v = getAtt("Fn::GetAtt", name, template)
		} else {
			v = ref("Ref", name, template)
		}
		fmt.Fprint(&b, v)
		s = s[i+j+1:]
	}
}

func build(doc map[string]any) (*Template, error) {
	t := &Template{Functions: map[string]*Function{}, Streams: map[string]*Stream{}, Tables: map[string]*Table{}, Queues: map[string]*Queue{}}
	globals, _ := section(doc, "Globals")["Function"].(map[string]any)
	resources := section(doc, "Resources")
	ids := make([]string, 0, len(resources))
	for id := range resources {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	var errs []error
	for _, id := range ids {
		r, _ := resources[id].(map[string]any)
		props, _ := r["Properties"].(map[string]any)
		switch r["Type"] {
		case "AWS::Kinesis::Stream":
			name, _ := props["Name"].(string)
			t.Streams[id] = &Stream{LogicalID: id, Name: name, Shards: asInt(props["ShardCount"], 0)}
		case "AWS::DynamoDB::Table":
			name, _ := props["TableName"].(string)
			t.Tables[id] = &Table{LogicalID: id, Name: name}
		case "AWS::SQS::Queue":
			q, err := queue(id, props, doc)
			if err != nil {
				errs = append(errs, err)
				continue
			}
			t.Queues[id] = q
		case "AWS::Serverless::Function":
			f, routes, err := function(id, props, globals, doc)
			if err != nil {
				errs = append(errs, err)
				continue
			}
			t.Functions[id] = f
			t.Routes = append(t.Routes, routes...)
		}
	}
	return t, errors.Join(errs...)
}

func queue(id string, props, doc map[string]any) (*Queue, error) {
	q := &Queue{LogicalID: id, Name: str(props["QueueName"]), Attributes: map[string]string{}}
	for _, name := range queueAttributes {
		switch v := props[name].(type) {
		case nil:
		case string:
			q.Attributes[name] = v
		case float64:
			q.Attributes[name] = strconv.FormatFloat(v, 'f', -1, 64)
		case bool:
			q.Attributes[name] = strconv.FormatBool(v)
		case map[string]any: // RedrivePolicy
			target := str(v["deadLetterTargetArn"])
			q.RedriveTarget = queueOf(target, doc)
			if q.RedriveTarget == "" {
				return nil, fmt.Errorf("%s: RedrivePolicy: the dead-letter queue %q is not a queue of this template", id, target)
			}
			b, err := json.Marshal(v)
			if err != nil {
				return nil, fmt.Errorf("%s: %s: %w", id, name, err)
			}
			q.Attributes[name] = string(b)
		default:
			return nil, fmt.Errorf("%s: %s: unexpected %T", id, name, v)
		}
	}
	return q, nil
}

func function(id string, props, globals map[string]any, doc map[string]any) (*Function, []Route, error) {
	f := &Function{LogicalID: id, Env: map[string]string{}}
	f.CodeURI, _ = props["CodeUri"].(string)
	if f.CodeURI == "" {
		return nil, nil, fmt.Errorf("%s: CodeUri must be a local folder", id)
	}
	for _, src := range []map[string]any{globals, props} {
		env, _ := src["Environment"].(map[string]any)
		vars, _ := env["Variables"].(map[string]any)
		for k, v := range vars {
			if v == nil {
				continue
			}
			f.Env[k] = fmt.Sprint(v)
		}
	}
	f.MemoryMB = asInt(props["MemorySize"], asInt(globals["MemorySize"], 128))
	f.Timeout = time.Duration(asInt(props["Timeout"], asInt(globals["Timeout"], 3))) * time.Second
	var routes []Route
	events, _ := props["Events"].(map[string]any)
	names := make([]string, 0, len(events))
	for n := range events {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, name := range names {
		ev, _ := events[name].(map[string]any)
		p, _ := ev["Properties"].(map[string]any)
		switch ev["Type"] {
		case "HttpApi":
			method, _ := p["Method"].(string)
			path, _ := p["Path"].(string)
			routes = append(routes, Route{Method: strings.ToUpper(method), Path: path, Function: id})
		case "Schedule":
			expr := str(p["Schedule"])
			every, err := parseRate(expr)
			if err != nil {
				return nil, nil, fmt.Errorf("%s: Schedule event %s: %w", id, name, err)
			}
			f.Schedules = append(f.Schedules, Schedule{Name: name, Expression: expr, Every: every})
		case "Kinesis":
			k := KinesisEvent{
				Name: name, StartingPosition: str(p["StartingPosition"]), BatchSize: asInt(p["BatchSize"], 100),
				MaximumBatchingWindow: time.Duration(asInt(p["MaximumBatchingWindowInSeconds"], 0)) * time.Second,
				ParallelizationFactor: asInt(p["ParallelizationFactor"], 1), BisectOnFunctionError: asBool(p["BisectBatchOnFunctionError"], false),
				MaximumRetryAttempts: asInt(p["MaximumRetryAttempts"], -1), MaximumRecordAge: time.Duration(asInt(p["MaximumRecordAgeInSeconds"], -1)) * time.Second,
				Enabled: asBool(p["Enabled"], true),
			}
			if asInt(p["MaximumRecordAgeInSeconds"], -1) == -1 {
				k.MaximumRecordAge = -1
			}
			k.Stream = logicalIDOfARN(str(p["Stream"]), doc)
			if k.Stream == "" && strings.HasPrefix(str(p["Stream"]), "arn:aws:kinesis:") {
				k.StreamARN = str(p["Stream"]) // another stack's stream: Include attaches it
			}
			k.ReportBatchItemFailures = reportsItemFailures(p)
			k.FilterPatterns = filterPatterns(p)
			if dc, ok := p["DestinationConfig"].(map[string]any); ok {
				if of, ok := dc["OnFailure"].(map[string]any); ok {
					k.OnFailure = logicalIDOfARN(str(of["Destination"]), doc)
				}
			}
			if k.Stream == "" && k.StreamARN == "" {
				return nil, nil, fmt.Errorf("%s: Kinesis event %s: the stream is not a resource of this template", id, name)
			}
			f.Kinesis = append(f.Kinesis, k)
		case "SQS":
			q := SQSEvent{
				Name: name, BatchSize: asInt(p["BatchSize"], 10),
				MaximumBatchingWindow:   time.Duration(asInt(p["MaximumBatchingWindowInSeconds"], 0)) * time.Second,
				ReportBatchItemFailures: reportsItemFailures(p), FilterPatterns: filterPatterns(p),
				Enabled: asBool(p["Enabled"], true),
			}
			if sc, ok := p["ScalingConfig"].(map[string]any); ok {
				q.MaximumConcurrency = asInt(sc["MaximumConcurrency"], 0)
			}
			q.Queue = queueOf(str(p["Queue"]), doc)
			if q.Queue == "" {
				return nil, nil, fmt.Errorf("%s: SQS event %s: the queue %q is not a queue of this template", id, name, str(p["Queue"]))
			}
			f.SQS = append(f.SQS, q)
		}
	}
	return f, routes, nil
}

// parseRate reads an EventBridge rate expression; cron expressions are not
// run locally.
func parseRate(expr string) (time.Duration, error) {
	inner, ok := strings.CutPrefix(expr, "rate(")
	inner, ok2 := strings.CutSuffix(inner, ")")
	if !ok || !ok2 {
		return 0, fmt.Errorf("%q: only rate(...) schedules run locally", expr)
	}
	n, unit, _ := strings.Cut(strings.TrimSpace(inner), " ")
	v, err := strconv.Atoi(n)
	if err != nil || v < 1 {
		return 0, fmt.Errorf("%q: want rate(<positive number> <unit>)", expr)
	}
	switch strings.TrimSuffix(unit, "s") {
	case "minute":
		return time.Duration(v) * time.Minute, nil
	case "hour":
		return time.Duration(v) * time.Hour, nil
	case "day":
		return time.Duration(v) * 24 * time.Hour, nil
	}
	return 0, fmt.Errorf("%q: unit must be minute(s), hour(s) or day(s)", expr)
}

// reportsItemFailures reads FunctionResponseTypes: [ReportBatchItemFailures].
func reportsItemFailures(p map[string]any) bool {
	types, _ := p["FunctionResponseTypes"].([]any)
	for _, ft := range types {
		if ft == "ReportBatchItemFailures" {
			return true
		}
	}
	return false
}

// filterPatterns reads FilterCriteria.Filters[].Pattern.
func filterPatterns(p map[string]any) []string {
	fc, _ := p["FilterCriteria"].(map[string]any)
	filters, _ := fc["Filters"].([]any)
	var out []string
	for _, fl := range filters {
		if m, ok := fl.(map[string]any); ok {
			if pat := str(m["Pattern"]); pat != "" {
				out = append(out, pat)
			}
		}
	}
	return out
}

// queueOf finds the queue an SQS event names: by its ARN (!GetAtt X.Arn, as
// SAM requires) or, leniently, by the name a local !Ref resolves to.
func queueOf(v string, doc map[string]any) string {
	if v == "" {
		return ""
	}
	resources := section(doc, "Resources")
	isQueue := func(id string) bool {
		r, _ := resources[id].(map[string]any)
		return r["Type"] == "AWS::SQS::Queue"
	}
	if id := logicalIDOfARN(v, doc); id != "" && isQueue(id) {
		return id
	}
	for id := range resources {
		if isQueue(id) && ref("Ref", id, doc) == v {
			return id
		}
	}
	return ""
}

// logicalIDOfARN finds the resource whose local ARN is arn.
func logicalIDOfARN(arn string, doc map[string]any) string {
	for id := range section(doc, "Resources") {
		if getAtt("Fn::GetAtt", id+".Arn", doc) == arn {
			return id
		}
	}
	return ""
}

func str(v any) string {
	s, _ := v.(string)
	return s
}

func asInt(v any, def int) int {
	switch n := v.(type) {
	case float64:
		return int(n)
	case string:
		if i, err := strconv.Atoi(n); err == nil {
			return i
		}
	}
	return def
}

func asBool(v any, def bool) bool {
	switch b := v.(type) {
	case bool:
		return b
	case string:
		if p, err := strconv.ParseBool(b); err == nil {
			return p
		}
	}
	return def
}
