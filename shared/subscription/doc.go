// Package subscription is the model of flowbus's subscriptions: a name, an
// EventBridge event pattern, one target (http, lambda, sqs, kinesis,
// eventbridge or the bus itself), a delivery policy, an optional input
// transformer and a state. Validate reports every problem at once, field by
// field; a Transformer turns a CloudEvent into the payload a target gets.
// Store keeps subscriptions in flowbus's one DynamoDB table.
package subscription
