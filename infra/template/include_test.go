package template

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const busTemplate = `
Parameters:
  StreamName: {Type: String, Default: bus}
Resources:
  EventStream:
    Type: AWS::Kinesis::Stream
    Properties: {Name: !Ref StreamName}
`

const consumerTemplate = `
Parameters:
  StreamName: {Type: String, Default: bus}
Resources:
  Projection:
    Type: AWS::DynamoDB::Table
    Properties: {TableName: projection}
  Failed:
    Type: AWS::SQS::Queue
    Properties: {QueueName: failed}
  ExampleFunction:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: .
      Events:
        Bus:
          Type: Kinesis
          Properties:
            Stream: !Sub "arn:aws:kinesis:${AWS::Region}:${AWS::AccountId}:stream/${StreamName}"
            StartingPosition: LATEST
            DestinationConfig: {OnFailure: {Type: SQS, Destination: !GetAtt Failed.Arn}}
`

func writeTemplate(t *testing.T, dir, body string) string {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, "template.yaml")
	if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestInclude: a second template's function attaches to the first's stream
// by ARN, keeps its own folder for CodeUri, and brings its resources.
func TestInclude(t *testing.T) {
	dir := t.TempDir()
	bus, err := Load(writeTemplate(t, dir, busTemplate), map[string]string{"StreamName": "s1"})
	if err != nil {
		t.Fatal(err)
	}
	consumer, err := Load(writeTemplate(t, filepath.Join(dir, "examples", "consumer"), consumerTemplate), map[string]string{"StreamName": "s1"})
	if err != nil {
		t.Fatalf("a Kinesis event on another stack's stream: %v", err)
	}
	if err := bus.Include(consumer); err != nil {
		t.Fatal(err)
	}
	fn := bus.Functions["ExampleFunction"]
	if fn == nil || len(fn.Kinesis) != 1 || fn.Kinesis[0].Stream != "EventStream" || fn.Kinesis[0].OnFailure != "Failed" {
		t.Fatalf("included function %+v: want its Kinesis event on EventStream, on failure to Failed", fn)
	}
	if want := filepath.Join(dir, "examples", "consumer"); fn.Root != want {
		t.Errorf("Root %q, want %q", fn.Root, want)
	}
	if bus.Tables["Projection"] == nil || bus.Queues["Failed"] == nil {
		t.Error("the included table and queue are missing")
	}
	if err := bus.Include(consumer); err == nil || !strings.Contains(err.Error(), "both templates") {
		t.Errorf("including twice: %v, want a duplicate error", err)
	}

	other, err := Load(writeTemplate(t, filepath.Join(dir, "other"), consumerTemplate), map[string]string{"StreamName": "elsewhere"})
	if err != nil {
		t.Fatal(err)
	}
	bus2, _ := Load(filepath.Join(dir, "template.yaml"), map[string]string{"StreamName": "s1"})
	if err := bus2.Include(other); err == nil || !strings.Contains(err.Error(), "neither template") {
		t.Errorf("a stream neither template declares: %v, want an error", err)
	}
}
