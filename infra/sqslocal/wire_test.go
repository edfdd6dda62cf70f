package sqslocal

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// The bytes on the wire, for what the SDK tests cannot see: the error body's
// fields, the x-amzn-query-error header and the answer to a request that is
// not AWS JSON 1.0.
func TestWireFormat(t *testing.T) {
	t.Parallel()
	e := newEngine(t)
	type answer struct {
		Status      int
		ContentType string
		QueryError  string
		Type        string
		HasMessage  bool
	}
	tests := []struct {
		name        string
		target      string
		contentType string
		body        string
		want        answer
	}{
		{
			name:   "missing queue",
			target: "AmazonSQS.GetQueueUrl", contentType: jsonMediaType, body: `{"QueueName":"nope"}`,
			want: answer{Status: 400, ContentType: jsonMediaType, QueryError: "AWS.SimpleQueueService.NonExistentQueue;Sender", Type: "com.amazonaws.sqs#QueueDoesNotExist", HasMessage: true},
		},
		{
			name:   "invalid receipt handle",
			target: "AmazonSQS.DeleteMessage", contentType: jsonMediaType, body: `{"QueueUrl":"http://x/000000000000/wire","ReceiptHandle":"nope"}`,
			want: answer{Status: 404, ContentType: jsonMediaType, QueryError: "ReceiptHandleIsInvalid;Sender", Type: "com.amazonaws.sqs#ReceiptHandleIsInvalid", HasMessage: true},
		},
		{
			name:   "parameter out of range",
			target: "AmazonSQS.ReceiveMessage", contentType: jsonMediaType, body: `{"QueueUrl":"http://x/000000000000/wire","MaxNumberOfMessages":0}`,
			want: answer{Status: 400, ContentType: jsonMediaType, QueryError: "InvalidParameterValue;Sender", Type: "com.amazonaws.sqs#InvalidParameterValueException", HasMessage: true},
		},
		{
			name:   "not JSON",
			target: "AmazonSQS.ListQueues", contentType: jsonMediaType, body: `{"QueueNamePrefix":`,
			want: answer{Status: 400, ContentType: jsonMediaType, Type: "com.amazon.coral.service#SerializationException", HasMessage: true},
		},
		{
			name:   "operation not implemented",
			target: "AmazonSQS.TagQueue", contentType: jsonMediaType, body: `{}`,
			want: answer{Status: 400, ContentType: jsonMediaType, QueryError: "AWS.SimpleQueueService.UnsupportedOperation;Sender", Type: "com.amazonaws.sqs#UnsupportedOperation", HasMessage: true},
		},
		{
			name:   "Query protocol",
			target: "", contentType: "application/x-www-form-urlencoded", body: "Action=ListQueues&Version=2012-11-05",
			want: answer{Status: 400, ContentType: jsonMediaType, QueryError: "InvalidAction;Sender", Type: "com.amazon.coral.service#UnknownOperationException", HasMessage: true},
		},
		{
			name:   "empty body is an empty input",
			target: "AmazonSQS.ListQueues", contentType: jsonMediaType, body: ``,
			want: answer{Status: 200, ContentType: jsonMediaType},
		},
	}
	e.createQueue(t, "wire", nil)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, err := http.NewRequestWithContext(testContext(t), http.MethodPost, e.url+"/", strings.NewReader(tt.body))
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set("Content-Type", tt.contentType)
			if tt.target != "" {
				req.Header.Set("X-Amz-Target", tt.target)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			raw, err := io.ReadAll(resp.Body)
			if err != nil {
				t.Fatal(err)
			}
			var body map[string]any
			if err := json.Unmarshal(raw, &body); err != nil {
				t.Fatalf("body %q is not a JSON object: %v", raw, err)
			}
			got := answer{
				Status:      resp.StatusCode,
				ContentType: resp.Header.Get("Content-Type"),
				QueryError:  resp.Header.Get("X-Amzn-Query-Error"),
			}
			got.Type, _ = body["__type"].(string)
			msg, _ := body["message"].(string)
			got.HasMessage = msg != ""
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("answer (-want +got):\n%s\nbody: %s", diff, raw)
			}
			if resp.Header.Get("X-Amzn-RequestId") == "" {
				t.Error("no x-amzn-RequestId header")
			}
		})
	}
}
