package stitch_test

import (
	"encoding/json"
	"math/rand/v2"
	"testing"

	"github.com/omnistitch/omnistitch/state"
	"github.com/omnistitch/omnistitch/stitch"
)

// AppendTriggerJSON must equal encoding/json on the message, whatever the
// strings hold.
func TestAppendTriggerJSONMatchesEncodingJSON(t *testing.T) {
	odd := []string{"", "plain", `q"uote`, `back\slash`, "<b>&amp;</b>", "tab\tnew\nline", "ünï", "\xff\xfe", "\u2028", "a:b:c", "\x00"}
	rng := rand.New(rand.NewPCG(1, 2))
	pick := func() string { return odd[rng.IntN(len(odd))] }
	types := []string{"email", "phone", "cookie", "crm", "x<y"}
	for i := range 2000 {
		g := &state.Trigger{ID: pick(), Rule: pick(), Customer: pick(), Stage: pick(), FiredAt: rng.Int64N(4e12) - 1e12}
		for range rng.IntN(6) {
			g.IDs = append(g.IDs, types[rng.IntN(len(types))]+":"+pick())
		}
		switch i % 3 {
		case 0: // nil: null
		case 1:
			g.EventIDs = []string{}
		default:
			for range 1 + rng.IntN(3) {
				g.EventIDs = append(g.EventIDs, pick())
			}
		}
		want, err := json.Marshal(stitch.MessageOf(g))
		if err != nil {
			t.Fatal(err)
		}
		if got := stitch.AppendTriggerJSON(nil, g); string(got) != string(want) {
			t.Fatalf("trigger %+v:\n got %s\nwant %s", g, got, want)
		}
	}
}

func FuzzAppendTriggerJSON(f *testing.F) {
	f.Add("t1", "cart", "c1", "email:a@b.c", "ev<1>", int64(1700000000000))
	f.Fuzz(func(t *testing.T, id, rule, cust, key, eid string, at int64) {
		g := &state.Trigger{ID: id, Rule: rule, Customer: cust, IDs: []string{key, key + "x"}, EventIDs: []string{eid}, FiredAt: at}
		want, err := json.Marshal(stitch.MessageOf(g))
		if err != nil {
			t.Fatal(err)
		}
		if got := stitch.AppendTriggerJSON(nil, g); string(got) != string(want) {
			t.Fatalf("got %s\nwant %s", got, want)
		}
	})
}
