package state

import (
	"bytes"
	"errors"
	"reflect"
	"testing"
)

// FuzzDecodeLog covers the decoders FuzzDecodeRecords does not: triggers,
// outbox messages and journey keys. Stored bytes of any shape (a torn
// write, a disk error) decode to a record or ErrCorrupt, never a panic; a
// decoded trigger or message survives encoding and decoding unchanged; a
// journey key that parses is rebuilt byte for byte from its parts.
func FuzzDecodeLog(f *testing.F) {
	g := &Trigger{ID: "t_0123456789abcdef", Rule: "cart_abandoned", Customer: "c_0123456789abcdef", FiredAt: 1795168800123,
		EventIDs: []string{"web-1", "pos-2"}, Stage: "consideration", IDs: []string{"cookie:ck-1", "email:a@b.com"}}
	m := &Message{Seq: 7, Topic: "omni.triggers", Key: []byte("c_0123456789abcdef"), Value: []byte(`{"trigger_id":"t_1"}`),
		Headers: []Header{{Key: "error", Value: []byte("bad_ts: x")}, {Key: "source_offset", Value: nil}}}
	jk := appendJourneyKey(nil, "c_0123456789abcdef", -62135596800000, "web-\xff")
	f.Add(g.appendTo(nil), seqKey(prefixOutbox, 7))
	f.Add(m.appendTo(nil), jk)
	en := &Entry{Channel: "web", Type: "purchase", Links: []uint64{LinkSum("cookie:x")}, Revenue: 1, Props: []byte(`{}`)}
	f.Add(en.appendValue(nil), jk)
	f.Add(appendEntryV1(en, []string{"cookie:x", "email:a@b.com"}), jk)
	f.Add([]byte{1, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80}, []byte{prefixJourney})
	f.Add([]byte{1, 3, 'a', 'b', 'c', 0xff, 0xff, 0xff, 0xff, 0x0f}, []byte("jc_0123456789abcdef\x80\x00\x00\x00\x00\x00\x00\x00"))
	f.Fuzz(func(t *testing.T, b, k []byte) {
		if g, err := decodeTrigger(b); err == nil {
			if again, err := decodeTrigger(g.appendTo(nil)); err != nil || !reflect.DeepEqual(g, again) {
				t.Fatalf("trigger does not survive a round trip: %+v %+v %v", g, again, err)
			}
		} else if !errors.Is(err, ErrCorrupt) {
			t.Fatal(err)
		}
		if len(k) == 9 { // Outbox refuses other key lengths before decoding
			if m, err := decodeMessage(k, b); err == nil {
				if again, err := decodeMessage(k, m.appendTo(nil)); err != nil || !reflect.DeepEqual(m, again) {
					t.Fatalf("message does not survive a round trip: %+v %+v %v", m, again, err)
				}
			} else if !errors.Is(err, ErrCorrupt) {
				t.Fatal(err)
			}
		}
		if cust, ts, eid, ok := parseJourneyKey(k); ok {
			if again := appendJourneyKey(nil, cust, ts, eid); string(again) != string(k) {
				t.Fatalf("journey key %q rebuilt as %q", k, again)
			}
		}
		if en, err := decodeEntry(k, b); err == nil {
			cust, _, _, _ := parseJourneyKey(k)
			again, err := decodeEntry(appendJourneyKey(nil, cust, en.TS, en.EventID), en.appendValue(nil))
			if err != nil || !reflect.DeepEqual(en, again) {
				t.Fatalf("entry does not survive a round trip: %+v %+v %v", en, again, err)
			}
		} else if !errors.Is(err, ErrCorrupt) {
			t.Fatal(err)
		}
	})
}

// FuzzRowBatch: a stored row batch of any bytes unpacks to data or
// ErrCorrupt, never a panic or a claim of gigabytes; data of any bytes
// packs to what unpacks to it again, and (but for data that starts as a
// packed batch does) is never stored longer than it came.
func FuzzRowBatch(f *testing.F) {
	f.Add([]byte{3, 1, 2, 3})
	f.Add(bytes.Repeat([]byte(`{"channel":"web"}`), 100))
	f.Add(packRows(nil, bytes.Repeat([]byte("rows"), 100)))
	f.Add([]byte{packedRows, 0xff, 0xff, 0xff, 0xff, 0x0f}) // claims 4 GiB
	f.Add([]byte{packedRows})
	f.Fuzz(func(t *testing.T, b []byte) {
		if out, err := unpackRows(nil, b); err != nil {
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("error %v is not ErrCorrupt", err)
			}
		} else if len(b) > 0 && b[0] != packedRows && !bytes.Equal(out, b) {
			t.Fatal("a batch stored as it came unpacks to other bytes")
		}
		stored := packRows(nil, b)
		if len(b) > 0 && b[0] != packedRows && len(stored) > len(b) {
			t.Fatalf("%d bytes stored as %d", len(b), len(stored))
		}
		out, err := unpackRows(nil, stored)
		if err != nil || !bytes.Equal(out, b) {
			t.Fatalf("packed %q, unpacked %q, %v", b, out, err)
		}
	})
}
