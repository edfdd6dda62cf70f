// Package sealing picks how a function keeps webhook secrets at rest
// (For): an envelope over KMS when deployed, over the local key under the
// local runtime, and it holds Decrypter, KMS Decrypt as one SigV4-signed
// HTTP request, for the deliver function, whose bootstrap has no room for
// the SDK's KMS client (package kmskey).
package sealing
