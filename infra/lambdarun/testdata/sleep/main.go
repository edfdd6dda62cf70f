// Command sleep is a test function for lambdarun: it sleeps for the payload's
// "ms" milliseconds (or those of the JSON body of an API Gateway event), then
// answers with its pid so a test can tell a fresh process from a reused one.
package main

import (
	"context"
	"encoding/json"
	"os"
	"time"

	"github.com/aws/aws-lambda-go/lambda"
)

type request struct {
	MS   int    `json:"ms"`
	Body string `json:"body"`
}

type response struct {
	PID int `json:"pid"`
}

func main() {
	lambda.Start(func(_ context.Context, in request) (response, error) {
		if in.Body != "" {
			if err := json.Unmarshal([]byte(in.Body), &in); err != nil {
				return response{}, err
			}
		}
		time.Sleep(time.Duration(in.MS) * time.Millisecond)
		return response{PID: os.Getpid()}, nil
	})
}
