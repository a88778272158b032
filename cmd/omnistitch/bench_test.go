package main

import (
	"context"
	"io"
	"testing"
)

// The bench end to end on a small crowd: it consumes every record, scores
// the stitching against the truth after the generator's copies of the
// traffic are dropped, reports the no-op consumer beside it and the
// latency of the triggers.
func TestBenchSmallRun(t *testing.T) {
	res, err := runBench(context.Background(), io.Discard, benchOptions{customers: 300, sink: "none", partitions: 2, seed: 3})
	if err != nil {
		t.Fatal(err)
	}
	if res.Records == 0 || res.Applied == 0 || res.DeadLetters == 0 {
		t.Fatalf("records %d, applied %d, dead letters %d: want all above 0", res.Records, res.Applied, res.DeadLetters)
	}
	if res.Accuracy.F1 < 0.99 || res.Customers == 0 {
		t.Fatalf("F1 %.4f over %d customers, want ≥ 0.99", res.Accuracy.F1, res.Customers)
	}
	if res.EventsPerS <= 0 || res.NoopConsumeEventsPerS <= 0 {
		t.Fatalf("events/s %.0f, no-op %.0f", res.EventsPerS, res.NoopConsumeEventsPerS)
	}
	// Triggers are matched to their events' produce times by event id.
	if res.TriggerLatencyMS.N == 0 || res.TriggerLatencyMS.P99 <= 0 {
		t.Fatalf("trigger latency %+v: want samples", res.TriggerLatencyMS)
	}
}
