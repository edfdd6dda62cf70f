package delivery

import (
	"context"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"golang.org/x/sync/errgroup"

	"github.com/flowbus/flowbus/shared/table"
)

// forgetDeleters bounds the deletes Forget runs at once.
const forgetDeleters = 8

// Forget removes everything kept for subscription sub's deliveries under
// table.DeliveryPK: figures, dead-letter entries with their events, counts
// of failed attempts. A subscription deleted and created again under the
// same name starts with none of its predecessor's. It works page by page
// until the partition is empty or ctx ends; an error leaves the rest for
// the next call. It returns how many items it removed.
func (s *DeadLetters) Forget(ctx context.Context, sub string) (int, error) {
	in := &dynamodb.QueryInput{TableName: aws.String(s.table),
		KeyConditionExpression:   aws.String("#pk = :pk"),
		ExpressionAttributeNames: map[string]string{"#pk": table.PK, "#sk": table.SK},
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":pk": &types.AttributeValueMemberS{Value: table.DeliveryPK(sub)}},
		ProjectionExpression: aws.String("#pk, #sk"),
		ConsistentRead:       aws.Bool(true),
	}
	removed := 0
	for {
		page, err := s.db.Query(ctx, in)
		if err != nil {
			return removed, fmt.Errorf("forget deliveries of %s: %w", sub, err)
		}
		g, gctx := errgroup.WithContext(ctx)
		g.SetLimit(forgetDeleters)
		for _, key := range page.Items {
			g.Go(func() error {
				_, err := s.db.DeleteItem(gctx, &dynamodb.DeleteItemInput{TableName: aws.String(s.table), Key: key})
				return err
			})
		}
		if err := g.Wait(); err != nil {
			return removed, fmt.Errorf("forget deliveries of %s: %w", sub, err)
		}
		removed += len(page.Items)
		if len(page.LastEvaluatedKey) == 0 {
			return removed, nil
		}
		in.ExclusiveStartKey = page.LastEvaluatedKey
	}
}
