package stats

import "github.com/flowbus/flowbus/shared/metrics"

// Samples is the snapshot in Prometheus terms.
func (s Snapshot) Samples() []metrics.Sample {
	var out []metrics.Sample
	gauge := func(name, help string, labels map[string]string, v float64) {
		out = append(out, metrics.Sample{Name: name, Help: help, Type: "gauge", Labels: labels, Value: v})
	}
	for _, r := range []struct {
		what string
		w    Window
	}{{"published", s.Rates.Published}, {"consumed", s.Rates.Consumed}, {"stored", s.Rates.Stored}} {
		name := "flowbus_events_" + r.what + "_per_second"
		help := "Events " + r.what + " per second over the window."
		gauge(name, help, map[string]string{"window": "1m"}, r.w.M1)
		gauge(name, help, map[string]string{"window": "5m"}, r.w.M5)
		gauge(name, help, map[string]string{"window": "15m"}, r.w.M15)
	}
	for _, c := range []struct {
		what string
		n    int64
	}{{"published", s.Counts.Published}, {"consumed", s.Counts.Consumed}, {"stored", s.Counts.Stored},
		{"duplicates", s.Counts.Duplicates}, {"parked", s.Counts.Parked}, {"replayed", s.Counts.Replayed}} {
		gauge("flowbus_events_"+c.what+"_15m", "Events "+c.what+" in the last 15 minutes.", nil, float64(c.n))
	}
	for _, c := range []struct {
		what, help string
		n, total   int64
	}{
		{"records", "Records the consumer's event source mapping gave up on", s.Counts.DeadLetter.Records, s.DeadLetter.Records},
		{"parked", "Events read back from the stream and parked", s.Counts.DeadLetter.Parked, s.DeadLetter.Parked},
		{"order_broken", "Events parked behind later events of their workflow", s.Counts.DeadLetter.OrderBroken, s.DeadLetter.OrderBroken},
		{"lost", "Records given up on that were no longer on the stream", s.Counts.DeadLetter.Lost, s.DeadLetter.Lost},
	} {
		gauge("flowbus_dead_letter_"+c.what+"_15m", c.help+", in the last 15 minutes.", nil, float64(c.n))
		gauge("flowbus_dead_letter_"+c.what+"_total", c.help+", since the store began.", nil, float64(c.total))
	}
	for _, q := range []struct {
		q string
		v float64
	}{{"0.5", s.Latency.P50}, {"0.95", s.Latency.P95}, {"0.99", s.Latency.P99}} {
		gauge("flowbus_publish_to_store_latency_seconds", "Publish-to-store latency over the last 15 minutes.", map[string]string{"quantile": q.q}, q.v/1000)
	}
	gauge("flowbus_store_events", "Events in the event store.", nil, float64(s.Store.Events))
	gauge("flowbus_store_bytes", "Bytes of events in the event store.", nil, float64(s.Store.Bytes))
	for _, w := range s.Store.Top {
		gauge("flowbus_workflow_bytes", "Bytes of the largest workflows.", map[string]string{"workflow_id": w.WorkflowID}, float64(w.Bytes))
		gauge("flowbus_workflow_events", "Events of the largest workflows.", map[string]string{"workflow_id": w.WorkflowID}, float64(w.Events))
	}
	for _, l := range s.Lag {
		gauge("flowbus_consumer_lag_records", "Records after the consumer's last stored one.", map[string]string{"shard": l.Shard}, float64(l.Records))
		gauge("flowbus_consumer_lag_milliseconds", "Age of the oldest record not yet stored.", map[string]string{"shard": l.Shard}, float64(l.Milliseconds))
	}
	for _, f := range s.Subscriptions {
		sub := map[string]string{"subscription": f.Name}
		for _, c := range []struct {
			what, help string
			n          int64
		}{
			{"matched", "Events routed to the subscription", f.Matched},
			{"delivered", "Events delivered to the subscription's target", f.Delivered},
			{"retrying", "Delivery attempts that were to be retried", f.Retrying},
			{"dead_lettered", "Events put in the subscription's dead-letter place", f.DeadLettered},
			{"hop_limited", "Derived events stopped at the hop limit", f.HopLimited},
			{"budget_limited", "Derived events refused: their root event's budget of derived events was spent", f.BudgetLimited},
		} {
			gauge("flowbus_subscription_"+c.what+"_total", c.help+", since it was created.", sub, float64(c.n))
		}
		for _, q := range []struct {
			q  string
			ms float64
		}{{"0.5", f.LatencyP50Ms}, {"0.99", f.LatencyP99Ms}} {
			gauge("flowbus_subscription_delivery_latency_seconds", "Publish-to-delivered latency over the last hour.",
				map[string]string{"subscription": f.Name, "quantile": q.q}, q.ms/1000)
		}
	}
	for _, u := range s.Unavailable {
		gauge("flowbus_snapshot_part_unavailable", "1 for a part of the snapshot that could not be computed.", map[string]string{"part": u.Part}, 1)
	}
	return out
}
