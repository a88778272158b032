package queries_test

import (
	"cmp"
	"context"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
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

// Every *.sql file here runs against generated traffic loaded through the
// real engine and ClickHouse sink, and must return rows; the files named in
// expectations must also return exactly what the engine's own state says
// the answer is, computed here in Go without SQL.
func TestQueries(t *testing.T) {
	files, err := filepath.Glob("*.sql")
	if err != nil {
		t.Fatal(err)
	}
	if len(files) < 8 {
		t.Fatalf("%d query files, want at least 8", len(files))
	}
	for name := range expectations {
		if !slices.Contains(files, name) {
			t.Errorf("%s has an expectation but no file", name)
		}
	}
	f := load(t)
	for _, name := range files {
		t.Run(strings.TrimSuffix(name, ".sql"), func(t *testing.T) {
			src, err := os.ReadFile(name)
			if err != nil {
				t.Fatal(err)
			}
			documented := checkHeader(t, string(src))
			cols, got := f.run(t, string(src))
			if len(got) == 0 {
				t.Fatal("no rows")
			}
			if !slices.Equal(cols, documented) {
				t.Errorf("result columns %v, the header documents %v", cols, documented)
			}
			want, ok := expectations[name]
			if !ok {
				t.Logf("no expectation for %s: checked only that it runs and returns rows", name)
				return
			}
			compare(t, got, want(t, f))
		})
	}
}

// ---- loading ----

// fixture is the loaded database and the engine state it was written from.
type fixture struct {
	conn      driver.Conn
	db        string
	tz        *time.Location // the server's: DateTime and week functions use it
	customers []state.Customer
	journeys  map[string][]stitch.JourneyRow // by customer, in seq order
	merges    []state.Merge
	conflicts []state.Conflict
	triggers  []triggerRow // the engine's, then ours; per trigger_id the highest version counts
}

type triggerRow struct {
	id, rule, customer string
	version            uint64
	deleted            uint8
}

// Traffic: gen packs Events × 3 s into its time span (100 minutes here), too
// short for weekly cohorts, a 30-day funnel window or a 1-hour cart window.
// So each person's events are spread out: gaps up to sessionGap stay in the
// session and are stretched sessionStretch times (a 45 s gap becomes
// 7.5 min), longer gaps and the persons' start times pauseStretch times
// (the span becomes ten weeks). Each person's event order is kept; arrival
// order (late uploads, redeliveries) is the generator's.
const (
	seed           = 1
	persons        = 300
	events         = 2000
	sessionGap     = 5 * 60 * 1000 // ms, before stretching
	sessionStretch = 10
	pauseStretch   = 1000
)

func traffic(cfg *config.Config) []event.Event {
	start := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	recs := gen.All(gen.Options{Seed: seed, Customers: persons, Events: events, Start: start})
	byPerson := map[int][]gen.Record{}
	for _, r := range recs {
		if r.Valid && !r.Dup {
			byPerson[r.Truth] = append(byPerson[r.Truth], r)
		}
	}
	stretched := map[string]int64{}
	for _, rs := range byPerson {
		slices.SortStableFunc(rs, func(a, b gen.Record) int { return cmp.Compare(a.TSMillis, b.TSMillis) })
		var ts int64
		for i, r := range rs {
			switch gap := r.TSMillis - rs[max(i-1, 0)].TSMillis; {
			case i == 0:
				ts = start.UnixMilli() + (r.TSMillis-start.UnixMilli())*pauseStretch
			case gap <= sessionGap:
				ts += gap * sessionStretch
			default:
				ts += gap * pauseStretch
			}
			stretched[r.EventID] = ts
		}
	}
	dec := event.NewDecoder(cfg.Input.MaxEventBytes, cfg.Input.Channels)
	var evs []event.Event
	for _, r := range recs {
		ev, err := dec.Decode(r.Line)
		if err != nil {
			continue
		}
		if ts, ok := stretched[ev.ID]; ok { // redeliveries take the original's time
			ev.TS = ts
		}
		evs = append(evs, ev)
	}
	return evs
}

// load runs the traffic through the engine with the ClickHouse stage, drains
// the writer into a fresh database, adds some triggers, and reads back the
// engine's state.
func load(t *testing.T) *fixture {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	addr, db := chtest.Database(t)
	cfg := config.Default()
	cfg.ClickHouse.Addr, cfg.ClickHouse.Database = addr, db
	store, err := state.Open(t.TempDir(), state.Options{CustomerCache: 64, IdentifierCache: 64})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	eng, err := stitch.New(cfg, store)
	if err != nil {
		t.Fatal(err)
	}
	conn, err := clickhouse.Open(ctx, &cfg.ClickHouse)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	if _, err := clickhouse.Migrate(ctx, conn, db); err != nil {
		t.Fatal(err)
	}

	evs := traffic(cfg)
	stage := clickhouse.Stage(eng)
	var fired []state.Trigger
	for i := 0; i < len(evs); i += 250 {
		res, err := eng.ApplyWith(evs[i:min(i+250, len(evs))], stage)
		if err != nil {
			t.Fatal(err)
		}
		fired = append(fired, res.Triggers...)
	}
	w := clickhouse.NewWriter(store, clickhouse.WriterOptions{Connect: clickhouse.Connector(&cfg.ClickHouse, nil), Database: db})
	defer w.Close()
	if err := w.Drain(ctx); err != nil {
		t.Fatal(err)
	}

	f := &fixture{conn: conn, db: db, journeys: map[string][]stitch.JourneyRow{}}
	var tz string
	if err := conn.QueryRow(ctx, "SELECT timezone()").Scan(&tz); err != nil {
		t.Fatal(err)
	}
	if f.tz, err = time.LoadLocation(tz); err != nil {
		t.Fatalf("server time zone %q: %v", tz, err)
	}
	if err := eng.Customers(func(c *state.Customer) error {
		f.customers = append(f.customers, *c)
		return eng.Journey(c.ID, func(j *stitch.JourneyRow) error {
			f.journeys[c.ID] = append(f.journeys[c.ID], *j)
			return nil
		})
	}); err != nil {
		t.Fatal(err)
	}
	if err := store.Merges(func(m *state.Merge) error { f.merges = append(f.merges, *m); return nil }); err != nil {
		t.Fatal(err)
	}
	if err := store.Conflicts(func(c *state.Conflict) error { f.conflicts = append(f.conflicts, *c); return nil }); err != nil {
		t.Fatal(err)
	}
	if len(f.merges) == 0 || len(f.conflicts) == 0 {
		t.Fatalf("the traffic made %d merges and %d conflicts; their queries need some", len(f.merges), len(f.conflicts))
	}
	f.addTriggers(ctx, t, fired)
	return f
}

// addTriggers takes the triggers the engine fired (the sink wrote them)
// and changes them so that query 6 has customers on both sides: every other
// customer with an abandoned cart loses its cart_abandoned triggers (a
// tombstone at a higher version, as a forget would write), the others get
// one if the engine fired none. Two rows must not count: a trigger under
// another rule, and a deleted one.
func (f *fixture) addTriggers(ctx context.Context, t *testing.T, engine []state.Trigger) {
	const engineVersion, ourVersion = 1, math.MaxInt64 // ours replace the sink's rows
	for _, g := range engine {
		f.triggers = append(f.triggers, triggerRow{id: g.ID, rule: g.Rule, customer: g.Customer, version: engineVersion})
	}
	fired := map[string][]string{} // customer → its cart_abandoned trigger ids
	for _, g := range f.triggers {
		if g.rule == "cart_abandoned" {
			fired[g.customer] = append(fired[g.customer], g.id)
		}
	}
	var abandoned []string
	for _, c := range f.customers {
		for _, cart := range cartsOf(f.journeys[c.ID]) {
			if cart.abandoned {
				abandoned = append(abandoned, c.ID)
				break
			}
		}
	}
	if len(abandoned) < 4 {
		t.Fatalf("%d customers with an abandoned cart; too few to split by trigger", len(abandoned))
	}
	var ours []triggerRow
	for i, id := range abandoned {
		switch {
		case i%2 == 1:
			for _, tid := range fired[id] {
				ours = append(ours, triggerRow{id: tid, rule: "cart_abandoned", customer: id, version: ourVersion, deleted: 1})
			}
			if i == 1 {
				ours = append(ours,
					triggerRow{id: "t_other_rule_" + id, rule: "first_purchase", customer: id, version: ourVersion},
					triggerRow{id: "t_deleted_" + id, rule: "cart_abandoned", customer: id, version: ourVersion - 1},
					triggerRow{id: "t_deleted_" + id, rule: "cart_abandoned", customer: id, version: ourVersion, deleted: 1})
			}
		case len(fired[id]) == 0:
			ours = append(ours, triggerRow{id: "t_added_" + id, rule: "cart_abandoned", customer: id, version: ourVersion})
		}
	}
	b, err := f.conn.PrepareBatch(ctx, clickhouse.InsertStatement(f.db, clickhouse.TriggerTable))
	if err != nil {
		t.Fatal(err)
	}
	for _, tr := range ours {
		if err := b.Append(tr.id, tr.rule, tr.customer, time.UnixMilli(f.journeys[tr.customer][0].TS), []string{"e1"}, tr.version, tr.deleted); err != nil {
			t.Fatal(err)
		}
	}
	if err := b.Send(); err != nil {
		t.Fatal(err)
	}
	f.triggers = append(f.triggers, ours...)
}

// ---- running the files ----

// checkHeader checks the file's leading comment block and returns the
// column names it documents, in order.
func checkHeader(t *testing.T, src string) []string {
	t.Helper()
	var header []string
	for _, l := range strings.Split(src, "\n") {
		if !strings.HasPrefix(l, "--") {
			break
		}
		header = append(header, l)
	}
	text := strings.Join(header, "\n")
	for _, part := range []string{"-- Question: ", "-- How to read the result: ", "-- Columns:"} {
		if !strings.Contains(text, part) {
			t.Errorf("the leading comment block has no %q", part)
		}
	}
	if !strings.HasPrefix(src, "-- Question: ") {
		t.Errorf("the file does not start with \"-- Question: \"")
	}
	if !strings.Contains(src, "omnistitch.") {
		t.Errorf("the query names no omnistitch.* view")
	}
	var cols []string
	in := false
	for _, l := range header {
		switch {
		case l == "-- Columns:":
			in = true
		case in && columnLine.MatchString(l):
			cols = append(cols, columnLine.FindStringSubmatch(l)[1])
		case in && !strings.HasPrefix(l, "--    "): // not a continuation line
			in = false
		}
	}
	return cols
}

// A documented column: "--   name   what it is", three spaces before the
// name; descriptions continue on lines indented further.
var columnLine = regexp.MustCompile(`^--   (\w+)\s`)

// run executes a file's query in the test database (the only change is the
// database name) and returns the column names and the rows as scanned.
func (f *fixture) run(t *testing.T, src string) ([]string, [][]any) {
	t.Helper()
	q := strings.ReplaceAll(src, "omnistitch.", f.db+".")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	rows, err := f.conn.Query(ctx, q)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	types := rows.ColumnTypes()
	var out [][]any
	for rows.Next() {
		ptrs := make([]any, len(types))
		for i, ct := range types {
			ptrs[i] = reflect.New(ct.ScanType()).Interface()
		}
		if err := rows.Scan(ptrs...); err != nil {
			t.Fatal(err)
		}
		row := make([]any, len(ptrs))
		for i, p := range ptrs {
			row[i] = reflect.ValueOf(p).Elem().Interface()
			if tm, ok := row[i].(time.Time); ok {
				// Date as its day; DateTime as epoch seconds, free of time zones.
				if types[i].DatabaseTypeName() == "Date" {
					row[i] = tm.Format(time.DateOnly)
				} else {
					row[i] = tm.Unix()
				}
			}
		}
		out = append(out, row)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return rows.Columns(), out
}

// approx is an expected value that the query rounds: it matches a result
// within half a unit of the last decimal kept (plus float noise).
type approx struct {
	v   float64
	tol float64
}

func r1(v float64) approx { return approx{v, 0.05 + 1e-9} }  // round(x, 1)
func r2(v float64) approx { return approx{v, 0.005 + 1e-9} } // round(x, 2)

// compare matches rows and cells in order: approx cells numerically, all
// others by their printed form.
func compare(t *testing.T, got, want [][]any) {
	t.Helper()
	var b strings.Builder
	for i := 0; i < max(len(got), len(want)) && b.Len() < 4000; i++ {
		var g, w []any
		if i < len(got) {
			g = got[i]
		}
		if i < len(want) {
			w = want[i]
		}
		if !rowMatches(g, w) {
			fmt.Fprintf(&b, "row %d:\n  query %v\n  want  %v\n", i+1, g, w)
		}
	}
	if b.Len() > 0 {
		t.Errorf("%d rows from the query, %d expected; differences:\n%s", len(got), len(want), b.String())
	}
}

func rowMatches(got, want []any) bool {
	if len(got) != len(want) {
		return false
	}
	for i := range want {
		if a, ok := want[i].(approx); ok {
			g, ok := number(got[i])
			if !ok || !(math.Abs(g-a.v) <= a.tol || math.IsNaN(g) && math.IsNaN(a.v)) {
				return false
			}
			continue
		}
		if fmt.Sprint(got[i]) != fmt.Sprint(want[i]) {
			return false
		}
	}
	return true
}

func number(v any) (float64, bool) {
	rv := reflect.ValueOf(v)
	switch {
	case rv.CanFloat():
		return rv.Float(), true
	case rv.CanInt():
		return float64(rv.Int()), true
	case rv.CanUint():
		return float64(rv.Uint()), true
	}
	return 0, false
}

// ---- the answers, from the engine's state ----

var expectations = map[string]func(*testing.T, *fixture) [][]any{
	"01_conversion_funnel.sql":           wantFunnel,
	"02_top_paths_to_first_purchase.sql": wantPaths,
	"03_channel_transitions.sql":         wantTransitions,
	"04_time_to_first_purchase.sql":      wantTimeToPurchase,
	"05_purchase_attribution.sql":        wantAttribution,
	"06_cart_abandonment_recovery.sql":   wantCarts,
	"07_repeat_purchase_cohorts.sql":     wantCohorts,
	"08_customers_by_channel_count.sql":  wantChannelCounts,
	"09_identifier_coverage.sql":         wantIdentifiers,
	"10_merges_by_identifier_type.sql":   wantMerges,
	"11_identity_conflicts.sql":          wantConflicts,
}

func pct(n, of int) float64 { return 100 * float64(n) / float64(of) }

// firstPurchase returns the index of the first purchase in a journey, or -1.
func firstPurchase(j []stitch.JourneyRow) int {
	return slices.IndexFunc(j, func(r stitch.JourneyRow) bool { return r.Type == "purchase" })
}

func secs(ms int64) int64 { return int64(math.Floor(float64(ms) / 1000)) }

// funnelLevel is the number of stages a journey goes through in order, the
// last within window seconds of the first: the most any starting event of
// the first stage reaches, taking for each later stage the earliest
// matching event after the previous step (which no other choice beats).
// Times are whole seconds, as event_time.
func funnelLevel(j []stitch.JourneyRow, stages []string, window int64) int {
	best := 0
	for i, r := range j {
		if r.Stage != stages[0] {
			continue
		}
		level := 1
		for k := i + 1; k < len(j) && level < len(stages); k++ {
			if secs(j[k].TS)-secs(r.TS) > window {
				break
			}
			if j[k].Stage == stages[level] {
				level++
			}
		}
		best = max(best, level)
	}
	return best
}

// tiesReversed returns the journey with each run of events in the same
// second in reverse order.
func tiesReversed(j []stitch.JourneyRow) []stitch.JourneyRow {
	out := slices.Clone(j)
	for i := 0; i < len(out); {
		k := i + 1
		for k < len(out) && secs(out[k].TS) == secs(out[i].TS) {
			k++
		}
		slices.Reverse(out[i:k])
		i = k
	}
	return out
}

func wantFunnel(t *testing.T, f *fixture) [][]any {
	stages := []string{"awareness", "consideration", "purchase"}
	reached := make([]int, len(stages)+1)
	windowMatters := false
	for id, j := range f.journeys {
		// windowFunnel orders events by the second only, and events in one
		// second as it happens to read them. Where that could change the
		// answer (the level differs with same-second events the other way
		// round), this comparison would be luck.
		level := funnelLevel(j, stages, 30*24*3600)
		if level != funnelLevel(tiesReversed(j), stages, 30*24*3600) {
			t.Fatalf("customer %s: funnel level depends on the order of events in the same second", id)
		}
		if level != funnelLevel(j, stages, math.MaxInt32) {
			windowMatters = true
		}
		for l := 1; l <= level; l++ {
			reached[l]++
		}
	}
	if !windowMatters {
		t.Fatal("no customer's funnel depends on the 30-day window: the traffic cannot tell a query without it")
	}
	var want [][]any
	for s := 1; s <= len(stages); s++ {
		want = append(want, []any{s, stages[s-1], reached[s], r1(pct(reached[s], reached[1])), r1(pct(reached[s], reached[max(s-1, 1)]))})
	}
	return want
}

func wantPaths(t *testing.T, f *fixture) [][]any {
	counts := map[string]int{}
	steps := map[string]int{}
	collapsed := false
	for _, j := range f.journeys {
		p := firstPurchase(j)
		if p < 0 {
			continue
		}
		var path []string
		for _, r := range j[:p+1] {
			tp := r.Channel + ":" + r.Type
			if len(path) > 0 && path[len(path)-1] == tp {
				collapsed = true
				continue
			}
			path = append(path, tp)
		}
		key := strings.Join(path, " > ")
		counts[key]++
		steps[key] = len(path)
	}
	if !collapsed || len(counts) <= 20 {
		t.Fatalf("%d distinct paths, repeats collapsed: %v; the traffic must have more than 20 and some repeats", len(counts), collapsed)
	}
	keys := sortedKeys(counts, func(a, b string) int { return cmp.Or(-cmp.Compare(counts[a], counts[b]), strings.Compare(a, b)) })
	var want [][]any
	for _, k := range keys[:20] {
		want = append(want, []any{k, steps[k], counts[k]})
	}
	return want
}

func wantTransitions(t *testing.T, f *fixture) [][]any {
	type pair struct{ from, to string }
	n := map[pair]int{}
	from := map[string]int{}
	for _, j := range f.journeys {
		for _, r := range j[1:] {
			n[pair{r.PrevChannel, r.Channel}]++
			from[r.PrevChannel]++
		}
	}
	keys := sortedKeys(n, func(a, b pair) int {
		return cmp.Or(strings.Compare(a.from, b.from), -cmp.Compare(n[a], n[b]), strings.Compare(a.to, b.to))
	})
	var want [][]any
	for _, k := range keys {
		want = append(want, []any{k.from, k.to, n[k], r1(pct(n[k], from[k.from]))})
	}
	return want
}

func wantTimeToPurchase(t *testing.T, f *fixture) [][]any {
	hours := map[string][]float64{}
	for _, j := range f.journeys {
		if p := firstPurchase(j); p >= 0 {
			hours[j[0].Channel] = append(hours[j[0].Channel], float64(j[p].TS-j[0].TS)/3600000)
		}
	}
	keys := sortedKeys(hours, func(a, b string) int {
		return cmp.Or(-cmp.Compare(len(hours[a]), len(hours[b])), strings.Compare(a, b))
	})
	var want [][]any
	for _, ch := range keys {
		h := hours[ch]
		slices.Sort(h)
		sum := 0.0
		for _, x := range h {
			sum += x
		}
		// quantileExact(0.5): the element at floor(0.5 * n) of the sorted values.
		want = append(want, []any{ch, len(h), r2(sum / float64(len(h))), r2(h[len(h)/2]), r2(h[len(h)-1])})
	}
	return want
}

func wantAttribution(t *testing.T, f *fixture) [][]any {
	first, last := map[string]int{}, map[string]int{}
	total, purchaseFirst, differ := 0, 0, 0
	for _, j := range f.journeys {
		for _, r := range j {
			if r.Type != "purchase" {
				continue
			}
			total++
			lt := r.PrevChannel
			if r.Seq == 1 {
				lt = r.Channel
				purchaseFirst++
			}
			first[j[0].Channel]++
			last[lt]++
			if lt != j[0].Channel {
				differ++
			}
		}
	}
	if purchaseFirst == 0 || differ == 0 {
		t.Fatalf("purchases as first event: %d, with first touch != last touch: %d; the traffic needs both", purchaseFirst, differ)
	}
	channels := map[string]bool{}
	for ch := range first {
		channels[ch] = true
	}
	for ch := range last {
		channels[ch] = true
	}
	keys := sortedKeys(channels, func(a, b string) int {
		return cmp.Or(-cmp.Compare(first[a], first[b]), -cmp.Compare(last[a], last[b]), strings.Compare(a, b))
	})
	var want [][]any
	for _, ch := range keys {
		want = append(want, []any{ch, first[ch], r1(pct(first[ch], total)), last[ch], r1(pct(last[ch], total))})
	}
	return want
}

type cart struct{ abandoned, recovered bool }

// cartsOf returns each add_to_cart of a journey: abandoned with no purchase
// after it within the hour, recovered if abandoned and purchased later.
func cartsOf(j []stitch.JourneyRow) []cart {
	var out []cart
	for i, r := range j {
		if r.Type != "add_to_cart" {
			continue
		}
		c := cart{abandoned: true}
		for _, p := range j[i+1:] {
			if p.Type != "purchase" {
				continue
			}
			if p.TS-r.TS <= 3600000 {
				c.abandoned, c.recovered = false, false
				break
			}
			c.recovered = true
		}
		out = append(out, c)
	}
	return out
}

func wantCarts(t *testing.T, f *fixture) [][]any {
	triggered := map[string]bool{}
	live := map[string]triggerRow{}
	for _, tr := range f.triggers { // later versions of a trigger_id replace earlier ones
		if cur, ok := live[tr.id]; !ok || tr.version > cur.version {
			live[tr.id] = tr
		}
	}
	for _, tr := range live {
		if tr.rule == "cart_abandoned" && tr.deleted == 0 {
			triggered[tr.customer] = true
		}
	}
	type seg struct{ carts, abandoned, recovered int }
	segs := map[string]*seg{}
	add := func(name string, c cart) {
		s := segs[name]
		if s == nil {
			s = &seg{}
			segs[name] = s
		}
		s.carts++
		if c.abandoned {
			s.abandoned++
		}
		if c.recovered {
			s.recovered++
		}
	}
	for id, j := range f.journeys {
		for _, c := range cartsOf(j) {
			add("all carts", c)
			if triggered[id] {
				add("cart_abandoned trigger fired", c)
			} else {
				add("no cart_abandoned trigger", c)
			}
		}
	}
	all := segs["all carts"]
	if all == nil || all.abandoned == 0 || all.abandoned == all.carts ||
		segs["cart_abandoned trigger fired"] == nil || segs["cart_abandoned trigger fired"].recovered == 0 ||
		segs["no cart_abandoned trigger"] == nil || segs["no cart_abandoned trigger"].recovered == 0 {
		t.Fatalf("the traffic and triggers must give kept and abandoned carts, and recoveries with and without a trigger")
	}
	var want [][]any
	for _, name := range sortedKeys(segs, strings.Compare) {
		s := segs[name]
		want = append(want, []any{name, s.carts, s.abandoned, r1(pct(s.abandoned, s.carts)), s.recovered, r1(pct(s.recovered, s.abandoned))})
	}
	return want
}

func wantCohorts(t *testing.T, f *fixture) [][]any {
	type cohort struct {
		customers, anyLater int
		week                [5]int // [n]: customers with a purchase n weeks after the cohort week
	}
	cohorts := map[string]*cohort{}
	sameWeekOnly := false
	for _, j := range f.journeys {
		var weeks []int64 // purchase weeks as Monday days since the epoch / 7
		firstMonday := ""
		for _, r := range j {
			if r.Type != "purchase" {
				continue
			}
			d := time.UnixMilli(r.TS).In(f.tz)
			monday := time.Date(d.Year(), d.Month(), d.Day()-(int(d.Weekday())+6)%7, 0, 0, 0, 0, time.UTC)
			if firstMonday == "" {
				firstMonday = monday.Format(time.DateOnly)
			}
			weeks = append(weeks, monday.Unix()/86400/7)
		}
		if len(weeks) == 0 {
			continue
		}
		c := cohorts[firstMonday]
		if c == nil {
			c = &cohort{}
			cohorts[firstMonday] = c
		}
		c.customers++
		later := map[int64]bool{}
		for _, w := range weeks[1:] {
			if n := w - weeks[0]; n > 0 {
				later[n] = true
			}
		}
		if len(later) > 0 {
			c.anyLater++
		} else if len(weeks) > 1 {
			sameWeekOnly = true
		}
		for n := range later {
			if n < int64(len(c.week)) {
				c.week[n]++
			}
		}
	}
	if !sameWeekOnly {
		t.Fatal("no customer with repeat purchases in the cohort week only: the traffic cannot tell them from later weeks")
	}
	var want [][]any
	for _, w := range sortedKeys(cohorts, strings.Compare) {
		c := cohorts[w]
		want = append(want, []any{w, c.customers, c.week[1], c.week[2], c.week[3], c.week[4], c.anyLater, r1(pct(c.anyLater, c.customers))})
	}
	return want
}

func wantChannelCounts(t *testing.T, f *fixture) [][]any {
	type group struct {
		customers, purchases int
		revenue              float64
	}
	groups := map[int]*group{}
	for _, c := range f.customers {
		p := stitch.ProfileOf(&c)
		g := groups[len(p.Channels)]
		if g == nil {
			g = &group{}
			groups[len(p.Channels)] = g
		}
		g.customers++
		g.purchases += int(p.Purchases)
		g.revenue += p.Revenue
	}
	var want [][]any
	for _, n := range sortedKeys(groups, cmp.Compare[int]) {
		g := groups[n]
		want = append(want, []any{n, g.customers, r1(pct(g.customers, len(f.customers))), g.purchases, r2(g.revenue), r2(g.revenue / float64(g.customers))})
	}
	return want
}

func wantIdentifiers(t *testing.T, f *fixture) [][]any {
	type cover struct{ identifiers, customers, most int }
	types := map[string]*cover{}
	for _, c := range f.customers {
		held := map[string]int{}
		for _, k := range c.IDs {
			typ, _, _ := strings.Cut(k, ":")
			held[typ]++
		}
		for typ, n := range held {
			cv := types[typ]
			if cv == nil {
				cv = &cover{}
				types[typ] = cv
			}
			cv.identifiers += n
			cv.customers++
			cv.most = max(cv.most, n)
		}
	}
	keys := sortedKeys(types, func(a, b string) int {
		return cmp.Or(-cmp.Compare(types[a].customers, types[b].customers), strings.Compare(a, b))
	})
	var want [][]any
	for _, typ := range keys {
		cv := types[typ]
		want = append(want, []any{typ, cv.identifiers, cv.customers, r1(pct(cv.customers, len(f.customers))),
			r2(float64(cv.identifiers) / float64(cv.customers)), cv.most})
	}
	return want
}

func wantMerges(t *testing.T, f *fixture) [][]any {
	type agg struct {
		merges      int
		first, last int64
	}
	types := map[string]*agg{}
	for _, m := range f.merges {
		typ, _, _ := strings.Cut(m.Via, ":")
		a := types[typ]
		if a == nil {
			a = &agg{first: math.MaxInt64, last: math.MinInt64}
			types[typ] = a
		}
		a.merges++
		a.first, a.last = min(a.first, secs(m.At)), max(a.last, secs(m.At))
	}
	keys := sortedKeys(types, func(a, b string) int {
		return cmp.Or(-cmp.Compare(types[a].merges, types[b].merges), strings.Compare(a, b))
	})
	var want [][]any
	for _, typ := range keys {
		a := types[typ]
		want = append(want, []any{typ, a.merges, r1(pct(a.merges, len(f.merges))), a.first, a.last})
	}
	return want
}

func wantConflicts(t *testing.T, f *fixture) [][]any {
	type key struct{ typ, reason string }
	type agg struct {
		n                 int
		values, customers map[string]bool
		last              int64
	}
	groups := map[key]*agg{}
	for _, c := range f.conflicts {
		k := key{c.IDType, c.Reason}
		a := groups[k]
		if a == nil {
			a = &agg{values: map[string]bool{}, customers: map[string]bool{}, last: math.MinInt64}
			groups[k] = a
		}
		a.n++
		a.values[c.IDValue] = true
		a.customers[c.Customer] = true
		a.last = max(a.last, secs(c.At))
	}
	keys := sortedKeys(groups, func(a, b key) int {
		return cmp.Or(-cmp.Compare(groups[a].n, groups[b].n), strings.Compare(a.typ, b.typ), strings.Compare(a.reason, b.reason))
	})
	var want [][]any
	for _, k := range keys {
		a := groups[k]
		want = append(want, []any{k.typ, k.reason, a.n, len(a.values), len(a.customers), a.last})
	}
	return want
}

func sortedKeys[K comparable, V any](m map[K]V, order func(a, b K) int) []K {
	keys := make([]K, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, order)
	return keys
}
