package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kgo"
	"golang.org/x/term"

	"github.com/omnistitch/omnistitch/bench/gen"
	"github.com/omnistitch/omnistitch/internal/config"
	"github.com/omnistitch/omnistitch/pipeline"
	"github.com/omnistitch/omnistitch/pipeline/source"
	"github.com/omnistitch/omnistitch/state"
	"github.com/omnistitch/omnistitch/stitch"
	"github.com/omnistitch/omnistitch/stitch/rules"
)

type benchOptions struct {
	cfgPath    string
	events     int
	customers  int
	rate       int
	sink       string
	jsonPath   string
	brokers    string
	chAddr     string
	seed       uint64
	partitions int
	eventsOut  string
	cpuProfile string
	memProfile string
}

func benchCmd() *cobra.Command {
	var o benchOptions
	cmd := &cobra.Command{
		Use:   "bench [--events N] [--customers N] [--rate R] [--sink none|clickhouse] [--json FILE]",
		Short: "Measure the whole pipeline on generated omnichannel traffic with ground truth",
		Long: `Generates omnichannel traffic with known ground truth (bench/gen), produces it in the source
systems' raw formats to a Kafka-protocol broker (in-process by default; --brokers for a real
cluster, whose input topics must be empty), runs the full service over it and reports:

  events_per_s               records consumed per second (with --sink clickhouse: until every
                             row is also written to ClickHouse)
  noop_consume_events_per_s  a no-op franz-go consumer over the same records on the same broker,
                             in the same run: the ratio holds on a noisy machine
  latency_ms.p50, .p99       produce → state committed, per record (meaningful with --rate;
                             without it everything is produced first and waits in the topics)
  accuracy.precision/recall/f1  pairwise stitching accuracy against the generator's truth
  peak_rss_bytes             the process's peak resident memory (generator included)

Without --rate, all traffic is produced first and then consumed as fast as possible; with
--rate R it is produced at R records/s while the service consumes it.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if o.sink != "none" && o.sink != "clickhouse" {
				return fmt.Errorf("bench: --sink must be none or clickhouse, got %q", o.sink)
			}
			if o.customers < 1 || o.events < 0 || o.rate < 0 || o.partitions < 1 {
				return errors.New("bench: --customers and --partitions must be positive, --events and --rate not negative")
			}
			if o.eventsOut == "-" {
				// The traffic is the output: the summary goes to stderr.
				return writeEvents(cmd.OutOrStdout(), cmd.ErrOrStderr(), o)
			}
			if o.eventsOut != "" {
				return writeEvents(nil, cmd.OutOrStdout(), o)
			}
			res, err := runBench(cmd.Context(), cmd.OutOrStdout(), o)
			if err != nil {
				return err
			}
			if o.jsonPath != "" {
				b, _ := json.MarshalIndent(res, "", "  ")
				if err := os.WriteFile(o.jsonPath, append(b, '\n'), 0o644); err != nil {
					return err
				}
				fmt.Fprintf(cmd.OutOrStdout(), "JSON written to %s\n", o.jsonPath)
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.cfgPath, "config", "", "configuration file (default: the built-in configs/omnistitch.yaml)")
	f.IntVar(&o.events, "events", 0, "approximate number of valid events (default 20 per customer)")
	f.IntVar(&o.customers, "customers", 10000, "real persons in the traffic")
	f.IntVar(&o.rate, "rate", 0, "produce at this many records/s while consuming (0: produce everything first)")
	f.StringVar(&o.sink, "sink", "none", "none (state and Kafka only) or clickhouse (also write ClickHouse; database emptied first)")
	f.StringVar(&o.jsonPath, "json", "", "write the results as JSON to this file")
	f.StringVar(&o.brokers, "brokers", "", "a real Kafka cluster, host:port,… (default: an in-process broker)")
	f.StringVar(&o.chAddr, "clickhouse", "", "ClickHouse native host:port for --sink clickhouse (default: clickhouse.addr)")
	f.Uint64Var(&o.seed, "seed", 1, "generator seed (same seed, same traffic)")
	f.IntVar(&o.partitions, "partitions", 4, "partitions per topic of the in-process broker")
	f.StringVar(&o.cpuProfile, "cpuprofile", "", "write a CPU profile of the measured phase (consuming) to this file, for go tool pprof")
	f.StringVar(&o.memProfile, "memprofile", "", "write a heap profile taken as the measured phase ends to this file, for go tool pprof")
	f.StringVar(&o.eventsOut, "events-out", "", "only write the generated traffic as canonical events (JSON lines, for omnistitch stitch) to this file; - for stdout")
	return cmd
}

// writeEvents streams the generated traffic to a file as canonical event
// lines: input for `omnistitch stitch`, which measures the engine alone
// (its memory without a broker's copy of the traffic or the truth held for
// scoring). The generator keeps only its people in memory.
//
// With stdout set (--events-out -), the events go there instead of a file,
// so that they can be piped into omnistitch stitch without a file as large
// as the traffic.
func writeEvents(stdout, w io.Writer, o benchOptions) error {
	var out io.Writer = stdout
	var f *os.File
	if stdout == nil {
		var err error
		if f, err = os.Create(o.eventsOut); err != nil {
			return err
		}
		out = f
	}
	bw := bufio.NewWriterSize(out, 1<<20)
	g := gen.New(gen.Options{Seed: o.seed, Customers: o.customers, Events: o.events})
	n := 0
	for {
		r, ok := g.Next()
		if !ok {
			break
		}
		bw.Write(r.Line)
		bw.WriteByte('\n')
		n++
	}
	err := bw.Flush()
	if f != nil {
		if cerr := f.Close(); err == nil {
			err = cerr
		}
	}
	if err != nil {
		return err
	}
	to := o.eventsOut
	if stdout != nil {
		to = "stdout"
	}
	fmt.Fprintf(w, "%d lines of %d people written to %s\n", n, o.customers, to)
	return nil
}

// benchResult is the JSON output; the SPEC names the keys.
type benchResult struct {
	EventsPerS            float64 `json:"events_per_s"`
	NoopConsumeEventsPerS float64 `json:"noop_consume_events_per_s"`
	RatioToNoop           float64 `json:"ratio_to_noop"`
	LatencyMS             struct {
		P50 float64 `json:"p50"`
		P99 float64 `json:"p99"`
	} `json:"latency_ms"`
	Accuracy struct {
		Precision float64 `json:"precision"`
		Recall    float64 `json:"recall"`
		F1        float64 `json:"f1"`
	} `json:"accuracy"`
	// Produce of the causing event → trigger on its topic, for triggers an
	// event fires (absences fire when their window ends, not on an event).
	TriggerLatencyMS struct {
		P50 float64 `json:"p50"`
		P99 float64 `json:"p99"`
		N   int     `json:"n"`
	} `json:"trigger_latency_ms"`
	PeakRSSBytes          int64   `json:"peak_rss_bytes"`
	StateBytesPerCustomer float64 `json:"state_bytes_per_customer"`
	Records               int     `json:"records"`
	Applied               int64   `json:"events_applied"`
	DeadLetters           int64   `json:"dead_letters"`
	People                int     `json:"people"`
	Customers             int     `json:"customers"`
	Sink                  string  `json:"sink"`
	Rate                  int     `json:"rate"`
	Seconds               float64 `json:"seconds"`
	GOMAXPROCS            int     `json:"gomaxprocs"`
	// The service's soft memory limit (state.heap_limit_mb; 0: none) and
	// what was added to it for the harness in the same process (see
	// raiseHeapLimit).
	HeapLimitBytes   int64 `json:"heap_limit_bytes"`
	HarnessHeapBytes int64 `json:"harness_heap_bytes"`
}

// writeHeapProfile writes the heap as of the last collection to file.
func writeHeapProfile(file string) error {
	f, err := os.Create(file)
	if err != nil {
		return err
	}
	if err := pprof.Lookup("heap").WriteTo(f, 0); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// harnessAllowance is the heap the bench's harness takes beside the
// service: base when the service starts, then what the broker's log gains.
type harnessAllowance struct {
	base             int64
	deadBytes, deadN int64        // the dead letters to come: their bytes and number
	triggers         atomic.Int64 // trigger bytes read by the watcher
}

// bytes is the allowance once the service has sent deadLetters dead
// letters (their bytes pro rata, as many as the traffic holds at most).
func (h *harnessAllowance) bytes(deadLetters int64) int64 {
	a := h.base + h.triggers.Load()
	if h.deadN > 0 {
		a += h.deadBytes * min(max(deadLetters, 0), h.deadN) / h.deadN
	}
	return a
}

// deadLetterHeaderBytes is an allowance for a dead letter's headers (the
// error, its reason, where the record came from).
const deadLetterHeaderBytes = 256

// raiseHeapLimit adds the harness's heap to the soft memory limit, if one
// is set (state.heap_limit_mb or GOMEMLIMIT), and returns the service's
// limit and the amount added. The limit is the service's budget, but here
// the generated traffic, the truth kept for scoring and the in-process
// broker's copy of every record share its heap: under the service's limit
// alone the collector runs without pause (a third of the events/s, and the
// no-op consumer's figure a quarter) and the bench measures itself. raw
// are the records still to produce (rate mode): the broker's copy of them
// arrives during the run, counted as twice their bytes.
func raiseHeapLimit(raw []*kgo.Record) (limit, harness int64) {
	limit = debug.SetMemoryLimit(-1)
	if limit == math.MaxInt64 {
		return 0, 0
	}
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	harness = int64(ms.HeapAlloc)
	for _, r := range raw { // still to produce (rate mode): the client copies them
		harness += 2 * int64(len(r.Key)+len(r.Value)+len(r.Topic))
	}
	debug.SetMemoryLimit(limit + harness)
	return limit, harness
}

func runBench(ctx context.Context, w io.Writer, o benchOptions) (*benchResult, error) {
	if ctx == nil {
		ctx = context.Background()
	}
	cfg, err := loadConfig(o.cfgPath)
	if err != nil {
		return nil, err
	}
	if o.sink == "none" {
		cfg.ClickHouse.Addr = ""
	} else {
		if o.chAddr != "" {
			cfg.ClickHouse.Addr = o.chAddr
		}
		if err := resetDatabase(ctx, &cfg.ClickHouse); err != nil {
			return nil, err
		}
	}
	dir, err := os.MkdirTemp("", "omnistitch-bench-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	cfg.State.Dir = filepath.Join(dir, "state")
	cfg.HTTP.Addr = ""
	cfg.Kafka.Group = fmt.Sprintf("omnistitch-bench-%d", time.Now().UnixNano())

	fmt.Fprintf(w, "Generating traffic of %d people (seed %d)…\n", o.customers, o.seed)
	recs := gen.All(gen.Options{Seed: o.seed, Customers: o.customers, Events: o.events})
	raw := make([]*kgo.Record, 0, len(recs))
	// The harness shares the service's heap, and the collector marks all
	// of it in every cycle: what it keeps while the service runs holds no
	// pointers (a table of the truth, produce times by record, event ids
	// by hash), so that marking skips it.
	byEvent := make(map[uint64]int32, len(recs)) // event id hash → index in raw, for trigger latency
	truth := newTruthTable(len(recs))
	var deadBytes, deadN int64 // what the dead letters will add to the broker's log
	for i, r := range recs {
		truth.add(&r)
		topic, value, err := gen.RawLine(r.Line)
		if err != nil {
			continue // an empty line: nothing to send
		}
		if !r.Valid {
			deadBytes += int64(len(value)) + deadLetterHeaderBytes
			deadN++
		}
		kr := &kgo.Record{Topic: topic, Key: strconv.AppendInt(nil, int64(i), 10), Value: value}
		if r.Valid && !r.Dup {
			byEvent[eventHash(r.EventID)] = int32(len(raw))
		}
		raw = append(raw, kr)
	}
	recs = nil
	n := len(raw)
	producedAt := make([]int64, n) // unix ns; written by the producer, read by watchTriggers (atomic)
	// Allocated before the harness's heap is measured, so that it counts.
	lat := make([]float64, 0, n) // ms, one per record; appended on the consume loop only

	brokers := strings.Split(o.brokers, ",")
	if o.brokers == "" {
		topics := append([]string{cfg.Kafka.EventsTopic, cfg.Kafka.DeadLetterTopic}, triggerTopics(cfg)...)
		for _, m := range source.Default() {
			topics = append(topics, m.Topic())
		}
		b, err := pipeline.StartBroker(0, int32(o.partitions), topics...)
		if err != nil {
			return nil, err
		}
		defer b.Close()
		brokers = b.Addrs()
	}
	cfg.Kafka.Brokers = brokers
	res := &benchResult{Records: n, People: o.customers, Sink: o.sink, Rate: o.rate, GOMAXPROCS: runtime.GOMAXPROCS(0)}

	if o.rate == 0 {
		fmt.Fprintf(w, "Producing %d records to %s…\n", n, strings.Join(brokers, ","))
		if err := produceAll(ctx, brokers, raw, 0, producedAt); err != nil {
			return nil, err
		}
		// The traffic is in the broker now: the generator's copies go, so
		// that the harness takes as little of the heap as it can (what
		// remains — the truth, the broker — is added to the limit below).
		raw = nil
		res.HeapLimitBytes, res.HarnessHeapBytes = raiseHeapLimit(nil)
		if res.NoopConsumeEventsPerS, err = noopConsume(ctx, cfg, n); err != nil {
			return nil, err
		}
	} else {
		res.HeapLimitBytes, res.HarnessHeapBytes = raiseHeapLimit(raw)
	}
	if res.HeapLimitBytes > 0 {
		defer debug.SetMemoryLimit(res.HeapLimitBytes)
	}
	// The broker's log grows while the service runs, by the dead letters
	// and triggers it produces; that too is the harness's, not the
	// service's (a real broker keeps it elsewhere). Counted as they come,
	// as the watcher reads them: uncompressed, which overstates the
	// broker's compressed copy, in the service's favour rather than
	// against it (the allowance was ~100 MB short at 100,000 customers).
	allow := &harnessAllowance{base: res.HarnessHeapBytes, deadBytes: deadBytes, deadN: deadN}
	grow := func(deadLetters int64) {
		if a := allow.bytes(deadLetters); res.HeapLimitBytes > 0 && a > res.HarnessHeapBytes+1<<20 {
			res.HarnessHeapBytes = a
			debug.SetMemoryLimit(res.HeapLimitBytes + a)
		}
	}

	// The trigger watcher connects first: a consumer still connecting
	// would add its start-up to the first triggers' latency. The clock
	// starts before the service does, as the no-op consumer's does before
	// it joins its group: in rate-0 mode everything is in the broker
	// already, and the service applies from its first poll.
	set, err := stitch.LoadRules(cfg)
	if err != nil {
		return nil, err
	}
	trigLat := make(chan []float64, 1)
	trigCtx, stopTrig := context.WithCancel(ctx)
	defer stopTrig()
	watching := make(chan struct{})
	var trigSeen atomic.Int64
	go func() {
		trigLat <- watchTriggers(trigCtx, brokers, set, byEvent, producedAt, &trigSeen, &allow.triggers, watching)
	}()
	select {
	case <-watching:
	case <-time.After(10 * time.Second):
	}
	if o.cpuProfile != "" {
		f, err := os.Create(o.cpuProfile)
		if err != nil {
			return nil, err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return nil, err
		}
		defer pprof.StopCPUProfile() // also on errors; stopping twice is harmless
	}
	start := time.Now()

	runCtx, stop := context.WithCancel(ctx)
	defer stop()
	runs := make(chan running, 1)
	done := make(chan error, 1)
	go func() {
		done <- serve(runCtx, cfg, slog.New(slog.DiscardHandler), func(r running) { runs <- r }, func(po *pipeline.Options) {
			po.Committed = func(recs []*kgo.Record) {
				now := time.Now()
				for _, r := range recs {
					lat = append(lat, float64(now.Sub(r.Timestamp).Microseconds())/1000)
				}
			}
		})
	}()
	var r running
	select {
	case r = <-runs:
	case err := <-done:
		return nil, err
	}
	produced := make(chan error, 1)
	if o.rate > 0 {
		fmt.Fprintf(w, "Producing %d records at %d/s while the service consumes…\n", n, o.rate)
		go func() { produced <- produceAll(ctx, brokers, raw, o.rate, producedAt) }()
	} else {
		produced <- nil
	}
	bar := newBar(w, n)
	for {
		st := r.svc.Stats()
		bar.Set(int(st.Records))
		grow(st.DeadLetters)
		if st.Records >= int64(n) && (o.sink == "none" || r.store.PendingRowBytes() == 0) {
			break
		}
		select {
		case err := <-done:
			return nil, fmt.Errorf("bench: the service stopped: %w", err)
		case err := <-produced:
			if err != nil {
				return nil, err
			}
			produced = nil
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
	took := time.Since(start)
	pprof.StopCPUProfile()
	if o.memProfile != "" {
		if err := writeHeapProfile(o.memProfile); err != nil {
			return nil, err
		}
	}
	bar.Finish()
	fmt.Fprintln(w)

	// The service is idle: reading its state alongside is safe.
	st := r.svc.Stats()
	pred, customers, err := grouping(r.eng)
	if err != nil {
		return nil, err
	}
	if err := r.store.Flush(); err == nil && customers > 0 {
		res.StateBytesPerCustomer = float64(r.store.DiskBytes()) / float64(customers)
	}
	// The last triggers may still be in the outbox or on their way to the
	// watcher: without them the latency would leave out the last (and
	// likely slowest) ones. Bounded, and outside the measured time.
	awaitTriggers(r.store, &trigSeen, 10*time.Second)
	stop()
	if err := <-done; err != nil {
		return nil, err
	}
	stopTrig()
	tl := <-trigLat
	slices.Sort(tl)
	res.TriggerLatencyMS.P50, res.TriggerLatencyMS.P99, res.TriggerLatencyMS.N = quantile(tl, 0.50), quantile(tl, 0.99), len(tl)
	if o.rate > 0 {
		if res.NoopConsumeEventsPerS, err = noopConsume(ctx, cfg, n); err != nil {
			return nil, err
		}
	}

	res.Seconds = took.Seconds()
	res.EventsPerS = float64(n) / took.Seconds()
	if res.NoopConsumeEventsPerS > 0 {
		res.RatioToNoop = res.EventsPerS / res.NoopConsumeEventsPerS
	}
	slices.Sort(lat)
	res.LatencyMS.P50, res.LatencyMS.P99 = quantile(lat, 0.50), quantile(lat, 0.99)
	res.Accuracy.Precision, res.Accuracy.Recall, res.Accuracy.F1 = gen.Score(truth.records(), pred)
	res.PeakRSSBytes = peakRSS()
	res.Applied, res.DeadLetters, res.Customers = st.Applied, st.DeadLetters, customers
	printBench(w, res)
	return res, nil
}

// watchTriggers reads the trigger topics until ctx ends and returns, for
// each trigger fired by an event, the time from that event's produce to the
// trigger's arrival, in ms.
// awaitTriggers waits, up to max, until the service's outbox is empty and
// the trigger watcher has read nothing new for a while.
func awaitTriggers(store *state.Store, seen *atomic.Int64, max time.Duration) {
	const quiet = 300 * time.Millisecond
	end := time.Now().Add(max)
	for store.Pending() > 0 && time.Now().Before(end) {
		time.Sleep(10 * time.Millisecond)
	}
	last, since := seen.Load(), time.Now()
	for time.Since(since) < quiet && time.Now().Before(end) {
		time.Sleep(20 * time.Millisecond)
		if n := seen.Load(); n != last {
			last, since = n, time.Now()
		}
	}
}

func watchTriggers(ctx context.Context, brokers []string, set *rules.Set, byEvent map[uint64]int32, producedAt []int64, seen, seenBytes *atomic.Int64, watching chan<- struct{}) []float64 {
	if set == nil {
		close(watching)
		return nil
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.ConsumeTopics(ruleTopics(set)...),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchMaxWait(50*time.Millisecond))
	if err != nil {
		close(watching)
		return nil
	}
	defer cl.Close()
	// The first poll has a deadline: metadata, offsets and the fetch
	// session are then in place. What it brings counts like the rest.
	var lat []float64
	for first := true; ctx.Err() == nil; first = false {
		pollCtx, cancel := ctx, context.CancelFunc(func() {})
		if first {
			pollCtx, cancel = context.WithTimeout(ctx, 500*time.Millisecond)
		}
		fs := cl.PollFetches(pollCtx)
		cancel()
		if first {
			close(watching)
		}
		now := time.Now()
		recs := fs.Records()
		seen.Add(int64(len(recs)))
		for _, rec := range recs {
			seenBytes.Add(int64(len(rec.Key) + len(rec.Value) + len(rec.Topic)))
			var m struct {
				Rule     string   `json:"rule"`
				EventIDs []string `json:"event_ids"`
			}
			if json.Unmarshal(rec.Value, &m) != nil || len(m.EventIDs) == 0 {
				continue
			}
			if r := set.Rule(m.Rule); r == nil || r.Kind == rules.KindAbsence {
				continue
			}
			// The causing event is the one produced last: a sequence's
			// first event may arrive after its second (a late upload).
			var last int64
			for _, id := range m.EventIDs {
				if i, ok := byEvent[eventHash(id)]; ok {
					last = max(last, atomic.LoadInt64(&producedAt[i]))
				}
			}
			if last != 0 {
				lat = append(lat, float64(now.Sub(time.Unix(0, last)).Microseconds())/1000)
			}
		}
	}
	return lat
}

// produceAll writes the records; with rate > 0, paced at rate records/s.
// It notes each record's produce time in at (unix ns, atomic).
func produceAll(ctx context.Context, brokers []string, recs []*kgo.Record, rate int, at []int64) error {
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.ProducerLinger(2*time.Millisecond))
	if err != nil {
		return err
	}
	defer cl.Close()
	if rate == 0 {
		now := time.Now()
		for i, r := range recs {
			r.Timestamp = now
			at[i] = now.UnixNano()
		}
		return cl.ProduceSync(ctx, recs...).FirstErr()
	}
	var mu sync.Mutex
	var first error
	var wg sync.WaitGroup
	const tick = 10 * time.Millisecond
	per := max(1, rate/int(time.Second/tick))
	start := time.Now()
	for i := 0; i < len(recs); i += per {
		// Pace against the start, not the previous tick, so that a slow
		// tick does not lower the rate.
		if d := time.Until(start.Add(time.Duration(i/per) * tick)); d > 0 {
			time.Sleep(d)
		}
		for j := i; j < min(i+per, len(recs)); j++ {
			r := recs[j]
			r.Timestamp = time.Now()
			atomic.StoreInt64(&at[j], r.Timestamp.UnixNano())
			wg.Add(1)
			cl.Produce(ctx, r, func(_ *kgo.Record, err error) {
				defer wg.Done()
				if err != nil {
					mu.Lock()
					first = cmpErr(first, err)
					mu.Unlock()
				}
			})
		}
	}
	wg.Wait()
	return first
}

func cmpErr(a, b error) error {
	if a != nil {
		return a
	}
	return b
}

// noopConsume reads n records of the input topics with a plain franz-go
// consumer group doing nothing with them: the broker's and client's share
// of the cost, as a yardstick.
func noopConsume(ctx context.Context, cfg *config.Config, n int) (float64, error) {
	decoders, err := pipeline.Decoders(cfg)
	if err != nil {
		return 0, err
	}
	topics := make([]string, 0, len(decoders))
	for t := range decoders {
		topics = append(topics, t)
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(cfg.Kafka.Brokers...), kgo.ConsumerGroup(cfg.Kafka.Group+"-noop"),
		kgo.ConsumeTopics(topics...), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		return 0, err
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(ctx, 10*time.Minute)
	defer cancel()
	start := time.Now()
	got := 0
	for got < n {
		fs := cl.PollRecords(ctx, 50000)
		if err := ctx.Err(); err != nil {
			return 0, fmt.Errorf("bench: no-op consumer read %d of %d records: %w", got, n, err)
		}
		got += fs.NumRecords()
	}
	return float64(n) / time.Since(start).Seconds(), nil
}

// grouping maps every applied event to its customer, for scoring.
func grouping(eng *stitch.Engine) (map[string]string, int, error) {
	pred := map[string]string{}
	customers := 0
	err := eng.Customers(func(c *state.Customer) error {
		customers++
		return eng.Journey(c.ID, func(j *stitch.JourneyRow) error {
			pred[j.EventID] = c.ID
			return nil
		})
	})
	return pred, customers, err
}

func quantile(sorted []float64, q float64) float64 {
	if len(sorted) == 0 {
		return 0
	}
	return sorted[min(len(sorted)-1, int(q*float64(len(sorted))))]
}

// peakRSS is the process's high-water mark of resident memory (Linux).
func peakRSS() int64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return kb << 10
		}
	}
	return 0
}

type progress interface {
	Set(int) error
	Finish() error
}

type noBar struct{}

func (noBar) Set(int) error { return nil }
func (noBar) Finish() error { return nil }

// newBar draws a progress bar when w is a terminal.
func newBar(w io.Writer, n int) progress {
	if f, ok := w.(*os.File); !ok || !term.IsTerminal(int(f.Fd())) {
		return noBar{}
	}
	return progressbar.NewOptions(n, progressbar.OptionSetWriter(w), progressbar.OptionSetDescription("consuming"),
		progressbar.OptionShowCount(), progressbar.OptionShowIts(), progressbar.OptionSetItsString("records"),
		progressbar.OptionThrottle(100*time.Millisecond))
}

func printBench(w io.Writer, r *benchResult) {
	fmt.Fprintf(w, "%d records (%d events applied, %d dead letters) of %d people → %d customers, sink %s, GOMAXPROCS %d\n",
		r.Records, r.Applied, r.DeadLetters, r.People, r.Customers, r.Sink, r.GOMAXPROCS)
	fmt.Fprintf(w, "  events/s                 %10.0f\n", r.EventsPerS)
	fmt.Fprintf(w, "  no-op consumer events/s  %10.0f  (ratio %.2f)\n", r.NoopConsumeEventsPerS, r.RatioToNoop)
	fmt.Fprintf(w, "  latency p50 / p99        %10.1f / %.1f ms (produce → committed)\n", r.LatencyMS.P50, r.LatencyMS.P99)
	fmt.Fprintf(w, "  trigger latency p50/p99  %10.1f / %.1f ms (produce → trigger on the topic; %d triggers)\n", r.TriggerLatencyMS.P50, r.TriggerLatencyMS.P99, r.TriggerLatencyMS.N)
	fmt.Fprintf(w, "  precision / recall / F1  %.4f / %.4f / %.4f\n", r.Accuracy.Precision, r.Accuracy.Recall, r.Accuracy.F1)
	fmt.Fprintf(w, "  peak RSS                 %10.0f MiB\n", float64(r.PeakRSSBytes)/(1<<20))
	if r.HeapLimitBytes > 0 {
		fmt.Fprintf(w, "  heap limit               %10.0f MiB for the service + %.0f MiB for the traffic, truth and broker in this process\n",
			float64(r.HeapLimitBytes)/(1<<20), float64(r.HarnessHeapBytes)/(1<<20))
	}
	fmt.Fprintf(w, "  state per customer       %10.0f bytes on disk\n", r.StateBytesPerCustomer)
	fmt.Fprintf(w, "\n| people | records | sink | rate | events/s | no-op events/s | ratio | p50 ms | p99 ms | F1 | peak RSS MiB | state B/customer |\n")
	fmt.Fprintf(w, "|---|---|---|---|---|---|---|---|---|---|---|---|\n")
	fmt.Fprintf(w, "| %d | %d | %s | %d | %.0f | %.0f | %.2f | %.1f | %.1f | %.4f | %.0f | %.0f |\n",
		r.People, r.Records, r.Sink, r.Rate, r.EventsPerS, r.NoopConsumeEventsPerS, r.RatioToNoop,
		r.LatencyMS.P50, r.LatencyMS.P99, r.Accuracy.F1, float64(r.PeakRSSBytes)/(1<<20), r.StateBytesPerCustomer)
}

// triggerTopics are the topics the configured rules send to, created with
// the in-process broker so that the first triggers do not wait for a topic
// to be created on first use.
func triggerTopics(cfg *config.Config) []string {
	set, err := stitch.LoadRules(cfg)
	if err != nil {
		return nil // the service reports it when it starts
	}
	return ruleTopics(set)
}

// ruleTopics are the topics set's triggers go to.
func ruleTopics(set *rules.Set) []string {
	topics := []string{set.Topic}
	for _, r := range set.Rules {
		if t := set.TopicOf(r); !slices.Contains(topics, t) {
			topics = append(topics, t)
		}
	}
	return topics
}

// truthTable is the generator's ground truth for scoring, without
// pointers: the valid, first-delivered records' event ids, back to back,
// and their groups.
type truthTable struct {
	ids   []byte
	ends  []uint32
	group []int32
}

func newTruthTable(n int) *truthTable {
	return &truthTable{ends: make([]uint32, 0, n), group: make([]int32, 0, n)}
}

func (t *truthTable) add(r *gen.Record) {
	if !r.Valid || r.Dup || r.Truth < 0 {
		return // not scored
	}
	t.ids = append(t.ids, r.EventID...)
	t.ends = append(t.ends, uint32(len(t.ids)))
	t.group = append(t.group, int32(r.Truth))
}

// records is the table as gen.Score takes it.
func (t *truthTable) records() []gen.Record {
	out := make([]gen.Record, len(t.ends))
	start := uint32(0)
	for i, end := range t.ends {
		out[i] = gen.Record{EventID: string(t.ids[start:end]), Valid: true, Truth: int(t.group[i])}
		start = end
	}
	return out
}

// eventHash keys the trigger-latency index; a collision (about one in
// 10^7 runs of a million events) would only misplace one latency sample.
func eventHash(id string) uint64 {
	h := uint64(14695981039346656037) // FNV-1a
	for i := 0; i < len(id); i++ {
		h ^= uint64(id[i])
		h *= 1099511628211
	}
	return h
}
