package main

import (
	"context"
	"io"
	"testing"
)

// The bench end to end on a small crowd: it consumes every record, scores
// the stitching against the truth after the generator's copies of the
// traffic are dropped, and reports the no-op consumer beside it.
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
}
