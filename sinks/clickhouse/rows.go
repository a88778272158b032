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
const rowsFormat = 1

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
			str(c.Stage).uv(uint64(c.Purchases)).f64(c.Revenue)
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
	return e
}

// columns hold rows decoded from the outbox, column by column as the
// native protocol sends them.
type columns struct {
	journeys   journeyCols
	profiles   profileCols
	identities identityCols
	merges     mergeCols
	conflicts  conflictCols
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

type identityCols struct {
	idType, idValue, customerID []string
	version                     []uint64
	deleted                     []uint8
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

// rows is the number of rows held, over all tables.
func (c *columns) rows() int {
	return len(c.journeys.customerID) + len(c.profiles.customerID) + len(c.identities.idType) +
		len(c.merges.absorbed) + len(c.conflicts.eventID)
}

var errFormat = errors.New("clickhouse: corrupt row batch")

var emptyProps = "{}"

// decode appends the rows of one outbox record.
func (c *columns) decode(b []byte) error {
	d := &dec{b: b}
	if f := d.byte(); f != rowsFormat {
		return fmt.Errorf("%w: format %d", errFormat, f)
	}
	v := d.uv()
	j := &c.journeys
	for n := d.count(); n > 0 && !d.err; n-- {
		j.customerID = append(j.customerID, d.str())
		j.eventID = append(j.eventID, d.str())
		j.seq = append(j.seq, uint32(d.uv()))
		ts := d.iv()
		j.eventTime = append(j.eventTime, dateTime(ts))
		j.tsMS = append(j.tsMS, ts)
		j.channel = append(j.channel, d.str())
		j.typ = append(j.typ, d.str())
		j.stage = append(j.stage, d.str())
		j.prevChan = append(j.prevChan, d.str())
		j.secsSincePrev = append(j.secsSincePrev, d.f64())
		props := d.str()
		if props == "" {
			props = emptyProps
		}
		j.props = append(j.props, props)
		j.version = append(j.version, v)
		j.deleted = append(j.deleted, 0)
	}
	for n := d.count(); n > 0 && !d.err; n-- {
		j.customerID = append(j.customerID, d.str())
		j.eventID = append(j.eventID, d.str())
		j.seq = append(j.seq, 0)
		j.eventTime = append(j.eventTime, dateTime(0))
		j.tsMS = append(j.tsMS, 0)
		j.channel = append(j.channel, "")
		j.typ = append(j.typ, "")
		j.stage = append(j.stage, "")
		j.prevChan = append(j.prevChan, "")
		j.secsSincePrev = append(j.secsSincePrev, 0)
		j.props = append(j.props, emptyProps)
		j.version = append(j.version, v)
		j.deleted = append(j.deleted, 1)
	}
	p := &c.profiles
	for n := d.count(); n > 0 && !d.err; n-- {
		p.customerID = append(p.customerID, d.str())
		p.ids = append(p.ids, d.strs())
		first, last := d.iv(), d.iv()
		p.firstSeen = append(p.firstSeen, dateTime(first))
		p.lastSeen = append(p.lastSeen, dateTime(last))
		p.events = append(p.events, d.uv())
		p.channels = append(p.channels, d.strs())
		p.stage = append(p.stage, d.str())
		p.purchases = append(p.purchases, d.uv())
		// Sums in varying order differ in the last bits; four decimals
		// hide that and keep every real cent (as the offline output does).
		p.revenue = append(p.revenue, math.Round(d.f64()*1e4)/1e4)
		p.segments = append(p.segments, []string{})
		// A function of the profile alone, so that replays and restarts
		// give the same row: the time of the customer's latest event.
		p.updatedAt = append(p.updatedAt, dateTime(last))
		p.version = append(p.version, v)
		p.deleted = append(p.deleted, 0)
	}
	for n := d.count(); n > 0 && !d.err; n-- {
		p.customerID = append(p.customerID, d.str())
		p.ids = append(p.ids, []string{})
		p.firstSeen = append(p.firstSeen, dateTime(0))
		p.lastSeen = append(p.lastSeen, dateTime(0))
		p.events = append(p.events, 0)
		p.channels = append(p.channels, []string{})
		p.stage = append(p.stage, "")
		p.purchases = append(p.purchases, 0)
		p.revenue = append(p.revenue, 0)
		p.segments = append(p.segments, []string{})
		p.updatedAt = append(p.updatedAt, dateTime(0))
		p.version = append(p.version, v)
		p.deleted = append(p.deleted, 1)
	}
	id := &c.identities
	for n := d.count(); n > 0 && !d.err; n-- {
		id.idType = append(id.idType, d.str())
		id.idValue = append(id.idValue, d.str())
		cust := d.str()
		id.customerID = append(id.customerID, cust)
		id.version = append(id.version, v)
		// An identifier that links nobody any more (shared) leaves the map.
		id.deleted = append(id.deleted, b2u(cust == ""))
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
	err bool
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
	s := string(d.b[:n])
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
