package sealing

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
)

// EncryptionContext is the encryption context of every data key that
// seals a webhook secret: KMS refuses to decrypt one under any other, and
// key policies and IAM conditions (kms:EncryptionContext:flowbus) can name
// it. kmskey uses the same.
var EncryptionContext = map[string]string{"flowbus": "webhook-secret"}

// ErrDecryptOnly is GenerateDataKey of a Decrypter: the deliver function
// opens secrets, it never seals one.
var ErrDecryptOnly = errors.New("this key service only decrypts")

// maxResponse bounds a KMS answer read (a Decrypt answer is a few hundred
// bytes).
const maxResponse = 64 << 10

// Decrypter is a webhook.KeyService that only decrypts: KMS's Decrypt
// action (JSON 1.1 protocol, TrentService.Decrypt) as one HTTP request
// signed with SigV4, using the function's credentials and region.
type Decrypter struct {
	keyID    string
	region   string
	endpoint string
	creds    aws.CredentialsProvider
	client   *http.Client
	signer   *v4.Signer
}

// NewDecrypter returns a Decrypter for key keyID. The endpoint is
// AWS_ENDPOINT_URL_KMS, else cfg.BaseEndpoint (AWS_ENDPOINT_URL), else KMS
// in cfg.Region.
func NewDecrypter(cfg aws.Config, keyID string) *Decrypter {
	endpoint := os.Getenv("AWS_ENDPOINT_URL_KMS")
	if endpoint == "" {
		endpoint = aws.ToString(cfg.BaseEndpoint)
	}
	if endpoint == "" {
		suffix := "amazonaws.com"
		if strings.HasPrefix(cfg.Region, "cn-") {
			suffix = "amazonaws.com.cn"
		}
		endpoint = "https://kms." + cfg.Region + "." + suffix
	}
	client := &http.Client{Timeout: 10 * time.Second}
	if cfg.HTTPClient != nil {
		if hc, ok := cfg.HTTPClient.(*http.Client); ok {
			client = hc
		}
	}
	return &Decrypter{keyID: keyID, region: cfg.Region, endpoint: strings.TrimSuffix(endpoint, "/") + "/",
		creds: cfg.Credentials, client: client, signer: v4.NewSigner()}
}

// GenerateDataKey is ErrDecryptOnly.
func (d *Decrypter) GenerateDataKey(context.Context) ([]byte, []byte, error) {
	return nil, nil, ErrDecryptOnly
}

type decryptInput struct {
	CiphertextBlob    []byte            // base64 in JSON, as KMS takes blobs
	KeyID             string            `json:"KeyId"`
	EncryptionContext map[string]string `json:",omitempty"`
}

type decryptOutput struct {
	Plaintext []byte
	KeyID     string `json:"KeyId"`
}

// Error is an error KMS answered: its type (InvalidCiphertextException,
// AccessDeniedException, ...) and message.
type Error struct {
	Status  int
	Type    string
	Message string
}

func (e *Error) Error() string {
	return fmt.Sprintf("kms answered %d %s: %s", e.Status, e.Type, e.Message)
}

// Decrypt unwraps a data key: KMS checks it was made under this key and
// EncryptionContext.
func (d *Decrypter) Decrypt(ctx context.Context, wrapped []byte) ([]byte, error) {
	body, err := json.Marshal(decryptInput{CiphertextBlob: wrapped, KeyID: d.keyID, EncryptionContext: EncryptionContext})
	if err != nil {
		return nil, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, d.endpoint, bytes.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("kms decrypt: %w", err)
	}
	req.Header.Set("Content-Type", "application/x-amz-json-1.1")
	req.Header.Set("X-Amz-Target", "TrentService.Decrypt")
	if d.creds == nil {
		return nil, errors.New("kms decrypt: no credentials")
	}
	creds, err := d.creds.Retrieve(ctx)
	if err != nil {
		return nil, fmt.Errorf("kms decrypt: credentials: %w", err)
	}
	sum := sha256.Sum256(body)
	if err := d.signer.SignHTTP(ctx, creds, req, hex.EncodeToString(sum[:]), "kms", d.region, time.Now()); err != nil {
		return nil, fmt.Errorf("kms decrypt: sign: %w", err)
	}
	resp, err := d.client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("kms decrypt: %w", err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, maxResponse))
	if err != nil {
		return nil, fmt.Errorf("kms decrypt: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		var e struct {
			Type     string `json:"__type"`
			Message  string `json:"message"`
			MessageU string `json:"Message"`
		}
		_ = json.Unmarshal(raw, &e)
		if i := strings.LastIndexByte(e.Type, '#'); i >= 0 {
			e.Type = e.Type[i+1:]
		}
		return nil, &Error{Status: resp.StatusCode, Type: e.Type, Message: e.Message + e.MessageU}
	}
	var out decryptOutput
	if err := json.Unmarshal(raw, &out); err != nil {
		return nil, fmt.Errorf("kms decrypt: answer: %w", err)
	}
	return out.Plaintext, nil
}
