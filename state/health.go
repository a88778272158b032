package state

import (
	"context"
	"errors"
	"io/fs"
	"log/slog"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/redact"
	"github.com/prometheus/client_golang/prometheus"
)

// health is what Pebble reports of its background work: flushes and
// compactions that failed (Pebble retries them, but a disk that stays full
// or broken fails every retry, and only the next commit would say so),
// write stalls (commits held back while compactions catch up: the service
// slows for no reason visible elsewhere), slow disk operations and
// corruption. Counted for the metrics, and logged at most once per
// logEvery per kind, redacted: Pebble's messages may name keys, and keys
// hold customer ids and identifier values.
type health struct {
	log *slog.Logger

	backgroundErrors, corruptions, slowDisk atomic.Int64
	stalls                                  atomic.Int64
	stalledNanos                            atomic.Int64

	mu         sync.Mutex
	stallBegan time.Time            // zero: no stall now
	lastLog    map[string]time.Time // kind → last logged
	quiet      map[string]int       // kind → events not logged since
}

// logEvery bounds how often one kind of event is logged: a full disk
// fails every compaction Pebble retries.
const logEvery = 10 * time.Second

func newHealth(log *slog.Logger) *health {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &health{log: log, lastLog: map[string]time.Time{}, quiet: map[string]int{}}
}

// listener is the pebble.EventListener that feeds h. Pebble calls these
// synchronously from its own goroutines: they only count, and log now and
// then.
func (h *health) listener() *pebble.EventListener {
	return &pebble.EventListener{
		BackgroundError: func(err error) {
			h.backgroundErrors.Add(1)
			h.report(slog.LevelError, "background", "state: a flush, compaction or other background task failed; Pebble retries it",
				describe(err)...)
		},
		DataCorruption: func(info pebble.DataCorruptionInfo) {
			h.corruptions.Add(1)
			h.report(slog.LevelError, "corruption", "state: corrupt data found in the store",
				append([]any{"path", info.Path}, describe(info.Details)...)...)
		},
		WriteStallBegin: func(info pebble.WriteStallBeginInfo) {
			h.stalls.Add(1)
			h.mu.Lock()
			h.stallBegan = time.Now()
			h.mu.Unlock()
			h.report(slog.LevelWarn, "stall", "state: commits stalled until compactions catch up",
				"reason", info.Reason)
		},
		WriteStallEnd: func() {
			h.mu.Lock()
			if !h.stallBegan.IsZero() {
				h.stalledNanos.Add(int64(time.Since(h.stallBegan)))
				h.stallBegan = time.Time{}
			}
			h.mu.Unlock()
		},
		// Called where Pebble watches for a stuck disk: it must not block,
		// so it only counts.
		DiskSlow: func(pebble.DiskSlowInfo) { h.slowDisk.Add(1) },
	}
}

// report logs one event of a kind unless one was logged less than
// logEvery ago; the next one logged says how many were not.
func (h *health) report(level slog.Level, kind, msg string, args ...any) {
	h.mu.Lock()
	now := time.Now()
	if last, ok := h.lastLog[kind]; ok && now.Sub(last) < logEvery {
		h.quiet[kind]++
		h.mu.Unlock()
		return
	}
	h.lastLog[kind] = now
	if n := h.quiet[kind]; n > 0 {
		args = append(args, "not_logged_since", n)
		h.quiet[kind] = 0
	}
	h.mu.Unlock()
	h.log.Log(context.Background(), level, msg, args...)
}

// stalled is the time commits spent stalled, the stall in progress
// included.
func (h *health) stalled() time.Duration {
	h.mu.Lock()
	defer h.mu.Unlock()
	d := time.Duration(h.stalledNanos.Load())
	if !h.stallBegan.IsZero() {
		d += time.Since(h.stallBegan)
	}
	return d
}

// describe is what may be logged of err: its message with the parts not
// marked safe (keys and values among them) replaced by ‹×›, which leaves
// little of an error from outside Pebble, so also the system call's error
// and the file it was about, which name no customer ("no space left on
// device", a table of the store).
func describe(err error) []any {
	if err == nil {
		return nil
	}
	args := []any{"err", string(redact.Sprint(err).Redact())}
	var errno syscall.Errno
	if errors.As(err, &errno) {
		args = append(args, "errno", errno.Error())
	}
	var pathErr *fs.PathError
	if errors.As(err, &pathErr) {
		args = append(args, "op", pathErr.Op, "file", pathErr.Path)
	}
	return args
}

// Register adds the store's metrics to reg: Pebble's background errors,
// write stalls, slow disk operations and corruption as counters, and, read
// from Pebble at each scrape, the files in L0, the compaction debt and the
// size of the store on disk.
func (s *Store) Register(reg prometheus.Registerer) {
	h := s.health
	count := func(n *atomic.Int64) func() float64 { return func() float64 { return float64(n.Load()) } }
	reg.MustRegister(
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "omnistitch_state_background_errors_total",
			Help: "Flushes, compactions and other background tasks of the state store that failed (Pebble retries them; a full or failing disk fails every retry).",
		}, count(&h.backgroundErrors)),
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "omnistitch_state_corruptions_total",
			Help: "Corrupt data found in the state store.",
		}, count(&h.corruptions)),
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "omnistitch_state_write_stalls_total",
			Help: "Times commits to the state store were held back until compactions caught up.",
		}, count(&h.stalls)),
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "omnistitch_state_write_stall_seconds_total",
			Help: "Time commits to the state store spent held back.",
		}, func() float64 { return h.stalled().Seconds() }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "omnistitch_state_slow_disk_operations_total",
			Help: "Writes and syncs of the state store's files that took longer than Pebble's disk-slowness threshold.",
		}, count(&h.slowDisk)),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "omnistitch_state_l0_files",
			Help: "Files in the state store's level 0 (commits stall when compactions fall far behind).",
		}, func() float64 { return float64(s.db.Metrics().Levels[0].TablesCount) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "omnistitch_state_compaction_debt_bytes",
			Help: "Bytes Pebble estimates it must compact to bring the state store's levels back into shape.",
		}, func() float64 { return float64(s.db.Metrics().Compact.EstimatedDebt) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "omnistitch_state_disk_usage_bytes",
			Help: "Size of the state store's files on disk.",
		}, func() float64 { return float64(s.DiskBytes()) }),
	)
}
