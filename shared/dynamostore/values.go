package dynamostore

import (
	"strconv"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// Attribute values, built and read. Keys and attribute names come from
// shared/table, which owns the table's layout.

func s(v string) types.AttributeValue { return &types.AttributeValueMemberS{Value: v} }

func n(v uint64) types.AttributeValue {
	return &types.AttributeValueMemberN{Value: strconv.FormatUint(v, 10)}
}

func ni(v int64) types.AttributeValue {
	return &types.AttributeValueMemberN{Value: strconv.FormatInt(v, 10)}
}

func b(v []byte) types.AttributeValue { return &types.AttributeValueMemberB{Value: v} }

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
