// Command crashonce is a test consumer for infra/esm under the Runtime
// Interface Emulator. It appends each record's data to $CRASH_OUT, in order;
// on a record whose data is "sleep" it first writes its pid to
// $CRASH_PID and sleeps two seconds, so a test can kill it mid-invocation.
package main

import (
	"context"
	"os"
	"strconv"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambda"
)

func main() {
	lambda.Start(handle)
}

func handle(_ context.Context, ev events.KinesisEvent) (events.KinesisEventResponse, error) {
	var resp events.KinesisEventResponse
	for _, r := range ev.Records {
		if string(r.Kinesis.Data) == "sleep" {
			if err := os.WriteFile(os.Getenv("CRASH_PID"), []byte(strconv.Itoa(os.Getpid())), 0o644); err != nil {
				return resp, err
			}
			time.Sleep(2 * time.Second)
		}
		f, err := os.OpenFile(os.Getenv("CRASH_OUT"), os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
		if err != nil {
			return resp, err
		}
		_, err = f.Write(append(r.Kinesis.Data, '\n'))
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return resp, err
		}
	}
	return resp, nil
}
