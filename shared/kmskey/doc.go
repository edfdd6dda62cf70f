// Package kmskey is the AWS KMS side of the webhook secret envelope
// (webhook.Envelope): a data key per sealed secret from GenerateDataKey,
// unwrapped with Decrypt, both under the key template.yaml creates and
// bound to one encryption context, so a wrapped key from anywhere else is
// refused. Sealer picks the key service a function runs with: KMS when
// deployed, the local key under the local runtime.
package kmskey
