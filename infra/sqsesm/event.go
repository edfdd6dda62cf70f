package sqsesm

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/flowbus/flowbus/shared/pattern"
)

// record is one message of the event Lambda sends, in Lambda's field order;
// aws-lambda-go's events.SQSMessage decodes it.
type record struct {
	MessageID              string                      `json:"messageId"`
	ReceiptHandle          string                      `json:"receiptHandle"`
	Body                   string                      `json:"body"`
	Attributes             map[string]string           `json:"attributes"`
	MessageAttributes      map[string]messageAttribute `json:"messageAttributes"`
	MD5OfMessageAttributes string                      `json:"md5OfMessageAttributes,omitempty"`
	MD5OfBody              string                      `json:"md5OfBody"`
	EventSource            string                      `json:"eventSource"`
	EventSourceARN         string                      `json:"eventSourceARN"`
	AWSRegion              string                      `json:"awsRegion"`
}

// messageAttribute is a message attribute as the event gives it: the lists
// are empty, never null; binary values are base64.
type messageAttribute struct {
	StringValue      *string  `json:"stringValue,omitempty"`
	BinaryValue      []byte   `json:"binaryValue,omitempty"`
	StringListValues []string `json:"stringListValues"`
	BinaryListValues [][]byte `json:"binaryListValues"`
	DataType         string   `json:"dataType"`
}

func (m *Mapping) record(msg types.Message) record {
	r := record{
		MessageID: aws.ToString(msg.MessageId), ReceiptHandle: aws.ToString(msg.ReceiptHandle), Body: aws.ToString(msg.Body),
		Attributes: msg.Attributes, MessageAttributes: make(map[string]messageAttribute, len(msg.MessageAttributes)),
		MD5OfMessageAttributes: aws.ToString(msg.MD5OfMessageAttributes), MD5OfBody: aws.ToString(msg.MD5OfBody),
		EventSource: "aws:sqs", EventSourceARN: m.cfg.QueueARN, AWSRegion: m.cfg.Region,
	}
	if r.Attributes == nil {
		r.Attributes = map[string]string{}
	}
	for name, a := range msg.MessageAttributes {
		r.MessageAttributes[name] = messageAttribute{
			StringValue: a.StringValue, BinaryValue: a.BinaryValue, DataType: aws.ToString(a.DataType),
			StringListValues: append([]string{}, a.StringListValues...), BinaryListValues: append([][]byte{}, a.BinaryListValues...),
		}
	}
	return r
}

// payload is the event for records already encoded.
func payload(records [][]byte) []byte {
	b := make([]byte, 0, payloadSize(records))
	b = append(b, `{"Records":[`...)
	for i, r := range records {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, r...)
	}
	return append(b, "]}"...)
}

func payloadSize(records [][]byte) int {
	n := len(`{"Records":[]}`) + max(len(records)-1, 0)
	for _, r := range records {
		n += len(r)
	}
	return n
}

// matches reports whether a message passes the filters (it passes when
// there are none). SQS mappings filter on body only: a JSON body is matched
// as its JSON value, any other body as a string.
func matches(c pattern.Criteria, body string) bool {
	if len(c) == 0 {
		return true
	}
	var v any = body
	if doc, err := pattern.DecodeJSON([]byte(body)); err == nil {
		v = doc
	}
	return c.Match(map[string]any{"body": v})
}

// failedItems reads a partial batch response: the message ids to keep, none
// for a complete success. As in Lambda, a response that is not a JSON
// object, or an item whose itemIdentifier is empty, missing or not a message
// id of the batch, fails the whole batch: the error says why.
func failedItems(out []byte, batch map[string]bool) (map[string]bool, error) {
	trimmed := strings.TrimSpace(string(out))
	if trimmed == "" || trimmed == "null" {
		return nil, nil
	}
	var resp map[string]json.RawMessage
	if err := json.Unmarshal([]byte(trimmed), &resp); err != nil {
		return nil, fmt.Errorf("the response is not a JSON object: %w", err)
	}
	var items []map[string]json.RawMessage
	if raw, ok := resp["batchItemFailures"]; ok {
		if err := json.Unmarshal(raw, &items); err != nil {
			return nil, fmt.Errorf("batchItemFailures is not a list of objects: %w", err)
		}
	}
	if len(items) == 0 {
		return nil, nil
	}
	failed := make(map[string]bool, len(items))
	for _, item := range items {
		var id *string
		if raw, ok := item["itemIdentifier"]; ok {
			if err := json.Unmarshal(raw, &id); err != nil {
				return nil, fmt.Errorf("itemIdentifier %s is not a string", raw)
			}
		}
		if id == nil || *id == "" {
			return nil, fmt.Errorf("a batch item failure has an empty, null or missing itemIdentifier")
		}
		if !batch[*id] {
			return nil, fmt.Errorf("itemIdentifier %q is not a message id of the batch", *id)
		}
		failed[*id] = true
	}
	return failed, nil
}
