package state

import "encoding/binary"

// Key layout. One byte of prefix per record kind keeps kinds in separate,
// contiguous key ranges, so each can be scanned alone.
//
//	c <customer id>                     → Customer: the record's hot part (or, before version 5, all of it)
//	c <customer id> 0x00                → the record's cold part (see appendHot)
//	p <customer id> 0x00 <ts:8> <rule> 0x00 <event id> → (empty) a waiting first event of a version 3 to 6 record (read, then deleted; see pending.go)
//	p <customer id>                     → a version 2 record's whole Pending list (read, then deleted)
//	i <type:value>                      → Identifier
//	e <event id>                        → (empty) the event was applied; de-duplication
//	j <customer id> <ts:8> <event id>   → Entry; a customer's journey in (ts, event id) order
//	m <seq:8>                           → Merge, in the order they happened
//	x <seq:8>                           → Conflict, in the order they happened
//	o <topic> 0x00 <partition:4>        → next offset to consume (varint)
//	q <seq:8>                           → outbox Message, in the order written
//	r <seq:8>                           → row outbox: one engine batch's rows for ClickHouse
//	v 'v'                               → the last row version handed out (uint64)
//	v 'w'                               → the newest event time applied (the watermark's base)
//	v 'p'                               → pseudonymisation key fingerprint (see pseudonym.go)
//	t <due:8> <rule> 0x00 <event id>    → customer id: an absence rule's timer (see timers.go)
//	a <absorbed id>                     → survivor id, for timers set on a customer later merged away
//	g <seq:8>                           → Trigger, in the order fired (an engine keeping the log)
//	h <customer id> <trigger id>        → (empty) a trigger fired, for erasure; no longer written (see forget.go)
//
// Customer ids have a fixed length (CustomerIDLen), so journey keys need no
// separator and sort by customer, then time, then event id.
const (
	prefixCustomer   = 'c'
	prefixPending    = 'p'
	prefixIdentifier = 'i'
	prefixEvent      = 'e'
	prefixJourney    = 'j'
	prefixMerge      = 'm'
	prefixConflict   = 'x'
	prefixOffset     = 'o'
	prefixOutbox     = 'q'
	prefixRows       = 'r'
	prefixMeta       = 'v'

	metaVersion = 'v'
)

// CustomerIDLen is the length of every customer id: "c_" and 16 hex digits.
const CustomerIDLen = 18

func key(prefix byte, s string) []byte {
	k := make([]byte, 0, 1+len(s))
	return append(append(k, prefix), s...)
}

// tsBytes encodes a signed time so that byte order is numeric order.
func appendTS(b []byte, ts int64) []byte {
	return binary.BigEndian.AppendUint64(b, uint64(ts)^(1<<63))
}

func appendJourneyKey(k []byte, cust string, ts int64, eventID string) []byte {
	k = append(append(k, prefixJourney), cust...)
	k = appendTS(k, ts)
	return append(k, eventID...)
}

func journeyPrefix(cust string) []byte { return key(prefixJourney, cust) }

func parseJourneyKey(k []byte) (cust string, ts int64, eventID string, ok bool) {
	if len(k) < 1+CustomerIDLen+8 || k[0] != prefixJourney {
		return "", 0, "", false
	}
	cust = string(k[1 : 1+CustomerIDLen])
	ts = int64(binary.BigEndian.Uint64(k[1+CustomerIDLen:]) ^ (1 << 63))
	return cust, ts, string(k[1+CustomerIDLen+8:]), true
}

func seqKey(prefix byte, seq uint64) []byte {
	return binary.BigEndian.AppendUint64([]byte{prefix}, seq)
}

// prefixEnd returns the smallest key greater than every key with prefix p.
func prefixEnd(p []byte) []byte {
	end := append([]byte(nil), p...)
	for i := len(end) - 1; i >= 0; i-- {
		if end[i] < 0xff {
			end[i]++
			return end[:i+1]
		}
	}
	return nil
}
