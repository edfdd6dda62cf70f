package sqslocal

import (
	"context"
	"encoding/base64"
	"maps"
	"slices"
	"strings"
	"time"
)

// Queue operations: CreateQueue, GetQueueUrl, ListQueues, DeleteQueue,
// GetQueueAttributes, SetQueueAttributes, PurgeQueue. Those on one queue
// (DeleteQueue and after) run through onQueue: with s.mu held, on the queue
// looked up.

func (s *Server) createQueue(_ context.Context, c *call, in createQueueInput) (any, error) {
	if in.QueueName == nil {
		return nil, errMissingParameter("QueueName")
	}
	name := *in.QueueName
	fifo := in.Attributes["FifoQueue"] == "true"
	if err := checkQueueName(name, fifo); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	set, err := s.parseSettings(in.Attributes, fifo)
	if err != nil {
		return nil, err
	}
	if q, ok := s.queues[name]; ok {
		if attr := q.differs(set); attr != "" {
			return nil, errQueueNameExists("A queue already exists with the same name and a different value for attribute %s", attr)
		}
		return queueURLOutput{QueueURL: c.queueURL(name)}, nil
	}
	now := time.Now()
	q := newQueue(name, s.region, now, fifo)
	q.apply(set, now)
	s.queues[name] = q
	return queueURLOutput{QueueURL: c.queueURL(name)}, nil
}

func (s *Server) getQueueURL(_ context.Context, c *call, in getQueueURLInput) (any, error) {
	if in.QueueName == nil || *in.QueueName == "" {
		return nil, errMissingParameter("QueueName")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	_, ok := s.queues[*in.QueueName]
	if !ok || (in.QueueOwnerAWSAccountID != nil && *in.QueueOwnerAWSAccountID != accountID) {
		return nil, errQueueDoesNotExist()
	}
	return queueURLOutput{QueueURL: c.queueURL(*in.QueueName)}, nil
}

func (s *Server) listQueues(_ context.Context, c *call, in listQueuesInput) (any, error) {
	limit := maxListQueuesResults
	if in.MaxResults != nil {
		if *in.MaxResults < 1 || *in.MaxResults > maxListQueuesResults {
			return nil, errInvalidParameterValue("Value %d for parameter MaxResults is invalid. Reason: MaxResults must be an integer between 1 and %d.", *in.MaxResults, maxListQueuesResults)
		}
		limit = int(*in.MaxResults)
	}
	after := ""
	if in.NextToken != "" {
		raw, err := base64.RawURLEncoding.DecodeString(in.NextToken)
		if err != nil || len(raw) == 0 {
			return nil, errInvalidParameterValue("Invalid NextToken value.")
		}
		after = string(raw)
	}
	s.mu.Lock()
	names := slices.Sorted(maps.Keys(s.queues))
	s.mu.Unlock()
	var out listQueuesOutput
	last := ""
	for _, name := range names {
		if !strings.HasPrefix(name, in.QueueNamePrefix) || (after != "" && name <= after) {
			continue
		}
		if len(out.QueueURLs) == limit {
			// SQS pages only when the caller asked for MaxResults.
			if in.MaxResults != nil {
				out.NextToken = base64.RawURLEncoding.EncodeToString([]byte(last))
			}
			break
		}
		out.QueueURLs = append(out.QueueURLs, c.queueURL(name))
		last = name
	}
	return out, nil
}

func (s *Server) deleteQueue(q *queue, in queueInput) (any, error) {
	delete(s.queues, q.name)
	q.deleted = true
	q.signal()
	return struct{}{}, nil
}

func (s *Server) getQueueAttributes(q *queue, in getQueueAttributesInput) (any, error) {
	now := time.Now()
	q.expire(now)
	attrs, err := q.attributes(in.AttributeNames, now)
	if err != nil {
		return nil, err
	}
	return attributesOutput{Attributes: attrs}, nil
}

func (s *Server) setQueueAttributes(q *queue, in setQueueAttributesInput) (any, error) {
	if len(in.Attributes) == 0 {
		return nil, errMissingParameter("Attributes")
	}
	set, err := s.parseSettings(in.Attributes, q.fifo)
	if err != nil {
		return nil, err
	}
	q.apply(set, time.Now())
	// A shorter delay or retention can make messages receivable or gone.
	q.signal()
	return struct{}{}, nil
}

func (s *Server) purgeQueue(q *queue, in queueInput) (any, error) {
	now := time.Now()
	if !q.lastPurge.IsZero() && now.Sub(q.lastPurge) < purgeIntervalSeconds*time.Second {
		return nil, errPurgeQueueInProgress(q.name)
	}
	q.purge(now)
	return struct{}{}, nil
}
