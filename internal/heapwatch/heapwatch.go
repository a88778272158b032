// Package heapwatch tells the operator when the Go heap's soft limit
// (state.heap_limit_mb, or GOMEMLIMIT) is too tight for what the service
// keeps live.
//
// Near its limit the collector runs every few tens of MB allocated instead
// of once the heap has doubled, and the service allocates ~4 KB per record:
// at 100,000 customers with the ClickHouse sink the default 384 MiB held a
// live heap of ~330 MiB, and the service ran at half its speed with nothing
// in the log to say why (bench/RESULTS.md). The watcher reads the runtime's
// own figures — the heap live after the last collection, the limit, the
// collector's CPU — exports them, and logs a warning while the live heap is
// over half the limit (docs/operations.md: keep the limit at least twice
// the live heap). It only reads; it never changes the limit.
package heapwatch

import (
	"context"
	"log/slog"
	"math"
	"runtime/metrics"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Sample is what the runtime reports at one moment.
type Sample struct {
	Live    uint64  // heap bytes live after the last collection
	Limit   int64   // the soft memory limit in bytes; math.MaxInt64: none
	GCCPU   float64 // CPU seconds spent collecting, since the process started
	UsedCPU float64 // CPU seconds the Go code and runtime used, since the process started
}

// Limited reports whether a soft memory limit is set.
func (s Sample) Limited() bool { return s.Limit > 0 && s.Limit != math.MaxInt64 }

// Tight reports whether the live heap is over half the limit.
func (s Sample) Tight() bool { return s.Limited() && s.Live > uint64(s.Limit)/2 }

var names = [...]string{
	"/gc/heap/live:bytes",
	"/gc/gomemlimit:bytes",
	"/cpu/classes/gc/total:cpu-seconds",
	"/cpu/classes/total:cpu-seconds",
	"/cpu/classes/idle:cpu-seconds",
}

// Read samples the runtime. A metric this Go release does not know reads
// as zero (KindBad), which leaves the watcher quiet rather than wrong.
func Read() Sample {
	var ms [len(names)]metrics.Sample
	for i, n := range names {
		ms[i].Name = n
	}
	metrics.Read(ms[:])
	u := func(i int) uint64 {
		if ms[i].Value.Kind() == metrics.KindUint64 {
			return ms[i].Value.Uint64()
		}
		return 0
	}
	f := func(i int) float64 {
		if ms[i].Value.Kind() == metrics.KindFloat64 {
			return ms[i].Value.Float64()
		}
		return 0
	}
	limit := int64(math.MaxInt64)
	if l := u(1); l > 0 && l < math.MaxInt64 {
		limit = int64(l)
	}
	return Sample{Live: u(0), Limit: limit, GCCPU: f(2), UsedCPU: f(3) - f(4)}
}

// Options configure a Watcher; zero values take the defaults.
type Options struct {
	Logger *slog.Logger
	Every  time.Duration // how often Run looks; default 30 s
	Quiet  time.Duration // least time between two warnings; default 10 min
	Read   func() Sample // default Read; tests give their own
}

// Watcher logs when the heap's limit is too tight; see the package doc.
type Watcher struct {
	o Options

	mu     sync.Mutex
	last   Sample    // the previous look's sample, for the collector's share
	looked bool      // last is set
	warned time.Time // last warning; zero: none while the heap is tight
}

// New returns a watcher; Run starts it.
func New(o Options) *Watcher {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Every <= 0 {
		o.Every = 30 * time.Second
	}
	if o.Quiet <= 0 {
		o.Quiet = 10 * time.Minute
	}
	if o.Read == nil {
		o.Read = Read
	}
	return &Watcher{o: o}
}

// Run looks every Options.Every until ctx ends.
func (w *Watcher) Run(ctx context.Context) {
	t := time.NewTicker(w.o.Every)
	defer t.Stop()
	w.Look(time.Now())
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			w.Look(now)
		}
	}
}

// Look samples the runtime once, at now, and logs what has changed: a
// warning when the live heap is over half the limit (again after
// Options.Quiet while it stays so), a note when it is back under.
func (w *Watcher) Look(now time.Time) {
	s := w.o.Read()
	w.mu.Lock()
	defer w.mu.Unlock()
	share := -1.0 // unknown on the first look
	if w.looked && s.UsedCPU > w.last.UsedCPU {
		share = (s.GCCPU - w.last.GCCPU) / (s.UsedCPU - w.last.UsedCPU)
	}
	w.last, w.looked = s, true
	switch {
	case s.Tight():
		if !w.warned.IsZero() && now.Sub(w.warned) < w.o.Quiet {
			return
		}
		w.warned = now
		args := []any{"live_mib", mib(s.Live), "limit_mib", mib(uint64(s.Limit))}
		if share >= 0 {
			args = append(args, "gc_cpu_share", math.Round(share*100)/100)
		}
		w.o.Logger.Warn("the Go heap's live data is over half its soft limit, so the collector runs often and "+
			"slows processing: raise state.heap_limit_mb (or GOMEMLIMIT) to at least twice the live heap, "+
			"or make the caches smaller", args...)
	case !w.warned.IsZero():
		w.warned = time.Time{}
		w.o.Logger.Info("the Go heap's live data is back under half its soft limit",
			"live_mib", mib(s.Live), "limit_mib", mib(uint64(max(s.Limit, 0))))
	}
}

func mib(b uint64) float64 { return math.Round(float64(b)/(1<<20)*10) / 10 }

// Register adds the runtime's figures the watcher reads to reg, read at
// each scrape: the live heap, the limit and the collector's CPU.
func (w *Watcher) Register(reg prometheus.Registerer) {
	reg.MustRegister(
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "omnistitch_heap_live_bytes",
			Help: "Go heap bytes live after the last garbage collection (keep state.heap_limit_mb at least twice this).",
		}, func() float64 { return float64(w.o.Read().Live) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "omnistitch_heap_limit_bytes",
			Help: "The Go runtime's soft memory limit (state.heap_limit_mb or GOMEMLIMIT); 0: none.",
		}, func() float64 {
			if s := w.o.Read(); s.Limited() {
				return float64(s.Limit)
			}
			return 0
		}),
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "omnistitch_gc_cpu_seconds_total",
			Help: "CPU time the Go garbage collector used (the runtime's estimate; compare with omnistitch_go_cpu_seconds_total).",
		}, func() float64 { return w.o.Read().GCCPU }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "omnistitch_go_cpu_seconds_total",
			Help: "CPU time the Go code and runtime used, as the runtime estimates it (the base of the collector's share).",
		}, func() float64 { return w.o.Read().UsedCPU }),
	)
}
