package sqslocal

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
)

// ErrQueueNotFound is returned by Server.Counts for a queue that does not exist.
var ErrQueueNotFound = errors.New("queue not found")

// shapeNamespace prefixes a modeled error's shape name in __type, as AWS does.
const shapeNamespace = "com.amazonaws.sqs#"

// apiError is an error answer. The SDK picks its error type from shape (the
// __type field), and, because SQS is query-compatible, takes the error code it
// reports from queryCode (the x-amzn-query-error header, "<code>;Sender"). The
// status is the one the SQS model gives the error.
type apiError struct {
	shape     string // shape name, or a full shape id when it contains '#'
	queryCode string // legacy Query-protocol code; empty for none
	status    int
	sender    bool // the client's fault (Sender) or the service's (Receiver)
	message   string
}

func (e *apiError) Error() string {
	return e.code() + ": " + e.message
}

// code is the error code clients see: the Query code when there is one.
func (e *apiError) code() string {
	if e.queryCode != "" {
		return e.queryCode
	}
	return e.shapeName()
}

func (e *apiError) shapeID() string {
	if strings.Contains(e.shape, "#") {
		return e.shape
	}
	return shapeNamespace + e.shape
}

func (e *apiError) shapeName() string {
	_, name, ok := strings.Cut(e.shape, "#")
	if !ok {
		return e.shape
	}
	return name
}

func (e *apiError) queryHeader() string {
	if e.queryCode == "" {
		return ""
	}
	if e.sender {
		return e.queryCode + ";Sender"
	}
	return e.queryCode + ";Receiver"
}

func clientError(shape, queryCode string, status int, format string, args ...any) *apiError {
	return &apiError{shape: shape, queryCode: queryCode, status: status, sender: true, message: fmt.Sprintf(format, args...)}
}

// Errors of the SQS model: the SDK turns each into its types.<Shape> error.

func errQueueDoesNotExist() *apiError {
	return clientError("QueueDoesNotExist", "AWS.SimpleQueueService.NonExistentQueue", http.StatusBadRequest,
		"The specified queue does not exist.")
}

func errQueueNameExists(format string, args ...any) *apiError {
	return clientError("QueueNameExists", "QueueAlreadyExists", http.StatusBadRequest, format, args...)
}

func errReceiptHandleIsInvalid(format string, args ...any) *apiError {
	return clientError("ReceiptHandleIsInvalid", "ReceiptHandleIsInvalid", http.StatusNotFound, format, args...)
}

func errMessageNotInflight() *apiError {
	return clientError("MessageNotInflight", "AWS.SimpleQueueService.MessageNotInflight", http.StatusBadRequest,
		"The message referred to is not in flight.")
}

func errPurgeQueueInProgress(queue string) *apiError {
	return clientError("PurgeQueueInProgress", "AWS.SimpleQueueService.PurgeQueueInProgress", http.StatusForbidden,
		"Only one PurgeQueue operation on %s is allowed every 60 seconds.", queue)
}

func errTooManyEntriesInBatchRequest(n int) *apiError {
	return clientError("TooManyEntriesInBatchRequest", "AWS.SimpleQueueService.TooManyEntriesInBatchRequest", http.StatusBadRequest,
		"Maximum number of entries per request are %d. You have sent %d.", maxBatchEntries, n)
}

func errEmptyBatchRequest(entry string) *apiError {
	return clientError("EmptyBatchRequest", "AWS.SimpleQueueService.EmptyBatchRequest", http.StatusBadRequest,
		"There should be at least one %s in the request.", entry)
}

func errBatchEntryIdsNotDistinct(id string) *apiError {
	return clientError("BatchEntryIdsNotDistinct", "AWS.SimpleQueueService.BatchEntryIdsNotDistinct", http.StatusBadRequest,
		"Id %s repeated.", id)
}

func errInvalidBatchEntryID(id string) *apiError {
	return clientError("InvalidBatchEntryId", "AWS.SimpleQueueService.InvalidBatchEntryId", http.StatusBadRequest,
		"A batch entry id can only contain alphanumeric characters, hyphens and underscores. It can be at most 80 letters long (got %q).", id)
}

func errBatchRequestTooLong(size int) *apiError {
	return clientError("BatchRequestTooLong", "AWS.SimpleQueueService.BatchRequestTooLong", http.StatusBadRequest,
		"Batch requests cannot be longer than %d bytes. You have sent %d bytes.", maxMessageSize, size)
}

func errInvalidAttributeName(format string, args ...any) *apiError {
	return clientError("InvalidAttributeName", "InvalidAttributeName", http.StatusBadRequest, format, args...)
}

func errInvalidAttributeValue(format string, args ...any) *apiError {
	return clientError("InvalidAttributeValue", "InvalidAttributeValue", http.StatusBadRequest, format, args...)
}

func errInvalidMessageContents(format string, args ...any) *apiError {
	return clientError("InvalidMessageContents", "InvalidMessageContents", http.StatusBadRequest, format, args...)
}

func errUnsupportedOperation(format string, args ...any) *apiError {
	return clientError("UnsupportedOperation", "AWS.SimpleQueueService.UnsupportedOperation", http.StatusBadRequest, format, args...)
}

func errInvalidAddress(address string) *apiError {
	return clientError("InvalidAddress", "InvalidAddress", http.StatusNotFound,
		"The address %s is not valid for this endpoint.", address)
}

// Errors common to AWS Query services, not in the SQS model: the SDK returns a
// smithy.GenericAPIError whose ErrorCode is the Query code.

func errInvalidParameterValue(format string, args ...any) *apiError {
	return clientError("InvalidParameterValueException", "InvalidParameterValue", http.StatusBadRequest, format, args...)
}

func errMissingParameter(name string) *apiError {
	return clientError("MissingRequiredParameterException", "MissingParameter", http.StatusBadRequest,
		"The request must contain the parameter %s.", name)
}

func errUnknownOperation(format string, args ...any) *apiError {
	return clientError("com.amazon.coral.service#UnknownOperationException", "InvalidAction", http.StatusBadRequest, format, args...)
}

func errSerialization(format string, args ...any) *apiError {
	return clientError("com.amazon.coral.service#SerializationException", "", http.StatusBadRequest, format, args...)
}
