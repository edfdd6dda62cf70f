// Package lambdarun runs a Lambda function's real bootstrap binary locally
// under the AWS Lambda Runtime Interface Emulator (RIE), the program SAM puts
// in its containers, as a pool of execution environments that each serve one
// invocation at a time. It adds what RIE lacks to behave as Lambda does:
// Lambda's environment variables and nothing else, function errors told apart
// from answers, timeouts answered as Lambda answers them, and one log buffer
// and REPORT line per invocation.
package lambdarun
