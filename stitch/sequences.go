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

// journeyFirst finds the first event of r in c's journey that ev completes:
// the latest (by time, then event id) that matches r's `when`, whose window
// holds ev and has not passed watermark wm, that is not ev and was not
// paired before.
func (a *applier) journeyFirst(c *state.Customer, r *rules.Rule, ev *event.Event, wm int64) (state.Pending, bool, error) {
	within := r.Within.Milliseconds()
	from := ev.TS - within
	if from > ev.TS {
		from = math.MinInt64
	}
	if lo := wm - within; lo <= wm {
		from = max(from, lo)
	}
	from = max(from, c.SeqFrom)
	if from > ev.TS || c.JourneyLen() == 0 {
		return state.Pending{}, false, nil
	}
	if hint, known := a.latestFirst(c, r); known {
		// The journey's latest first event is mostly the answer, and
		// with none, or none from the window's start on, there is none.
		if hint.EventID == "" || hint.TS < from {
			return state.Pending{}, false, nil
		}
		p := state.Pending{Rule: r.Name, EventID: hint.EventID, TS: hint.TS}
		if end := windowEnd(hint.TS, r); hint.TS <= ev.TS && hint.EventID != ev.ID && end >= ev.TS && end >= wm && !c.IsPaired(p) {
			return p, true, nil
		}
	}
	var best state.Pending
	found := false
	// Latest first: the first event sought is mostly a few events back.
	err := a.t.JourneyBack(c.ID, from, ev.TS, c.JourneyLen(), func(en *state.Entry) bool {
		if en.EventID == ev.ID {
			return true
		}
		if end := windowEnd(en.TS, r); end < ev.TS || end < wm {
			return true
		}
		if ok, err := r.When.Matches(en.Channel, en.Type, en.Props); !ok || err != nil {
			return true
		}
		p := state.Pending{Rule: r.Name, EventID: en.EventID, TS: en.TS}
		if c.IsPaired(p) {
			return true
		}
		best, found = p, true
		return false
	})
	if err != nil {
		return state.Pending{}, false, err
	}
	return best, found, nil
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
func (a *applier) latestFirst(c *state.Customer, r *rules.Rule) (state.EventRef, bool) {
	if a.e.firstFP == 0 || c.FirstFor != a.e.firstFP || len(c.LatestFirst) != len(a.e.firstPos) {
		return state.EventRef{}, false
	}
	return c.LatestFirst[a.e.firstPos[r]], true
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
		c.LatestFirst = make([]state.EventRef, n)
	default:
		c.FirstFor, c.LatestFirst = 0, nil // not what this engine wrote: unknown
		return
	}
	f := &c.LatestFirst[a.e.firstPos[r]]
	if f.EventID == "" || laterThan(ev.TS, ev.ID, f.TS, f.EventID) {
		*f = state.EventRef{TS: ev.TS, EventID: ev.ID}
	}
}

// combineFirst folds gone's LatestFirst into s on a merge: known only when
// both were.
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
			if f := &s.LatestFirst[i]; g.EventID != "" && (f.EventID == "" || laterThan(g.TS, g.EventID, f.TS, f.EventID)) {
				*f = g
			}
		}
	}
}
