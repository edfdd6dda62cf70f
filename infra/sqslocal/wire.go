package sqslocal

// Request and response bodies of the AWS JSON 1.0 protocol: member names as the
// SQS model spells them, integers as JSON numbers, blobs as base64 strings.
// Optional integers are pointers so that absent differs from zero. Field
// names are Go's; the json tags carry the model's member names.

type attributeValue struct {
	DataType         string   `json:"DataType"`
	StringValue      string   `json:"StringValue,omitempty"`
	BinaryValue      []byte   `json:"BinaryValue,omitempty"`
	StringListValues []string `json:"StringListValues,omitempty"`
	BinaryListValues [][]byte `json:"BinaryListValues,omitempty"`
}

type createQueueInput struct {
	QueueName  *string           `json:"QueueName"`
	Attributes map[string]string `json:"Attributes"`
	Tags       map[string]string `json:"tags"`
}

type queueURLOutput struct {
	QueueURL string `json:"QueueUrl"`
}

type getQueueURLInput struct {
	QueueName              *string `json:"QueueName"`
	QueueOwnerAWSAccountID *string `json:"QueueOwnerAWSAccountId"`
}

type listQueuesInput struct {
	QueueNamePrefix string `json:"QueueNamePrefix"`
	NextToken       string `json:"NextToken"`
	MaxResults      *int64 `json:"MaxResults"`
}

type listQueuesOutput struct {
	QueueURLs []string `json:"QueueUrls,omitempty"`
	NextToken string   `json:"NextToken,omitempty"`
}

// queueInput is the QueueUrl member of every request on one queue; those
// requests embed it.
type queueInput struct {
	QueueURL *string `json:"QueueUrl"`
}

func (in queueInput) queueURLMember() *string { return in.QueueURL }

type getQueueAttributesInput struct {
	queueInput
	AttributeNames []string `json:"AttributeNames"`
}

type attributesOutput struct {
	Attributes map[string]string `json:"Attributes,omitempty"`
}

type setQueueAttributesInput struct {
	queueInput
	Attributes map[string]string `json:"Attributes"`
}

// sendEntry is one message to send: SendMessage's input, or one entry of
// SendMessageBatch (which adds Id).
type sendEntry struct {
	ID string `json:"Id"`
	queueInput
	MessageBody             *string                   `json:"MessageBody"`
	DelaySeconds            *int64                    `json:"DelaySeconds"`
	MessageAttributes       map[string]attributeValue `json:"MessageAttributes"`
	MessageSystemAttributes map[string]attributeValue `json:"MessageSystemAttributes"`
	MessageDeduplicationID  *string                   `json:"MessageDeduplicationId"`
	MessageGroupID          *string                   `json:"MessageGroupId"`
}

type sendOutput struct {
	ID                           string `json:"Id,omitempty"`
	MessageID                    string `json:"MessageId"`
	MD5OfMessageBody             string `json:"MD5OfMessageBody"`
	MD5OfMessageAttributes       string `json:"MD5OfMessageAttributes,omitempty"`
	MD5OfMessageSystemAttributes string `json:"MD5OfMessageSystemAttributes,omitempty"`
	SequenceNumber               string `json:"SequenceNumber,omitempty"` // FIFO queues only
}

type sendBatchInput struct {
	queueInput
	Entries []sendEntry `json:"Entries"`
}

type batchErrorEntry struct {
	ID          string `json:"Id"`
	SenderFault bool   `json:"SenderFault"`
	Code        string `json:"Code"`
	Message     string `json:"Message,omitempty"`
}

type sendBatchOutput struct {
	Successful []sendOutput      `json:"Successful"`
	Failed     []batchErrorEntry `json:"Failed"`
}

type receiveInput struct {
	queueInput
	AttributeNames              []string `json:"AttributeNames"`
	MessageSystemAttributeNames []string `json:"MessageSystemAttributeNames"`
	MessageAttributeNames       []string `json:"MessageAttributeNames"`
	MaxNumberOfMessages         *int64   `json:"MaxNumberOfMessages"`
	VisibilityTimeout           *int64   `json:"VisibilityTimeout"`
	WaitTimeSeconds             *int64   `json:"WaitTimeSeconds"`
	ReceiveRequestAttemptID     *string  `json:"ReceiveRequestAttemptId"`
}

type messageOutput struct {
	MessageID              string                    `json:"MessageId"`
	ReceiptHandle          string                    `json:"ReceiptHandle"`
	MD5OfBody              string                    `json:"MD5OfBody"`
	Body                   string                    `json:"Body"`
	Attributes             map[string]string         `json:"Attributes,omitempty"`
	MD5OfMessageAttributes string                    `json:"MD5OfMessageAttributes,omitempty"`
	MessageAttributes      map[string]attributeValue `json:"MessageAttributes,omitempty"`
}

type receiveOutput struct {
	Messages []messageOutput `json:"Messages,omitempty"`
}

type receiptEntry struct {
	ID string `json:"Id"`
	queueInput
	ReceiptHandle     *string `json:"ReceiptHandle"`
	VisibilityTimeout *int64  `json:"VisibilityTimeout"` // ChangeMessageVisibility only
}

type receiptBatchInput struct {
	queueInput
	Entries []receiptEntry `json:"Entries"`
}

type batchResultEntry struct {
	ID string `json:"Id"`
}

type receiptBatchOutput struct {
	Successful []batchResultEntry `json:"Successful"`
	Failed     []batchErrorEntry  `json:"Failed"`
}

type errorOutput struct {
	Type    string `json:"__type"`
	Message string `json:"message"`
}
