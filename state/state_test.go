package state

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/fnv"
	"math"
	"reflect"
	"slices"
	"testing"
)

func TestRecordsRoundTrip(t *testing.T) {
	c := &Customer{ID: "c_0123456789abcdef", Origin: "ev-1", FirstSeen: -62135596800000, LastSeen: 253402300799999,
		Events: 7, Purchases: 2, Revenue: 59.9, Stage: "purchase", StageTS: 5, StageEID: "ev-2",
		Channels: []string{"store", "web"}, IDs: []string{"email:a@b.com", "phone:+49301234567"},
		ThenFor: 1<<63 | 5, LastThen: []int64{math.MinInt64, -3, 1 << 40}, SegDue: 1 << 41, layout: customerVersion,
		Pending: []Pending{{Rule: "cart", EventID: "ev-3", TS: -7}, {Rule: "buy", EventID: "ev-4", TS: 8}}, pendingN: 2,
		Paired: []Pending{{Rule: "seq", EventID: "ev-5", TS: 3}}, SeqFrom: -9,
		FirstFor: 1<<63 | 7, LatestFirst: []FirstRef{{TS: 4, EventID: "ev-6", RestPaired: 3_600_000}, {}}}
	cold := c.appendCold(nil)
	gc, err := decodeCustomer(c.ID, c.appendHot(nil))
	if err == nil {
		err = gc.decodeCold(cold)
	}
	c.coldSum = coldHash(cold)
	if err != nil || !reflect.DeepEqual(c, gc) {
		t.Fatalf("customer round trip: %+v, %v", gc, err)
	}
	// A version 7 record's LatestFirst entries end at their event id:
	// whether the rest paired is not known.
	latest := c.LatestFirst
	c.LatestFirst = nil
	h := appendHotV8(c)
	h = enc(binary.AppendUvarint(h[:len(h)-1], 2)).i64(4).str("ev-6").i64(0).str("")
	h[0] = 7
	c.LatestFirst = []FirstRef{{TS: 4, EventID: "ev-6"}, {}}
	if g7, err := decodeCustomer(c.ID, h); err != nil || !reflect.DeepEqual(g7.LatestFirst, c.LatestFirst) || g7.layout != 7 {
		t.Fatalf("version 7 record: %+v, %v", g7, err)
	}
	c.LatestFirst = latest
	// A version 8 hot part (names, the stage's event id and the revenue
	// whole) reads the same.
	if g8, err := decodeCustomer(c.ID, appendHotV8(c)); err != nil || g8.layout != 8 || g8.Stage != c.Stage || g8.StageEID != c.StageEID ||
		g8.Revenue != c.Revenue || g8.LastEID != c.LastEID || g8.LastChannel != c.LastChannel || !reflect.DeepEqual(g8.LatestFirst, c.LatestFirst) {
		t.Fatalf("version 8 record: %+v, %v", g8, err)
	}
	// Version 9 writes the stage's event id as a byte when it is the last
	// event's, known names as codes, a zero revenue as a byte, and the rest
	// whole.
	for _, h := range []Customer{
		{Stage: "consideration", StageEID: "ev-9", LastEID: "ev-9", LastChannel: "web"},
		{Stage: "purchase", StageEID: "ev-8", LastEID: "ev-9", LastChannel: "email", Revenue: 12.5},
		{Stage: "", StageEID: "", LastEID: "ev-9", LastChannel: "kiosk"},
		{Stage: "rebuy", StageEID: "ev-1", LastEID: "", LastChannel: ""},
	} {
		h.ID, h.Events, h.layout = c.ID, 3, customerVersion
		b := h.appendHot(nil)
		g, err := decodeCustomer(h.ID, b)
		if err != nil || !reflect.DeepEqual(&h, g) {
			t.Fatalf("version 9 hot part: %+v, %v", g, err)
		}
		if v8 := appendHotV8(&h); h.Stage == "consideration" && len(b) > len(v8)-20 {
			t.Errorf("version 9 hot part of %d bytes, version 8 %d", len(b), len(v8))
		}
	}
	// A version 4 record, one value, reads the same; its Pending list is
	// read from keys of its own (loadPending), and it reads the journey
	// for sequences' first events after its latest event only.
	c.layout, c.coldSum = 4, 0
	c.Paired, c.SeqFrom, c.FirstFor, c.LatestFirst = nil, c.LastSeen+1, 0, nil
	g4, err := decodeCustomer("ignored", appendCustomerV4(c))
	if err == nil {
		g4.Pending = c.Pending
	}
	if err != nil || !reflect.DeepEqual(c, g4) {
		t.Fatalf("version 4 record: %+v, %v", g4, err)
	}
	r := &Identifier{Customer: "c_0123456789abcdef", Shared: true, Co: []string{"loyalty:L1"}}
	gr, err := decodeIdentifier(r.appendTo(nil))
	if err != nil || !reflect.DeepEqual(r, gr) {
		t.Fatalf("identifier round trip: %+v, %v", gr, err)
	}
	links := []string{"cookie:x", "email:a@b.com"}
	en := &Entry{EventID: "ev-1", TS: -5, Channel: "web", Type: "page_view", Links: []uint64{LinkSum(links[0]), LinkSum(links[1])}, Revenue: 1.5, Props: []byte(`{"a":1}`)}
	k := appendJourneyKey(nil, c.ID, en.TS, en.EventID)
	ge, err := decodeEntry(k, en.appendValue(nil))
	if err != nil || !reflect.DeepEqual(en, ge) {
		t.Fatalf("entry round trip: %+v, %v", ge, err)
	}
	// An entry of version 1, links as "type:value", reads as their sums;
	// one of version 2 (names and revenue whole) as it was written.
	if g1, err := decodeEntry(k, appendEntryV1(en, links)); err != nil || !reflect.DeepEqual(en, g1) {
		t.Fatalf("version 1 entry: %+v, %v", g1, err)
	}
	if g2, err := decodeEntry(k, appendEntryV2(en)); err != nil || !reflect.DeepEqual(en, g2) {
		t.Fatalf("version 2 entry: %+v, %v", g2, err)
	}
	// Names of SPEC's list take a byte each, others are written whole; a
	// zero revenue takes a byte.
	for _, e := range []*Entry{
		{EventID: "ev-2", TS: 7, Channel: "kiosk", Type: "page_view"},
		{EventID: "ev-3", TS: 8, Channel: "store", Type: "return", Revenue: -3.25},
		{EventID: "ev-4", TS: 9, Channel: "", Type: "survey_response", Props: []byte(`{"score":3}`)},
	} {
		v := e.appendValue(nil)
		if ge, err := decodeEntry(appendJourneyKey(nil, c.ID, e.TS, e.EventID), v); err != nil || !reflect.DeepEqual(e, ge) {
			t.Fatalf("entry round trip: %+v, %v", ge, err)
		}
		if v2 := appendEntryV2(e); len(v) >= len(v2) && e.Channel != "kiosk" {
			t.Errorf("entry %s: %d bytes, version 2 took %d", e.EventID, len(v), len(v2))
		}
	}
	// The sum is stored: it must stay FNV-1a, 64 bits.
	for _, k := range links {
		h := fnv.New64a()
		h.Write([]byte(k))
		if got, want := LinkSum(k), h.Sum64(); got != want {
			t.Errorf("LinkSum(%q) = %#x, FNV-1a %#x", k, got, want)
		}
	}
	m := &Merge{Absorbed: "c_1", Survivor: "c_2", Via: "email:a@b.com", At: 9, EventID: "e"}
	if gm, err := decodeMerge(m.appendTo(nil)); err != nil || !reflect.DeepEqual(m, gm) {
		t.Fatalf("merge round trip: %+v, %v", gm, err)
	}
	x := &Conflict{Customer: "c_1", IDType: "crm", IDValue: "C-2", Reason: "merge_limit:crm", At: 3, EventID: "e"}
	if gx, err := decodeConflict(x.appendTo(nil)); err != nil || !reflect.DeepEqual(x, gx) {
		t.Fatalf("conflict round trip: %+v, %v", gx, err)
	}
	// Journey keys sort by time, negative times first.
	a := appendJourneyKey(nil, c.ID, -1, "z")
	b := appendJourneyKey(nil, c.ID, 0, "a")
	if string(a) >= string(b) {
		t.Fatal("journey keys do not sort by signed time")
	}
}

// FuzzDecodeRecords: stored bytes of any shape decode to a record or
// ErrCorrupt, never a panic, and a decoded record survives encoding and
// decoding again unchanged.
func FuzzDecodeRecords(f *testing.F) {
	f.Add(appendCustomerV4(&Customer{ID: "c_1", IDs: []string{"a:b"}}))
	f.Add((&Customer{ID: "c_1", Events: 2, Overflow: 1, LastThen: []int64{5}}).appendHot(nil))
	f.Add((&Customer{ID: "c_1", IDs: []string{"a:b"}, Fires: []Fire{{Rule: "r", Count: 1}}, SegDue: 3}).appendCold(nil))
	f.Add((&Identifier{Customer: "c_1", Co: []string{"x:y"}}).appendTo(nil))
	f.Add((&Entry{Channel: "web", Props: []byte("{}")}).appendValue(nil))
	f.Add(appendPendingV2(nil, []Pending{{Rule: "r", EventID: "e1", TS: -3}, {Rule: "s", EventID: "e2", TS: 9}, {Rule: "r", EventID: "e3", TS: 9}}))
	f.Add([]byte{1, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01})
	f.Fuzz(func(t *testing.T, b []byte) {
		if c, err := decodeCustomer("c_1", b); err == nil {
			// A version 1 record holds its Pending list inline, as
			// version 7 does. Of a version 2 to 6 record the caller reads
			// the list from keys of its own: here it stays empty. Of a
			// hot part the cold part stays empty. Whatever the version
			// read, the record is written as version 7.
			if c.Pending == nil {
				c.pendingN = 0
			}
			again, err := decodeCustomer(c.ID, c.appendHot(nil))
			if err == nil {
				err = again.decodeCold(c.appendCold(nil))
			}
			if err == nil && again.pendingN != uint64(len(c.Pending)) {
				t.Fatalf("a customer with %d pending first events written counts %d", len(c.Pending), again.pendingN)
			}
			if again != nil {
				again.Pending, again.pendingN, again.layout, again.coldSum = c.Pending, c.pendingN, c.layout, c.coldSum
			}
			if err != nil || !reflect.DeepEqual(c, again) {
				t.Fatalf("customer does not survive a round trip: %+v %+v %v", c, again, err)
			}
		} else if !errors.Is(err, ErrCorrupt) {
			t.Fatal(err)
		}
		for _, layout := range []byte{6, customerVersion} {
			cold := Customer{layout: layout}
			if err := cold.decodeCold(b); err != nil {
				if !errors.Is(err, ErrCorrupt) {
					t.Fatal(err)
				}
				continue
			}
			// Written, a cold part is version 7's. Its sum is of the bytes
			// read, which may differ from those written: a version 6 one, or
			// any with something in SegDue's old slot (written as 0).
			again := Customer{layout: customerVersion}
			err := again.decodeCold(cold.appendCold(nil))
			again.layout, again.coldSum = layout, cold.coldSum
			if err != nil || !reflect.DeepEqual(cold, again) {
				t.Fatalf("cold part does not survive a round trip: %+v %+v %v", cold, again, err)
			}
		}
		if ps, err := decodePending(b); err == nil {
			if again, err := decodePending(appendPendingV2(nil, ps)); err != nil || !reflect.DeepEqual(ps, again) {
				t.Fatalf("pending list does not survive a round trip: %+v %+v %v", ps, again, err)
			}
		} else if !errors.Is(err, ErrCorrupt) {
			t.Fatal(err)
		}
		if p, ok := parsePendingKey(b); ok {
			k := appendPendingKey(nil, "c_1", &p)
			if again, ok := parsePendingKey(k[len("pc_1")+1:]); !ok || again != p {
				t.Fatalf("pending key does not survive a round trip: %+v %+v", p, again)
			}
		}
		if r, err := decodeIdentifier(b); err == nil {
			if again, err := decodeIdentifier(r.appendTo(nil)); err != nil || !reflect.DeepEqual(r, again) {
				t.Fatalf("identifier does not survive a round trip: %+v %+v %v", r, again, err)
			}
		} else if !errors.Is(err, ErrCorrupt) {
			t.Fatal(err)
		}
		if _, err := decodeEntry(appendJourneyKey(nil, "c_0123456789abcdef", 1, "e"), b); err != nil && !errors.Is(err, ErrCorrupt) {
			t.Fatal(err)
		}
		if _, err := decodeMerge(b); err != nil && !errors.Is(err, ErrCorrupt) {
			t.Fatal(err)
		}
		if _, err := decodeConflict(b); err != nil && !errors.Is(err, ErrCorrupt) {
			t.Fatal(err)
		}
	})
}

func TestKeyFilterNoFalseNegatives(t *testing.T) {
	f := newKeyFilter(10)
	for i := range 300000 { // grows through several filters
		f.add(fmt.Appendf(nil, "e-%d", i))
	}
	for i := range 300000 {
		if !f.mayContain(fmt.Appendf(nil, "e-%d", i)) {
			t.Fatalf("added key %d reported absent", i)
		}
	}
	fp := 0
	for i := range 100000 {
		if f.mayContain(fmt.Appendf(nil, "x-%d", i)) {
			fp++
		}
	}
	if fp > 5000 { // a few filters at about 1% each
		t.Fatalf("%d false positives in 100000", fp)
	}
}

func TestTxnReadsItsWritesAndReopens(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(dir, Options{CustomerCache: 2, IdentifierCache: 2})
	if err != nil {
		t.Fatal(err)
	}
	cust := "c_0123456789abcdef"
	other := "c_fedcba9876543210"
	tx := s.Begin()
	for i, ts := range []int64{30, 10, 20} {
		if err := tx.PutEntry(cust, &Entry{EventID: fmt.Sprint("e", i), TS: ts, Channel: "web", Type: "t"}); err != nil {
			t.Fatal(err)
		}
		if err := tx.MarkSeen(fmt.Sprint("e", i)); err != nil {
			t.Fatal(err)
		}
	}
	tx.SetCustomer(&Customer{ID: cust, Events: 3})
	tx.SetIdentifier("email:a@b.com", &Identifier{Customer: cust})
	if seen, _ := tx.Seen("e1"); !seen {
		t.Fatal("event marked in this Txn is not seen")
	}
	var order []string
	tx.Journey(cust, func(en *Entry) error { order = append(order, en.EventID); return nil })
	if fmt.Sprint(order) != "[e1 e2 e0]" {
		t.Fatalf("journey in txn = %v, want time order", order)
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}

	// Move one event to another customer and delete the first customer.
	tx = s.Begin()
	var moved *Entry
	tx.Journey(cust, func(en *Entry) error {
		if en.EventID == "e2" {
			moved = en
		}
		return nil
	})
	tx.DeleteEntry(cust, moved.TS, moved.EventID)
	tx.PutEntry(other, moved)
	tx.DeleteCustomer(cust)
	if c, _ := tx.Customer(cust); c != nil {
		t.Fatal("customer deleted in this Txn is still there")
	}
	order = nil
	tx.Journey(cust, func(en *Entry) error { order = append(order, en.EventID); return nil })
	if fmt.Sprint(order) != "[e1 e0]" {
		t.Fatalf("journey after move = %v", order)
	}
	tx.AddMerge(&Merge{Absorbed: cust, Survivor: other})
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	s, err = Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	tx = s.Begin()
	defer tx.Discard()
	if seen, _ := tx.Seen("e0"); !seen {
		t.Fatal("event applied before the reopen is not seen")
	}
	if seen, _ := tx.Seen("e9"); seen {
		t.Fatal("unknown event is seen")
	}
	if r, _ := tx.Identifier("email:a@b.com"); r == nil || r.Customer != cust {
		t.Fatalf("identifier after reopen = %+v", r)
	}
	if c, _ := s.Customer(cust); c != nil {
		t.Fatal("deleted customer came back")
	}
	order = nil
	s.Journey(other, func(en *Entry) error { order = append(order, en.EventID); return nil })
	if fmt.Sprint(order) != "[e2]" {
		t.Fatalf("moved journey = %v", order)
	}
	if s.nextMerge != 2 {
		t.Fatalf("merge sequence after reopen = %d, want 2", s.nextMerge)
	}
}

// Decoded records must not alias Pebble's buffers, which are reused after an
// iterator moves: a merge re-writes moved entries from what it decoded.
func TestDecodedRecordsOwnTheirBytes(t *testing.T) {
	s, err := Open(t.TempDir(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	tx := s.Begin()
	cust := "c_0123456789abcdef"
	for i := range 50 {
		tx.PutEntry(cust, &Entry{EventID: fmt.Sprint("e", i), TS: int64(i), Channel: "web", Type: "t", Props: []byte(fmt.Sprintf(`{"n":%d}`, i))})
	}
	tx.Enqueue(&Message{Topic: "t", Key: []byte("k"), Value: []byte("value"), Headers: []Header{{Key: "error", Value: []byte("why")}}})
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	// Read from sstables: their blocks are released (and, under -race,
	// poisoned by Pebble's invariant checks) when iterators move on.
	if err := s.Flush(); err != nil {
		t.Fatal(err)
	}
	var got []*Entry
	if err := s.Journey(cust, func(en *Entry) error { got = append(got, en); return nil }); err != nil {
		t.Fatal(err)
	}
	msgs, err := s.Outbox(10)
	if err != nil {
		t.Fatal(err)
	}
	// Churn Pebble's buffers before looking at what was decoded.
	for i := range 50 {
		s.Journey(cust, func(*Entry) error { return nil })
		s.Outbox(10)
		_ = i
	}
	for i, en := range got {
		if want := fmt.Sprintf(`{"n":%d}`, i); string(en.Props) != want {
			t.Fatalf("entry %d props %q, want %q", i, en.Props, want)
		}
	}
	if m := msgs[0]; string(m.Key) != "k" || string(m.Value) != "value" || string(m.Headers[0].Value) != "why" {
		t.Fatalf("outbox message changed: %+v", m)
	}
}

func TestOutboxPending(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if n := s.Pending(); n != 0 {
		t.Fatalf("empty outbox pending %d", n)
	}
	tx := s.Begin()
	for range 5 {
		tx.Enqueue(&Message{Topic: "t", Value: []byte("v")})
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	msgs, _ := s.Outbox(2)
	if err := s.Ack(msgs[1].Seq); err != nil {
		t.Fatal(err)
	}
	if n := s.Pending(); n != 3 {
		t.Fatalf("pending %d after delivering 2 of 5, want 3", n)
	}
	s.Close()
	if s, err = Open(dir, Options{}); err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if n := s.Pending(); n != 3 {
		t.Fatalf("pending %d after reopening, want 3", n)
	}
	msgs, _ = s.Outbox(10)
	if len(msgs) != 3 {
		t.Fatalf("%d messages waiting, want 3", len(msgs))
	}
	s.Ack(msgs[2].Seq)
	if n := s.Pending(); n != 0 {
		t.Fatalf("pending %d after delivering all, want 0", n)
	}
}

// A customer's pending first events are in the hot part of its record
// (version 7): an event that adds one writes no key of its own, and the
// list reads back after a restart (no cache), in order. Lists of the older
// layouts (version 1 inline, version 2 under one key, versions 3 to 6 a key
// per entry) still read, and their keys are deleted at the customer's next
// write, or when it is deleted or replaced.
func TestPendingList(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(dir, Options{CustomerCache: 10})
	if err != nil {
		t.Fatal(err)
	}
	pendingWrites := func(tx *Txn) (sets, dels int) {
		for i := range tx.ops {
			if k := tx.opKey(&tx.ops[i]); k[0] == prefixPending {
				if tx.ops[i].del {
					dels++
				} else {
					sets++
				}
			}
		}
		return sets, dels
	}
	commit := func(tx *Txn, wantDels int) {
		t.Helper()
		var sets, dels int
		s.committed = func(tx *Txn) { sets, dels = pendingWrites(tx) }
		defer func() { s.committed = nil }()
		if err := tx.Commit(); err != nil {
			t.Fatal(err)
		}
		if sets != 0 || dels != wantDels {
			t.Fatalf("pending key writes: %d sets, %d deletes; want 0 and %d", sets, dels, wantDels)
		}
	}
	stored := func(id string) int {
		t.Helper()
		n := 0
		lo, hi := pendingRange(id)
		if err := scan(s.db, lo, hi, func(_, _ []byte) error { n++; return nil }); err != nil {
			t.Fatal(err)
		}
		if _, closer, err := s.db.Get(key(prefixPending, id)); err == nil {
			closer.Close()
			n += 1000 // an old layout's list key left behind
		}
		return n
	}

	c := &Customer{ID: "c_00000000000000aa", Events: 1}
	c.AddPending(Pending{Rule: "cart", EventID: "e1", TS: 5})
	c.AddPending(Pending{Rule: "buy", EventID: "e2", TS: 7})
	c.AddPending(Pending{Rule: "buy", EventID: "e2", TS: 7}) // already there
	c.AddPending(Pending{Rule: "cart", EventID: "e3", TS: 2})
	c.AddPending(Pending{Rule: "cart", EventID: "e4", TS: 9})
	c.DeletePending(len(c.Pending) - 1)
	tx := s.Begin()
	tx.SetCustomer(c)
	commit(tx, 0)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s, err = Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	want := []Pending{{Rule: "cart", EventID: "e3", TS: 2}, {Rule: "cart", EventID: "e1", TS: 5}, {Rule: "buy", EventID: "e2", TS: 7}}
	if got, err := s.Customer(c.ID); err != nil || !reflect.DeepEqual(got.Pending, want) || got.SeqFrom != 0 {
		t.Fatalf("after a restart: %+v, %v", got, err)
	}
	tx = s.Begin()
	got, err := tx.Customer(c.ID)
	if err != nil || !reflect.DeepEqual(got.Pending, want) {
		t.Fatalf("read in a Txn after a restart: %+v, %v", got, err)
	}
	got.KeepPending(func(p *Pending) bool { return p.Rule == "buy" })
	tx.SetCustomer(got)
	commit(tx, 0)
	if got, err := s.Customer(c.ID); err != nil || !reflect.DeepEqual(got.Pending, want[2:]) {
		t.Fatalf("after KeepPending: %+v, %v", got, err)
	}

	// A version 6 record: an entry per key. Read, it gets a SeqFrom past
	// its latest event.
	v6 := &Customer{ID: "c_00000000000000ab", Events: 2, LastSeen: 30, IDs: []string{"cookie:k"}, Pending: want}
	putV6(t, s, v6)
	tx = s.Begin()
	got, err = tx.Customer(v6.ID)
	if err != nil || !reflect.DeepEqual(got.Pending, want) || got.layout != 6 || got.SeqFrom != 31 || stored(v6.ID) != 3 {
		t.Fatalf("version 6 record: %+v, %v", got, err)
	}
	got.Events++
	got.DeletePending(0)
	tx.SetCustomer(got)
	commit(tx, 3)
	s.purgeCaches()
	if got, err := s.Customer(v6.ID); err != nil || !reflect.DeepEqual(got.Pending, want[1:]) || got.SeqFrom != 31 || got.layout != customerVersion || stored(v6.ID) != 0 {
		t.Fatalf("version 6 record written again: %+v, %v", got, err)
	}

	// A version 1 record: the list inline, in arrival order.
	v1 := &Customer{ID: "c_00000000000000bb", Events: 3, Pending: []Pending{{Rule: "cart", EventID: "e9", TS: 4}, {Rule: "cart", EventID: "e8", TS: 1}}}
	if err := s.db.Set(key(prefixCustomer, v1.ID), appendCustomerV1(v1), nil); err != nil {
		t.Fatal(err)
	}
	sorted := []Pending{v1.Pending[1], v1.Pending[0]}
	tx = s.Begin()
	got, err = tx.Customer(v1.ID)
	if err != nil || !reflect.DeepEqual(got.Pending, sorted) {
		t.Fatalf("version 1 record: %+v, %v", got, err)
	}
	got.Events++
	tx.SetCustomer(got)
	commit(tx, 0)
	s.purgeCaches()
	if got, err := s.Customer(v1.ID); err != nil || !reflect.DeepEqual(got.Pending, sorted) || got.pendingN != 2 {
		t.Fatalf("version 1 record written again: %+v, %v", got, err)
	}

	// A version 2 record: the list under one key.
	v2 := &Customer{ID: "c_00000000000000dd", Events: 3, Pending: make([]Pending, 2)} // counted, not written
	rec := v3Record(t, v2)
	rec[0] = 2
	if err := s.db.Set(key(prefixCustomer, v2.ID), rec, nil); err != nil {
		t.Fatal(err)
	}
	if err := s.db.Set(key(prefixPending, v2.ID), appendPendingV2(nil, []Pending{{Rule: "cart", EventID: "e6", TS: 8}, {Rule: "buy", EventID: "e5", TS: 3}}), nil); err != nil {
		t.Fatal(err)
	}
	sorted = []Pending{{Rule: "buy", EventID: "e5", TS: 3}, {Rule: "cart", EventID: "e6", TS: 8}}
	tx = s.Begin()
	got, err = tx.Customer(v2.ID)
	if err != nil || !reflect.DeepEqual(got.Pending, sorted) {
		t.Fatalf("version 2 record: %+v, %v", got, err)
	}
	got.Events++
	tx.SetCustomer(got)
	commit(tx, 1) // the list key deleted
	s.purgeCaches()
	if got, err := s.Customer(v2.ID); err != nil || !reflect.DeepEqual(got.Pending, sorted) || stored(v2.ID) != 0 {
		t.Fatalf("version 2 record written again: %+v, %v", got, err)
	}

	// Deleting a customer (a merge's absorbed one) or replacing its record
	// (a recomputed one) deletes the keys of an older layout.
	for i, replace := range []bool{false, true} {
		old := &Customer{ID: fmt.Sprintf("c_00000000000000f%d", i), Events: 1, LastSeen: 9, Pending: want}
		putV6(t, s, old)
		tx = s.Begin()
		if _, err := tx.Customer(old.ID); err != nil {
			t.Fatal(err)
		}
		if replace {
			tx.SetCustomer(&Customer{ID: old.ID, Events: 1})
		} else {
			tx.DeleteCustomer(old.ID)
		}
		commit(tx, 3)
		if n := stored(old.ID); n != 0 {
			t.Fatalf("replace=%v: %d entries are still there", replace, n)
		}
	}

	// A record that counts entries that are not there is corrupt, not empty.
	if err := s.db.Set(key(prefixCustomer, "c_00000000000000cc"), appendCustomerV4(&Customer{ID: "c_00000000000000cc", Pending: want[:2]}), nil); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Customer("c_00000000000000cc"); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("counted entries missing: %v, want ErrCorrupt", err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
}

// putV6 stores c as a version 6 record: a hot part that counts the Pending
// list, a cold part without SeqFrom and Paired, and a key per entry.
func putV6(t *testing.T, s *Store, c *Customer) {
	t.Helper()
	if c.SeqFrom != 0 || len(c.Paired) != 0 {
		t.Fatal("putV6 needs SeqFrom 0 and no Paired")
	}
	ps := c.Pending
	cold := c.appendCold(nil)
	// The hot part of version 6 is version 7's without the entries.
	e := enc([]byte{6})
	e = e.i64(c.FirstSeen).i64(c.LastSeen).i64(c.Events).i64(c.Purchases).f64(c.Revenue)
	e = e.str(c.Stage).i64(c.StageTS).str(c.StageEID).str(c.LastEID).str(c.LastChannel)
	e = binary.AppendUvarint(e, uint64(len(ps)))
	e = binary.AppendUvarint(e, uint64(len(c.LastThen)))
	for _, ts := range c.LastThen {
		e = e.i64(ts)
	}
	e = e.i64(c.Overflow).i64(c.SegDue)
	cold = cold[:len(cold)-3] // SeqFrom 0, an empty Paired, FirstFor 0: a byte each
	if err := s.db.Set(key(prefixCustomer, c.ID), e, nil); err != nil {
		t.Fatal(err)
	}
	if err := s.db.Set(append(key(prefixCustomer, c.ID), 0), cold, nil); err != nil {
		t.Fatal(err)
	}
	for i := range ps {
		if err := s.db.Set(appendPendingKey(nil, c.ID, &ps[i]), nil, nil); err != nil {
			t.Fatal(err)
		}
	}
}

// appendPendingV2 is a version 2 record's pending key: the rule names
// once, then per entry the rule's index, the event id and the time as a
// difference from the entry before.
func appendPendingV2(b []byte, ps []Pending) []byte {
	e := enc(append(b, recordVersion))
	var rules []string
	for _, p := range ps {
		if !slices.Contains(rules, p.Rule) {
			rules = append(rules, p.Rule)
		}
	}
	e = e.strs(rules)
	e = binary.AppendUvarint(e, uint64(len(ps)))
	prev := int64(0)
	for _, p := range ps {
		e = binary.AppendUvarint(e, uint64(slices.Index(rules, p.Rule)))
		e = e.str(p.EventID).i64(p.TS - prev)
		prev = p.TS
	}
	return e
}

// appendCustomerV4 is the record layout before the split into a hot and a
// cold part: one value.
func appendCustomerV4(c *Customer) []byte {
	e := appendWholeHead(enc([]byte{4}), c)
	e = binary.AppendUvarint(e, uint64(len(c.Pending)))
	e = binary.AppendUvarint(e, c.ThenFor)
	e = binary.AppendUvarint(e, uint64(len(c.LastThen)))
	for _, ts := range c.LastThen {
		e = e.i64(ts)
	}
	e = e.i64(c.SegDue)
	if c.Overflow != 0 {
		e = e.i64(c.Overflow)
	}
	return e
}

// appendEntryV1 is en's value in layout 1, links as their "type:value".
// appendHotV8 is a hot part of layout 8: names, the stage's event id and
// the revenue written whole.
func appendHotV8(c *Customer) []byte {
	e := enc([]byte{8})
	e = e.i64(c.FirstSeen).i64(c.LastSeen).i64(c.Events).i64(c.Purchases).f64(c.Revenue)
	e = e.str(c.Stage).i64(c.StageTS).str(c.StageEID).str(c.LastEID).str(c.LastChannel)
	return c.appendHotRest(e)
}

func appendEntryV2(en *Entry) []byte {
	e := enc([]byte{entryVersionV2}).str(en.Channel).str(en.Type)
	e = binary.AppendUvarint(e, uint64(len(en.Links)))
	for _, l := range en.Links {
		e = binary.LittleEndian.AppendUint64(e, l)
	}
	return e.f64(en.Revenue).bytes(en.Props)
}

func appendEntryV1(en *Entry, links []string) []byte {
	return enc([]byte{recordVersion}).str(en.Channel).str(en.Type).strs(links).f64(en.Revenue).bytes(en.Props)
}

// v3Record is c's record in layout 3, before SegDue: layout 4's without its
// last field (c has SegDue and Overflow 0, so that field is one 0 byte).
func v3Record(t *testing.T, c *Customer) []byte {
	t.Helper()
	if c.SegDue != 0 || c.Overflow != 0 {
		t.Fatal("v3Record needs SegDue and Overflow 0")
	}
	rec := appendCustomerV4(c)
	if rec[len(rec)-1] != 0 {
		t.Fatal("record does not end in SegDue 0")
	}
	rec = rec[:len(rec)-1]
	rec[0] = 3
	return rec
}

// A version 3 record (before SegDue) reads with SegDue 0 and its pending
// entries, and is written again as version 4.
func TestCustomerVersion3Record(t *testing.T) {
	s, err := Open(t.TempDir(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	c := &Customer{ID: "c_00000000000000ee", Events: 2, LastSeen: 5, Pending: make([]Pending, 1)} // counted, not written
	if err := s.db.Set(key(prefixCustomer, c.ID), v3Record(t, c), nil); err != nil {
		t.Fatal(err)
	}
	p := Pending{Rule: "cart", EventID: "e1", TS: 4}
	if err := s.db.Set(appendPendingKey(nil, c.ID, &p), nil, nil); err != nil {
		t.Fatal(err)
	}
	tx := s.Begin()
	got, err := tx.Customer(c.ID)
	if err != nil || got.SegDue != 0 || got.layout != 3 || !reflect.DeepEqual(got.Pending, []Pending{p}) {
		t.Fatalf("version 3 record: %+v, %v", got, err)
	}
	got.SegDue = 99
	tx.SetCustomer(got)
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	s.purgeCaches()
	again, err := s.Customer(c.ID)
	if err != nil || again.SegDue != 99 || again.layout != customerVersion || !reflect.DeepEqual(again.Pending, []Pending{p}) {
		t.Fatalf("written again: %+v, %v", again, err)
	}
}

// A version 5 record keeps SegDue in its cold part: it reads the same, by
// Customer and by Txn.SegDue, and is written again as version 6, whose
// SegDue Txn.SegDue reads from the hot part alone.
func TestCustomerVersion5Record(t *testing.T) {
	s, err := Open(t.TempDir(), Options{CustomerCache: 10})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	c := &Customer{ID: "c_00000000000000e5", Events: 2, LastSeen: 5, IDs: []string{"cookie:k"}, SegDue: 77}
	// Version 5: the hot part without SegDue, the cold part with it.
	hot, cold := appendHotV8(c), c.appendCold(nil)
	// Version 7 added the entries (none) and LatestFirst (empty, a byte).
	hot = hot[:len(hot)-1-len(binary.AppendVarint(nil, c.SegDue))]
	hot[0] = 5
	// The cold part ends in SegDue's slot (0), SeqFrom (0), an empty
	// Paired and FirstFor 0: a byte each, the last three added by
	// version 7.
	cold = binary.AppendVarint(cold[:len(cold)-4], c.SegDue)
	if err := s.db.Set(key(prefixCustomer, c.ID), hot, nil); err != nil {
		t.Fatal(err)
	}
	if err := s.db.Set(append(key(prefixCustomer, c.ID), 0), cold, nil); err != nil {
		t.Fatal(err)
	}
	tx := s.Begin()
	if due, ok, err := tx.SegDue(c.ID); err != nil || !ok || due != 77 {
		t.Fatalf("version 5 SegDue: %d, %v, %v", due, ok, err)
	}
	got, err := tx.Customer(c.ID)
	if err != nil || got.SegDue != 77 || got.layout != 5 || !slices.Equal(got.IDs, c.IDs) {
		t.Fatalf("version 5 record: %+v, %v", got, err)
	}
	tx.SetCustomer(got)
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	s.purgeCaches()
	tx = s.Begin()
	defer tx.Discard()
	if due, ok, err := tx.SegDue(c.ID); err != nil || !ok || due != 77 || tx.peeked[c.ID] == nil || tx.cust[c.ID] != nil {
		t.Fatalf("version 6 SegDue: %d, %v, %v; read in part: %v", due, ok, err, tx.peeked[c.ID] != nil)
	}
	again, err := tx.Customer(c.ID)
	if err != nil || again.SegDue != 77 || again.layout != customerVersion || !slices.Equal(again.IDs, c.IDs) || again.Events != 2 {
		t.Fatalf("written again: %+v, %v", again, err)
	}
	if due, ok, err := tx.SegDue("c_00000000000000e6"); err != nil || ok || due != 0 {
		t.Fatalf("unknown customer: %d, %v, %v", due, ok, err)
	}
}

// appendWholeHead appends the fields that records of versions 1 to 4 (one value each) share,
// up to and including the fire counts.
func appendWholeHead(e enc, c *Customer) enc {
	e = e.str(c.ID).str(c.Origin).i64(c.FirstSeen).i64(c.LastSeen).i64(c.Events).i64(c.Purchases).f64(c.Revenue)
	e = e.str(c.Stage).i64(c.StageTS).str(c.StageEID).strs(c.Channels).strs(c.IDs)
	e = e.str(c.LastEID).str(c.LastChannel)
	e = e.flag(c.HasComplaint).i64(c.LastComplaint).flag(c.HasSurvey).f64(c.SurveyScore).i64(c.SurveyTS).strs(c.Segments)
	e = binary.AppendUvarint(e, uint64(len(c.Fires)))
	for _, f := range c.Fires {
		e = e.str(f.Rule).i64(f.Count).i64(f.LastAt)
	}
	return e
}

// appendCustomerV1 is the record layout before the Pending list moved out.
func appendCustomerV1(c *Customer) []byte {
	e := appendWholeHead(enc([]byte{recordVersion}), c)
	e = binary.AppendUvarint(e, uint64(len(c.Pending)))
	for _, p := range c.Pending {
		e = e.str(p.Rule).str(p.EventID).i64(p.TS)
	}
	return e
}

// A customer's cold part (identifiers, channels, rule state) is written
// only when it changed; the hot part with every write. A version 4 record
// is written as both parts at its first write, and scans and reads join
// the parts of each customer.
func TestCustomerColdPart(t *testing.T) {
	s, err := Open(t.TempDir(), Options{CustomerCache: 10})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	// commit commits tx and reports which parts of id it wrote.
	commit := func(tx *Txn, id string) (hot, cold bool) {
		t.Helper()
		s.committed = func(tx *Txn) {
			for i := range tx.ops {
				switch k := string(tx.opKey(&tx.ops[i])); k {
				case "c" + id:
					hot = true
				case "c" + id + "\x00":
					cold = true
				}
			}
		}
		defer func() { s.committed = nil }()
		if err := tx.Commit(); err != nil {
			t.Fatal(err)
		}
		return hot, cold
	}
	const id = "c_00000000000000a1"
	tx := s.Begin()
	tx.SetCustomer(&Customer{ID: id, Events: 1, IDs: []string{"email:a@b.de"}})
	if hot, cold := commit(tx, id); !hot || !cold {
		t.Fatalf("new customer: hot %v, cold %v written; want both", hot, cold)
	}
	for _, cached := range []bool{true, false} {
		if !cached {
			s.purgeCaches() // read back: the stored part's sum is known again
		}
		tx = s.Begin()
		c, _ := tx.Customer(id)
		c.Events++
		tx.SetCustomer(c)
		if hot, cold := commit(tx, id); !hot || cold {
			t.Fatalf("counts changed (cached %v): hot %v, cold %v written; want hot only", cached, hot, cold)
		}
	}
	tx = s.Begin()
	c, _ := tx.Customer(id)
	c.Events++
	c.IDs = append(c.IDs, "phone:+49301234567")
	tx.SetCustomer(c)
	if hot, cold := commit(tx, id); !hot || !cold {
		t.Fatalf("identifier added: hot %v, cold %v written; want both", hot, cold)
	}
	s.purgeCaches()
	if got, err := s.Customer(id); err != nil || got.Events != 4 || len(got.IDs) != 2 {
		t.Fatalf("read back: %+v, %v", got, err)
	}

	// A version 4 record beside it: read, scanned, written as version 5.
	const old = "c_00000000000000a0"
	v4 := &Customer{ID: old, Events: 2, Channels: []string{"web"}, Segments: []string{"vip"}}
	if err := s.db.Set(key(prefixCustomer, old), appendCustomerV4(v4), nil); err != nil {
		t.Fatal(err)
	}
	var scanned []string
	if err := s.Customers(func(c *Customer) error {
		scanned = append(scanned, fmt.Sprintln(c.ID, c.Events, c.Channels, c.Segments, c.IDs))
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	want := []string{"c_00000000000000a0 2 [web] [vip] []\n", "c_00000000000000a1 4 [] [] [email:a@b.de phone:+49301234567]\n"}
	if !slices.Equal(scanned, want) {
		t.Fatalf("scan: %q, want %q", scanned, want)
	}
	tx = s.Begin()
	c, _ = tx.Customer(old)
	c.Events++
	tx.SetCustomer(c)
	if hot, cold := commit(tx, old); !hot || !cold {
		t.Fatalf("version 4 record written again: hot %v, cold %v; want both", hot, cold)
	}
	s.purgeCaches()
	if got, err := s.Customer(old); err != nil || got.layout != customerVersion || got.Events != 3 || !slices.Equal(got.Segments, []string{"vip"}) {
		t.Fatalf("version 4 record read back: %+v, %v", got, err)
	}

	// Deleting a customer deletes both parts.
	tx = s.Begin()
	if _, err := tx.Customer(old); err != nil {
		t.Fatal(err)
	}
	tx.DeleteCustomer(old)
	commit(tx, old)
	for _, k := range [][]byte{key(prefixCustomer, old), coldKey(old)} {
		if _, closer, err := s.db.Get(k); err == nil {
			closer.Close()
			t.Fatalf("key %q of a deleted customer is still there", k)
		}
	}

	// A hot part without its cold part is corrupt, read or scanned.
	if err := s.db.Delete(coldKey(id), nil); err != nil {
		t.Fatal(err)
	}
	s.purgeCaches()
	if _, err := s.Customer(id); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("read without cold part: %v, want ErrCorrupt", err)
	}
	if err := s.Customers(func(*Customer) error { return nil }); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("scan without cold part: %v, want ErrCorrupt", err)
	}
}

// coldKey is the key of a customer's cold part (see appendHot).
func coldKey(id string) []byte { return append(key(prefixCustomer, id), 0) }
