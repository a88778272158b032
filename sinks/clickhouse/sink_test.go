package clickhouse_test

import (
	"context"
	"crypto/rand"
	"fmt"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/omnistitch/omnistitch/bench/gen"
	"github.com/omnistitch/omnistitch/internal/chtest"
	"github.com/omnistitch/omnistitch/internal/config"
	"github.com/omnistitch/omnistitch/sinks/clickhouse"
	"github.com/omnistitch/omnistitch/state"
	"github.com/omnistitch/omnistitch/stitch"
	"github.com/omnistitch/omnistitch/stitch/event"
)

// rig is an engine whose batches stage rows, and a writer into a fresh
// database on the test server.
type rig struct {
	t     *testing.T
	cfg   *config.Config
	store *state.Store
	eng   *stitch.Engine
	stage func(*state.Txn, *stitch.Result) error
	conn  driver.Conn
	db    string
	w     *clickhouse.Writer
}

func newRig(t *testing.T, set ...func(*config.ClickHouse)) *rig {
	t.Helper()
	addr, db := chtest.Database(t)
	return newRigAt(t, addr, db, set...)
}

func newRigAt(t *testing.T, addr, db string, set ...func(*config.ClickHouse)) *rig {
	t.Helper()
	cfg := config.Default()
	cfg.ClickHouse.Addr, cfg.ClickHouse.Database = addr, db
	for _, f := range set {
		f(&cfg.ClickHouse)
	}
	store, err := state.Open(t.TempDir(), state.Options{CustomerCache: 64, IdentifierCache: 64})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	eng, err := stitch.New(cfg, store)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	conn, err := clickhouse.Open(ctx, &cfg.ClickHouse)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	if _, err := clickhouse.Migrate(ctx, conn, db); err != nil {
		t.Fatal(err)
	}
	w := clickhouse.NewWriter(store, clickhouse.WriterOptions{Connect: clickhouse.Connector(&cfg.ClickHouse, nil), Database: db, BatchRows: 5000, FlushInterval: 100 * time.Millisecond})
	t.Cleanup(w.Close)
	return &rig{t: t, cfg: cfg, store: store, eng: eng, stage: clickhouse.Stage(eng), conn: conn, db: db, w: w}
}

func (r *rig) apply(evs []event.Event, batch int) {
	r.t.Helper()
	for i := 0; i < len(evs); i += batch {
		if _, err := r.eng.ApplyWith(evs[i:min(i+batch, len(evs))], r.stage); err != nil {
			r.t.Fatal(err)
		}
	}
}

func (r *rig) drain() {
	r.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := r.w.Drain(ctx); err != nil {
		r.t.Fatal(err)
	}
	if n := r.store.PendingRowBytes(); n != 0 {
		r.t.Fatalf("%d bytes left in the row outbox after a drain", n)
	}
}

func (r *rig) query(q string, args ...any) driver.Rows {
	r.t.Helper()
	rows, err := r.conn.Query(context.Background(), strings.ReplaceAll(q, "{db}", r.db), args...)
	if err != nil {
		r.t.Fatalf("%s: %v", q, err)
	}
	return rows
}

func (r *rig) count(q string) uint64 {
	r.t.Helper()
	var n uint64
	if err := r.conn.QueryRow(context.Background(), strings.ReplaceAll(q, "{db}", r.db)).Scan(&n); err != nil {
		r.t.Fatalf("%s: %v", q, err)
	}
	return n
}

// check compares every view with the engine's committed state: the same
// journey rows (customer, seq, event and what came before), profiles and
// identifier owners, and nothing else.
func (r *rig) check() {
	r.t.Helper()
	var want []string
	wantProfiles := map[string]string{}
	wantIDs := map[string]string{}
	if err := r.eng.Customers(func(c *state.Customer) error {
		p := stitch.ProfileOf(c)
		segs := c.Segments
		if segs == nil {
			segs = []string{}
		}
		wantProfiles[c.ID] = fmt.Sprintf("%v %d %v %s %d %.4f %v %s", c.IDs, p.Events, p.Channels, p.Stage, p.Purchases, p.Revenue, segs, p.LastSeen)
		for _, k := range c.IDs {
			wantIDs[k] = c.ID
		}
		return r.eng.Journey(c.ID, func(j *stitch.JourneyRow) error {
			want = append(want, journeyLine(j.CustomerID, j.Seq, j.EventID, j.TS, j.Channel, j.Type, j.Stage, j.PrevChannel, j.SecsSincePrev, string(j.Props)))
			return nil
		})
	}); err != nil {
		r.t.Fatal(err)
	}

	var got []string
	rows := r.query(`SELECT customer_id, seq, event_id, event_time, ts_ms, channel, type, stage, prev_channel, secs_since_prev, props FROM {db}.journeys ORDER BY customer_id, seq`)
	for rows.Next() {
		var cust, eid, ch, typ, stage, prev, props string
		var seq uint32
		var et time.Time
		var ts int64
		var secs float64
		if err := rows.Scan(&cust, &seq, &eid, &et, &ts, &ch, &typ, &stage, &prev, &secs, &props); err != nil {
			r.t.Fatal(err)
		}
		if et.Unix() != max(0, floorDiv(ts, 1000)) {
			r.t.Fatalf("event_time %v does not match ts_ms %d", et, ts)
		}
		if props == "{}" {
			props = ""
		}
		got = append(got, journeyLine(cust, int(seq), eid, ts, ch, typ, stage, prev, secs, props))
	}
	rows.Close()
	if d := diff(want, got); d != "" {
		r.t.Fatalf("journeys view differs from the engine (-engine +view):\n%s", d)
	}

	gotProfiles := map[string]string{}
	rows = r.query(`SELECT customer_id, ids, events, channels, stage, purchases, revenue, segments, last_seen FROM {db}.profiles`)
	for rows.Next() {
		var id, stage string
		var ids, channels, segs []string
		var events, purchases uint64
		var revenue float64
		var last time.Time
		if err := rows.Scan(&id, &ids, &events, &channels, &stage, &purchases, &revenue, &segs, &last); err != nil {
			r.t.Fatal(err)
		}
		gotProfiles[id] = fmt.Sprintf("%v %d %v %s %d %.4f %v %s", ids, events, channels, stage, purchases, revenue, segs, event.FormatTS(last.UnixMilli()))
	}
	rows.Close()
	for id, w := range wantProfiles {
		// last_seen is a DateTime: seconds only.
		w = w[:strings.LastIndexByte(w, ' ')]
		g := gotProfiles[id]
		if i := strings.LastIndexByte(g, ' '); i >= 0 {
			g = g[:i]
		}
		if g != w {
			r.t.Fatalf("profile %s: view %q, engine %q", id, g, w)
		}
	}
	if len(gotProfiles) != len(wantProfiles) {
		r.t.Fatalf("profiles view has %d customers, engine %d", len(gotProfiles), len(wantProfiles))
	}

	gotIDs := map[string]string{}
	rows = r.query(`SELECT id_type, id_value, customer_id FROM {db}.identities`)
	for rows.Next() {
		var typ, v, cust string
		if err := rows.Scan(&typ, &v, &cust); err != nil {
			r.t.Fatal(err)
		}
		gotIDs[typ+":"+v] = cust
	}
	rows.Close()
	if fmt.Sprint(gotIDs) != fmt.Sprint(wantIDs) {
		r.t.Fatalf("identities view has %d identifiers, engine %d (or owners differ)", len(gotIDs), len(wantIDs))
	}
}

func journeyLine(cust string, seq int, eid string, ts int64, ch, typ, stage, prev string, secs float64, props string) string {
	return fmt.Sprintf("%s %4d %s %d %s %s %s %s %.3f %s", cust, seq, eid, ts, ch, typ, stage, prev, secs, props)
}

func floorDiv(a, b int64) int64 { return int64(math.Floor(float64(a) / float64(b))) }

func diff(want, got []string) string {
	var b strings.Builder
	for i := 0; i < max(len(want), len(got)) && b.Len() < 4000; i++ {
		var w, g string
		if i < len(want) {
			w = want[i]
		}
		if i < len(got) {
			g = got[i]
		}
		if w != g {
			fmt.Fprintf(&b, "-%s\n+%s\n", w, g)
		}
	}
	return b.String()
}

func decodeAll(t *testing.T, cfg *config.Config, recs []gen.Record) []event.Event {
	t.Helper()
	dec := event.NewDecoder(cfg.Input.MaxEventBytes, cfg.Input.Channels)
	var evs []event.Event
	for _, rec := range recs {
		if ev, err := dec.Decode(rec.Line); err == nil {
			evs = append(evs, ev)
		}
	}
	return evs
}

func mustEvents(t *testing.T, lines ...string) []event.Event {
	t.Helper()
	dec := event.NewDecoder(1<<20, []string{"web", "store", "callcentre", "email"})
	evs := make([]event.Event, len(lines))
	for i, l := range lines {
		ev, err := dec.Decode([]byte(l))
		if err != nil {
			t.Fatalf("line %d: %v", i+1, err)
		}
		evs[i] = ev
	}
	return evs
}

// Realistic traffic — merges across channels, shared store tablets that
// undo merges, late store uploads, redeliveries — written batch by batch,
// with the writer running between batches: the views equal the engine.
func TestViewsEqualEngine(t *testing.T) {
	r := newRig(t)
	evs := decodeAll(t, r.cfg, gen.All(gen.Options{Seed: 3, Customers: 300, Events: 6000}))
	for i := 0; i < len(evs); i += 1000 {
		r.apply(evs[i:min(i+1000, len(evs))], 250)
		r.drain()
	}
	r.check()
	if n := r.count(`SELECT count() FROM {db}.merges`); n == 0 {
		t.Fatal("the traffic made no merges; the test would not cover re-keying")
	}
	if n := r.count(`SELECT count() FROM (SELECT customer_id, max(seq) AS m, count() AS c, uniqExact(seq) AS u FROM {db}.journeys GROUP BY customer_id) WHERE m != c OR u != c`); n != 0 {
		t.Fatalf("%d customers with gaps or repeats in seq", n)
	}
	if n := r.count(`SELECT count() FROM {db}.journeys WHERE customer_id NOT IN (SELECT customer_id FROM {db}.profiles)`); n != 0 {
		t.Fatalf("%d journey rows under customers that no longer exist", n)
	}
	if n := r.count(`SELECT count() FROM {db}.journeys WHERE customer_id IN (SELECT absorbed_id FROM {db}.merges) AND customer_id NOT IN (SELECT customer_id FROM {db}.profiles)`); n != 0 {
		t.Fatalf("%d journey rows under absorbed customers", n)
	}
}

// A round larger than one INSERT block (SendBlockRows) is sent in several
// blocks of one INSERT: every row arrives, and the views equal the engine,
// with blocks sent compressed (as to a remote server) or not (as, by
// default, to the test server on loopback).
func TestRoundOfManyBlocks(t *testing.T) {
	for _, comp := range []string{"lz4", "none"} {
		t.Run(comp, func(t *testing.T) {
			r := newRig(t, func(c *config.ClickHouse) { c.Compression = comp })
			if got := r.cfg.ClickHouse.Compressed(); got != (comp == "lz4") {
				t.Fatalf("compression %q: Compressed() = %v", comp, got)
			}
			evs := decodeAll(t, r.cfg, gen.All(gen.Options{Seed: 4, Customers: 600, Events: 3*clickhouse.SendBlockRows + 100}))
			r.apply(evs, len(evs))
			if rows, _, err := r.w.WriteOnce(context.Background()); err != nil || rows < 3*clickhouse.SendBlockRows {
				t.Fatalf("one round wrote %d rows (%v), want more than %d", rows, err, 3*clickhouse.SendBlockRows)
			}
			r.drain()
			r.check()
		})
	}
}

// A web visitor, a store customer and a caller turn out to be one person;
// then a store upload arrives late, before everything else; then the store's
// shared tablet is recognised and the merge it caused is undone.
func TestMergeLateEventAndUnmerge(t *testing.T) {
	r := newRig(t)
	r.apply(mustEvents(t,
		`{"event_id":"w1","channel":"web","type":"page_view","ts":"2026-11-20T10:00:00Z","ids":{"cookie":"k1"}}`,
		`{"event_id":"s1","channel":"store","type":"purchase","ts":"2026-11-20T11:00:00Z","ids":{"loyalty":"L1","phone":"030 1234567"},"props":{"total":10}}`,
		`{"event_id":"c1","channel":"callcentre","type":"call","ts":"2026-11-20T12:00:00Z","ids":{"crm":"C1","phone":"+49 30 1234567"}}`,
	), 1)
	r.drain()
	if n := r.count(`SELECT uniqExact(customer_id) FROM {db}.journeys`); n != 2 {
		t.Fatalf("before the login: %d customers, want 2 (web alone; store and call by phone)", n)
	}
	r.apply(mustEvents(t,
		`{"event_id":"w2","channel":"web","type":"login","ts":"2026-11-20T13:00:00Z","ids":{"cookie":"k1","crm":"C1"}}`,
	), 1)
	r.drain()
	r.check()
	if n := r.count(`SELECT uniqExact(customer_id) FROM {db}.journeys`); n != 1 {
		t.Fatalf("after the login: %d customers, want 1", n)
	}
	r.apply(mustEvents(t,
		`{"event_id":"s0","channel":"store","type":"purchase","ts":"2026-11-19T09:00:00Z","ids":{"loyalty":"L1"},"props":{"total":5}}`,
	), 1)
	r.drain()
	r.check()
	var first string
	if err := r.conn.QueryRow(context.Background(), `SELECT event_id FROM `+r.db+`.journeys WHERE seq = 1`).Scan(&first); err != nil || first != "s0" {
		t.Fatalf("seq 1 is %q (%v), want the late s0", first, err)
	}

	// A tablet in the store used by four loyalty members: shared after
	// three, and the merge it made between two of them is undone.
	var evs []string
	for i, m := range []string{"M1", "M2", "M3", "M4"} {
		evs = append(evs, fmt.Sprintf(`{"event_id":"t%d","channel":"store","type":"product_view","ts":"2026-11-21T1%d:00:00Z","ids":{"device":"tab1","loyalty":"%s"}}`, i, i, m))
	}
	r.apply(mustEvents(t, evs...), 2)
	r.drain()
	r.check()
	if n := r.count(`SELECT count() FROM {db}.identities WHERE id_type = 'device'`); n != 0 {
		t.Fatalf("the shared tablet still links %d customer(s)", n)
	}
	if n := r.count(`SELECT uniqExact(customer_id) FROM {db}.journeys WHERE event_id LIKE 't%'`); n != 4 {
		t.Fatalf("tablet events under %d customers, want 4 after the unmerge", n)
	}
}

// Writing the same rows twice — the writer crashed after the INSERT and
// before removing them from the outbox — changes nothing users see.
func TestRedeliveryIsHarmless(t *testing.T) {
	r := newRig(t)
	evs := decodeAll(t, r.cfg, gen.All(gen.Options{Seed: 5, Customers: 100, Events: 2000}))
	r.apply(evs, 200)
	batches, err := r.store.RowBatches(1 << 30)
	if err != nil {
		t.Fatal(err)
	}
	r.drain()
	before := r.w.Stats().Rows
	// Put the same row batches back and write them again.
	txn := r.store.Begin()
	for _, b := range batches {
		txn.EnqueueRows(b.Data)
	}
	if err := txn.Commit(); err != nil {
		t.Fatal(err)
	}
	r.drain()
	if after := r.w.Stats().Rows; after != 2*before {
		t.Fatalf("writer wrote %d rows in all, want %d (the test must really write twice)", after, 2*before)
	}
	r.check()
}

// ClickHouse stops in the middle of a run: the engine goes on, rows wait
// in the outbox, and once the server is back the tables end complete and
// exact.
func TestOutageMidRun(t *testing.T) {
	srv := chtest.StartOwnServer(t)
	r := newRigAt(t, srv.Addr(), "omnistitch")
	evs := decodeAll(t, r.cfg, gen.All(gen.Options{Seed: 9, Customers: 200, Events: 4000}))
	third := len(evs) / 3

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		r.w.Run(ctx)
	}()
	waitEmpty := func(what string) {
		t.Helper()
		for deadline := time.Now().Add(90 * time.Second); r.store.PendingRowBytes() > 0; time.Sleep(20 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("%s: %d bytes still waiting (%+v)", what, r.store.PendingRowBytes(), r.w.Stats())
			}
		}
	}
	r.apply(evs[:third], 100)
	waitEmpty("before the outage")

	srv.Stop()
	r.apply(evs[third:2*third], 100)
	for deadline := time.Now().Add(30 * time.Second); r.w.Stats().Errors == 0; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("no failed write while the server was down")
		}
	}
	if r.store.PendingRowBytes() == 0 {
		t.Fatal("nothing waits in the outbox during the outage")
	}
	r.apply(evs[2*third:], 100)

	srv.Start()
	waitEmpty("after the outage")
	cancel()
	<-done
	r.check()
}

// The service's call after each commit wakes the writer once pokeBytes
// wait, or when it has caught up and anything waits.
func TestStagedWakes(t *testing.T) {
	store, err := state.Open(t.TempDir(), state.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	w := clickhouse.NewWriter(store, clickhouse.WriterOptions{Connect: nil, Database: "x", BatchRows: 5000, FlushInterval: time.Hour})
	enqueue := func(n int) {
		// Random bytes: stored as they are, uncompressed, so n of them
		// count as n.
		b := make([]byte, n)
		rand.Read(b)
		b[0] = 3
		txn := store.Begin()
		txn.EnqueueRows(b)
		if err := txn.Commit(); err != nil {
			t.Fatal(err)
		}
	}
	w.Staged(true)
	if clickhouse.Woken(w) {
		t.Fatal("woken with nothing waiting")
	}
	enqueue(1000)
	if w.Staged(false); clickhouse.Woken(w) {
		t.Fatal("woken for 1,000 bytes while the service is busy")
	}
	if w.Staged(true); !clickhouse.Woken(w) {
		t.Fatal("not woken for rows waiting when the service caught up")
	}
	enqueue(clickhouse.PokeBytes)
	if w.Staged(false); !clickhouse.Woken(w) {
		t.Fatal("not woken with pokeBytes waiting")
	}
}

// Caught up, the service wakes the writer after every batch: the rows go
// out at once, but a stream of small batches is not an INSERT round each.
func TestWriterRoundsWhenCaughtUp(t *testing.T) {
	r := newRig(t)
	w := clickhouse.NewWriter(r.store, clickhouse.WriterOptions{Connect: clickhouse.Connector(&r.cfg.ClickHouse, nil),
		Database: r.db, BatchRows: 5000, FlushInterval: time.Hour}) // only wakes start rounds here
	t.Cleanup(w.Close)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		w.Run(ctx)
	}()
	defer func() { cancel(); <-done }()
	waitFor := func(what string, ok func() bool) {
		t.Helper()
		for deadline := time.Now().Add(10 * time.Second); !ok(); time.Sleep(5 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("%s: not within 10 s (%+v, %d bytes waiting)", what, w.Stats(), r.store.PendingRowBytes())
			}
		}
	}
	evs := decodeAll(t, r.cfg, gen.All(gen.Options{Seed: 3, Customers: 50, Events: 2000}))
	r.apply(evs[:10], 10)
	w.Staged(true)
	waitFor("first batch written", func() bool { return r.store.PendingRowBytes() == 0 })
	before := w.Stats().Inserts
	start := time.Now()
	batches := 0
	for i := 10; time.Since(start) < time.Second && i+5 <= len(evs); i += 5 {
		r.apply(evs[i:i+5], 5)
		w.Staged(true)
		batches++
		time.Sleep(5 * time.Millisecond)
	}
	waitFor("the stream written", func() bool { return r.store.PendingRowBytes() == 0 })
	rounds := w.Stats().Inserts - before
	// One round per 200 ms at most, and one for the last batches.
	if max := int64(time.Since(start)/(200*time.Millisecond)) + 2; rounds > max || rounds < 2 {
		t.Fatalf("%d batches in %v went out in %d rounds, want 2 to %d", batches, time.Since(start), rounds, max)
	}
}
