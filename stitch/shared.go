package stitch

import (
	"fmt"
	"math"
	"slices"
	"strconv"

	"github.com/omnistitch/omnistitch/internal/jsonscan"
	"github.com/omnistitch/omnistitch/state"
	"github.com/omnistitch/omnistitch/stitch/rules"
)

// detectShared records, for identifiers of types that watch for sharing
// (devices, cookies), which higher-priority values they were seen with. One
// seen with more than sharedAfter distinct values of one type (a store's
// tablet, a family computer) is marked shared: it links nothing from then on,
// and the merges it caused are undone.
//
// The identifiers in a.ids are in priority order, so a.ids[:i] are exactly
// the higher-priority identifiers of the event.
func (a *applier) detectShared() error {
	for i := range a.ids {
		id := &a.ids[i]
		if !id.typ.detectShared || (id.rec != nil && id.rec.Shared) {
			continue
		}
		var co []string
		if id.rec != nil {
			co = id.rec.Co
		}
		changed, shared := false, false
		for _, h := range a.ids[:i] {
			if _, seen := slices.BinarySearch(co, h.key); seen {
				continue
			}
			if countType(co, h.typ.name) >= a.e.sharedAfter {
				shared = true
				break
			}
			co = insertSorted(co, h.key)
			changed = true
		}
		if !shared && !changed {
			continue
		}
		if id.rec == nil {
			id.rec = &state.Identifier{}
		}
		if !shared {
			id.rec.Co = co
			a.t.SetIdentifier(id.key, id.rec)
			continue
		}
		owner := id.rec.Customer
		id.rec.Customer, id.rec.Shared, id.rec.Co = "", true, nil
		a.t.SetIdentifier(id.key, id.rec)
		if owner != "" {
			if err := a.detach(owner, id.key); err != nil {
				return err
			}
		}
	}
	return nil
}

// detach removes an identifier from a customer and recomputes the customer
// from its journey: events stay together only where their recorded links
// (other than the removed identifier) still connect them. The part holding
// the customer's founding event keeps the id; every other part becomes a new
// customer, its events and identifiers moved to it.
func (a *applier) detach(custID, key string) error {
	t := a.t
	c, err := t.Customer(custID)
	if err != nil || c == nil {
		return err
	}
	if i, found := slices.BinarySearch(c.IDs, key); found {
		c.IDs = slices.Delete(c.IDs, i, i+1)
	}
	var entries []*state.Entry
	if err := t.Journey(c.ID, func(en *state.Entry) error {
		entries = append(entries, en)
		return nil
	}); err != nil {
		return err
	}

	// Union-find over the events, joined by the identifiers they share.
	parent := make([]int, len(entries))
	for i := range parent {
		parent[i] = i
	}
	find := func(i int) int {
		for parent[i] != i {
			parent[i] = parent[parent[i]]
			i = parent[i]
		}
		return i
	}
	// Links are sums of identifier keys (state.LinkSum); only links to
	// identifiers the customer still has join events.
	current := make(map[uint64]bool, len(c.IDs))
	for _, k := range c.IDs {
		current[state.LinkSum(k)] = true
	}
	firstWith := make(map[uint64]int)
	for i, en := range entries {
		for _, l := range en.Links {
			if !current[l] {
				continue
			}
			if j, ok := firstWith[l]; ok {
				ri, rj := find(i), find(j)
				// The smaller index is the root, so that a part's root is its
				// earliest event and parts come out in journey order.
				parent[max(ri, rj)] = min(ri, rj)
			} else {
				firstWith[l] = i
			}
		}
	}
	keeper := -1
	for i, en := range entries {
		if en.EventID == c.Origin {
			keeper = find(i)
		}
	}
	if keeper < 0 && len(entries) > 0 {
		keeper = find(0)
	}
	parts := make(map[int]*state.Customer)
	kept := &state.Customer{ID: c.ID, Origin: c.Origin}
	parts[keeper] = kept
	partOf := make(map[string]*state.Customer, len(entries)) // event id -> its part
	for i, en := range entries {
		root := find(i)
		p := parts[root]
		if p == nil {
			id, err := a.splitID(en.EventID)
			if err != nil {
				return err
			}
			p = &state.Customer{ID: id, Origin: en.EventID}
			parts[root] = p
			a.r.Splits = append(a.r.Splits, Split{From: c.ID, To: id, Via: key})
		}
		if p != kept {
			if err := t.DeleteEntry(c.ID, en.TS, en.EventID); err != nil {
				return err
			}
			if err := t.PutEntry(p.ID, en); err != nil {
				return err
			}
		}
		a.e.addEvent(p, en)
		partOf[en.EventID] = p
		if a.e.rules != nil {
			a.e.noteFacts(p, en)
		}
	}
	// Identifiers go with the part whose events link through them; any the
	// journey does not mention stay with the kept part.
	for _, k := range c.IDs {
		p := kept
		if i, ok := firstWith[state.LinkSum(k)]; ok {
			p = parts[find(i)]
		}
		p.IDs = append(p.IDs, k) // c.IDs is sorted, so each p.IDs is too
		if p == kept {
			continue
		}
		rec, err := t.Identifier(k)
		if err != nil {
			return err
		}
		if rec == nil {
			rec = &state.Identifier{}
		}
		rec.Customer = p.ID
		t.SetIdentifier(k, rec)
	}
	// Events over journey.max_events are in no journey, so no part can
	// claim them by link: they stay counted with the part that keeps the id.
	kept.Events += c.Overflow
	kept.Overflow = c.Overflow
	if a.e.rules != nil {
		a.splitRules(c, kept, parts, partOf)
	}
	for _, p := range parts {
		t.SetCustomer(p)
	}
	return nil
}

// splitRules hands c's rule state to the parts it was split into. Each
// waiting first event goes to the part whose journey holds it (one over the
// journey's cap stays with the kept part), its absence timer pointed at
// that part. Memberships are evaluated anew for each part, without firing:
// no event changed them. Every part keeps the whole customer's fire counts:
// a limited trigger went to one of the parts' people, and which one is not
// recorded, so that none of them gets it a second time (a part may miss
// one it would have earned alone).
func (a *applier) splitRules(c, kept *state.Customer, parts map[int]*state.Customer, partOf map[string]*state.Customer) {
	for _, pe := range c.Pending {
		p := partOf[pe.EventID]
		if p == nil {
			p = kept
		}
		p.AddPending(pe)
		if r := a.e.ruleByName[pe.Rule]; r != nil && r.Kind == rules.KindAbsence && p != kept {
			due := pe.TS + r.Within.Milliseconds()
			a.cancelTimer(due, r.Name, pe.EventID)
			a.setTimer(due, r.Name, pe.EventID, p.ID)
		}
	}
	kept.SegDue = c.SegDue // its timer is set under the kept id
	for _, p := range parts {
		p.Fires = slices.Clone(c.Fires)
		// Pairings of events in another part's journey are never looked
		// up by this one: each part can keep them all.
		p.Paired, p.SeqFrom = slices.Clone(c.Paired), c.SeqFrom
		a.segments(p, nil)
		a.scheduleSegments(p, a.watermark())
	}
}

// splitID gives a part split off a customer a deterministic id of its own,
// derived from its earliest event. New customers take the hash of their
// founding event id, which the decoder guarantees has no NUL byte; split
// seeds start with one, so the two kinds of id cannot collide. A part split
// off again from the same earliest event while the first is still live gets
// a numbered seed.
func (a *applier) splitID(eventID string) (string, error) {
	seed := "\x00split:" + eventID
	for n := 1; ; n++ {
		id := CustomerID(seed)
		c, err := a.t.Customer(id)
		if err != nil || c == nil {
			return id, err
		}
		seed = fmt.Sprintf("\x00split:%s:%d", eventID, n)
	}
}

// propNumber reads a numeric field of a props object; 0 when absent or not a
// finite number. Numbers sent as strings ("59.90") count too.
func propNumber(props []byte, field string) float64 {
	v, _ := propNumberOK(props, field)
	return v
}

// propNumberOK is propNumber that also says whether the field was there.
func propNumberOK(props []byte, field string) (float64, bool) {
	if len(props) == 0 || field == "" {
		return 0, false
	}
	raw := jsonscan.Field(props, field)
	if len(raw) > 1 && raw[0] == '"' {
		raw = raw[1 : len(raw)-1]
	}
	v, err := strconv.ParseFloat(string(raw), 64)
	if err != nil || math.IsInf(v, 0) || math.IsNaN(v) {
		return 0, false
	}
	return v, true
}
