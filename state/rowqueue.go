package state

import (
	"encoding/binary"
	"fmt"
	"time"

	"github.com/cockroachdb/pebble/v2"
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
// Size is the length of the stored data; Data may be nil once the reader
// has decoded it (see EachRowBatch), AckRows needs only Seq and Size.
type RowBatch struct {
	Seq  uint64
	Size int
	Data []byte
}

// EnqueueRows adds one batch's rows to the row outbox.
func (t *Txn) EnqueueRows(data []byte) {
	seq := t.s.nextRows.Add(1) - 1
	t.write(seqKey(prefixRows, seq), data, false)
	t.s.rowBytes.Add(int64(len(data)))
	t.rowBytes += int64(len(data))
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
// the writer.
func (s *Store) EachRowBatch(fn func(b RowBatch) (bool, error)) error {
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
		more, err := fn(RowBatch{Seq: seqFromKey(it.Key()), Size: len(it.Value()), Data: it.Value()})
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
