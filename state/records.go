package state

import (
	"encoding/binary"
	"errors"
	"hash/maphash"
	"math"
)

// Customer is the stored profile of one customer: what the engine needs to
// stitch (identifiers, first event) and what users see (counts, channels).
type Customer struct {
	ID        string
	Origin    string // event id of the customer's founding event; keeps the id stable across unmerges
	FirstSeen int64  // ms
	LastSeen  int64  // ms
	Events    int64
	Purchases int64
	Revenue   float64
	Stage     string // stage of the latest staged event
	StageTS   int64  // its time, so that late events only move the stage forward in event time
	StageEID  string // its event id, the tie-breaker at equal times
	// The journey's last event (by time, then event id), so that rows for
	// events appended after it need no read of the journey. LastChannel
	// is "" when unknown (records written before it was kept).
	LastEID, LastChannel string
	Channels             []string
	IDs                  []string // "type:value", sorted

	// For trigger rules and segments.
	HasComplaint  bool
	LastComplaint int64 // time of the latest complaint, ms
	HasSurvey     bool
	SurveyScore   float64  // the latest survey score
	SurveyTS      int64    // its time, so that a late survey does not replace a newer one
	Segments      []string // current memberships, sorted
	Fires         []Fire   // per rule that fired for this customer, by rule name
	// First events of sequences and absences waiting for their second,
	// ordered by comparePending (time first, as AddPending keeps it).
	Pending []Pending
	// A sequence rule's first events are read from the journey when its
	// second event comes (see stitch's pairing), not kept in Pending:
	// Paired lists those paired already (each pairs once), in
	// comparePending's order, and SeqFrom is the time from which the
	// journey is read so (0: all of it). A record written before
	// version 7 kept its first events in Pending, which tells nothing of
	// the ones already paired: read, it gets a SeqFrom past its latest
	// event, and its earlier first events stay in Pending.
	Paired  []Pending
	SeqFrom int64
	// LatestFirst is, per such rule (in the engine's order, while
	// FirstFor is the engine's fingerprint of those rules; 0: unknown),
	// the journey's latest first event from SeqFrom on, EventID "" when
	// none: the one a second event mostly pairs with, found without
	// reading the journey.
	FirstFor    uint64
	LatestFirst []FirstRef

	// For late first events: per sequence and absence rule (in the order
	// of the rule set), the time of the latest event in the journey that
	// could be the rule's second event, so that a first event arriving
	// after later ones reads the journey only when one may follow it.
	// Only meaningful while ThenFor is the engine's fingerprint of those
	// rules (0: unknown, as for records written before and split parts);
	// an empty LastThen then means no such event. Times only grow, and an
	// event taken out of the journey leaves them as they were: they bound
	// from above.
	ThenFor  uint64
	LastThen []int64

	// SegDue is the time (event time, ms) the customer's segments are
	// evaluated again, when a condition on time may turn; its timer is
	// stored at that time or before it (see stitch's segment timers). 0
	// when none is due.
	SegDue int64

	// pendingN is the Pending list's length as the record counts it;
	// layout is the record's version as read; storedKeys are the entries
	// a record of versions 3 to 6 kept under keys of their own, deleted
	// at its next write (see pending.go). coldSum is coldHash of the
	// record's cold part as stored (0: none stored, or an older layout),
	// see appendHot.
	pendingN   uint64
	layout     byte
	coldSum    uint64
	storedKeys []Pending

	// Overflow counts the events in Events that are not in the journey:
	// applied after it held journey.max_events (a bot). While it is
	// above 0, LastEID and LastChannel are those of the profile's latest
	// event, which may not be in the journey.
	Overflow int64
}

// JourneyLen is the number of events in the customer's stored journey.
func (c *Customer) JourneyLen() int64 { return c.Events - c.Overflow }

// FirstRef names a sequence rule's latest first event in a customer's
// journey, and tells whether the others can still pair.
type FirstRef struct {
	TS      int64
	EventID string
	// RestPaired, when not 0, is the rule's window (ms) under which every
	// other first event of the rule in the journey from SeqFrom on was
	// paired already, waits in Pending or is past the watermark's reach:
	// a second event this one does not pair with pairs with none read
	// from the journey (see stitch's sequences.go).
	RestPaired int64
}

// Fire counts a rule's triggers for a customer, for cooldowns and max fires.
type Fire struct {
	Rule   string
	Count  int64
	LastAt int64 // fired_at of the latest, ms
}

// Identifier is the stored state of one normalised identifier.
type Identifier struct {
	Customer string   // owning customer; "" once shared
	Shared   bool     // links nothing any more
	Co       []string // for shared detection: higher-priority "type:value" seen with it, sorted, capped by the engine
}

// Entry is one event in a customer's journey.
type Entry struct {
	EventID string
	TS      int64
	Channel string
	Type    string
	Links   []uint64 // LinkSum of each "type:value" through which the event belongs to its customer
	Revenue float64  // purchase value taken from props at apply time
	Props   []byte   // raw JSON object or nil
}

// Merge records that one customer absorbed another.
type Merge struct {
	Absorbed string
	Survivor string
	Via      string // "type:value" of the identifier that linked them
	At       int64  // event time of the linking event, ms
	EventID  string
}

// Conflict records an identifier link refused by a per-type limit.
type Conflict struct {
	Customer string
	IDType   string
	IDValue  string
	Reason   string
	At       int64
	EventID  string
}

// ErrCorrupt is returned when a stored record cannot be decoded.
var ErrCorrupt = errors.New("state: corrupt record")

// enc appends the fixed field order of a record; dec reads it back. A
// version byte leads every record so that the layout can evolve.
type enc []byte

const recordVersion = 1

// customerVersion 3 counts the Pending list in the record and keeps each
// entry under a key of its own; version 2 records (written before) keep
// the list under one key, version 1 records inline, and both still decode.
// Version 4 adds SegDue; a version 3 record reads as one with SegDue 0.
// Version 5 splits the record into a hot and a cold part (see appendHot).
// Version 6 moves SegDue from the cold part to the hot one: it changes with
// most events (see stitch's segment timers), and a timer that fires can
// then read it without the rest (Txn.SegDue). The cold part keeps the
// field's slot, written as 0. Version 7 keeps the Pending list in the hot
// part again (see pending.go), and adds SeqFrom and Paired to the cold
// part; a record of before reads with a SeqFrom past its latest event
// (legacySeqFrom). Version 8 adds RestPaired to each LatestFirst entry; a
// record of before reads with it 0 (not known). Version 9 shortens the hot
// part, which is rewritten with nearly every event (see compactHot).
const customerVersion = 9

// splitRecord reports whether a record of this layout is a hot and a cold
// part.
func splitRecord(layout byte) bool { return layout >= 5 }

// segDueHot is the first layout with SegDue in the hot part.
const segDueHot = 6

// pendingInHot is the first layout with the Pending list in the hot part.
const pendingInHot = 7

// restPaired is the first layout with FirstRef.RestPaired.
const restPaired = 8

// compactHot is the first layout whose hot part writes the stage and the
// last channel as codes of knownNames, the stage's event id as one byte
// when it is the last event's (an event with a stage, most of them), and
// a zero revenue (anonymous browsers) as one byte: ~30 of a version 8 hot
// part's ~90 bytes.
const compactHot = 9

// pendingKeys reports whether a record of this layout keeps its Pending
// entries under keys of their own.
func pendingKeys(layout byte) bool { return layout >= 3 && layout < pendingInHot }

func (e enc) str(s string) enc {
	e = binary.AppendUvarint(e, uint64(len(s)))
	return append(e, s...)
}
func (e enc) bytes(b []byte) enc {
	e = binary.AppendUvarint(e, uint64(len(b)))
	return append(e, b...)
}
func (e enc) i64(v int64) enc   { return binary.AppendVarint(e, v) }
func (e enc) f64(v float64) enc { return binary.LittleEndian.AppendUint64(e, math.Float64bits(v)) }
func (e enc) strs(ss []string) enc {
	e = binary.AppendUvarint(e, uint64(len(ss)))
	for _, s := range ss {
		e = e.str(s)
	}
	return e
}
func (e enc) flag(b bool) enc {
	if b {
		return append(e, 1)
	}
	return append(e, 0)
}

type dec struct {
	b   []byte
	err bool
}

func (d *dec) uvarint() uint64 {
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.err, d.b = true, nil
		return 0
	}
	d.b = d.b[n:]
	return v
}
func (d *dec) i64() int64 {
	v, n := binary.Varint(d.b)
	if n <= 0 {
		d.err, d.b = true, nil
		return 0
	}
	d.b = d.b[n:]
	return v
}
func (d *dec) raw() []byte {
	n := d.uvarint()
	if n > uint64(len(d.b)) {
		d.err, d.b = true, nil
		return nil
	}
	v := d.b[:n:n]
	d.b = d.b[n:]
	return v
}
func (d *dec) str() string { return string(d.raw()) }

// bytes returns a copy: stored values live in Pebble's buffers, which are
// reused once an iterator moves or a Get's closer is closed, so nothing
// decoded may alias them.
func (d *dec) bytes() []byte {
	r := d.raw()
	if len(r) == 0 {
		return nil
	}
	return append([]byte(nil), r...)
}
func (d *dec) f64() float64 {
	if len(d.b) < 8 {
		d.err, d.b = true, nil
		return 0
	}
	v := math.Float64frombits(binary.LittleEndian.Uint64(d.b))
	if math.IsNaN(v) || math.IsInf(v, 0) {
		// Never written: the engine only stores finite amounts.
		d.err, d.b = true, nil
		return 0
	}
	d.b = d.b[8:]
	return v
}
func (d *dec) strs() []string {
	n := d.uvarint()
	if n > uint64(len(d.b)) { // each string takes at least one byte
		d.err, d.b = true, nil
		return nil
	}
	if n == 0 {
		return nil
	}
	ss := make([]string, n)
	for i := range ss {
		ss[i] = d.str()
	}
	return ss
}
func (d *dec) flag() bool {
	if len(d.b) < 1 {
		d.err = true
		return false
	}
	if d.b[0] > 1 {
		d.err, d.b = true, nil
		return false
	}
	v := d.b[0] == 1
	d.b = d.b[1:]
	return v
}
func (d *dec) version() {
	if len(d.b) < 1 || d.b[0] != recordVersion {
		d.err, d.b = true, nil
		return
	}
	d.b = d.b[1:]
}
func (d *dec) done() error {
	if d.err || len(d.b) != 0 {
		return ErrCorrupt
	}
	return nil
}

// A customer's record is written with nearly every event of the customer,
// but most of it changes on few: identifiers, channels and rule state change
// when a new identifier, channel, segment or fire comes, the counts and the
// latest event with every event. Since version 5 the record is two values:
//
//	'c' customer-id       → hot part: what each event changes (appendHot)
//	'c' customer-id 0x00  → cold part: the rest (appendCold)
//
// and Commit writes the cold part only when its bytes changed (coldSum),
// which takes ~60% of the bytes off a record write. The cold key sorts
// right after the hot one, in the same data block, so a read of both costs
// about one block read. Records of versions 1 to 4 are one value (with the
// customer id in it) and are written in the current layout at their next
// write.

// appendHot appends the hot part of c's record.
func (c *Customer) appendHot(b []byte) []byte {
	e := enc(append(b, customerVersion))
	e = e.i64(c.FirstSeen).i64(c.LastSeen).i64(c.Events).i64(c.Purchases).revenue(c.Revenue)
	e = enc(appendName(e, c.Stage)).i64(c.StageTS)
	if c.StageEID == c.LastEID {
		e = append(e, 0)
	} else {
		e = binary.AppendUvarint(e, uint64(len(c.StageEID))+1)
		e = append(e, c.StageEID...)
	}
	return c.appendHotRest(enc(appendName(e.str(c.LastEID), c.LastChannel)))
}

// appendHotRest appends the fields that follow the latest event's in the
// hot part: rule state, the same in every layout since 8.
func (c *Customer) appendHotRest(e enc) enc {
	e = binary.AppendUvarint(e, uint64(len(c.Pending))) // the entries follow SegDue
	e = binary.AppendUvarint(e, uint64(len(c.LastThen)))
	for _, ts := range c.LastThen {
		e = e.i64(ts)
	}
	e = e.i64(c.Overflow).i64(c.SegDue)
	for i := range c.Pending {
		p := &c.Pending[i]
		e = e.str(p.Rule).str(p.EventID).i64(p.TS)
	}
	e = binary.AppendUvarint(e, uint64(len(c.LatestFirst)))
	for _, f := range c.LatestFirst {
		e = e.i64(f.TS).str(f.EventID).i64(f.RestPaired)
	}
	return e
}

// appendCold appends the cold part of c's record.
func (c *Customer) appendCold(b []byte) []byte {
	e := enc(append(b, recordVersion))
	e = e.str(c.Origin).strs(c.Channels).strs(c.IDs)
	e = e.flag(c.HasComplaint).i64(c.LastComplaint).flag(c.HasSurvey).f64(c.SurveyScore).i64(c.SurveyTS).strs(c.Segments)
	e = binary.AppendUvarint(e, uint64(len(c.Fires)))
	for _, f := range c.Fires {
		e = e.str(f.Rule).i64(f.Count).i64(f.LastAt)
	}
	e = binary.AppendUvarint(e, c.ThenFor)
	e = e.i64(0) // SegDue's slot of version 5
	e = e.i64(c.SeqFrom)
	e = binary.AppendUvarint(e, uint64(len(c.Paired)))
	for i := range c.Paired {
		p := &c.Paired[i]
		e = e.str(p.Rule).str(p.EventID).i64(p.TS)
	}
	return binary.AppendUvarint(e, c.FirstFor)
}

// coldSeed keys coldHash; sums are kept in memory only, so a seed of the
// process is enough.
var coldSeed = maphash.MakeSeed()

// coldHash is the sum Commit compares a cold part with the stored one by;
// never 0, which stands for "not stored as this part".
func coldHash(b []byte) uint64 { return maphash.Bytes(coldSeed, b) | 1 }

// decodeCustomer decodes the value under a customer's key: the hot part of
// a version 5 or later record, whose cold part the caller reads next
// (decodeCold), or a whole record of versions 1 to 4. Of a version 2 or
// later record the Pending list is only counted (pendingN): loadPending
// reads it.
func decodeCustomer(id string, b []byte) (*Customer, error) {
	if len(b) > 0 && splitRecord(b[0]) && b[0] <= customerVersion {
		return decodeHot(id, b[1:], b[0])
	}
	return decodeWhole(b)
}

func decodeHot(id string, b []byte, layout byte) (*Customer, error) {
	d := dec{b: b}
	c := &Customer{ID: id, FirstSeen: d.i64(), LastSeen: d.i64(), Events: d.i64(), Purchases: d.i64(), layout: layout}
	if layout >= compactHot {
		c.Revenue, c.Stage, c.StageTS = d.revenue(), d.name(), d.i64()
		sameEID := len(d.b) > 0 && d.b[0] == 0
		if sameEID {
			d.b = d.b[1:]
		} else if n := d.uvarint(); n > 0 && n-1 <= uint64(len(d.b)) {
			c.StageEID, d.b = string(d.b[:n-1]), d.b[n-1:]
		} else {
			return nil, ErrCorrupt
		}
		c.LastEID, c.LastChannel = d.str(), d.name()
		if sameEID {
			c.StageEID = c.LastEID
		}
	} else {
		c.Revenue, c.Stage, c.StageTS, c.StageEID, c.LastEID, c.LastChannel = d.f64(), d.str(), d.i64(), d.str(), d.str(), d.str()
	}
	if c.pendingN = d.uvarint(); c.pendingN > maxPendingLen {
		return nil, ErrCorrupt
	}
	n := d.uvarint()
	if n > uint64(len(d.b)) {
		return nil, ErrCorrupt
	}
	for range n {
		c.LastThen = append(c.LastThen, d.i64())
	}
	if c.Overflow = d.i64(); c.Overflow != 0 && (c.Overflow < 0 || c.Overflow > c.Events) {
		return nil, ErrCorrupt
	}
	if layout >= segDueHot {
		c.SegDue = d.i64()
	}
	if layout >= pendingInHot && c.pendingN > 0 {
		// Each entry takes three bytes at least: a corrupt count cannot
		// make the list allocate beyond the record's size.
		if c.pendingN > uint64(len(d.b))/3 {
			return nil, ErrCorrupt
		}
		c.Pending = make([]Pending, c.pendingN)
		for i := range c.Pending {
			c.Pending[i] = Pending{Rule: d.str(), EventID: d.str(), TS: d.i64()}
		}
	}
	if layout >= pendingInHot {
		n := d.uvarint()
		if n > uint64(len(d.b))/2 {
			return nil, ErrCorrupt
		}
		if n > 0 {
			c.LatestFirst = make([]FirstRef, n)
			for i := range c.LatestFirst {
				f := &c.LatestFirst[i]
				f.TS, f.EventID = d.i64(), d.str()
				if layout >= restPaired {
					f.RestPaired = d.i64()
				}
			}
		}
	}
	return c, d.done()
}

// decodeCold decodes the cold part of a record of version 5 or later into
// c, whose hot part was decoded.
func (c *Customer) decodeCold(b []byte) error {
	d := dec{b: b}
	d.version()
	c.Origin, c.Channels, c.IDs = d.str(), d.strs(), d.strs()
	c.HasComplaint, c.LastComplaint = d.flag(), d.i64()
	c.HasSurvey, c.SurveyScore, c.SurveyTS, c.Segments = d.flag(), d.f64(), d.i64(), d.strs()
	n := d.uvarint()
	if n > uint64(len(d.b)) {
		return ErrCorrupt
	}
	c.Fires = nil
	for range n {
		c.Fires = append(c.Fires, Fire{Rule: d.str(), Count: d.i64(), LastAt: d.i64()})
	}
	c.ThenFor = d.uvarint()
	if segDue := d.i64(); c.layout < segDueHot {
		c.SegDue = segDue
	}
	c.SeqFrom, c.Paired, c.FirstFor = 0, nil, 0
	if c.layout < pendingInHot {
		c.SeqFrom = legacySeqFrom(c)
	} else {
		c.SeqFrom = d.i64()
		n := d.uvarint()
		if n > uint64(len(d.b))/3 {
			return ErrCorrupt
		}
		if n > 0 {
			c.Paired = make([]Pending, n)
			for i := range c.Paired {
				c.Paired[i] = Pending{Rule: d.str(), EventID: d.str(), TS: d.i64()}
			}
		}
		c.FirstFor = d.uvarint()
	}
	if err := d.done(); err != nil {
		return err
	}
	c.coldSum = coldHash(b)
	return nil
}

// decodeWhole decodes a record of versions 1 to 4, one value holding every
// field.
func decodeWhole(b []byte) (*Customer, error) {
	d := dec{b: b}
	v := byte(0)
	if len(b) > 0 {
		v = b[0]
	}
	counted := v >= 2 && !splitRecord(v)
	if !counted {
		d.version()
	} else {
		d.b = d.b[1:]
	}
	c := &Customer{ID: d.str(), Origin: d.str(), FirstSeen: d.i64(), LastSeen: d.i64(), Events: d.i64(),
		Purchases: d.i64(), Revenue: d.f64(), Stage: d.str(), StageTS: d.i64(), StageEID: d.str(),
		Channels: d.strs(), IDs: d.strs()}
	if len(d.b) > 0 { // absent from records written before these fields
		c.LastEID, c.LastChannel = d.str(), d.str()
	}
	if len(d.b) > 0 {
		c.HasComplaint, c.LastComplaint = d.flag(), d.i64()
		c.HasSurvey, c.SurveyScore, c.SurveyTS, c.Segments = d.flag(), d.f64(), d.i64(), d.strs()
		n := d.uvarint()
		if n > uint64(len(d.b)) {
			return nil, ErrCorrupt
		}
		for range n {
			c.Fires = append(c.Fires, Fire{Rule: d.str(), Count: d.i64(), LastAt: d.i64()})
		}
		n = d.uvarint()
		if counted {
			if n > maxPendingLen {
				return nil, ErrCorrupt
			}
			c.pendingN = n
			c.ThenFor = d.uvarint()
			n = d.uvarint()
			if n > uint64(len(d.b)) {
				return nil, ErrCorrupt
			}
			for range n {
				c.LastThen = append(c.LastThen, d.i64())
			}
			if v >= 4 {
				c.SegDue = d.i64()
			}
		} else {
			if n > uint64(len(d.b)) {
				return nil, ErrCorrupt
			}
			for range n {
				c.Pending = append(c.Pending, Pending{Rule: d.str(), EventID: d.str(), TS: d.i64()})
			}
		}
	} else if counted {
		return nil, ErrCorrupt // version 2 to 4 records have every field
	}
	c.layout = v
	c.SeqFrom = legacySeqFrom(c)
	if len(d.b) > 0 {
		// Written only when above 0, so that each record has one encoding.
		if c.Overflow = d.i64(); c.Overflow <= 0 || c.Overflow > c.Events {
			return nil, ErrCorrupt
		}
	}
	return c, d.done()
}

// legacySeqFrom is the SeqFrom of a record written before version 7: past
// its latest event, so that the journey offers none of the first events it
// paired (its Pending list keeps those that wait). Never 0, which would
// read all of the journey.
func legacySeqFrom(c *Customer) int64 {
	if c.LastSeen == math.MaxInt64 {
		return math.MaxInt64
	}
	return max(c.LastSeen+1, 1)
}

// maxPendingLen bounds the pending count a record may claim (the engine
// keeps far fewer: a few dozen per rule), so that a corrupt count cannot
// make a reader allocate without bound.
const maxPendingLen = 1 << 20

// decodePending decodes the Pending list of a version 2 record's pending
// key: the rule names once, then per entry the rule's index, the event id
// and the time as a difference from the entry before.
func decodePending(b []byte) ([]Pending, error) {
	d := dec{b: b}
	d.version()
	rules := d.strs()
	n := d.uvarint()
	if n > uint64(len(d.b)) { // each entry takes at least one byte
		return nil, ErrCorrupt
	}
	ps := make([]Pending, 0, n)
	prev := int64(0)
	for range n {
		i := d.uvarint()
		eid := d.str()
		ts := prev + d.i64()
		if d.err || i >= uint64(len(rules)) {
			return nil, ErrCorrupt
		}
		ps = append(ps, Pending{Rule: rules[i], EventID: eid, TS: ts})
		prev = ts
	}
	return ps, d.done()
}

func (r *Identifier) appendTo(b []byte) []byte {
	return enc(append(b, recordVersion)).str(r.Customer).flag(r.Shared).strs(r.Co)
}

func decodeIdentifier(b []byte) (*Identifier, error) {
	d := dec{b: b}
	d.version()
	r := &Identifier{Customer: d.str(), Shared: d.flag(), Co: d.strs()}
	return r, d.done()
}

// LinkSum is how a journey entry stores its links: the 64-bit FNV-1a sum of
// the identifier's "type:value". Links have one reader, the split of a
// customer when an identifier is detached (shared, or unmerged), which
// compares them with the customer's identifiers; sums do that as the
// values did (two identifiers of one customer colliding: 2^-64 a pair), in
// 8 bytes instead of ~24 a link (a fifth of a journey entry), and keep
// identifier values out of the journeys. The sum is stored: it must never
// change.
func LinkSum(k string) uint64 {
	const offset, prime = 14695981039346656037, 1099511628211
	h := uint64(offset)
	for i := 0; i < len(k); i++ {
		h = (h ^ uint64(k[i])) * prime
	}
	return h
}

// entryVersion 3 writes the usual channel and event type names as one
// byte each (knownNames) and a zero revenue as one byte: a journey entry
// is written once per event and then moved down Pebble's levels by every
// compaction that meets it, so its bytes are paid several times (version 2
// entries were ~137 bytes with the key; these ~20 fewer). Version 2 stores
// links as sums (LinkSum, 8 bytes each) and names and revenue whole;
// version 1 (recordVersion) entries hold the "type:value" strings. Both
// still decode.
const (
	entryVersion   = 3
	entryVersionV2 = 2
)

// knownNames are the channel, event type and stage names of SPEC
// ("Canonical event", and the default stages) that version 3 journey
// entries and version 9 customer records write as their index plus one; 0
// means the name follows as a string (any other configured name). Stored
// codes: append only, never reorder.
var knownNames = [...]string{
	"web", "store", "callcentre", "email",
	"page_view", "product_view", "add_to_cart", "checkout", "purchase", "call", "complaint",
	"email_sent", "email_open", "email_click", "login", "signup", "survey_response",
	"awareness", "consideration", "service", "loyalty",
}

// revenue writes an amount as one byte when it is zero, else a byte and
// the float.
func (e enc) revenue(v float64) enc {
	if v == 0 {
		return append(e, 0)
	}
	return append(e, 1).f64(v)
}

func (d *dec) revenue() float64 {
	if d.flag() {
		return d.f64()
	}
	return 0
}

// nameCodes maps each of knownNames to its code.
var nameCodes = func() map[string]byte {
	m := make(map[string]byte, len(knownNames))
	for i, n := range knownNames {
		m[n] = byte(i + 1)
	}
	return m
}()

func appendName(b []byte, name string) []byte {
	if c, ok := nameCodes[name]; ok {
		return append(b, c)
	}
	return enc(append(b, 0)).str(name)
}

func (d *dec) name() string {
	if len(d.b) < 1 {
		d.err = true
		return ""
	}
	c := int(d.b[0])
	d.b = d.b[1:]
	switch {
	case c == 0:
		return d.str()
	case c <= len(knownNames):
		return knownNames[c-1]
	}
	d.err, d.b = true, nil
	return ""
}

// The event id and time live in the journey key; the value holds the rest.
func (en *Entry) appendValue(b []byte) []byte {
	e := enc(appendName(appendName(append(b, entryVersion), en.Channel), en.Type))
	e = binary.AppendUvarint(e, uint64(len(en.Links)))
	for _, l := range en.Links {
		e = binary.LittleEndian.AppendUint64(e, l)
	}
	return e.revenue(en.Revenue).bytes(en.Props)
}

func decodeEntry(key, val []byte) (*Entry, error) {
	_, ts, eid, ok := parseJourneyKey(key)
	if !ok {
		return nil, ErrCorrupt
	}
	if len(val) == 0 {
		return nil, ErrCorrupt
	}
	v := val[0]
	d := dec{b: val[1:]}
	en := &Entry{EventID: eid, TS: ts}
	switch v {
	case entryVersion:
		en.Channel, en.Type = d.name(), d.name()
	case entryVersionV2, recordVersion:
		en.Channel, en.Type = d.str(), d.str()
	default:
		return nil, ErrCorrupt
	}
	if v == recordVersion {
		for _, k := range d.strs() {
			en.Links = append(en.Links, LinkSum(k))
		}
	} else {
		n := d.uvarint()
		if n > uint64(len(d.b)/8) {
			return nil, ErrCorrupt
		}
		if n > 0 {
			en.Links = make([]uint64, n)
			for i := range en.Links {
				en.Links[i] = binary.LittleEndian.Uint64(d.b[8*i:])
			}
			d.b = d.b[8*n:]
		}
	}
	if v == entryVersion {
		en.Revenue = d.revenue()
	} else {
		en.Revenue = d.f64()
	}
	en.Props = d.bytes()
	return en, d.done()
}

func (m *Merge) appendTo(b []byte) []byte {
	return enc(append(b, recordVersion)).str(m.Absorbed).str(m.Survivor).str(m.Via).i64(m.At).str(m.EventID)
}

func decodeMerge(b []byte) (*Merge, error) {
	d := dec{b: b}
	d.version()
	m := &Merge{Absorbed: d.str(), Survivor: d.str(), Via: d.str(), At: d.i64(), EventID: d.str()}
	return m, d.done()
}

func (c *Conflict) appendTo(b []byte) []byte {
	return enc(append(b, recordVersion)).str(c.Customer).str(c.IDType).str(c.IDValue).str(c.Reason).i64(c.At).str(c.EventID)
}

func decodeConflict(b []byte) (*Conflict, error) {
	d := dec{b: b}
	d.version()
	c := &Conflict{Customer: d.str(), IDType: d.str(), IDValue: d.str(), Reason: d.str(), At: d.i64(), EventID: d.str()}
	return c, d.done()
}
