package heapwatch

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"math"
	"runtime"
	"runtime/debug"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

func slogJSON(buf *bytes.Buffer) *slog.Logger { return slog.New(slog.NewJSONHandler(buf, nil)) }

// logLines decodes the JSON lines a slog.JSONHandler wrote.
func logLines(t *testing.T, buf *bytes.Buffer) []map[string]any {
	t.Helper()
	var out []map[string]any
	for line := range strings.Lines(buf.String()) {
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("log line %q: %v", line, err)
		}
		out = append(out, m)
	}
	buf.Reset()
	return out
}

func TestLookWarnsWhileTight(t *testing.T) {
	const mb = 1 << 20
	var buf bytes.Buffer
	cur := Sample{Live: 100 * mb, Limit: 384 * mb}
	w := New(Options{Logger: slogJSON(&buf), Quiet: 10 * time.Minute, Read: func() Sample { return cur }})
	t0 := time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC)

	w.Look(t0)
	if got := logLines(t, &buf); len(got) != 0 {
		t.Fatalf("live 100 of 384 MiB: want no log, got %v", got)
	}

	// Over half: a warning with the figures and the collector's share of
	// the CPU since the last look.
	cur = Sample{Live: 330 * mb, Limit: 384 * mb, GCCPU: 3, UsedCPU: 10}
	w.Look(t0.Add(30 * time.Second))
	got := logLines(t, &buf)
	if len(got) != 1 || got[0]["level"] != "WARN" || !strings.Contains(got[0]["msg"].(string), "state.heap_limit_mb") {
		t.Fatalf("live 330 of 384 MiB: want one warning naming state.heap_limit_mb, got %v", got)
	}
	if got[0]["live_mib"] != 330.0 || got[0]["limit_mib"] != 384.0 || got[0]["gc_cpu_share"] != 0.3 {
		t.Errorf("warning's figures: %v", got[0])
	}

	// Still tight: quiet until Quiet has passed, then again.
	cur.GCCPU, cur.UsedCPU = 6, 20
	w.Look(t0.Add(5 * time.Minute))
	if got := logLines(t, &buf); len(got) != 0 {
		t.Fatalf("within the quiet time: want no log, got %v", got)
	}
	w.Look(t0.Add(11 * time.Minute))
	if got := logLines(t, &buf); len(got) != 1 || got[0]["level"] != "WARN" {
		t.Fatalf("after the quiet time: want the warning again, got %v", got)
	}

	// Back under half: one note, then nothing.
	cur.Live = 150 * mb
	w.Look(t0.Add(12 * time.Minute))
	if got := logLines(t, &buf); len(got) != 1 || got[0]["level"] != "INFO" {
		t.Fatalf("back under half: want one note, got %v", got)
	}
	w.Look(t0.Add(13 * time.Minute))
	if got := logLines(t, &buf); len(got) != 0 {
		t.Fatalf("under half again: want no log, got %v", got)
	}

	// Tight again at once: warned at once, the quiet time having been
	// reset when it cleared.
	cur.Live = 300 * mb
	w.Look(t0.Add(14 * time.Minute))
	if got := logLines(t, &buf); len(got) != 1 || got[0]["level"] != "WARN" {
		t.Fatalf("tight again: want a warning, got %v", got)
	}
}

func TestLookQuietWithoutLimit(t *testing.T) {
	var buf bytes.Buffer
	w := New(Options{Logger: slogJSON(&buf), Read: func() Sample { return Sample{Live: 5 << 30, Limit: math.MaxInt64} }})
	w.Look(time.Now())
	if got := logLines(t, &buf); len(got) != 0 {
		t.Fatalf("no limit: want no log, got %v", got)
	}
}

func TestTight(t *testing.T) {
	for _, c := range []struct {
		s    Sample
		want bool
	}{
		{Sample{Live: 193, Limit: 384}, true},
		{Sample{Live: 192, Limit: 384}, false}, // exactly half is the documented floor
		{Sample{Live: 1 << 40, Limit: math.MaxInt64}, false},
		{Sample{Live: 1, Limit: 0}, false},
	} {
		if got := c.s.Tight(); got != c.want {
			t.Errorf("%+v: Tight = %v, want %v", c.s, got, c.want)
		}
	}
}

// TestReadRuntime reads the real runtime: the limit as debug.SetMemoryLimit
// set it, a live heap that holds what the test keeps, CPU that only grows.
func TestReadRuntime(t *testing.T) {
	old := debug.SetMemoryLimit(1 << 40)
	t.Cleanup(func() { debug.SetMemoryLimit(old) })
	keep := make([]byte, 64<<20)
	runtime.GC()
	s := Read()
	if s.Limit != 1<<40 || !s.Limited() {
		t.Errorf("limit %d, want %d", s.Limit, int64(1<<40))
	}
	if s.Live < uint64(len(keep)) {
		t.Errorf("live heap %d bytes with %d kept", s.Live, len(keep))
	}
	runtime.KeepAlive(keep)
	if s.GCCPU <= 0 || s.UsedCPU < s.GCCPU {
		t.Errorf("collector's CPU %v s of %v s used", s.GCCPU, s.UsedCPU)
	}

	debug.SetMemoryLimit(math.MaxInt64)
	if s := Read(); s.Limited() {
		t.Errorf("no limit set, but Read reports %d", s.Limit)
	}
}

func TestRegister(t *testing.T) {
	reg := prometheus.NewRegistry()
	w := New(Options{Read: func() Sample { return Sample{Live: 300, Limit: 384, GCCPU: 2, UsedCPU: 9} }})
	w.Register(reg)
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	for _, mf := range mfs {
		m := mf.GetMetric()[0]
		if g := m.GetGauge(); g != nil {
			got[mf.GetName()] = g.GetValue()
		}
		if c := m.GetCounter(); c != nil {
			got[mf.GetName()] = c.GetValue()
		}
	}
	want := map[string]float64{"omnistitch_heap_live_bytes": 300, "omnistitch_heap_limit_bytes": 384,
		"omnistitch_gc_cpu_seconds_total": 2, "omnistitch_go_cpu_seconds_total": 9}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %v, want %v (all: %v)", k, got[k], v, got)
		}
	}

	reg = prometheus.NewRegistry()
	New(Options{Read: func() Sample { return Sample{Limit: math.MaxInt64} }}).Register(reg)
	mfs, _ = reg.Gather()
	for _, mf := range mfs {
		if mf.GetName() == "omnistitch_heap_limit_bytes" && mf.GetMetric()[0].GetGauge().GetValue() != 0 {
			t.Errorf("no limit: omnistitch_heap_limit_bytes %v, want 0", mf.GetMetric()[0].GetGauge().GetValue())
		}
	}
}

func TestRunStopsWithContext(t *testing.T) {
	looks := make(chan struct{}, 100)
	w := New(Options{Every: time.Millisecond, Read: func() Sample {
		select {
		case looks <- struct{}{}:
		default:
		}
		return Sample{}
	}})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { w.Run(ctx); close(done) }()
	<-looks
	<-looks // the first look at start, then the ticker's
	cancel()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return after its context ended")
	}
}
