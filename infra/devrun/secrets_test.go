package devrun

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/flowbus/flowbus/shared/webhook"
)

func TestLocalSecretsKey(t *testing.T) {
	tpl := filepath.Join(t.TempDir(), "template.yaml")
	opts := Options{Template: tpl, Parameters: map[string]string{"StreamName": "s"}}
	if err := localSecretsKey(&opts); err != nil {
		t.Fatal(err)
	}
	key := opts.Parameters["SecretKey"]
	if _, err := webhook.ParseAESGCMKey(key); err != nil {
		t.Fatalf("SecretKey %q: %v", key, err)
	}
	if opts.Parameters["StreamName"] != "s" {
		t.Errorf("other parameters lost: %v", opts.Parameters)
	}
	fi, err := os.Stat(SecretsKeyFile(tpl))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("key file: %v, mode %v; want 0600", err, fi.Mode())
	}
	// The next start reads the same key.
	again := Options{Template: tpl}
	if err := localSecretsKey(&again); err != nil || again.Parameters["SecretKey"] != key {
		t.Errorf("second start: %q, %v; want the first key", again.Parameters["SecretKey"], err)
	}
	// A key the caller gives wins.
	given := Options{Template: tpl, Parameters: map[string]string{"SecretKey": "mine"}}
	if err := localSecretsKey(&given); err != nil || given.Parameters["SecretKey"] != "mine" {
		t.Errorf("given key: %q, %v", given.Parameters["SecretKey"], err)
	}
	// A damaged key file is an error, not a new key (secrets sealed under the old one would be lost).
	if err := os.WriteFile(SecretsKeyFile(tpl), []byte("garbage"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := localSecretsKey(&Options{Template: tpl}); err == nil {
		t.Error("a damaged key file was accepted")
	}
}
