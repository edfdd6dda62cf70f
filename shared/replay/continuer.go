package replay

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
)

// WorkerEvent is the payload a replay function sends itself to go on with a
// replay in a new invocation.
type WorkerEvent struct {
	ReplayID string `json:"flowbus_replay"`
}

// Continuer starts a new, asynchronous invocation of a function (Lambda's
// Invoke API with InvocationType Event) to go on with a replay. It signs the
// one call itself rather than pulling in the Lambda SDK client, which would
// push the bootstrap past 10 MiB.
type Continuer struct {
	cfg      aws.Config
	function string
	endpoint string
	http     *http.Client
	signer   *v4.Signer
}

// NewContinuer returns a Continuer for function (a name or ARN). The endpoint
// is the SDK's: AWS_ENDPOINT_URL_LAMBDA, AWS_ENDPOINT_URL, or the Region's.
func NewContinuer(cfg aws.Config, function string) *Continuer {
	endpoint := os.Getenv("AWS_ENDPOINT_URL_LAMBDA")
	if endpoint == "" {
		endpoint = os.Getenv("AWS_ENDPOINT_URL")
	}
	if endpoint == "" {
		endpoint = "https://lambda." + cfg.Region + ".amazonaws.com"
	}
	return &Continuer{cfg: cfg, function: function, endpoint: strings.TrimSuffix(endpoint, "/"),
		http: &http.Client{Timeout: 10 * time.Second}, signer: v4.NewSigner()}
}

// Continue asks for a new invocation working on replay id.
func (c *Continuer) Continue(ctx context.Context, id string) error {
	body, _ := json.Marshal(WorkerEvent{ReplayID: id})
	u := c.endpoint + "/2015-03-31/functions/" + url.PathEscape(c.function) + "/invocations"
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("continue replay %s: %w", id, err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Amz-Invocation-Type", "Event")
	creds, err := c.cfg.Credentials.Retrieve(ctx)
	if err != nil {
		return fmt.Errorf("continue replay %s: credentials: %w", id, err)
	}
	sum := sha256.Sum256(body)
	if err := c.signer.SignHTTP(ctx, creds, req, hex.EncodeToString(sum[:]), "lambda", c.cfg.Region, time.Now()); err != nil {
		return fmt.Errorf("continue replay %s: sign: %w", id, err)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return fmt.Errorf("continue replay %s: %w", id, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted {
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return fmt.Errorf("continue replay %s: invoke answered %d: %s", id, resp.StatusCode, msg)
	}
	return nil
}
