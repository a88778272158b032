package stitch_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/omnistitch/omnistitch/internal/config"
	"github.com/omnistitch/omnistitch/state"
	"github.com/omnistitch/omnistitch/stitch"
	"github.com/omnistitch/omnistitch/stitch/event"
	"github.com/omnistitch/omnistitch/stitch/offline"
)

// checkCap checks what journey.max_events promises for every customer: the
// journey holds at most max events, and the profile counts exactly the
// journey's events plus the overflow.
func checkCap(t *testing.T, eng *stitch.Engine, limit int64, what string) (overflow int64) {
	t.Helper()
	if err := eng.Customers(func(c *state.Customer) error {
		n := int64(0)
		if err := eng.Journey(c.ID, func(*stitch.JourneyRow) error { n++; return nil }); err != nil {
			return err
		}
		if n > limit || n != c.JourneyLen() || c.Overflow < 0 || n+c.Overflow != c.Events {
			return fmt.Errorf("customer %s: %d journey rows, cap %d, profile events %d, overflow %d", c.ID, n, limit, c.Events, c.Overflow)
		}
		overflow += c.Overflow
		return nil
	}); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	return overflow
}

// With a journey cap of 3, every golden scenario (merges, splits of shared
// devices, late events, limits) and random traffic with late events, in
// batches of several sizes: the tables built from Changes alone stay equal
// to the state (exact, gap-free seq under the cap), no journey exceeds the
// cap, and the profiles count every applied event. The overflow reported by
// the batches is what the profiles hold.
func TestJourneyCapKeepsTablesExact(t *testing.T) {
	files, err := filepath.Glob("testdata/*.txt")
	if err != nil || len(files) == 0 {
		t.Fatalf("no scenarios: %v", err)
	}
	const limit = 3
	capped := 0
	run := func(t *testing.T, cfg *config.Config, evs []event.Event, n int, what string) {
		tb := newTables()
		eng := applyTracked(t, cfg, t.TempDir(), evs, n, tb)
		tb.check(t, eng, what)
		if checkCap(t, eng, limit, what) > 0 {
			capped++
		}
	}
	for _, f := range files {
		sc := parseScenario(t, f)
		cfg := sc.config(t)
		cfg.Journey.MaxEvents = limit
		dec := event.NewDecoder(cfg.Input.MaxEventBytes, cfg.Input.Channels)
		var evs []event.Event
		for _, line := range sc.input {
			if ev, err := dec.Decode([]byte(line)); err == nil {
				evs = append(evs, ev)
			}
		}
		for _, n := range []int{2, len(evs)} {
			run(t, cfg, evs, max(n, 1), fmt.Sprintf("%s batch %d", filepath.Base(f), n))
		}
	}
	cfg := config.Default()
	cfg.Journey.MaxEvents = limit
	for seed := range uint64(4) {
		rng := rand.New(rand.NewPCG(seed, 13))
		evs, _ := randomGraph(rng, 300)
		for i := range evs {
			evs[i].Channel = []string{"web", "store", "email", "callcentre"}[rng.IntN(4)]
			evs[i].Type = []string{"page_view", "purchase", "add_to_cart", "call"}[rng.IntN(4)]
		}
		run(t, cfg, evs, 1+rng.IntN(40), fmt.Sprintf("seed %d", seed))
	}
	if capped == 0 {
		t.Fatal("no run reached the cap: the test proves nothing")
	}
}

// botEvents are n events of one cookie (a bot, a crawler, a broken SDK):
// page views, carts and purchases with props of ~150 bytes, mostly in time
// order with every 50th one late by an hour, so that late events reach a
// capped journey.
func botEvents(from, n int) []event.Event {
	evs := make([]event.Event, 0, n)
	rng := rand.New(rand.NewPCG(uint64(from), 1))
	base := time.Date(2026, 11, 20, 0, 0, 0, 0, time.UTC).UnixMilli()
	for i := from; i < from+n; i++ {
		ts := base + int64(i)*1000
		if i%50 == 49 {
			ts -= 3600 * 1000
		}
		evs = append(evs, event.Event{
			ID: "bot-" + strconv.Itoa(i), Channel: "web", Type: []string{"page_view", "add_to_cart", "purchase"}[i%3], TS: ts,
			IDs: []event.ID{{Type: "cookie", Value: "ck-bot"}},
			// As little compressible as real props.
			Props: fmt.Appendf(nil, `{"url":"https://shop.example.org/p/%016x%016x%016x%016x","sku":"%016x%016x","total":1}`,
				rng.Uint64(), rng.Uint64(), rng.Uint64(), rng.Uint64(), rng.Uint64(), rng.Uint64()),
		})
	}
	return evs
}

// A bot: one cookie on 50,000 events with a journey cap of 1,000 (the
// default rules on). The journey holds exactly the first 1,000 events; the
// profile counts all 50,000 and 49,000 as overflow; the stitch output
// shows 1,000 journey lines with seq 1..1000 and the overflow; and past the
// cap, the Go heap and the state on disk grow by a few bytes per event, not
// by the event (its props alone are 150 bytes). HOSTILE_BOT_EVENTS sets the
// number of events (make hostile: 1,000,000) and reports time and memory.
func TestBotIdentifierJourneyCapped(t *testing.T) {
	total, limit := 50000, 1000
	if raceEnabled {
		total = 20000
	}
	if s := os.Getenv("HOSTILE_BOT_EVENTS"); s != "" {
		var err error
		if total, err = strconv.Atoi(s); err != nil || total < 20000 {
			t.Fatalf("HOSTILE_BOT_EVENTS=%q: want a number of events, at least 20000", s)
		}
		limit = 100000 // the default cap: the shipped configuration at scale
		if limit*2 > total {
			limit = total / 20
		}
	}
	cfg := config.Default()
	cfg.Journey.MaxEvents = limit
	// The smallest block cache the configuration allows: what it holds
	// is bounded anyway, and small, it does not hide growth elsewhere.
	store, err := state.Open(t.TempDir(), state.Options{CustomerCache: cfg.State.CustomerCache, IdentifierCache: cfg.State.IdentifierCache,
		BlockCacheBytes: 8 << 20})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	eng, err := stitch.New(cfg, store)
	if err != nil {
		t.Fatal(err)
	}
	const batch = 4096
	overflow := 0
	apply := func(from, to int) {
		for i := from; i < to; i += batch {
			res, err := eng.Apply(botEvents(i, min(batch, to-i)))
			if err != nil {
				t.Fatal(err)
			}
			for _, o := range res.Outcomes {
				if o.Status != stitch.Applied {
					t.Fatalf("event not applied: %+v", o)
				}
			}
			overflow += res.JourneyOverflow
		}
	}
	measure := func() (heap, disk uint64) {
		if err := store.Flush(); err != nil {
			t.Fatal(err)
		}
		runtime.GC()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		return ms.HeapAlloc, store.DiskBytes()
	}
	start := time.Now()
	// Past the cap, then a first measure: what follows is all overflow.
	mark := 2 * limit
	apply(0, mark)
	heap0, disk0 := measure()
	var peak uint64
	for from := mark; from < total; from += total / 10 {
		apply(from, min(from+total/10, total))
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		peak = max(peak, ms.HeapInuse)
	}
	took := time.Since(start)
	heap1, disk1 := measure()
	n := float64(total - mark)
	heapPer := (float64(heap1) - float64(heap0)) / n
	diskPer := (float64(disk1) - float64(disk0)) / n
	t.Logf("%d events, cap %d: %v (%.0f events/s); Go heap %d → %d bytes (%.1f B/event past the cap, heap in use at most %d); state on disk %d → %d bytes (%.1f B/event); %s",
		total, limit, took.Round(time.Millisecond), float64(total)/took.Seconds(), heap0, heap1, heapPer, peak, disk0, disk1, diskPer, peakRSS())
	// A stored event costs its props (150 bytes) and more; what an
	// overflowed one leaves is its de-duplication key.
	if heapPer > 64 && !raceEnabled {
		t.Errorf("Go heap grew by %.1f bytes per event past the cap", heapPer)
	}
	if diskPer > 100 {
		t.Errorf("state grew by %.1f bytes per event past the cap", diskPer)
	}
	if want := total - limit; overflow != want {
		t.Errorf("batches reported %d overflowed events, want %d", overflow, want)
	}

	var out bytes.Buffer
	var st offline.Stats
	if err := offline.Dump(eng, store, &out, &st); err != nil {
		t.Fatal(err)
	}
	var profiles, journeys int
	var lastSeq int
	for line := range bytes.Lines(out.Bytes()) {
		var m map[string]any
		if err := json.Unmarshal(line, &m); err != nil {
			t.Fatal(err)
		}
		switch m["kind"] {
		case "profile":
			profiles++
			if m["events"] != float64(total) || m["journey_overflow"] != float64(total-limit) || !slices.Equal(m["ids"].(map[string]any)["cookie"].([]any), []any{"ck-bot"}) {
				t.Errorf("profile %s", line)
			}
		case "journey":
			journeys++
			seq := int(m["seq"].(float64))
			if seq != lastSeq+1 {
				t.Fatalf("journey seq %d after %d", seq, lastSeq)
			}
			lastSeq = seq
			// The first max events in input order: ids bot-0..bot-(max-1).
			if id, _ := strconv.Atoi(strings.TrimPrefix(m["event_id"].(string), "bot-")); id >= limit {
				t.Fatalf("journey holds %s, which came after the cap was reached", m["event_id"])
			}
		}
	}
	if profiles != 1 || journeys != limit {
		t.Fatalf("stitch output: %d profiles and %d journey lines, want 1 and %d", profiles, journeys, limit)
	}
	if got := checkCap(t, eng, int64(limit), "bot"); got != int64(total-limit) {
		t.Fatalf("profiles hold %d overflowed events, want %d", got, total-limit)
	}
}

// Two customers, each over the cap, merged by an event carrying both
// cookies: the merged journey keeps the cap (its earliest events), the
// rest is overflow, and the stitch output is the same whatever the batch
// size (the cap depends on the input order only).
func TestJourneyCapMergeDeterministic(t *testing.T) {
	var lines []string
	base := time.Date(2026, 11, 20, 0, 0, 0, 0, time.UTC).UnixMilli()
	for i := range 10 {
		for _, ck := range []string{"ck-a", "ck-b"} {
			lines = append(lines, fmt.Sprintf(`{"event_id":"%s-%d","channel":"web","type":"page_view","ts":%d,"ids":{"cookie":"%s"}}`, ck, i, base+int64(i)*1000, ck))
		}
	}
	lines = append(lines, fmt.Sprintf(`{"event_id":"link","channel":"store","type":"purchase","ts":%d,"ids":{"cookie":"ck-a","email":"a@example.org"}}`, base+500))
	lines = append(lines, fmt.Sprintf(`{"event_id":"link2","channel":"email","type":"email_open","ts":%d,"ids":{"cookie":"ck-b","email":"a@example.org"}}`, base+600))
	cfg := config.Default()
	cfg.Journey.MaxEvents = 4
	// The rows a sink builds from the batches' changes stay exact through
	// the merge that drops events from the joined journey.
	dec := event.NewDecoder(cfg.Input.MaxEventBytes, cfg.Input.Channels)
	var evs []event.Event
	for _, l := range lines {
		ev, err := dec.Decode([]byte(l))
		if err != nil {
			t.Fatal(err)
		}
		evs = append(evs, ev)
	}
	for _, n := range []int{1, 5, len(evs)} {
		tb := newTables()
		eng := applyTracked(t, cfg, t.TempDir(), evs, n, tb)
		tb.check(t, eng, fmt.Sprintf("batch %d", n))
		if got := checkCap(t, eng, 4, fmt.Sprintf("batch %d", n)); got != 18 {
			t.Fatalf("batch %d: %d overflowed events, want 18", n, got)
		}
	}
	var first string
	for _, bs := range []int{1, 3, 1000} {
		var out bytes.Buffer
		if _, err := offline.Run(offline.Options{Config: cfg, BatchSize: bs}, []offline.Input{{R: strings.NewReader(strings.Join(lines, "\n"))}}, &out); err != nil {
			t.Fatal(err)
		}
		if first == "" {
			first = out.String()
			continue
		}
		if out.String() != first {
			t.Fatalf("batch size %d gives another output:\n%s\nthan batch size 1:\n%s", bs, out.String(), first)
		}
	}
	var journey []string
	profiles := 0
	for _, line := range strings.Split(strings.TrimSpace(first), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatal(err)
		}
		switch m["kind"] {
		case "profile":
			profiles++
			if m["events"] != 22.0 || m["journey_overflow"] != 18.0 || len(m["channels"].([]any)) != 3 {
				t.Errorf("profile %s", line)
			}
		case "journey":
			journey = append(journey, m["event_id"].(string))
		}
	}
	// Merged at "link": ck-a's 4 stored events and ck-b's earliest ones,
	// capped to the earliest 4 by time; "link2" came after.
	if want := []string{"ck-a-0", "ck-b-0", "ck-a-1", "ck-b-1"}; profiles != 1 || !slices.Equal(journey, want) {
		t.Fatalf("%d profiles, journey %v, want 1 and %v\n%s", profiles, journey, want, first)
	}
}

// peakRSS is the process's peak resident set (VmHWM), where Linux tells it.
func peakRSS() string {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return "peak RSS unknown"
	}
	for line := range strings.Lines(string(b)) {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			return "peak RSS " + strings.TrimSpace(v)
		}
	}
	return "peak RSS unknown"
}
