package clickhouse_test

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/omnistitch/omnistitch/bench/gen"
	"github.com/omnistitch/omnistitch/sinks/clickhouse"
	"github.com/omnistitch/omnistitch/state"
	"github.com/omnistitch/omnistitch/stitch"
)

// A forget leaves nothing of the customer in any view — journeys,
// profiles, identities, merges, conflicts, triggers — and one audit row; an
// unmerge re-keys the split part's rows. The views equal the engine after
// each.
func TestForgetAndUnmergeInViews(t *testing.T) {
	r := newRig(t)
	evs := decodeAll(t, r.cfg, gen.All(gen.Options{Seed: 11, Customers: 300, Events: 6000}))
	r.apply(evs, 500)
	r.drain()

	// The customer with the most history elsewhere: merges it survived,
	// triggers it fired.
	merged, fired := map[string]int{}, map[string]int{}
	r.store.Merges(func(m *state.Merge) error { merged[m.Survivor]++; return nil })
	rows := r.query(`SELECT customer_id, count() FROM {db}.triggers GROUP BY customer_id`)
	for rows.Next() {
		var id string
		var n uint64
		if err := rows.Scan(&id, &n); err != nil {
			t.Fatal(err)
		}
		fired[id] = int(n)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	rows.Close()
	victim := ""
	for id := range merged {
		if c, _ := r.store.Customer(id); c != nil && fired[id] > 0 && (victim == "" || merged[id] > merged[victim] || (merged[id] == merged[victim] && id < victim)) {
			victim = id
		}
	}
	c, _ := r.store.Customer(victim)
	if c == nil {
		t.Fatal("no customer with merges and triggers to forget")
	}
	values := make([]string, 0, len(c.IDs))
	for _, k := range c.IDs {
		_, v, _ := strings.Cut(k, ":")
		values = append(values, v)
	}

	// The state keeps no list of a customer's triggers: the writer reads
	// their ids from ClickHouse, to hide them with the forget's INSERT.
	var shown []string
	rows = r.query(`SELECT trigger_id FROM {db}.triggers WHERE customer_id = ? ORDER BY trigger_id`, victim)
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			t.Fatal(err)
		}
		shown = append(shown, id)
	}
	rows.Close()
	if hidden, err := clickhouse.HiddenTriggers(context.Background(), r.w, []string{victim}); err != nil || len(shown) == 0 || !slices.Equal(hidden, shown) {
		t.Fatalf("a forget would hide triggers %v (%v), the view shows %v", hidden, err, shown)
	}

	au, res, err := r.eng.Forget(stitch.Request{CustomerID: victim, Actor: "test", At: time.Now()}, r.stage)
	if err != nil {
		t.Fatal(err)
	}
	if au.Status != stitch.StatusForgotten || res.Erased == nil || len(res.Erased.Merges) == 0 {
		t.Fatalf("forget: %+v, erased %+v", au, res.Erased)
	}
	r.drain()
	r.check()
	ids := []string{victim}
	ids = append(ids, res.Erased.Absorbed...)
	for _, q := range []string{
		`SELECT count() FROM {db}.journeys WHERE customer_id IN ({ids})`,
		`SELECT count() FROM {db}.profiles WHERE customer_id IN ({ids})`,
		`SELECT count() FROM {db}.identities WHERE customer_id IN ({ids}) OR id_value IN ({values})`,
		`SELECT count() FROM {db}.merges WHERE absorbed_id IN ({ids}) OR survivor_id IN ({ids})`,
		`SELECT count() FROM {db}.identity_conflicts WHERE customer_id IN ({ids})`,
		`SELECT count() FROM {db}.triggers WHERE customer_id IN ({ids})`,
	} {
		q = strings.ReplaceAll(q, "{ids}", quoteList(ids))
		q = strings.ReplaceAll(q, "{values}", quoteList(values))
		if n := r.count(q); n != 0 {
			t.Errorf("%d rows left: %s", n, q)
		}
	}
	// Not only hidden: purged from the base tables, tombstones included.
	for _, q := range []string{
		`SELECT count() FROM {db}.journey_rows WHERE customer_id IN ({ids})`,
		`SELECT count() FROM {db}.profile_rows WHERE customer_id IN ({ids})`,
		`SELECT count() FROM {db}.identity_rows WHERE customer_id IN ({ids}) OR id_value IN ({values})`,
		`SELECT count() FROM {db}.merge_rows WHERE absorbed_id IN ({ids}) OR survivor_id IN ({ids})`,
		`SELECT count() FROM {db}.conflict_rows WHERE customer_id IN ({ids})`,
		`SELECT count() FROM {db}.trigger_rows WHERE customer_id IN ({ids})`,
	} {
		q = strings.ReplaceAll(q, "{ids}", quoteList(ids))
		q = strings.ReplaceAll(q, "{values}", quoteList(values))
		if n := r.count(q); n != 0 {
			t.Errorf("%d rows left in a base table: %s", n, q)
		}
	}
	if n := r.count(`SELECT count() FROM {db}.audit WHERE op = 'forget' AND status = 'forgotten' AND resolved_id = '` + victim + `' AND actor = 'test'`); n != 1 {
		t.Fatalf("audit holds %d rows for the forget, want 1", n)
	}

	// Unmerge the identifier that made the latest merge still standing.
	var via, survivor string
	r.store.Merges(func(m *state.Merge) error {
		if c, _ := r.store.Customer(m.Survivor); c != nil {
			for _, k := range c.IDs {
				if k == m.Via {
					via, survivor = m.Via, m.Survivor
				}
			}
		}
		return nil
	})
	if via == "" {
		t.Fatal("no merge left to undo")
	}
	typ, val, _ := strings.Cut(via, ":")
	au, _, err = r.eng.Unmerge(stitch.Request{CustomerID: survivor, IDType: typ, IDValue: val, At: time.Now()}, r.stage)
	if err != nil {
		t.Fatal(err)
	}
	r.drain()
	r.check()
	if n := r.count(`SELECT count() FROM {db}.audit`); n != 2 {
		t.Fatalf("audit holds %d rows, want 2", n)
	}
	t.Logf("unmerge of a %s: %s, %d events to %v", typ, au.Status, au.Events, au.Parts)
}

func quoteList(ss []string) string {
	q := make([]string, len(ss))
	for i, s := range ss {
		q[i] = "'" + strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(s) + "'"
	}
	return strings.Join(q, ", ")
}
