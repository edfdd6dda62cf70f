package table

import "strconv"

// Attributes of a workflow's events, their parts, markers and parked
// entries, and of the parked-workflow list.
const (
	AttrID     = "id"     // event: its id
	AttrType   = "type"   // event: its type
	AttrAt     = "at"     // event, parked entry, parked list: when written, Unix ms
	AttrData   = "ev"     // event: CloudEvents JSON; parked entry: raw record data; a part: the rest
	AttrParts  = "parts"  // event, parked entry: items it spans, when more than one
	AttrReason = "reason" // parked entry, parked list: why it is parked
	AttrPos    = "pos"    // head: last stream position applied; parked entry: its record's
	AttrSeq    = "seq"    // marker: the position of the event with that id
)

// Attributes of a workflow's head.
const (
	AttrLast           = "last"   // last committed position
	AttrBytes          = "bytes"  // bytes of events stored (also in minute buckets and totals)
	AttrLease          = "lease"  // the lease holder's token
	AttrUntil          = "until"  // when the lease expires, Unix ms
	AttrParked         = "parked" // why the workflow is parked; absent when it is not
	AttrParkedWritten  = "pn"     // parked entries ever written
	AttrParkedResolved = "pd"     // parked entries resolved by a resume
)

// Attributes of the minute buckets and the totals (partition StatsPK).
const (
	AttrPublished   = "published"  // minute: events whose record reached the stream then
	AttrConsumed    = "consumed"   // minute: events read off the stream
	AttrStored      = "stored"     // minute: events stored
	AttrDuplicates  = "duplicates" // minute: events already stored
	AttrParkedCount = "parked"     // minute: events parked (the head's AttrParked is another item's)
	AttrReplayed    = "replayed"   // minute: replayed events seen
	AttrLatency     = "latency"    // minute: list of serialised latency sketches
	AttrEvents      = "events"     // totals: events stored
	TopPrefix       = "top:"       // totals: top:<workflow> = [events, bytes] of a large workflow

	// Dead-letter figures, in minute buckets and the totals.
	AttrDeadLettered         = "dead_lettered"           // records the event source mapping gave up on
	AttrParkedFromDeadLetter = "parked_from_dead_letter" // events read back and parked
	AttrOrderBroken          = "order_broken"            // of those, parked behind later events
	AttrLostFromDeadLetter   = "lost_from_dead_letter"   // records no longer on the stream
)

// Attributes of a shard's position (sort key ShardSK).
const (
	AttrLastSeq     = "last_seq"     // sequence number of the last record stored
	AttrLastArrival = "last_arrival" // its arrival time, Unix ms
	AttrUpdated     = "updated"      // when written, Unix ms
)

// Attributes of the snapshot, of replay records and of subscriptions.
const (
	AttrDoc     = "doc"     // snapshot, replay record, subscription: the JSON document
	AttrState   = "state"   // replay record, subscription: its state
	AttrVersion = "version" // replay record, subscription: optimistic version
)

// Attributes of a subscription (the document, its state and version are
// AttrDoc, AttrState and AttrVersion).
const (
	AttrSecret          = "secret"            // subscription: its webhook signing secret, sealed
	AttrSecretPrev      = "secret_prev"       // subscription: the previous secret during a rotation, sealed
	AttrSecretPrevUntil = "secret_prev_until" // subscription: when the previous secret stops signing, Unix ms
	AttrOwner           = "owner"             // subscription: the caller that created it, for the per-caller limit
)

// Attributes of a subscription's delivery figures (partition DeliveryPK:
// the totals, and copies of them at minute starts, SinceSK) and of its
// dead-letter entries.
const (
	AttrMatched    = "matched"     // delivery figures: events routed to the subscription
	AttrDelivered  = "delivered"   // delivery figures: events delivered
	AttrRetrying   = "retrying"    // delivery figures: attempts that will be retried
	AttrHopLimited = "hop_limited" // delivery figures: derived events stopped at the hop limit
	// AttrBudgetLimited counts derived events refused because their root's
	// budget of derived events was spent.
	AttrBudgetLimited = "budget_limited"
	// LatencyBucketPrefix starts the latency counters: lb<i> counts the
	// deliveries in bucket i of a metrics.Sketch, lbz those ≤ 0
	// (LatencyBucketAttr); ADD keeps the item's size bounded.
	LatencyBucketPrefix = "lb"
	AttrMinute          = "minute" // delivery totals: Unix minute of the last batch recorded
	// dead-lettered deliveries are AttrDeadLettered in the same items.
	AttrError    = "error"    // dead-letter entry: the last error
	AttrStatus   = "status"   // dead-letter entry: the last HTTP status, 0 when none
	AttrAttempts = "attempts" // dead-letter entry: attempts made
	AttrWorkflow = "workflow" // dead-letter entry: the event's workflow id
	AttrDone     = "done"     // a pack's progress: its events handled
)

// Attributes of a root's budget of derived events (RootPK, BudgetSK).
const (
	AttrDerived    = "derived" // budget: derived events granted a slot
	AttrDerivedIDs = "ids"     // budget: the ids of those events (a string set), so a retry takes no second slot
	AttrExpires    = "expires" // budget: when it expires, Unix seconds: the table's TTL attribute
)

// LatencyBucketAttr is the minute-bucket attribute counting latencies in
// sketch bucket i (metrics.ZeroBucket, -1, for those ≤ 0).
func LatencyBucketAttr(i int) string {
	if i < 0 {
		return LatencyBucketPrefix + "z"
	}
	return LatencyBucketPrefix + strconv.Itoa(i)
}

// TopAttr is the totals attribute of workflow wf in the size ranking.
func TopAttr(wf string) string { return TopPrefix + wf }
