package stitch_test

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/omnistitch/omnistitch/internal/config"
	"github.com/omnistitch/omnistitch/state"
	"github.com/omnistitch/omnistitch/stitch"
	"github.com/omnistitch/omnistitch/stitch/event"
	"github.com/omnistitch/omnistitch/stitch/rules"
)

// ruleEngine builds an engine whose rules are the YAML given (segments are
// the defaults).
func ruleEngine(t *testing.T, rulesYAML string) *stitch.Engine {
	t.Helper()
	eng, _ := ruleEngineStore(t, rulesYAML)
	return eng
}

// ruleEngineStore is ruleEngine with its store.
func ruleEngineStore(t *testing.T, rulesYAML string) (*stitch.Engine, *state.Store) {
	t.Helper()
	dir := t.TempDir()
	segs, err := os.ReadFile("../configs/segments.yaml")
	if err != nil {
		t.Fatal(err)
	}
	rp, sp := filepath.Join(dir, "rules.yaml"), filepath.Join(dir, "segments.yaml")
	os.WriteFile(rp, []byte(rulesYAML), 0o644)
	os.WriteFile(sp, segs, 0o644)
	cfg := config.Default()
	o := rules.Options{Channels: cfg.Input.Channels}
	for _, s := range cfg.Journey.Stages {
		o.Stages = append(o.Stages, s.Name)
	}
	set, err := rules.Load(rp, sp, o)
	if err != nil {
		t.Fatal(err)
	}
	store, err := state.Open(filepath.Join(dir, "state"), state.Options{CustomerCache: 4, IdentifierCache: 4})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	eng, err := stitch.NewWithRules(cfg, store, set)
	if err != nil {
		t.Fatal(err)
	}
	return eng, store
}

// fired applies lines one batch each and returns "rule:event,event" per
// trigger in firing order.
func fired(t *testing.T, eng *stitch.Engine, lines ...string) []string {
	t.Helper()
	var out []string
	for _, g := range triggersOf(t, eng, lines...) {
		out = append(out, g.Rule+":"+strings.Join(g.EventIDs, ","))
	}
	return out
}

// triggersOf applies lines one batch each and returns the triggers in
// firing order.
func triggersOf(t *testing.T, eng *stitch.Engine, lines ...string) []state.Trigger {
	t.Helper()
	dec := event.NewDecoder(1<<20, []string{"web", "store", "callcentre", "email"})
	var out []state.Trigger
	for _, l := range lines {
		ev, err := dec.Decode([]byte(l))
		if err != nil {
			t.Fatalf("%s: %v", l, err)
		}
		res, err := eng.Apply([]event.Event{ev})
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, res.Triggers...)
	}
	return out
}

// firedAt is fired with each trigger's time: "rule:events@fired_at".
func firedAt(gs []state.Trigger) []string {
	var out []string
	for _, g := range gs {
		out = append(out, g.Rule+":"+strings.Join(g.EventIDs, ",")+"@"+event.FormatTS(g.FiredAt))
	}
	return out
}

func ev(id, channel, typ, ts, ids string, props ...string) string {
	p := ""
	if len(props) > 0 {
		p = `,"props":` + props[0]
	}
	return `{"event_id":"` + id + `","channel":"` + channel + `","type":"` + typ + `","ts":"2026-11-20T` + ts + `Z","ids":{` + ids + `}` + p + `}`
}

func TestCooldownMaxFiresAndPropsPredicate(t *testing.T) {
	eng := ruleEngine(t, `
topic: omni.triggers
allowed_lateness: 1m
idle_after: 30s
rules:
  - name: big_basket
    kind: event
    when: {channels: [store], types: [purchase], props: "props.total >= 100"}
    cooldown: 2h
    max_fires: 2
`)
	got := fired(t, eng,
		ev("p1", "store", "purchase", "10:00:00", `"loyalty":"L1"`, `{"total":150}`),
		ev("p2", "store", "purchase", "10:30:00", `"loyalty":"L1"`, `{"total":200}`), // cooldown
		ev("p3", "store", "purchase", "12:30:00", `"loyalty":"L1"`, `{"total":20}`),  // too small
		ev("p4", "web", "purchase", "12:40:00", `"loyalty":"L1"`, `{"total":500}`),   // wrong channel
		ev("p5", "store", "purchase", "13:00:00", `"loyalty":"L1"`, `{"total":100}`),
		ev("p6", "store", "purchase", "16:00:00", `"loyalty":"L1"`, `{"total":999}`), // max fires
		ev("p7", "store", "purchase", "16:00:00", `"loyalty":"L1"`),                  // no props: no match, no error
	)
	if want := []string{"big_basket:p1", "big_basket:p5"}; !slices.Equal(got, want) {
		t.Fatalf("fired %v, want %v", got, want)
	}
}

// A rule without limits fires every time and leaves no count in the
// customer's record (rewritten with each event); a limited one keeps its.
func TestFireCountsOnlyForLimitedRules(t *testing.T) {
	eng := ruleEngine(t, `
topic: omni.triggers
allowed_lateness: 1m
idle_after: 30s
rules:
  - name: any_purchase
    kind: event
    when: {types: [purchase]}
  - name: once
    kind: event
    when: {types: [purchase]}
    max_fires: 1
`)
	got := fired(t, eng,
		ev("p1", "store", "purchase", "10:00:00", `"loyalty":"L1"`),
		ev("p2", "store", "purchase", "11:00:00", `"loyalty":"L1"`),
		ev("p3", "store", "purchase", "12:00:00", `"loyalty":"L1"`),
	)
	want := []string{"any_purchase:p1", "once:p1", "any_purchase:p2", "any_purchase:p3"}
	if !slices.Equal(got, want) {
		t.Fatalf("fired %v, want %v", got, want)
	}
	var fires []state.Fire
	if err := eng.Customers(func(c *state.Customer) error { fires = append(fires, c.Fires...); return nil }); err != nil {
		t.Fatal(err)
	}
	if len(fires) != 1 || fires[0].Rule != "once" || fires[0].Count != 1 {
		t.Fatalf("fire counts %+v, want only once:1", fires)
	}
}

// A customer split by a shared tablet keeps its memberships in the part
// that still qualifies: its next event does not enter them again (a rule
// without a limit would fire twice), and a part that qualifies on its own
// is a member without a fire, as no event made it one. Also: the facts
// segments read (complaints) are recomputed per part.
func TestSplitKeepsMembershipsWithoutFiring(t *testing.T) {
	eng := ruleEngine(t, `
topic: omni.triggers
allowed_lateness: 1m
idle_after: 30s
rules:
  - name: vip_enter
    kind: segment
    segment: vip
  - name: complainer_enter
    kind: segment
    segment: complainer
`)
	tab := `,"device":"tab-9"`
	got := fired(t, eng,
		ev("c1", "callcentre", "call", "09:00:00", `"phone":"030 1000001"`),
		ev("c2", "callcentre", "complaint", "09:01:00", `"phone":"030 1000002"`),
		ev("c3", "callcentre", "call", "09:02:00", `"phone":"030 1000003"`),
		ev("c4", "callcentre", "call", "09:03:00", `"phone":"030 1000004"`),
		ev("s1", "store", "purchase", "10:00:00", `"phone":"030 1000001"`+tab, `{"total":1500}`),
		ev("s2", "store", "product_view", "10:10:00", `"phone":"030 1000002"`+tab),
		ev("s3", "store", "product_view", "10:20:00", `"phone":"030 1000003"`+tab),
		ev("s4", "store", "product_view", "10:30:00", `"phone":"030 1000004"`+tab), // shared: split
		ev("s5", "store", "product_view", "10:40:00", `"phone":"030 1000001"`),
		ev("s6", "store", "product_view", "10:50:00", `"phone":"030 1000002"`),
	)
	want := []string{"complainer_enter:c2", "vip_enter:s1"}
	if !slices.Equal(got, want) {
		t.Fatalf("fired %v, want %v", got, want)
	}
	segs := map[string][]string{}
	if err := eng.Customers(func(c *state.Customer) error {
		for _, id := range c.IDs {
			if strings.HasPrefix(id, "phone:") {
				segs[id] = c.Segments
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(segs["phone:+49301000001"], []string{"vip"}) || !slices.Equal(segs["phone:+49301000002"], []string{"complainer"}) ||
		len(segs["phone:+49301000003"]) != 0 {
		t.Fatalf("memberships after the split: %v", segs)
	}
}

// A sequence's second event pairs with the latest waiting first event, and
// each first event pairs once (as configs/rules.yaml documents).
func TestSequencePairsEachFirstEventOnce(t *testing.T) {
	eng := ruleEngine(t, sequenceRule)
	got := fired(t, eng,
		ev("p1", "store", "purchase", "10:00:00", `"loyalty":"L1"`),
		ev("c1", "callcentre", "complaint", "11:00:00", `"loyalty":"L1"`),
		ev("c2", "callcentre", "complaint", "12:00:00", `"loyalty":"L1"`), // p1 paired already
		ev("p2", "store", "purchase", "13:00:00", `"loyalty":"L2"`),
		ev("p3", "store", "purchase", "14:00:00", `"loyalty":"L2"`),
		ev("c3", "callcentre", "complaint", "15:00:00", `"loyalty":"L2"`), // the latest: p3
		ev("c4", "callcentre", "complaint", "16:00:00", `"loyalty":"L2"`), // then p2
		ev("c5", "callcentre", "complaint", "17:00:00", `"loyalty":"L2"`), // none left
	)
	want := []string{"complaint_after_purchase:p1,c1", "complaint_after_purchase:p3,c3", "complaint_after_purchase:p2,c4"}
	if !slices.Equal(got, want) {
		t.Fatalf("fired %v, want %v", got, want)
	}
}

// Segments on time turn as the watermark moves, with no event of the
// customer: a complaint 30 days old leaves "complainer", 60 days without an
// event enter "lapsed". The rules fire at the time the condition turned,
// with the customer's latest event as the cause, and the memberships are
// the customer's (profiles.segments).
func TestSegmentsTurnWithTheWatermark(t *testing.T) {
	eng := ruleEngine(t, `
topic: omni.triggers
allowed_lateness: 1m
idle_after: 30s
rules:
  - name: lapsed_enter
    kind: segment
    segment: lapsed
  - name: complainer_exit
    kind: segment
    segment: complainer
    on: exit
`)
	line := eventLine
	got := firedAt(triggersOf(t, eng,
		line("a1", "web", "page_view", "2026-09-01T10:00:00Z", `"cookie":"ann"`),
		line("b1", "callcentre", "complaint", "2026-09-01T11:00:00Z", `"crm":"bob"`),
		line("x1", "web", "page_view", "2026-10-05T00:00:00Z", `"cookie":"x"`),
		line("x2", "web", "page_view", "2026-11-05T00:00:00Z", `"cookie":"x"`),
		line("a2", "web", "page_view", "2026-11-06T00:00:00Z", `"cookie":"ann"`),
	))
	want := []string{
		"complainer_exit:b1@2026-10-01T11:00:00.001Z", // "<= 30" turns just after 30 days
		"lapsed_enter:a1@2026-10-31T10:00:00.000Z",    // ">= 60" at 60 days
		"lapsed_enter:b1@2026-10-31T11:00:00.000Z",
	}
	if !slices.Equal(got, want) {
		t.Fatalf("fired %v, want %v", got, want)
	}
	segs := map[string][]string{}
	if err := eng.Customers(func(c *state.Customer) error { segs[c.IDs[0]] = c.Segments; return nil }); err != nil {
		t.Fatal(err)
	}
	if len(segs["cookie:ann"]) != 0 || !slices.Equal(segs["crm:bob"], []string{"lapsed"}) || len(segs["cookie:x"]) != 0 {
		t.Fatalf("memberships: %v", segs)
	}

	// With no traffic the watermark moves on with the wall clock (Fire).
	upTo := time.Date(2027, 1, 10, 0, 0, 0, 0, time.UTC).UnixMilli()
	res, err := eng.Fire(upTo, nil)
	if err != nil {
		t.Fatal(err)
	}
	got = firedAt(res.Triggers)
	want = []string{"lapsed_enter:x2@2027-01-04T00:00:00.000Z", "lapsed_enter:a2@2027-01-05T00:00:00.000Z"}
	if !slices.Equal(got, want) {
		t.Fatalf("fired when idle %v, want %v", got, want)
	}
	if res, err := eng.Fire(upTo, nil); err != nil || len(res.Triggers) != 0 {
		t.Fatalf("fired again: %v, %v", res, err)
	}
}

// eventLine is a canonical event's JSON line; ids is the inside of its
// "ids" object.
func eventLine(id, ch, typ, ts, ids string) string {
	return `{"event_id":"` + id + `","channel":"` + ch + `","type":"` + typ + `","ts":"` + ts + `","ids":{` + ids + `}}`
}

// A segment timer that fires before its customer's SegDue (an event pushed
// the thresholds on) is set again at SegDue and changes nothing else: the
// customer is neither evaluated nor written, also when it is not cached.
func TestSegmentTimerMovedOn(t *testing.T) {
	eng := ruleEngine(t, `
topic: omni.triggers
allowed_lateness: 1m
idle_after: 30s
rules:
  - name: lapsed_enter
    kind: segment
    segment: lapsed
`)
	line := func(id, ts, cookie string) string {
		return eventLine(id, "web", "page_view", ts, `"cookie":"`+cookie+`"`)
	}
	lines := []string{
		line("x1", "2026-10-05T00:00:00Z", "x"), // timer at 2026-12-04
		line("x2", "2026-11-05T00:00:00Z", "x"), // SegDue 2027-01-04, the timer stays
	}
	for i := range 6 { // more customers than the cache holds (4): x is read from the store
		lines = append(lines, line(fmt.Sprint("o", i), "2026-11-05T00:01:00Z", fmt.Sprint("other", i)))
	}
	if got := triggersOf(t, eng, lines...); len(got) != 0 {
		t.Fatalf("fired %v", firedAt(got))
	}
	changed := func(upTo string) (ids []string, fired []string) {
		t.Helper()
		at, _ := time.Parse(time.RFC3339, upTo)
		res, err := eng.Fire(at.UnixMilli(), func(tx *state.Txn, _ *stitch.Result) error {
			return tx.ChangedCustomers(func(id string, _ *state.Customer) error { ids = append(ids, id); return nil })
		})
		if err != nil {
			t.Fatal(err)
		}
		return ids, firedAt(res.Triggers)
	}
	if ids, fired := changed("2026-12-10T00:00:00Z"); len(ids)+len(fired) != 0 {
		t.Fatalf("the timer moved on changed %v, fired %v", ids, fired)
	}
	ids, fired := changed("2027-01-10T00:00:00Z")
	if want := "lapsed_enter:x2@2027-01-04T00:00:00.000Z"; len(fired) != 7 || fired[0] != want || len(ids) != 7 {
		t.Fatalf("fired %v, changed %d customers; want 7 lapsed, the first %s, and 7 changed", fired, len(ids), want)
	}
}

func TestStageEnterExitAndCancel(t *testing.T) {
	eng := ruleEngine(t, `
topic: omni.triggers
allowed_lateness: 1m
idle_after: 30s
rules:
  - name: entered_service
    kind: stage
    stage: service
  - name: left_service
    kind: stage
    stage: service
    on: exit
  - name: browse_no_buy
    kind: absence
    when: {types: [product_view]}
    then: {types: [purchase]}
    within: 1h
    cancel_on: [{types: [logout]}]
`)
	got := fired(t, eng,
		ev("v1", "web", "product_view", "09:00:00", `"cookie":"k1"`),
		ev("o1", "web", "logout", "09:10:00", `"cookie":"k1"`), // cancels v1's wait
		ev("c1", "callcentre", "call", "09:20:00", `"cookie":"k1"`),
		ev("v2", "web", "product_view", "09:30:00", `"cookie":"k1"`), // consideration: leaves service
		ev("x1", "web", "page_view", "11:00:00", `"cookie":"other"`), // watermark passes v2's window
	)
	want := []string{"entered_service:c1", "left_service:v2", "browse_no_buy:v2"}
	if !slices.Equal(got, want) {
		t.Fatalf("fired %v, want %v", got, want)
	}
}

// A cart waiting on an absorbed customer fires on the survivor, under the
// survivor's id.
func TestPendingMovesToSurvivor(t *testing.T) {
	eng := ruleEngine(t, `
topic: omni.triggers
allowed_lateness: 0s
idle_after: 30s
rules:
  - name: cart_abandoned
    kind: absence
    when: {types: [add_to_cart]}
    then: {types: [purchase]}
    within: 1h
`)
	dec := event.NewDecoder(1<<20, []string{"web", "store", "callcentre", "email"})
	var cust string
	for _, l := range []string{
		ev("s0", "store", "page_view", "08:00:00", `"loyalty":"L1"`),         // the survivor-to-be: earliest
		ev("a1", "web", "add_to_cart", "09:00:00", `"cookie":"k1"`),          // a customer of its own, waiting
		ev("m1", "web", "login", "09:05:00", `"cookie":"k1","loyalty":"L1"`), // merges it into s0's
		ev("x1", "web", "page_view", "10:30:00", `"cookie":"k9"`),
	} {
		e, err := dec.Decode([]byte(l))
		if err != nil {
			t.Fatal(err)
		}
		res, err := eng.Apply([]event.Event{e})
		if err != nil {
			t.Fatal(err)
		}
		if e.ID == "s0" {
			cust = res.Outcomes[0].Customer
		}
		for _, g := range res.Triggers {
			if g.Rule != "cart_abandoned" || g.Customer != cust || !slices.Equal(g.EventIDs, []string{"a1"}) {
				t.Fatalf("trigger %+v, want cart_abandoned for a1 on the survivor %s", g, cust)
			}
			return
		}
	}
	t.Fatal("the cart waiting on the absorbed customer never fired")
}

// Firing timers between events makes the result independent of how the
// input is cut into batches.
func TestTriggersIndependentOfBatching(t *testing.T) {
	lines := []string{
		ev("a1", "web", "add_to_cart", "10:00:00", `"cookie":"k1"`),
		ev("z1", "web", "page_view", "11:06:00", `"cookie":"k2"`), // watermark 11:01 passes a1's window
		ev("p1", "web", "purchase", "10:50:00", `"cookie":"k1"`),  // in the window but after it fired
	}
	dec := event.NewDecoder(1<<20, []string{"web", "store", "callcentre", "email"})
	var evs []event.Event
	for _, l := range lines {
		e, err := dec.Decode([]byte(l))
		if err != nil {
			t.Fatal(err)
		}
		evs = append(evs, e)
	}
	one := ruleEngine(t, defaultRulesYAML(t))
	all, err := one.Apply(evs)
	if err != nil {
		t.Fatal(err)
	}
	each := fired(t, ruleEngine(t, defaultRulesYAML(t)), lines...)
	var batch []string
	for _, g := range all.Triggers {
		batch = append(batch, g.Rule+":"+strings.Join(g.EventIDs, ","))
	}
	if !slices.Equal(batch, each) || !slices.Contains(each, "cart_abandoned:a1") {
		t.Fatalf("one batch fired %v, one event per batch %v; both must fire cart_abandoned:a1", batch, each)
	}
}

func defaultRulesYAML(t *testing.T) string {
	b, err := os.ReadFile("../configs/rules.yaml")
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// A first event that arrives after its second reads the journey only when
// the customer's index of second events says one may follow. The index is
// kept for one set of rules: events applied under other rules (or none)
// must leave it unknown, so that going back to the first rules still finds
// the complaint that arrived meanwhile.
func TestLateFirstEventAfterRulesChanged(t *testing.T) {
	const ruleA = `
topic: omni.triggers
allowed_lateness: 1h
idle_after: 30s
rules:
  - name: complaint_after_purchase
    kind: sequence
    when: {types: [purchase]}
    then: {types: [complaint]}
    within: 7d
`
	ruleB := strings.Replace(ruleA, "then: {types: [complaint]}", "then: {types: [call]}", 1)
	for _, between := range []string{"other rules", "no rules"} {
		t.Run(between, func(t *testing.T) {
			dir := t.TempDir()
			cfg := config.Default()
			open := func(yaml string) (*stitch.Engine, func()) {
				t.Helper()
				store, err := state.Open(filepath.Join(dir, "state"), state.Options{CustomerCache: 4, IdentifierCache: 4})
				if err != nil {
					t.Fatal(err)
				}
				var set *rules.Set
				if yaml != "" {
					rp, sp := filepath.Join(dir, "rules.yaml"), filepath.Join(dir, "segments.yaml")
					os.WriteFile(rp, []byte(yaml), 0o644)
					os.WriteFile(sp, []byte("segments: []\n"), 0o644)
					if set, err = rules.Load(rp, sp, rules.Options{Channels: cfg.Input.Channels}); err != nil {
						t.Fatal(err)
					}
				}
				eng, err := stitch.NewWithRules(cfg, store, set)
				if err != nil {
					t.Fatal(err)
				}
				return eng, func() { store.Close() }
			}
			eng, done := open(ruleA)
			if got := fired(t, eng, ev("p0", "store", "page_view", "08:00:00", `"loyalty":"L1"`)); len(got) != 0 {
				t.Fatalf("fired %v", got)
			}
			done()
			middle := ruleB
			if between == "no rules" {
				middle = ""
			}
			eng, done = open(middle)
			fired(t, eng, ev("c1", "callcentre", "complaint", "10:00:00", `"loyalty":"L1"`))
			done()
			eng, done = open(ruleA)
			defer done()
			got := fired(t, eng, ev("p1", "store", "purchase", "09:00:00", `"loyalty":"L1"`, `{"total":5}`))
			if !slices.Equal(got, []string{"complaint_after_purchase:p1,c1"}) {
				t.Fatalf("the late purchase fired %v, want complaint_after_purchase:p1,c1", got)
			}
		})
	}
}
