package state

import (
	"encoding/binary"
	"fmt"
	"slices"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/klauspost/compress/s2"
)

// The row outbox holds what the ClickHouse sink is to write: one record per
// engine batch, whatever its size, so that the outbox costs the engine one
// key per batch rather than one per row. It is written in the same atomic
// batch as the state, like the Kafka outbox, and drained separately, so a
// ClickHouse outage does not hold back dead letters or triggers.
//
// Rows carry the batch's version (Txn.Version): a number that grows with
// every batch that asks for one and survives restarts, so that a row written
// again — after a crash, or re-emitted by a later merge — never loses to an
// older one in ClickHouse.

// RowBatch is one engine batch's rows, encoded by the sink that reads them.
// Size is the length of the stored data (compressed); Data may be nil once
// the reader has decoded it (see EachRowBatch), AckRows needs only Seq and
// Size.
type RowBatch struct {
	Seq  uint64
	Size int
	Data []byte
}

// Row batches are stored compressed: packedRows, then an S2 block
// (klauspost/compress) of the data. They were 45% of what the service
// wrote to Pebble's log and memtables; compressed they take less than half
// (491 → 224 MB at 100,000 customers), so memtables flush a quarter less
// often and compactions have less to do, for less CPU than the
// compression costs (bench/RESULTS.md). Batches stored before, as they
// came, start with the sink's format byte, always below packedRows.
const packedRows = 0xf5

// maxUnpacked bounds what a stored batch may claim to unpack to, so that a
// corrupt length cannot ask for gigabytes; a batch's rows are a few MiB.
const maxUnpacked = 1 << 30

// EnqueueRows adds one batch's rows to the row outbox. data is the sink's
// encoding; its first byte (the sink's format) must be below 0xf5.
func (t *Txn) EnqueueRows(data []byte) {
	k := seqKey(prefixRows, t.s.nextRows.Add(1)-1)
	off := len(t.arena)
	t.writeWith(k, func(b []byte) []byte { return packRows(b, data) })
	n := int64(len(t.arena) - off - len(k)) // as stored
	t.s.rowBytes.Add(n)
	t.rowBytes += n
}

// packRows appends the stored form of data to b: compressed, or as it
// is when that is no longer (a few bytes).
func packRows(b, data []byte) []byte {
	n := s2.MaxEncodedLen(len(data))
	if n < 0 {
		return append(b, data...) // over 4 GiB: Pebble refuses the batch anyway
	}
	b = slices.Grow(b, 1+n)
	out := b[len(b) : len(b)+1+n]
	out[0] = packedRows
	z := s2.Encode(out[1:], data) // fits: out has MaxEncodedLen
	if 1+len(z) >= len(data) && len(data) > 0 && data[0] != packedRows {
		return append(b, data...)
	}
	return b[:len(b)+1+len(z)]
}

// unpackRows returns the data of a stored batch, in buf when it is packed
// and buf has room.
func unpackRows(buf, v []byte) ([]byte, error) {
	if len(v) == 0 || v[0] != packedRows {
		return v, nil
	}
	n, err := s2.DecodedLen(v[1:])
	if err != nil || n > maxUnpacked {
		return nil, fmt.Errorf("%w: row batch length", ErrCorrupt)
	}
	if cap(buf) < n {
		// With room to spare: batches grow with the state, and a buffer
		// of exactly the largest so far is replaced by the next largest
		// (still within maxUnpacked, which a corrupt claim cannot pass).
		buf = make([]byte, min(n+n/4, maxUnpacked))
	}
	out, err := s2.Decode(buf[:n], v[1:])
	if err != nil {
		return nil, fmt.Errorf("%w: row batch: %v", ErrCorrupt, err)
	}
	return out, nil
}

// Version returns the row version of this Txn's batch, the same on every
// call; a Txn that never asks does not use up a number.
func (t *Txn) Version() uint64 {
	if t.version == 0 {
		t.version = t.s.version + 1
		t.write([]byte{prefixMeta, metaVersion}, binary.BigEndian.AppendUint64(nil, t.version), false)
	}
	return t.version
}

// RowBatches returns committed row batches from the head of the row outbox,
// oldest first, until their data passes maxBytes (at least one). Safe to call
// concurrently with the writer.
func (s *Store) RowBatches(maxBytes int) ([]RowBatch, error) {
	var out []RowBatch
	n := 0
	err := s.EachRowBatch(func(b RowBatch) (bool, error) {
		if len(out) > 0 && n >= maxBytes {
			return false, nil
		}
		b.Data = append([]byte(nil), b.Data...)
		out = append(out, b)
		n += b.Size
		return true, nil
	})
	return out, err
}

// EachRowBatch calls fn with committed row batches from the head of the
// row outbox, oldest first, until fn returns false. b.Data is valid only
// during the call: a reader that decodes as it goes holds one batch's
// bytes at a time, not the whole backlog's. Safe to call concurrently with
// the writer; readers take turns.
func (s *Store) EachRowBatch(fn func(b RowBatch) (bool, error)) error {
	s.unpackMu.Lock()
	defer s.unpackMu.Unlock()
	// Past the acked batches, as Outbox does past delivered messages.
	s.ackMu.Lock()
	from := s.ackedRows
	s.ackMu.Unlock()
	it, err := s.db.NewIter(&pebble.IterOptions{LowerBound: seqKey(prefixRows, from), UpperBound: []byte{prefixRows + 1}})
	if err != nil {
		return err
	}
	defer it.Close()
	for it.First(); it.Valid(); it.Next() {
		if len(it.Key()) != 9 {
			return fmt.Errorf("%w: row outbox key", ErrCorrupt)
		}
		data, err := unpackRows(s.unpacked, it.Value())
		if err != nil {
			return fmt.Errorf("row batch %d: %w", seqFromKey(it.Key()), err)
		}
		if len(it.Value()) > 0 && it.Value()[0] == packedRows {
			s.unpacked = data[:0]
		}
		more, err := fn(RowBatch{Seq: seqFromKey(it.Key()), Size: len(it.Value()), Data: data})
		if err != nil || !more {
			return err
		}
	}
	return it.Error()
}

// AckRows removes row batches once written, up to and including the last
// one given. Safe to call concurrently with the writer. Batches acked
// before are not counted off again, so PendingRowBytes stays right when a
// caller acks a batch twice (a retry after an error, say).
func (s *Store) AckRows(done []RowBatch) error {
	if len(done) == 0 {
		return nil
	}
	s.ackMu.Lock()
	defer s.ackMu.Unlock()
	last := done[len(done)-1].Seq
	if err := s.db.DeleteRange(seqKey(prefixRows, min(s.ackedRows, last)), seqKey(prefixRows, last+1), s.sync); err != nil {
		return err
	}
	var n int64
	for _, b := range done {
		if b.Seq >= s.ackedRows {
			n += int64(b.Size)
		}
	}
	s.ackedRows = max(s.ackedRows, last+1)
	s.rowBytes.Add(-n)
	return nil
}

// PendingRowBytes is the size of the row batches committed (or being
// committed) and not yet written: what piles up while ClickHouse is away.
func (s *Store) PendingRowBytes() int64 { return s.rowBytes.Load() }

// openRows restores the row outbox counters and the version at open.
func (s *Store) openRows() error {
	next, err := s.nextSeq(prefixRows)
	if err != nil {
		return err
	}
	s.nextRows.Store(next)
	if s.ackedRows, err = s.firstSeq(prefixRows); err != nil {
		return err
	}
	var n int64
	if err := scan(s.db, []byte{prefixRows}, []byte{prefixRows + 1}, func(_, v []byte) error {
		n += int64(len(v))
		return nil
	}); err != nil {
		return err
	}
	s.rowBytes.Store(n)
	return s.loadVersion()
}

// A new store starts its versions at the wall clock in microseconds, far
// above any count of batches: when a state directory is rebuilt from
// scratch (replaying the topics into an existing ClickHouse database), its
// rows win over those the old directory wrote.
func (s *Store) loadVersion() error {
	v, found, err := get(s.db, []byte{prefixMeta, metaVersion}, func(b []byte) (uint64, error) {
		if len(b) != 8 {
			return 0, ErrCorrupt
		}
		return binary.BigEndian.Uint64(b), nil
	})
	if err == nil && !found {
		v = uint64(time.Now().UnixMicro())
	}
	s.version = v
	return err
}
