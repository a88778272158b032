package stitch

import (
	"fmt"
	"hash/fnv"
	"math"
	"slices"

	"github.com/omnistitch/omnistitch/state"
	"github.com/omnistitch/omnistitch/stitch/event"
	"github.com/omnistitch/omnistitch/stitch/rules"
)

// A sequence rule's first events (a purchase, for a complaint within 7 days
// after one) are not stored as they come: the journey holds them. When a
// second event comes, the journey's window before it is read for the latest
// first event not paired yet; the customer's Paired list remembers the
// first events paired, so that each pairs once. First events are common and
// second events rare (purchases and complaints), so this trades two writes
// and a read per first event for a journey read per second event. A merge
// brings the other journey's first events with it; an unmerge leaves each
// part the first events of its own journey.
//
// The journey is read only when the customer's latest first event
// (LatestFirst) has paired already and the others may not have. Such a
// read lists the others unpaired in Pending (a complainer's few purchases
// that week), and LatestFirst's RestPaired then says that the journey holds
// no other to pair with: while it holds, a first event replaced as the
// latest waits in Pending too. So a customer who complains again and again
// reads the journey about once, and one who never complains never does.
// A merge with first events on both sides, or a first event arriving
// after a later one, makes the next second event read the journey again;
// the read skips what waits in Pending, and a first event paired from
// Pending is in the Paired list as well, so that nothing pairs twice.
//
// What the journey does not hold stays in Pending, as for absences: an event
// over journey.max_events, and the first events of a record written before
// version 7, which kept them there (they come before its SeqFrom). A rule
// with cancel_on keeps its first events in Pending too: a cancel drops the
// ones waiting when it came, which the journey, in event-time order, cannot
// tell apart from later arrivals.

// fromJourney reports whether r's first events are read from the journey.
func fromJourney(r *rules.Rule) bool {
	return r.Kind == rules.KindSequence && len(r.CancelOn) == 0
}

// windowEnd is the end of r's window after a first event at ts; a window
// past the end of time ends there.
func windowEnd(ts int64, r *rules.Rule) int64 {
	end := ts + r.Within.Milliseconds()
	if end < ts {
		return math.MaxInt64
	}
	return end
}

// journeyPick is what journeyFirst found in a journey.
type journeyPick struct {
	first state.Pending // the first event to pair with, if found
	found bool
	// full: the read went from the journey's latest first event back to
	// where windows have not passed, and held lists the other unpaired
	// first events it met. Put in Pending, they make LatestFirst's
	// RestPaired hold (see settle).
	full bool
	held []state.Pending
}

// journeyFirst finds the first event of r in c's journey that ev completes:
// the latest (by time, then event id) that matches r's `when`, whose window
// holds ev and has not passed watermark wm, that is not ev and was neither
// paired before nor waits in Pending (which pairing looks at too).
//
// The journey is read only when LatestFirst (the latest first event) is
// not the answer and RestPaired does not say there is none; a read from
// LatestFirst back lists the unpaired first events it passes, so that once
// they wait in Pending the next second events need no read.
func (a *applier) journeyFirst(c *state.Customer, r *rules.Rule, ev *event.Event, wm int64) (journeyPick, error) {
	within := r.Within.Milliseconds()
	// First events from reach on have windows the watermark has not
	// passed; of those, the ones from `from` on hold ev.
	reach := c.SeqFrom
	if lo := wm - within; lo <= wm {
		reach = max(reach, lo)
	}
	from := ev.TS - within
	if from > ev.TS {
		from = math.MinInt64
	}
	from = max(from, reach)
	if from > ev.TS || c.JourneyLen() == 0 {
		return journeyPick{}, nil
	}
	hint, known := a.latestFirst(c, r)
	if known {
		// The journey's latest first event is mostly the answer, and
		// with none, or none from the window's start on, there is none.
		if hint.EventID == "" || hint.TS < from {
			return journeyPick{}, nil
		}
		p := state.Pending{Rule: r.Name, EventID: hint.EventID, TS: hint.TS}
		if end := windowEnd(hint.TS, r); hint.TS <= ev.TS && hint.EventID != ev.ID && end >= ev.TS && end >= wm && !c.IsPaired(p) && !c.HasPending(p) {
			return journeyPick{first: p, found: true}, nil
		}
		if hint.RestPaired == within {
			return journeyPick{}, nil
		}
		from = reach
	}
	// A read that passes the latest first event lists the rest, as many
	// as Pending may take.
	pick := journeyPick{full: known && hint.TS <= ev.TS, held: a.held[:0]}
	room := maxPendingPerRule - pendingOf(c, r)
	err := a.t.JourneyBack(c.ID, from, ev.TS, c.JourneyLen(), func(en *state.Entry) bool {
		if en.EventID == ev.ID {
			return true
		}
		end := windowEnd(en.TS, r)
		if end < wm {
			return true
		}
		if ok, err := r.When.Matches(en.Channel, en.Type, en.Props); !ok || err != nil {
			return true
		}
		p := state.Pending{Rule: r.Name, EventID: en.EventID, TS: en.TS}
		switch {
		case c.IsPaired(p), c.HasPending(p):
		case !pick.found && end >= ev.TS:
			pick.first, pick.found = p, true
			room--
		case pick.full && room > 0:
			pick.held = append(pick.held, p)
			room--
		default:
			pick.full = false
		}
		return !pick.found || pick.full
	})
	a.held = pick.held[:0]
	if err != nil || room < 0 {
		pick.full = false
	}
	return pick, err
}

// settle puts the unpaired first events of r a full read of c's journey
// met (pick) in Pending, the one found too unless it paired (paired), and
// notes that while the latest stays the latest, second events need not
// read the journey (RestPaired).
func (a *applier) settle(c *state.Customer, r *rules.Rule, pick journeyPick, paired bool) {
	if !pick.full {
		return
	}
	if pick.found && !paired {
		c.AddPending(pick.first)
	}
	for _, p := range pick.held {
		c.AddPending(p)
	}
	a.setRestPaired(c, r)
}

// setRestPaired notes that every first event of r in c's journey but the
// latest was paired, waits in Pending or is out of reach, so that second
// events read the journey no more while it holds (noteFirst, combineFirst).
func (a *applier) setRestPaired(c *state.Customer, r *rules.Rule) {
	if _, known := a.latestFirst(c, r); known && len(c.LatestFirst) > 0 {
		c.LatestFirst[a.e.firstPos[r]].RestPaired = r.Within.Milliseconds()
	}
}

// markPaired records that first event p of r paired, and forgets the
// pairings no journey read can offer again: of windows the watermark wm
// has passed, or of rules that no longer read the journey.
func (a *applier) markPaired(c *state.Customer, p state.Pending, wm int64) {
	c.KeepPaired(func(q *state.Pending) bool {
		r := a.e.ruleByName[q.Rule]
		return r != nil && fromJourney(r) && windowEnd(q.TS, r) >= wm
	})
	c.AddPaired(p)
}

// holdFirsts moves c's unpaired first events from SeqFrom up to (not
// including) upTo into Pending and sets SeqFrom to upTo: a merge with a
// customer read from upTo on (a record of before version 7) keeps them
// waiting, where the merged journey, read from upTo on, would miss them.
func (a *applier) holdFirsts(c *state.Customer, upTo int64) error {
	wm := a.watermark()
	for _, r := range a.e.rules.Rules {
		if !fromJourney(r) {
			continue
		}
		from := c.SeqFrom
		if lo := wm - r.Within.Milliseconds(); lo <= wm {
			from = max(from, lo)
		}
		if from >= upTo || c.JourneyLen() == 0 {
			continue
		}
		tail, err := a.t.JourneyWindow(c.ID, from, "", upTo-1, c.JourneyLen())
		if err != nil {
			return err
		}
		for _, en := range tail {
			if en.TS >= upTo || windowEnd(en.TS, r) < wm {
				continue
			}
			if ok, err := r.When.Matches(en.Channel, en.Type, en.Props); !ok || err != nil {
				continue
			}
			if p := (state.Pending{Rule: r.Name, EventID: en.EventID, TS: en.TS}); !c.IsPaired(p) {
				c.AddPending(p)
			}
		}
	}
	c.SeqFrom = upTo
	return nil
}

// firstIndex numbers the rules read from the journey and fingerprints them
// (name and first event), so that a customer's LatestFirst is read only
// under the rules it was kept for.
func firstIndex(set *rules.Set) (map[*rules.Rule]int, uint64) {
	pos := make(map[*rules.Rule]int)
	h := fnv.New64a()
	for _, r := range set.Rules {
		if !fromJourney(r) {
			continue
		}
		pos[r] = len(pos)
		fmt.Fprintf(h, "%q %q %q", r.Name, r.When.Channels, r.When.Types)
		if r.When.Props != nil {
			fmt.Fprintf(h, " %q", r.When.Props.Source)
		}
		h.Write([]byte{0})
	}
	if len(pos) == 0 {
		return pos, 0
	}
	return pos, h.Sum64() | 1 // never 0, which stands for unknown
}

// latestFirst is c's latest first event of r in the journey, if known.
func (a *applier) latestFirst(c *state.Customer, r *rules.Rule) (state.FirstRef, bool) {
	if a.e.firstFP == 0 || c.FirstFor != a.e.firstFP {
		return state.FirstRef{}, false
	}
	switch len(c.LatestFirst) {
	case 0:
		// Kept from the customer's start, and no first event noted.
		return state.FirstRef{}, true
	case len(a.e.firstPos):
		return c.LatestFirst[a.e.firstPos[r]], true
	}
	return state.FirstRef{}, false
}

// noteFirst records that ev, a first event of r, is in c's journey.
func (a *applier) noteFirst(c *state.Customer, r *rules.Rule, ev *event.Event) {
	if a.e.firstFP == 0 || c.FirstFor != a.e.firstFP {
		return
	}
	n := len(a.e.firstPos)
	switch len(c.LatestFirst) {
	case n:
	case 0:
		c.LatestFirst = make([]state.FirstRef, n)
	default:
		c.FirstFor, c.LatestFirst = 0, nil // not what this engine wrote: unknown
		return
	}
	f := &c.LatestFirst[a.e.firstPos[r]]
	if f.EventID != "" && !laterThan(ev.TS, ev.ID, f.TS, f.EventID) {
		// An earlier first event than the latest: it may not pair yet.
		f.RestPaired = 0
		return
	}
	// While RestPaired holds, the first event ev follows waits in Pending
	// unless it paired or is out of reach: it stays the only one second
	// events find in the journey. (Not for a customer whose journey was
	// never read so: most never have a second event, and their first
	// events are better left in the journey.)
	within := r.Within.Milliseconds()
	rest := int64(0)
	if p := (state.Pending{Rule: r.Name, EventID: f.EventID, TS: f.TS}); f.EventID != "" && f.RestPaired == within {
		switch {
		case c.IsPaired(p) || c.HasPending(p) || windowEnd(f.TS, r) < a.watermark():
			rest = within
		case pendingOf(c, r) < maxPendingPerRule:
			c.AddPending(p)
			rest = within
		}
	}
	*f = state.FirstRef{TS: ev.TS, EventID: ev.ID, RestPaired: rest}
}

// pendingOf counts r's entries in c's Pending list.
func pendingOf(c *state.Customer, r *rules.Rule) int {
	n := 0
	for i := range c.Pending {
		if c.Pending[i].Rule == r.Name {
			n++
		}
	}
	return n
}

// combineFirst folds gone's LatestFirst into s on a merge: known only when
// both were. Of two first events, the earlier may be unpaired: the merged
// customer's rest is not known to be paired.
func combineFirst(s, gone *state.Customer) {
	if s.FirstFor == 0 || s.FirstFor != gone.FirstFor {
		s.FirstFor, s.LatestFirst = 0, nil
		return
	}
	switch {
	case len(gone.LatestFirst) == 0:
	case len(s.LatestFirst) == 0:
		s.LatestFirst = slices.Clone(gone.LatestFirst)
	case len(s.LatestFirst) != len(gone.LatestFirst):
		s.FirstFor, s.LatestFirst = 0, nil
	default:
		for i, g := range gone.LatestFirst {
			switch f := &s.LatestFirst[i]; {
			case g.EventID == "":
			case f.EventID == "":
				*f = g
			default:
				if laterThan(g.TS, g.EventID, f.TS, f.EventID) {
					*f = g
				}
				f.RestPaired = 0
			}
		}
	}
}
