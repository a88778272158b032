package stitch_test

import (
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"testing"

	"github.com/omnistitch/omnistitch/internal/config"
	"github.com/omnistitch/omnistitch/state"
	"github.com/omnistitch/omnistitch/stitch"
	"github.com/omnistitch/omnistitch/stitch/event"
)

// tables is what a sink keeping only upserts and deletes would hold after
// applying every batch's Changes: the model of the ClickHouse views.
type tables struct {
	journeys   map[stitch.JourneyKey]stitch.JourneyRow
	profiles   map[string]stitch.Profile
	identities map[string]string // "type:value" → customer
}

func newTables() *tables {
	return &tables{journeys: map[stitch.JourneyKey]stitch.JourneyRow{}, profiles: map[string]stitch.Profile{}, identities: map[string]string{}}
}

func (tb *tables) apply(t *testing.T, ch *stitch.Changes) {
	t.Helper()
	written := map[stitch.JourneyKey]bool{}
	for _, r := range ch.Journeys {
		k := stitch.JourneyKey{CustomerID: r.CustomerID, EventID: r.EventID}
		if written[k] {
			t.Fatalf("row %v emitted twice in one batch", k)
		}
		written[k] = true
		tb.journeys[k] = r
	}
	for _, k := range ch.Removed {
		if written[k] {
			t.Fatalf("row %v both written and removed in one batch", k)
		}
		delete(tb.journeys, k)
	}
	for _, c := range ch.Customers {
		tb.profiles[c.ID] = stitch.ProfileOf(c)
	}
	for _, id := range ch.Gone {
		delete(tb.profiles, id)
	}
	for _, id := range ch.Identifiers {
		k := id.Type + ":" + id.Value
		if id.CustomerID == "" {
			delete(tb.identities, k)
		} else {
			tb.identities[k] = id.CustomerID
		}
	}
}

// check compares the tables with the engine's committed state.
func (tb *tables) check(t *testing.T, eng *stitch.Engine, what string) {
	t.Helper()
	rows := 0
	profiles := 0
	ids := 0
	if err := eng.Customers(func(c *state.Customer) error {
		profiles++
		want := stitch.ProfileOf(c)
		if got, ok := tb.profiles[c.ID]; !ok || fmt.Sprint(got) != fmt.Sprint(want) {
			return fmt.Errorf("profile %s: tables have %+v (present %v), state %+v", c.ID, got, ok, want)
		}
		for _, k := range c.IDs {
			ids++
			if tb.identities[k] != c.ID {
				return fmt.Errorf("identifier %s: tables say %q, state %s", k, tb.identities[k], c.ID)
			}
		}
		return eng.Journey(c.ID, func(r *stitch.JourneyRow) error {
			rows++
			got, ok := tb.journeys[stitch.JourneyKey{CustomerID: c.ID, EventID: r.EventID}]
			if !ok || fmt.Sprint(got) != fmt.Sprint(*r) {
				return fmt.Errorf("journey row %s/%s: tables have %+v (present %v), state %+v", c.ID, r.EventID, got, ok, *r)
			}
			return nil
		})
	}); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	if rows != len(tb.journeys) || profiles != len(tb.profiles) || ids != len(tb.identities) {
		t.Fatalf("%s: tables hold %d journey rows, %d profiles, %d identities; state %d, %d, %d",
			what, len(tb.journeys), len(tb.profiles), len(tb.identities), rows, profiles, ids)
	}
}

// applyTracked runs events through an engine in batches of size n, folding
// each batch's Changes into tables.
func applyTracked(t *testing.T, cfg *config.Config, dir string, evs []event.Event, n int, tb *tables) *stitch.Engine {
	t.Helper()
	store, err := state.Open(dir, state.Options{CustomerCache: 8, IdentifierCache: 8})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	return applyTrackedOn(t, cfg, store, evs, n, tb)
}

func applyTrackedOn(t *testing.T, cfg *config.Config, store *state.Store, evs []event.Event, n int, tb *tables) *stitch.Engine {
	t.Helper()
	eng, err := stitch.New(cfg, store)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < len(evs); i += n {
		if _, err := eng.ApplyWith(evs[i:min(i+n, len(evs))], func(txn *state.Txn, _ *stitch.Result) error {
			ch, err := eng.Changes(txn)
			if err != nil {
				return err
			}
			tb.apply(t, ch)
			return nil
		}); err != nil {
			t.Fatal(err)
		}
	}
	return eng
}

// Every golden scenario — merges across channels, splits of shared devices,
// late events, limits — in batches of several sizes and two orders: the
// tables built from Changes alone equal the engine's state after every run.
func TestChangesKeepTablesExact(t *testing.T) {
	files, err := filepath.Glob("testdata/*.txt")
	if err != nil || len(files) == 0 {
		t.Fatalf("no scenarios: %v", err)
	}
	for _, f := range files {
		sc := parseScenario(t, f)
		cfg := sc.config(t)
		dec := event.NewDecoder(cfg.Input.MaxEventBytes, cfg.Input.Channels)
		var evs []event.Event
		for _, line := range sc.input {
			if ev, err := dec.Decode([]byte(line)); err == nil {
				evs = append(evs, ev)
			}
		}
		t.Run(filepath.Base(f), func(t *testing.T) {
			for _, n := range []int{1, 2, 5, len(evs)} {
				for order := range 2 {
					es := slices.Clone(evs)
					if order == 1 {
						rand.New(rand.NewPCG(uint64(n), 7)).Shuffle(len(es), func(i, j int) { es[i], es[j] = es[j], es[i] })
					}
					tb := newTables()
					eng := applyTracked(t, cfg, t.TempDir(), es, max(n, 1), tb)
					tb.check(t, eng, fmt.Sprintf("batch %d order %d", n, order))
				}
			}
		})
	}
}

// Random traffic with shared devices, limits and events arriving up to an
// hour late, over a restart: the tables stay exact.
func TestChangesRandomTraffic(t *testing.T) {
	cfg := config.Default()
	for seed := range uint64(6) {
		rng := rand.New(rand.NewPCG(seed, 11))
		evs, _ := randomGraph(rng, 300)
		for i := range evs {
			evs[i].Channel = []string{"web", "store", "email", "callcentre"}[rng.IntN(4)]
			evs[i].Type = []string{"page_view", "purchase", "add_to_cart", "call"}[rng.IntN(4)]
		}
		dir := t.TempDir()
		tb := newTables()
		half := len(evs) / 2
		store, err := state.Open(dir, state.Options{CustomerCache: 8, IdentifierCache: 8})
		if err != nil {
			t.Fatal(err)
		}
		applyTrackedOn(t, cfg, store, evs[:half], 1+rng.IntN(40), tb)
		if err := store.Close(); err != nil {
			t.Fatal(err)
		}
		// Reopening the same directory resumes from the stored state.
		eng := applyTracked(t, cfg, dir, evs[half:], 1+rng.IntN(40), tb)
		tb.check(t, eng, fmt.Sprintf("seed %d", seed))
	}
}
