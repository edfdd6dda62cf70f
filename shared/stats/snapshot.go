package stats

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	ktypes "github.com/aws/aws-sdk-go-v2/service/kinesis/types"

	"github.com/flowbus/flowbus/shared/metrics"
	"github.com/flowbus/flowbus/shared/table"
)

// Snapshot is the figures GET /metrics serves.
type Snapshot struct {
	At      time.Time  `json:"at"`
	Rates   Rates      `json:"rates_per_second"`
	Counts  Counts     `json:"last_15_minutes"`
	Latency Latency    `json:"publish_to_store_latency_ms"`
	Store   StoreSize  `json:"store"`
	Lag     []ShardLag `json:"consumer_lag"`
	// DeadLetter is what the consumer's event source mapping gave up on,
	// since the table was created (last_15_minutes has the recent part).
	DeadLetter DeadLetterCounts `json:"dead_letter"`
	// Subscriptions are each subscription's delivery figures, in name
	// order (at most MaxSubscriptionFigures of them).
	Subscriptions []SubscriptionFigures `json:"subscriptions"`
	// SubscriptionsCapped says there were more subscriptions than
	// Subscriptions holds.
	SubscriptionsCapped bool `json:"subscriptions_capped,omitempty"`
	// Unavailable names the parts that could not be computed (they are
	// left empty), each with the reason.
	Unavailable []Unavailable `json:"unavailable,omitempty"`
}

// Unavailable is a part of a snapshot that could not be computed.
type Unavailable struct {
	Part   string `json:"part"` // the snapshot's field, e.g. "consumer_lag"
	Reason string `json:"reason"`
	err    error  // the cause, for logs
}

// Err is the cause, for logs; clients see Reason.
func (u Unavailable) Err() error { return u.err }

// PartLag is the part of a snapshot read from the stream.
const PartLag = "consumer_lag"

// PartSubscriptions is the part of a snapshot read from the subscriptions'
// delivery figures.
const PartSubscriptions = "subscriptions"

// DeliveryStatus is a subscription's delivery figures: counts since it was
// created, latency (publish to delivered) over the last hour. GET
// /subscriptions/{name} shows them as its status, GET /metrics for every
// subscription.
type DeliveryStatus struct {
	Matched      int64 `json:"matched"`
	Delivered    int64 `json:"delivered"`
	Retrying     int64 `json:"retrying"`
	DeadLettered int64 `json:"dead_lettered"`
	HopLimited   int64 `json:"hop_limited"`
	// BudgetLimited are derived events refused: their root's budget of
	// derived events was spent.
	BudgetLimited int64   `json:"budget_limited"`
	LatencyP50Ms  float64 `json:"latency_p50_ms"`
	LatencyP99Ms  float64 `json:"latency_p99_ms"`
}

// SubscriptionFigures are one subscription's delivery figures.
type SubscriptionFigures struct {
	Name string `json:"name"`
	DeliveryStatus
}

// MaxSubscriptionFigures bounds the subscriptions a snapshot reads figures
// for (two reads each), so a bus with very many keeps its snapshot on time.
const MaxSubscriptionFigures = 1000

// DeliverySource gives up to limit subscriptions' delivery figures in name
// order, and whether there were more (delivery.StatusSource).
type DeliverySource interface {
	DeliveryFigures(ctx context.Context, now time.Time, limit int) (figures []SubscriptionFigures, more bool, err error)
}

// deliveryBudget bounds the time spent reading delivery figures, as
// lagBudget does for the stream.
const deliveryBudget = 10 * time.Second

// lagBudget bounds the time spent reading the stream for the lag, so that a
// stream that does not answer leaves the rest of the snapshot on time.
const lagBudget = 10 * time.Second

// Rates are events per second over the last 1, 5 and 15 minutes.
type Rates struct {
	Published Window `json:"published"`
	Consumed  Window `json:"consumed"`
	Stored    Window `json:"stored"`
}

// Window holds one figure over three spans.
type Window struct {
	M1  float64 `json:"1m"`
	M5  float64 `json:"5m"`
	M15 float64 `json:"15m"`
}

// Counts are totals over the last 15 minutes.
type Counts struct {
	Published  int64 `json:"published"`
	Consumed   int64 `json:"consumed"`
	Stored     int64 `json:"stored"`
	Duplicates int64 `json:"duplicates"`
	Parked     int64 `json:"parked"`
	Replayed   int64 `json:"replayed"`
	// DeadLetter is what the event source mapping gave up on in the window.
	DeadLetter DeadLetterCounts `json:"dead_letter"`
}

// Latency is publish-to-store latency over the last 15 minutes.
type Latency struct {
	Count uint64  `json:"count"`
	P50   float64 `json:"p50"`
	P95   float64 `json:"p95"`
	P99   float64 `json:"p99"`
}

// StoreSize is the event store's size.
type StoreSize struct {
	Events int64          `json:"events"`
	Bytes  int64          `json:"bytes"`
	Top    []WorkflowSize `json:"top_workflows"`
}

// ShardLag is how far the consumer is behind one shard.
type ShardLag struct {
	Shard         string `json:"shard"`
	Records       int    `json:"records_behind"`
	RecordsCapped bool   `json:"records_behind_capped,omitempty"` // more than were counted
	Milliseconds  int64  `json:"milliseconds_behind"`             // age of the oldest record not yet stored
	LastStoredSeq string `json:"last_stored_sequence,omitempty"`
}

// ReadAPI is what the snapshot reads and writes in DynamoDB.
type ReadAPI interface {
	Query(ctx context.Context, in *dynamodb.QueryInput, optFns ...func(*dynamodb.Options)) (*dynamodb.QueryOutput, error)
	GetItem(ctx context.Context, in *dynamodb.GetItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error)
	PutItem(ctx context.Context, in *dynamodb.PutItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error)
	UpdateItem(ctx context.Context, in *dynamodb.UpdateItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error)
}

// KinesisAPI is what the lag needs of Kinesis.
type KinesisAPI interface {
	ListShards(ctx context.Context, in *kinesis.ListShardsInput, optFns ...func(*kinesis.Options)) (*kinesis.ListShardsOutput, error)
	GetShardIterator(ctx context.Context, in *kinesis.GetShardIteratorInput, optFns ...func(*kinesis.Options)) (*kinesis.GetShardIteratorOutput, error)
	GetRecords(ctx context.Context, in *kinesis.GetRecordsInput, optFns ...func(*kinesis.Options)) (*kinesis.GetRecordsOutput, error)
}

// Limits of the snapshot.
const (
	TopWorkflows = 10
	keepRanked   = 100    // top:<workflow> attributes kept in the totals item
	lagCountCap  = 50_000 // records counted behind the consumer per shard
)

// Snapshots computes, saves and loads snapshots. Build it once per cold start.
type Snapshots struct {
	DB     ReadAPI
	Kin    KinesisAPI
	Table  string
	Stream string
	// Deliveries gives the subscriptions' delivery figures; none when nil.
	Deliveries DeliverySource
}

// Compute reads the figures and the stream and makes a snapshot.
func (s *Snapshots) Compute(ctx context.Context, now time.Time) (Snapshot, error) {
	snap := Snapshot{At: now.UTC()}
	nowMin := now.Unix() / 60
	out, err := s.DB.Query(ctx, &dynamodb.QueryInput{
		TableName:                aws.String(s.Table),
		KeyConditionExpression:   aws.String("#pk = :pk AND #sk BETWEEN :lo AND :hi"),
		ExpressionAttributeNames: map[string]string{"#pk": table.PK, "#sk": table.SK},
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":pk": &types.AttributeValueMemberS{Value: table.StatsPK}, ":lo": &types.AttributeValueMemberS{Value: table.MinuteSK(nowMin - 14)},
			":hi": &types.AttributeValueMemberS{Value: table.MinuteSK(nowMin)},
		},
		ConsistentRead: aws.Bool(true),
	})
	if err != nil {
		return snap, fmt.Errorf("snapshot: %w", err)
	}
	// Minutes are compared as numbers: keys of different widths may sort as strings.
	sketch := &metrics.Sketch{}
	secondsInto := float64(now.Unix()%60) + float64(now.Nanosecond())/1e9
	span := func(minutes int64) float64 { return float64(minutes-1)*60 + secondsInto }
	for _, it := range out.Items {
		m, err := strconv.ParseInt(strings.TrimPrefix(getS(it, table.SK), table.MinutePrefix), 10, 64)
		if err != nil || m < nowMin-14 || m > nowMin {
			continue
		}
		age := nowMin - m // 0 is the current minute
		add := func(w *Window, n int64) {
			if age < 1 {
				w.M1 += float64(n)
			}
			if age < 5 {
				w.M5 += float64(n)
			}
			w.M15 += float64(n)
		}
		add(&snap.Rates.Published, getN(it, table.AttrPublished))
		add(&snap.Rates.Consumed, getN(it, table.AttrConsumed))
		add(&snap.Rates.Stored, getN(it, table.AttrStored))
		snap.Counts.Published += getN(it, table.AttrPublished)
		snap.Counts.Consumed += getN(it, table.AttrConsumed)
		snap.Counts.Stored += getN(it, table.AttrStored)
		snap.Counts.Duplicates += getN(it, table.AttrDuplicates)
		snap.Counts.Parked += getN(it, table.AttrParkedCount)
		snap.Counts.Replayed += getN(it, table.AttrReplayed)
		snap.Counts.DeadLetter.add(deadLetterCounts(it))
		if l, ok := it[table.AttrLatency].(*types.AttributeValueMemberL); ok {
			for _, v := range l.Value {
				if b, ok := v.(*types.AttributeValueMemberB); ok {
					var sk metrics.Sketch
					if sk.UnmarshalBinary(b.Value) == nil {
						sketch.Merge(&sk)
					}
				}
			}
		}
	}
	for _, w := range []*Window{&snap.Rates.Published, &snap.Rates.Consumed, &snap.Rates.Stored} {
		w.M1 /= span(1)
		w.M5 /= span(5)
		w.M15 /= span(15)
	}
	if n := sketch.Count(); n > 0 {
		ms := func(q float64) float64 { return float64(sketch.Quantile(q)) / 1e6 }
		snap.Latency = Latency{Count: n, P50: ms(0.50), P95: ms(0.95), P99: ms(0.99)}
	}
	if err := s.storeSize(ctx, &snap); err != nil {
		return snap, err
	}
	if s.Kin != nil {
		// The lag is the one part read from Kinesis: when the stream cannot
		// be read the figures from DynamoDB still stand, and the snapshot
		// says which part it lacks.
		lctx, cancel := context.WithTimeout(ctx, lagBudget)
		snap.Lag, err = s.lag(lctx, now)
		cancel()
		if err != nil {
			if ctx.Err() != nil {
				return snap, fmt.Errorf("snapshot: %w", ctx.Err())
			}
			snap.Lag = nil
			snap.Unavailable = append(snap.Unavailable, Unavailable{Part: PartLag,
				Reason: "the stream " + s.Stream + " could not be read", err: err})
		}
	}
	if s.Deliveries != nil {
		dctx, cancel := context.WithTimeout(ctx, deliveryBudget)
		snap.Subscriptions, snap.SubscriptionsCapped, err = s.Deliveries.DeliveryFigures(dctx, now, MaxSubscriptionFigures)
		cancel()
		if err != nil {
			if ctx.Err() != nil {
				return snap, fmt.Errorf("snapshot: %w", ctx.Err())
			}
			snap.Subscriptions, snap.SubscriptionsCapped = nil, false
			snap.Unavailable = append(snap.Unavailable, Unavailable{Part: PartSubscriptions,
				Reason: "the subscriptions' delivery figures could not be read", err: err})
		}
	}
	return snap, nil
}

func (s *Snapshots) storeSize(ctx context.Context, snap *Snapshot) error {
	out, err := s.DB.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(s.Table), Key: key(table.TotalsSK), ConsistentRead: aws.Bool(true)})
	if err != nil {
		return fmt.Errorf("snapshot: totals: %w", err)
	}
	snap.Store.Events, snap.Store.Bytes = getN(out.Item, table.AttrEvents), getN(out.Item, table.AttrBytes)
	snap.DeadLetter = deadLetterCounts(out.Item)
	var ranked []WorkflowSize
	for name, v := range out.Item {
		wf, ok := strings.CutPrefix(name, table.TopPrefix)
		l, isList := v.(*types.AttributeValueMemberL)
		if !ok || !isList || len(l.Value) != 2 {
			continue
		}
		ranked = append(ranked, WorkflowSize{WorkflowID: wf, Events: uint64(numOf(l.Value[0])), Bytes: numOf(l.Value[1])})
	}
	sort.Slice(ranked, func(i, j int) bool {
		if ranked[i].Bytes != ranked[j].Bytes {
			return ranked[i].Bytes > ranked[j].Bytes
		}
		return ranked[i].WorkflowID < ranked[j].WorkflowID
	})
	snap.Store.Top = ranked[:min(len(ranked), TopWorkflows)]
	if len(ranked) > keepRanked {
		// Keep the totals item small: forget all but the largest.
		names := map[string]string{}
		var parts []string
		for i, w := range ranked[keepRanked:min(len(ranked), keepRanked+90)] {
			n := "#r" + strconv.Itoa(i)
			names[n] = table.TopAttr(w.WorkflowID)
			parts = append(parts, n)
		}
		_, err := s.DB.UpdateItem(ctx, &dynamodb.UpdateItemInput{TableName: aws.String(s.Table), Key: key(table.TotalsSK),
			UpdateExpression: aws.String("REMOVE " + strings.Join(parts, ", ")), ExpressionAttributeNames: names})
		if err != nil {
			return fmt.Errorf("snapshot: prune: %w", err)
		}
	}
	return nil
}

// lag counts, per shard, the records after the consumer's last stored one.
func (s *Snapshots) lag(ctx context.Context, now time.Time) ([]ShardLag, error) {
	shards, err := s.Kin.ListShards(ctx, &kinesis.ListShardsInput{StreamName: aws.String(s.Stream)})
	if err != nil {
		return nil, fmt.Errorf("snapshot: list shards: %w", err)
	}
	var lags []ShardLag
	for _, sh := range shards.Shards {
		id := aws.ToString(sh.ShardId)
		l := ShardLag{Shard: id}
		out, err := s.DB.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(s.Table), Key: key(table.ShardSK(id)), ConsistentRead: aws.Bool(true)})
		if err != nil {
			return nil, fmt.Errorf("snapshot: shard %s: %w", id, err)
		}
		in := &kinesis.GetShardIteratorInput{StreamName: aws.String(s.Stream), ShardId: aws.String(id), ShardIteratorType: ktypes.ShardIteratorTypeTrimHorizon}
		if seq := getS(out.Item, table.AttrLastSeq); seq != "" {
			l.LastStoredSeq = seq
			in.ShardIteratorType, in.StartingSequenceNumber = ktypes.ShardIteratorTypeAfterSequenceNumber, aws.String(seq)
		}
		it, err := s.Kin.GetShardIterator(ctx, in)
		if err != nil {
			return nil, fmt.Errorf("snapshot: shard %s: %w", id, err)
		}
		iter := it.ShardIterator
		for calls := 0; iter != nil && calls < 10; calls++ {
			recs, err := s.Kin.GetRecords(ctx, &kinesis.GetRecordsInput{ShardIterator: iter, Limit: aws.Int32(10000)})
			if err != nil {
				return nil, fmt.Errorf("snapshot: shard %s: %w", id, err)
			}
			if l.Records == 0 && len(recs.Records) > 0 {
				l.Milliseconds = now.Sub(aws.ToTime(recs.Records[0].ApproximateArrivalTimestamp)).Milliseconds()
			}
			l.Records += len(recs.Records)
			if l.Records >= lagCountCap {
				l.RecordsCapped = true
				break
			}
			if aws.ToInt64(recs.MillisBehindLatest) == 0 && len(recs.Records) == 0 {
				break
			}
			iter = recs.NextShardIterator
		}
		lags = append(lags, l)
	}
	return lags, nil
}

// Save stores a snapshot for GET /metrics to read.
func (s *Snapshots) Save(ctx context.Context, snap Snapshot) error {
	doc, err := json.Marshal(snap)
	if err != nil {
		return fmt.Errorf("save snapshot: %w", err)
	}
	item := key(table.SnapshotSK)
	item[table.AttrDoc] = &types.AttributeValueMemberS{Value: string(doc)}
	if _, err := s.DB.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(s.Table), Item: item}); err != nil {
		return fmt.Errorf("save snapshot: %w", err)
	}
	return nil
}

// ErrNoSnapshot means none was saved yet.
var ErrNoSnapshot = errors.New("no snapshot yet")

// Load returns the last saved snapshot.
func (s *Snapshots) Load(ctx context.Context) (Snapshot, error) {
	out, err := s.DB.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(s.Table), Key: key(table.SnapshotSK)})
	if err != nil {
		return Snapshot{}, fmt.Errorf("load snapshot: %w", err)
	}
	doc := getS(out.Item, table.AttrDoc)
	if doc == "" {
		return Snapshot{}, ErrNoSnapshot
	}
	var snap Snapshot
	if err := json.Unmarshal([]byte(doc), &snap); err != nil {
		return Snapshot{}, fmt.Errorf("load snapshot: %w", err)
	}
	return snap, nil
}

func getS(item map[string]types.AttributeValue, name string) string {
	if v, ok := item[name].(*types.AttributeValueMemberS); ok {
		return v.Value
	}
	return ""
}

func getN(item map[string]types.AttributeValue, name string) int64 {
	return numOf(item[name])
}

func numOf(v types.AttributeValue) int64 {
	if n, ok := v.(*types.AttributeValueMemberN); ok {
		i, _ := strconv.ParseInt(n.Value, 10, 64)
		return i
	}
	return 0
}
