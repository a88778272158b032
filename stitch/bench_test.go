package stitch_test

import (
	"os"
	"runtime"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/omnistitch/omnistitch/bench/gen"
	"github.com/omnistitch/omnistitch/internal/config"
	"github.com/omnistitch/omnistitch/state"
	"github.com/omnistitch/omnistitch/stitch"
	"github.com/omnistitch/omnistitch/stitch/event"
)

// The realistic workload: generated omnichannel traffic (mostly known
// customers, 1–3 identifiers per event, phone and e-mail variants, junk
// identifiers, shared tablets, late uploads, redeliveries), 20 events per
// customer.
func workload(b *testing.B, customers, perCustomer int) (lines [][]byte, evs []event.Event) {
	b.Helper()
	cfg := config.Default()
	dec := event.NewDecoder(cfg.Input.MaxEventBytes, cfg.Input.Channels)
	g := gen.New(gen.Options{Seed: 1, Customers: customers, Events: customers * perCustomer, MalformedShare: -1})
	for {
		r, ok := g.Next()
		if !ok {
			break
		}
		ev, err := dec.Decode(r.Line)
		if err != nil {
			continue
		}
		lines = append(lines, r.Line)
		evs = append(evs, ev)
	}
	return lines, evs
}

// BenchmarkEngine applies pre-decoded events in batches of benchBatch to a
// Pebble store on disk. Run with -cpu=1 for the single-core figure.
// Sub-benchmarks: "new" has 20 events per person, so a third of the
// identifiers are first sightings (parsed, created); "steady" has 100, the
// mix of a service that has run for a while.
func BenchmarkEngine(b *testing.B) {
	b.Run("new", func(b *testing.B) { benchEngine(b, 20000, 20) })
	b.Run("steady", func(b *testing.B) { benchEngine(b, 4000, 100) })
}

// BenchmarkRulesOverhead is the engine on the steady workload without
// trigger rules and with the default rules and segments: the cost the rules
// add per event (issue 5 allows 25%). Run with -cpu=1. The "20k" pair has
// five times the people and events (2,000,000 per round, about a minute):
// Pebble's compactions then rewrite more stored data per byte written, and
// the rules' extra keys cost more than at 4,000.
func BenchmarkRulesOverhead(b *testing.B) {
	b.Run("none", func(b *testing.B) { benchEngineRules(b, 4000, 100, false) })
	b.Run("default", func(b *testing.B) { benchEngineRules(b, 4000, 100, true) })
	b.Run("none-20k", func(b *testing.B) { benchEngineRules(b, 20000, 100, false) })
	b.Run("default-20k", func(b *testing.B) { benchEngineRules(b, 20000, 100, true) })
}

func benchEngine(b *testing.B, customers, perCustomer int) {
	benchEngineRules(b, customers, perCustomer, true)
}

func benchEngineRules(b *testing.B, customers, perCustomer int, withRules bool) {
	_, evs := workload(b, customers, perCustomer)
	benchApplyRules(b, len(evs), withRules, func(eng *stitch.Engine) {
		for i := 0; i < len(evs); i += benchBatch {
			if _, err := eng.Apply(evs[i:min(i+benchBatch, len(evs))]); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkEngineWithDecode adds canonical JSON decoding, as the offline
// command and the service pay it.
func BenchmarkEngineWithDecode(b *testing.B) {
	lines, _ := workload(b, 20000, 20)
	dec := event.NewDecoder(1<<20, nil)
	batch := make([]event.Event, 0, 1024)
	benchApply(b, len(lines), func(eng *stitch.Engine) {
		for i, l := range lines {
			ev, err := dec.Decode(l)
			if err != nil {
				b.Fatal(err)
			}
			batch = append(batch, ev)
			if len(batch) == benchBatch || i == len(lines)-1 {
				if _, err := eng.Apply(batch); err != nil {
					b.Fatal(err)
				}
				batch = batch[:0]
			}
		}
	})
}

func benchApply(b *testing.B, events int, run func(*stitch.Engine)) {
	benchApplyRules(b, events, true, run)
}

func benchApplyRules(b *testing.B, events int, withRules bool, run func(*stitch.Engine)) {
	cfg := config.Default()
	var ms0, ms1 runtime.MemStats
	var mallocs uint64
	var diskPerCustomer float64
	var cpu time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		store, err := state.Open(b.TempDir(), state.Options{
			CustomerCache: cfg.State.CustomerCache, IdentifierCache: cfg.State.IdentifierCache, BlockCacheBytes: int64(cfg.State.BlockCacheMB) << 20})
		if err != nil {
			b.Fatal(err)
		}
		eng, err := stitch.New(cfg, store)
		if !withRules {
			eng, err = stitch.NewWithRules(cfg, store, nil)
		}
		if err != nil {
			b.Fatal(err)
		}
		runtime.ReadMemStats(&ms0)
		cpu0 := cpuTime(b)
		b.StartTimer()
		run(eng)
		b.StopTimer()
		runtime.ReadMemStats(&ms1)
		mallocs += ms1.Mallocs - ms0.Mallocs
		if err := store.Settle(time.Minute); err != nil {
			b.Fatal(err)
		}
		cpu += cpuTime(b) - cpu0
		customers := 0
		if err := store.Customers(func(*state.Customer) error { customers++; return nil }); err != nil {
			b.Fatal(err)
		}
		diskPerCustomer = float64(store.DiskBytes()) / float64(customers)
		if err := store.Close(); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
	}
	b.StopTimer()
	total := float64(events) * float64(b.N)
	b.ReportMetric(total/b.Elapsed().Seconds(), "events/s")
	b.ReportMetric(float64(mallocs)/total, "allocs/event")
	// The process's CPU time (user and system, every thread: Pebble's
	// flushes and the compactions the writes caused, waited for) per
	// event: the cost per event, steadier than the wall clock on a shared
	// machine, where other tenants take turns on the cores.
	b.ReportMetric(float64(cpu.Nanoseconds())/total/1000, "cpu-µs/event")
	b.ReportMetric(diskPerCustomer, "state-B/customer")
	b.ReportMetric(0, "ns/op")
}

// cpuTime is the CPU time the process has used so far.
func cpuTime(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// benchBatch is the events per atomic commit: what the service applies at
// once under load. Measured (bench/RESULTS.md, 2026-12-06): 16,289–18,099
// records per batch on average at 30,000 people, the aligner's horizon
// ending most batches before kafka.max_poll_records (25,000). Until then
// it was 4,096, a guess; OMNISTITCH_BENCH_BATCH sets another size.
var benchBatch = func() int {
	if n, err := strconv.Atoi(os.Getenv("OMNISTITCH_BENCH_BATCH")); err == nil && n > 0 {
		return n
	}
	return 16384
}()
