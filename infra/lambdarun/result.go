package lambdarun

import (
	"encoding/json"
	"fmt"
	"math"
	"strings"
	"time"
)

// Result is one invocation's outcome, as Lambda's Invoke API and its logs
// give it.
type Result struct {
	RequestID string
	Payload   []byte // the answer, or the error document when FunctionError is set
	// FunctionError is "" or "Unhandled", as Lambda's X-Amz-Function-Error:
	// the handler returned an error or panicked, the runtime exited, or the
	// invocation timed out.
	FunctionError string
	// ErrorType is the error's type when FunctionError is set: the runtime's
	// (e.g. "errorString"), "Sandbox.Timedout" or "Runtime.ExitError".
	ErrorType    string
	Duration     time.Duration // the handler's time, without the cold start's init
	Billed       time.Duration // Duration plus InitDuration, rounded up to the millisecond
	InitDuration time.Duration // the cold start's init, 0 when the environment was warm
	MaxMemoryMB  int           // the runtime process's peak resident memory (VmHWM)
	Report       string        // the REPORT line as Lambda prints it
	Logs         []byte        // what the function printed, between START and the REPORT line
}

// Outcome is a short word for a log line: "ok", "timeout" or "error".
func (r Result) Outcome() string {
	switch {
	case r.FunctionError == "":
		return "ok"
	case r.ErrorType == errTypeTimeout:
		return "timeout"
	default:
		return "error"
	}
}

// MaxPayloadBytes is Lambda's synchronous invocation request limit (6 MB).
const MaxPayloadBytes = 6 * 1024 * 1024

const (
	errTypeTimeout   = "Sandbox.Timedout"
	errTypeExit      = "Runtime.ExitError"
	errTypeTooLarge  = "Function.ResponseSizeTooLarge"
	unhandled        = "Unhandled"
	maxPayloadBytes  = MaxPayloadBytes
	maxResponseBytes = maxPayloadBytes + 100 // Lambda's response limit, as its error message gives it
)

// errorDocument is the body Lambda answers an invocation error with.
func errorDocument(errType, message string) []byte {
	b, _ := json.Marshal(struct {
		ErrorMessage string `json:"errorMessage"`
		ErrorType    string `json:"errorType"`
	}{message, errType}) // two strings always marshal
	return b
}

// errorTypeOf reads errorType from an error document, or "".
func errorTypeOf(payload []byte) string {
	var doc struct {
		ErrorType string `json:"errorType"`
	}
	if json.Unmarshal(payload, &doc) != nil {
		return ""
	}
	return doc.ErrorType
}

// seconds prints a duration as Lambda's timeout message does: "3.00".
func seconds(d time.Duration) string {
	return fmt.Sprintf("%.2f", d.Seconds())
}

// billed is what Lambda bills for an invocation: its duration plus the cold
// start's init (billed for every runtime since August 2025, and always for
// custom runtimes such as provided.al2023), rounded up to the millisecond.
func billed(duration, init time.Duration) time.Duration {
	return time.Duration(math.Ceil(float64(duration+init)/float64(time.Millisecond))) * time.Millisecond
}

// report formats the REPORT line as Lambda prints it in text log format.
func report(r Result, memoryMB int) string {
	var b strings.Builder
	fmt.Fprintf(&b, "REPORT RequestId: %s\tDuration: %.2f ms\tBilled Duration: %d ms\tMemory Size: %d MB\tMax Memory Used: %d MB\t",
		r.RequestID, ms(r.Duration), r.Billed.Milliseconds(), memoryMB, r.MaxMemoryMB)
	if r.InitDuration > 0 {
		fmt.Fprintf(&b, "Init Duration: %.2f ms\t", ms(r.InitDuration))
	}
	switch r.ErrorType {
	case errTypeTimeout:
		b.WriteString("Status: timeout")
	case errTypeExit:
		b.WriteString("Status: error\tError Type: " + errTypeExit)
	}
	return b.String()
}

func ms(d time.Duration) float64 {
	return float64(d) / float64(time.Millisecond)
}
