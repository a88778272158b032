package pipeline

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/omnistitch/omnistitch/bench/gen"
	"github.com/omnistitch/omnistitch/internal/config"
	"github.com/omnistitch/omnistitch/pipeline/source"
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
func BenchmarkServiceThroughKafka(b *testing.B) {
	const people = 10000
	recs := gen.All(gen.Options{Seed: 1, Customers: people})
	topics := []string{eventsTopic, deadTopic}
	for _, m := range source.Default() {
		topics = append(topics, m.Topic())
	}
	var total float64
	var elapsed time.Duration
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
			IdentifierCache: cfg.State.IdentifierCache, Sync: true})
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
		svc, err := New(Options{Brokers: br.Addrs(), Group: "bench", Decoders: decoders,
			DeadLetterTopic: deadTopic, MaxPollRecords: cfg.Kafka.MaxPollRecords}, eng, store)
		if err != nil {
			b.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		b.StartTimer()
		start := time.Now()
		go func() { done <- svc.Run(ctx) }()
		for svc.Stats().Records < int64(len(batch)) {
			time.Sleep(time.Millisecond)
		}
		took := time.Since(start)
		b.StopTimer()
		cancel()
		if err := <-done; err != nil {
			b.Fatal(err)
		}
		store.Close()
		br.Close()
		total += float64(len(batch))
		elapsed += took
		b.StartTimer()
	}
	b.ReportMetric(total/elapsed.Seconds(), "records/s")
	b.ReportMetric(0, "ns/op")
}
