package metrics

import (
	"context"
	"os"
	"time"

	"github.com/aws/aws-lambda-go/lambda"
)

// Namespace is the CloudWatch namespace flowbus's metrics are in.
const Namespace = "Flowbus"

// ForFunction returns the Recorder a function writes its figures to: EMF on
// stdout (Lambda sends stdout to CloudWatch Logs, which extracts the
// metrics), with the function dimension on every metric.
func ForFunction(function string) *Recorder {
	r, err := NewRecorder(Namespace, os.Stdout, Options{Dims: map[string]string{"function": function}})
	if err != nil {
		panic(err) // a constant namespace and dimension: cannot fail
	}
	return r
}

// Flushing wraps a Lambda handler so r is flushed once per invocation, after
// the handler, with the invocation's duration added.
func Flushing(h lambda.Handler, r *Recorder) lambda.Handler {
	return flushing{h: h, r: r}
}

type flushing struct {
	h lambda.Handler
	r *Recorder
}

func (f flushing) Invoke(ctx context.Context, payload []byte) ([]byte, error) {
	start := time.Now()
	out, err := f.h.Invoke(ctx, payload)
	f.r.Observe("handler_duration", Milliseconds, nil, float64(time.Since(start).Microseconds())/1000)
	if err != nil {
		f.r.Count("handler_errors", nil, 1)
	}
	_ = f.r.Flush(time.Now()) // figures are best effort; the answer is not
	return out, err
}
