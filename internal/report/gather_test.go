package report

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
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

// engineFacts is what the report should show, worked out from the engine's
// committed state and batch results rather than from ClickHouse.
type engineFacts struct {
	customers, events, identifiers uint64
	first, last                    int64 // ms
	transitions                    map[[2]string]uint64
	funnel                         []uint64 // customers reaching each FunnelStages entry or later
	stages                         map[string]uint64
	paths                          map[string]uint64 // channels joined by "\x00"
	purchasers                     uint64
	idsPerCustomer                 map[string]uint64
	merges, conflicts              map[string]bool // by table key
	mergesVia                      map[string]uint64
	triggers                       map[string]uint64 // "day rule"
	triggerIDs                     map[string]bool
}

// load runs generated traffic through the engine into a fresh database, as
// the service does (engine batches staged into the row outbox, the writer
// draining it), and returns the database and the engine's view of it.
func load(t *testing.T) (driver.Conn, string, *engineFacts) {
	t.Helper()
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

	dec := event.NewDecoder(cfg.Input.MaxEventBytes, cfg.Input.Channels)
	var evs []event.Event
	var maxTS int64
	for _, rec := range gen.All(gen.Options{Seed: 1, Customers: 200}) {
		if ev, err := dec.Decode(rec.Line); err == nil {
			evs = append(evs, ev)
			maxTS = max(maxTS, ev.TS)
		}
	}
	f := &engineFacts{merges: map[string]bool{}, conflicts: map[string]bool{}, mergesVia: map[string]uint64{},
		triggers: map[string]uint64{}, triggerIDs: map[string]bool{}}
	note := func(res *stitch.Result) {
		for _, m := range res.Merges {
			k := m.Absorbed + "\x00" + m.Survivor + "\x00" + m.EventID
			if !f.merges[k] {
				f.merges[k] = true
				typ, _, _ := strings.Cut(m.Via, ":")
				f.mergesVia[typ]++
			}
		}
		for _, c := range res.Conflicts {
			f.conflicts[c.EventID+"\x00"+c.IDType+"\x00"+c.IDValue] = true
		}
		for _, g := range res.Triggers {
			if !f.triggerIDs[g.ID] {
				f.triggerIDs[g.ID] = true
				day := time.UnixMilli(g.FiredAt).UTC().Format("2006-01-02")
				f.triggers[day+" "+g.Rule]++
			}
		}
	}
	stage := clickhouse.Stage(eng)
	for i := 0; i < len(evs); i += 250 {
		res, err := eng.ApplyWith(evs[i:min(i+250, len(evs))], stage)
		if err != nil {
			t.Fatal(err)
		}
		note(res)
	}
	// End of input, as in `omnistitch stitch`: due timers fire.
	res, err := eng.Fire(maxTS, stage)
	if err != nil {
		t.Fatal(err)
	}
	note(res)
	dctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	if err := w.Drain(dctx); err != nil {
		t.Fatal(err)
	}

	f.transitions = map[[2]string]uint64{}
	f.stages = map[string]uint64{}
	f.paths = map[string]uint64{}
	f.idsPerCustomer = map[string]uint64{}
	f.funnel = make([]uint64, len(FunnelStages))
	f.first = 1<<63 - 1
	if err := eng.Customers(func(c *state.Customer) error {
		f.customers++
		f.identifiers += uint64(len(c.IDs))
		k := fmt.Sprint(len(c.IDs))
		if len(c.IDs) >= 5 {
			k = "5+"
		}
		f.idsPerCustomer[k]++
		furthest := 0
		inStage := map[string]bool{}
		var path []string
		purchased := false
		err := eng.Journey(c.ID, func(j *stitch.JourneyRow) error {
			f.events++
			f.first, f.last = min(f.first, j.TS), max(f.last, j.TS)
			f.transitions[[2]string{j.PrevChannel, j.Channel}]++
			if j.Stage != "" {
				inStage[j.Stage] = true
			}
			if i := slices.Index(FunnelStages, j.Stage); i+1 > furthest {
				furthest = i + 1
			}
			if !purchased {
				if len(path) == 0 || path[len(path)-1] != j.Channel {
					path = append(path, j.Channel)
				}
				purchased = j.Type == PurchaseType
			}
			return nil
		})
		for s := range inStage {
			f.stages[s]++
		}
		for i := 0; i < furthest; i++ {
			f.funnel[i]++
		}
		if purchased {
			f.purchasers++
			f.paths[strings.Join(path, "\x00")]++
		}
		return err
	}); err != nil {
		t.Fatal(err)
	}
	return conn, db, f
}

// TestGatherMatchesEngine loads generated traffic into ClickHouse, adds a
// few trigger rows of its own (one a tombstone, one with a hostile rule
// name, one fired late in the evening UTC), gathers the report data and
// checks every number against the engine; then renders the report and
// looks at it in a browser.
func TestGatherMatchesEngine(t *testing.T) {
	conn, db, want := load(t)
	ctx := context.Background()

	// Trigger rows of our own, on the days after the traffic's.
	day := time.UnixMilli(want.first).UTC().Truncate(24*time.Hour).AddDate(0, 0, 1)
	batch, err := conn.PrepareBatch(ctx, clickhouse.InsertStatement(db, clickhouse.TriggerTable))
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range []struct {
		id, rule string
		at       time.Time
		version  uint64
		deleted  uint8
	}{
		{"t_report_1", "report_test", day.Add(23*time.Hour + 59*time.Minute), 1, 0},
		{"t_report_2", "report_test", day.Add(time.Hour), 1, 0},
		{"t_report_3", hostile, day.AddDate(0, 0, 2), 1, 0},
		{"t_report_4", "report_test", day.AddDate(0, 0, 2), 1, 0},
		{"t_report_4", "report_test", day.AddDate(0, 0, 2), 2, 1}, // forgotten
	} {
		if err := batch.Append(r.id, r.rule, "c_0000000000000000", r.at, []string{"e1"}, r.version, r.deleted); err != nil {
			t.Fatal(err)
		}
	}
	if err := batch.Send(); err != nil {
		t.Fatal(err)
	}
	want.triggers[day.Format("2006-01-02")+" report_test"] += 2
	want.triggers[day.AddDate(0, 0, 2).Format("2006-01-02")+" "+hostile]++

	d, err := Gather(ctx, conn, db)
	if err != nil {
		t.Fatal(err)
	}

	eq := func(what string, got, want any) {
		t.Helper()
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("%s: report %v, engine %v", what, got, want)
		}
	}
	tt := d.Totals
	eq("customers", tt.Customers, want.customers)
	eq("events", tt.Events, want.events)
	eq("identifiers", tt.Identifiers, want.identifiers)
	eq("merges", tt.Merges, len(want.merges))
	eq("conflicts", tt.Conflicts, len(want.conflicts))
	eq("triggers", tt.Triggers, len(want.triggerIDs)+3)
	eq("first event", tt.First.Unix(), want.first/1000)
	eq("last event", tt.Last.Unix(), want.last/1000)
	if want.customers < 100 || want.events < 1000 || len(want.merges) == 0 || len(want.triggerIDs) == 0 {
		t.Fatalf("the traffic is too thin to test anything: %d customers, %d events, %d merges, %d triggers",
			want.customers, want.events, len(want.merges), len(want.triggerIDs))
	}

	gotTr := map[[2]string]uint64{}
	for _, tr := range d.Transitions {
		gotTr[[2]string{tr.From, tr.To}] += tr.Count
	}
	eq("transitions", gotTr, want.transitions)

	var funnel []uint64
	for i, f := range d.Funnel {
		eq("funnel stage", f.Stage, FunnelStages[i])
		funnel = append(funnel, f.Customers)
	}
	eq("funnel", funnel, want.funnel)
	gotStages := map[string]uint64{}
	for _, c := range d.Stages {
		gotStages[c.Label] = c.N
	}
	eq("customers per stage", gotStages, want.stages)

	eq("purchasers", d.Paths.Purchasers, want.purchasers)
	eq("distinct paths", d.Paths.Distinct, len(want.paths))
	var wantTop []uint64
	for _, n := range want.paths {
		wantTop = append(wantTop, n)
	}
	sort.Slice(wantTop, func(i, j int) bool { return wantTop[i] > wantTop[j] })
	var gotTop []uint64
	for _, p := range d.Paths.Top {
		eq("customers on path "+strings.Join(p.Channels, " → "), p.Customers, want.paths[strings.Join(p.Channels, "\x00")])
		gotTop = append(gotTop, p.Customers)
	}
	eq("top path counts", gotTop, wantTop[:min(TopPaths, len(wantTop))])

	gotTrig := map[string]uint64{}
	for _, tc := range d.Triggers {
		if tc.Day.Hour() != 0 || tc.Day.Location() != time.UTC {
			t.Errorf("trigger day %v is not midnight UTC", tc.Day)
		}
		gotTrig[tc.Day.Format("2006-01-02")+" "+tc.Rule] += tc.Count
	}
	eq("triggers per day and rule", gotTrig, want.triggers)

	h := d.Health
	gotVia := map[string]uint64{}
	for _, c := range h.MergesVia {
		gotVia[c.Label] = c.N
	}
	eq("merges by identifier type", gotVia, want.mergesVia)
	eq("conflicts by reason", sum(h.Conflicts), len(want.conflicts))
	gotPer := map[string]uint64{}
	for _, c := range h.IDsPerCustomer {
		gotPer[c.Label] = c.N
	}
	eq("customers by number of identifiers", gotPer, want.idsPerCustomer)
	eq("identity map", sum(h.Identifiers), want.identifiers)
	if sum(h.Shared) == 0 {
		t.Error("no shared identifiers: the traffic's shared store tablets should show")
	}

	page := render(t, d)
	wellFormed(t, page)
	if strings.Contains(page, hostile) {
		t.Error("the hostile rule name reached the page unescaped")
	}
	dir := artifactDir(t)
	html := filepath.Join(dir, "report.html")
	if err := os.WriteFile(html, []byte(page), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("report: %s", html)
	if bin := chromium(t); bin != "" {
		checkInBrowser(t, bin, html, filepath.Join(dir, "report.png"))
	} else {
		t.Log("no chromium on PATH: report not checked in a browser")
	}
}

func TestGatherRejectsBadDatabase(t *testing.T) {
	if _, err := Gather(context.Background(), nil, "x; DROP TABLE y"); err == nil {
		t.Fatal("Gather accepted a database name that is not an identifier")
	}
}

// An empty database, migrated or not: a plain error before migrating, an
// empty report after.
func TestGatherEmptyDatabase(t *testing.T) {
	addr, db := chtest.Database(t)
	cfg := config.Default()
	cfg.ClickHouse.Addr, cfg.ClickHouse.Database = addr, db
	ctx := context.Background()
	conn, err := clickhouse.Open(ctx, &cfg.ClickHouse)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := Gather(ctx, conn, db); err == nil || !strings.Contains(err.Error(), "omnistitch migrate") {
		t.Fatalf("Gather on a database without the schema: %v, want a hint to migrate", err)
	}
	if _, err := clickhouse.Migrate(ctx, conn, db); err != nil {
		t.Fatal(err)
	}
	d, err := Gather(ctx, conn, db)
	if err != nil {
		t.Fatal(err)
	}
	if d.Totals != (Totals{}) || len(d.Transitions)+len(d.Paths.Top)+len(d.Triggers) != 0 {
		t.Fatalf("an empty database gave %+v", d)
	}
	for i, f := range d.Funnel {
		if f.Stage != FunnelStages[i] || f.Customers != 0 {
			t.Fatalf("funnel of an empty database: %+v", d.Funnel)
		}
	}
	page := render(t, d)
	wellFormed(t, page)
	if !strings.Contains(page, "No triggers yet") {
		t.Error("the empty report does not explain the empty triggers chart")
	}
}
