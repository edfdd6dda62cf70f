package dynamostore

import (
	"strconv"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/flowbus/flowbus/shared/event"
)

// The table has a string partition key "pk" and a string sort key "sk".
// One partition per workflow holds, by sort key:
//
//	00000000000000000001 …  events at their positions (zero-padded, so they sort)
//	00000000000000000007#1  further parts of an event too large for one item
//	h                       the head: last position, stream watermark, lease, parking
//	i#<event id>            id markers for producer-chosen ids (permanent dedup)
//	p#00000000000000000001  parked entries
//
// and the partition "parked" lists parked workflows by sort key.
const (
	attrPK = "pk"
	attrSK = "sk"

	headSK        = "h"
	markerPrefix  = "i#"
	parkedPrefix  = "p#"
	parkedListPK  = "parked"
	workflowPKPre = "w#"
)

// Attribute names.
const (
	aID     = "id"
	aType   = "type"
	aStored = "at"
	aData   = "ev"
	aParts  = "parts"
	aSeq    = "seq"
	aReason = "reason"
	aPos    = "pos"

	aLast   = "last"
	aBytes  = "bytes"
	aLease  = "lease"
	aUntil  = "until"
	aParked = "parked"
	aPN     = "pn" // parked entries ever written
	aPD     = "pd" // parked entries resolved by Resume
)

func workflowPK(wf string) string { return workflowPKPre + wf }

func seqSK(n uint64) string { return string(event.AppendSequence(nil, n)) }

func partSK(base string, k int) string { return base + "#" + strconv.Itoa(k) }

func parkedSK(n uint64) string { return parkedPrefix + seqSK(n) }

func s(v string) types.AttributeValue { return &types.AttributeValueMemberS{Value: v} }

func n(v uint64) types.AttributeValue {
	return &types.AttributeValueMemberN{Value: strconv.FormatUint(v, 10)}
}

func ni(v int64) types.AttributeValue {
	return &types.AttributeValueMemberN{Value: strconv.FormatInt(v, 10)}
}

func b(v []byte) types.AttributeValue { return &types.AttributeValueMemberB{Value: v} }

func key(pk, sk string) map[string]types.AttributeValue {
	return map[string]types.AttributeValue{attrPK: s(pk), attrSK: s(sk)}
}

func getS(item map[string]types.AttributeValue, name string) string {
	if v, ok := item[name].(*types.AttributeValueMemberS); ok {
		return v.Value
	}
	return ""
}

func getN(item map[string]types.AttributeValue, name string) uint64 {
	if v, ok := item[name].(*types.AttributeValueMemberN); ok {
		u, _ := strconv.ParseUint(v.Value, 10, 64)
		return u
	}
	return 0
}

func getB(item map[string]types.AttributeValue, name string) []byte {
	if v, ok := item[name].(*types.AttributeValueMemberB); ok {
		return v.Value
	}
	return nil
}
