package state

import (
	"math"
	"slices"
	"testing"
)

// JourneyWindow sees the committed journey and the Txn's own writes, from
// the given event to the window's end inclusive, and nothing after it.
func TestJourneyWindow(t *testing.T) {
	s, err := Open(t.TempDir(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	const cust = "c_0000000000000001"
	put := func(txn *Txn, id string, ts int64) {
		if err := txn.PutEntry(cust, &Entry{EventID: id, TS: ts}); err != nil {
			t.Fatal(err)
		}
	}
	txn := s.Begin()
	for i, id := range []string{"a", "b", "c", "d", "e"} {
		put(txn, id, int64(i+1)*100) // 100 … 500
	}
	if err := txn.Commit(); err != nil {
		t.Fatal(err)
	}
	txn = s.Begin()
	defer txn.Discard()
	put(txn, "b2", 200) // same time as b, later id
	put(txn, "x", 350)
	if err := txn.DeleteEntry(cust, 400, "d"); err != nil {
		t.Fatal(err)
	}
	ids := func(until int64) []string {
		t.Helper()
		tail, err := txn.JourneyWindow(cust, 200, "b", until, 6)
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, en := range tail {
			out = append(out, en.EventID)
		}
		return out
	}
	for _, tc := range []struct {
		until int64
		want  []string
	}{
		{200, []string{"b", "b2"}},
		{299, []string{"b", "b2"}},
		{300, []string{"b", "b2", "c"}},
		{450, []string{"b", "b2", "c", "x"}},
		{math.MaxInt64, []string{"b", "b2", "c", "x", "e"}},
	} {
		if got := ids(tc.until); !slices.Equal(got, tc.want) {
			t.Errorf("until %d: %v, want %v", tc.until, got, tc.want)
		}
	}
}
