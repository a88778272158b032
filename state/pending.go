package state

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/cockroachdb/pebble/v2"
)

// A customer's pending first events are in the hot part of its record
// (since version 7; see appendHot), which is written with every event of
// the customer anyway. Versions 3 to 6 kept each entry under a key of its
// own,
//
//	'p' customer-id 0x00 time(8) rule 0x00 event-id  →  (empty)
//
// so that a change wrote one small key, not the list, when the record was
// one value of every field: since the record is split into a hot and a
// cold part, the list costs the hot part a few dozen bytes per entry, and
// its keys cost every read of a customer with one a seek of its own and
// every entry two writes and their compactions. Records of those versions
// (and of version 2, the list under 'p' customer-id, and version 1, the
// list inline) still read; their keys are deleted at the customer's next
// write.

// Pending is the first event (A) of a sequence or absence rule waiting for
// its second (B) or, for an absence, for its window to pass.
type Pending struct {
	Rule    string
	EventID string
	TS      int64
}

// comparePending orders a list as its keys: time, rule, event id.
func comparePending(x, y *Pending) int {
	switch {
	case x.TS < y.TS:
		return -1
	case x.TS > y.TS:
		return 1
	}
	if c := strings.Compare(x.Rule, y.Rule); c != 0 {
		return c
	}
	return strings.Compare(x.EventID, y.EventID)
}

// searchPending finds p's place in ps, a list in comparePending's order
// (Pending or Paired), and whether it is there.
func searchPending(ps []Pending, p *Pending) (int, bool) {
	return slices.BinarySearchFunc(ps, p, func(x Pending, y *Pending) int { return comparePending(&x, y) })
}

// AddPending adds p to the pending list, in its place; an entry already
// there is not added twice.
func (c *Customer) AddPending(p Pending) {
	i, found := searchPending(c.Pending, &p)
	if !found {
		c.Pending = slices.Insert(c.Pending, i, p)
	}
}

// HasPending reports whether p is in the pending list.
func (c *Customer) HasPending(p Pending) bool {
	_, found := searchPending(c.Pending, &p)
	return found
}

// MergePending adds ps to the list (a merge brings the absorbed
// customer's).
func (c *Customer) MergePending(ps []Pending) {
	for _, p := range ps {
		c.AddPending(p)
	}
}

// DeletePending removes the list's i-th entry.
func (c *Customer) DeletePending(i int) {
	c.Pending = slices.Delete(c.Pending, i, i+1)
}

// KeepPending keeps the entries keep reports true for.
func (c *Customer) KeepPending(keep func(*Pending) bool) {
	c.Pending = keepEntries(c.Pending, keep)
}

// keepEntries keeps the entries of ps keep reports true for, in place.
// (slices.DeleteFunc with keep(&copy) would move each copy to the heap:
// keep is not known to the compiler.)
func keepEntries(ps []Pending, keep func(*Pending) bool) []Pending {
	n := 0
	for i := range ps {
		if keep(&ps[i]) {
			ps[n] = ps[i]
			n++
		}
	}
	clear(ps[n:])
	return ps[:n]
}

func appendPendingKey(b []byte, cust string, p *Pending) []byte {
	b = append(append(append(b, prefixPending), cust...), 0)
	b = appendTS(b, p.TS)
	b = append(append(b, p.Rule...), 0)
	return append(b, p.EventID...)
}

// pendingRange bounds the keys of cust's entries.
func pendingRange(cust string) (lo, hi []byte) {
	lo = append(append([]byte{prefixPending}, cust...), 0)
	hi = append(append([]byte{prefixPending}, cust...), 1)
	return lo, hi
}

// deleteLegacyPending deletes what c's record of an older layout keeps
// outside the record: its list key (version 2) or the keys of its entries
// as read (versions 3 to 6). A record of the current layout keeps nothing
// outside.
func (t *Txn) deleteLegacyPending(c *Customer) {
	if c.layout == 2 {
		t.write(key(prefixPending, c.ID), nil, true)
	}
	var kb [128]byte
	for i := range c.storedKeys {
		t.write(appendPendingKey(kb[:0], c.ID, &c.storedKeys[i]), nil, true)
	}
	c.storedKeys = nil
}

// loadPending reads the pending list of a customer just decoded.
func loadPending(r pebble.Reader, c *Customer) error {
	switch {
	case pendingKeys(c.layout) && c.pendingN > 0:
		lo, hi := pendingRange(c.ID)
		ps := make([]Pending, 0, c.pendingN)
		if err := scan(r, lo, hi, func(k, _ []byte) error {
			p, ok := parsePendingKey(k[len(lo):])
			if !ok {
				return fmt.Errorf("%w: pending key of %d bytes", ErrCorrupt, len(k))
			}
			ps = append(ps, p)
			return nil
		}); err != nil {
			return err
		}
		if uint64(len(ps)) != c.pendingN {
			return fmt.Errorf("%w: customer record counts %d pending first events, %d stored", ErrCorrupt, c.pendingN, len(ps))
		}
		c.Pending = ps
	case c.layout == 2 && c.pendingN > 0:
		b, closer, err := r.Get(key(prefixPending, c.ID))
		if errors.Is(err, pebble.ErrNotFound) {
			return fmt.Errorf("%w: customer record counts %d pending first events, none stored", ErrCorrupt, c.pendingN)
		}
		if err != nil {
			return err
		}
		defer closer.Close()
		ps, err := decodePending(b)
		if err == nil && uint64(len(ps)) != c.pendingN {
			err = fmt.Errorf("%w: customer record counts %d pending first events, %d stored", ErrCorrupt, c.pendingN, len(ps))
		}
		if err != nil {
			return err
		}
		c.Pending = ps
	}
	if pendingKeys(c.layout) {
		// Deleted at the next write, when the list moves into the record.
		c.storedKeys = slices.Clone(c.Pending)
	}
	if c.layout < 3 {
		// Older layouts kept the list in arrival order.
		slices.SortFunc(c.Pending, func(x, y Pending) int { return comparePending(&x, &y) })
		c.Pending = slices.CompactFunc(c.Pending, func(x, y Pending) bool { return x == y })
	}
	return nil
}

// parsePendingKey parses the part of an entry's key after the customer id
// and its 0 byte.
func parsePendingKey(k []byte) (Pending, bool) {
	if len(k) < 9 {
		return Pending{}, false
	}
	ts := int64(binary.BigEndian.Uint64(k) ^ (1 << 63))
	rule, eid, ok := bytes.Cut(k[8:], []byte{0})
	if !ok || len(rule) == 0 || len(eid) == 0 {
		return Pending{}, false
	}
	return Pending{Rule: string(rule), EventID: string(eid), TS: ts}, true
}

// IsPaired reports whether p is in the Paired list.
func (c *Customer) IsPaired(p Pending) bool {
	_, found := searchPending(c.Paired, &p)
	return found
}

// AddPaired adds p to the Paired list, in its place.
func (c *Customer) AddPaired(p Pending) {
	i, found := searchPending(c.Paired, &p)
	if !found {
		c.Paired = slices.Insert(c.Paired, i, p)
	}
}

// KeepPaired keeps the Paired entries keep reports true for.
func (c *Customer) KeepPaired(keep func(*Pending) bool) {
	c.Paired = keepEntries(c.Paired, keep)
	if len(c.Paired) == 0 {
		c.Paired = nil // one encoding, one cold-part sum
	}
}
