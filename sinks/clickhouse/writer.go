package clickhouse

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"reflect"
	"strings"
	"sync"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/omnistitch/omnistitch/internal/config"
	"github.com/omnistitch/omnistitch/state"
	"github.com/omnistitch/omnistitch/stitch"
)

// Stage returns the hook that puts a batch's rows into the row outbox, in
// the same atomic batch as the state it describes. The pipeline calls it
// from Engine.ApplyWith's hook.
func Stage(eng *stitch.Engine) func(*state.Txn, *stitch.Result) error {
	var buf []byte
	return func(t *state.Txn, res *stitch.Result) error {
		ch, err := eng.Changes(t)
		if err != nil {
			return err
		}
		if Empty(ch, res) {
			return nil
		}
		buf = Encode(buf[:0], t.Version(), ch, res)
		t.EnqueueRows(buf) // copied into the batch
		return nil
	}
}

// WriterOptions configure a Writer.
type WriterOptions struct {
	// Connect opens a connection with the schema in place; the writer
	// calls it again, with backoff, until it succeeds and after a write
	// fails, so that the service starts and goes on while ClickHouse is
	// away. See Connector.
	Connect       func(context.Context) (driver.Conn, error)
	Database      string
	BatchRows     int           // rows per INSERT round at most; default 100000
	FlushInterval time.Duration // how long rows may wait for a fuller INSERT; default 1s
	Logger        *slog.Logger
	Registerer    prometheus.Registerer // nil: no metrics
}

// Writer drains the row outbox into ClickHouse. Every row carries its
// batch's version and the tables keep the highest version per key, so
// writing a batch twice (after a failed acknowledgement or a crash) is
// harmless; a batch leaves the outbox only once all its rows are written.
type Writer struct {
	conn  driver.Conn // nil until connected; owned by the writing goroutine
	store *state.Store
	o     WriterOptions
	log   *slog.Logger
	m     *writerMetrics
	wake  chan struct{}
	cols  columns // one round's rows, reused by the next (see columns.reset)

	mu struct {
		sync.Mutex
		stats WriterStats
	}
}

// WriterStats count what a Writer did.
type WriterStats struct {
	Rows    int64 // rows written, over all tables
	Inserts int64 // INSERT rounds that succeeded
	Errors  int64 // rounds that failed and were retried
}

// Connector connects with Open and migrates the schema: what a Writer
// needs before its first write.
func Connector(cfg *config.ClickHouse, log *slog.Logger) func(context.Context) (driver.Conn, error) {
	return func(ctx context.Context) (driver.Conn, error) {
		conn, err := Open(ctx, cfg)
		if err != nil {
			return nil, err
		}
		applied, err := Migrate(ctx, conn, cfg.Database)
		if err != nil {
			conn.Close()
			return nil, err
		}
		if log != nil && len(applied) > 0 {
			log.Info("clickhouse schema migrated", "database", cfg.Database, "versions", fmt.Sprint(applied))
		}
		return conn, nil
	}
}

// NewWriter makes a Writer of the row outbox of store.
func NewWriter(store *state.Store, o WriterOptions) *Writer {
	if o.BatchRows <= 0 {
		o.BatchRows = 100000
	}
	if o.FlushInterval <= 0 {
		o.FlushInterval = time.Second
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return &Writer{store: store, o: o, log: o.Logger, m: newWriterMetrics(o.Registerer, store), wake: make(chan struct{}, 1)}
}

// Stats returns a snapshot of the counters.
func (w *Writer) Stats() WriterStats {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.mu.stats
}

// Staged is the service's call after each commit (pipeline.Options.Staged):
// it wakes the writer once pokeBytes of rows wait (as stored, compressed:
// ~140,000 rows of the benchmark's), or when the service has caught up and
// anything waits. Under load rounds then come with the interval or at
// pokeBytes, fewer and larger: every INSERT is a part in each table for
// ClickHouse to merge, and with wakes at 4 MiB the server took 4.1 µs of
// CPU per record against 2.5 at 16 MiB (uncompressed, as rows were stored
// then; bench/RESULTS.md). Caught up, nothing more would come before the
// interval, so the rows go out at once.
func (w *Writer) Staged(caughtUp bool) {
	if n := w.store.PendingRowBytes(); n >= pokeBytes || (caughtUp && n > 0) {
		w.Poke()
	}
}

const pokeBytes = 8 << 20

// minRoundGap is the least time between the starts of two rounds the
// writer was woken for: caught up, the service wakes it after every batch,
// and a trickle of events must not become an INSERT (a part) each. A full
// round goes on at once, and the interval's rounds are not held back.
const minRoundGap = 200 * time.Millisecond

// Poke asks for a write now rather than at the next interval.
func (w *Writer) Poke() {
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

// Run writes until ctx ends, retrying with backoff while ClickHouse is
// unreachable: the outbox on disk is the buffer meanwhile.
func (w *Writer) Run(ctx context.Context) {
	backoff := 100 * time.Millisecond
	tick := time.NewTicker(w.o.FlushInterval)
	defer tick.Stop()
	failing := false
	for {
		began := time.Now()
		_, full, err := w.WriteOnce(ctx)
		switch {
		case err != nil && ctx.Err() == nil:
			if !failing {
				w.log.Warn("writing to ClickHouse failed; rows wait in the outbox and writes are retried", LogAttrs(err)...)
			}
			failing = true
			select {
			case <-ctx.Done():
				return
			case <-time.After(backoff):
			}
			backoff = min(backoff*2, 10*time.Second)
			continue
		case err == nil && failing:
			w.log.Info("writing to ClickHouse again", "pending_bytes", w.store.PendingRowBytes())
			failing = false
		}
		backoff = 100 * time.Millisecond
		if full {
			continue // more is waiting than one round takes
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		case <-w.wake:
			if wait := minRoundGap - time.Since(began); wait > 0 {
				select {
				case <-ctx.Done():
					return
				case <-time.After(wait):
				}
			}
		}
	}
}

// Drain writes until the outbox is empty or ctx ends.
func (w *Writer) Drain(ctx context.Context) error {
	for {
		n, _, err := w.WriteOnce(ctx)
		if err != nil || n == 0 {
			return err
		}
	}
}

// readBytes bounds how much of the outbox one round decodes (at least one
// batch); rows average well under 1 KiB, so this rarely ends a round early.
const readBytes = 64 << 20

// WriteOnce writes one round: the oldest row batches, up to BatchRows rows
// (at least one batch), then removes them from the outbox. full reports
// that the round stopped at the row limit, so more may be waiting. Rounds
// run one at a time (Run, then Drain): they share the Writer's connection
// and column buffers.
func (w *Writer) WriteOnce(ctx context.Context) (rows int, full bool, err error) {
	// Batches are decoded as they are read: only this round's rows are
	// held, however long the backlog (an outage's worth).
	cols := &w.cols
	defer cols.reset()
	var taken []state.RowBatch
	read := 0
	err = w.store.EachRowBatch(func(b state.RowBatch) (bool, error) {
		if len(taken) > 0 && (cols.rows() >= w.o.BatchRows || read >= readBytes) {
			full = true
			return false, nil
		}
		if err := cols.decode(b.Data); err != nil {
			// The outbox is written by this program in the same batch as
			// the state; a record it cannot read means a damaged store,
			// which must not be skipped silently.
			return false, fmt.Errorf("row batch %d: %w", b.Seq, err)
		}
		b.Data = nil
		taken = append(taken, b)
		read += b.Size
		if len(cols.purge.customers) > 0 {
			// A forget ends its round: the purge after the INSERT must
			// not meet rows of later batches (an identifier that came
			// back as a new customer).
			full = true
			return false, nil
		}
		return true, nil
	})
	if err != nil || len(taken) == 0 {
		return 0, false, err
	}
	if w.conn == nil {
		if w.conn, err = w.o.Connect(ctx); err != nil {
			w.conn = nil
			w.fail()
			return 0, false, err
		}
	}
	if err := w.hideTriggers(ctx, cols); err != nil {
		w.conn.Close()
		w.conn = nil
		w.fail()
		return 0, false, err
	}
	began := time.Now()
	if err := w.insert(ctx, cols); err != nil {
		// A fresh connection for the retry: the old one may be broken in
		// ways the pool does not notice.
		w.conn.Close()
		w.conn = nil
		w.fail()
		return 0, false, err
	}
	w.m.insertSeconds.Observe(time.Since(began).Seconds())
	if err := w.purge(ctx, &cols.purge); err != nil {
		w.conn.Close()
		w.conn = nil
		w.fail()
		return 0, false, err
	}
	if err := w.store.AckRows(taken); err != nil {
		return 0, false, err
	}
	rows = cols.rows()
	w.mu.Lock()
	w.mu.stats.Rows += int64(rows)
	w.mu.stats.Inserts++
	w.mu.Unlock()
	return rows, full, nil
}

// hideTriggers adds tombstones for the trigger rows of the customers a
// forget in this round erases, so that the triggers view stops showing
// them with this INSERT, as the other views do (the purge after it then
// deletes them from the base table). The state keeps no list of a
// customer's triggers (it would cost a key per trigger on the hot path):
// those written before are read from ClickHouse, and this round's own are
// turned into tombstones in place.
func (w *Writer) hideTriggers(ctx context.Context, c *columns) error {
	p := &c.purge
	if len(p.customers) == 0 {
		return nil
	}
	forgotten := make(map[string]bool, len(p.customers))
	for _, id := range p.customers {
		forgotten[id] = true
	}
	g := &c.triggers
	held := make(map[string]bool)
	for i, id := range g.customerID {
		if forgotten[id] {
			g.version[i], g.deleted[i] = max(g.version[i], p.version), 1
			held[g.triggerID[i]] = true
		}
	}
	rows, err := w.conn.Query(ctx, "SELECT trigger_id, customer_id FROM "+w.o.Database+"."+TriggerTable+
		" WHERE has(?, customer_id) AND deleted = 0 GROUP BY trigger_id, customer_id", p.customers)
	if err != nil {
		return fmt.Errorf("clickhouse: reading the triggers of forgotten customers: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var id, cust string
		if err := rows.Scan(&id, &cust); err != nil {
			return fmt.Errorf("clickhouse: reading the triggers of forgotten customers: %w", err)
		}
		if held[id] {
			continue
		}
		held[id] = true
		g.triggerID, g.customerID = append(g.triggerID, id), append(g.customerID, cust)
		g.rule, g.firedAt = append(g.rule, ""), append(g.firedAt, dateTime(0))
		g.eventIDs = append(g.eventIDs, []string{})
		g.version, g.deleted = append(g.version, p.version), append(g.deleted, 1)
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("clickhouse: reading the triggers of forgotten customers: %w", err)
	}
	return nil
}

func (w *Writer) fail() {
	w.m.errors.Inc()
	w.mu.Lock()
	w.mu.stats.Errors++
	w.mu.Unlock()
}

// Close closes the connection. Call it after Run and Drain have returned.
func (w *Writer) Close() {
	if w.conn != nil {
		w.conn.Close()
		w.conn = nil
	}
}

// insert sends every table's rows. A failure part-way leaves some tables
// written; the retry writes them again at the same versions, which the
// tables absorb.
func (w *Writer) insert(ctx context.Context, c *columns) error {
	j, p, id, m, x, g, a := &c.journeys, &c.profiles, &c.identities, &c.merges, &c.conflicts, &c.triggers, &c.audits
	for _, t := range []struct {
		table string
		n     int
		cols  []any
	}{
		{JourneyTable, len(j.customerID), []any{j.customerID, j.eventID, j.seq, j.eventTime, j.tsMS, j.channel, j.typ, j.stage, j.prevChan, j.secsSincePrev, j.props, j.version, j.deleted}},
		{ProfileTable, len(p.customerID), []any{p.customerID, p.ids, p.firstSeen, p.lastSeen, p.events, p.channels, p.stage, p.purchases, p.revenue, p.segments, p.updatedAt, p.version, p.deleted}},
		{IdentityTable, len(id.idType), []any{id.idType, id.idValue, id.customerID, id.version, id.deleted}},
		{MergeTable, len(m.absorbed), []any{m.absorbed, m.survivor, m.via, m.mergedAt, m.eventID, m.version, m.deleted}},
		{ConflictTable, len(x.eventID), []any{x.customerID, x.idType, x.idValue, x.reason, x.at, x.eventID, x.version, x.deleted}},
		{TriggerTable, len(g.triggerID), []any{g.triggerID, g.rule, g.customerID, g.firedAt, g.eventIDs, g.version, g.deleted}},
		{AuditTable, len(a.requestID), []any{a.requestID, a.op, a.customerID, a.resolvedID, a.idType, a.status, a.actor, a.events, a.parts, a.requestedAt, a.version}},
	} {
		if t.n == 0 {
			continue
		}
		if err := w.send(ctx, t.table, t.cols); err != nil {
			return fmt.Errorf("clickhouse: insert into %s: %w", t.table, err)
		}
		w.m.rows.WithLabelValues(t.table).Add(float64(t.n))
	}
	return nil
}

// purge removes forgotten customers' rows from the base tables. The
// tombstones hide them from the views at once, but the older rows stay in
// the tables' parts until a merge, and the tombstones themselves keep their
// keys, which for identities and conflicts are identifier values: a forget
// must not leave those behind. ALTER TABLE … DELETE (a mutation) removes
// them, asynchronously, from the parts that exist when it is issued —
// which hold every row of the forgotten customers, since the round that
// carries the forget is the last to write any.
//
// Two steps keep the views exact meanwhile: first the live rows go (the
// tombstones still hide any part not yet rewritten), and only once those
// mutations are done the tombstones. Mutations rewrite whole parts, so a
// forget costs a rewrite of the tables; forgets are rare. Repeating a purge
// is harmless, so a failure retries the whole round.
func (w *Writer) purge(ctx context.Context, p *purge) error {
	if len(p.customers) == 0 && len(p.identifiers) == 0 {
		return nil
	}
	db := w.o.Database
	steps := []struct {
		table, where string
		arg          []string
	}{
		{JourneyTable, "has(?, customer_id)", p.customers},
		{ProfileTable, "has(?, customer_id)", p.customers},
		{MergeTable, "(has(?, absorbed_id) OR has(?, survivor_id))", p.customers},
		{ConflictTable, "has(?, customer_id)", p.customers},
		{TriggerTable, "has(?, customer_id)", p.customers},
		{IdentityTable, "has(?, concat(id_type, ':', id_value))", p.identifiers},
	}
	for _, phase := range []string{" AND deleted = 0", ""} {
		for _, m := range steps {
			if len(m.arg) == 0 {
				continue
			}
			args := []any{m.arg}
			if strings.Count(m.where, "?") == 2 {
				args = append(args, m.arg)
			}
			if err := w.conn.Exec(ctx, "ALTER TABLE "+db+"."+m.table+" DELETE WHERE "+m.where+phase, args...); err != nil {
				return fmt.Errorf("clickhouse: purge of forgotten rows from %s: %w", m.table, err)
			}
		}
		if err := w.awaitMutations(ctx); err != nil {
			return err
		}
	}
	w.m.purges.Add(float64(len(p.customers)))
	return nil
}

// purgeWait bounds how long a purge waits for its mutations. One that
// never finishes (a failed mutation stays not done on 18.16) must not hold
// the writer for ever: the round fails, is logged and retried with backoff,
// and rows queue in the outbox meanwhile, up to its cap.
const purgeWait = 15 * time.Minute

// awaitMutations waits until the database has no mutation in progress.
func (w *Writer) awaitMutations(ctx context.Context) error {
	deadline := time.Now().Add(purgeWait)
	for {
		var n uint64
		if err := w.conn.QueryRow(ctx, "SELECT count() FROM system.mutations WHERE database = ? AND is_done = 0", w.o.Database).Scan(&n); err != nil {
			return fmt.Errorf("clickhouse: purge: waiting for mutations: %w", err)
		}
		if n == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("clickhouse: purge: %d mutations of database %s still running after %s (see system.mutations)", n, w.o.Database, purgeWait)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}

func (w *Writer) send(ctx context.Context, table string, cols []any) error {
	b, err := w.conn.PrepareBatch(ctx, InsertStatement(w.o.Database, table))
	if err != nil {
		return err
	}
	n := reflect.ValueOf(cols[0]).Len()
	for lo := 0; lo < n; lo += sendBlockRows {
		hi := min(lo+sendBlockRows, n)
		for i, col := range cols {
			if err := b.Column(i).Append(reflect.ValueOf(col).Slice(lo, hi).Interface()); err != nil {
				b.Abort()
				return err
			}
		}
		if hi < n {
			if err := b.Flush(); err != nil {
				b.Abort()
				return err
			}
		}
	}
	return b.Send()
}

// sendBlockRows is the rows per block of an INSERT. The driver's column
// buffers grow from empty for every INSERT and are reused from block to
// block within one: with one block per INSERT they were the writer's
// largest allocation (1.3 GB per 600,000 records; 0.44 GB in blocks of
// 4,096). The server squashes an INSERT's blocks into parts of up to
// min_insert_block_size_rows (1,048,576 by default), so this does not
// multiply parts (checked in system.parts on 18.16).
const sendBlockRows = 4096

// LogAttrs gives the log attributes of a write error without the server's
// message text, which may quote row values (personal data): a server
// exception is logged by code and name only.
func LogAttrs(err error) []any {
	var ex *clickhouse.Exception
	if errors.As(err, &ex) {
		return []any{"code", ex.Code, "exception", ex.Name}
	}
	return []any{"err", err}
}

type writerMetrics struct {
	rows          *prometheus.CounterVec
	errors        prometheus.Counter
	insertSeconds prometheus.Histogram
	purges        prometheus.Counter
}

func newWriterMetrics(reg prometheus.Registerer, store *state.Store) *writerMetrics {
	m := &writerMetrics{
		rows: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "omnistitch_clickhouse_rows_written_total", Help: "Rows written to ClickHouse, by base table.",
		}, []string{"table"}),
		errors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "omnistitch_clickhouse_write_errors_total", Help: "ClickHouse write rounds that failed and were retried.",
		}),
		insertSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "omnistitch_clickhouse_insert_seconds", Help: "Time to write one round of rows to ClickHouse.",
			Buckets: prometheus.ExponentialBuckets(0.005, 2, 12),
		}),
		purges: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "omnistitch_clickhouse_purged_customers_total", Help: "Forgotten customers (and those merged into them) whose rows were purged from the base tables.",
		}),
	}
	if reg != nil {
		reg.MustRegister(m.rows, m.errors, m.insertSeconds, m.purges,
			prometheus.NewGaugeFunc(prometheus.GaugeOpts{
				Name: "omnistitch_clickhouse_outbox_bytes", Help: "Bytes of rows in the outbox waiting for ClickHouse.",
			}, func() float64 { return float64(store.PendingRowBytes()) }))
	}
	return m
}
