// Command exit is a test function for lambdarun: its init fails, as a
// function's does when its configuration is missing, before it serves
// anything.
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"

	"github.com/aws/aws-lambda-go/lambda"
)

func main() {
	if os.Getenv("EXIT_CODE") != "" {
		fmt.Fprintln(os.Stderr, "exit: EXIT_CODE is set, giving up")
		os.Exit(3)
	}
	lambda.Start(func(_ context.Context, in json.RawMessage) (json.RawMessage, error) { return in, nil })
}
