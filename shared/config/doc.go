// Package config loads flowbus settings from the environment once per cold
// start, so one binary runs unchanged on AWS, on LocalStack and on the local
// engines; AWS endpoints come from the SDK's own AWS_ENDPOINT_URL variables.
package config
