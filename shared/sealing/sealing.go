package sealing

import (
	"fmt"

	"github.com/flowbus/flowbus/shared/config"
	"github.com/flowbus/flowbus/shared/webhook"
)

// For is the sealer a function keeps webhook secrets with. Deployed, it is
// an Envelope over kms (the KMS key cfg.KMSKey), opening values sealed
// under the former scheme with cfg.SecretKey when that is set. Under the
// local runtime kms is not used: it is an Envelope over the local key
// cfg.SecretKey (make dev generates it on first start), opening former
// values sealed under that key or the public config.DevSecretKey.
func For(cfg config.Config, kms webhook.KeyService) (webhook.Sealer, error) {
	if cfg.Local {
		local, err := webhook.ParseAESGCMKey(cfg.SecretKey)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", config.EnvSecretKey, err)
		}
		legacy := local
		if cfg.SecretKey != config.DevSecretKey {
			// Before the envelope, the local runtime sealed under the dev key.
			legacy, _ = webhook.ParseAESGCMKey(config.DevSecretKey)
		}
		return webhook.NewEnvelope(webhook.NewLocalKeys(local), legacy), nil
	}
	var legacy *webhook.AESGCM
	if cfg.SecretKey != "" {
		var err error
		if legacy, err = webhook.ParseAESGCMKey(cfg.SecretKey); err != nil {
			return nil, fmt.Errorf("%s: %w", config.EnvSecretKey, err)
		}
	}
	return webhook.NewEnvelope(kms, legacy), nil
}
