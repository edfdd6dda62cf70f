package faultproxy_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	dtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	ktypes "github.com/aws/aws-sdk-go-v2/service/kinesis/types"
	"github.com/aws/smithy-go/logging"
	"github.com/google/go-cmp/cmp"

	"github.com/flowbus/flowbus/infra/faultproxy"
	"github.com/flowbus/flowbus/shared/testenv"
)

// start puts a proxy in front of the engine that endpoint variable names.
func start(t *testing.T, variable string, f faultproxy.Faults) *faultproxy.Proxy {
	t.Helper()
	target := os.Getenv(variable)
	if target == "" {
		target = os.Getenv("AWS_ENDPOINT_URL")
	}
	p, err := faultproxy.Start(context.Background(), faultproxy.Options{Target: target, Seed: 7, Faults: f})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.Close() })
	return p
}

// fastRetries is the SDK's standard retryer with short waits.
func fastRetries() aws.Retryer {
	return retry.NewStandard(func(o *retry.StandardOptions) { o.MaxBackoff = 20 * time.Millisecond })
}

func kinesisVia(cfg aws.Config, p *faultproxy.Proxy) *kinesis.Client {
	return kinesis.NewFromConfig(cfg, func(o *kinesis.Options) {
		o.BaseEndpoint = aws.String(p.URL())
		o.Retryer = fastRetries()
	})
}

// dynamoVia is a DynamoDB client through p that fails t on a checksum
// mismatch: the SDK checks X-Amz-Crc32 when it closes the body and only logs
// a mismatch as a warning (smithy-go closeResponseBody).
func dynamoVia(t *testing.T, cfg aws.Config, p *faultproxy.Proxy) *dynamodb.Client {
	return dynamodb.NewFromConfig(cfg, func(o *dynamodb.Options) {
		o.BaseEndpoint = aws.String(p.URL())
		o.Retryer = fastRetries()
		o.Logger = checksumWatch(t)
	})
}

func checksumWatch(t *testing.T) logging.Logger {
	return logging.LoggerFunc(func(_ logging.Classification, format string, v ...any) {
		if msg := fmt.Sprintf(format, v...); strings.Contains(msg, "checksum") {
			t.Errorf("SDK: %s", msg)
		}
	})
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func TestPutRecordsThrottledEntriesAreNotWritten(t *testing.T) {
	cfg := testenv.AWS(t)
	direct, stream := testenv.Stream(t, cfg, 1)
	p := start(t, "AWS_ENDPOINT_URL_KINESIS", faultproxy.Faults{ThrottlePutRecords: 0.4})
	client := kinesisVia(cfg, p)

	const n = 100
	in := &kinesis.PutRecordsInput{StreamName: aws.String(stream)}
	for i := range n {
		in.Records = append(in.Records, ktypes.PutRecordsRequestEntry{Data: []byte(strconv.Itoa(i)), PartitionKey: aws.String("wf-" + strconv.Itoa(i%7))})
	}
	out, err := client.PutRecords(ctxT(t), in)
	if err != nil {
		t.Fatal(err)
	}
	if len(out.Records) != n {
		t.Fatalf("got %d entries, want %d", len(out.Records), n)
	}
	var wantOnStream []string
	throttled := 0
	for i, r := range out.Records {
		switch aws.ToString(r.ErrorCode) {
		case "":
			if r.SequenceNumber == nil || r.ShardId == nil {
				t.Errorf("entry %d: no error and no sequence number: %+v", i, r)
			}
			wantOnStream = append(wantOnStream, strconv.Itoa(i))
		case "ProvisionedThroughputExceededException":
			throttled++
			if !strings.HasPrefix(aws.ToString(r.ErrorMessage), "Rate exceeded for shard") {
				t.Errorf("entry %d: message %q", i, aws.ToString(r.ErrorMessage))
			}
		default:
			t.Errorf("entry %d: error %s %s", i, aws.ToString(r.ErrorCode), aws.ToString(r.ErrorMessage))
		}
	}
	if got := int(aws.ToInt32(out.FailedRecordCount)); got != throttled {
		t.Errorf("FailedRecordCount %d, throttled entries %d", got, throttled)
	}
	if throttled == 0 || throttled == n {
		t.Fatalf("throttled %d of %d at rate 0.4", throttled, n)
	}
	st := p.Stats()
	if st.PutRecordsEntries != n || st.EntriesThrottled != int64(throttled) {
		t.Errorf("stats %+v; want %d entries, %d throttled", st, n, throttled)
	}

	_, _, recs := testenv.ReadShard(t, direct, stream)
	var got []string
	for _, r := range recs {
		got = append(got, string(r.Data))
	}
	if d := cmp.Diff(wantOnStream, got); d != "" {
		t.Errorf("records on the stream (-want +got):\n%s", d)
	}
}

func TestPutRecordsAllThrottled(t *testing.T) {
	cfg := testenv.AWS(t)
	direct, stream := testenv.Stream(t, cfg, 1)
	p := start(t, "AWS_ENDPOINT_URL_KINESIS", faultproxy.Faults{ThrottlePutRecords: 1})
	out, err := kinesisVia(cfg, p).PutRecords(ctxT(t), &kinesis.PutRecordsInput{StreamName: aws.String(stream), Records: []ktypes.PutRecordsRequestEntry{
		{Data: []byte("a"), PartitionKey: aws.String("a")}, {Data: []byte("b"), PartitionKey: aws.String("b")},
	}})
	if err != nil {
		t.Fatal(err)
	}
	if aws.ToInt32(out.FailedRecordCount) != 2 || aws.ToString(out.Records[1].ErrorCode) != "ProvisionedThroughputExceededException" {
		t.Errorf("answer %+v", out)
	}
	if _, _, recs := testenv.ReadShard(t, direct, stream); len(recs) != 0 {
		t.Errorf("%d records on the stream, want none", len(recs))
	}
	if st := p.Stats(); st.Forwarded != 0 {
		t.Errorf("forwarded %d requests, want none", st.Forwarded)
	}
}

func TestPutRecordThrottledThenRetried(t *testing.T) {
	cfg := testenv.AWS(t)
	direct, stream := testenv.Stream(t, cfg, 1)
	p := start(t, "AWS_ENDPOINT_URL_KINESIS", faultproxy.Faults{ThrottlePutRecords: 1})
	client := kinesisVia(cfg, p)
	in := &kinesis.PutRecordInput{StreamName: aws.String(stream), Data: []byte("x"), PartitionKey: aws.String("k")}

	_, err := client.PutRecord(ctxT(t), in)
	var pte *ktypes.ProvisionedThroughputExceededException
	if !errors.As(err, &pte) {
		t.Fatalf("got %v, want ProvisionedThroughputExceededException", err)
	}
	if got := p.Stats().PutRecordThrottled; got != 3 {
		t.Errorf("throttled %d calls, want 3 (the SDK's attempts)", got)
	}

	// At a share below 1 the SDK's retries get the record through.
	if err := p.Set(faultproxy.Faults{ThrottlePutRecords: 0.5}); err != nil {
		t.Fatal(err)
	}
	for range 5 {
		if _, err := client.PutRecord(ctxT(t), in); err != nil && !errors.As(err, &pte) {
			t.Fatal(err)
		}
	}
	_, _, recs := testenv.ReadShard(t, direct, stream)
	if len(recs) == 0 {
		t.Error("no record reached the stream")
	}
}

// item is an event store shaped item.
func item(i int) map[string]dtypes.AttributeValue {
	return map[string]dtypes.AttributeValue{
		"pk": &dtypes.AttributeValueMemberS{Value: "w#proxy"},
		"sk": &dtypes.AttributeValueMemberS{Value: fmt.Sprintf("%020d", i)},
		"v":  &dtypes.AttributeValueMemberS{Value: strings.Repeat("x", i)},
	}
}

func skOf(it map[string]dtypes.AttributeValue) string {
	return it["sk"].(*dtypes.AttributeValueMemberS).Value
}

func TestBatchWriteUnprocessedItemsAreNotWritten(t *testing.T) {
	cfg := testenv.AWS(t)
	direct, table := testenv.Table(t, cfg)
	p := start(t, "AWS_ENDPOINT_URL_DYNAMODB", faultproxy.Faults{UnprocessedBatchWrite: 0.4})
	client := dynamoVia(t, cfg, p)

	var reqs []dtypes.WriteRequest
	for i := range 25 {
		reqs = append(reqs, dtypes.WriteRequest{PutRequest: &dtypes.PutRequest{Item: item(i)}})
	}
	out, err := client.BatchWriteItem(ctxT(t), &dynamodb.BatchWriteItemInput{
		RequestItems: map[string][]dtypes.WriteRequest{table: reqs}, ReturnConsumedCapacity: dtypes.ReturnConsumedCapacityTotal,
	})
	if err != nil {
		t.Fatal(err)
	}
	unprocessed := map[string]bool{}
	for _, r := range out.UnprocessedItems[table] {
		if r.PutRequest == nil {
			t.Fatalf("unprocessed entry %+v is not the put sent", r)
		}
		if d := cmp.Diff(item(len(r.PutRequest.Item["v"].(*dtypes.AttributeValueMemberS).Value)), r.PutRequest.Item, cmp.Comparer(func(a, b dtypes.AttributeValueMemberS) bool { return a.Value == b.Value })); d != "" {
			t.Errorf("unprocessed item differs from the one sent (-sent +got):\n%s", d)
		}
		unprocessed[skOf(r.PutRequest.Item)] = true
	}
	if len(unprocessed) == 0 || len(unprocessed) == 25 {
		t.Fatalf("%d of 25 unprocessed at rate 0.4", len(unprocessed))
	}
	if st := p.Stats(); st.ItemsUnprocessed != int64(len(unprocessed)) || st.WriteRequests != 25 {
		t.Errorf("stats %+v; want 25 write requests, %d unprocessed", st, len(unprocessed))
	}

	var want []string
	for i := range 25 {
		if sk := skOf(item(i)); !unprocessed[sk] {
			want = append(want, sk)
		}
	}
	q, err := direct.Query(ctxT(t), &dynamodb.QueryInput{
		TableName: aws.String(table), KeyConditionExpression: aws.String("pk = :pk"),
		ExpressionAttributeValues: map[string]dtypes.AttributeValue{":pk": &dtypes.AttributeValueMemberS{Value: "w#proxy"}},
		ConsistentRead:            aws.Bool(true),
	})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, it := range q.Items {
		got = append(got, skOf(it))
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("items in the table (-want +got):\n%s", d)
	}

	// Writing the unprocessed items again, without faults, completes the table.
	if err := p.Set(faultproxy.Faults{}); err != nil {
		t.Fatal(err)
	}
	again, err := client.BatchWriteItem(ctxT(t), &dynamodb.BatchWriteItemInput{RequestItems: out.UnprocessedItems})
	if err != nil || len(again.UnprocessedItems) != 0 {
		t.Fatalf("rewrite of unprocessed items: %v, %d left", err, len(again.UnprocessedItems))
	}
}

func TestDynamoThrottled(t *testing.T) {
	cfg := testenv.AWS(t)
	_, table := testenv.Table(t, cfg)
	p := start(t, "AWS_ENDPOINT_URL_DYNAMODB", faultproxy.Faults{ThrottleDynamo: 1})
	client := dynamoVia(t, cfg, p)
	ctx := ctxT(t)

	if _, err := client.DescribeTable(ctx, &dynamodb.DescribeTableInput{TableName: aws.String(table)}); err != nil {
		t.Fatalf("table management is not throttled: %v", err)
	}
	_, err := client.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(table), Item: item(1)})
	var pte *dtypes.ProvisionedThroughputExceededException
	if !errors.As(err, &pte) {
		t.Fatalf("got %v, want ProvisionedThroughputExceededException", err)
	}
	if got := p.Stats().DynamoThrottled; got != 3 {
		t.Errorf("throttled %d calls, want 3 (the SDK's attempts)", got)
	}

	// A BatchWriteItem of which every item is drawn is throttled as a whole.
	if err := p.Set(faultproxy.Faults{UnprocessedBatchWrite: 1}); err != nil {
		t.Fatal(err)
	}
	_, err = client.BatchWriteItem(ctx, &dynamodb.BatchWriteItemInput{RequestItems: map[string][]dtypes.WriteRequest{
		table: {{PutRequest: &dtypes.PutRequest{Item: item(2)}}},
	}})
	if !errors.As(err, &pte) {
		t.Fatalf("got %v, want ProvisionedThroughputExceededException", err)
	}

	// At a share below 1 the SDK's retries get the item through.
	if err := p.Set(faultproxy.Faults{ThrottleDynamo: 0.5}); err != nil {
		t.Fatal(err)
	}
	for i := range 5 {
		if _, err := client.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(table), Item: item(10 + i)}); err != nil && !errors.As(err, &pte) {
			t.Fatal(err)
		}
	}
}

func TestPauseHoldsAndResumes(t *testing.T) {
	cfg := testenv.AWS(t)
	direct, stream := testenv.Stream(t, cfg, 1)
	p := start(t, "AWS_ENDPOINT_URL_KINESIS", faultproxy.Faults{Pause: true})
	client := kinesisVia(cfg, p)
	in := &kinesis.PutRecordInput{StreamName: aws.String(stream), Data: []byte("held"), PartitionKey: aws.String("k")}

	// A client that gives up cuts its held request; the engine never sees it.
	short, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	_, err := client.PutRecord(short, in, func(o *kinesis.Options) { o.Retryer = aws.NopRetryer{} })
	cancel()
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("got %v, want the client's deadline", err)
	}

	// A held request is answered once unpaused.
	done := make(chan error, 1)
	go func() {
		_, err := client.PutRecord(ctxT(t), &kinesis.PutRecordInput{StreamName: aws.String(stream), Data: []byte("resumed"), PartitionKey: aws.String("k")})
		done <- err
	}()
	select {
	case err := <-done:
		t.Fatalf("answered while paused: %v", err)
	case <-time.After(300 * time.Millisecond):
	}
	if err := p.Set(faultproxy.Faults{}); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("not answered after unpausing")
	}
	if st := p.Stats(); st.Held != 2 {
		t.Errorf("held %d requests, want 2", st.Held)
	}
	_, _, recs := testenv.ReadShard(t, direct, stream)
	if len(recs) != 1 || string(recs[0].Data) != "resumed" {
		t.Errorf("records on the stream: %d, want only the resumed one", len(recs))
	}
}

func TestRefuseLooksLikeADownEngine(t *testing.T) {
	cfg := testenv.AWS(t)
	_, table := testenv.Table(t, cfg)
	p := start(t, "AWS_ENDPOINT_URL_DYNAMODB", faultproxy.Faults{})
	client := dynamoVia(t, cfg, p)
	ctx := ctxT(t)
	describe := func() error {
		_, err := client.DescribeTable(ctx, &dynamodb.DescribeTableInput{TableName: aws.String(table)})
		return err
	}
	if err := describe(); err != nil { // leaves a kept-alive connection the switch must reset
		t.Fatal(err)
	}
	if err := p.Set(faultproxy.Faults{Refuse: true}); err != nil {
		t.Fatal(err)
	}
	err := describe()
	if err == nil || !strings.Contains(err.Error(), "connection refused") {
		t.Fatalf("got %v, want connection refused", err)
	}
	var re *retry.MaxAttemptsError
	if !errors.As(err, &re) {
		t.Errorf("the SDK did not retry: %v", err)
	}
	if err := p.Set(faultproxy.Faults{}); err != nil {
		t.Fatal(err)
	}
	if err := describe(); err != nil {
		t.Fatalf("after Refuse is off: %v", err)
	}
}

func TestLatency(t *testing.T) {
	cfg := testenv.AWS(t)
	p := start(t, "AWS_ENDPOINT_URL_KINESIS", faultproxy.Faults{Latency: 200 * time.Millisecond})
	t0 := time.Now()
	if _, err := kinesisVia(cfg, p).ListStreams(ctxT(t), &kinesis.ListStreamsInput{}); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(t0); d < 200*time.Millisecond {
		t.Errorf("answered in %v, want at least the 200ms latency", d)
	}
}

// fakeDynamo answers every BatchWriteItem with body, gzipped if gz, with
// DynamoDB's headers.
func fakeDynamo(t *testing.T, body string, gz bool) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		b := []byte(body)
		if gz {
			var buf bytes.Buffer
			zw := gzip.NewWriter(&buf)
			_, _ = zw.Write(b)
			_ = zw.Close()
			b = buf.Bytes()
			w.Header().Set("Content-Encoding", "gzip")
		}
		w.Header().Set("Content-Type", "application/x-amz-json-1.0")
		w.Header().Set("X-Amz-Crc32", strconv.FormatUint(uint64(crc32.ChecksumIEEE(b)), 10))
		w.Header().Set("Content-Length", strconv.Itoa(len(b)))
		_, _ = w.Write(b)
	}))
	t.Cleanup(srv.Close)
	return srv
}

func TestRewrittenAnswerHeaders(t *testing.T) {
	for _, gz := range []bool{false, true} {
		t.Run(fmt.Sprintf("gzip=%v", gz), func(t *testing.T) {
			eng := fakeDynamo(t, `{"UnprocessedItems":{}}`, gz)
			p, err := faultproxy.Start(context.Background(), faultproxy.Options{Target: eng.URL, Seed: 3, Faults: faultproxy.Faults{UnprocessedBatchWrite: 0.5}})
			if err != nil {
				t.Fatal(err)
			}
			defer p.Close()
			var reqs []string
			for i := range 20 {
				reqs = append(reqs, fmt.Sprintf(`{"PutRequest":{"Item":{"pk":{"S":"%d"}}}}`, i))
			}
			req, _ := http.NewRequest(http.MethodPost, p.URL(), strings.NewReader(`{"RequestItems":{"t":[`+strings.Join(reqs, ",")+`]}}`))
			req.Header.Set("X-Amz-Target", "DynamoDB_20120810.BatchWriteItem")
			req.Header.Set("Accept-Encoding", "gzip")
			resp, err := (&http.Transport{DisableCompression: true}).RoundTrip(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			body, _ := io.ReadAll(resp.Body)
			if resp.Header.Get("Content-Encoding") != "" {
				t.Errorf("Content-Encoding %q on a rewritten answer", resp.Header.Get("Content-Encoding"))
			}
			if got, want := resp.Header.Get("Content-Length"), strconv.Itoa(len(body)); got != want {
				t.Errorf("Content-Length %s, body %s bytes", got, want)
			}
			if got, want := resp.Header.Get("X-Amz-Crc32"), strconv.FormatUint(uint64(crc32.ChecksumIEEE(body)), 10); got != want {
				t.Errorf("X-Amz-Crc32 %s, body's %s", got, want)
			}
			if !bytes.Contains(body, []byte(`"UnprocessedItems":{"t":[`)) {
				t.Errorf("answer %s holds no unprocessed item", body)
			}
		})
	}
}

// The DynamoDB client checks X-Amz-Crc32 (and only logs a mismatch), so the
// proxy must recompute it and checksumWatch sees a wrong one.
func TestSDKChecksCRC32(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/x-amz-json-1.0")
		w.Header().Set("X-Amz-Crc32", "1")
		_, _ = io.WriteString(w, `{"UnprocessedItems":{}}`)
	}))
	defer srv.Close()
	var warned []string
	client := dynamodb.New(dynamodb.Options{
		Region: "us-east-1", BaseEndpoint: aws.String(srv.URL), Retryer: aws.NopRetryer{},
		Credentials: aws.AnonymousCredentials{},
		Logger: logging.LoggerFunc(func(_ logging.Classification, format string, v ...any) {
			warned = append(warned, fmt.Sprintf(format, v...))
		}),
	})
	_, err := client.BatchWriteItem(context.Background(), &dynamodb.BatchWriteItemInput{RequestItems: map[string][]dtypes.WriteRequest{
		"t": {{PutRequest: &dtypes.PutRequest{Item: item(1)}}},
	}})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(strings.Join(warned, "\n"), "did not match expected checksum") {
		t.Errorf("no checksum warning for a wrong X-Amz-Crc32; logged %q", warned)
	}
}

func TestStartRefusesNonLoopback(t *testing.T) {
	for _, o := range []faultproxy.Options{
		{Target: "http://10.0.0.1:4567"},
		{Target: "http://127.0.0.1:4567", Addr: "0.0.0.0:0"},
		{Target: "https://127.0.0.1:4567"},
	} {
		if p, err := faultproxy.Start(context.Background(), o); err == nil {
			_ = p.Close()
			t.Errorf("Start(%+v) accepted", o)
		}
	}
}

func TestCloseReleasesHeldRequests(t *testing.T) {
	eng := fakeDynamo(t, `{}`, false)
	p, err := faultproxy.Start(context.Background(), faultproxy.Options{Target: eng.URL, Faults: faultproxy.Faults{Pause: true}})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		resp, err := http.Post(p.URL(), "application/x-amz-json-1.0", strings.NewReader(`{}`))
		if err == nil {
			resp.Body.Close()
			err = fmt.Errorf("answered %s", resp.Status)
		}
		done <- err
	}()
	time.Sleep(100 * time.Millisecond)
	_ = p.Close()
	select {
	case err := <-done:
		if err == nil || strings.HasPrefix(err.Error(), "answered") {
			t.Errorf("held request at Close: %v, want a cut connection", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("held request not released by Close")
	}
}

// fakeKinesis answers PutRecords with a success entry per record sent.
func fakeKinesis(t *testing.T) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		n := bytes.Count(body, []byte(`"PartitionKey"`))
		entries := make([]string, n)
		for i := range entries {
			entries[i] = fmt.Sprintf(`{"SequenceNumber":"%d","ShardId":"shardId-000000000000"}`, i)
		}
		w.Header().Set("Content-Type", "application/x-amz-json-1.1")
		_, _ = io.WriteString(w, `{"FailedRecordCount":0,"Records":[`+strings.Join(entries, ",")+`]}`)
	}))
	t.Cleanup(srv.Close)
	return srv
}

func TestSeedReproducesRun(t *testing.T) {
	eng := fakeKinesis(t)
	throttledAt := func(seed uint64) []int {
		p, err := faultproxy.Start(context.Background(), faultproxy.Options{Target: eng.URL, Seed: seed, Faults: faultproxy.Faults{ThrottlePutRecords: 0.3}})
		if err != nil {
			t.Fatal(err)
		}
		defer p.Close()
		client := kinesis.New(kinesis.Options{Region: "us-east-1", BaseEndpoint: aws.String(p.URL()), Credentials: aws.AnonymousCredentials{}})
		var at []int
		for call := range 3 {
			in := &kinesis.PutRecordsInput{StreamName: aws.String("s")}
			for i := range 50 {
				in.Records = append(in.Records, ktypes.PutRecordsRequestEntry{Data: []byte("x"), PartitionKey: aws.String(strconv.Itoa(i))})
			}
			out, err := client.PutRecords(context.Background(), in)
			if err != nil {
				t.Fatal(err)
			}
			for i, r := range out.Records {
				if r.ErrorCode != nil {
					at = append(at, call*50+i)
				}
			}
		}
		return at
	}
	first, again := throttledAt(42), throttledAt(42)
	if d := cmp.Diff(first, again); d != "" {
		t.Errorf("same seed, different entries throttled (-first +again):\n%s", d)
	}
	if cmp.Equal(first, throttledAt(43)) {
		t.Error("another seed throttled the same entries")
	}
}
