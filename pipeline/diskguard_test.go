package pipeline

import (
	"context"
	"path/filepath"
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

func TestDiskGuardLow(t *testing.T) {
	dir := t.TempDir()
	free, ok := freeBytes(dir)
	if !ok || free == 0 {
		t.Fatalf("freeBytes(%s) = %d, %v; want the free space", dir, free, ok)
	}
	f := func(g *DiskGuard, want bool) {
		t.Helper()
		if got := g.Low(); got != want {
			t.Errorf("Low() = %v with %d bytes free and a minimum of %d, want %v", got, free, g.min, want)
		}
	}
	f(NewDiskGuard(dir, 0), false)                                    // disabled
	f(NewDiskGuard(dir, 1), false)                                    // plenty
	f(NewDiskGuard(dir, free*4), true)                                // more than the disk has
	f(NewDiskGuard(filepath.Join(dir, "missing", "x"), 1<<62), false) // cannot measure: never stops the service
	reg := prometheus.NewRegistry()
	NewDiskGuard(dir, 1).Register(reg)
	if n, err := testutil.GatherAndCount(reg, "omnistitch_state_disk_free_bytes"); err != nil || n != 1 {
		t.Fatalf("omnistitch_state_disk_free_bytes: %d series, %v", n, err)
	}
}

// While the disk is low nothing is consumed and the pause shows with its
// reason; once space returns consumption resumes and loses nothing.
func TestDiskLowPausesConsumption(t *testing.T) {
	b, err := StartBroker(0, 1, eventsTopic, deadTopic)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	recs := gen.All(gen.Options{Seed: 3, Customers: 20, MalformedShare: -1})
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
	var low atomic.Bool
	low.Store(true)
	dec := event.NewDecoder(cfg.Input.MaxEventBytes, cfg.Input.Channels)
	svc, err := New(Options{Brokers: b.Addrs(), Group: "disk", Decoders: map[string]Decoder{eventsTopic: dec.Decode},
		DeadLetterTopic: deadTopic, Registerer: prometheus.NewRegistry(), DiskLow: low.Load, Backlog: func() bool { return false }}, eng, store)
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
	reason := func(r string) float64 { return testutil.ToFloat64(svc.m.pausedBy.WithLabelValues(r)) }
	for deadline := time.Now().Add(10 * time.Second); reason(pauseDisk) != 1; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal(`omnistitch_consumption_paused_reason{reason="disk_space"} never became 1`)
		}
	}
	time.Sleep(500 * time.Millisecond)
	if n := svc.Stats().Records; n != 0 || testutil.ToFloat64(svc.m.paused) != 1 || reason(pauseOutbox) != 0 {
		t.Fatalf("while the disk was low: %d records consumed, paused %v, outbox_cap %v", n, testutil.ToFloat64(svc.m.paused), reason(pauseOutbox))
	}

	low.Store(false)
	for deadline := time.Now().Add(30 * time.Second); svc.Stats().Records < int64(len(recs)); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("consumption did not resume: %+v", svc.Stats())
		}
	}
	if testutil.ToFloat64(svc.m.paused) != 0 || reason(pauseDisk) != 0 {
		t.Fatalf("after resuming: paused %v, disk_space %v", testutil.ToFloat64(svc.m.paused), reason(pauseDisk))
	}
}
