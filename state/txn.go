package state

import (
	"fmt"
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

	cust      map[string]*Customer // nil value: deleted in this Txn
	custDirty map[string]struct{}
	ids       map[string]*Identifier
	idsDirty  map[string]struct{}
	seen      map[string]struct{}          // event ids applied in this Txn
	journeys  map[string]map[string]*Entry // customer → journey key → entry (nil: deleted) written in this Txn
	scratch   []byte
}

// Begin starts a Txn. Only one may be open at a time.
func (s *Store) Begin() *Txn {
	return &Txn{
		s:         s,
		b:         s.db.NewBatch(),
		cust:      make(map[string]*Customer),
		custDirty: make(map[string]struct{}),
		ids:       make(map[string]*Identifier),
		idsDirty:  make(map[string]struct{}),
		seen:      make(map[string]struct{}),
		journeys:  make(map[string]map[string]*Entry),
	}
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
			return c, nil
		}
	}
	c, found, err := get(t.s.db, t.lookupKey(prefixCustomer, id), decodeCustomer)
	if err != nil || !found {
		return nil, err
	}
	t.cust[id] = c
	return c, nil
}

// SetCustomer stores c (new or changed).
func (t *Txn) SetCustomer(c *Customer) {
	t.cust[c.ID] = c
	t.custDirty[c.ID] = struct{}{}
}

// DeleteCustomer removes a customer record (not its journey).
func (t *Txn) DeleteCustomer(id string) {
	t.cust[id] = nil
	t.custDirty[id] = struct{}{}
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
	return r, nil
}

// SetIdentifier stores r under "type:value".
func (t *Txn) SetIdentifier(k string, r *Identifier) {
	if old := t.ids[k]; old == nil {
		t.s.knownIdents.add(t.lookupKey(prefixIdentifier, k))
	}
	t.ids[k] = r
	t.idsDirty[k] = struct{}{}
}

// Seen reports whether an event id was applied before (or in this Txn).
func (t *Txn) Seen(eventID string) (bool, error) {
	if _, ok := t.seen[eventID]; ok {
		return true, nil
	}
	k := t.lookupKey(prefixEvent, eventID)
	if !t.s.seenEvents.mayContain(k) {
		return false, nil
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
	return t.b.Set(k, nil, nil)
}

func (t *Txn) overlay(cust string) map[string]*Entry {
	m := t.journeys[cust]
	if m == nil {
		m = make(map[string]*Entry)
		t.journeys[cust] = m
	}
	return m
}

// PutEntry adds or replaces an event in a customer's journey.
func (t *Txn) PutEntry(cust string, en *Entry) error {
	k := journeyKey(cust, en.TS, en.EventID)
	t.overlay(cust)[string(k)] = en
	t.scratch = en.appendValue(t.scratch[:0])
	return t.b.Set(k, t.scratch, nil)
}

// DeleteEntry removes an event from a customer's journey.
func (t *Txn) DeleteEntry(cust string, ts int64, eventID string) error {
	k := journeyKey(cust, ts, eventID)
	t.overlay(cust)[string(k)] = nil
	return t.b.Delete(k, nil)
}

// Journey calls fn for every event of a customer in (ts, event id) order,
// including the changes of this Txn.
func (t *Txn) Journey(cust string, fn func(*Entry) error) error {
	ov := t.journeys[cust]
	if len(ov) == 0 {
		return journey(t.s.db, cust, fn)
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
	return t.b.Set(seqKey(prefixMerge, t.s.nextMerge-1), m.appendTo(nil), nil)
}

// AddConflict appends to the conflict log.
func (t *Txn) AddConflict(c *Conflict) error {
	t.s.nextConflict++
	return t.b.Set(seqKey(prefixConflict, t.s.nextConflict-1), c.appendTo(nil), nil)
}

// Commit writes every change atomically.
func (t *Txn) Commit() error {
	buf := t.scratch
	for id := range t.custDirty {
		c := t.cust[id]
		k := key(prefixCustomer, id)
		var err error
		if c == nil {
			err = t.b.Delete(k, nil)
		} else {
			buf = c.appendTo(buf[:0])
			err = t.b.Set(k, buf, nil)
		}
		if err != nil {
			return t.fail(err)
		}
	}
	for k := range t.idsDirty {
		buf = t.ids[k].appendTo(buf[:0])
		if err := t.b.Set(key(prefixIdentifier, k), buf, nil); err != nil {
			return t.fail(err)
		}
	}
	if err := t.b.Commit(t.s.sync); err != nil {
		return t.fail(err)
	}
	t.b.Close()
	t.b = nil
	if t.s.customers != nil {
		for id, c := range t.cust {
			if c == nil {
				t.s.customers.Remove(id)
			} else {
				t.s.customers.Add(id, c)
			}
		}
	}
	if t.s.idents != nil {
		for k, r := range t.ids {
			t.s.idents.Add(k, r)
		}
	}
	return nil
}

func (t *Txn) fail(err error) error {
	t.Discard()
	return fmt.Errorf("state: commit: %w", err)
}

// Discard drops every change. Records handed out by this Txn may have been
// changed in place, so the caches are purged.
func (t *Txn) Discard() {
	if t.b != nil {
		t.b.Close()
		t.b = nil
	}
	t.s.purgeCaches()
	t.s.nextMerge, _ = t.s.nextSeq(prefixMerge)
	t.s.nextConflict, _ = t.s.nextSeq(prefixConflict)
}
