//go:build race

package state

import "testing"

// Commit writes a customer's Pending list only when a method marked it
// changed; the race-detector build (the tests') refuses a list changed
// behind their back, so a forgotten mark fails the engine's tests instead
// of losing pending first events at a restart.
func TestPendingChangeUnmarked(t *testing.T) {
	s, err := Open(t.TempDir(), Options{CustomerCache: 10})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	c := &Customer{ID: "c_00000000000000aa", Events: 1}
	c.AddPending(Pending{Rule: "cart", EventID: "e1", TS: 5})
	tx := s.Begin()
	tx.SetCustomer(c)
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	tx = s.Begin()
	c, _ = tx.Customer(c.ID)
	c.Pending = append(c.Pending, Pending{Rule: "cart", EventID: "e2", TS: 6})
	tx.SetCustomer(c)
	defer func() {
		if recover() == nil {
			t.Fatal("an unmarked change of the Pending list was committed without a word")
		}
	}()
	_ = tx.Commit()
}
