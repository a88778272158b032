package state

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"maps"
	"slices"
)

// Data-subject requests (forget, unmerge) keep, besides what they change:
//
//	f <hash:16>        → event time (int64) up to which the forgotten subject's events are dropped
//	d <request id>     → Audit: the request as applied, for idempotent retries and the audit table
//
// A forgotten identifier or customer id is kept only as a SHA-256 prefix,
// never as its value: the tombstone must recognise it without holding it.

const (
	prefixForgotten = 'f'
	prefixAudit     = 'd'
)

// Audit is one data-subject request as applied.
type Audit struct {
	RequestID string
	Op        string // "forget" or "unmerge"
	Customer  string // the customer id asked for ("" when asked by identifier)
	Resolved  string // the customer it resolved to ("" when none)
	IDType    string // the identifier's type when asked by identifier or for an unmerge; never its value
	Status    string // what happened, e.g. "forgotten", "already_forgotten", "unmerged"
	Actor     string // who asked, as the caller says
	Events    int64  // events removed (forget) or moved to new customers (unmerge)
	Parts     []string
	At        int64 // wall-clock time of the request, ms
}

func (a *Audit) appendTo(b []byte) []byte {
	return enc(append(b, recordVersion)).str(a.RequestID).str(a.Op).str(a.Customer).str(a.Resolved).
		str(a.IDType).str(a.Status).str(a.Actor).i64(a.Events).strs(a.Parts).i64(a.At)
}

func decodeAudit(b []byte) (*Audit, error) {
	d := dec{b: b}
	d.version()
	a := &Audit{RequestID: d.str(), Op: d.str(), Customer: d.str(), Resolved: d.str(), IDType: d.str(),
		Status: d.str(), Actor: d.str(), Events: d.i64(), Parts: d.strs(), At: d.i64()}
	return a, d.done()
}

// AuditOf returns the request applied under id, or nil.
func (t *Txn) AuditOf(id string) (*Audit, error) {
	a, found, err := get(t.s.db, key(prefixAudit, id), decodeAudit)
	if err != nil || !found {
		return nil, err
	}
	return a, nil
}

// AddAudit records a request as applied.
func (t *Txn) AddAudit(a *Audit) {
	t.write(key(prefixAudit, a.RequestID), a.appendTo(nil), false)
}

// Audits calls fn for every request applied, in request id order.
func (s *Store) Audits(fn func(*Audit) error) error {
	return scan(s.db, []byte{prefixAudit}, []byte{prefixAudit + 1}, func(_, v []byte) error {
		a, err := decodeAudit(v)
		if err != nil {
			return err
		}
		return fn(a)
	})
}

type tombHash [16]byte

func hashOf(kind byte, value string) tombHash {
	h := sha256.New()
	h.Write([]byte{kind, 0})
	h.Write([]byte(value))
	var out tombHash
	copy(out[:], h.Sum(nil))
	return out
}

// Tombstone kinds.
const (
	TombIdentifier = 'i' // value "type:value"
	TombCustomer   = 'c' // value a customer id
)

// SetTombstone records that value (of kind) was forgotten, with the event
// time up to which its events count as late ones of the forgotten subject.
func (t *Txn) SetTombstone(kind byte, value string, upTo int64) {
	h := hashOf(kind, value)
	t.write(append([]byte{prefixForgotten}, h[:]...), binary.BigEndian.AppendUint64(nil, uint64(upTo)), false)
	if t.tombs == nil {
		t.tombs = map[tombHash]int64{}
	}
	t.tombs[h] = upTo
}

// Tombstone returns the event time recorded when value was forgotten.
// Tombstones are few (one per forgotten identifier), so the store keeps
// them all in memory: the engine asks for every identifier it sees new.
func (t *Txn) Tombstone(kind byte, value string) (upTo int64, ok bool, err error) {
	if err := t.s.loadTombstones(); err != nil {
		return 0, false, err
	}
	if len(t.s.tombs) == 0 && len(t.tombs) == 0 {
		return 0, false, nil
	}
	h := hashOf(kind, value)
	if v, ok := t.tombs[h]; ok {
		return v, true, nil
	}
	v, ok := t.s.tombs[h]
	return v, ok, nil
}

func (s *Store) loadTombstones() error {
	if s.tombs != nil {
		return nil
	}
	tombs := map[tombHash]int64{}
	err := scan(s.db, []byte{prefixForgotten}, []byte{prefixForgotten + 1}, func(k, v []byte) error {
		if len(k) != 1+len(tombHash{}) || len(v) != 8 {
			return ErrCorrupt
		}
		tombs[tombHash(k[1:])] = int64(binary.BigEndian.Uint64(v))
		return nil
	})
	if err != nil {
		return err
	}
	s.tombs = tombs
	return nil
}

// DeleteIdentifier removes an identifier's record, so that its value is no
// longer in the state; ChangedIdentifiers reports it with a nil record.
func (t *Txn) DeleteIdentifier(k string) {
	t.ids[k] = nil
	t.idsDirty[k] = struct{}{}
}

// DeleteAbsorbed forgets where a merged-away customer went.
func (t *Txn) DeleteAbsorbed(id string) {
	if t.absorbed != nil {
		delete(t.absorbed, id)
	}
	t.write(key(prefixAbsorbed, id), nil, true)
}

// Erased is what EraseCustomer took out of the logs, for sinks to delete.
type Erased struct {
	Merges    []Merge
	Conflicts []Conflict
	Triggers  []Trigger
	Absorbed  []string // customer ids merged into the erased customer over time

	// What sinks must purge, not only hide: the erased customer ids
	// (the customer and Absorbed) and identifier keys ("type:value").
	Customers   []string
	Identifiers []string
}

// EraseCustomer removes from the merge, conflict and trigger logs every
// record naming the customer or any customer merged into it (transitively),
// their entries in the trigger index, and their timers and absorbed-id
// links. It scans the logs whole (forgets are rare, and the logs hold no
// index by customer); the trigger index it reads by customer.
func (t *Txn) EraseCustomer(id string) (*Erased, error) {
	into := map[string][]string{} // survivor → absorbed, over the merge log
	type seqd[T any] struct {
		k []byte
		v *T
	}
	var merges []seqd[Merge]
	if err := scan(t.s.db, []byte{prefixMerge}, []byte{prefixMerge + 1}, func(k, v []byte) error {
		m, err := decodeMerge(v)
		if err != nil {
			return err
		}
		into[m.Survivor] = append(into[m.Survivor], m.Absorbed)
		merges = append(merges, seqd[Merge]{slices.Clone(k), m})
		return nil
	}); err != nil {
		return nil, err
	}
	ids := map[string]bool{id: true}
	queue := []string{id}
	er := &Erased{}
	for len(queue) > 0 {
		c := queue[0]
		queue = queue[1:]
		for _, a := range into[c] {
			if !ids[a] {
				ids[a] = true
				queue = append(queue, a)
				er.Absorbed = append(er.Absorbed, a)
			}
		}
	}
	slices.Sort(er.Absorbed)
	for _, m := range merges {
		if ids[m.v.Absorbed] || ids[m.v.Survivor] {
			t.write(m.k, nil, true)
			er.Merges = append(er.Merges, *m.v)
		}
	}
	if err := scan(t.s.db, []byte{prefixConflict}, []byte{prefixConflict + 1}, func(k, v []byte) error {
		c, err := decodeConflict(v)
		if err != nil {
			return err
		}
		if ids[c.Customer] {
			t.write(slices.Clone(k), nil, true)
			er.Conflicts = append(er.Conflicts, *c)
		}
		return nil
	}); err != nil {
		return nil, err
	}
	if err := scan(t.s.db, []byte{prefixTrigger}, []byte{prefixTrigger + 1}, func(k, v []byte) error {
		g, err := decodeTrigger(v)
		if err != nil {
			return err
		}
		if ids[g.Customer] {
			t.write(slices.Clone(k), nil, true)
			er.Triggers = append(er.Triggers, *g)
		}
		return nil
	}); err != nil {
		return nil, err
	}
	// The customers' triggers in the index that state written before
	// 2026-12-06 may hold, in customer order (ids have a fixed length: a
	// customer's keys are the ones with its prefix). Nothing writes it
	// now: the ClickHouse writer finds a forgotten customer's trigger rows
	// in ClickHouse.
	for _, c := range slices.Sorted(maps.Keys(ids)) {
		lo := key(prefixFired, c)
		if err := scan(t.s.db, lo, prefixEnd(lo), func(k, _ []byte) error {
			if len(k) <= len(lo) {
				return ErrCorrupt
			}
			t.write(slices.Clone(k), nil, true)
			er.Triggers = append(er.Triggers, Trigger{ID: string(k[len(lo):]), Customer: c})
			return nil
		}); err != nil {
			return nil, err
		}
	}
	if err := scan(t.s.db, []byte{prefixTimer}, []byte{prefixTimer + 1}, func(k, v []byte) error {
		if ids[string(v)] {
			t.removeStoredTimer(string(k))
		}
		return nil
	}); err != nil {
		return nil, err
	}
	for _, a := range er.Absorbed {
		t.DeleteAbsorbed(a)
	}
	return er, nil
}

// FindBytes returns the first key whose key or value holds needle, or nil:
// a check that an erased value is gone from every record (tests, audits).
// It reads the whole store.
func (s *Store) FindBytes(needle []byte) ([]byte, error) {
	var found []byte
	err := scan(s.db, nil, nil, func(k, v []byte) error {
		if len(k) > 0 && k[0] == prefixRows {
			var err error
			if v, err = unpackRows(nil, v); err != nil {
				return err
			}
		}
		if bytes.Contains(k, needle) || bytes.Contains(v, needle) {
			found = slices.Clone(k)
			return errStop
		}
		return nil
	})
	if err == errStop {
		err = nil
	}
	return found, err
}
