package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"

	"github.com/flowbus/flowbus/infra/devrun"
	"github.com/flowbus/flowbus/infra/loadgen"
)

// hops times one single-event publish, n times in a row, at each hop of the
// local path: PutRecords straight to kinesis-mock; the publish function
// invoked through the local Lambda Invoke API (emulator + function +
// engine); POST /events through the local HTTP API (all of it).
func hops(ctx context.Context, local *loadgen.Local, n int) error {
	kc, err := local.Kinesis(ctx)
	if err != nil {
		return err
	}
	event := func(i int) []byte {
		return fmt.Appendf(nil, `[{"type":"load.tick","workflow_id":"hops-%d","data":{"k":%d}}]`, i%20, i)
	}
	client := &http.Client{Transport: &http.Transport{Proxy: nil}}
	post := func(url string, body []byte) error {
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
		if err != nil {
			return err
		}
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer "+local.Token())
		resp, err := client.Do(req)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		out, _ := io.ReadAll(resp.Body)
		if resp.StatusCode/100 != 2 || resp.Header.Get("X-Amz-Function-Error") != "" {
			return fmt.Errorf("%s: %d %.200s", url, resp.StatusCode, out)
		}
		return nil
	}
	apigw := func(body []byte) []byte {
		ev := map[string]any{
			"version": "2.0", "routeKey": "POST /events", "rawPath": "/events", "rawQueryString": "",
			"headers": map[string]string{"content-type": "application/json"},
			// The caller API Gateway's JWT authorizer would put here: the runtime's admin.
			"requestContext": map[string]any{"http": map[string]string{"method": "POST", "path": "/events", "protocol": "HTTP/1.1", "sourceIp": "127.0.0.1"},
				"authorizer": map[string]any{"jwt": map[string]any{"claims": map[string]string{"sub": devrun.DevAdmin}, "scopes": nil}},
				"requestId":  "hops", "routeKey": "POST /events", "stage": "$default", "timeEpoch": time.Now().UnixMilli()},
			"isBase64Encoded": false, "body": string(body),
		}
		b, _ := json.Marshal(ev)
		return b
	}
	steps := []struct {
		name string
		do   func(i int) error
	}{
		{"kinesis-mock PutRecords (1 record)", func(i int) error {
			_, err := kc.PutRecords(ctx, &kinesis.PutRecordsInput{StreamName: aws.String(local.Stream),
				Records: []types.PutRecordsRequestEntry{{PartitionKey: aws.String(fmt.Sprintf("hops-%d", i%20)), Data: event(i)}}})
			return err
		}},
		{"publish function via the Lambda Invoke API (RIE + bootstrap + kinesis-mock)", func(i int) error {
			return post(local.LambdaURL()+"/2015-03-31/functions/PublishFunction/invocations", apigw(event(i)))
		}},
		{"POST /events via the HTTP API (everything)", func(i int) error {
			return post(local.URL()+"/events", event(i))
		}},
	}
	// Interleaved, so that every hop sees the same engine and machine state.
	took := make([][]time.Duration, len(steps))
	for i := range n + 5 {
		for k, s := range steps {
			t0 := time.Now()
			if err := s.do(i); err != nil {
				return fmt.Errorf("%s: %w", s.name, err)
			}
			if i >= 5 { // the first rounds warm up connections, environments and the engine
				took[k] = append(took[k], time.Since(t0))
			}
		}
	}
	for k, s := range steps {
		t := took[k]
		slices.Sort(t)
		fmt.Printf("hop         %-78s p50 %6.1f ms  p90 %6.1f ms  (n=%d, sequential)\n", s.name,
			float64(t[len(t)/2].Microseconds())/1000, float64(t[len(t)*9/10].Microseconds())/1000, n)
	}
	return nil
}
