package state

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"maps"
	"math"
	"slices"
	"strings"

	"github.com/cockroachdb/pebble/v2"
)

// Txn collects the changes of one batch of events and writes them in one
// atomic Pebble batch at Commit. Customers and identifiers are held decoded
// until then, so an event touching a hot customer many times in a batch costs
// one encode. Journey writes go into the batch at once and into an overlay
// that Journey reads through, so that a merge sees the events this Txn added.
//
// Records returned by a Txn may be shared with the Store's caches: a caller
// that changes one must hand it back with SetCustomer or SetIdentifier, and
// must either Commit or Discard the Txn.
type Txn struct {
	s *Store
	b *pebble.Batch

	txnBufs // the large maps and buffers, kept by the Store for the next Txn

	// Records not taken from the caches (read from Pebble or created):
	// only these need adding at Commit; the others are there already.
	custUncached, idsUncached []string
	scratch                   []byte

	jit *pebble.Iterator // see journeyIter

	timers          map[string]timerChange // timer key → its change in this Txn
	timerKeys       []string               // the keys of timers, sorted when timerKeysSorted (see noteTimer)
	timerKeysSorted bool
	absorbed        map[string]string // absorbed → survivor recorded in this Txn
	eventTime       int64             // newest event time noted in this Txn, when eventTimeSet
	eventTimeSet    bool

	tombs map[tombHash]int64 // tombstones set in this Txn

	// Hot parts read by SegDue, for Customer to finish if the customer
	// is then needed whole. Committed state does not change while a Txn
	// is open (one writer), so they stay true until Commit.
	peeked map[string]*Customer

	version  uint64 // row version of this batch; 0 until asked for
	rowBytes int64  // row outbox bytes enqueued, taken back on Discard
}

// op is a buffered write: key and value are arena[off:off+klen] and the
// vlen bytes after it. Offsets rather than slices keep ops small to sort.
type op struct {
	prefix     uint64 // the key's first 8 bytes, big-endian: most comparisons end here
	off        uint32
	klen, vlen uint32
	del        bool
	en         *Entry // for journey writes: the entry, so Journey need not decode it
}

// write buffers a Set (or Delete) with copies of key and value.
func (t *Txn) write(k, v []byte, del bool) {
	off := len(t.arena)
	t.arena = append(t.arena, k...)
	t.arena = append(t.arena, v...)
	t.addOp(k, off, len(v), del)
}

// writeWith is write of the value appendV appends, encoded straight into
// the Txn's buffer.
func (t *Txn) writeWith(k []byte, appendV func([]byte) []byte) {
	off := len(t.arena)
	t.arena = append(t.arena, k...)
	t.arena = appendV(t.arena)
	t.addOp(k, off, len(t.arena)-off-len(k), false)
}

func (t *Txn) addOp(k []byte, off, vlen int, del bool) {
	var p [8]byte
	copy(p[:], k)
	t.ops = append(t.ops, op{prefix: binary.BigEndian.Uint64(p[:]), off: uint32(off), klen: uint32(len(k)), vlen: uint32(vlen), del: del})
}

// batchSize is room for a Pebble batch of n records holding the given
// bytes of keys and values: its 12-byte header and per record a kind byte
// and two length varints. Sized once, the batch is not copied as it grows.
func batchSize(bytes, n int) int { return 12 + bytes + 11*n }

// maxRetainedBatch is the largest Pebble batch buffer kept for the next
// Commit. Pebble keeps up to 1 MiB by default; a service batch is several
// MiB, so each Commit allocated its buffer anew (a tenth of what the engine
// allocates per event). The memtable copies a committed batch, so reusing
// the buffer is safe; Pebble's pool drops it when the collector runs.
const maxRetainedBatch = 64 << 20

// opRef is an op's place in Txn.ops with 8 of its key's bytes (the first
// 8, then whichever sortOpRefs is ordering by); see Commit.
type opRef struct {
	prefix uint64
	i      uint32
}

func (t *Txn) opKey(o *op) []byte { return t.arena[o.off : o.off+o.klen] }

// Begin starts a Txn. Only one may be open at a time.
func (s *Store) Begin() *Txn {
	s.spareMu.Lock()
	b := s.spare
	s.spare = nil
	s.spareMu.Unlock()
	if b == nil {
		h := s.hint
		b = &txnBufs{
			cust:      make(map[string]*Customer, h.cust),
			custDirty: make(map[string]*Customer, h.cust),
			ids:       make(map[string]*Identifier, h.ids),
			idsDirty:  make(map[string]struct{}),
			seen:      make(map[string]struct{}, h.seen),
			journeys:  make(map[string][]int, h.journeys),
			orig:      make(map[string]journeyEnd, h.cust),
			ops:       make([]op, 0, h.ops),
			arena:     make([]byte, 0, h.arena),
		}
	}
	return &Txn{s: s, txnBufs: *b}
}

// txnBufs are a Txn's maps and buffers, kept by the Store from one Txn to
// the next: a service batch fills maps of thousands of entries and an
// arena of megabytes, which allocated anew were ~40% of the bytes the
// engine allocates per event. Nothing outside the Txn keeps a reference
// into them (keys and values handed out are copies), and a Txn gives them
// back only once it is done (Commit or Discard), after which it has none:
// a write to a finished Txn panics instead of changing the next one.
type txnBufs struct {
	cust      map[string]*Customer // nil value: deleted in this Txn
	custDirty map[string]*Customer // what cust holds for each customer written (nil: deleted)
	ids       map[string]*Identifier
	idsDirty  map[string]struct{}
	seen      map[string]struct{} // event ids applied in this Txn
	journeys  map[string][]int    // customer → indexes in ops of its journey writes in this Txn

	// Writes are buffered and handed to Pebble sorted by key at Commit:
	// the memtable inserts a batch with one cursor that starts each
	// search from the previous insert's place, so sorted keys cost a
	// short walk instead of a descent from the top of the skiplist.
	ops   []op
	arena []byte

	// What each customer's journey ended with before this Txn, taken when
	// the customer is first read, for AppendedTail.
	orig map[string]journeyEnd
}

// maxSpareOps bounds what is kept: buffers of an exceptionally large Txn go
// to the collector.
const maxSpareOps = 1 << 20

// release hands the Txn's buffers back to the Store, emptied.
func (t *Txn) release() {
	if t.cust == nil {
		return // released already
	}
	if len(t.ops) <= maxSpareOps {
		clear(t.cust)
		clear(t.custDirty)
		clear(t.ids)
		clear(t.idsDirty)
		clear(t.seen)
		clear(t.journeys)
		clear(t.orig)
		clear(t.ops) // drops the ops' entries
		b := t.txnBufs
		b.ops, b.arena = b.ops[:0], b.arena[:0]
		t.s.spareMu.Lock()
		t.s.spare = &b
		t.s.spareMu.Unlock()
	}
	t.txnBufs = txnBufs{}
}

type journeyEnd struct {
	events           int64
	lastTS           int64
	lastEID, lastChn string
}

func (t *Txn) noteOrig(c *Customer) {
	o := journeyEnd{events: c.JourneyLen(), lastTS: c.LastSeen, lastEID: c.LastEID, lastChn: c.LastChannel}
	if c.Overflow > 0 {
		// The profile's last event may be one the journey did not take:
		// unknown, so AppendedTail leaves it to JourneyTail.
		o.lastChn = ""
	}
	t.orig[c.ID] = o
}

// lookupKey builds a key in the Txn's scratch buffer; valid until the next
// call. Pebble copies what it keeps, so lookups need not allocate.
func (t *Txn) lookupKey(prefix byte, s string) []byte {
	t.scratch = append(append(t.scratch[:0], prefix), s...)
	return t.scratch
}

// Customer returns a customer, or nil when there is none.
func (t *Txn) Customer(id string) (*Customer, error) {
	if c, ok := t.cust[id]; ok {
		return c, nil
	}
	if t.s.customers != nil {
		if c, ok := t.s.customers.Get(id); ok {
			t.cust[id] = c
			t.noteOrig(c)
			return c, nil
		}
	}
	var c *Customer
	if hot := t.peeked[id]; hot != nil {
		delete(t.peeked, id)
		if err := readCold(t.s.db, t.scratch[:0], hot); err != nil {
			return nil, err
		}
		c = hot
	} else {
		var found bool
		var err error
		if c, found, err = readCustomer(t.s.db, t.scratch[:0], id); err != nil || !found {
			return nil, err
		}
	}
	if err := loadPending(t.s.db, c); err != nil {
		return nil, err
	}
	t.cust[id] = c
	t.noteOrig(c)
	t.custUncached = append(t.custUncached, id)
	return c, nil
}

// SegDue is customer id's SegDue, and whether the customer exists, as
// Customer(id) would have it. A customer neither in this Txn nor cached is
// read in part: segment timers that fire for a customer whose SegDue moved
// on (most of them, see stitch's segment timers) need nothing else. What
// was read is kept for a Customer(id) that follows.
func (t *Txn) SegDue(id string) (int64, bool, error) {
	c, inTxn := t.cust[id]
	if !inTxn && t.s.customers != nil {
		c, inTxn = t.s.customers.Peek(id)
	}
	if !inTxn {
		c = t.peeked[id]
	}
	if c != nil || inTxn {
		return c.segDue(), c != nil, nil
	}
	kb := append(append(t.scratch[:0], prefixCustomer), id...)
	c, found, err := get(t.s.db, kb, func(b []byte) (*Customer, error) { return decodeCustomer(id, b) })
	if err != nil || !found {
		return 0, false, err
	}
	if c.layout < segDueHot {
		// SegDue was in the cold part, or the record is one value of an
		// older version: read it whole.
		if c, err = t.Customer(id); err != nil || c == nil {
			return 0, false, err
		}
		return c.SegDue, true, nil
	}
	if t.peeked == nil {
		t.peeked = make(map[string]*Customer)
	}
	t.peeked[id] = c
	return c.SegDue, true, nil
}

func (c *Customer) segDue() int64 {
	if c == nil {
		return 0
	}
	return c.SegDue
}

// SetCustomer stores c (new or changed). A new record in place of one read
// in this Txn (a customer recomputed) replaces it, pending first events
// included: the old record's are deleted and all of c's written.
func (t *Txn) SetCustomer(c *Customer) {
	if old, ok := t.cust[c.ID]; !ok || old != c {
		t.custUncached = append(t.custUncached, c.ID)
		if old != nil {
			t.deleteLegacyPending(old)
		}
	}
	t.cust[c.ID] = c
	t.custDirty[c.ID] = c
}

// DeleteCustomer removes a customer record (not its journey) and its
// pending first events. The customer must have been read in this Txn.
func (t *Txn) DeleteCustomer(id string) {
	if old := t.cust[id]; old != nil {
		t.deleteLegacyPending(old)
	}
	t.cust[id] = nil
	t.custDirty[id] = nil
}

// Identifier returns the identifier "type:value", or nil when unknown.
func (t *Txn) Identifier(k string) (*Identifier, error) {
	if r, ok := t.ids[k]; ok {
		return r, nil
	}
	if t.s.idents != nil {
		if r, ok := t.s.idents.Get(k); ok {
			t.ids[k] = r
			return r, nil
		}
	}
	kb := t.lookupKey(prefixIdentifier, k)
	if !t.s.knownIdents.mayContain(kb) {
		return nil, nil
	}
	r, found, err := get(t.s.db, kb, decodeIdentifier)
	if err != nil || !found {
		return nil, err
	}
	t.ids[k] = r
	t.idsUncached = append(t.idsUncached, k)
	return r, nil
}

// SetIdentifier stores r under "type:value".
func (t *Txn) SetIdentifier(k string, r *Identifier) {
	old := t.ids[k]
	if old == nil {
		t.s.knownIdents.add(t.lookupKey(prefixIdentifier, k))
	}
	if old != r {
		t.idsUncached = append(t.idsUncached, k)
	}
	t.ids[k] = r
	t.idsDirty[k] = struct{}{}
}

// Seen reports whether an event id was applied before (or in this Txn).
func (t *Txn) Seen(eventID string) (bool, error) {
	// MarkSeen adds to the filter too, so "certainly absent" holds for
	// this Txn's own events as well, and most lookups end here.
	k := t.lookupKey(prefixEvent, eventID)
	if !t.s.seenEvents.mayContain(k) {
		return false, nil
	}
	if _, ok := t.seen[eventID]; ok {
		return true, nil
	}
	_, closer, err := t.s.db.Get(k)
	if err == pebble.ErrNotFound {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	closer.Close()
	return true, nil
}

// MarkSeen records an event id as applied.
func (t *Txn) MarkSeen(eventID string) error {
	t.seen[eventID] = struct{}{}
	k := t.lookupKey(prefixEvent, eventID)
	t.s.seenEvents.add(k)
	t.write(k, nil, false)
	return nil
}

// PutEntry adds or replaces an event in a customer's journey.
func (t *Txn) PutEntry(cust string, en *Entry) error {
	t.scratch = appendJourneyKey(t.scratch[:0], cust, en.TS, en.EventID)
	klen := len(t.scratch)
	t.scratch = en.appendValue(t.scratch)
	t.journeys[cust] = append(t.journeys[cust], len(t.ops))
	t.write(t.scratch[:klen], t.scratch[klen:], false)
	t.ops[len(t.ops)-1].en = en
	return nil
}

// DeleteEntry removes an event from a customer's journey.
func (t *Txn) DeleteEntry(cust string, ts int64, eventID string) error {
	t.scratch = appendJourneyKey(t.scratch[:0], cust, ts, eventID)
	t.journeys[cust] = append(t.journeys[cust], len(t.ops))
	t.write(t.scratch, nil, true)
	return nil
}

// Journey calls fn for every event of a customer in (ts, event id) order,
// including the changes of this Txn.
func (t *Txn) Journey(cust string, fn func(*Entry) error) error {
	written := t.journeys[cust]
	if len(written) == 0 {
		return journey(t.s.db, cust, fn)
	}
	ov := make(map[string]*Entry, len(written)) // journey key → last write (nil: deleted)
	for _, i := range written {
		o := &t.ops[i]
		ov[string(t.opKey(o))] = o.en
	}
	type kv struct {
		k  string
		en *Entry
	}
	var all []kv
	p := journeyPrefix(cust)
	if err := scan(t.s.db, p, prefixEnd(p), func(k, v []byte) error {
		if _, changed := ov[string(k)]; changed {
			return nil
		}
		en, err := decodeEntry(k, v)
		if err != nil {
			return err
		}
		all = append(all, kv{string(k), en})
		return nil
	}); err != nil {
		return err
	}
	for k, en := range ov {
		if en != nil {
			all = append(all, kv{k, en})
		}
	}
	slices.SortFunc(all, func(a, b kv) int { return strings.Compare(a.k, b.k) })
	for _, e := range all {
		if err := fn(e.en); err != nil {
			return err
		}
	}
	return nil
}

// AddMerge appends to the merge log.
func (t *Txn) AddMerge(m *Merge) error {
	t.s.nextMerge++
	t.write(seqKey(prefixMerge, t.s.nextMerge-1), m.appendTo(nil), false)
	return nil
}

// AddConflict appends to the conflict log.
func (t *Txn) AddConflict(c *Conflict) error {
	t.s.nextConflict++
	t.write(seqKey(prefixConflict, t.s.nextConflict-1), c.appendTo(nil), false)
	return nil
}

// Commit writes every change atomically.
func (t *Txn) Commit() error {
	t.closeIter()
	if t.eventTimeSet {
		t.write([]byte{prefixMeta, metaEventTime}, binary.BigEndian.AppendUint64(nil, uint64(t.eventTime)), false)
	}
	t.writeTimers()
	buf := t.scratch
	var kbuf [2 + CustomerIDLen]byte
	kb := kbuf[:0]
	for id, c := range t.custDirty {
		kb = append(append(kb[:0], prefixCustomer), id...)
		if c == nil {
			t.write(kb, nil, true)
			t.write(append(kb, 0), nil, true)
			continue
		}
		buf = c.appendHot(buf[:0])
		t.write(kb, buf, false)
		// Written only when changed; a record of an older layout
		// (coldSum 0) gets its cold part with its first write.
		buf = c.appendCold(buf[:0])
		if sum := coldHash(buf); sum != c.coldSum {
			t.write(append(kb, 0), buf, false)
			c.coldSum = sum
		}
		// The list is in the hot part now: what an older layout kept
		// elsewhere goes.
		t.deleteLegacyPending(c)
		c.layout = customerVersion
	}
	for k := range t.idsDirty {
		if r := t.ids[k]; r == nil {
			t.write(key(prefixIdentifier, k), nil, true)
		} else {
			buf = r.appendTo(buf[:0])
			t.write(key(prefixIdentifier, k), buf, false)
		}
	}
	// Pebble inserts a batch in key order fastest. The ops are sorted
	// through 16-byte references (see sortOpRefs). A key written twice (a
	// journey entry moved away and back) keeps its last write last.
	refs := slices.Grow(t.s.opRefs[:0], len(t.ops))
	for i := range t.ops {
		refs = append(refs, opRef{prefix: t.ops[i].prefix, i: uint32(i)})
	}
	tmp := slices.Grow(t.s.opRefsTmp[:0], len(refs))[:len(refs)]
	t.s.opRefs, t.s.opRefsTmp = refs, tmp
	refs = sortOpRefs(refs, tmp, func(i uint32) []byte { return t.opKey(&t.ops[i]) })
	t.b = t.s.db.NewBatchWithSize(batchSize(len(t.arena), len(refs)), pebble.WithMaxRetainedSizeBytes(maxRetainedBatch))
	for n, r := range refs {
		o := &t.ops[r.i]
		// Equal keys share every byte sortOpRefs left in prefix, so unequal
		// prefixes spare the look at the keys.
		if n+1 < len(refs) && refs[n+1].prefix == r.prefix && bytes.Equal(t.opKey(&t.ops[refs[n+1].i]), t.opKey(o)) {
			// Written again later in this Txn (a timer set and fired, an
			// entry moved away and back): only the last write counts, and
			// Pebble need not insert the others.
			continue
		}
		var err error
		if o.del {
			err = t.b.Delete(t.opKey(o), nil)
		} else {
			err = t.b.Set(t.opKey(o), t.arena[o.off+o.klen:o.off+o.klen+o.vlen], nil)
		}
		if err != nil {
			return t.fail(err)
		}
	}
	if err := t.b.Commit(t.s.sync); err != nil {
		return t.fail(err)
	}
	if t.version != 0 {
		t.s.version = t.version
	}
	if t.eventTimeSet {
		t.s.eventTime, t.s.hasEventTime = t.eventTime, true
	}
	if t.s.tombs != nil {
		maps.Copy(t.s.tombs, t.tombs)
	}
	t.b.Close()
	t.b = nil
	t.s.hint = txnSizes{cust: len(t.cust), ids: len(t.ids), seen: len(t.seen), journeys: len(t.journeys), ops: len(t.ops), arena: len(t.arena)}
	if t.s.customers != nil {
		for _, id := range t.custUncached {
			if c := t.cust[id]; c != nil {
				t.s.customers.Add(id, c)
			}
		}
		for id, c := range t.custDirty {
			if c == nil {
				t.s.customers.Remove(id)
			}
		}
	}
	if t.s.idents != nil {
		for _, k := range t.idsUncached {
			if r := t.ids[k]; r != nil {
				t.s.idents.Add(k, r)
			}
		}
		for k := range t.idsDirty {
			if t.ids[k] == nil {
				t.s.idents.Remove(k)
			}
		}
	}
	if t.s.committed != nil {
		t.s.committed(t)
	}
	t.release()
	return nil
}

func (t *Txn) fail(err error) error {
	t.Discard()
	return fmt.Errorf("state: commit: %w", err)
}

// Discard drops every change. Records handed out by this Txn may have been
// changed in place, so the caches are purged.
func (t *Txn) Discard() {
	t.closeIter()
	if t.b != nil {
		t.b.Close()
		t.b = nil
	}
	t.s.purgeCaches()
	t.s.nextMerge, _ = t.s.nextSeq(prefixMerge)
	t.s.nextConflict, _ = t.s.nextSeq(prefixConflict)
	t.s.nextTrigger, _ = t.s.nextSeq(prefixTrigger)
	// The outboxes' next numbers come back to what is stored, but never to
	// or below a delivered one: with every message delivered nothing is
	// stored, and the next number would start again at 1, where what
	// comes next would count as delivered and lie below where readers
	// start (Store.Outbox, EachRowBatch).
	if n, err := t.s.nextSeq(prefixOutbox); err == nil {
		t.s.nextOutbox.Store(max(n, t.s.acked.Load()+1))
	}
	if n, err := t.s.nextSeq(prefixRows); err == nil {
		t.s.ackMu.Lock()
		t.s.nextRows.Store(max(n, t.s.ackedRows))
		t.s.ackMu.Unlock()
	}
	t.s.rowBytes.Add(-t.rowBytes)
	t.rowBytes = 0
	t.release()
}

// JourneyChange is what a Txn did to one customer's journey: the earliest
// position it touched, from which every row's seq and predecessor may have
// changed, and the events it took out.
type JourneyChange struct {
	Customer    string
	FromTS      int64
	FromEventID string
	Removed     []string // event ids no longer in this journey
}

// JourneyChanges lists the journeys this Txn changed, by customer id.
func (t *Txn) JourneyChanges() []JourneyChange {
	out := make([]JourneyChange, 0, len(t.journeys))
	for cust, written := range t.journeys {
		var from []byte
		deleted := false
		for _, i := range written {
			o := &t.ops[i]
			k := t.opKey(o)
			deleted = deleted || o.del
			if from == nil || bytes.Compare(k, from) < 0 {
				from = k
			}
		}
		_, ts, eid, _ := parseJourneyKey(from)
		ch := JourneyChange{Customer: cust, FromTS: ts, FromEventID: eid}
		if deleted {
			// A key's last write decides: an event removed and put back
			// (a merge moving it twice) is not removed.
			last := make(map[string]*op, len(written))
			for _, i := range written {
				o := &t.ops[i]
				last[string(t.opKey(o))] = o
			}
			for k, o := range last {
				if o.del {
					_, _, eid, _ := parseJourneyKey([]byte(k))
					ch.Removed = append(ch.Removed, eid)
				}
			}
			slices.Sort(ch.Removed)
		}
		out = append(out, ch)
	}
	slices.SortFunc(out, func(a, b JourneyChange) int { return strings.Compare(a.Customer, b.Customer) })
	return out
}

// JourneyTail returns, through this Txn, the last event of a customer's
// journey before (ts, eventID) — nil if none — and every event from there
// on, in order. length is the journey's length when the caller knows it
// (-1 otherwise): when the events this Txn wrote are all of them, the store
// is not read at all, which is the common case of a new customer.
func (t *Txn) JourneyTail(cust string, ts int64, eventID string, length int64) (prev *Entry, tail []*Entry, err error) {
	return t.journeyTail(cust, ts, eventID, length, nil)
}

// JourneyWindow returns, through this Txn, the events of a customer's
// journey from (ts, eventID) on whose time is at most until, in order: what
// a rule looking for a later event within a window needs, without reading
// the rest of a long journey.
func (t *Txn) JourneyWindow(cust string, ts int64, eventID string, until int64, length int64) ([]*Entry, error) {
	if until == math.MaxInt64 {
		_, tail, err := t.journeyTail(cust, ts, eventID, length, nil)
		return tail, err
	}
	_, tail, err := t.journeyTail(cust, ts, eventID, length, appendJourneyKey(nil, cust, until+1, ""))
	return tail, err
}

// journeyTail is JourneyTail, with events from the key end on left out
// (nil: none). With end set, prev is not looked for.
func (t *Txn) journeyTail(cust string, ts int64, eventID string, length int64, end []byte) (prev *Entry, tail []*Entry, err error) {
	from := appendJourneyKey(nil, cust, ts, eventID)
	ov := t.journeyWrites(cust)
	type kv struct {
		k  []byte
		en *Entry
	}
	var after []kv
	var prevKey []byte
	live := int64(0)
	for k, en := range ov {
		if en == nil {
			continue
		}
		live++
		kb := []byte(k)
		if bytes.Compare(kb, from) >= 0 {
			if end == nil || bytes.Compare(kb, end) < 0 {
				after = append(after, kv{kb, en})
			}
		} else if prevKey == nil || bytes.Compare(kb, prevKey) > 0 {
			prevKey, prev = kb, en
		}
	}
	if live != length {
		it, err := t.journeyIter()
		if err != nil {
			return nil, nil, err
		}
		// One seek: back to the event before from, then forward from it.
		// A window (end set) wants no predecessor: straight to from.
		p := journeyPrefix(cust)
		valid := end == nil && it.SeekLT(from)
		for ; valid && bytes.HasPrefix(it.Key(), p); valid = it.Prev() {
			if _, changed := ov[string(it.Key())]; changed {
				continue
			}
			if prevKey == nil || bytes.Compare(it.Key(), prevKey) > 0 {
				if prev, err = decodeEntry(it.Key(), it.Value()); err != nil {
					return nil, nil, err
				}
			}
			break
		}
		if valid && bytes.HasPrefix(it.Key(), p) {
			valid = it.Next()
		} else {
			valid = it.SeekGE(from)
		}
		for ; valid && bytes.HasPrefix(it.Key(), p); valid = it.Next() {
			if bytes.Compare(it.Key(), from) < 0 {
				continue // changed keys skipped on the way back
			}
			if end != nil && bytes.Compare(it.Key(), end) >= 0 {
				break
			}
			if _, changed := ov[string(it.Key())]; changed {
				continue
			}
			en, err := decodeEntry(it.Key(), it.Value())
			if err != nil {
				return nil, nil, err
			}
			after = append(after, kv{append([]byte(nil), it.Key()...), en})
		}
		if err := it.Error(); err != nil {
			return nil, nil, err
		}
	}
	slices.SortFunc(after, func(a, b kv) int { return bytes.Compare(a.k, b.k) })
	tail = make([]*Entry, len(after))
	for i := range after {
		tail[i] = after[i].en
	}
	return prev, tail, nil
}

// journeyWrites maps the keys of cust's journey this Txn wrote to their
// entries as last written (nil: deleted).
func (t *Txn) journeyWrites(cust string) map[string]*Entry {
	ov := make(map[string]*Entry, len(t.journeys[cust]))
	for _, i := range t.journeys[cust] {
		o := &t.ops[i]
		ov[string(t.opKey(o))] = o.en // the last write counts
	}
	return ov
}

// JourneyBack calls fn, through this Txn, for the events of a customer's
// journey whose time is from from to until, latest first (by time, then
// event id), until fn returns false: what a rule looking for the latest
// earlier event of a kind needs, which is mostly a few events back. length
// is the journey's length when the caller knows it (-1 otherwise): when
// the events this Txn wrote are all of them, the store is not read.
func (t *Txn) JourneyBack(cust string, from, until int64, length int64, fn func(*Entry) bool) error {
	if from > until {
		return nil
	}
	lo := appendJourneyKey(nil, cust, from, "")
	var hi []byte // past the last key in range: the first key of until+1
	if until < math.MaxInt64 {
		hi = appendJourneyKey(nil, cust, until+1, "")
	} else {
		hi = prefixEnd(journeyPrefix(cust))
	}
	// This Txn's writes of the journey, in range, latest first; a changed
	// key is read from them only.
	type kv struct {
		k  []byte
		en *Entry
	}
	ov := t.journeyWrites(cust)
	var mine []kv
	live := int64(0)
	for k, en := range ov {
		if en == nil {
			continue
		}
		live++
		if kb := []byte(k); bytes.Compare(kb, lo) >= 0 && bytes.Compare(kb, hi) < 0 {
			mine = append(mine, kv{kb, en})
		}
	}
	slices.SortFunc(mine, func(a, b kv) int { return bytes.Compare(b.k, a.k) })
	if live == length {
		for _, m := range mine {
			if !fn(m.en) {
				return nil
			}
		}
		return nil
	}
	it, err := t.journeyIter()
	if err != nil {
		return err
	}
	valid := it.SeekLT(hi)
	for {
		for valid {
			if _, mine := ov[string(it.Key())]; !mine {
				break
			}
			valid = it.Prev()
		}
		if valid && bytes.Compare(it.Key(), lo) < 0 {
			valid = false
		}
		var en *Entry
		switch {
		case len(mine) > 0 && (!valid || bytes.Compare(mine[0].k, it.Key()) > 0):
			en, mine = mine[0].en, mine[1:]
		case valid:
			if en, err = decodeEntry(it.Key(), it.Value()); err != nil {
				return err
			}
			valid = it.Prev()
		default:
			return it.Error()
		}
		if !fn(en) {
			return nil
		}
	}
}

// ChangedCustomers calls fn, in id order, for every customer this Txn wrote
// (c is the new record) or deleted (c is nil).
func (t *Txn) ChangedCustomers(fn func(id string, c *Customer) error) error {
	ids := make([]string, 0, len(t.custDirty))
	for id := range t.custDirty {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	for _, id := range ids {
		if err := fn(id, t.cust[id]); err != nil {
			return err
		}
	}
	return nil
}

// ChangedIdentifiers calls fn, in key order, for every identifier this Txn
// wrote (r is the new record) or deleted (r is nil).
func (t *Txn) ChangedIdentifiers(fn func(key string, r *Identifier) error) error {
	keys := make([]string, 0, len(t.idsDirty))
	for k := range t.idsDirty {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		if err := fn(k, t.ids[k]); err != nil {
			return err
		}
	}
	return nil
}

// journeyIter is one iterator over the committed journeys for the whole
// Txn: creating one per customer costs more than the seeks it serves.
func (t *Txn) journeyIter() (*pebble.Iterator, error) {
	if t.jit == nil {
		it, err := t.s.db.NewIter(&pebble.IterOptions{LowerBound: []byte{prefixJourney}, UpperBound: []byte{prefixJourney + 1}})
		if err != nil {
			return nil, err
		}
		t.jit = it
	}
	return t.jit, nil
}

func (t *Txn) closeIter() {
	if t.jit != nil {
		t.jit.Close()
		t.jit = nil
	}
}

// AppendedTail is JourneyTail without reading the store, for the common
// case: when everything this Txn did to the customer's journey is adding
// events after its last one before the Txn, it returns that last event
// (only its time, id and channel; nil for an empty journey), the events
// added in order, and the journey's length before them. ok is false when
// the case does not apply.
func (t *Txn) AppendedTail(cust string) (prev *Entry, tail []*Entry, before int64, ok bool) {
	o, loaded := t.orig[cust]
	if !loaded || (o.events > 0 && o.lastChn == "") {
		return nil, nil, 0, false
	}
	var last []byte
	if o.events > 0 {
		last = appendJourneyKey(nil, cust, o.lastTS, o.lastEID)
		prev = &Entry{EventID: o.lastEID, TS: o.lastTS, Channel: o.lastChn}
	}
	written := t.journeys[cust]
	idx := make([]int, 0, len(written))
	for _, i := range written {
		op := &t.ops[i]
		if op.del || (last != nil && bytes.Compare(t.opKey(op), last) <= 0) {
			return nil, nil, 0, false
		}
		idx = append(idx, i)
	}
	// The same event put twice keeps its last write; sorting by key, then
	// by write order, puts that one last among equals.
	slices.SortFunc(idx, func(a, b int) int {
		if c := bytes.Compare(t.opKey(&t.ops[a]), t.opKey(&t.ops[b])); c != 0 {
			return c
		}
		return a - b
	})
	tail = make([]*Entry, 0, len(idx))
	for n, i := range idx {
		if n+1 < len(idx) && bytes.Equal(t.opKey(&t.ops[i]), t.opKey(&t.ops[idx[n+1]])) {
			continue
		}
		tail = append(tail, t.ops[i].en)
	}
	return prev, tail, o.events, true
}
