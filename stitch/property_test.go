package stitch_test

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/omnistitch/omnistitch/internal/config"
	"github.com/omnistitch/omnistitch/state"
	"github.com/omnistitch/omnistitch/stitch"
	"github.com/omnistitch/omnistitch/stitch/event"
)

// With limits too high to be hit and no shared detection, stitching is
// plain connectivity: the customers are the connected components of the
// events joined by shared (normalised) identifiers, whatever the arrival
// order. A reference union-find computes them independently.
func TestPropertyPartitionIndependentOfOrder(t *testing.T) {
	cfg := config.Default()
	for i := range cfg.Identity.Types {
		cfg.Identity.Types[i].Limit = 1 << 20
		cfg.Identity.Types[i].DetectShared = false
	}
	for seed := range uint64(12) {
		rng := rand.New(rand.NewPCG(seed, 42))
		evs, truth := randomGraph(rng, 10+int(seed)*15)
		for order := range 4 {
			if order > 0 {
				rng.Shuffle(len(evs), func(i, j int) { evs[i], evs[j] = evs[j], evs[i] })
			}
			got := partition(t, cfg, evs, 1+rng.IntN(7))
			if !slices.Equal(got, truth) {
				t.Fatalf("seed %d order %d: partition differs\nwant %v\n got %v", seed, order, truth, got)
			}
		}
	}
}

// randomGraph makes events carrying 1–3 identifiers drawn from small pools
// (so that components form), with e-mails in case and space variants. It
// returns the events and the reference partition.
func randomGraph(rng *rand.Rand, n int) ([]event.Event, []string) {
	types := []string{"crm", "user", "loyalty", "email", "phone", "device", "cookie"}
	pool := max(n/2, 3)
	evs := make([]event.Event, n)
	parent := make(map[string]string)
	find := func(x string) string {
		if _, ok := parent[x]; !ok {
			parent[x] = x
		}
		for parent[x] != x {
			x = parent[x]
		}
		return x
	}
	for i := range evs {
		id := fmt.Sprintf("ev%03d", i)
		ev := event.Event{ID: id, Channel: "web", Type: "page_view", TS: int64(rng.IntN(1000)) * 1000}
		seen := map[string]bool{}
		for range 1 + rng.IntN(3) {
			typ := types[rng.IntN(len(types))]
			if seen[typ] {
				continue
			}
			seen[typ] = true
			v := fmt.Sprintf("%s%d", typ, rng.IntN(pool))
			norm := typ + ":" + v
			switch typ {
			case "email":
				norm = "email:" + v + "@example.org"
				v = v + "@example.org"
				if rng.IntN(2) == 0 {
					v = "  " + strings.ToUpper(v)
				}
			case "phone":
				num := 1000000 + rng.IntN(pool)
				norm = fmt.Sprintf("phone:+4930%d", num)
				v = []string{"+49 30 %d", "030 %d", "0049 30 %d", "(030) %d"}[rng.IntN(4)]
				v = fmt.Sprintf(v, num)
			}
			ev.IDs = append(ev.IDs, event.ID{Type: typ, Value: v})
			parent[find("event:"+id)] = find(norm)
		}
		evs[i] = ev
	}
	groups := map[string][]string{}
	for _, ev := range evs {
		r := find("event:" + ev.ID)
		groups[r] = append(groups[r], ev.ID)
	}
	return evs, canonical(groups)
}

func canonical(groups map[string][]string) []string {
	var out []string
	for _, g := range groups {
		slices.Sort(g)
		out = append(out, strings.Join(g, ","))
	}
	slices.Sort(out)
	return out
}

// openEngine opens an engine over a new store in a temporary directory,
// with caches of the given size; the store closes when the test ends.
func openEngine(t *testing.T, cfg *config.Config, cache int) *stitch.Engine {
	t.Helper()
	store, err := state.Open(t.TempDir(), state.Options{CustomerCache: cache, IdentifierCache: cache})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	eng, err := stitch.New(cfg, store)
	if err != nil {
		t.Fatal(err)
	}
	return eng
}

func partition(t *testing.T, cfg *config.Config, evs []event.Event, batch int) []string {
	t.Helper()
	eng := openEngine(t, cfg, 16)
	for i := 0; i < len(evs); i += batch {
		res, err := eng.Apply(evs[i:min(i+batch, len(evs))])
		if err != nil {
			t.Fatal(err)
		}
		if len(res.Conflicts) > 0 || len(res.Splits) > 0 {
			t.Fatalf("unexpected conflicts %v / splits %v", res.Conflicts, res.Splits)
		}
	}
	groups := map[string][]string{}
	err := eng.Customers(func(c *state.Customer) error {
		var prev *stitch.JourneyRow
		return eng.Journey(c.ID, func(r *stitch.JourneyRow) error {
			if prev != nil && (r.TS < prev.TS || (r.TS == prev.TS && r.EventID <= prev.EventID) || r.Seq != prev.Seq+1) {
				t.Fatalf("journey of %s out of order at seq %d", c.ID, r.Seq)
			}
			cp := *r
			prev = &cp
			groups[c.ID] = append(groups[c.ID], r.EventID)
			return nil
		})
	})
	if err != nil {
		t.Fatal(err)
	}
	return canonical(groups)
}
