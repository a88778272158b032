package main

import (
	"math"
	"runtime/debug"
	"testing"

	"github.com/twmb/franz-go/pkg/kgo"
)

// The bench raises a configured heap limit by the harness's heap (and,
// producing at a rate, by twice the records still to reach the broker);
// without a limit it sets none.
func TestRaiseHeapLimit(t *testing.T) {
	defer debug.SetMemoryLimit(debug.SetMemoryLimit(math.MaxInt64))
	raw := []*kgo.Record{{Topic: "t", Key: []byte("k"), Value: make([]byte, 1<<20)}}
	if limit, harness := raiseHeapLimit(raw, true); limit != 0 || harness != 0 || debug.SetMemoryLimit(-1) != math.MaxInt64 {
		t.Fatalf("without a limit: %d, %d, limit now %d", limit, harness, debug.SetMemoryLimit(-1))
	}
	debug.SetMemoryLimit(384 << 20)
	limit, harness := raiseHeapLimit(raw, true)
	if limit != 384<<20 || harness < 2<<20 {
		t.Fatalf("limit %d, harness %d; want 384 MiB and at least twice the 1 MiB record", limit, harness)
	}
	if got := debug.SetMemoryLimit(-1); got != limit+harness {
		t.Fatalf("limit now %d, want %d", got, limit+harness)
	}
}
