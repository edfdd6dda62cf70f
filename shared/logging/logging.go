package logging

import (
	"context"
	"log/slog"
	"os"

	"github.com/aws/aws-lambda-go/lambdacontext"
)

// New returns a JSON logger on stdout at level ("debug", "info", "warn",
// "error") that names function on every line.
func New(level, function string) *slog.Logger {
	var lv slog.Level
	_ = lv.UnmarshalText([]byte(level)) // config.Validate checked it
	h := slog.NewJSONHandler(os.Stdout, &slog.HandlerOptions{Level: lv})
	return slog.New(requestID{h}).With("function", function)
}

// requestID adds the Lambda request id of the invocation a record belongs to.
type requestID struct{ slog.Handler }

func (h requestID) Handle(ctx context.Context, r slog.Record) error {
	if lc, ok := lambdacontext.FromContext(ctx); ok {
		r.AddAttrs(slog.String("request_id", lc.AwsRequestID))
	}
	return h.Handler.Handle(ctx, r)
}

func (h requestID) WithAttrs(attrs []slog.Attr) slog.Handler {
	return requestID{h.Handler.WithAttrs(attrs)}
}

func (h requestID) WithGroup(name string) slog.Handler {
	return requestID{h.Handler.WithGroup(name)}
}
