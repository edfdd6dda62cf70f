package devrun

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"strings"

	"github.com/flowbus/flowbus/shared/webhook"
)

// SecretsKeyFile is the local key that seals webhook secrets under the
// local runtime, standing in for the KMS key of a deployment:
// .run/secrets/local.key next to the template, base64 of 32 bytes,
// generated on first start and kept, so secrets sealed in one run open in
// the next.
func SecretsKeyFile(templatePath string) string {
	return filepath.Join(filepath.Dir(templatePath), ".run", "secrets", "local.key")
}

// localSecretsKey reads the local key, generating it first if there is
// none, and sets the SecretKey parameter (the functions'
// FLOWBUS_SECRET_KEY) to it unless the options set it.
func localSecretsKey(opts *Options) error {
	if _, set := opts.Parameters["SecretKey"]; set {
		return nil
	}
	path := SecretsKeyFile(opts.Template)
	raw, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		key := make([]byte, webhook.KeyBytes)
		if _, err := rand.Read(key); err != nil {
			return fmt.Errorf("local secrets key: %w", err)
		}
		raw = []byte(base64.StdEncoding.EncodeToString(key) + "\n")
		if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
			return fmt.Errorf("local secrets key: %w", err)
		}
		// O_EXCL: of two runtimes starting at once, one writes, the other reads it.
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if err == nil {
			_, err = f.Write(raw)
			err = errors.Join(err, f.Close())
		} else if errors.Is(err, fs.ErrExist) {
			raw, err = os.ReadFile(path)
		}
		if err != nil {
			return fmt.Errorf("local secrets key: %w", err)
		}
	} else if err != nil {
		return fmt.Errorf("local secrets key: %w", err)
	}
	key := strings.TrimSpace(string(raw))
	if _, err := webhook.ParseAESGCMKey(key); err != nil {
		return fmt.Errorf("local secrets key %s: %w", path, err)
	}
	params := maps.Clone(opts.Parameters)
	if params == nil {
		params = map[string]string{}
	}
	params["SecretKey"] = key
	opts.Parameters = params
	return nil
}
