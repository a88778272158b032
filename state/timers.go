package state

import (
	"encoding/binary"
	"errors"
	"slices"
	"strings"
)

// Trigger rules keep, besides the customers' records:
//
//	t <due:8> <rule> 0x00 <event id>  → customer id: a timer (an absence rule's window ends at due)
//	a <absorbed customer id>          → survivor id: where a merged-away customer went
//	g <seq:8>                         → Trigger, in the order fired (an engine keeping the log)
//	h <customer id> <trigger id>      → (empty) a trigger fired for the customer: written by an engine keeping no log until 2026-12-06, now only read and deleted by a forget
//	v 'w'                             → the newest event time applied (int64), the watermark's base
//
// Timers are keyed by due time, so that the ones the watermark has passed are
// one scan from the start of the range.

const (
	prefixTimer    = 't'
	prefixAbsorbed = 'a'
	prefixTrigger  = 'g'
	prefixFired    = 'h'
	metaEventTime  = 'w'
)

// Trigger is a fired trigger as recorded.
type Trigger struct {
	ID       string
	Rule     string
	Customer string
	FiredAt  int64    // event time, ms
	EventIDs []string // the events that caused it
	Stage    string   // the customer's stage then
	IDs      []string // the customer's identifiers then, "type:value"
}

func (g *Trigger) appendTo(b []byte) []byte {
	return enc(append(b, recordVersion)).str(g.ID).str(g.Rule).str(g.Customer).i64(g.FiredAt).strs(g.EventIDs).str(g.Stage).strs(g.IDs)
}

func decodeTrigger(b []byte) (*Trigger, error) {
	d := dec{b: b}
	d.version()
	g := &Trigger{ID: d.str(), Rule: d.str(), Customer: d.str(), FiredAt: d.i64(), EventIDs: d.strs(), Stage: d.str(), IDs: d.strs()}
	return g, d.done()
}

func appendTimerKey(b []byte, due int64, rule, eventID string) []byte {
	b = appendTS(append(b, prefixTimer), due)
	b = append(append(b, rule...), 0)
	return append(b, eventID...)
}

// SetTimer sets a timer for an event of a rule, owned by a customer.
func (t *Txn) SetTimer(due int64, rule, eventID, cust string) {
	var buf [96]byte
	t.noteTimer(string(appendTimerKey(buf[:0], due, rule, eventID)), cust)
}

// DeleteTimer removes a timer (fired or cancelled). A timer set in this
// Txn and removed again is never written: abandoned carts set and cancel
// most of theirs within one batch (the purchase follows within minutes),
// and a deletion marker for a key Pebble never held would travel through
// its flushes and compactions for nothing. So a timer that was stored
// before this Txn, set again in it and then removed may stay stored: the
// engine must recognise a timer that fires for nothing, as it does (an
// absence looks for its waiting first event, a segment timer compares its
// time with the customer's).
func (t *Txn) DeleteTimer(due int64, rule, eventID string) {
	var buf [96]byte
	t.noteTimer(string(appendTimerKey(buf[:0], due, rule, eventID)), "")
}

// timerChange is a timer's state in a Txn.
type timerChange struct {
	cust  string // its owner; "" when removed
	fresh bool   // set in this Txn before any removal: not stored, as far as the Txn knows
}

// noteTimer records a timer change of this Txn in the map (current value)
// and, for a new key, in the key list that range lookups search, sorted
// when one does: a batch sets hundreds of timers and looks them up rarely
// (DueTimers, at its start and when the watermark passes its horizon), so
// keeping the list sorted as it grows cost more than the lookups.
// Commit writes the timers from the map.
func (t *Txn) noteTimer(k, cust string) {
	if t.timers == nil {
		t.timers = map[string]timerChange{}
	}
	ch, seen := t.timers[k]
	if !seen {
		t.timerKeys = append(t.timerKeys, k)
		t.timerKeysSorted = len(t.timerKeys) == 1 || (t.timerKeysSorted && t.timerKeys[len(t.timerKeys)-2] < k)
		ch.fresh = cust != ""
	}
	ch.cust = cust
	t.timers[k] = ch
}

// removeStoredTimer removes a timer known to be stored (found by a scan):
// its deletion is written whatever this Txn did to it before.
func (t *Txn) removeStoredTimer(k string) {
	t.noteTimer(k, "")
	t.timers[k] = timerChange{}
}

// writeTimers adds this Txn's timer changes to its writes.
func (t *Txn) writeTimers() {
	for _, k := range t.timerKeys {
		switch ch := t.timers[k]; {
		case ch.cust != "":
			t.write([]byte(k), []byte(ch.cust), false)
		case !ch.fresh:
			t.write([]byte(k), nil, true)
		}
	}
}

// txnTimers calls fn for this Txn's live timers with keys in [lo, hi).
func (t *Txn) txnTimers(lo, hi []byte, fn func(k, cust string) bool) {
	if !t.timerKeysSorted {
		slices.Sort(t.timerKeys)
		t.timerKeysSorted = true
	}
	i, _ := slices.BinarySearch(t.timerKeys, string(lo))
	for ; i < len(t.timerKeys) && t.timerKeys[i] < string(hi); i++ {
		k := t.timerKeys[i]
		if cust := t.timers[k].cust; cust != "" && !fn(k, cust) {
			return
		}
	}
}

// Timer is a timer that is due.
type Timer struct {
	Due      int64
	Rule     string
	EventID  string
	Customer string // the owner when it was set; see Txn.Survivor
}

// DueTimers returns the timers due in [from, upTo], in due order,
// including this Txn's changes. Callers that know no timer is due before
// from (they fired those) pass it: fired timers leave deletion markers at
// the head of the range until Pebble compacts them, and a scan from the
// start would step over every one.
func (t *Txn) DueTimers(from, upTo int64) ([]Timer, error) {
	lo := appendTS([]byte{prefixTimer}, from)
	hi := appendTS([]byte{prefixTimer}, upTo+1)
	var out []Timer
	add := func(k []byte, cust string) {
		due := int64(binary.BigEndian.Uint64(k[1:9]) ^ (1 << 63))
		rule, eid, _ := strings.Cut(string(k[9:]), "\x00")
		out = append(out, Timer{Due: due, Rule: rule, EventID: eid, Customer: cust})
	}
	if err := scan(t.s.db, lo, hi, func(k, v []byte) error {
		if len(k) < 10 {
			return ErrCorrupt
		}
		if _, changed := t.timers[string(k)]; !changed {
			add(k, string(v))
		}
		return nil
	}); err != nil {
		return nil, err
	}
	t.txnTimers(lo, hi, func(k, cust string) bool {
		add([]byte(k), cust)
		return true
	})
	slices.SortFunc(out, func(a, b Timer) int {
		if a.Due != b.Due {
			if a.Due < b.Due {
				return -1
			}
			return 1
		}
		if c := strings.Compare(a.Rule, b.Rule); c != 0 {
			return c
		}
		return strings.Compare(a.EventID, b.EventID)
	})
	return out, nil
}

// FirstTimerDue is the due time of the earliest timer due at or after from,
// including this Txn's changes; ok=false when there is none.
func (t *Txn) FirstTimerDue(from int64) (due int64, ok bool, err error) {
	lo := appendTS([]byte{prefixTimer}, from)
	err = scan(t.s.db, lo, []byte{prefixTimer + 1}, func(k, _ []byte) error {
		if _, changed := t.timers[string(k)]; changed {
			return nil
		}
		if len(k) < 10 {
			return ErrCorrupt
		}
		due, ok = int64(binary.BigEndian.Uint64(k[1:9])^(1<<63)), true
		return errStop
	})
	if err == errStop {
		err = nil
	}
	t.txnTimers(lo, []byte{prefixTimer + 1}, func(k, _ string) bool {
		if d := int64(binary.BigEndian.Uint64([]byte(k)[1:9]) ^ (1 << 63)); !ok || d < due {
			due, ok = d, true
		}
		return false // the first live one is the earliest
	})
	return due, ok, err
}

var errStop = errors.New("stop")

// SetAbsorbed records that a customer was merged into another.
func (t *Txn) SetAbsorbed(absorbed, survivor string) {
	if t.absorbed == nil {
		t.absorbed = map[string]string{}
	}
	t.absorbed[absorbed] = survivor
	t.write(key(prefixAbsorbed, absorbed), []byte(survivor), false)
}

// Survivor follows merges from a customer id to the customer that holds it
// now (the id itself when it was never absorbed).
func (t *Txn) Survivor(id string) (string, error) {
	for range 64 { // a chain longer than this would be a cycle: corrupt
		next, ok := t.absorbed[id]
		if !ok {
			v, found, err := get(t.s.db, key(prefixAbsorbed, id), func(b []byte) (string, error) { return string(b), nil })
			if err != nil {
				return "", err
			}
			if !found {
				return id, nil
			}
			next = v
		}
		id = next
	}
	return "", ErrCorrupt
}

// SurvivorOf is Survivor over the committed state, for readers other than
// the writer (the HTTP API): where a merged-away customer id went.
func (s *Store) SurvivorOf(id string) (string, error) {
	for range 64 {
		v, found, err := get(s.db, key(prefixAbsorbed, id), func(b []byte) (string, error) { return string(b), nil })
		if err != nil {
			return "", err
		}
		if !found {
			return id, nil
		}
		id = v
	}
	return "", ErrCorrupt
}

// AddTrigger appends to the trigger log.
func (t *Txn) AddTrigger(g *Trigger) {
	t.s.nextTrigger++
	var k [9]byte
	k[0] = prefixTrigger
	binary.BigEndian.PutUint64(k[1:], t.s.nextTrigger-1)
	t.writeWith(k[:], g.appendTo)
}

// Triggers calls fn for every fired trigger in the order fired.
func (s *Store) Triggers(fn func(*Trigger) error) error {
	return scan(s.db, []byte{prefixTrigger}, []byte{prefixTrigger + 1}, func(_, v []byte) error {
		g, err := decodeTrigger(v)
		if err != nil {
			return err
		}
		return fn(g)
	})
}

// NoteEventTime records an applied event's time; the newest is stored at
// Commit.
func (t *Txn) NoteEventTime(ms int64) {
	if cur, ok := t.EventTime(); !ok || ms > cur {
		t.eventTime, t.eventTimeSet = ms, true
	}
}

// EventTime is the newest event time applied, as of this Txn; ok=false
// before any.
func (t *Txn) EventTime() (int64, bool) {
	if t.eventTimeSet {
		return t.eventTime, true
	}
	return t.s.eventTime, t.s.hasEventTime
}

func (s *Store) loadEventTime() error {
	v, found, err := get(s.db, []byte{prefixMeta, metaEventTime}, func(b []byte) (int64, error) {
		if len(b) != 8 {
			return 0, ErrCorrupt
		}
		return int64(binary.BigEndian.Uint64(b)), nil
	})
	s.eventTime, s.hasEventTime = v, found
	return err
}

// EventTime is the newest event time committed; ok=false before any.
func (s *Store) EventTime() (int64, bool) { return s.eventTime, s.hasEventTime }
