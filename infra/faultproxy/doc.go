// Package faultproxy is a loopback-only HTTP proxy put between flowbus and one
// local engine (kinesis-mock or dynalite) that injects the faults real AWS
// produces and the engines never do, switchable at run time:
//
//	p, err := faultproxy.Start(ctx, faultproxy.Options{Target: os.Getenv("AWS_ENDPOINT_URL_KINESIS"), Seed: 1})
//	defer p.Close()
//	// give flowbus p.URL() as AWS_ENDPOINT_URL_KINESIS
//	p.Set(faultproxy.Faults{ThrottlePutRecords: 0.3})
//	fmt.Println(p.Stats().EntriesThrottled)
//
// Faults: throttled PutRecords entries (the others really written, the
// throttled ones spliced into the answer at their indexes with
// FailedRecordCount raised) and throttled PutRecord calls; BatchWriteItem
// write requests held back and returned in UnprocessedItems; throttled
// DynamoDB calls; added latency; Pause (requests accepted but unanswered
// until unpaused, like a SIGSTOPped engine); Refuse (nothing listens, open
// connections are reset, like an engine that is down). Stats counts what was
// done. The proxy recognises the service of each request by its X-Amz-Target
// header, so one proxy type serves either engine.
//
// Answers stay what the AWS SDK for Go v2 accepts. Unchanged answers are
// streamed byte for byte (Content-Length, Content-Encoding, X-Amz-Crc32). A
// request the proxy rewrites is sent with Accept-Encoding: identity, and its
// answer gets a new Content-Length and, for DynamoDB, an X-Amz-Crc32 computed
// over the new body: the DynamoDB client checks that header against the body
// it reads (customizations.Checksum; the client asks for Accept-Encoding:
// identity unless EnableAcceptEncodingGzip is set) and fails the call on a
// mismatch. Answers the proxy makes itself have the services' shapes: 400 with
// {"__type","message"}, x-amz-json-1.0 or 1.1, x-amzn-RequestId, and
// X-Amz-Crc32 for DynamoDB. The SDK retries ProvisionedThroughputExceededException
// as a throttle (3 attempts by default, drawing on its retry quota) and
// retries refused or reset connections, so a high rate shows as errors only
// after the SDK's own retries.
//
// A rewritten request keeps the client's SigV4 Authorization header, which no
// longer matches the body. That does not matter to the local engines: dynalite
// checks only that the header is present and well formed, and kinesis-mock
// does not verify signatures either. Real AWS would refuse such a request,
// which is one reason the proxy only forwards to loopback.
//
// Draws are reproducible with Options.Seed for a sequential client; requests
// that run concurrently draw in arrival order.
package faultproxy
