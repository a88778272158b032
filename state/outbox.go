package state

import (
	"encoding/binary"
	"fmt"

	"github.com/cockroachdb/pebble/v2"
)

// Consumed offsets and the outbox are written in the same batch as the
// state they belong to: after a crash the consumer resumes from exactly the
// offsets whose effects are stored, and every message the batch meant to
// send is still waiting in the outbox. Sending from the outbox is at least
// once; messages carry what their consumers need to de-duplicate.

func offsetKey(topic string, partition int32) []byte {
	k := make([]byte, 0, 1+len(topic)+1+4)
	k = append(append(append(k, prefixOffset), topic...), 0)
	return binary.BigEndian.AppendUint32(k, uint32(partition))
}

// SetOffset records the next offset to consume of a partition.
func (t *Txn) SetOffset(topic string, partition int32, next int64) {
	t.write(offsetKey(topic, partition), binary.AppendVarint(nil, next), false)
}

// Offset returns the stored next offset of a partition; ok=false when none
// is stored.
func (s *Store) Offset(topic string, partition int32) (next int64, ok bool, err error) {
	return get(s.db, offsetKey(topic, partition), func(b []byte) (int64, error) {
		v, n := binary.Varint(b)
		if n <= 0 || n != len(b) {
			return 0, ErrCorrupt
		}
		return v, nil
	})
}

// Header is a Kafka record header.
type Header struct {
	Key   string
	Value []byte
}

// Message is a record waiting in the outbox to be produced.
type Message struct {
	Seq     uint64 // position in the outbox; set by the store
	Topic   string
	Key     []byte
	Value   []byte
	Headers []Header
}

func (m *Message) appendTo(b []byte) []byte {
	e := enc(append(b, recordVersion)).str(m.Topic).bytes(m.Key).bytes(m.Value)
	e = binary.AppendUvarint(e, uint64(len(m.Headers)))
	for _, h := range m.Headers {
		e = enc(e).str(h.Key).bytes(h.Value)
	}
	return e
}

func decodeMessage(k, b []byte) (*Message, error) {
	d := dec{b: b}
	d.version()
	m := &Message{Seq: binary.BigEndian.Uint64(k[1:]), Topic: d.str(), Key: d.bytes(), Value: d.bytes()}
	n := d.uvarint()
	if n > uint64(len(d.b)) {
		return nil, ErrCorrupt
	}
	for range n {
		m.Headers = append(m.Headers, Header{Key: d.str(), Value: d.bytes()})
	}
	return m, d.done()
}

// Enqueue adds a message to the outbox.
func (t *Txn) Enqueue(m *Message) {
	m.Seq = t.s.nextOutbox.Add(1) - 1
	t.writeWith(seqKey(prefixOutbox, m.Seq), m.appendTo)
}

// Outbox returns up to max committed messages from the head of the outbox.
// Delivered messages are removed by Ack, so the head is always the oldest
// undelivered one; sequence numbers may restart after an empty outbox (at
// open), so senders keep no cursor. Safe to call concurrently with the
// writer.
//
// The read starts past the last delivered message: below it lie only the
// range deletions of earlier Acks, which an iterator from the start of the
// outbox steps through on every call until they are compacted away (at
// 100,000 customers 0.7 of the sender's 1.2 s of CPU).
func (s *Store) Outbox(max int) ([]*Message, error) {
	var out []*Message
	it, err := s.db.NewIter(&pebble.IterOptions{LowerBound: seqKey(prefixOutbox, s.acked.Load()+1), UpperBound: []byte{prefixOutbox + 1}})
	if err != nil {
		return nil, err
	}
	defer it.Close()
	for it.First(); it.Valid() && len(out) < max; it.Next() {
		if len(it.Key()) != 9 {
			return nil, ErrCorrupt
		}
		m, err := decodeMessage(it.Key(), it.Value())
		if err != nil {
			return nil, fmt.Errorf("%w: outbox message", err)
		}
		out = append(out, m)
	}
	return out, it.Error()
}

// Ack removes every outbox message up to and including seq, once they are
// delivered. Safe to call concurrently with the writer: the writer never
// touches delivered messages.
func (s *Store) Ack(seq uint64) error {
	// From the first undelivered one, not from 0: deletions that do not
	// overlap are cheaper for Pebble to keep and to read past.
	if err := s.db.DeleteRange(seqKey(prefixOutbox, min(s.acked.Load()+1, seq)), seqKey(prefixOutbox, seq+1), s.sync); err != nil {
		return err
	}
	if seq > s.acked.Load() { // a stale Ack must not count delivered messages again
		s.acked.Store(seq)
	}
	return nil
}

// Pending is the number of committed or being-committed outbox messages not
// yet delivered: what piles up while Kafka is unreachable.
func (s *Store) Pending() uint64 {
	next, acked := s.nextOutbox.Load(), s.acked.Load()
	if next == 0 || next-1 <= acked {
		return 0
	}
	return next - 1 - acked
}
