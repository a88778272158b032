package state

import (
	"fmt"
	"slices"
	"testing"
)

// Timers reach Pebble as their Txn leaves them: a timer set and removed in
// one Txn writes nothing, a stored one removed writes its deletion, one
// re-set under another owner writes the new owner, and an erasure deletes
// a stored timer even after the Txn set it again.
func TestTimerWrites(t *testing.T) {
	s, err := Open(t.TempDir(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	const owner, other = "c_0000000000000001", "c_0000000000000002"
	// commit commits tx and returns its timer writes as "set key=owner"
	// or "del key".
	commit := func(tx *Txn) (w []string) {
		t.Helper()
		s.committed = func(tx *Txn) {
			for i := range tx.ops {
				o := &tx.ops[i]
				k := tx.opKey(o)
				if k[0] != prefixTimer {
					continue
				}
				if o.del {
					w = append(w, fmt.Sprintf("del %q", k[9:]))
				} else {
					w = append(w, fmt.Sprintf("set %q=%s", k[9:], tx.arena[o.off+o.klen:o.off+o.klen+o.vlen]))
				}
			}
		}
		defer func() { s.committed = nil }()
		if err := tx.Commit(); err != nil {
			t.Fatal(err)
		}
		return w
	}
	due := func() string {
		t.Helper()
		tx := s.Begin()
		defer tx.Discard()
		tms, err := tx.DueTimers(0, 1000)
		if err != nil {
			t.Fatal(err)
		}
		return fmt.Sprint(tms)
	}
	check := func(step string, got []string, want string) {
		t.Helper()
		if fmt.Sprint(got) != want {
			t.Errorf("%s: writes %v, want %s", step, got, want)
		}
	}

	tx := s.Begin()
	tx.SetTimer(100, "cart", "e1", owner)
	tx.SetTimer(200, "cart", "e2", owner)
	tx.DeleteTimer(100, "cart", "e1") // the purchase came in the same batch
	check("set, set, cancel one", commit(tx), `[set "cart\x00e2"=`+owner+`]`)
	if got, want := due(), "[{200 cart e2 "+owner+"}]"; got != want {
		t.Fatalf("due %s, want %s", got, want)
	}

	tx = s.Begin()
	tx.DeleteTimer(200, "cart", "e2")
	check("cancel a stored one", commit(tx), `[del "cart\x00e2"]`)
	if got := due(); got != "[]" {
		t.Fatalf("due %s after the deletion", got)
	}

	tx = s.Begin()
	tx.SetTimer(300, "cart", "e3", owner)
	commit(tx)
	tx = s.Begin()
	tx.DeleteTimer(300, "cart", "e3") // moved to another customer
	tx.SetTimer(300, "cart", "e3", other)
	check("moved", commit(tx), `[set "cart\x00e3"=`+other+`]`)
	if got, want := due(), "[{300 cart e3 "+other+"}]"; got != want {
		t.Fatalf("due %s, want %s", got, want)
	}

	// Set again over the stored timer: the Txn takes it for a new one, but
	// an erasure finds it stored and deletes it.
	tx = s.Begin()
	tx.SetTimer(300, "cart", "e3", other)
	if _, err := tx.EraseCustomer(other); err != nil {
		t.Fatal(err)
	}
	check("erased", commit(tx), `[del "cart\x00e3"]`)
	if got := due(); got != "[]" {
		t.Fatalf("due %s after the erasure", got)
	}
}

// A Txn's own timers, set in any order, are found by DueTimers in due
// order with the stored ones, also when more are set after a lookup.
func TestDueTimersInTxnOrder(t *testing.T) {
	s, err := Open(t.TempDir(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	const owner = "c_0000000000000001"
	tx := s.Begin()
	tx.SetTimer(150, "cart", "s1", owner)
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	tx = s.Begin()
	defer tx.Discard()
	due := func(from, to int64) string {
		t.Helper()
		tms, err := tx.DueTimers(from, to)
		if err != nil {
			t.Fatal(err)
		}
		var out string
		for _, tm := range tms {
			out += fmt.Sprintf("%d:%s ", tm.Due, tm.EventID)
		}
		return out
	}
	tx.SetTimer(300, "cart", "e3", owner)
	tx.SetTimer(100, "cart", "e1", owner)
	tx.SetTimer(200, "cart", "e2", owner)
	if got, want := due(0, 1000), "100:e1 150:s1 200:e2 300:e3 "; got != want {
		t.Fatalf("due %q, want %q", got, want)
	}
	if got, want := due(120, 250), "150:s1 200:e2 "; got != want {
		t.Fatalf("due in 120…250 %q, want %q", got, want)
	}
	tx.SetTimer(250, "cart", "e4", owner)
	tx.SetTimer(50, "cart", "e0", owner)
	if got, want := due(0, 260), "50:e0 100:e1 150:s1 200:e2 250:e4 "; got != want {
		t.Fatalf("due after more were set %q, want %q", got, want)
	}
}

// State written before 2026-12-06 holds an index of the triggers fired per
// customer ('h' keys): an erasure still lists the customer's and deletes
// them, and leaves other customers' alone.
func TestEraseLegacyTriggerIndex(t *testing.T) {
	s, err := Open(t.TempDir(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	const ann, bob = "c_00000000000000a1", "c_00000000000000b2"
	for _, k := range []string{"h" + ann + "t_1", "h" + ann + "t_2", "h" + bob + "t_3"} {
		if err := s.db.Set([]byte(k), nil, nil); err != nil {
			t.Fatal(err)
		}
	}
	tx := s.Begin()
	er, err := tx.EraseCustomer(ann)
	if err != nil {
		t.Fatal(err)
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, g := range er.Triggers {
		if g.Customer != ann {
			t.Errorf("erased %s of %s", g.ID, g.Customer)
		}
		ids = append(ids, g.ID)
	}
	if !slices.Equal(ids, []string{"t_1", "t_2"}) {
		t.Errorf("erased triggers %v, want [t_1 t_2]", ids)
	}
	for k, want := range map[string]bool{"h" + ann + "t_1": false, "h" + ann + "t_2": false, "h" + bob + "t_3": true} {
		_, closer, err := s.db.Get([]byte(k))
		if found := err == nil; found != want {
			t.Errorf("%s stored: %v, want %v", k, found, want)
		}
		if closer != nil {
			closer.Close()
		}
	}
}
