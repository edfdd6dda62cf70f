// Command echo is a test function for lambdarun: it returns its payload as is
// and prints a line, so a test sees both the answer and the logs.
package main

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/aws/aws-lambda-go/lambda"
)

func main() {
	lambda.Start(func(_ context.Context, in json.RawMessage) (json.RawMessage, error) {
		fmt.Printf("echo %d bytes\n", len(in))
		return in, nil
	})
}
