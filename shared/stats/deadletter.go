package stats

import (
	"context"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/flowbus/flowbus/shared/table"
)

// DeadLetter is what one on-failure record of the consumer's event source
// mapping came to when it was read back.
type DeadLetter struct {
	Records     int // records the mapping gave up on (the record's batch size)
	Parked      int // events parked from them
	OrderBroken int // of those, events parked behind later events of their workflow
	Lost        int // records no longer on the stream
	Now         time.Time
}

// RecordDeadLetter adds an on-failure record's figures to its minute and to
// the totals. Like RecordBatch, a failure loses figures, never events.
func (r *Recorder) RecordDeadLetter(ctx context.Context, d DeadLetter) error {
	expr := "ADD #r :r, #p :p, #o :o, #l :l"
	names := map[string]string{"#r": table.AttrDeadLettered, "#p": table.AttrParkedFromDeadLetter,
		"#o": table.AttrOrderBroken, "#l": table.AttrLostFromDeadLetter}
	values := map[string]types.AttributeValue{
		":r": num(int64(d.Records)), ":p": num(int64(d.Parked)), ":o": num(int64(d.OrderBroken)), ":l": num(int64(d.Lost)),
	}
	if err := r.update(ctx, table.MinuteSK(d.Now.Unix()/60), expr, names, values); err != nil {
		return err
	}
	return r.update(ctx, table.TotalsSK, expr, names, values)
}

// DeadLetterCounts are the dead-letter figures: what the consumer's event
// source mapping gave up on and what became of it.
type DeadLetterCounts struct {
	Records     int64 `json:"records"`      // records given up on (on-failure records' batch sizes)
	Parked      int64 `json:"parked"`       // events read back and parked
	OrderBroken int64 `json:"order_broken"` // events parked behind later events of their workflow
	Lost        int64 `json:"lost"`         // records no longer on the stream when read back
}

func deadLetterCounts(item map[string]types.AttributeValue) DeadLetterCounts {
	return DeadLetterCounts{
		Records: getN(item, table.AttrDeadLettered), Parked: getN(item, table.AttrParkedFromDeadLetter),
		OrderBroken: getN(item, table.AttrOrderBroken), Lost: getN(item, table.AttrLostFromDeadLetter),
	}
}

func (c *DeadLetterCounts) add(o DeadLetterCounts) {
	c.Records += o.Records
	c.Parked += o.Parked
	c.OrderBroken += o.OrderBroken
	c.Lost += o.Lost
}
