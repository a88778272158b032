package stitch

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"hash/fnv"
	"math"
	"slices"
	"strings"

	"github.com/omnistitch/omnistitch/state"
	"github.com/omnistitch/omnistitch/stitch/event"
	"github.com/omnistitch/omnistitch/stitch/rules"
)

// Trigger rules run on the merged customer right after each event is
// applied: event rules, stage and segment changes fire at once; the first
// event of an absence waits in the customer's Pending list (a sequence's in
// its journey, see sequences.go) with a timer that fires when the
// watermark (the newest event time minus the allowed lateness) passes the
// end of its window. Time is event time throughout, so a replay fires the
// same triggers.

const (
	day = 24 * 3600 * 1000
	// A customer keeps at most this many waiting first events per rule (the
	// newest): a bot adding to carts forever must not grow its record
	// without bound.
	maxPendingPerRule = 32
)

// TriggerID is deterministic: the rule, the customer and the events that
// caused it. Consumers de-duplicate on it.
func TriggerID(rule, cust string, eventIDs []string) string {
	var buf [192]byte
	b := append(append(append(buf[:0], rule...), 0), cust...)
	for _, id := range eventIDs {
		b = append(append(b, 0), id...)
	}
	sum := sha256.Sum256(b)
	var out [2 + 16]byte
	out[0], out[1] = 't', '_'
	hex.Encode(out[2:], sum[:8])
	return string(out[:])
}

// Rules is the rule set the engine runs (nil when none).
func (e *Engine) Rules() *rules.Set { return e.rules }

// watermark is the event time before which no more events are expected.
func (a *applier) watermark() int64 {
	ts, ok := a.t.EventTime()
	if !ok || a.e.rules == nil {
		return 0
	}
	return ts - a.e.rules.AllowedLateness.Milliseconds()
}

// noteFacts keeps the profile facts segments look at.
func (e *Engine) noteFacts(c *state.Customer, en *state.Entry) {
	switch en.Type {
	case "complaint":
		if !c.HasComplaint || en.TS > c.LastComplaint {
			c.HasComplaint, c.LastComplaint = true, en.TS
		}
	case "survey_response":
		if !c.HasSurvey || en.TS >= c.SurveyTS {
			if v, ok := propNumberOK(en.Props, "score"); ok {
				c.HasSurvey, c.SurveyScore, c.SurveyTS = true, v, en.TS
			}
		}
	}
}

// env is what c's conditions see now. It is the applier's one Env, filled
// anew by each call: use it before the next call.
func (a *applier) env(c *state.Customer, ev *event.Event) *rules.Env {
	return a.envAt(c, ev, a.watermark())
}

// envAt is env as of watermark wm.
func (a *applier) envAt(c *state.Customer, ev *event.Event, wm int64) *rules.Env {
	p := rules.ProfileEnv{
		Events: c.Events, Purchases: c.Purchases, Revenue: c.Revenue, Channels: c.Channels,
		Stage: c.Stage, Segments: c.Segments,
		DaysSinceLast:      max(0, float64(wm-c.LastSeen)/day),
		DaysSinceComplaint: -1, LastSurveyScore: -1,
	}
	if c.HasComplaint {
		p.DaysSinceComplaint = max(0, float64(wm-c.LastComplaint)/day)
	}
	if c.HasSurvey {
		p.LastSurveyScore = c.SurveyScore
	}
	env := &a.envBuf
	*env = rules.Env{Profile: p}
	if ev != nil {
		env.Event = rules.EventEnv{Channel: ev.Channel, Type: ev.Type}
	}
	return env
}

// evalRules runs the rules after ev was applied to c; prevStage is c's
// stage before.
func (a *applier) evalRules(c *state.Customer, ev *event.Event, prevStage string, late bool) error {
	set := a.e.rules
	a.e.noteFacts(c, &state.Entry{TS: ev.TS, Type: ev.Type, Props: ev.Props})
	entered, exited := a.segments(c, ev)
	var env *rules.Env // built when first needed, after the segments changed
	fire := func(r *rules.Rule, ids []string, at int64) {
		if env == nil {
			env = a.env(c, ev)
		}
		a.fire(c, r, env, ids, at)
	}
	for _, r := range set.Rules {
		switch r.Kind {
		case rules.KindEvent:
			if a.matches(r.When, ev) {
				fire(r, []string{ev.ID}, ev.TS)
			}
		case rules.KindSequence, rules.KindAbsence:
			if err := a.pairing(c, r, ev, late, fire); err != nil {
				return err
			}
		case rules.KindStage:
			if c.Stage != prevStage && ((!r.Exit && c.Stage == r.Stage) || (r.Exit && prevStage == r.Stage)) {
				fire(r, []string{ev.ID}, ev.TS)
			}
		case rules.KindSegment:
			if segmentRuleFires(r, entered, exited) {
				fire(r, []string{ev.ID}, ev.TS)
			}
		}
	}
	a.scheduleSegments(c, a.watermark())
	return nil
}

// segmentRuleFires reports whether segment rule r fires for these changes
// of memberships.
func segmentRuleFires(r *rules.Rule, entered, exited []string) bool {
	if r.Exit {
		return slices.Contains(exited, r.Segment)
	}
	return slices.Contains(entered, r.Segment)
}

// matches reports whether ev matches m; a predicate that cannot be
// evaluated on this event's props is no match.
func (a *applier) matches(m *rules.Match, ev *event.Event) bool {
	if m == nil {
		return false
	}
	ok, err := m.Matches(ev.Channel, ev.Type, ev.Props)
	return ok && err == nil
}

// segments recomputes c's memberships and reports the changes.
func (a *applier) segments(c *state.Customer, ev *event.Event) (entered, exited []string) {
	return a.segmentsAt(c, ev, a.watermark())
}

// segmentsAt is segments as of watermark wm.
func (a *applier) segmentsAt(c *state.Customer, ev *event.Event, wm int64) (entered, exited []string) {
	if len(a.e.segsByName) == 0 {
		return nil, nil
	}
	env := a.envAt(c, ev, wm)
	now := a.segScratch[:0] // sorted: segsByName is
	for _, s := range a.e.segsByName {
		if ok, err := s.If.Eval(env); ok && err == nil {
			now = append(now, s.Name)
		}
	}
	a.segScratch = now
	if slices.Equal(now, c.Segments) {
		return nil, nil
	}
	now = slices.Clone(now)
	for _, s := range now {
		if _, in := slices.BinarySearch(c.Segments, s); !in {
			entered = append(entered, s)
		}
	}
	for _, s := range c.Segments {
		if _, in := slices.BinarySearch(now, s); !in {
			exited = append(exited, s)
		}
	}
	c.Segments = now
	return entered, exited
}

// pairing handles ev for a sequence or absence rule: as a second event it
// completes (sequence) or cancels (absence) waiting first events of its
// window; as a first event it waits, or — when it arrived late, after
// events that follow it — pairs with those at once.
func (a *applier) pairing(c *state.Customer, r *rules.Rule, ev *event.Event, late bool, fire func(*rules.Rule, []string, int64)) error {
	within := r.Within.Milliseconds()
	if r.Kind == rules.KindSequence && len(c.Pending) > 0 {
		// First events whose window the watermark has passed can never be
		// completed (absences leave when their timer fires).
		// The list is in time order: only its head can have passed.
		wm := a.watermark()
		for _, p := range c.Pending {
			if p.TS+within >= wm {
				break
			}
			if p.Rule == r.Name {
				a.dropPending(c, r, func(p *state.Pending) bool { return p.TS+within < wm })
				break
			}
		}
	}
	for _, m := range r.CancelOn {
		if a.matches(m, ev) {
			a.dropPending(c, r, func(*state.Pending) bool { return true })
		}
	}
	if a.matches(r.Then, ev) {
		a.noteThen(c, r, ev.TS)
		holds := func(p *state.Pending) bool {
			return p.Rule == r.Name && p.TS <= ev.TS && ev.TS <= p.TS+within && p.EventID != ev.ID
		}
		if r.Kind == rules.KindAbsence {
			// Every first event whose window holds ev had its second
			// event: two carts and one purchase within the hour abandon
			// nothing.
			a.dropPending(c, r, holds)
		} else {
			// A sequence pairs ev with one first event: the latest whose
			// window holds ev, waiting in Pending or in the journey.
			best := latestPending(c.Pending, holds)
			var first state.Pending
			if best >= 0 {
				first = c.Pending[best]
			}
			inJourney := false
			var pick journeyPick
			if fromJourney(r) {
				var err error
				if pick, err = a.journeyFirst(c, r, ev, a.watermark()); err != nil {
					return err
				}
				p := pick.first
				if pick.found && (best < 0 || p.TS > first.TS || (p.TS == first.TS && p.EventID > first.EventID)) {
					first, inJourney = p, true
				}
			}
			switch {
			case inJourney:
				a.markPaired(c, first, a.watermark())
			case best >= 0:
				c.DeletePending(best)
				if fromJourney(r) && first.TS >= c.SeqFrom {
					// In the journey too: a read must not offer it again.
					a.markPaired(c, first, a.watermark())
				}
			}
			a.settle(c, r, pick, inJourney)
			if inJourney || best >= 0 {
				fire(r, []string{first.EventID, ev.ID}, ev.TS)
			}
		}
	}
	if !a.matches(r.When, ev) {
		return nil
	}
	if fromJourney(r) && !a.overflow && ev.TS >= c.SeqFrom {
		a.noteFirst(c, r, ev)
	}
	if late && !a.overflow && a.mayFollow(c, r, ev.TS) {
		// Events after this one are already in the journey: one of them
		// may be the second event. (Not for an event over the journey's
		// cap: reading the journey for each would make a bot's late events
		// cost O(journey) each.)
		second, err := a.laterMatch(c, r, ev)
		if err != nil {
			return err
		}
		if second != "" {
			if r.Kind == rules.KindSequence {
				if fromJourney(r) {
					a.markPaired(c, state.Pending{Rule: r.Name, EventID: ev.ID, TS: ev.TS}, a.watermark())
				}
				fire(r, []string{ev.ID, second}, ev.TS)
			}
			return nil // an absence that did not happen
		}
	}
	if fromJourney(r) && !a.overflow && ev.TS >= c.SeqFrom {
		return nil // it waits in the journey
	}
	if r.Kind == rules.KindAbsence && ev.TS+within <= a.watermark() {
		// Its window has passed already, with no second event.
		fire(r, []string{ev.ID}, ev.TS+within)
		return nil
	}
	if pendingOf(c, r) >= maxPendingPerRule {
		oldest := -1
		for i, p := range c.Pending {
			if p.Rule == r.Name && (oldest < 0 || p.TS < c.Pending[oldest].TS) {
				oldest = i
			}
		}
		p := c.Pending[oldest]
		c.DeletePending(oldest)
		if r.Kind == rules.KindAbsence {
			a.cancelTimer(p.TS+within, r.Name, p.EventID)
		}
	}
	c.AddPending(state.Pending{Rule: r.Name, EventID: ev.ID, TS: ev.TS})
	if r.Kind == rules.KindAbsence {
		a.setTimer(ev.TS+within, r.Name, ev.ID, c.ID)
	}
	return nil
}

// answerAbsences drops c's waiting first events of absence rules that an
// event of c's journey answers. After a merge, the answer may be in the
// other customer's journey: a cart on the web and a purchase in the store,
// found to be one person's later, abandon nothing. Journeys are read only
// where LastThen says an answer may be there.
func (a *applier) answerAbsences(c *state.Customer) error {
	for _, r := range a.e.rules.Rules {
		if r.Kind != rules.KindAbsence {
			continue
		}
		var answered []string
		for _, p := range c.Pending {
			if p.Rule != r.Name || !a.mayFollow(c, r, p.TS) {
				continue
			}
			second, err := a.laterMatch(c, r, &event.Event{ID: p.EventID, TS: p.TS})
			if err != nil {
				return err
			}
			if second != "" {
				answered = append(answered, p.EventID)
			}
		}
		if len(answered) > 0 {
			a.dropPending(c, r, func(p *state.Pending) bool { return slices.Contains(answered, p.EventID) })
		}
	}
	return nil
}

// latestPending is the index of the latest entry of ps that ok accepts, or
// -1.
func latestPending(ps []state.Pending, ok func(*state.Pending) bool) int {
	best := -1
	for i := range ps {
		if ok(&ps[i]) && (best < 0 || ps[i].TS >= ps[best].TS) {
			best = i
		}
	}
	return best
}

// thenIndex numbers the sequence and absence rules of set and fingerprints
// them (name, kind and second event), so that a customer's LastThen is
// read only under the rules it was kept for: rules change between runs.
func thenIndex(set *rules.Set) (map[*rules.Rule]int, uint64) {
	pos := make(map[*rules.Rule]int)
	h := fnv.New64a()
	for _, r := range set.Rules {
		if r.Kind != rules.KindSequence && r.Kind != rules.KindAbsence {
			continue
		}
		pos[r] = len(pos)
		fmt.Fprintf(h, "%q %v %q %q", r.Name, r.Kind, r.Then.Channels, r.Then.Types)
		if r.Then.Props != nil {
			fmt.Fprintf(h, " %q", r.Then.Props.Source)
		}
		h.Write([]byte{0})
	}
	if len(pos) == 0 {
		return pos, 0
	}
	return pos, h.Sum64() | 1 // never 0, which stands for unknown
}

// noteThen records that c's journey holds an event at ts that can be r's
// second event.
func (a *applier) noteThen(c *state.Customer, r *rules.Rule, ts int64) {
	if a.e.thenFP == 0 || c.ThenFor != a.e.thenFP {
		return
	}
	n := len(a.e.thenPos)
	if len(c.LastThen) != n {
		if len(c.LastThen) != 0 {
			c.ThenFor, c.LastThen = 0, nil // not what this engine wrote: unknown
			return
		}
		c.LastThen = make([]int64, n)
		for i := range c.LastThen {
			c.LastThen[i] = math.MinInt64
		}
	}
	i := a.e.thenPos[r]
	c.LastThen[i] = max(c.LastThen[i], ts)
}

// mayFollow reports whether c's journey may hold a second event of r at or
// after ts: false only when LastThen knows it does not.
func (a *applier) mayFollow(c *state.Customer, r *rules.Rule, ts int64) bool {
	if a.e.thenFP == 0 || c.ThenFor != a.e.thenFP {
		return true
	}
	switch len(c.LastThen) {
	case 0:
		return false
	case len(a.e.thenPos):
		return c.LastThen[a.e.thenPos[r]] >= ts
	}
	return true
}

// combineThen folds gone's LastThen into s on a merge: known only when
// both were.
func combineThen(s, gone *state.Customer) {
	if s.ThenFor == 0 || s.ThenFor != gone.ThenFor || (len(s.LastThen) > 0 && len(gone.LastThen) > 0 && len(s.LastThen) != len(gone.LastThen)) {
		s.ThenFor, s.LastThen = 0, nil
		return
	}
	if len(s.LastThen) == 0 {
		s.LastThen = slices.Clone(gone.LastThen)
		return
	}
	for i := range gone.LastThen {
		s.LastThen[i] = max(s.LastThen[i], gone.LastThen[i])
	}
}

// laterMatch finds an event of c's journey after ev and within r's window
// that completes r, or "".
func (a *applier) laterMatch(c *state.Customer, r *rules.Rule, ev *event.Event) (string, error) {
	end := ev.TS + r.Within.Milliseconds()
	if end < ev.TS {
		end = math.MaxInt64 // a window to the end of time
	}
	tail, err := a.t.JourneyWindow(c.ID, ev.TS, ev.ID, end, c.JourneyLen())
	if err != nil {
		return "", err
	}
	for _, en := range tail {
		if en.TS > end {
			break
		}
		if en.EventID == ev.ID {
			continue
		}
		if ok, err := r.Then.Matches(en.Channel, en.Type, en.Props); ok && err == nil {
			return en.EventID, nil
		}
	}
	return "", nil
}

func (a *applier) dropPending(c *state.Customer, r *rules.Rule, drop func(*state.Pending) bool) {
	within := r.Within.Milliseconds()
	c.KeepPending(func(p *state.Pending) bool {
		if p.Rule != r.Name || !drop(p) {
			return true
		}
		if r.Kind == rules.KindAbsence {
			a.cancelTimer(p.TS+within, r.Name, p.EventID)
		}
		return false
	})
}

// fire records a trigger unless the rule's condition, cooldown or maximum
// says no. The trigger keeps eventIDs.
func (a *applier) fire(c *state.Customer, r *rules.Rule, env *rules.Env, eventIDs []string, at int64) {
	if ok, err := r.If.Eval(env); !ok || err != nil {
		return
	}
	// Counts are kept only for rules that a count or a time limits: the
	// record is rewritten with each event, and a rule without limits
	// (an abandoned cart) would add to it with each fire for nothing. A
	// limit added to a rule later counts from then on.
	if r.MaxFires > 0 || r.Cooldown > 0 {
		i := slices.IndexFunc(c.Fires, func(f state.Fire) bool { return f.Rule == r.Name })
		if i >= 0 {
			f := c.Fires[i]
			if r.MaxFires > 0 && f.Count >= int64(r.MaxFires) {
				return
			}
			if r.Cooldown > 0 && at < f.LastAt+r.Cooldown.Milliseconds() {
				return
			}
			c.Fires[i].Count++
			c.Fires[i].LastAt = max(f.LastAt, at)
		} else {
			c.Fires = append(c.Fires, state.Fire{Rule: r.Name, Count: 1, LastAt: at})
			slices.SortFunc(c.Fires, func(x, y state.Fire) int { return strings.Compare(x.Rule, y.Rule) })
		}
	}
	g := state.Trigger{
		ID: TriggerID(r.Name, c.ID, eventIDs), Rule: r.Name, Customer: c.ID, FiredAt: at,
		EventIDs: slices.Clone(eventIDs), Stage: c.Stage, IDs: slices.Clone(c.IDs),
	}
	// The service keeps no record of a trigger beyond the outbox: a forget
	// finds the customer's trigger rows in ClickHouse (sinks/clickhouse,
	// Writer.hideTriggers). The offline command lists them at the end.
	if a.e.triggerLog {
		a.t.AddTrigger(&g)
	}
	a.r.Triggers = append(a.r.Triggers, g)
}

// fireTimers fires the absences whose windows end by upTo, from the queue.
func (a *applier) fireTimers(upTo int64) error {
	for len(a.queue) > 0 && a.queue[0].Due <= upTo {
		tm := a.queue[0]
		a.queue = a.queue[1:]
		a.t.DeleteTimer(tm.Due, tm.Rule, tm.EventID)
		r, seg := a.e.ruleByName[tm.Rule], tm.Rule == segmentTimer
		if r == nil && !seg {
			continue // the rule was removed from the configuration
		}
		if seg {
			// Segment timers are set under the customer's own id; one of
			// a customer merged away since has nothing left to do.
			due, ok, err := a.t.SegDue(tm.Customer)
			switch {
			case err != nil:
				return err
			case !ok || tm.EventID != tm.Customer || due == 0 || tm.Due > due:
				continue // left behind by a move (see scheduleSegments)
			case tm.Due < due:
				a.setTimer(due, segmentTimer, tm.Customer, tm.Customer)
				continue
			}
		}
		// Most timers fire for a customer that still exists (a cached
		// read); only one merged away since needs its survivor looked up.
		c, err := a.t.Customer(tm.Customer)
		if err == nil && c == nil {
			var id string
			if id, err = a.t.Survivor(tm.Customer); err == nil {
				c, err = a.t.Customer(id)
			}
		}
		if err != nil {
			return err
		}
		if c == nil {
			continue
		}
		if seg {
			if a.segmentsTurned(c, tm, upTo) {
				a.t.SetCustomer(c)
			}
			continue
		}
		i := slices.IndexFunc(c.Pending, func(p state.Pending) bool { return p.Rule == tm.Rule && p.EventID == tm.EventID })
		if i < 0 {
			continue // completed or cancelled meanwhile
		}
		c.DeletePending(i)
		a.fire(c, r, a.env(c, nil), []string{tm.EventID}, tm.Due)
		a.t.SetCustomer(c)
	}
	return nil
}

// combineRules folds gone's rule state into s on a merge.
func combineRules(s, gone *state.Customer) {
	for _, f := range gone.Fires {
		i := slices.IndexFunc(s.Fires, func(x state.Fire) bool { return x.Rule == f.Rule })
		if i < 0 {
			s.Fires = append(s.Fires, f)
			continue
		}
		s.Fires[i].Count += f.Count
		s.Fires[i].LastAt = max(s.Fires[i].LastAt, f.LastAt)
	}
	slices.SortFunc(s.Fires, func(x, y state.Fire) int { return strings.Compare(x.Rule, y.Rule) })
	// Memberships of either count as the merged customer's, so that the
	// evaluation after the merge enters only what neither was in: the
	// absorbed customer's entries fired already.
	for _, seg := range gone.Segments {
		s.Segments = insertSorted(s.Segments, seg)
	}
	combineThen(s, gone)
	s.MergePending(gone.Pending)
	for _, p := range gone.Paired {
		s.AddPaired(p)
	}
	combineFirst(s, gone)
	if gone.HasComplaint && (!s.HasComplaint || gone.LastComplaint > s.LastComplaint) {
		s.HasComplaint, s.LastComplaint = true, gone.LastComplaint
	}
	if gone.HasSurvey && (!s.HasSurvey || gone.SurveyTS > s.SurveyTS) {
		s.HasSurvey, s.SurveyScore, s.SurveyTS = true, gone.SurveyScore, gone.SurveyTS
	}
}

// Timers are read from the store once per batch: prepare loads every timer
// due up to the latest watermark the batch can reach into a queue in
// memory, which the batch keeps in step with the timers it sets and
// cancels. Between events, firing what is due is then a look at the
// queue's head.
func (a *applier) prepare(horizon int64) error {
	if a.e.rules == nil {
		return nil
	}
	q, err := a.t.DueTimers(a.floor, horizon)
	a.queue, a.horizon = q, horizon
	return err
}

func timerLess(x, y *state.Timer) int {
	if x.Due != y.Due {
		if x.Due < y.Due {
			return -1
		}
		return 1
	}
	if c := strings.Compare(x.Rule, y.Rule); c != 0 {
		return c
	}
	return strings.Compare(x.EventID, y.EventID)
}

// fireDue fires the timers due at or before upTo.
func (a *applier) fireDue(upTo int64) error {
	if a.e.rules == nil {
		return nil
	}
	if upTo > a.horizon {
		if err := a.prepare(upTo); err != nil {
			return err
		}
	}
	if len(a.queue) == 0 || a.queue[0].Due > upTo {
		return nil
	}
	if err := a.fireTimers(upTo); err != nil {
		return err
	}
	// Every timer due by upTo is fired, and none can be set before the
	// watermark (a window already over fires at once), so later scans
	// start past them.
	a.floor = max(a.floor, upTo+1)
	return nil
}

// setTimer sets an absence's timer.
func (a *applier) setTimer(due int64, rule, eventID, cust string) {
	a.t.SetTimer(due, rule, eventID, cust)
	a.floor = min(a.floor, due) // after an idle advance the watermark can be behind the floor
	if due <= a.horizon {
		tm := state.Timer{Due: due, Rule: rule, EventID: eventID, Customer: cust}
		i, _ := slices.BinarySearchFunc(a.queue, &tm, func(x state.Timer, y *state.Timer) int { return timerLess(&x, y) })
		a.queue = slices.Insert(a.queue, i, tm)
	}
}

// cancelTimer removes an absence's timer.
func (a *applier) cancelTimer(due int64, rule, eventID string) {
	a.t.DeleteTimer(due, rule, eventID)
	if due <= a.horizon {
		tm := state.Timer{Due: due, Rule: rule, EventID: eventID}
		if i, found := slices.BinarySearchFunc(a.queue, &tm, func(x state.Timer, y *state.Timer) int { return timerLess(&x, y) }); found {
			a.queue = slices.Delete(a.queue, i, i+1)
		}
	}
}

// evalRulesAround applies en to c's profile and runs the rules.
func (a *applier) evalRulesAround(c *state.Customer, ev *event.Event, en *state.Entry, prevStage string) error {
	late := c.Events > 0 && (en.TS < c.LastSeen || (en.TS == c.LastSeen && en.EventID < c.LastEID))
	a.e.addEvent(c, en)
	return a.evalRules(c, ev, prevStage, late)
}

// TriggerMessage is a trigger as orchestrators receive it (SPEC
// "Triggers"): the value on the trigger topic and the offline output.
type TriggerMessage struct {
	TriggerID  string              `json:"trigger_id"`
	Rule       string              `json:"rule"`
	CustomerID string              `json:"customer_id"`
	FiredAt    string              `json:"fired_at"`
	IDs        map[string][]string `json:"ids"`
	Stage      string              `json:"stage"`
	EventIDs   []string            `json:"event_ids"`
	Props      map[string]any      `json:"props"`
}

// MessageOf makes the message of a recorded trigger.
func MessageOf(g *state.Trigger) TriggerMessage {
	return TriggerMessage{
		TriggerID: g.ID, Rule: g.Rule, CustomerID: g.Customer, FiredAt: event.FormatTS(g.FiredAt),
		IDs: IDsByType(g.IDs), Stage: g.Stage, EventIDs: g.EventIDs, Props: map[string]any{},
	}
}

// horizonOf is the latest watermark a batch of events can reach.
func (a *applier) horizonOf(evs []event.Event) int64 {
	if a.e.rules == nil {
		return 0
	}
	ts, ok := a.t.EventTime()
	for i := range evs {
		if !ok || evs[i].TS > ts {
			ts, ok = evs[i].TS, true
		}
	}
	return ts - a.e.rules.AllowedLateness.Milliseconds()
}
