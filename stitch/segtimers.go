package stitch

import (
	"math"

	"github.com/omnistitch/omnistitch/state"
	"github.com/omnistitch/omnistitch/stitch/rules"
)

// Segments on time ("lapsed": no event for 60 days; "complainer": a
// complaint in the last 30) change as the watermark moves, with no event of
// the customer. Each customer whose segments read a time field has one
// timer, at the earliest time one of their thresholds is crossed (see
// rules.TimeThreshold); when it fires, the segments are evaluated again,
// rules on entering and leaving them fire (at the timer's time, with the
// customer's latest event as the cause), and the next timer is set.
//
// The customer's SegDue is the next threshold; its timer is stored at
// SegDue or before it. An event that brings a threshold earlier moves the
// timer; one that pushes them later (nearly every event: each pushes
// "lapsed" on) moves SegDue only, and writes no timer. A timer that fires
// before its customer's SegDue is set again at SegDue, read from the hot
// part of the customer's record alone (state.Txn.SegDue): most customers
// whose timers fire are not in the caches, and reading and rewriting their
// whole records for nothing was, at 1,000,000 customers over six months of
// traffic, half of all timer firings. A timer after SegDue, or with none
// set, is one left behind by a move and fires for nothing.
//
// A condition that reads a time field otherwise than compared with a
// number (rules.Condition.TimesUnknown) is evaluated with events only.

// segmentTimer is the rule name of segment timers (eventID: the customer
// id). No rule has it: rule names start with a letter. (A timer's key ends
// in rule, NUL, event id: the name must hold no NUL.)
const segmentTimer = "_segments"

// scheduleSegments sets c's SegDue at the next threshold after time after
// (the watermark), and a timer there unless one is stored before it.
func (a *applier) scheduleSegments(c *state.Customer, after int64) {
	if len(a.e.segTimes) == 0 {
		return
	}
	next := a.nextSegmentTime(c, after)
	switch {
	case next == math.MaxInt64:
		c.SegDue = 0
		return
	case c.SegDue != 0 && c.SegDue <= next:
		c.SegDue = next // its timer is stored before: it fires and is set again
		return
	case c.SegDue != 0:
		a.cancelTimer(c.SegDue, segmentTimer, c.ID)
	}
	a.setTimer(next, segmentTimer, c.ID, c.ID)
	c.SegDue = next
}

// nextSegmentTime is the earliest time after t at which one of c's
// segment conditions may turn (math.MaxInt64: none).
func (a *applier) nextSegmentTime(c *state.Customer, t int64) int64 {
	next := int64(math.MaxInt64)
	for _, th := range a.e.segTimes {
		base := c.LastSeen
		if th.Field == rules.SinceComplaint {
			if !c.HasComplaint {
				continue
			}
			base = c.LastComplaint
		}
		at := float64(base) + math.Ceil(th.Days*day)
		if at+1 <= float64(t) || at > 1<<62 {
			continue // passed already, or beyond any event time
		}
		// The answer turns at the threshold (>=, <) or one millisecond
		// after it (>, <=).
		for _, x := range [2]int64{int64(at), int64(at) + 1} {
			if x > t && x < next {
				next = x
			}
		}
	}
	return next
}

// segmentsTurned evaluates c's segments when its segment timer tm fires
// as the watermark reaches wm: at each threshold from the timer's time to
// wm, so that a watermark that jumped past several fires each change at
// its own time. It reports false, changing nothing, for a timer that is
// no longer c's.
func (a *applier) segmentsTurned(c *state.Customer, tm state.Timer, wm int64) bool {
	if tm.EventID != c.ID || c.SegDue != tm.Due {
		// Not the customer's timer now: one moved earlier, or set on a
		// customer merged away since, whose removal the store may not
		// have written (see state.Txn.DeleteTimer). The customer's own
		// timer evaluates its segments.
		return false
	}
	c.SegDue = 0
	for t := tm.Due; t <= wm; t = a.nextSegmentTime(c, t) {
		entered, exited := a.segmentsAt(c, nil, t)
		if len(entered)+len(exited) == 0 {
			continue
		}
		var ids []string
		if c.LastEID != "" {
			ids = []string{c.LastEID}
		}
		env := a.envAt(c, nil, t)
		for _, r := range a.e.rules.Rules {
			if r.Kind == rules.KindSegment && segmentRuleFires(r, entered, exited) {
				a.fire(c, r, env, ids, t)
			}
		}
	}
	a.scheduleSegments(c, wm)
	return true
}
