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
