// Package table is the layout of flowbus's one DynamoDB table: every
// partition key, sort-key format and attribute name, in one place. The event
// store (shared/dynamostore), the figures (shared/stats), the replay
// records (shared/replay), the subscriptions (shared/subscription) and the
// authorization policy (shared/authz) ask it for their keys and attribute names instead
// of spelling them; docs/design.md shows the same table.
//
// The table has a string partition key "pk" and a string sort key "sk":
//
//	pk              sk                          item: attributes
//	w#<workflow>    00000000000000000001 …      event at that position: id, type, at (stored, Unix ms), ev (CloudEvents JSON), parts (when split)
//	w#<workflow>    00000000000000000007#1 …    further parts of an event larger than one item: ev
//	w#<workflow>    h                           head: last, pos (last stream position applied), bytes, lease, until, parked (reason), pn, pd
//	w#<workflow>    i#<event id>                id marker of a producer-chosen id: seq (the event's position)
//	w#<workflow>    p#00000000000000000001 …    parked entry, in stream order: ev (raw record data), reason, pos, at, parts
//	w#<workflow>    p#00000000000000000001#1 …  further parts of a parked entry: ev
//	parked          <workflow>                  parked-workflow list: reason, at
//	stats           m#<unix minute>             minute bucket: published, consumed, stored, duplicates, parked, replayed, bytes, latency (list of sketches), dead-letter figures
//	stats           totals                      all-time: events, bytes, top:<workflow> ([events, bytes]), dead-letter figures
//	stats           shard#<shard id>            consumer's last stored position in a shard: last_seq, last_arrival, updated
//	stats           snapshot                    last computed GET /metrics snapshot: doc (JSON)
//	replay#<replay id>  r                       replay record: doc (JSON), state, version
//	sub             <name>                      subscription: doc (JSON), state, version, secret (sealed), secret_prev (sealed), secret_prev_until
//	sub#<name>      totals                      delivery all-time: matched, delivered, retrying, dead_lettered, hop_limited, budget_limited, lb<i>/lbz (latency counter per sketch bucket), minute (of the last batch)
//	sub#<name>      since#<unix minute>         the delivery totals as they stood when that minute's first batch was recorded
//	sub#<name>      dl#00000000000000000001#<event id> …  dead-letter entry: id, workflow, ev (the CloudEvent), error, status, attempts, at
//	sub#<name>      a#<n>:<workflow id>#<event id>  failed attempts of a delivery being retried (n: the workflow id's length): attempts, at
//	sub#<name>      pk#<pack>                   a packed delivery message's progress before a retry: done, at
//	policy          <principal>                 authorization policy entry of a caller: doc (JSON grants), updated
//	root#<event id> budget                      derived events of the chains that event started: derived (count), ids (string set), expires (TTL, Unix s)
//
// The dead-letter figures are dead_lettered, parked_from_dead_letter,
// order_broken and lost_from_dead_letter.
//
// Event positions and parked-entry numbers are zero-padded to 20 digits, so
// a partition's items sort by them; a Query of w#<workflow> between two
// positions returns the workflow's events in order.
package table
