package main

import (
	"context"
	"io"
	"math"
	"runtime/debug"
	"slices"
	"testing"

	"github.com/omnistitch/omnistitch/bench/gen"
	"github.com/twmb/franz-go/pkg/kgo"
)

// The bench raises a configured heap limit by the harness's heap and twice
// the records still to reach the broker; without a limit it sets none.
func TestRaiseHeapLimit(t *testing.T) {
	defer debug.SetMemoryLimit(debug.SetMemoryLimit(math.MaxInt64))
	raw := []*kgo.Record{{Topic: "t", Key: []byte("k"), Value: make([]byte, 1<<20)}}
	if limit, harness := raiseHeapLimit(raw); limit != 0 || harness != 0 || debug.SetMemoryLimit(-1) != math.MaxInt64 {
		t.Fatalf("without a limit: %d, %d, limit now %d", limit, harness, debug.SetMemoryLimit(-1))
	}
	debug.SetMemoryLimit(384 << 20)
	limit, harness := raiseHeapLimit(raw)
	if limit != 384<<20 || harness < 2<<20 {
		t.Fatalf("limit %d, harness %d; want 384 MiB and at least twice the 1 MiB record", limit, harness)
	}
	if got := debug.SetMemoryLimit(-1); got != limit+harness {
		t.Fatalf("limit now %d, want %d", got, limit+harness)
	}
}

// The truth the bench scores against keeps every scored record (valid,
// first delivery) with its event id and group, and no other.
func TestTruthTable(t *testing.T) {
	in := []gen.Record{
		{EventID: "e1", Valid: true, Truth: 3},
		{EventID: "e1", Valid: true, Dup: true, Truth: -1},
		{EventID: "", Valid: false, Truth: -1},
		{EventID: "e22", Valid: true, Truth: 0},
	}
	tt := newTruthTable(len(in))
	for i := range in {
		tt.add(&in[i])
	}
	got := tt.records()
	want := []gen.Record{{EventID: "e1", Valid: true, Truth: 3}, {EventID: "e22", Valid: true, Truth: 0}}
	if !slices.EqualFunc(got, want, func(a, b gen.Record) bool {
		return a.EventID == b.EventID && a.Valid == b.Valid && a.Dup == b.Dup && a.Truth == b.Truth
	}) {
		t.Fatalf("records %+v, want %+v", got, want)
	}
	if eventHash("e1") == eventHash("e22") || eventHash("a") != 0xaf63dc4c8601ec8c { // FNV-1a of "a"
		t.Fatal("eventHash is not FNV-1a or does not tell the ids apart")
	}
}

// The allowance grows with the broker's log: every trigger byte read, and
// the dead letters' bytes pro rata, never past those the traffic holds.
func TestHarnessAllowance(t *testing.T) {
	h := &harnessAllowance{base: 1000, deadBytes: 500, deadN: 10}
	for _, c := range []struct{ trig, dead, want int64 }{
		{0, 0, 1000}, {0, 4, 1200}, {300, 10, 1800}, {300, 25, 1800},
	} {
		h.triggers.Store(c.trig)
		if got := h.bytes(c.dead); got != c.want {
			t.Errorf("triggers %d B, %d dead letters: %d, want %d", c.trig, c.dead, got, c.want)
		}
	}
}

// Under a heap limit the bench reports the service's limit and the
// harness's allowance beside it, and leaves the limit as it found it (the
// allowance changes while it runs).
func TestBenchUnderHeapLimit(t *testing.T) {
	defer debug.SetMemoryLimit(debug.SetMemoryLimit(384 << 20))
	res, err := runBench(context.Background(), io.Discard, benchOptions{customers: 300, sink: "none", partitions: 2, seed: 3})
	if err != nil {
		t.Fatal(err)
	}
	if res.HeapLimitBytes != 384<<20 || res.HarnessHeapBytes <= 0 {
		t.Fatalf("limit %d, harness %d", res.HeapLimitBytes, res.HarnessHeapBytes)
	}
	if got := debug.SetMemoryLimit(-1); got != 384<<20 {
		t.Fatalf("limit after the bench %d, want 384 MiB", got)
	}
}
