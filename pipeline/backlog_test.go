package pipeline

import (
	"context"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/omnistitch/omnistitch/bench/gen"
	"github.com/omnistitch/omnistitch/internal/config"
	"github.com/omnistitch/omnistitch/state"
	"github.com/omnistitch/omnistitch/stitch"
	"github.com/omnistitch/omnistitch/stitch/event"
)

// While a sink's outbox is over its cap nothing is consumed (and the pause
// shows in a metric); once it drains, consumption resumes and loses nothing.
func TestBacklogPausesConsumption(t *testing.T) {
	b, err := StartBroker(0, 2, eventsTopic, deadTopic)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	recs := gen.All(gen.Options{Seed: 2, Customers: 30, MalformedShare: -1})
	produce(t, b.Addrs(), recs)

	cfg := config.Default()
	store, err := state.Open(t.TempDir(), state.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	eng, err := stitch.New(cfg, store)
	if err != nil {
		t.Fatal(err)
	}
	var over atomic.Bool
	over.Store(true)
	reg := prometheus.NewRegistry()
	dec := event.NewDecoder(cfg.Input.MaxEventBytes, cfg.Input.Channels)
	svc, err := New(Options{Brokers: b.Addrs(), Group: "backlog", Decoders: map[string]Decoder{eventsTopic: dec.Decode},
		DeadLetterTopic: deadTopic, Registerer: reg, Backlog: over.Load}, eng, store)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- svc.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	}()

	for deadline := time.Now().Add(10 * time.Second); testutil.ToFloat64(svc.m.paused) != 1; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("omnistitch_consumption_paused never became 1")
		}
	}
	time.Sleep(500 * time.Millisecond)
	if n := svc.Stats().Records; n != 0 {
		t.Fatalf("%d records consumed while the outbox was over its cap", n)
	}

	over.Store(false)
	for deadline := time.Now().Add(30 * time.Second); svc.Stats().Records < int64(len(recs)); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("consumption did not resume: %+v", svc.Stats())
		}
	}
	if got := testutil.ToFloat64(svc.m.paused); got != 0 {
		t.Fatalf("omnistitch_consumption_paused = %v after resuming", got)
	}
	// The per-partition offsets of the state add up to every record, none
	// left behind.
	var next, lag float64
	for p := range 2 {
		part := strconv.Itoa(p)
		next += testutil.ToFloat64(svc.m.nextOffset.WithLabelValues(eventsTopic, part))
		lag += testutil.ToFloat64(svc.m.lagRecords.WithLabelValues(eventsTopic, part))
	}
	if next != float64(len(recs)) || lag != 0 {
		t.Fatalf("omnistitch_next_offset sums to %v (want %d), omnistitch_consumer_lag_records to %v (want 0)", next, len(recs), lag)
	}
}
