package stitch_test

import (
	"slices"
	"testing"
	"time"

	"github.com/omnistitch/omnistitch/state"
	"github.com/omnistitch/omnistitch/stitch"
)

const sequenceRule = `
topic: omni.triggers
allowed_lateness: 1m
idle_after: 30s
rules:
  - name: complaint_after_purchase
    kind: sequence
    when: {types: [purchase]}
    then: {types: [complaint]}
    within: 7d
`

// A first event that arrives after its second pairs at once and not again:
// a complaint after both finds it paired. One whose window the watermark
// has passed pairs with no late second event.
func TestSequenceLateFirstEventPairsOnce(t *testing.T) {
	eng := ruleEngine(t, sequenceRule)
	got := fired(t, eng,
		ev("c1", "callcentre", "complaint", "11:00:00", `"loyalty":"L1"`),
		ev("p1", "store", "purchase", "10:00:00", `"loyalty":"L1"`),       // late: pairs with c1
		ev("c2", "callcentre", "complaint", "12:00:00", `"loyalty":"L1"`), // p1 paired already
		ev("p2", "store", "purchase", "13:00:00", `"loyalty":"L2"`),
		// Another customer's event eight days on moves the watermark
		// past p2's window: a complaint within it, arriving now, is late.
		`{"event_id":"x1","channel":"web","type":"page_view","ts":"2026-11-28T13:00:00Z","ids":{"cookie":"k9"}}`,
		ev("c3", "callcentre", "complaint", "14:00:00", `"loyalty":"L2"`),
	)
	want := []string{"complaint_after_purchase:p1,c1"}
	if !slices.Equal(got, want) {
		t.Fatalf("fired %v, want %v", got, want)
	}
}

// A customer written before version 7 kept its waiting first events in
// Pending and nothing of the ones paired; it reads the journey only from
// its SeqFrom on. A merge with a customer that reads all of its journey
// keeps the other's earlier first events waiting (in Pending).
func TestSequenceFromRecordOfBefore(t *testing.T) {
	eng, store := ruleEngineStore(t, sequenceRule)
	day := time.Date(2026, 11, 20, 0, 0, 0, 0, time.UTC)
	at := func(h, m int) int64 {
		return day.Add(time.Duration(h)*time.Hour + time.Duration(m)*time.Minute).UnixMilli()
	}
	old := &state.Customer{ID: stitch.CustomerID("p0"), Origin: "p0", FirstSeen: at(9, 0), LastSeen: at(10, 0), Events: 2, Purchases: 2,
		Channels: []string{"store"}, IDs: []string{"loyalty:L1"}, SeqFrom: at(10, 0) + 1,
		Pending: []state.Pending{{Rule: "complaint_after_purchase", EventID: "p1", TS: at(10, 0)}}} // p0 paired before
	tx := store.Begin()
	for _, en := range []*state.Entry{
		{EventID: "p0", TS: at(9, 0), Channel: "store", Type: "purchase"},
		{EventID: "p1", TS: at(10, 0), Channel: "store", Type: "purchase"},
	} {
		if err := tx.PutEntry(old.ID, en); err != nil {
			t.Fatal(err)
		}
	}
	tx.SetIdentifier("loyalty:L1", &state.Identifier{Customer: old.ID})
	tx.SetCustomer(old)
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	got := fired(t, eng,
		ev("c1", "callcentre", "complaint", "11:00:00", `"loyalty":"L1"`), // p1, from Pending
		ev("c2", "callcentre", "complaint", "12:00:00", `"loyalty":"L1"`), // p0 paired before
		ev("p2", "store", "purchase", "13:00:00", `"loyalty":"L1"`),
		ev("c3", "callcentre", "complaint", "14:00:00", `"loyalty":"L1"`),    // p2, from the journey
		ev("q1", "web", "purchase", "09:30:00", `"cookie":"k5"`),             // a customer of its own
		ev("m1", "web", "login", "14:40:00", `"cookie":"k5","loyalty":"L1"`), // merges it into old
		ev("c4", "callcentre", "complaint", "15:00:00", `"loyalty":"L1"`),    // q1, held at the merge
	)
	want := []string{"complaint_after_purchase:p1,c1", "complaint_after_purchase:p2,c3", "complaint_after_purchase:q1,c4"}
	if !slices.Equal(got, want) {
		t.Fatalf("fired %v, want %v", got, want)
	}
}

// A merge brings the other customer's first events: a complaint after it
// pairs with the latest purchase of either (here the absorbed customer's),
// the next with the other.
func TestSequenceAfterMergePairsLatest(t *testing.T) {
	eng := ruleEngine(t, sequenceRule)
	got := fired(t, eng,
		ev("p1", "store", "purchase", "09:00:00", `"loyalty":"L1"`), // the survivor-to-be
		ev("p2", "web", "purchase", "10:00:00", `"cookie":"k2"`),
		ev("m1", "web", "login", "11:00:00", `"cookie":"k2","loyalty":"L1"`),
		ev("c1", "callcentre", "complaint", "12:00:00", `"loyalty":"L1"`),
		ev("c2", "callcentre", "complaint", "13:00:00", `"cookie":"k2"`),
		ev("c3", "callcentre", "complaint", "14:00:00", `"cookie":"k2"`),
	)
	want := []string{"complaint_after_purchase:p2,c1", "complaint_after_purchase:p1,c2"}
	if !slices.Equal(got, want) {
		t.Fatalf("fired %v, want %v", got, want)
	}
}

// The journey is read for a sequence's first events once the latest has
// paired; the read lists the others unpaired in Pending, so that the next
// second events pair without one. A first event paired from Pending is
// paired for good: after a merge the journey is read again, and offers the
// other customer's purchase, not it.
func TestSequenceReadListsTheRest(t *testing.T) {
	eng, store := ruleEngineStore(t, sequenceRule)
	pending := func(id string) []state.Pending {
		t.Helper()
		c, err := store.Customer(stitch.CustomerID(id))
		if err != nil || c == nil {
			t.Fatalf("customer of %s: %v, %v", id, c, err)
		}
		return c.Pending
	}
	var got []string
	got = append(got, fired(t, eng,
		ev("p1", "store", "purchase", "09:00:00", `"loyalty":"L1"`),
		ev("p2", "store", "purchase", "10:00:00", `"loyalty":"L1"`),
		ev("p3", "store", "purchase", "11:00:00", `"loyalty":"L1"`),
	)...)
	if p := pending("p1"); len(p) != 0 {
		t.Fatalf("purchases with no complaint wait in Pending: %v", p)
	}
	got = append(got, fired(t, eng,
		ev("c1", "callcentre", "complaint", "12:00:00", `"loyalty":"L1"`), // p3, the latest
		ev("c2", "callcentre", "complaint", "13:00:00", `"loyalty":"L1"`), // p2, read from the journey
	)...)
	if p := pending("p1"); len(p) != 1 || p[0].EventID != "p1" {
		t.Fatalf("after the read, Pending holds %v, want p1", p)
	}
	got = append(got, fired(t, eng,
		ev("c3", "callcentre", "complaint", "14:00:00", `"loyalty":"L1"`), // p1, from Pending
		ev("q1", "web", "purchase", "08:00:00", `"cookie":"k5"`),          // a customer of its own
		ev("m1", "web", "login", "14:30:00", `"cookie":"k5","loyalty":"L1"`),
		ev("c4", "callcentre", "complaint", "15:00:00", `"loyalty":"L1"`), // q1: p1 paired
		ev("c5", "callcentre", "complaint", "16:00:00", `"loyalty":"L1"`), // none left
	)...)
	want := []string{"complaint_after_purchase:p3,c1", "complaint_after_purchase:p2,c2",
		"complaint_after_purchase:p1,c3", "complaint_after_purchase:q1,c4"}
	if !slices.Equal(got, want) {
		t.Fatalf("fired %v, want %v", got, want)
	}
}

// Once the journey was read so, a first event that a later one replaces
// as the latest waits in Pending while unpaired; a read after a merge
// leaves it to Pending and lists the other customer's.
func TestSequenceLatestReplacedWaits(t *testing.T) {
	eng, store := ruleEngineStore(t, sequenceRule)
	var got []string
	got = append(got, fired(t, eng,
		ev("p1", "store", "purchase", "09:00:00", `"loyalty":"L1"`),
		ev("c1", "callcentre", "complaint", "10:00:00", `"loyalty":"L1"`), // p1
		ev("c2", "callcentre", "complaint", "11:00:00", `"loyalty":"L1"`), // none: the journey read
		ev("p2", "store", "purchase", "12:00:00", `"loyalty":"L1"`),
		ev("p3", "store", "purchase", "13:00:00", `"loyalty":"L1"`), // p2 waits
	)...)
	c, err := store.Customer(stitch.CustomerID("p1"))
	if err != nil || c == nil || len(c.Pending) != 1 || c.Pending[0].EventID != "p2" ||
		len(c.LatestFirst) != 1 || c.LatestFirst[0].EventID != "p3" || c.LatestFirst[0].RestPaired != (7*24*time.Hour).Milliseconds() {
		t.Fatalf("after p3: %+v, %v", c, err)
	}
	got = append(got, fired(t, eng,
		ev("q1", "web", "purchase", "08:00:00", `"cookie":"k5"`),
		ev("m1", "web", "login", "13:30:00", `"cookie":"k5","loyalty":"L1"`),
		ev("c3", "callcentre", "complaint", "14:00:00", `"loyalty":"L1"`), // p3
		ev("c4", "callcentre", "complaint", "15:00:00", `"loyalty":"L1"`), // p2, from Pending
		ev("c5", "callcentre", "complaint", "16:00:00", `"loyalty":"L1"`), // q1
		ev("c6", "callcentre", "complaint", "17:00:00", `"loyalty":"L1"`), // none left
	)...)
	want := []string{"complaint_after_purchase:p1,c1", "complaint_after_purchase:p3,c3",
		"complaint_after_purchase:p2,c4", "complaint_after_purchase:q1,c5"}
	if !slices.Equal(got, want) {
		t.Fatalf("fired %v, want %v", got, want)
	}
}
