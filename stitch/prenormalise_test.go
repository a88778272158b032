package stitch_test

import (
	"fmt"
	"math/rand/v2"
	"runtime"
	"slices"
	"testing"

	"github.com/omnistitch/omnistitch/internal/config"
	"github.com/omnistitch/omnistitch/stitch"
	"github.com/omnistitch/omnistitch/stitch/event"
)

// A batch large enough to be normalised on a helper goroutine (see
// prenormalise) stitches exactly as events applied one at a time, which
// are normalised inline; rejected events keep their reasons.
func TestLargeBatchNormalisedAhead(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(2))
	cfg := config.Default()
	for i := range cfg.Identity.Types {
		cfg.Identity.Types[i].Limit = 1 << 20
		cfg.Identity.Types[i].DetectShared = false
	}
	rng := rand.New(rand.NewPCG(3, 9))
	evs, truth := randomGraph(rng, 3000)
	if got := partition(t, cfg, evs, len(evs)); !slices.Equal(got, truth) {
		t.Fatalf("one batch of %d: partition differs from the reference", len(evs))
	}

	// Junk-only events spread through the batch, and an unknown type.
	var mixed []event.Event
	for i, ev := range evs[:1500] {
		mixed = append(mixed, ev)
		if i%97 == 0 {
			mixed = append(mixed, event.Event{ID: fmt.Sprintf("junk%d", i), Channel: "web", Type: "page_view", TS: ev.TS,
				IDs: []event.ID{{Type: "email", Value: "n/a"}, {Type: "nonsense", Value: "x"}}})
		}
	}
	one := outcomes(t, cfg, mixed, 1)
	all := outcomes(t, cfg, mixed, len(mixed))
	rejected := 0
	for i := range one {
		if one[i] != all[i] {
			t.Fatalf("event %d (%s): one at a time %q, in one batch %q", i, mixed[i].ID, one[i], all[i])
		}
		if one[i] != "applied" && one[i] != "duplicate" {
			rejected++
		}
	}
	if rejected != 16 {
		t.Fatalf("%d events rejected, want the 16 junk ones", rejected)
	}
}

func outcomes(t *testing.T, cfg *config.Config, evs []event.Event, batch int) []string {
	t.Helper()
	eng := openEngine(t, cfg, 64)
	var out []string
	for i := 0; i < len(evs); i += batch {
		res, err := eng.Apply(evs[i:min(i+batch, len(evs))])
		if err != nil {
			t.Fatal(err)
		}
		for _, o := range res.Outcomes {
			switch o.Status {
			case stitch.Applied:
				out = append(out, "applied")
			case stitch.Duplicate:
				out = append(out, "duplicate")
			default:
				out = append(out, fmt.Sprintf("%d: %v", o.Status, o.Err))
			}
		}
	}
	return out
}
