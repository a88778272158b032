// Package gen generates deterministic omnichannel customer-event traffic (SPEC "Canonical event"
// JSON lines) together with its ground truth, for stitching-accuracy tests and benchmarks.
//
// The population is a fixed set of persons with personas (anonymous browsers, web buyers, store
// loyalty members, omnichannel customers, call-centre complainers). Every person's identifiers are
// linked through events that carry two or more of them, no two persons share an identifier except
// the deliberately shared store tablets, and per-type counts stay within the SPEC merge limits; so
// the truth group of an event (its person) is exactly what perfect deterministic identifier
// stitching yields. On top of the clean stream the generator adds what production brings: phone
// and e-mail spelling variants, junk identifiers, shared store tablets, late store uploads,
// redeliveries and malformed lines (all off with Options.Clean except the spelling variants).
//
// Output depends only on Options: same Options, byte-identical records in the same order.
package gen

import (
	"bytes"
	"math"
	"math/rand/v2"
	"strconv"
	"time"
)

// Options configures a Generator. Zero values mean defaults.
type Options struct {
	Seed      uint64
	Customers int       // number of real persons (default 1000 if 0)
	Events    int       // approx. number of valid events to generate (default 20*Customers if 0); every person emits at least one
	Start     time.Time // event time of the first event (default 2026-11-01T00:00:00Z)
	// Shares of records, each in [0,1]; zero values mean the defaults in brackets, and a negative
	// value means none at all.
	MalformedShare float64 // [0.005] lines that are not valid events: broken JSON, missing event_id/channel/type/ts/ids, unparseable ts, ids all junk
	DuplicateShare float64 // [0.01]  a valid line emitted again later with the same event_id (redelivery)
	LateShare      float64 // [0.05]  store events emitted 1-48 hours after their event time (late store uploads)
	Clean          bool    // when true, no malformed, duplicate, late, junk or shared-tablet traffic at all (for pure speed benchmarks)
}

// Record is one line of canonical-event JSON (SPEC "Canonical event") with its ground truth.
type Record struct {
	Line     []byte // one JSON object, no trailing newline
	EventID  string // "" when the line has none or is not JSON
	Valid    bool   // false: a correct engine must dead-letter this line
	Dup      bool   // true: a redelivery of an earlier valid line (same event_id); a correct engine drops it
	Truth    int    // for valid, non-dup lines: the ground-truth group (the person's index); -1 otherwise
	TSMillis int64  // event time of valid lines (also set on duplicates); 0 on invalid lines
}

const (
	defaultMalformedShare = 0.005
	defaultDuplicateShare = 0.01
	defaultLateShare      = 0.05

	meanGapMillis = 3000 // average spacing of events in the stream
	junkShare     = 0.04 // valid events that also carry one junk identifier
	maxDupLag     = 300  // a redelivery arrives within this many records of the original
	hourMillis    = 3_600_000

	// Each shared tablet is used by at least this many persons: comfortably above the SPEC's
	// shared_after=3, so a correct engine always ends up marking it shared.
	minTabletPersons = 6
)

var (
	defaultStart = time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	cet          = time.FixedZone("CET", 3600) // Germany in November; fixed so no tzdata is needed
)

func share(v, def float64) float64 {
	switch {
	case v == 0:
		return def
	case v < 0:
		return 0
	case v > 1:
		return 1
	}
	return v
}

// Generator produces the stream record by record; it holds O(persons) state plus the small
// queues of pending late uploads and redeliveries, so long benchmark streams need not fit in memory.
type Generator struct {
	o                               Options
	rng                             *rand.Rand
	noisy                           bool // junk identifiers and shared tablets
	malformedP, dupP, lateP         float64
	startMs                         int64
	horizon                         int64 // no event after this offset is generated
	persons                         []person
	queue                           minHeap[int32] // persons by next event time
	ids                             idAlloc
	nStores, nTablets               int
	posSeq                          []uint64
	ccSeq, orderSeq, msgSeq         uint64
	clock                           int64
	pend                            simEvent
	hasPend                         bool
	validSeen                       bool
	late                            minHeap[queued]
	dups                            minHeap[queued]
	emitted                         int64
	seq                             uint64
	tsBuf, idsBuf, propsBuf, valBuf []byte
}

type simEvent struct {
	rec Record
	ch  channel
	t   int64
}

// queued is a record waiting in the late-upload queue (due: arrival time offset) or the
// redelivery queue (due: record index); seq keeps equal dues in insertion order.
type queued struct {
	due, seq int64
	rec      Record
}

func queuedLess(a, b queued) bool { return a.due < b.due || (a.due == b.due && a.seq < b.seq) }

// New prepares a generator: the population with identifiers, scripts, start times and activity.
func New(o Options) *Generator {
	if o.Customers <= 0 {
		o.Customers = 1000
	}
	if o.Events <= 0 {
		o.Events = 20 * o.Customers
	}
	if o.Start.IsZero() {
		o.Start = defaultStart
	}
	g := &Generator{
		o:       o,
		rng:     rand.New(rand.NewPCG(o.Seed, mix64(o.Seed^0x5851f42d4c957f2d))),
		noisy:   !o.Clean,
		startMs: o.Start.UnixMilli(),
		horizon: int64(o.Events) * meanGapMillis,
		ids:     newIDAlloc(o.Seed),
	}
	if !o.Clean {
		g.malformedP = share(o.MalformedShare, defaultMalformedShare)
		g.dupP = share(o.DuplicateShare, defaultDuplicateShare)
		g.lateP = share(o.LateShare, defaultLateShare)
	}
	g.late.less = queuedLess
	g.dups.less = queuedLess
	g.setup()
	return g
}

// All generates everything (convenience for tests).
func All(o Options) []Record {
	g := New(o)
	var out []Record
	for {
		r, ok := g.Next()
		if !ok {
			return out
		}
		out = append(out, r)
	}
}

func (g *Generator) setup() {
	n := g.o.Customers
	r := g.rng
	kinds := stratify(n)
	r.Shuffle(n, func(i, j int) { kinds[i], kinds[j] = kinds[j], kinds[i] })
	g.persons = make([]person, n)
	for i := range g.persons {
		p := &g.persons[i]
		p.idx, p.kind = i, kinds[i]
		switch p.kind {
		case omnichannel:
			p.storeSide = r.Float64() < 0.4
		case complainer:
			p.storeSide = r.Float64() < 0.5
		}
	}

	// Shared store tablets: a share of the store-side persons is forced to start on a tablet,
	// round-robin, so each tablet has at least minTabletPersons distinct persons.
	g.nStores = min(max(n/40, 3), 60)
	var cands []int
	for i := range g.persons {
		p := &g.persons[i]
		if p.kind == storeMember || p.kind == omnichannel || (p.kind == complainer && p.storeSide) {
			cands = append(cands, i)
		}
	}
	if g.noisy && len(cands) >= minTabletPersons {
		k := min(max(len(cands)/60, 1), 8)
		per := max(minTabletPersons, len(cands)*15/100/k)
		g.nTablets = k
		g.nStores = max(g.nStores, k)
		perm := r.Perm(len(cands))
		for j := range k * per {
			p := &g.persons[cands[perm[j]]]
			p.tablet, p.home = true, j%k
			if p.kind == omnichannel {
				p.storeSide = true
			}
		}
	}
	g.posSeq = make([]uint64, g.nStores)
	for i := range g.persons {
		p := &g.persons[i]
		if !p.tablet {
			p.home = r.IntN(g.nStores)
		}
		g.initPerson(p)
	}

	// Activity: persons start in the first half of the span (the earliest exactly at Start) and
	// then emit events at persona-dependent rates, calibrated so the expected total is Events.
	minS := int64(math.MaxInt64)
	for i := range g.persons {
		p := &g.persons[i]
		p.next = int64(r.Float64() * 0.5 * float64(g.horizon))
		minS = min(minS, p.next)
	}
	w := make([]float64, n)
	den := 0.0
	for i := range g.persons {
		p := &g.persons[i]
		p.next -= minS
		w[i] = personaActivity[p.kind] * math.Exp(0.6*r.NormFloat64())
		den += w[i] * float64(g.horizon-p.next)
	}
	if extra := float64(g.o.Events - n); extra > 0 && den > 0 {
		c := extra / den
		for i := range g.persons {
			g.persons[i].gap = 1 / (c * w[i])
		}
	}
	g.queue.less = func(a, b int32) bool {
		pa, pb := &g.persons[a], &g.persons[b]
		return pa.next < pb.next || (pa.next == pb.next && a < b)
	}
	for i := range g.persons {
		g.queue.push(int32(i))
	}
}

// stratify assigns personas in exact proportions (largest remainder), so even 20 persons get
// every persona.
func stratify(n int) []persona {
	var counts [numPersonas]int
	var rem [numPersonas]float64
	total := 0
	for k := range counts {
		exact := personaShare[k] * float64(n)
		counts[k] = int(exact)
		rem[k] = exact - float64(counts[k])
		total += counts[k]
	}
	for ; total < n; total++ {
		best := 0
		for k := range rem {
			if rem[k] > rem[best] {
				best = k
			}
		}
		counts[best]++
		rem[best] = -1
	}
	out := make([]persona, 0, n)
	for k, c := range counts {
		for range c {
			out = append(out, persona(k))
		}
	}
	return out
}

// nextGap draws the time to the person's next event: sessions of closely spaced events separated
// by long pauses, with the overall mean equal to the person's calibrated gap.
func (g *Generator) nextGap(p *person) int64 {
	if p.gap <= 0 {
		return -1
	}
	const session = 45_000.0
	var d float64
	if p.gap > 4*session {
		if g.rng.Float64() < 0.6 {
			d = session * g.rng.ExpFloat64()
		} else {
			d = (p.gap - 0.6*session) / 0.4 * g.rng.ExpFloat64()
		}
	} else {
		d = p.gap * g.rng.ExpFloat64()
	}
	return max(1, int64(d))
}

// peek returns the next event of the time-ordered simulation (without consuming it), or nil when
// the simulation has passed its horizon.
func (g *Generator) peek() *simEvent {
	if g.hasPend {
		return &g.pend
	}
	if g.queue.len() == 0 {
		return nil
	}
	pi := g.queue.top()
	p := &g.persons[pi]
	if p.next > g.horizon {
		g.queue.s = g.queue.s[:0]
		return nil
	}
	t := p.next
	g.clock = t
	ev := g.personEvent(p)
	g.pend = simEvent{rec: g.render(p, &ev, t), ch: ev.ch, t: t}
	g.hasPend = true
	if d := g.nextGap(p); d < 0 {
		g.queue.pop()
	} else {
		p.next = t + d
		g.queue.fixTop()
	}
	return &g.pend
}

// Next returns the next record in arrival order; ok=false when done. Deterministic for a given Options.
//
// Arrival order interleaves four sources: due redeliveries, malformed lines (only while the
// simulation runs), late store uploads whose arrival time has come, and the time-ordered
// simulation itself. After the simulation ends, the queues are flushed in due order.
func (g *Generator) Next() (Record, bool) {
	if g.dups.len() > 0 && g.dups.top().due <= g.emitted {
		return g.emit(g.dups.pop().rec), true
	}
	if g.malformedP > 0 && g.peek() != nil && g.rng.Float64() < g.malformedP {
		return g.emit(g.malformed()), true
	}
	for {
		ev := g.peek()
		if g.late.len() > 0 && (ev == nil || g.late.top().due <= ev.t) {
			rec := g.late.pop().rec
			g.maybeDup(rec)
			return g.emit(rec), true
		}
		if ev == nil {
			if g.dups.len() > 0 {
				return g.emit(g.dups.pop().rec), true
			}
			return Record{}, false
		}
		g.hasPend = false
		// The very first event is never held back, so the stream starts at Options.Start.
		if ev.ch == chStore && g.validSeen && g.lateP > 0 && g.rng.Float64() < g.lateP {
			delay := hourMillis + g.rng.Int64N(47*hourMillis)
			g.late.push(queued{due: ev.t + delay, seq: g.nextSeq(), rec: ev.rec})
			continue
		}
		g.validSeen = true
		g.maybeDup(ev.rec)
		return g.emit(ev.rec), true
	}
}

func (g *Generator) nextSeq() int64 { g.seq++; return int64(g.seq) }

func (g *Generator) emit(r Record) Record {
	g.emitted++
	return r
}

// maybeDup schedules a redelivery of a valid record that is about to be emitted; its own copy of
// the bytes, so a consumer that reuses Line buffers cannot corrupt the copy.
func (g *Generator) maybeDup(r Record) {
	if g.dupP <= 0 || g.rng.Float64() >= g.dupP {
		return
	}
	d := r
	d.Line = bytes.Clone(r.Line)
	d.Dup, d.Truth = true, -1
	g.dups.push(queued{due: g.emitted + 1 + g.rng.Int64N(maxDupLag), seq: g.nextSeq(), rec: d})
}

// ---- rendering ----

type fields struct {
	eventID, channel, typ string
	ts, ids, props        []byte // raw JSON values; props omitted when empty
	omit                  uint8
}

const (
	omitEventID uint8 = 1 << iota
	omitChannel
	omitType
	omitTS
	omitIDs
)

func appendKey(b []byte, n *int, key string) []byte {
	if *n > 0 {
		b = append(b, ',')
	}
	*n++
	b = append(b, '"')
	b = append(b, key...)
	return append(b, '"', ':')
}

func appendLine(b []byte, f *fields) []byte {
	b = append(b, '{')
	n := 0
	if f.omit&omitEventID == 0 {
		b = appendJSONString(appendKey(b, &n, "event_id"), f.eventID)
	}
	if f.omit&omitChannel == 0 {
		b = appendJSONString(appendKey(b, &n, "channel"), f.channel)
	}
	if f.omit&omitType == 0 {
		b = appendJSONString(appendKey(b, &n, "type"), f.typ)
	}
	if f.omit&omitTS == 0 {
		b = append(appendKey(b, &n, "ts"), f.ts...)
	}
	if f.omit&omitIDs == 0 {
		b = append(appendKey(b, &n, "ids"), f.ids...)
	}
	if len(f.props) > 0 {
		b = append(appendKey(b, &n, "props"), f.props...)
	}
	return append(b, '}')
}

// appendJSONString writes s as a JSON string: quotes, backslashes and control characters escaped,
// everything else (including UTF-8) verbatim.
func appendJSONString(b []byte, s string) []byte {
	b = append(b, '"')
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '"' || c == '\\':
			b = append(b, '\\', c)
		case c < 0x20:
			b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&15])
		default:
			b = append(b, c)
		}
	}
	return append(b, '"')
}

func (g *Generator) render(p *person, ev *event, t int64) Record {
	ms := g.startMs + t
	eid := g.newEventID(ev.ch, ev.store)
	g.tsBuf = g.appendTS(g.tsBuf[:0], ev.ch, ms)
	g.idsBuf = g.appendIDs(g.idsBuf[:0], p, ev)
	g.propsBuf = g.appendProps(g.propsBuf[:0], p, ev)
	f := fields{eventID: eid, channel: channelName[ev.ch], typ: evTypeName[ev.typ], ts: g.tsBuf, ids: g.idsBuf, props: g.propsBuf}
	line := appendLine(make([]byte, 0, 64+len(eid)+len(g.tsBuf)+len(g.idsBuf)+len(g.propsBuf)), &f)
	return Record{Line: line, EventID: eid, Valid: true, Truth: p.idx, TSMillis: ms}
}

func appendStore(b []byte, s int) []byte { return appendPadded(append(b, 'S'), uint64(s+1), 2) }

// newEventID gives each source its own id scheme, as real sources have: random hit ids on the
// web and at the ESP, per-store receipt numbers at the tills, a ticket sequence in the call centre.
func (g *Generator) newEventID(ch channel, store int) string {
	var buf [40]byte
	b := buf[:0]
	switch ch {
	case chWeb:
		b = appendHex16(append(b, "web-"...), g.ids.hex64(nsWebEvent))
	case chStore:
		b = append(appendStore(append(b, "pos-"...), store), '-')
		b = appendPadded(b, g.posSeq[store], 6)
		g.posSeq[store]++
	case chCallcentre:
		g.ccSeq++
		b = appendPadded(append(b, "cc-"...), g.ccSeq, 9)
	default:
		b = appendHex16(append(b, "esp-"...), g.ids.hex64(nsESPEvent))
	}
	return string(b)
}

// appendTS writes the event time mostly as RFC 3339 UTC with milliseconds, sometimes with a
// +01:00 offset, sometimes as integer epoch milliseconds (the call-centre export mostly so).
func (g *Generator) appendTS(b []byte, ch channel, ms int64) []byte {
	epoch := 0.04
	if ch == chCallcentre {
		epoch = 0.4
	}
	x := g.rng.Float64()
	if x < epoch {
		return strconv.AppendInt(b, ms, 10)
	}
	t := time.UnixMilli(ms)
	b = append(b, '"')
	if x < epoch+0.06 {
		b = t.In(cet).AppendFormat(b, "2006-01-02T15:04:05.000-07:00")
	} else {
		b = t.UTC().AppendFormat(b, "2006-01-02T15:04:05.000Z07:00")
	}
	return append(b, '"')
}

func (g *Generator) appendIDs(b []byte, p *person, ev *event) []byte {
	b = append(b, '{')
	n := 0
	for _, r := range ev.ids[:ev.n] {
		g.valBuf = g.appendIDValue(g.valBuf[:0], p, r)
		b = appendJSONString(appendKey(b, &n, idTypeName[r.t]), string(g.valBuf))
	}
	if ev.tablet {
		b = appendStore(append(appendKey(b, &n, "device"), `"dv-tablet-`...), ev.store)
		b = append(b, '"')
	}
	if ev.junk >= 0 {
		j := junkIDs[ev.junk]
		b = appendJSONString(appendKey(b, &n, j.t), j.v)
	}
	return append(b, '}')
}

// appendIDValue writes the raw value as the source system would: canonical for opaque ids,
// in varying case/whitespace for e-mails and in varying layouts for phones.
func (g *Generator) appendIDValue(b []byte, p *person, r idRef) []byte {
	switch r.t {
	case idCookie:
		return appendHex16(append(b, "ck-"...), p.cookies[r.i])
	case idDevice:
		return appendHex16(append(b, "dv-"...), p.devices[r.i])
	case idUser:
		return strconv.AppendUint(append(b, 'u'), p.user, 10)
	case idLoyalty:
		return strconv.AppendUint(append(b, "LC-"...), p.loyalty, 10)
	case idCRM:
		return strconv.AppendUint(append(b, "CRM-"...), p.crm, 10)
	case idPhone:
		f := int(p.phoneFmt)
		if g.rng.Float64() < 0.4 {
			f = g.rng.IntN(len(phoneFormats))
		}
		return appendPhone(b, p.phones[r.i], f)
	}
	first, last := firstNames[p.first], lastNames[p.last]
	e := p.emails[r.i]
	x := g.rng.Float64()
	switch {
	case x < 0.7:
		return appendEmail(b, first, last, e)
	case x < 0.8: // Anna.Mueller12@example.org
		s := len(b)
		b = appendEmail(b, first, last, e)
		b[s] -= 'a' - 'A'
		b[s+len(first)+1] -= 'a' - 'A'
		return b
	case x < 0.88:
		s := len(b)
		b = appendEmail(b, first, last, e)
		for i := s; i < len(b); i++ {
			if b[i] >= 'a' && b[i] <= 'z' {
				b[i] -= 'a' - 'A'
			}
		}
		return b
	case x < 0.95:
		return append(appendEmail(append(b, ' '), first, last, e), ' ')
	default:
		return append(appendEmail(append(b, "  "...), first, last, e), ' ', ' ')
	}
}

var pagePaths = [...]string{"/", "/c/shoes", "/c/jackets", "/c/kids", "/c/home", "/sale", "/account", "/stores", "/search?q=winter+boots", "/help/returns"}
var loginMethods = [...]string{"password", "password", "password", "google", "apple", "magic_link"}
var callReasons = [...]string{"order_status", "delivery", "billing", "returns", "product_question", "loyalty_points"}
var complaintReasons = [...]string{"late_delivery", "damaged_item", "wrong_item", "billing_error", "refund_missing", "staff_behaviour"}
var campaigns = [...]string{"nov-black-week", "welcome-series", "cart-reminder", "newsletter-46", "loyalty-bonus", "nps-survey"}

func appendCents(b []byte, c int64) []byte {
	b = strconv.AppendInt(b, c/100, 10)
	b = append(b, '.')
	return appendPadded(b, uint64(c%100), 2)
}

func lognormCents(z, mu, sigma float64, lo, hi int64) int64 {
	return min(max(int64(math.Exp(mu+sigma*z)*100), lo), hi)
}

func (g *Generator) appendSKU(b []byte) []byte {
	return strconv.AppendInt(append(b, "SKU-"...), int64(10000+g.rng.IntN(90000)), 10)
}

func (g *Generator) appendProps(b []byte, p *person, ev *event) []byte {
	r := g.rng
	switch ev.typ {
	case evPageView:
		b = append(b, `{"url":"https://shop.example.org`...)
		b = append(append(b, pagePaths[r.IntN(len(pagePaths))]...), `"}`...)
	case evProductView:
		var buf [16]byte
		sku := g.appendSKU(buf[:0])
		b = append(append(b, `{"url":"https://shop.example.org/p/`...), sku...)
		b = append(append(append(b, `","sku":"`...), sku...), `"}`...)
	case evAddToCart:
		b = g.appendSKU(append(b, `{"sku":"`...))
		b = strconv.AppendInt(append(b, `","qty":`...), int64(ev.qty), 10)
		b = append(appendCents(append(b, `,"price":`...), ev.cents), `,"currency":"EUR"}`...)
	case evCheckout:
		b = append(appendCents(append(b, `{"total":`...), ev.cents), `,"currency":"EUR"}`...)
	case evPurchase:
		if ev.ch == chStore {
			b = append(appendStore(append(b, `{"store_id":"`...), ev.store), `","total":`...)
			b = appendCents(b, ev.cents)
			b = strconv.AppendInt(append(b, `,"currency":"EUR","items":`...), int64(ev.qty), 10)
			b = append(b, '}')
		} else {
			g.orderSeq++
			b = appendPadded(append(b, `{"order_id":"o-`...), g.orderSeq, 8)
			b = append(appendCents(append(b, `","total":`...), ev.cents), `,"currency":"EUR"}`...)
		}
	case evLogin, evSignup:
		switch {
		case ev.ch == chStore:
			b = append(appendStore(append(b, `{"store_id":"`...), ev.store), `"}`...)
		case ev.typ == evLogin && r.Float64() < 0.3:
			// props are optional; some trackers send none
		default:
			b = append(append(append(b, `{"method":"`...), loginMethods[r.IntN(len(loginMethods))]...), `"}`...)
		}
	case evCall:
		b = strconv.AppendInt(append(b, `{"duration_s":`...), int64(30+r.IntN(900)), 10)
		b = append(append(append(b, `,"reason":"`...), callReasons[r.IntN(len(callReasons))]...), `","agent":"A`...)
		b = append(strconv.AppendInt(b, int64(100+r.IntN(60)), 10), `"}`...)
	case evComplaint:
		b = append(append(append(b, `{"reason":"`...), complaintReasons[r.IntN(len(complaintReasons))]...), `","severity":"`...)
		b = append(append(b, [...]string{"low", "medium", "high"}[r.IntN(3)]...), `"}`...)
	case evSurvey:
		// complainers are mostly detractors (0-6), everyone else mostly promoters or passives
		score := r.IntN(11)
		if r.Float64() < 0.8 {
			if p.kind == complainer {
				score = r.IntN(7)
			} else {
				score = 6 + r.IntN(5)
			}
		}
		b = strconv.AppendInt(append(b, `{"survey":"nps","score":`...), int64(score), 10)
		b = append(b, '}')
	case evEmailSent, evEmailOpen, evEmailClick:
		g.msgSeq++
		b = append(append(append(b, `{"campaign":"`...), campaigns[r.IntN(len(campaigns))]...), `","message_id":"m-`...)
		b = appendPadded(b, g.msgSeq, 8)
		if ev.typ == evEmailClick {
			b = append(append(b, `","url":"https://shop.example.org`...), pagePaths[r.IntN(len(pagePaths))]...)
		}
		b = append(b, `"}`...)
	}
	return b
}

// ---- malformed lines ----

var notJSONLines = [...]string{
	`<html><head><title>502 Bad Gateway</title></head><body><center>nginx</center></body></html>`,
	`ERROR 2026/11/20 10:00:00 upstream timed out (110: Connection timed out) while reading response header`,
}

var badTS = [...]string{`"yesterday"`, `"20.11.2026 10:15"`, `""`, `"2026-11-31T25:00:00Z"`, `"NaN"`, `null`, `true`}

// malformed builds a line a correct engine must dead-letter, around identifiers of a random
// person (as a broken upstream export would carry), with fresh event ids that never collide with
// valid ones.
func (g *Generator) malformed() Record {
	r := g.rng
	p := &g.persons[r.IntN(len(g.persons))]
	ev := event{ch: chWeb, typ: evPageView, store: p.home, junk: -1}
	if p.events > 0 {
		off := r.IntN(int(numIDTypes)) // start at a random type so broken lines come from every source
		for k := range numIDTypes {
			t := (k + idType(off)) % numIDTypes
			if p.shown(t) && ev.n < 2 {
				if ev.n == 0 {
					ev.ch, ev.typ = [numIDTypes]channel{chWeb, chWeb, chWeb, chEmail, chCallcentre, chStore, chCallcentre}[t],
						[numIDTypes]evType{evPageView, evPageView, evLogin, evEmailOpen, evCall, evPurchase, evCall}[t]
				}
				ev.add(g.pick(p, t))
			}
		}
	} else {
		// a person not seen yet: a browser cookie nobody else has
		p = &person{cookies: []uint64{g.ids.hex64(nsCookie)}, kind: anonBrowser}
		ev.add(ck(0))
	}
	if ev.typ == evPurchase {
		ev.cents, ev.qty = lognormCents(r.NormFloat64(), 3.5, 0.9, 99, 300_000), 1+r.IntN(6)
	}
	ms := g.startMs + g.clock
	eid := g.newEventID(ev.ch, ev.store)
	f := fields{
		eventID: eid, channel: channelName[ev.ch], typ: evTypeName[ev.typ],
		ts:    g.appendTS(nil, ev.ch, ms),
		ids:   g.appendIDs(nil, p, &ev),
		props: g.appendProps(nil, p, &ev),
	}
	rec := Record{EventID: eid, Truth: -1}
	switch k := r.IntN(10); k {
	case 0: // not JSON at all, or not a JSON object
		rec.EventID = ""
		switch r.IntN(3) {
		case 0:
			rec.Line = []byte(notJSONLines[r.IntN(len(notJSONLines))])
		case 1: // a form-encoded beacon sent to the JSON endpoint
			rec.Line = []byte("event_id=" + eid + "&channel=" + f.channel + "&type=" + f.typ)
		default: // double-encoded: a JSON string holding the event
			rec.Line = appendJSONString(nil, string(appendLine(nil, &f)))
		}
		return rec
	case 1, 2: // cut off mid-line; any proper prefix of an object lacks its closing brace
		full := appendLine(nil, &f)
		rec.Line, rec.EventID = full[:1+r.IntN(len(full)-1)], ""
		return rec
	case 3:
		f.omit, rec.EventID = omitEventID, ""
	case 4:
		f.omit = [...]uint8{omitChannel, omitType}[r.IntN(2)]
	case 5:
		if r.IntN(3) == 0 {
			f.ids = []byte("null")
		} else {
			f.omit = [...]uint8{omitTS, omitIDs}[r.IntN(2)]
		}
	case 6, 7:
		f.ts = []byte(badTS[r.IntN(len(badTS))])
	case 8:
		f.ids = []byte("{}")
	default: // only junk identifiers
		ids := []byte{'{'}
		n := 0
		first := r.IntN(len(junkIDs))
		ids = appendJSONString(appendKey(ids, &n, junkIDs[first].t), junkIDs[first].v)
		if second := r.IntN(len(junkIDs)); junkIDs[second].t != junkIDs[first].t {
			ids = appendJSONString(appendKey(ids, &n, junkIDs[second].t), junkIDs[second].v)
		}
		f.ids = append(ids, '}')
	}
	rec.Line = appendLine(nil, &f)
	return rec
}

// ---- a small binary heap (container/heap needs an interface per element type) ----

type minHeap[T any] struct {
	s    []T
	less func(a, b T) bool
}

func (h *minHeap[T]) len() int { return len(h.s) }
func (h *minHeap[T]) top() T   { return h.s[0] }

func (h *minHeap[T]) push(x T) {
	h.s = append(h.s, x)
	for i := len(h.s) - 1; i > 0; {
		parent := (i - 1) / 2
		if !h.less(h.s[i], h.s[parent]) {
			break
		}
		h.s[i], h.s[parent] = h.s[parent], h.s[i]
		i = parent
	}
}

func (h *minHeap[T]) pop() T {
	x := h.s[0]
	last := len(h.s) - 1
	h.s[0] = h.s[last]
	var zero T
	h.s[last] = zero
	h.s = h.s[:last]
	h.fixTop()
	return x
}

// fixTop restores the heap after the top element's key changed.
func (h *minHeap[T]) fixTop() {
	n := len(h.s)
	for i := 0; ; {
		l := 2*i + 1
		if l >= n {
			return
		}
		m := l
		if r := l + 1; r < n && h.less(h.s[r], h.s[l]) {
			m = r
		}
		if !h.less(h.s[m], h.s[i]) {
			return
		}
		h.s[i], h.s[m] = h.s[m], h.s[i]
		i = m
	}
}
