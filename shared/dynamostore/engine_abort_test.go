package dynamostore_test

import (
	"context"
	"net"
	"net/url"
	"os"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/flowbus/flowbus/shared/testenv"
)

// TestEngineSurvivesAbortedRequests: a client that closes its connection
// in the middle of a request (a function killed while it writes) must not
// take the DynamoDB engine down for every later request. dynalite throws on
// such a request; localstack/request-abort-guard.cjs, preloaded by
// engines.sh, keeps it up. Real DynamoDB and LocalStack pass trivially.
func TestEngineSurvivesAbortedRequests(t *testing.T) {
	cfg := testenv.AWS(t)
	db, table := testenv.Table(t, cfg)
	endpoint := os.Getenv("AWS_ENDPOINT_URL_DYNAMODB")
	if endpoint == "" {
		endpoint = os.Getenv("AWS_ENDPOINT_URL")
	}
	u, err := url.Parse(endpoint)
	if err != nil || u.Scheme != "http" {
		t.Skipf("endpoint %q is not a plain-HTTP local engine", endpoint)
	}
	for range 3 {
		c, err := net.DialTimeout("tcp", u.Host, 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		// Headers and a body promised at 1,000 bytes, ten sent, then gone.
		_, _ = c.Write([]byte("POST / HTTP/1.1\r\nHost: " + u.Host + "\r\nX-Amz-Target: DynamoDB_20120810.ListTables\r\n" +
			"Content-Type: application/x-amz-json-1.0\r\nContent-Length: 1000\r\n\r\n{\"Limit\":1"))
		time.Sleep(50 * time.Millisecond)
		_ = c.Close()
	}
	time.Sleep(200 * time.Millisecond)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := db.DescribeTable(ctx, &dynamodb.DescribeTableInput{TableName: aws.String(table)}); err != nil {
		t.Fatalf("the engine after three aborted requests: %v", err)
	}
}
