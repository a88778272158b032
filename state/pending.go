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

// A customer's pending first events change on some of its events only,
// and by an entry or two, while its record changes on every one: each
// entry is a key of its own,
//
//	'p' customer-id 0x00 time(8) rule 0x00 event-id  →  (empty)
//
// so that adding or removing one writes one small key, not the list. The
// record counts the entries (pendingN), which a reader checks. Records
// written before keep the list under the key 'p' customer-id (version 2)
// or inline (version 1); such a list is written entry by entry at the
// customer's next write.

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

// pendingChange is an entry added to or removed from a list since it was
// last written.
type pendingChange struct {
	p   Pending
	del bool
}

// AddPending adds p to the pending list, in its place; an entry already
// there is not added twice.
func (c *Customer) AddPending(p Pending) {
	i, found := slices.BinarySearchFunc(c.Pending, &p, func(x Pending, y *Pending) int { return comparePending(&x, y) })
	if found {
		return
	}
	c.Pending = slices.Insert(c.Pending, i, p)
	c.pendingLog = append(c.pendingLog, pendingChange{p: p})
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
	c.logRemoved(c.Pending[i])
	c.Pending = slices.Delete(c.Pending, i, i+1)
}

// KeepPending keeps the entries keep reports true for.
func (c *Customer) KeepPending(keep func(*Pending) bool) {
	kept := c.Pending[:0]
	for i := range c.Pending {
		if keep(&c.Pending[i]) {
			kept = append(kept, c.Pending[i])
		} else {
			c.logRemoved(c.Pending[i])
		}
	}
	clear(c.Pending[len(kept):]) // no stale strings kept alive
	c.Pending = kept
}

func (c *Customer) logRemoved(p Pending) {
	// An entry added since the last write was never stored: both go.
	for j := len(c.pendingLog) - 1; j >= 0; j-- {
		if l := c.pendingLog[j]; !l.del && l.p == p {
			c.pendingLog = slices.Delete(c.pendingLog, j, j+1)
			return
		}
	}
	c.pendingLog = append(c.pendingLog, pendingChange{p: p, del: true})
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

// writePending writes what changed in c's list since it was read or last
// written: its logged changes, or every entry for a record of an older
// layout or one that replaced another. buf is scratch space, returned for
// reuse.
func (t *Txn) writePending(c *Customer, buf []byte) []byte {
	switch {
	case c.layout == 1 || c.layout == 2 || c.pendingRewrite:
		if c.layout == 2 {
			t.write(key(prefixPending, c.ID), nil, true)
		}
		for i := range c.Pending {
			buf = appendPendingKey(buf[:0], c.ID, &c.Pending[i])
			t.write(buf, nil, false)
		}
	default:
		if checkPendingWrites {
			c.checkPendingLog()
		}
		for i := range c.pendingLog {
			l := &c.pendingLog[i]
			buf = appendPendingKey(buf[:0], c.ID, &l.p)
			t.write(buf, nil, l.del)
		}
	}
	// The log's array is kept for the next batch: most customers change
	// their list again, by an entry or two.
	clear(c.pendingLog)
	c.layout, c.pendingLog, c.pendingRewrite = customerVersion, c.pendingLog[:0], false
	if checkPendingWrites {
		c.storedCopy = slices.Clone(c.Pending)
	}
	return buf
}

// deletePending deletes c's stored entries: those of its list with the
// changes since the last write undone.
func (t *Txn) deletePending(c *Customer) {
	if c.layout == 2 {
		t.write(key(prefixPending, c.ID), nil, true)
	}
	var kb [128]byte
	for i := range c.Pending {
		t.write(appendPendingKey(kb[:0], c.ID, &c.Pending[i]), nil, true)
	}
	for i := range c.pendingLog {
		if l := &c.pendingLog[i]; l.del {
			t.write(appendPendingKey(kb[:0], c.ID, &l.p), nil, true)
		}
	}
	c.pendingLog = nil
}

// checkPendingLog panics when c's list is not the stored list changed by
// the log: it was changed by hand, and the change would not be stored.
func (c *Customer) checkPendingLog() {
	want := slices.Clone(c.storedCopy)
	for _, l := range c.pendingLog {
		i, found := slices.BinarySearchFunc(want, &l.p, func(x Pending, y *Pending) int { return comparePending(&x, y) })
		switch {
		case l.del && found:
			want = slices.Delete(want, i, i+1)
		case !l.del && !found:
			want = slices.Insert(want, i, l.p)
		default:
			panic(fmt.Sprintf("state: customer's Pending log does not fit its stored list (del=%v, present=%v)", l.del, found))
		}
	}
	if !slices.Equal(want, c.Pending) {
		panic("state: a customer's Pending list changed without AddPending, MergePending, DeletePending or KeepPending: the change would not be stored")
	}
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
	if !pendingKeys(c.layout) {
		// Older layouts kept the list in arrival order.
		slices.SortFunc(c.Pending, func(x, y Pending) int { return comparePending(&x, &y) })
		c.Pending = slices.CompactFunc(c.Pending, func(x, y Pending) bool { return x == y })
	}
	if checkPendingWrites {
		c.storedCopy = slices.Clone(c.Pending)
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
