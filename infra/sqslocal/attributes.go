package sqslocal

import (
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"
)

// intRange is the valid range of an integer queue attribute.
type intRange struct{ min, max int }

var intAttributes = map[string]intRange{
	"DelaySeconds":                  {0, maxDelaySeconds},
	"MaximumMessageSize":            {1024, maxMessageSize},
	"MessageRetentionPeriod":        {60, 1209600},
	"ReceiveMessageWaitTimeSeconds": {0, maxWaitTimeSeconds},
	"VisibilityTimeout":             {0, maxVisibilityTimeout},
	"KmsDataKeyReusePeriodSeconds":  {60, 86400},
}

// Attributes kept as given: policies and encryption settings, which this engine
// stores and reports but does not enforce.
var opaqueAttributes = map[string]bool{
	"Policy":             true,
	"RedriveAllowPolicy": true,
	"KmsMasterKeyId":     true,
}

// Attributes of FIFO queues.
var fifoAttributes = map[string]bool{
	"FifoQueue":                 true,
	"ContentBasedDeduplication": true,
	"DeduplicationScope":        true,
	"FifoThroughputLimit":       true,
}

// Attributes GetQueueAttributes computes.
var readOnlyAttributes = []string{
	"ApproximateNumberOfMessages",
	"ApproximateNumberOfMessagesNotVisible",
	"ApproximateNumberOfMessagesDelayed",
	"CreatedTimestamp",
	"LastModifiedTimestamp",
	"QueueArn",
}

// redrivePolicy is a parsed RedrivePolicy: receives beyond maxReceiveCount
// move the message to the dead-letter queue.
type redrivePolicy struct {
	DeadLetterTargetArn string `json:"deadLetterTargetArn"`
	MaxReceiveCount     int    `json:"maxReceiveCount"`
}

// settings are validated, normalized settable attributes.
type settings struct {
	values  map[string]string
	redrive *redrivePolicy // set when values has RedrivePolicy; nil for ""
}

// parseSettings validates attributes given to CreateQueue or
// SetQueueAttributes of a standard or FIFO queue. Call with s.mu held (a
// RedrivePolicy names a queue).
func (s *Server) parseSettings(attrs map[string]string, fifo bool) (settings, error) {
	out := settings{values: make(map[string]string, len(attrs))}
	for _, name := range slices.Sorted(maps.Keys(attrs)) {
		value := attrs[name]
		switch {
		case isIntAttribute(name):
			r := intAttributes[name]
			n, err := strconv.Atoi(strings.TrimSpace(value))
			if err != nil || n < r.min || n > r.max {
				return settings{}, errInvalidAttributeValue("Invalid value for the parameter %s: %q is not an integer from %d to %d.", name, value, r.min, r.max)
			}
			out.values[name] = strconv.Itoa(n)
		case name == "SqsManagedSseEnabled":
			b, err := strconv.ParseBool(value)
			if err != nil || (value != "true" && value != "false") {
				return settings{}, errInvalidAttributeValue("Invalid value for the parameter SqsManagedSseEnabled: %q is not true or false.", value)
			}
			out.values[name] = strconv.FormatBool(b)
		case name == "RedrivePolicy" && value == "":
			out.values[name] = "" // removes the policy
		case name == "RedrivePolicy":
			p, err := s.parseRedrivePolicy(value, fifo)
			if err != nil {
				return settings{}, err
			}
			out.redrive = p
			out.values[name] = p.String()
		case name == "Policy" || name == "RedriveAllowPolicy":
			if value != "" && !json.Valid([]byte(value)) {
				return settings{}, errInvalidAttributeValue("Invalid value for the parameter %s: not a JSON document.", name)
			}
			out.values[name] = value
		case opaqueAttributes[name]:
			out.values[name] = value
		case name == "FifoQueue" && value == "false" && !fifo:
			// A standard queue, said explicitly.
		case name == "FifoQueue" && value == "true" && fifo:
			out.values[name] = value
		case name == "FifoQueue":
			return settings{}, errInvalidAttributeValue("Invalid value for the parameter FifoQueue: %q. A queue's type is set when it is created and cannot change.", value)
		case fifoAttributes[name] && !fifo:
			return settings{}, errInvalidAttributeName("Unknown Attribute %s.", name)
		case fifoAttributes[name]:
			if !slices.Contains(fifoChoices[name], value) {
				return settings{}, errInvalidAttributeValue("Invalid value for the parameter %s: %q is not one of %s.", name, value, strings.Join(fifoChoices[name], ", "))
			}
			out.values[name] = value
		default:
			return settings{}, errInvalidAttributeName("Unknown Attribute %s.", name)
		}
	}
	return out, nil
}

func (s *Server) parseRedrivePolicy(value string, fifo bool) (*redrivePolicy, error) {
	var raw struct {
		DeadLetterTargetArn string          `json:"deadLetterTargetArn"`
		MaxReceiveCount     json.RawMessage `json:"maxReceiveCount"`
	}
	invalid := func(reason string) error {
		return errInvalidParameterValue("Value %s for parameter RedrivePolicy is invalid. Reason: %s", value, reason)
	}
	if err := json.Unmarshal([]byte(value), &raw); err != nil {
		return nil, invalid("Redrive policy is not a valid JSON map.")
	}
	if raw.DeadLetterTargetArn == "" {
		return nil, invalid("Redrive policy does not contain mandatory attribute: deadLetterTargetArn.")
	}
	count, err := strconv.Atoi(strings.Trim(string(raw.MaxReceiveCount), `"`))
	if err != nil || count < 1 || count > maxReceiveCountLimit {
		return nil, invalid(fmt.Sprintf("Invalid value for maxReceiveCount: %s, valid values are from 1 to %d both inclusive.", raw.MaxReceiveCount, maxReceiveCountLimit))
	}
	dlq, ok := s.queueByARN(raw.DeadLetterTargetArn)
	if !ok {
		return nil, invalid("Dead letter target does not exist.")
	}
	if dlq.fifo != fifo {
		return nil, invalid("Dead-letter queue must be the same type of queue as the source queue (standard or FIFO).")
	}
	return &redrivePolicy{DeadLetterTargetArn: raw.DeadLetterTargetArn, MaxReceiveCount: count}, nil
}

// String is the policy as GetQueueAttributes reports it.
func (p *redrivePolicy) String() string {
	b, _ := json.Marshal(p) // plain struct: cannot fail
	return string(b)
}

// apply sets validated attributes on q.
func (q *queue) apply(set settings, now time.Time) {
	for name, value := range set.values {
		if value == "" && (name == "RedrivePolicy" || opaqueAttributes[name] || name == "RedriveAllowPolicy") {
			delete(q.attrs, name)
			continue
		}
		q.attrs[name] = value
	}
	if _, ok := set.values["RedrivePolicy"]; ok {
		q.redrive = set.redrive
	}
	q.modified = now
}

// differs returns the first attribute whose requested value differs from q's
// (for CreateQueue on an existing queue), or "".
func (q *queue) differs(set settings) string {
	for _, name := range slices.Sorted(maps.Keys(set.values)) {
		if q.attrs[name] != set.values[name] {
			return name
		}
	}
	return ""
}

// attributes returns the requested attributes of q ("All" for every one).
// Call with s.mu held.
func (q *queue) attributes(names []string, now time.Time) (map[string]string, error) {
	all := slices.Contains(names, "All")
	want := make(map[string]bool, len(names))
	for _, n := range names {
		switch {
		case n == "All":
		case isIntAttribute(n), opaqueAttributes[n], fifoAttributes[n],
			n == "SqsManagedSseEnabled", n == "RedrivePolicy", n == "RedriveAllowPolicy",
			slices.Contains(readOnlyAttributes, n):
			want[n] = true
		default:
			return nil, errInvalidAttributeName("Unknown Attribute %s.", n)
		}
	}
	out := make(map[string]string)
	for name, value := range q.attrs {
		if all || want[name] {
			out[name] = value
		}
	}
	c := q.counts(now)
	computed := map[string]string{
		"ApproximateNumberOfMessages":           strconv.Itoa(c.Visible),
		"ApproximateNumberOfMessagesNotVisible": strconv.Itoa(c.InFlight),
		"ApproximateNumberOfMessagesDelayed":    strconv.Itoa(c.Delayed),
		"CreatedTimestamp":                      strconv.FormatInt(q.created.Unix(), 10),
		"LastModifiedTimestamp":                 strconv.FormatInt(q.modified.Unix(), 10),
		"QueueArn":                              q.arn,
	}
	for name, value := range computed {
		if all || want[name] {
			out[name] = value
		}
	}
	return out, nil
}

func isIntAttribute(name string) bool {
	_, ok := intAttributes[name]
	return ok
}

func atoiOrZero(s string) int {
	n, _ := strconv.Atoi(s)
	return n
}
