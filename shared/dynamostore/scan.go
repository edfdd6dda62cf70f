package dynamostore

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/flowbus/flowbus/shared/event"
	"github.com/flowbus/flowbus/shared/table"
)

// ScanAPI is the DynamoDB call ScanEvents adds to API.
type ScanAPI interface {
	Scan(ctx context.Context, in *dynamodb.ScanInput, optFns ...func(*dynamodb.Options)) (*dynamodb.ScanOutput, error)
}

// ScanEvents reads one page of every workflow's events, each workflow's in
// order (a Scan returns a partition's items in sort order), starting at
// cursor ("" for the beginning), and calls fn for each. It returns the cursor
// of the next page, "" at the end. A page never ends inside an event's parts.
// Events a crashed append left beyond its workflow's head may be included:
// the retry of that append writes the same events at the same positions.
func (st *Store) ScanEvents(ctx context.Context, cursor string, limit int, fn func(event.Event) error) (string, error) {
	scanner, ok := st.db.(ScanAPI)
	if !ok {
		return "", fmt.Errorf("scan events: the DynamoDB client has no Scan")
	}
	var start map[string]types.AttributeValue
	if cursor != "" {
		raw, err := base64.RawURLEncoding.DecodeString(cursor)
		if err != nil {
			return "", fmt.Errorf("scan events: bad cursor")
		}
		var k struct{ PK, SK string }
		if err := json.Unmarshal(raw, &k); err != nil {
			return "", fmt.Errorf("scan events: bad cursor")
		}
		start = table.Key(k.PK, k.SK)
	}
	out, err := scanner.Scan(ctx, &dynamodb.ScanInput{
		TableName: aws.String(st.table), ExclusiveStartKey: start, Limit: aws.Int32(int32(max(limit, 1))), ConsistentRead: aws.Bool(true),
	})
	if err != nil {
		return "", fmt.Errorf("scan events: %w", err)
	}
	var cur *item
	var lastKey [2]string
	flush := func() error {
		if cur == nil {
			return nil
		}
		e, err := event.Decode(cur.data, event.DecodeOptions{Wire: true})
		if err != nil {
			return fmt.Errorf("scan events: event %d: %w", cur.seq, err)
		}
		e.Sequence = cur.seq
		cur = nil
		return fn(e)
	}
	for _, it := range out.Items {
		pk, sk := getS(it, table.PK), getS(it, table.SK)
		if !strings.HasPrefix(pk, table.WorkflowPrefix) || sk == "" || sk[0] < '0' || sk[0] > '9' {
			continue // heads, markers, parked entries, other records
		}
		base, _, isPart := strings.Cut(sk, table.PartSeparator)
		if isPart {
			if cur != nil {
				cur.data = append(cur.data, getB(it, table.AttrData)...)
			}
			lastKey = [2]string{pk, sk}
			continue
		}
		if err := flush(); err != nil {
			return "", err
		}
		seq, err := strconv.ParseUint(base, 10, 64)
		if err != nil {
			continue
		}
		cur = &item{seq: seq, attrs: it, data: getB(it, table.AttrData)}
		if getN(it, table.AttrParts) > 1 {
			cur.data = append([]byte(nil), cur.data...)
			if n := getN(it, table.AttrParts); n > 1 {
				// Read the remaining parts now, so a page never splits an event.
				parts, err := st.batchGet(ctx, partKeys(pk, base, int(n)), table.SK, table.AttrData)
				if err != nil {
					return "", err
				}
				byKey := map[string][]byte{}
				for _, p := range parts {
					byKey[getS(p, table.SK)] = getB(p, table.AttrData)
				}
				for k := 1; k < int(n); k++ {
					cur.data = append(cur.data, byKey[table.PartSK(base, k)]...)
				}
				lastKey = [2]string{pk, table.PartSK(base, int(n)-1)}
				if err := flush(); err != nil {
					return "", err
				}
				continue
			}
		}
		lastKey = [2]string{pk, sk}
	}
	if err := flush(); err != nil {
		return "", err
	}
	if out.LastEvaluatedKey == nil {
		return "", nil
	}
	next := [2]string{getS(out.LastEvaluatedKey, table.PK), getS(out.LastEvaluatedKey, table.SK)}
	if lastKey[0] == next[0] && lastKey[1] > next[1] {
		next = lastKey // parts read ahead of the page: resume after them
	}
	raw, _ := json.Marshal(struct{ PK, SK string }{next[0], next[1]})
	return base64.RawURLEncoding.EncodeToString(raw), nil
}

func partKeys(pk, base string, n int) []map[string]types.AttributeValue {
	keys := make([]map[string]types.AttributeValue, 0, n-1)
	for k := 1; k < n; k++ {
		keys = append(keys, table.Key(pk, table.PartSK(base, k)))
	}
	return keys
}
