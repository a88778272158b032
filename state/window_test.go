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

// JourneyBack sees the same, latest first, from a time to a time inclusive,
// and stops when told: from the store merged with the Txn's writes, or from
// the writes alone when they are the whole journey.
func TestJourneyBack(t *testing.T) {
	s, err := Open(t.TempDir(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	const cust, other = "c_0000000000000001", "c_0000000000000002"
	put := func(txn *Txn, c, id string, ts int64) {
		if err := txn.PutEntry(c, &Entry{EventID: id, TS: ts}); err != nil {
			t.Fatal(err)
		}
	}
	txn := s.Begin()
	for i, id := range []string{"a", "b", "c", "d", "e"} {
		put(txn, cust, id, int64(i+1)*100) // 100 … 500
		put(txn, other, id, int64(i+1)*100)
	}
	if err := txn.Commit(); err != nil {
		t.Fatal(err)
	}
	txn = s.Begin()
	defer txn.Discard()
	put(txn, cust, "b2", 200) // same time as b, later id
	put(txn, cust, "x", 350)
	put(txn, cust, "z", 600)
	if err := txn.DeleteEntry(cust, 400, "d"); err != nil {
		t.Fatal(err)
	}
	back := func(c string, from, until, length int64, stopAt string) []string {
		t.Helper()
		var out []string
		if err := txn.JourneyBack(c, from, until, length, func(en *Entry) bool {
			out = append(out, en.EventID)
			return en.EventID != stopAt
		}); err != nil {
			t.Fatal(err)
		}
		return out
	}
	for _, tc := range []struct {
		from, until int64
		stopAt      string
		want        []string
	}{
		{200, 500, "", []string{"e", "x", "c", "b2", "b"}},
		{201, 499, "", []string{"x", "c"}},
		{math.MinInt64, math.MaxInt64, "", []string{"z", "e", "x", "c", "b2", "b", "a"}},
		{0, 1000, "x", []string{"z", "e", "x"}},
		{0, 1000, "z", []string{"z"}},
		{300, 200, "", nil},
	} {
		if got := back(cust, tc.from, tc.until, -1, tc.stopAt); !slices.Equal(got, tc.want) {
			t.Errorf("%d…%d (stop at %q): %v, want %v", tc.from, tc.until, tc.stopAt, got, tc.want)
		}
	}
	// Another customer's journey is its own; the Txn's writes alone, when
	// the length says they are all of it, are read without the store.
	if got := back(other, 0, 1000, -1, ""); !slices.Equal(got, []string{"e", "d", "c", "b", "a"}) {
		t.Errorf("other customer: %v", got)
	}
	const fresh = "c_0000000000000003"
	put(txn, fresh, "n1", 100)
	put(txn, fresh, "n2", 200)
	if got := back(fresh, 0, 1000, 2, ""); !slices.Equal(got, []string{"n2", "n1"}) {
		t.Errorf("journey of this Txn alone: %v", got)
	}
}
