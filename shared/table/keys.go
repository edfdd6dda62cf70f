package table

import (
	"strconv"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// The table's key attributes, both strings.
const (
	PK = "pk" // partition key
	SK = "sk" // sort key
)

// Partition keys and their prefixes.
const (
	WorkflowPrefix = "w#"      // w#<workflow>: a workflow's events, head, markers, parked entries
	ParkedListPK   = "parked"  // the parked workflows, one item each (sort key: the workflow id)
	StatsPK        = "stats"   // the figures: minute buckets, totals, shard positions, snapshot
	ReplayPrefix   = "replay#" // replay#<id>: one replay record
	SubscriptionPK = "sub"     // the subscriptions, one item each (sort key: the name), listed by name
	DeliveryPrefix = "sub#"    // sub#<name>: a subscription's delivery figures and dead-letter entries
	PolicyPK       = "policy"  // the authorization policy, one item per principal (sort key: the principal)
	RootPrefix     = "root#"   // root#<event id>: what the derivation chains started by that event may still publish
)

// Sort keys and their prefixes.
const (
	HeadSK           = "h"      // a workflow's head
	MarkerPrefix     = "i#"     // i#<event id>: id marker
	ParkedPrefix     = "p#"     // p#<number>: parked entry
	PartSeparator    = "#"      // <position>#<k>: the k-th further part of an item
	MinutePrefix     = "m#"     // m#<unix minute>: minute bucket
	ShardPrefix      = "shard#" // shard#<shard id>: the consumer's position in a shard
	TotalsSK         = "totals" // all-time figures
	SnapshotSK       = "snapshot"
	ReplaySK         = "r"      // a replay record's only item
	DeadLetterPrefix = "dl#"    // dl#<unix ns>#<event id>: a dead-lettered delivery, in the order it was given up
	AttemptPrefix    = "a#"     // a#<n>:<workflow id>#<event id>: the failed attempts of a delivery being retried
	ProgressPrefix   = "pk#"    // pk#<pack>: how far a packed delivery message got before a retry
	BudgetSK         = "budget" // a root's budget of derived events (under RootPK)
	// SincePrefix starts since#<unix minute>: a subscription's delivery
	// totals as they stood when that minute's first batch was recorded.
	SincePrefix    = "since#"
	PositionDigits = 20 // width of event positions and parked-entry numbers in sort keys
)

// WorkflowPK is the partition key of workflow wf.
func WorkflowPK(wf string) string { return WorkflowPrefix + wf }

// PositionSK is the sort key of the event at position pos (1, 2, …):
// pos zero-padded to PositionDigits, so events sort by position.
func PositionSK(pos uint64) string { return string(AppendPositionSK(nil, pos)) }

// AppendPositionSK appends PositionSK(pos) to dst.
func AppendPositionSK(dst []byte, pos uint64) []byte {
	var buf [PositionDigits]byte
	for i := len(buf) - 1; i >= 0; i-- {
		buf[i] = byte('0' + pos%10)
		pos /= 10
	}
	return append(dst, buf[:]...)
}

// PartSK is the sort key of the k-th further part (k ≥ 1) of the item whose
// sort key is base (an event's or a parked entry's).
func PartSK(base string, k int) string { return base + PartSeparator + strconv.Itoa(k) }

// PartsEnd is a sort key after base and every further part of it, and
// before the next item: the upper bound of a range that must include base's
// parts.
func PartsEnd(base string) string { return base + PartSeparator + "~" }

// MarkerSK is the sort key of the id marker of event id.
func MarkerSK(id string) string { return MarkerPrefix + id }

// ParkedSK is the sort key of a workflow's n-th parked entry (1, 2, …).
func ParkedSK(n uint64) string { return ParkedPrefix + PositionSK(n) }

// MinuteSK is the sort key of the minute bucket of Unix minute m (in the
// StatsPK partition). Minutes are not zero-padded: compare them as numbers.
func MinuteSK(m int64) string { return MinutePrefix + strconv.FormatInt(m, 10) }

// SinceSK is the sort key of a subscription's delivery totals as they
// stood at the start of Unix minute m (in its DeliveryPK partition). Minutes
// are not zero-padded: compare them as numbers.
func SinceSK(m int64) string { return SincePrefix + strconv.FormatInt(m, 10) }

// ShardSK is the sort key of the consumer's position in shard (in the
// StatsPK partition).
func ShardSK(shard string) string { return ShardPrefix + shard }

// ReplayPK is the partition key of replay id.
func ReplayPK(id string) string { return ReplayPrefix + id }

// SubscriptionSK is the sort key of subscription name (in the
// SubscriptionPK partition).
func SubscriptionSK(name string) string { return name }

// PolicySK is the sort key of principal's policy entry (in the PolicyPK
// partition): "sub:alice", "group:ops", an IAM ARN, or a pattern of one.
func PolicySK(principal string) string { return principal }

// DeliveryPK is the partition key of subscription name's delivery figures
// (TotalsSK and SinceSK) and dead-letter entries.
func DeliveryPK(name string) string { return DeliveryPrefix + name }

// DeadLetterSK is the sort key of a dead-letter entry written at Unix
// nanosecond ns for event id: ns zero-padded to PositionDigits, so entries
// sort in the order they were given up (one group's in its order).
func DeadLetterSK(ns int64, id string) string {
	return DeadLetterPrefix + string(AppendPositionSK(nil, uint64(max(ns, 0)))) + "#" + id
}

// AttemptSK is the sort key (under DeliveryPK) of the count of failed
// attempts of delivering event id of workflowID: the message's own, which
// SQS's receive count is not (a message waiting behind a failing one in its
// group is received again each round without being attempted). Event ids
// are unique within a workflow only, so the workflow id is part of it, its
// length first so that no two pairs give one key.
func AttemptSK(workflowID, id string) string {
	return AttemptPrefix + strconv.Itoa(len(workflowID)) + ":" + workflowID + "#" + id
}

// ProgressSK is the sort key (under DeliveryPK) of how many events of a
// packed delivery message (its pack id) were handled before one failed.
func ProgressSK(pack string) string { return ProgressPrefix + pack }

// RootPK is the partition key of the budget of derived events of the
// chains an original event (root, its id: a derived event's correlationid)
// started.
func RootPK(root string) string { return RootPrefix + root }

// Key is the primary key of the item at pk and sk, as DynamoDB takes it.
func Key(pk, sk string) map[string]types.AttributeValue {
	return map[string]types.AttributeValue{
		PK: &types.AttributeValueMemberS{Value: pk},
		SK: &types.AttributeValueMemberS{Value: sk},
	}
}
