// Package kmskey is the AWS KMS side of the webhook secret envelope
// (webhook.Envelope): a data key per sealed secret from GenerateDataKey,
// unwrapped with Decrypt, both under the key template.yaml creates and
// bound to one encryption context, so a wrapped key from anywhere else is
// refused. The deliver function, which only decrypts, uses
// sealing.Decrypter instead, to keep the SDK's KMS client out of its
// bootstrap.
package kmskey
