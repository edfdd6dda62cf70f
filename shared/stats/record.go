package stats

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/flowbus/flowbus/shared/metrics"
	"github.com/flowbus/flowbus/shared/table"
)

// topPerBatch is how many workflows a batch reports to the size ranking.
const topPerBatch = 10

// WriteAPI is the DynamoDB call RecordBatch makes.
type WriteAPI interface {
	UpdateItem(ctx context.Context, in *dynamodb.UpdateItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error)
}

// WorkflowSize is a workflow's size after a batch.
type WorkflowSize struct {
	WorkflowID string `json:"workflow_id"`
	Events     uint64 `json:"events"`
	Bytes      int64  `json:"bytes"`
}

// Batch is the figures of one consumed batch: what the consumer did with it,
// and what it adds to the stored figures.
type Batch struct {
	Shard       string
	LastSeq     string        // last record of the batch, set when the consumer is done with all of it
	LastArrival time.Time     // its approximate arrival time
	Published   map[int64]int // events by the minute their record reached the stream
	Records     int           // records in the batch
	Consumed    int           // events in them (an undecodable record counts as one; replayed events left out)
	Stored      int
	Duplicates  int
	Parked      int
	Replayed    int // replayed events seen: already stored, never stored again
	Failed      int // workflows left for Lambda to retry
	Bytes       int
	Latency     *metrics.Sketch // event time to stored time
	// StoredByType counts the events stored, by event type.
	StoredByType map[string]int
	Workflows    []WorkflowSize // sizes of the workflows stored to
	Now          time.Time
}

// Recorder writes batches' figures. Build it once per cold start.
type Recorder struct {
	db    WriteAPI
	table string
}

// NewRecorder returns a Recorder on the table named tableName.
func NewRecorder(db WriteAPI, tableName string) *Recorder {
	return &Recorder{db: db, table: tableName}
}

// key is the key of a stats item: they all live in the partition
// table.StatsPK, beside the workflows in the event store's table.
func key(sk string) map[string]types.AttributeValue { return table.Key(table.StatsPK, sk) }

func num(n int64) types.AttributeValue {
	return &types.AttributeValueMemberN{Value: strconv.FormatInt(n, 10)}
}

// RecordBatch adds a batch to the figures: one write for the minute it was
// stored in, one per minute its records arrived in (usually the same), one
// for the totals and one for the shard. A failure loses figures, never
// events: the caller logs it and goes on.
func (r *Recorder) RecordBatch(ctx context.Context, b Batch) error {
	minute := b.Now.Unix() / 60
	sketch := []byte(nil)
	if b.Latency != nil && b.Latency.Count() > 0 {
		var err error
		if sketch, err = b.Latency.MarshalBinary(); err != nil {
			return fmt.Errorf("record batch: %w", err)
		}
	}
	// Every attribute through a name placeholder: several are reserved words.
	expr := "ADD #c :c, #s :s, #d :d, #p :p, #r :r, #b :b"
	names := map[string]string{"#c": table.AttrConsumed, "#s": table.AttrStored, "#d": table.AttrDuplicates,
		"#p": table.AttrParkedCount, "#r": table.AttrReplayed, "#b": table.AttrBytes}
	values := map[string]types.AttributeValue{
		":c": num(int64(b.Consumed)), ":s": num(int64(b.Stored)), ":d": num(int64(b.Duplicates)),
		":p": num(int64(b.Parked)), ":r": num(int64(b.Replayed)), ":b": num(int64(b.Bytes)),
	}
	if sketch != nil {
		expr += " SET #l = list_append(if_not_exists(#l, :empty), :sk)"
		names["#l"] = table.AttrLatency
		values[":empty"] = &types.AttributeValueMemberL{Value: []types.AttributeValue{}}
		values[":sk"] = &types.AttributeValueMemberL{Value: []types.AttributeValue{&types.AttributeValueMemberB{Value: sketch}}}
	}
	if err := r.update(ctx, table.MinuteSK(minute), expr, names, values); err != nil {
		return err
	}
	minutes := make([]int64, 0, len(b.Published))
	for m := range b.Published {
		minutes = append(minutes, m)
	}
	sort.Slice(minutes, func(i, j int) bool { return minutes[i] < minutes[j] })
	for _, m := range minutes {
		if err := r.update(ctx, table.MinuteSK(m), "ADD #n :n", map[string]string{"#n": table.AttrPublished}, map[string]types.AttributeValue{":n": num(int64(b.Published[m]))}); err != nil {
			return err
		}
	}
	// Totals, and the largest workflows this batch touched (an attribute
	// table.TopAttr each; the snapshot prunes all but the largest).
	sort.Slice(b.Workflows, func(i, j int) bool { return b.Workflows[i].Bytes > b.Workflows[j].Bytes })
	if len(b.Workflows) > topPerBatch {
		b.Workflows = b.Workflows[:topPerBatch]
	}
	expr = "ADD #e :s, #b :b"
	values = map[string]types.AttributeValue{":s": num(int64(b.Stored)), ":b": num(int64(b.Bytes))}
	names = map[string]string{"#e": table.AttrEvents, "#b": table.AttrBytes}
	if len(b.Workflows) > 0 {
		expr += " SET"
		for i, w := range b.Workflows {
			if i > 0 {
				expr += ","
			}
			n, v := "#w"+strconv.Itoa(i), ":w"+strconv.Itoa(i)
			values[v] = &types.AttributeValueMemberL{Value: []types.AttributeValue{num(int64(w.Events)), num(w.Bytes)}}
			names[n] = table.TopAttr(w.WorkflowID)
			expr += " " + n + " = " + v
		}
	}
	if err := r.update(ctx, table.TotalsSK, expr, names, values); err != nil {
		return err
	}
	if b.Shard == "" || b.LastSeq == "" {
		return nil
	}
	// Batches of one shard may finish out of order (ParallelizationFactor):
	// the position only moves forward. Sequence numbers of a shard have one
	// width, so they compare as strings.
	_, err := r.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName: aws.String(r.table), Key: key(table.ShardSK(b.Shard)),
		UpdateExpression:         aws.String("SET #q = :q, #a = :a, #u = :u"),
		ConditionExpression:      aws.String("attribute_not_exists(#q) OR #q < :q"),
		ExpressionAttributeNames: map[string]string{"#q": table.AttrLastSeq, "#a": table.AttrLastArrival, "#u": table.AttrUpdated},
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":q": &types.AttributeValueMemberS{Value: b.LastSeq}, ":a": num(b.LastArrival.UnixMilli()), ":u": num(b.Now.UnixMilli()),
		},
	})
	var ccf *types.ConditionalCheckFailedException
	if err != nil && !errors.As(err, &ccf) {
		return fmt.Errorf("record batch shard %s: %w", b.Shard, err)
	}
	return nil
}

func (r *Recorder) update(ctx context.Context, sk, expr string, names map[string]string, values map[string]types.AttributeValue) error {
	in := &dynamodb.UpdateItemInput{TableName: aws.String(r.table), Key: key(sk), UpdateExpression: aws.String(expr), ExpressionAttributeValues: values}
	if len(names) > 0 {
		in.ExpressionAttributeNames = names
	}
	if _, err := r.db.UpdateItem(ctx, in); err != nil {
		return fmt.Errorf("record batch %s: %w", sk, err)
	}
	return nil
}
