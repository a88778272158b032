// Package stitch is the identity and journey engine as plain Go: given a
// batch of decoded events and the state store it stitches identifiers into
// customers, keeps each customer's ordered journey and profile, and reports
// what changed. It knows nothing of Kafka or ClickHouse and starts no
// goroutines; the offline `omnistitch stitch` command and the service run the
// same code.
//
// An Engine has one writer: Apply must not be called concurrently.
package stitch

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"slices"
	"strings"

	"github.com/omnistitch/omnistitch/internal/config"
	"github.com/omnistitch/omnistitch/state"
	"github.com/omnistitch/omnistitch/stitch/event"
	"github.com/omnistitch/omnistitch/stitch/normalize"
	"github.com/omnistitch/omnistitch/stitch/pseudonym"
	"github.com/omnistitch/omnistitch/stitch/rules"
)

// Engine applies events to the state.
type Engine struct {
	store *state.Store
	norm  *normalize.Normalizer
	// pseudo replaces the values of the configured types after
	// normalisation (nil: off); see Normalize.
	pseudo *pseudonym.Pseudonymiser

	types       map[string]*idType
	sharedAfter int
	maxEvents   int64 // journey.max_events; 0: no cap
	stageOf     map[string]string
	purchase    map[string]bool
	revenueProp string

	rules      *rules.Set // nil: no trigger rules
	ruleByName map[string]*rules.Rule
	// segTimes are the thresholds of the segments' conditions on time
	// (see segtimers.go).
	segTimes []rules.TimeThreshold
	// segsByName is rules.Segments by name: memberships evaluated in this
	// order come out sorted, as Customer.Segments keeps them.
	segsByName []*rules.Segment
	// firstPos numbers the sequence rules read from the journey for
	// Customer.LatestFirst; firstFP fingerprints them (0: none).
	firstPos map[*rules.Rule]int
	firstFP  uint64
	// thenPos numbers the sequence and absence rules for Customer.LastThen;
	// thenFP fingerprints their names and second events (0: none).
	thenPos map[*rules.Rule]int
	thenFP  uint64
	// timerFloor: no timer is due before it (those fired); timer scans
	// start there. Only in memory: after a restart the first scan starts
	// from the beginning.
	timerFloor int64

	// keepForgottenLate applies late events of forgotten customers (as
	// new customers) instead of dropping them.
	keepForgottenLate bool
	// triggerLog: record each trigger whole in the store's log (see
	// KeepTriggerLog); otherwise by id only.
	triggerLog bool

	// prenormBuf is reused by prenormalise from batch to batch.
	prenormBuf []normalised
	// changes is what Changes returns, reused from batch to batch.
	changes Changes
}

type idType struct {
	name         string
	prio         int // 0 = highest
	limit        int
	detectShared bool
}

// New builds an engine over an open store, with the trigger rules and
// segments the configuration names (the built-in ones by default).
func New(cfg *config.Config, store *state.Store) (*Engine, error) {
	set, err := LoadRules(cfg)
	if err != nil {
		return nil, err
	}
	return NewWithRules(cfg, store, set)
}

// KeepTriggerLog makes the engine record every trigger it fires whole, in
// the order fired (state.Store.Triggers), as the offline command reports
// them. Without it a trigger is recorded by customer and id only, for
// erasure: the service hands triggers on through its outbox and never
// reads them back, and the log would grow by ~190 bytes a trigger for
// nothing.
func (e *Engine) KeepTriggerLog() { e.triggerLog = true }

// LoadRules loads the trigger rules and segments the configuration names
// (the built-in ones when it names none), checked against its stages and
// channels.
func LoadRules(cfg *config.Config) (*rules.Set, error) {
	o := rules.Options{Channels: cfg.Input.Channels}
	for _, st := range cfg.Journey.Stages {
		o.Stages = append(o.Stages, st.Name)
	}
	if cfg.RulesFile == "" && cfg.SegmentsFile == "" {
		return rules.Default(o)
	}
	return rules.Load(cfg.RulesFile, cfg.SegmentsFile, o)
}

// NewWithRules builds an engine with the rule set given (nil: none).
func NewWithRules(cfg *config.Config, store *state.Store, set *rules.Set) (*Engine, error) {
	id := &cfg.Identity
	nopts := normalize.Options{
		DefaultRegion: id.DefaultCountry,
		ExtraJunk:     id.JunkValues,
		Types:         make(map[string]normalize.TypeOptions, len(id.Types)),
	}
	e := &Engine{
		store:             store,
		types:             make(map[string]*idType, len(id.Types)),
		sharedAfter:       id.SharedAfter,
		keepForgottenLate: id.ForgetLate == "apply",
		maxEvents:         int64(cfg.Journey.MaxEvents),
		stageOf:           make(map[string]string),
		purchase:          make(map[string]bool),
		revenueProp:       cfg.Profile.RevenueProp,
	}
	for i, t := range id.Types {
		kind, err := normalize.ParseKind(t.Kind)
		if err != nil {
			return nil, fmt.Errorf("stitch: identifier type %s: %w", t.Name, err)
		}
		nopts.Types[t.Name] = normalize.TypeOptions{Kind: kind, Blocklist: t.Blocklist}
		e.types[t.Name] = &idType{name: t.Name, prio: i, limit: t.Limit, detectShared: t.DetectShared}
	}
	norm, err := normalize.New(nopts)
	if err != nil {
		return nil, fmt.Errorf("stitch: %w", err)
	}
	e.norm = norm
	if err := e.setPseudonyms(&id.Pseudonymise); err != nil {
		return nil, err
	}
	for _, st := range cfg.Journey.Stages {
		for _, typ := range st.Types {
			e.stageOf[typ] = st.Name
		}
	}
	for _, typ := range cfg.Profile.PurchaseTypes {
		e.purchase[typ] = true
	}
	if set != nil {
		e.rules = set
		e.ruleByName = make(map[string]*rules.Rule, len(set.Rules))
		for _, r := range set.Rules {
			e.ruleByName[r.Name] = r
		}
		e.thenPos, e.thenFP = thenIndex(set)
		e.firstPos, e.firstFP = firstIndex(set)
		e.segsByName = slices.Clone(set.Segments)
		slices.SortFunc(e.segsByName, func(x, y *rules.Segment) int { return strings.Compare(x.Name, y.Name) })
		for _, sg := range set.Segments {
			for _, th := range sg.If.Times {
				if !slices.Contains(e.segTimes, th) {
					e.segTimes = append(e.segTimes, th)
				}
			}
		}
	}
	return e, nil
}

// StageOf is the configured stage of an event type ("" when unmapped).
func (e *Engine) StageOf(eventType string) string { return e.stageOf[eventType] }

// Normalize normalises one identifier value as the engine does before
// matching, and replaces it by its pseudonym when its type is pseudonymised;
// events and lookups by users both go through it, so lookups find what was
// stored. Junk is recognised on the normalised value, before pseudonymising.
func (e *Engine) Normalize(idType, raw string) (string, normalize.Result) {
	v, res := e.norm.Normalize(idType, raw)
	if res != normalize.OK {
		return v, res
	}
	return e.pseudo.Value(idType, v), res
}

// Status is what happened to one event.
type Status uint8

// Statuses of an applied event.
const (
	Applied   Status = iota
	Duplicate        // its event_id was applied before; dropped
	Rejected         // invalid; belongs on the dead-letter output
	Forgotten        // a late event of a forgotten customer (see Forget); dropped and counted
)

// Outcome reports one event of a batch.
type Outcome struct {
	Status   Status
	Customer string       // Applied: the customer the event belongs to
	Err      *event.Error // Rejected: why
}

// Result reports a batch.
type Result struct {
	Outcomes  []Outcome // one per input event, in input order
	Merges    []state.Merge
	Conflicts []state.Conflict
	Splits    []Split
	Triggers  []state.Trigger // fired by this batch, in order
	// JourneyOverflow counts the events this batch applied, or its merges
	// moved, that were not stored in a journey because it held
	// journey.max_events.
	JourneyOverflow int

	// Set by data-subject requests (Forget, Unmerge) only.
	Erased *state.Erased // log records a forget removed, for sinks to delete
	Audits []state.Audit // the requests applied
}

// Split records that an unmerge moved part of a customer to a new customer.
type Split struct {
	From, To string
	Via      string // the identifier whose removal split them
}

// Apply applies a batch of events in order, atomically: either every change
// is committed or, on error, none is and the engine may be used again.
func (e *Engine) Apply(evs []event.Event) (*Result, error) {
	return e.ApplyWith(evs, nil)
}

// ApplyWith is Apply with a hook that adds the caller's own writes — the
// consumed offsets, messages for the outbox — to the same atomic batch,
// after the events are applied and before the commit. An error from the
// hook discards the whole batch.
func (e *Engine) ApplyWith(evs []event.Event, hook func(*state.Txn, *Result) error) (*Result, error) {
	t := e.store.Begin()
	r := &Result{Outcomes: make([]Outcome, len(evs))}
	a := applier{e: e, t: t, r: r, floor: e.timerFloor}
	if err := a.prepare(a.horizonOf(evs)); err != nil {
		t.Discard()
		return nil, err
	}
	a.pre = e.prenormalise(evs)
	defer a.pre.finish()
	for i := range evs {
		a.cur = i
		out, err := a.apply(&evs[i])
		if err == nil {
			// Timers fire as the watermark passes them, between events,
			// so that how the input is cut into batches changes nothing.
			err = a.fireDue(a.watermark())
		}
		if err != nil {
			t.Discard()
			return nil, err
		}
		r.Outcomes[i] = out
	}
	if hook != nil {
		if err := hook(t, r); err != nil {
			t.Discard()
			return nil, err
		}
	}
	if err := t.Commit(); err != nil {
		return nil, err
	}
	e.timerFloor = a.floor
	return r, nil
}

// Fire fires the timers due at or before upTo (event time, ms) in one
// batch of its own: at the end of offline input (upTo = the newest event
// time), or when the sources are idle and the watermark moves on with the
// wall clock. hook is as for ApplyWith.
func (e *Engine) Fire(upTo int64, hook func(*state.Txn, *Result) error) (*Result, error) {
	t := e.store.Begin()
	r := &Result{}
	a := applier{e: e, t: t, r: r, floor: e.timerFloor}
	err := a.prepare(upTo)
	if err == nil {
		err = a.fireDue(upTo)
	}
	if err == nil && hook != nil {
		err = hook(t, r)
	}
	if err != nil {
		t.Discard()
		return nil, err
	}
	if err := t.Commit(); err != nil {
		return nil, err
	}
	e.timerFloor = a.floor
	return r, nil
}

// Watermark is the committed watermark: the newest event time applied
// minus the allowed lateness; ok=false before any event or without rules.
func (e *Engine) Watermark() (int64, bool) {
	ts, ok := e.store.EventTime()
	if !ok || e.rules == nil {
		return 0, false
	}
	return ts - e.rules.AllowedLateness.Milliseconds(), true
}

// applier carries one batch's working state.
type applier struct {
	e *Engine
	t *state.Txn
	r *Result

	pre *prenorm // nil: normalise inline; see prenormalise
	cur int      // the index in the batch of the event being applied

	segScratch []string
	held       []state.Pending // see journeyFirst
	envBuf     rules.Env       // see env
	queue      []state.Timer   // timers due by horizon, in due order; see prepare
	horizon    int64
	floor      int64 // see Engine.timerFloor; this batch's, kept at Commit

	// overflow: the event being applied is not stored in its journey
	// (journey.max_events), so nothing may look for it there.
	overflow bool

	// scratch, reused across events
	ids       []ident
	pending   []ident
	conflicts []state.Conflict
	links     []uint64

	// Journey entries and their link lists are handed out from chunks,
	// one allocation per many events instead of two per event (see
	// newEntry). Nothing keeps an entry past its batch: the Txn's writes
	// hold them until Commit.
	entrySlab []state.Entry
	linkSlab  []uint64
}

const slabLen = 512

// newEntry returns a zeroed Entry from the applier's current chunk.
func (a *applier) newEntry() *state.Entry {
	if len(a.entrySlab) == cap(a.entrySlab) {
		a.entrySlab = make([]state.Entry, 0, slabLen)
	}
	a.entrySlab = a.entrySlab[:len(a.entrySlab)+1]
	return &a.entrySlab[len(a.entrySlab)-1]
}

// keepLinks copies l into the current chunk of link lists. The result's
// capacity is its length, so an append to it cannot reach a neighbour's.
func (a *applier) keepLinks(l []uint64) []uint64 {
	if len(l) == 0 {
		return nil
	}
	if cap(a.linkSlab)-len(a.linkSlab) < len(l) {
		a.linkSlab = make([]uint64, 0, max(slabLen, len(l)))
	}
	n := len(a.linkSlab)
	a.linkSlab = append(a.linkSlab, l...)
	return a.linkSlab[n:len(a.linkSlab):len(a.linkSlab)]
}

type ident struct {
	typ *idType
	key string // "type:value"
	rec *state.Identifier
}

// CustomerID derives a customer id from a seed (the founding event id), so
// that a replay of the same input gives the same ids.
func CustomerID(seed string) string {
	sum := sha256.Sum256([]byte(seed))
	return "c_" + hex.EncodeToString(sum[:8])
}

func (a *applier) apply(ev *event.Event) (Outcome, error) {
	t := a.t
	if seen, err := t.Seen(ev.ID); err != nil || seen {
		return Outcome{Status: Duplicate}, err
	}
	if rej, err := a.normalise(ev); err != nil || rej != nil {
		// A storage error aborts the batch; only bad input is rejected.
		return Outcome{Status: Rejected, Err: rej}, err
	}
	if late, err := a.ofForgotten(ev); err != nil || late {
		return Outcome{Status: Forgotten}, err
	}
	if err := a.detectShared(); err != nil {
		return Outcome{}, err
	}

	var target *state.Customer
	fresh := false
	a.pending = a.pending[:0]
	a.conflicts = a.conflicts[:0]
	links := a.links[:0]
	for _, id := range a.ids {
		if id.rec != nil && id.rec.Shared {
			continue
		}
		var owner *state.Customer
		if id.rec != nil && id.rec.Customer != "" {
			c, err := t.Customer(id.rec.Customer)
			if err != nil {
				return Outcome{}, err
			}
			owner = c // nil only if the state is inconsistent; then the identifier is treated as new
		}
		switch {
		case owner == nil:
			if target == nil {
				target = &state.Customer{ID: CustomerID(ev.ID), Origin: ev.ID, ThenFor: a.e.thenFP, FirstFor: a.e.firstFP}
				fresh = true
			}
			if n := countType(target.IDs, id.typ.name); n >= id.typ.limit {
				a.conflict(id, "limit:"+id.typ.name, ev)
				continue
			}
			target.IDs = insertSorted(target.IDs, id.key)
			a.pending = append(a.pending, id)
			links = append(links, state.LinkSum(id.key))
		case target == nil:
			target = owner
			links = append(links, state.LinkSum(id.key))
		case owner.ID == target.ID:
			links = append(links, state.LinkSum(id.key))
		default:
			if over := a.e.overLimit(target, owner); over != "" {
				a.conflict(id, "merge_limit:"+over, ev)
				continue
			}
			if fresh {
				// A customer made by this event alone has no history to
				// keep: it joins the existing one without a recorded merge.
				for _, k := range target.IDs {
					owner.IDs = insertSorted(owner.IDs, k)
				}
				target, fresh = owner, false
			} else {
				var err error
				if target, err = a.merge(target, owner, id.key, ev); err != nil {
					return Outcome{}, err
				}
			}
			links = append(links, state.LinkSum(id.key))
		}
	}
	if target == nil {
		// Every identifier is shared: the event links to nobody.
		target = &state.Customer{ID: CustomerID(ev.ID), Origin: ev.ID, ThenFor: a.e.thenFP, FirstFor: a.e.firstFP}
	}
	for _, id := range a.pending {
		rec := id.rec
		if rec == nil {
			rec = &state.Identifier{}
		}
		rec.Customer = target.ID
		t.SetIdentifier(id.key, rec)
	}
	for i := range a.conflicts {
		c := &a.conflicts[i]
		c.Customer = target.ID
		if err := t.AddConflict(c); err != nil {
			return Outcome{}, err
		}
		a.r.Conflicts = append(a.r.Conflicts, *c)
	}

	prevStage := target.Stage
	en := a.newEntry()
	*en = state.Entry{EventID: ev.ID, TS: ev.TS, Channel: ev.Channel, Type: ev.Type, Links: a.keepLinks(links), Props: ev.Props}
	a.links = links[:0]
	if a.e.purchase[ev.Type] {
		en.Revenue = propNumber(ev.Props, a.e.revenueProp)
	}
	// A full journey takes no more events: the profile still counts them.
	// Nothing here reads the journey, so a bot's millionth event costs
	// what its first did.
	if a.overflow = a.e.maxEvents > 0 && target.JourneyLen() >= a.e.maxEvents; a.overflow {
		target.Overflow++
		a.r.JourneyOverflow++
	} else if err := t.PutEntry(target.ID, en); err != nil {
		return Outcome{}, err
	}
	if err := t.MarkSeen(ev.ID); err != nil {
		return Outcome{}, err
	}
	t.NoteEventTime(ev.TS)
	if target.ThenFor != a.e.thenFP {
		// Kept under other rules (or none): an event those did not note
		// may be in the journey now, so it stays unknown for good.
		target.ThenFor, target.LastThen = 0, nil
	}
	if target.FirstFor != a.e.firstFP {
		target.FirstFor, target.LatestFirst = 0, nil // likewise
	}
	if a.e.rules != nil {
		// Before addEvent: a first event that arrives after later ones is
		// recognised by comparing it with the journey's end.
		if err := a.evalRulesAround(target, ev, en, prevStage); err != nil {
			return Outcome{}, err
		}
	} else {
		a.e.addEvent(target, en)
	}
	t.SetCustomer(target)
	return Outcome{Status: Applied, Customer: target.ID}, nil
}

// normalise fills a.ids with the event's usable identifiers in priority
// order, or says why there are none (rej). err is a storage error.
func (a *applier) normalise(ev *event.Event) (rej *event.Error, err error) {
	if a.pre != nil {
		n := a.pre.get(a.cur)
		a.ids, rej = append(a.ids[:0], n.ids...), n.rej
	} else {
		a.ids, rej = a.e.normaliseIDs(ev, a.ids[:0])
	}
	if rej != nil {
		return rej, nil
	}
	for i := range a.ids {
		rec, err := a.t.Identifier(a.ids[i].key)
		if err != nil {
			return nil, err
		}
		a.ids[i].rec = rec
	}
	return nil, nil
}

func (a *applier) conflict(id ident, reason string, ev *event.Event) {
	_, value, _ := strings.Cut(id.key, ":")
	a.conflicts = append(a.conflicts, state.Conflict{IDType: id.typ.name, IDValue: value, Reason: reason, At: ev.TS, EventID: ev.ID})
}

// overLimit names the first identifier type whose limit a merge of a and b
// would exceed, or "" when the merge is allowed. Identifiers belong to one
// customer each, so the two sets are disjoint and counts add up.
func (e *Engine) overLimit(a, b *state.Customer) string {
	for _, k := range b.IDs {
		typ, _, _ := strings.Cut(k, ":")
		t := e.types[typ]
		if t != nil && countType(a.IDs, typ)+countType(b.IDs, typ) > t.limit {
			return typ
		}
	}
	return ""
}

// merge joins two customers; the survivor is the one with the earliest first
// event (tie: the smaller id). It returns the survivor.
func (a *applier) merge(x, y *state.Customer, via string, ev *event.Event) (*state.Customer, error) {
	s, gone := x, y
	if y.FirstSeen < x.FirstSeen || (y.FirstSeen == x.FirstSeen && y.ID < x.ID) {
		s, gone = y, x
	}
	t := a.t
	if a.e.rules != nil && s.SeqFrom != gone.SeqFrom {
		// The merged journey is read for sequences' first events from
		// the later SeqFrom on; the other's earlier ones wait in Pending.
		lo, hi := s, gone
		if lo.SeqFrom > hi.SeqFrom {
			lo, hi = hi, lo
		}
		if err := a.holdFirsts(lo, hi.SeqFrom); err != nil {
			return nil, err
		}
		// lo's latest first events may be in Pending now.
		s.FirstFor, s.LatestFirst = 0, nil
	}
	if err := a.moveJourney(gone.ID, s.ID, nil); err != nil {
		return nil, err
	}
	dropped, err := a.capJourney(s, gone)
	if err != nil {
		return nil, err
	}
	for _, k := range gone.IDs {
		rec, err := t.Identifier(k)
		if err != nil {
			return nil, err
		}
		if rec == nil {
			rec = &state.Identifier{}
		}
		rec.Customer = s.ID
		t.SetIdentifier(k, rec)
		s.IDs = insertSorted(s.IDs, k)
	}
	combine(s, gone)
	s.Overflow += gone.Overflow + dropped
	combineRules(s, gone)
	if dropped > 0 {
		// The latest events went: LatestFirst may name one.
		s.FirstFor, s.LatestFirst = 0, nil
	}
	if a.e.rules != nil {
		if err := a.answerAbsences(s); err != nil {
			return nil, err
		}
		if gone.SegDue != 0 {
			a.cancelTimer(gone.SegDue, segmentTimer, gone.ID)
		}
	}
	t.SetAbsorbed(gone.ID, s.ID)
	t.DeleteCustomer(gone.ID)
	t.SetCustomer(s)
	m := state.Merge{Absorbed: gone.ID, Survivor: s.ID, Via: via, At: ev.TS, EventID: ev.ID}
	if err := t.AddMerge(&m); err != nil {
		return nil, err
	}
	a.r.Merges = append(a.r.Merges, m)
	return s, nil
}

// moveJourney moves the events of customer from to customer to; with keep
// set, only those events keep says yes to.
func (a *applier) moveJourney(from, to string, keep func(*state.Entry) bool) error {
	var moved []*state.Entry
	if err := a.t.Journey(from, func(en *state.Entry) error {
		if keep == nil || keep(en) {
			moved = append(moved, en)
		}
		return nil
	}); err != nil {
		return err
	}
	for _, en := range moved {
		if err := a.t.DeleteEntry(from, en.TS, en.EventID); err != nil {
			return err
		}
		if err := a.t.PutEntry(to, en); err != nil {
			return err
		}
	}
	return nil
}

// capJourney keeps the journey of s, just joined by that of gone, within
// journey.max_events: it removes the latest events beyond the cap (by time,
// then event id; the same whatever order the merge found them in) and
// returns how many, which stay counted in the profile as overflow. Both
// journeys were capped, so this reads at most twice the cap.
func (a *applier) capJourney(s, gone *state.Customer) (int64, error) {
	n := s.JourneyLen() + gone.JourneyLen()
	if a.e.maxEvents <= 0 || n <= a.e.maxEvents {
		return 0, nil
	}
	var drop []*state.Entry
	i := int64(0)
	if err := a.t.Journey(s.ID, func(en *state.Entry) error {
		if i++; i > a.e.maxEvents {
			drop = append(drop, en)
		}
		return nil
	}); err != nil {
		return 0, err
	}
	for _, en := range drop {
		if err := a.t.DeleteEntry(s.ID, en.TS, en.EventID); err != nil {
			return 0, err
		}
	}
	a.r.JourneyOverflow += len(drop)
	return int64(len(drop)), nil
}

// addEvent folds one journey entry into a profile.
func (e *Engine) addEvent(c *state.Customer, en *state.Entry) {
	if c.Events == 0 {
		c.FirstSeen, c.LastSeen = en.TS, en.TS
		c.LastEID, c.LastChannel = en.EventID, en.Channel
	} else {
		if c.LastChannel != "" && laterThan(en.TS, en.EventID, c.LastSeen, c.LastEID) {
			c.LastEID, c.LastChannel = en.EventID, en.Channel
		}
		c.FirstSeen = min(c.FirstSeen, en.TS)
		c.LastSeen = max(c.LastSeen, en.TS)
	}
	c.Events++
	c.Channels = insertSorted(c.Channels, en.Channel)
	if e.purchase[en.Type] {
		c.Purchases++
		c.Revenue += en.Revenue
	}
	if st := e.stageOf[en.Type]; st != "" && (c.Stage == "" || laterThan(en.TS, en.EventID, c.StageTS, c.StageEID)) {
		c.Stage, c.StageTS, c.StageEID = st, en.TS, en.EventID
	}
}

// combine folds the profile of gone into s (identifiers are moved by the
// caller).
func combine(s, gone *state.Customer) {
	if gone.Events > 0 {
		switch {
		case s.Events == 0:
			s.LastEID, s.LastChannel = gone.LastEID, gone.LastChannel
		case s.LastChannel == "" || gone.LastChannel == "":
			s.LastEID, s.LastChannel = "", "" // unknown stays unknown
		case laterThan(gone.LastSeen, gone.LastEID, s.LastSeen, s.LastEID):
			s.LastEID, s.LastChannel = gone.LastEID, gone.LastChannel
		}
		if s.Events == 0 {
			s.FirstSeen, s.LastSeen = gone.FirstSeen, gone.LastSeen
		} else {
			s.FirstSeen = min(s.FirstSeen, gone.FirstSeen)
			s.LastSeen = max(s.LastSeen, gone.LastSeen)
		}
	}
	s.Events += gone.Events
	s.Purchases += gone.Purchases
	s.Revenue += gone.Revenue
	for _, ch := range gone.Channels {
		s.Channels = insertSorted(s.Channels, ch)
	}
	if gone.Stage != "" && (s.Stage == "" || laterThan(gone.StageTS, gone.StageEID, s.StageTS, s.StageEID)) {
		s.Stage, s.StageTS, s.StageEID = gone.Stage, gone.StageTS, gone.StageEID
	}
}

func laterThan(ts int64, eid string, ts2 int64, eid2 string) bool {
	return ts > ts2 || (ts == ts2 && eid > eid2)
}

func countType(keys []string, typ string) int {
	n := 0
	for _, k := range keys {
		if len(k) > len(typ) && k[len(typ)] == ':' && k[:len(typ)] == typ {
			n++
		}
	}
	return n
}

func insertSorted(ss []string, s string) []string {
	i, found := slices.BinarySearch(ss, s)
	if found {
		return ss
	}
	return slices.Insert(ss, i, s)
}
