//go:build race

package stitch_test

// raceEnabled: the race detector slows the engine about tenfold and makes
// Pebble keep its caches on the Go heap (its invariant checks), so the
// hostile tests run smaller and leave heap figures to the normal build.
const raceEnabled = true
