package clickhouse

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/omnistitch/omnistitch/state"
	"github.com/omnistitch/omnistitch/stitch"
)

// One engine batch's rows travel through the row outbox as one record in
// this format: a format byte, the batch's version, then each table's rows
// as counted lists of fields. Strings are length-prefixed, so any byte
// sequence in an identifier or props survives as is.
const rowsFormat = 3 // 2 added profiles' segments, 3 erased log rows and audits; older ones are still read

// Encode appends the rows of one batch — the engine's changes, its merges
// and conflicts — to b, all at the batch's version.
func Encode(b []byte, version uint64, ch *stitch.Changes, res *stitch.Result) []byte {
	e := enc(append(b, rowsFormat)).uv(version)
	e = e.uv(uint64(len(ch.Journeys)))
	for i := range ch.Journeys {
		r := &ch.Journeys[i]
		e = e.str(r.CustomerID).str(r.EventID).uv(uint64(r.Seq)).iv(r.TS).str(r.Channel).str(r.Type).
			str(r.Stage).str(r.PrevChannel).f64(r.SecsSincePrev).bytes(r.Props)
	}
	e = e.uv(uint64(len(ch.Removed)))
	for _, k := range ch.Removed {
		e = e.str(k.CustomerID).str(k.EventID)
	}
	e = e.uv(uint64(len(ch.Customers)))
	for _, c := range ch.Customers {
		e = e.str(c.ID).strs(c.IDs).iv(c.FirstSeen).iv(c.LastSeen).uv(uint64(c.Events)).strs(c.Channels).
			str(c.Stage).uv(uint64(c.Purchases)).f64(c.Revenue).strs(c.Segments)
	}
	e = e.uv(uint64(len(ch.Gone)))
	for _, id := range ch.Gone {
		e = e.str(id)
	}
	e = e.uv(uint64(len(ch.Identifiers)))
	for _, id := range ch.Identifiers {
		e = e.str(id.Type).str(id.Value).str(id.CustomerID)
	}
	var merges []state.Merge
	var conflicts []state.Conflict
	if res != nil {
		merges, conflicts = res.Merges, res.Conflicts
	}
	e = e.uv(uint64(len(merges)))
	for _, m := range merges {
		e = e.str(m.Absorbed).str(m.Survivor).str(m.Via).iv(m.At).str(m.EventID)
	}
	e = e.uv(uint64(len(conflicts)))
	for _, c := range conflicts {
		e = e.str(c.Customer).str(c.IDType).str(c.IDValue).str(c.Reason).iv(c.At).str(c.EventID)
	}
	var triggers []state.Trigger
	if res != nil {
		triggers = res.Triggers
	}
	e = e.uv(uint64(len(triggers)))
	for _, g := range triggers {
		e = e.str(g.ID).str(g.Rule).str(g.Customer).iv(g.FiredAt).strs(g.EventIDs)
	}
	// Tombstones for the log rows a forget erased: their keys, nothing more.
	var er state.Erased
	var audits []state.Audit
	if res != nil {
		if res.Erased != nil {
			er = *res.Erased
		}
		audits = res.Audits
	}
	e = e.uv(uint64(len(er.Merges)))
	for _, m := range er.Merges {
		e = e.str(m.Absorbed).str(m.Survivor).str(m.EventID)
	}
	e = e.uv(uint64(len(er.Conflicts)))
	for _, c := range er.Conflicts {
		e = e.str(c.EventID).str(c.IDType).str(c.IDValue).str(c.Customer)
	}
	e = e.uv(uint64(len(er.Triggers)))
	for _, g := range er.Triggers {
		e = e.str(g.ID).str(g.Customer)
	}
	e = e.strs(er.Customers).strs(er.Identifiers)
	e = e.uv(uint64(len(audits)))
	for _, a := range audits {
		e = e.str(a.RequestID).str(a.Op).str(a.Customer).str(a.Resolved).str(a.IDType).str(a.Status).
			str(a.Actor).iv(a.Events).strs(a.Parts).iv(a.At)
	}
	return e
}

// Empty reports whether a batch has no rows for the sink.
func Empty(ch *stitch.Changes, res *stitch.Result) bool {
	n := len(ch.Journeys) + len(ch.Removed) + len(ch.Customers) + len(ch.Gone) + len(ch.Identifiers) +
		len(res.Merges) + len(res.Conflicts) + len(res.Triggers) + len(res.Audits)
	if er := res.Erased; er != nil {
		n += len(er.Merges) + len(er.Conflicts) + len(er.Triggers)
	}
	return n == 0
}

// columns hold rows decoded from the outbox, column by column as the
// native protocol sends them. Rows are coalesced: a later batch's row for a
// key already held (a profile touched again, a journey row renumbered again)
// replaces the earlier one, whose version is lower. What ClickHouse would
// keep anyway is all it is sent, and under load that is far fewer rows.
type columns struct {
	journeys   journeyCols
	profiles   profileCols
	identities identityCols
	merges     mergeCols
	conflicts  conflictCols
	triggers   triggerCols
	audits     auditCols
	purge      purge

	jIdx, pIdx, iIdx map[string]int // key → row index, per coalesced table
}

type journeyCols struct {
	customerID, eventID           []string
	seq                           []uint32
	eventTime                     []time.Time
	tsMS                          []int64
	channel, typ, stage, prevChan []string
	secsSincePrev                 []float64
	props                         []string
	version                       []uint64
	deleted                       []uint8
}

// slot returns the row index for key, adding a row when the key is new.
func (j *journeyCols) slot(idx map[string]int, key string) int {
	if i, ok := idx[key]; ok {
		return i
	}
	i := len(j.customerID)
	idx[key] = i
	j.customerID, j.eventID = append(j.customerID, ""), append(j.eventID, "")
	j.seq, j.eventTime, j.tsMS = append(j.seq, 0), append(j.eventTime, time.Time{}), append(j.tsMS, 0)
	j.channel, j.typ, j.stage, j.prevChan = append(j.channel, ""), append(j.typ, ""), append(j.stage, ""), append(j.prevChan, "")
	j.secsSincePrev, j.props = append(j.secsSincePrev, 0), append(j.props, "")
	j.version, j.deleted = append(j.version, 0), append(j.deleted, 0)
	return i
}

type profileCols struct {
	customerID          []string
	ids                 [][]string
	firstSeen, lastSeen []time.Time
	events              []uint64
	channels            [][]string
	stage               []string
	purchases           []uint64
	revenue             []float64
	segments            [][]string
	updatedAt           []time.Time
	version             []uint64
	deleted             []uint8
}

func (p *profileCols) slot(idx map[string]int, key string) int {
	if i, ok := idx[key]; ok {
		return i
	}
	i := len(p.customerID)
	idx[key] = i
	p.customerID, p.ids = append(p.customerID, ""), append(p.ids, nil)
	p.firstSeen, p.lastSeen, p.events = append(p.firstSeen, time.Time{}), append(p.lastSeen, time.Time{}), append(p.events, 0)
	p.channels, p.stage, p.purchases, p.revenue = append(p.channels, nil), append(p.stage, ""), append(p.purchases, 0), append(p.revenue, 0)
	p.segments, p.updatedAt = append(p.segments, nil), append(p.updatedAt, time.Time{})
	p.version, p.deleted = append(p.version, 0), append(p.deleted, 0)
	return i
}

type identityCols struct {
	idType, idValue, customerID []string
	version                     []uint64
	deleted                     []uint8
}

func (c *identityCols) slot(idx map[string]int, key string) int {
	if i, ok := idx[key]; ok {
		return i
	}
	i := len(c.idType)
	idx[key] = i
	c.idType, c.idValue, c.customerID = append(c.idType, ""), append(c.idValue, ""), append(c.customerID, "")
	c.version, c.deleted = append(c.version, 0), append(c.deleted, 0)
	return i
}

type mergeCols struct {
	absorbed, survivor, via []string
	mergedAt                []time.Time
	eventID                 []string
	version                 []uint64
	deleted                 []uint8
}

type conflictCols struct {
	customerID, idType, idValue, reason []string
	at                                  []time.Time
	eventID                             []string
	version                             []uint64
	deleted                             []uint8
}

type triggerCols struct {
	triggerID, rule, customerID []string
	firedAt                     []time.Time
	eventIDs                    [][]string
	version                     []uint64
	deleted                     []uint8
}

// purge is what forgets in the rows ask to remove from the base tables
// for good, beyond the tombstones that hide it from the views.
type purge struct {
	customers   []string
	identifiers []string // "type:value"
	version     uint64   // of the batch that asked: its tombstones' version
}

type auditCols struct {
	requestID, op, customerID, resolvedID, idType, status, actor []string
	events                                                       []uint64
	parts                                                        [][]string
	requestedAt                                                  []time.Time
	version                                                      []uint64
}

// rows is the number of rows held, over all tables.
func (c *columns) rows() int {
	return len(c.journeys.customerID) + len(c.profiles.customerID) + len(c.identities.idType) +
		len(c.merges.absorbed) + len(c.conflicts.eventID) + len(c.triggers.triggerID) + len(c.audits.requestID)
}

var errFormat = errors.New("clickhouse: corrupt row batch")

var emptyProps = "{}"

// decode adds the rows of one outbox record. Records must come in outbox
// order, so that a key's last row is its newest.
func (c *columns) decode(b []byte) error {
	if c.jIdx == nil {
		c.jIdx, c.pIdx, c.iIdx = map[string]int{}, map[string]int{}, map[string]int{}
	}
	// The strings of a batch are cut from one copy of it rather than
	// allocated one by one (ten or so per row, half of the writer's
	// allocations): they live as long as the round's columns, which is
	// as long as the copy lives.
	d := &dec{b: b, s: string(b)}
	f := d.byte()
	if f < 1 || f > rowsFormat {
		return fmt.Errorf("%w: format %d", errFormat, f)
	}
	v := d.uv()
	j := &c.journeys
	for n := d.count(); n > 0 && !d.err; n-- {
		// A row's key is the encoded pair as it stands in the batch:
		// length-prefixed, so no other pair encodes alike.
		at := d.off()
		cust, eid := d.str(), d.str()
		i := j.slot(c.jIdx, d.since(at))
		j.customerID[i], j.eventID[i] = cust, eid
		j.seq[i] = uint32(d.uv())
		ts := d.iv()
		j.eventTime[i], j.tsMS[i] = dateTime(ts), ts
		j.channel[i], j.typ[i], j.stage[i], j.prevChan[i] = d.str(), d.str(), d.str(), d.str()
		j.secsSincePrev[i] = d.f64()
		props := d.str()
		if props == "" {
			props = emptyProps
		}
		j.props[i] = props
		j.version[i], j.deleted[i] = v, 0
	}
	for n := d.count(); n > 0 && !d.err; n-- {
		at := d.off()
		cust, eid := d.str(), d.str()
		i := j.slot(c.jIdx, d.since(at))
		j.customerID[i], j.eventID[i] = cust, eid
		j.seq[i], j.eventTime[i], j.tsMS[i] = 0, dateTime(0), 0
		j.channel[i], j.typ[i], j.stage[i], j.prevChan[i] = "", "", "", ""
		j.secsSincePrev[i], j.props[i] = 0, emptyProps
		j.version[i], j.deleted[i] = v, 1
	}
	p := &c.profiles
	for n := d.count(); n > 0 && !d.err; n-- {
		id := d.str()
		i := p.slot(c.pIdx, id)
		p.customerID[i], p.ids[i] = id, d.strs()
		first, last := d.iv(), d.iv()
		p.firstSeen[i], p.lastSeen[i] = dateTime(first), dateTime(last)
		p.events[i], p.channels[i], p.stage[i], p.purchases[i] = d.uv(), d.strs(), d.str(), d.uv()
		// Sums in varying order differ in the last bits; four decimals
		// hide that and keep every real cent (as the offline output does).
		p.revenue[i] = math.Round(d.f64()*1e4) / 1e4
		p.segments[i] = []string{}
		if f >= 2 {
			p.segments[i] = d.strs()
		}
		// A function of the profile alone, so that replays and restarts
		// give the same row: the time of the customer's latest event.
		p.updatedAt[i] = dateTime(last)
		p.version[i], p.deleted[i] = v, 0
	}
	for n := d.count(); n > 0 && !d.err; n-- {
		id := d.str()
		i := p.slot(c.pIdx, id)
		p.customerID[i], p.ids[i] = id, []string{}
		p.firstSeen[i], p.lastSeen[i], p.events[i] = dateTime(0), dateTime(0), 0
		p.channels[i], p.stage[i], p.purchases[i], p.revenue[i] = []string{}, "", 0, 0
		p.segments[i], p.updatedAt[i] = []string{}, dateTime(0)
		p.version[i], p.deleted[i] = v, 1
	}
	id := &c.identities
	for n := d.count(); n > 0 && !d.err; n-- {
		at := d.off()
		typ, val := d.str(), d.str()
		i := id.slot(c.iIdx, d.since(at))
		cust := d.str()
		id.idType[i], id.idValue[i], id.customerID[i] = typ, val, cust
		// An identifier that links nobody any more (shared) leaves the map.
		id.version[i], id.deleted[i] = v, b2u(cust == "")
	}
	m := &c.merges
	for n := d.count(); n > 0 && !d.err; n-- {
		m.absorbed = append(m.absorbed, d.str())
		m.survivor = append(m.survivor, d.str())
		m.via = append(m.via, d.str())
		m.mergedAt = append(m.mergedAt, dateTime(d.iv()))
		m.eventID = append(m.eventID, d.str())
		m.version = append(m.version, v)
		m.deleted = append(m.deleted, 0)
	}
	x := &c.conflicts
	for n := d.count(); n > 0 && !d.err; n-- {
		x.customerID = append(x.customerID, d.str())
		x.idType = append(x.idType, d.str())
		x.idValue = append(x.idValue, d.str())
		x.reason = append(x.reason, d.str())
		x.at = append(x.at, dateTime(d.iv()))
		x.eventID = append(x.eventID, d.str())
		x.version = append(x.version, v)
		x.deleted = append(x.deleted, 0)
	}
	g := &c.triggers
	if len(d.b) > 0 { // absent from batches written before triggers
		for n := d.count(); n > 0 && !d.err; n-- {
			g.triggerID = append(g.triggerID, d.str())
			g.rule = append(g.rule, d.str())
			g.customerID = append(g.customerID, d.str())
			g.firedAt = append(g.firedAt, dateTime(d.iv()))
			g.eventIDs = append(g.eventIDs, d.strs())
			g.version = append(g.version, v)
			g.deleted = append(g.deleted, 0)
		}
	}
	if f >= 3 {
		for n := d.count(); n > 0 && !d.err; n-- {
			m.absorbed = append(m.absorbed, d.str())
			m.survivor = append(m.survivor, d.str())
			m.eventID = append(m.eventID, d.str())
			m.via, m.mergedAt = append(m.via, ""), append(m.mergedAt, dateTime(0))
			m.version, m.deleted = append(m.version, v), append(m.deleted, 1)
		}
		// Tombstones keep the customer id, so that the purge of a
		// forgotten customer (see Writer.purge) takes them too.
		for n := d.count(); n > 0 && !d.err; n-- {
			x.eventID = append(x.eventID, d.str())
			x.idType = append(x.idType, d.str())
			x.idValue = append(x.idValue, d.str())
			x.customerID = append(x.customerID, d.str())
			x.reason, x.at = append(x.reason, ""), append(x.at, dateTime(0))
			x.version, x.deleted = append(x.version, v), append(x.deleted, 1)
		}
		for n := d.count(); n > 0 && !d.err; n-- {
			g.triggerID = append(g.triggerID, d.str())
			g.customerID = append(g.customerID, d.str())
			g.rule, g.firedAt = append(g.rule, ""), append(g.firedAt, dateTime(0))
			g.eventIDs = append(g.eventIDs, []string{})
			g.version, g.deleted = append(g.version, v), append(g.deleted, 1)
		}
		if forgotten := d.strs(); len(forgotten) > 0 {
			c.purge.customers = append(c.purge.customers, forgotten...)
			c.purge.version = v
		}
		c.purge.identifiers = append(c.purge.identifiers, d.strs()...)
		a := &c.audits
		for n := d.count(); n > 0 && !d.err; n-- {
			a.requestID = append(a.requestID, d.str())
			a.op = append(a.op, d.str())
			a.customerID = append(a.customerID, d.str())
			a.resolvedID = append(a.resolvedID, d.str())
			a.idType = append(a.idType, d.str())
			a.status = append(a.status, d.str())
			a.actor = append(a.actor, d.str())
			a.events = append(a.events, uint64(max(0, d.iv())))
			a.parts = append(a.parts, d.strs())
			a.requestedAt = append(a.requestedAt, dateTime(d.iv()))
			a.version = append(a.version, v)
		}
	}
	if d.err || len(d.b) != 0 {
		return errFormat
	}
	return nil
}

// dateTime converts event time in ms to a DateTime value. DateTime holds
// seconds from 1970 to 2106 as UInt32; times outside are clamped (ts_ms
// keeps the exact value).
func dateTime(ms int64) time.Time {
	s := ms / 1000
	if ms < 0 && ms%1000 != 0 {
		s--
	}
	s = max(0, min(s, math.MaxUint32))
	return time.Unix(s, 0).UTC()
}

func b2u(b bool) uint8 {
	if b {
		return 1
	}
	return 0
}

type enc []byte

func (e enc) uv(v uint64) enc   { return binary.AppendUvarint(e, v) }
func (e enc) iv(v int64) enc    { return binary.AppendVarint(e, v) }
func (e enc) f64(v float64) enc { return binary.LittleEndian.AppendUint64(e, math.Float64bits(v)) }
func (e enc) str(s string) enc  { return append(e.uv(uint64(len(s))), s...) }
func (e enc) bytes(b []byte) enc {
	return append(e.uv(uint64(len(b))), b...)
}
func (e enc) strs(ss []string) enc {
	e = e.uv(uint64(len(ss)))
	for _, s := range ss {
		e = e.str(s)
	}
	return e
}

type dec struct {
	b   []byte
	s   string // when set, what b held at the start: strings are cut from it
	err bool
}

// off is how far the decoder has read (of s).
func (d *dec) off() int { return len(d.s) - len(d.b) }

// since returns what was read from offset at on, as a string cut from s
// ("" after an error).
func (d *dec) since(at int) string {
	if d.err {
		return ""
	}
	return d.s[at:d.off()]
}

func (d *dec) fail() { d.err, d.b = true, nil }

func (d *dec) byte() byte {
	if len(d.b) == 0 {
		d.fail()
		return 0
	}
	c := d.b[0]
	d.b = d.b[1:]
	return c
}

func (d *dec) uv() uint64 {
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.fail()
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *dec) iv() int64 {
	v, n := binary.Varint(d.b)
	if n <= 0 {
		d.fail()
		return 0
	}
	d.b = d.b[n:]
	return v
}

// count reads a list length; one larger than the bytes left cannot be
// right, and would make a corrupt record allocate without bound.
func (d *dec) count() uint64 {
	n := d.uv()
	if n > uint64(len(d.b)) {
		d.fail()
		return 0
	}
	return n
}

func (d *dec) f64() float64 {
	if len(d.b) < 8 {
		d.fail()
		return 0
	}
	v := math.Float64frombits(binary.LittleEndian.Uint64(d.b))
	d.b = d.b[8:]
	return v
}

func (d *dec) str() string {
	n := d.uv()
	if n > uint64(len(d.b)) {
		d.fail()
		return ""
	}
	var s string
	if d.s != "" {
		at := d.off()
		s = d.s[at : at+int(n)]
	} else {
		s = string(d.b[:n])
	}
	d.b = d.b[n:]
	return s
}

func (d *dec) strs() []string {
	n := d.count()
	ss := make([]string, 0, n)
	for ; n > 0 && !d.err; n-- {
		ss = append(ss, d.str())
	}
	return ss
}
