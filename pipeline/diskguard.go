package pipeline

import (
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
)

// DiskGuard watches the free space of the filesystem holding the state
// directory. A commit that finds the disk full fails and stops the service;
// pausing consumption while space is short (Options.DiskLow = Low) leaves
// room for the sinks to drain the outboxes (their acknowledgements delete
// from the store) and for Pebble to compact, and resumes by itself once an
// operator frees space.
type DiskGuard struct {
	dir  string
	min  uint64
	free atomic.Uint64 // last measured, for the metric
}

// NewDiskGuard guards dir, keeping minFree bytes free; 0 disables the
// guard (Low is then always false).
func NewDiskGuard(dir string, minFree uint64) *DiskGuard {
	return &DiskGuard{dir: dir, min: minFree}
}

// Low reports whether the filesystem has less than the minimum free. It
// asks the kernel each time (one statfs, about a microsecond), so space
// freed by an operator is seen at the next poll. When the free space cannot
// be measured it reports false: a guard that cannot see must not stop the
// service; a full disk still fails the commit, loudly.
func (g *DiskGuard) Low() bool {
	if g.min == 0 {
		return false
	}
	free, ok := freeBytes(g.dir)
	if !ok {
		return false
	}
	g.free.Store(free)
	return free < g.min
}

// Register adds omnistitch_state_disk_free_bytes to reg.
func (g *DiskGuard) Register(reg prometheus.Registerer) {
	reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "omnistitch_state_disk_free_bytes",
		Help: "Free bytes on the filesystem holding the state directory; below state.min_free_mb consumption pauses.",
	}, func() float64 {
		if free, ok := freeBytes(g.dir); ok {
			return float64(free)
		}
		return float64(g.free.Load())
	}))
}
