package sqslocal

import (
	"errors"
	"fmt"
	"regexp"
	"strings"
	"unicode/utf8"
)

// Limits of standard queues, as documented for SQS.
const (
	maxMessageSize        = 262144 // bytes: body plus attribute names, types and values
	maxBatchEntries       = 10
	maxMessageAttributes  = 10
	maxAttributeNameLen   = 256
	maxDataTypeLen        = 256
	maxWaitTimeSeconds    = 20
	maxVisibilityTimeout  = 43200
	maxDelaySeconds       = 900
	maxReceiveBatch       = 10
	maxListQueuesResults  = 1000
	maxReceiveCountLimit  = 1000
	maxNumberDigits       = 38
	purgeIntervalSeconds  = 60
	defaultReceiveBatch   = 1
	accountID             = "000000000000"
	queueNameRule         = "Can only include alphanumeric characters, hyphens, or underscores. 1 to 80 in length"
	allowedCharactersRule = "#x9 | #xA | #xD | #x20 to #xD7FF | #xE000 to #xFFFD | #x10000 to #x10FFFF"
)

var (
	queueNamePattern    = regexp.MustCompile(`^[A-Za-z0-9_-]{1,80}$`)
	batchEntryIDPattern = regexp.MustCompile(`^[A-Za-z0-9_-]{1,80}$`)
	attributeNameChars  = regexp.MustCompile(`^[A-Za-z0-9_.-]+$`)
	numberPattern       = regexp.MustCompile(`^[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?$`)
)

// allowedRune reports whether SQS accepts r in a message body or string
// attribute value.
func allowedRune(r rune) bool {
	switch {
	case r == 0x9 || r == 0xA || r == 0xD:
		return true
	case r >= 0x20 && r <= 0xD7FF:
		return true
	case r >= 0xE000 && r <= 0xFFFD:
		return true
	case r >= 0x10000 && r <= 0x10FFFF:
		return true
	}
	return false
}

// firstDisallowedRune returns the first rune SQS refuses in s, and false if
// there is none. Invalid UTF-8 counts as disallowed.
func firstDisallowedRune(s string) (rune, bool) {
	for i, r := range s {
		if r == utf8.RuneError {
			if _, size := utf8.DecodeRuneInString(s[i:]); size <= 1 {
				return r, true
			}
		}
		if !allowedRune(r) {
			return r, true
		}
	}
	return 0, false
}

// checkQueueName refuses names SQS refuses: a FIFO queue's name ends in
// .fifo, a standard queue's does not.
func checkQueueName(name string, fifo bool) error {
	if fifo {
		base := strings.TrimSuffix(name, fifoSuffix)
		if !isFifoName(name) || len(name) > 80 || !queueNamePattern.MatchString(base) {
			return errInvalidParameterValue("Value %s for parameter QueueName is invalid. Reason: %s.", name, fifoNameRule)
		}
		return nil
	}
	if !queueNamePattern.MatchString(name) {
		return errInvalidParameterValue("Value %s for parameter QueueName is invalid. Reason: %s.", name, queueNameRule)
	}
	return nil
}

func checkBatchEntryIDs(ids []string) error {
	seen := make(map[string]bool, len(ids))
	for _, id := range ids {
		if !batchEntryIDPattern.MatchString(id) {
			return errInvalidBatchEntryID(id)
		}
		if seen[id] {
			return errBatchEntryIdsNotDistinct(id)
		}
		seen[id] = true
	}
	return nil
}

// checkAttributeName applies SQS's rules for message attribute names.
func checkAttributeName(name string) error {
	switch {
	case name == "":
		return errors.New("message attribute name must not be empty")
	case len(name) > maxAttributeNameLen:
		return fmt.Errorf("message attribute name %q is longer than %d characters", name, maxAttributeNameLen)
	case !attributeNameChars.MatchString(name):
		return fmt.Errorf("message attribute name %q can only contain alphanumeric characters, hyphens, underscores and periods", name)
	case strings.HasPrefix(name, ".") || strings.HasSuffix(name, "."):
		return fmt.Errorf("message attribute name %q must not start or end with a period", name)
	case strings.Contains(name, ".."):
		return fmt.Errorf("message attribute name %q must not contain successive periods", name)
	}
	lower := strings.ToLower(name)
	if strings.HasPrefix(lower, "aws.") || strings.HasPrefix(lower, "amazon.") {
		return fmt.Errorf("message attribute name %q must not start with the reserved prefix AWS. or Amazon", name)
	}
	return nil
}

// checkAttributeValue applies SQS's rules for one message attribute's type
// and value.
func checkAttributeValue(name string, a attributeValue) error {
	if a.DataType == "" {
		return errInvalidParameterValue("The message attribute '%s' must contain a non-empty message attribute type.", name)
	}
	if len(a.DataType) > maxDataTypeLen {
		return errInvalidParameterValue("The message attribute '%s' has a type longer than %d characters.", name, maxDataTypeLen)
	}
	if len(a.StringListValues) > 0 || len(a.BinaryListValues) > 0 {
		return errInvalidParameterValue("The message attribute '%s' uses StringListValues or BinaryListValues, which SQS reserves for future use.", name)
	}
	base, label, hasLabel := strings.Cut(a.DataType, ".")
	if hasLabel && label == "" {
		return errInvalidParameterValue("The message attribute '%s' has an invalid message attribute type %q.", name, a.DataType)
	}
	switch base {
	case "String", "Number":
		if a.StringValue == "" || a.BinaryValue != nil {
			return errInvalidParameterValue("The message attribute '%s' with type '%s' must use field 'String'.", name, base)
		}
		if r, bad := firstDisallowedRune(a.StringValue); bad {
			return errInvalidParameterValue("The message attribute '%s' contains the invalid character #x%X; the allowed characters are %s.", name, r, allowedCharactersRule)
		}
		if base == "Number" && !validNumber(a.StringValue) {
			return errInvalidParameterValue("Could not cast message attribute '%s' value to number.", name)
		}
	case "Binary":
		if len(a.BinaryValue) == 0 || a.StringValue != "" {
			return errInvalidParameterValue("The message attribute '%s' with type 'Binary' must use field 'Binary'.", name)
		}
	default:
		return errInvalidParameterValue("The type of message (user) attribute '%s' is invalid. You must use only the following supported type prefixes: Binary, Number, String.", name)
	}
	return nil
}

// validNumber accepts the decimal numbers SQS does: up to 38 significant
// digits.
func validNumber(s string) bool {
	if !numberPattern.MatchString(s) {
		return false
	}
	mantissa, _, _ := strings.Cut(strings.ToLower(s), "e")
	digits := strings.TrimLeft(strings.Map(func(r rune) rune {
		if r >= '0' && r <= '9' {
			return r
		}
		return -1
	}, mantissa), "0")
	return len(strings.TrimRight(digits, "0")) <= maxNumberDigits
}

// attributesSize is what message attributes count towards the message size:
// every name, type and value.
func attributesSize(attrs map[string]attributeValue) int {
	n := 0
	for name, a := range attrs {
		n += len(name) + len(a.DataType) + len(a.StringValue) + len(a.BinaryValue)
	}
	return n
}
