package pipeline

import (
	"context"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/omnistitch/omnistitch/bench/gen"
	"github.com/omnistitch/omnistitch/internal/chtest"
	"github.com/omnistitch/omnistitch/internal/config"
	"github.com/omnistitch/omnistitch/pipeline/source"
	chsink "github.com/omnistitch/omnistitch/sinks/clickhouse"
	"github.com/omnistitch/omnistitch/state"
	"github.com/omnistitch/omnistitch/stitch"
)

// BenchmarkServiceThroughKafka measures the whole service over TCP: the
// generator's traffic in the raw formats of the four source systems (and
// a few canonical records) is produced to an in-process kfake broker with 4
// partitions per topic first, then the service consumes, maps, stitches and
// commits it (Pebble on disk, fsync per batch) and sends its dead letters.
// The figure is records consumed per second, from start to the last record
// applied.
func BenchmarkServiceThroughKafka(b *testing.B) { benchService(b, "", 10000) }

// BenchmarkServiceIntoClickHouse is the same with the ClickHouse sink: the
// figure is records per second from start until every record is applied
// and every row it produced is written to ClickHouse (the test server).
func BenchmarkServiceIntoClickHouse(b *testing.B) {
	addr, db := chtest.Database(b)
	benchService(b, addr+"/"+db, 10000)
}

// BenchmarkServiceIntoClickHouseSustained is the same with 100,000 people
// (2,178,446 records against the 217,303 of 10,000 people; ~30 s of
// service): long enough that the state's growth, Pebble's compactions and
// ClickHouse's merges take their share, and the last round's wait is a
// small part of the figure.
func BenchmarkServiceIntoClickHouseSustained(b *testing.B) {
	addr, db := chtest.Database(b)
	benchService(b, addr+"/"+db, 100000)
}

func benchService(b *testing.B, ch string, people int) {
	recs := gen.All(gen.Options{Seed: 1, Customers: people})
	topics := []string{eventsTopic, deadTopic}
	for _, m := range source.Default() {
		topics = append(topics, m.Topic())
	}
	var total float64
	var elapsed time.Duration
	var rowsWritten int64
	var consumed, cpu time.Duration
	var allocBytes uint64
	var ms0, ms1 runtime.MemStats
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		br, err := StartBroker(0, 4, topics...)
		if err != nil {
			b.Fatal(err)
		}
		cl, err := kgo.NewClient(kgo.SeedBrokers(br.Addrs()...), kgo.ProducerLinger(5*time.Millisecond))
		if err != nil {
			b.Fatal(err)
		}
		batch := make([]*kgo.Record, 0, len(recs))
		for j, r := range recs {
			topic, raw, err := gen.RawLine(r.Line)
			if err != nil {
				continue
			}
			batch = append(batch, &kgo.Record{Topic: topic, Key: strconv.AppendInt(nil, int64(j), 10), Value: raw})
		}
		if err := cl.ProduceSync(context.Background(), batch...).FirstErr(); err != nil {
			b.Fatal(err)
		}
		cl.Close()

		cfg := config.Default()
		store, err := state.Open(b.TempDir(), state.Options{CustomerCache: cfg.State.CustomerCache,
			IdentifierCache: cfg.State.IdentifierCache, BlockCacheBytes: int64(cfg.State.BlockCacheMB) << 20, Sync: true})
		if err != nil {
			b.Fatal(err)
		}
		eng, err := stitch.New(cfg, store)
		if err != nil {
			b.Fatal(err)
		}
		decoders, err := Decoders(cfg)
		if err != nil {
			b.Fatal(err)
		}
		o := Options{Brokers: br.Addrs(), Group: "bench", Decoders: decoders,
			DeadLetterTopic: deadTopic, MaxPollRecords: cfg.Kafka.MaxPollRecords,
			AlignWindow: time.Duration(cfg.Kafka.AlignWindowMS) * time.Millisecond}
		var w *chsink.Writer
		if ch != "" {
			cfg.ClickHouse.Addr, cfg.ClickHouse.Database, _ = strings.Cut(ch, "/")
			w = chsink.NewWriter(store, chsink.WriterOptions{Connect: chsink.Connector(&cfg.ClickHouse, nil),
				Database: cfg.ClickHouse.Database, BatchRows: cfg.ClickHouse.BatchRows,
				FlushInterval: time.Duration(cfg.ClickHouse.FlushIntervalMS) * time.Millisecond})
			o.Stage = chsink.Stage(eng)
			o.Staged = w.Staged // as omnistitch run does
		}
		svc, err := New(o, eng, store)
		if err != nil {
			b.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		wdone := make(chan struct{})
		runtime.ReadMemStats(&ms0)
		cpu0 := cpuTime(b)
		b.StartTimer()
		start := time.Now()
		go func() { done <- svc.Run(ctx) }()
		if w != nil {
			go func() {
				defer close(wdone)
				w.Run(ctx)
			}()
		} else {
			close(wdone)
		}
		for svc.Stats().Records < int64(len(batch)) {
			time.Sleep(time.Millisecond)
		}
		consumed += time.Since(start)
		for store.PendingRowBytes() > 0 {
			time.Sleep(time.Millisecond)
		}
		took := time.Since(start)
		b.StopTimer()
		cpu += cpuTime(b) - cpu0
		runtime.ReadMemStats(&ms1)
		allocBytes += ms1.TotalAlloc - ms0.TotalAlloc
		cancel()
		if err := <-done; err != nil {
			b.Fatal(err)
		}
		<-wdone
		if w != nil {
			rowsWritten += w.Stats().Rows
			w.Close()
		}
		store.Close()
		br.Close()
		total += float64(len(batch))
		elapsed += took
		b.StartTimer()
	}
	b.ReportMetric(total/elapsed.Seconds(), "records/s")
	// The process's CPU time and allocations per record while the service
	// ran: steadier than the wall clock on a shared machine. They include
	// the in-process broker serving the fetches (and with ClickHouse the
	// writer, not the server).
	b.ReportMetric(float64(cpu.Nanoseconds())/total/1000, "cpu-µs/record")
	b.ReportMetric(float64(allocBytes)/total, "alloc-B/record")
	if ch != "" {
		b.ReportMetric(float64(rowsWritten)/total, "rows/record")
		b.ReportMetric(total/consumed.Seconds(), "consumed/s")
	}
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
