package state

import (
	"bytes"
	"fmt"
	"io/fs"
	"log/slog"
	"strings"
	"syscall"
	"testing"
	"time"

	crerrors "github.com/cockroachdb/errors"
	"github.com/cockroachdb/pebble/v2"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

func TestBackgroundErrorsLoggedRedactedAndCounted(t *testing.T) {
	var buf bytes.Buffer
	h := newHealth(slog.New(slog.NewJSONHandler(&buf, nil)))
	l := h.listener()
	// As Pebble builds them: its own text safe, the key it names not, and
	// the system's error underneath.
	full := crerrors.Wrapf(&fs.PathError{Op: "write", Path: "/srv/state/000123.sst", Err: syscall.ENOSPC},
		"pebble: compaction of %s", "c_alice@example.com")
	l.BackgroundError(full)
	l.BackgroundError(full) // within logEvery: counted, not logged

	out := buf.String()
	if strings.Contains(out, "alice") {
		t.Errorf("a key reached the log:\n%s", out)
	}
	for _, want := range []string{`"level":"ERROR"`, "pebble: compaction of", `"errno":"no space left on device"`,
		`"op":"write"`, `"file":"/srv/state/000123.sst"`} {
		if !strings.Contains(out, want) {
			t.Errorf("log lacks %s:\n%s", want, out)
		}
	}
	if n := strings.Count(out, "\n"); n != 1 {
		t.Errorf("%d lines logged for two errors within %v, want 1:\n%s", n, logEvery, out)
	}
	if got := h.backgroundErrors.Load(); got != 2 {
		t.Errorf("counted %d background errors, want 2", got)
	}

	// The next one logged after the pause says how many were not.
	h.lastLog["background"] = time.Now().Add(-logEvery)
	buf.Reset()
	l.BackgroundError(fmt.Errorf("flush: %w", syscall.EIO))
	if out := buf.String(); !strings.Contains(out, `"not_logged_since":1`) || !strings.Contains(out, `"errno":"input/output error"`) {
		t.Errorf("after the pause:\n%s", out)
	}
}

func TestWriteStallsTimed(t *testing.T) {
	var buf bytes.Buffer
	h := newHealth(slog.New(slog.NewJSONHandler(&buf, nil)))
	l := h.listener()
	l.WriteStallBegin(pebble.WriteStallBeginInfo{Reason: "L0 file count limit exceeded"})
	time.Sleep(20 * time.Millisecond)
	if d := h.stalled(); d < 20*time.Millisecond {
		t.Errorf("stalled %v during a stall of 20ms or more", d)
	}
	l.WriteStallEnd()
	d := h.stalled()
	time.Sleep(10 * time.Millisecond)
	if h.stalled() != d || d < 20*time.Millisecond {
		t.Errorf("stalled %v, then %v, after a stall of 20ms or more ended", d, h.stalled())
	}
	if h.stalls.Load() != 1 || !strings.Contains(buf.String(), "L0 file count limit exceeded") ||
		!strings.Contains(buf.String(), `"level":"WARN"`) {
		t.Errorf("stalls %d, log:\n%s", h.stalls.Load(), buf.String())
	}
}

func TestStoreMetricsRegistered(t *testing.T) {
	s, err := Open(t.TempDir(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	reg := prometheus.NewRegistry()
	s.Register(reg)
	s.health.listener().BackgroundError(syscall.ENOSPC)
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	for _, mf := range mfs {
		m := mf.GetMetric()[0]
		got[mf.GetName()] = value(m)
	}
	for _, name := range []string{"omnistitch_state_background_errors_total", "omnistitch_state_corruptions_total",
		"omnistitch_state_write_stalls_total", "omnistitch_state_write_stall_seconds_total",
		"omnistitch_state_slow_disk_operations_total", "omnistitch_state_l0_files",
		"omnistitch_state_compaction_debt_bytes", "omnistitch_state_disk_usage_bytes"} {
		if _, ok := got[name]; !ok {
			t.Errorf("%s not registered", name)
		}
	}
	if got["omnistitch_state_background_errors_total"] != 1 {
		t.Errorf("background errors %v, want 1", got["omnistitch_state_background_errors_total"])
	}
	if got["omnistitch_state_disk_usage_bytes"] <= 0 {
		t.Errorf("disk usage %v for an open store", got["omnistitch_state_disk_usage_bytes"])
	}
}

func value(m *dto.Metric) float64 {
	if c := m.GetCounter(); c != nil {
		return c.GetValue()
	}
	return m.GetGauge().GetValue()
}
