package state

import (
	"bytes"
	"errors"
	"fmt"
	"testing"
)

func TestRowQueueAndVersions(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	var versions []uint64
	for _, data := range []string{"one", "two", "three"} {
		txn := s.Begin()
		v := txn.Version()
		if txn.Version() != v {
			t.Fatal("Version changed within a Txn")
		}
		versions = append(versions, v)
		txn.EnqueueRows([]byte(data))
		if err := txn.Commit(); err != nil {
			t.Fatal(err)
		}
	}
	if !(versions[0] < versions[1] && versions[1] < versions[2]) {
		t.Fatalf("versions do not grow: %v", versions)
	}
	// A discarded batch takes back its bytes and leaves no rows.
	txn := s.Begin()
	txn.Version()
	txn.EnqueueRows([]byte("discarded"))
	txn.Discard()
	if got := s.PendingRowBytes(); got != int64(len("onetwothree")) {
		t.Fatalf("pending %d bytes, want %d", got, len("onetwothree"))
	}
	got, err := s.RowBatches(4) // "one" is 3 bytes: the limit is passed after "two"
	if err != nil || len(got) != 2 || string(got[0].Data) != "one" || string(got[1].Data) != "two" {
		t.Fatalf("RowBatches(4) = %v, %v", got, err)
	}
	if err := s.AckRows(got[:1]); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	// After a restart: the rest is still there, and versions go on growing.
	if s, err = Open(dir, Options{}); err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if got := s.PendingRowBytes(); got != int64(len("twothree")) {
		t.Fatalf("pending after reopen %d, want %d", got, len("twothree"))
	}
	got, err = s.RowBatches(1 << 20)
	if err != nil || len(got) != 2 || string(got[0].Data) != "two" || string(got[1].Data) != "three" {
		t.Fatalf("RowBatches after reopen = %v, %v", got, err)
	}
	txn = s.Begin()
	if v := txn.Version(); v <= versions[2] {
		t.Fatalf("version after reopen %d, not above %d", v, versions[2])
	}
	txn.Discard()
	// As the sink reads them: decoded one by one, stopped at will, acked
	// by Seq and Size once the data is gone.
	var seen []RowBatch
	if err := s.EachRowBatch(func(b RowBatch) (bool, error) {
		if string(b.Data) != []string{"two", "three"}[len(seen)] || b.Size != len(b.Data) {
			t.Fatalf("batch %d: %q, size %d", len(seen), b.Data, b.Size)
		}
		b.Data = nil
		seen = append(seen, b)
		return len(seen) < 1, nil
	}); err != nil || len(seen) != 1 {
		t.Fatalf("EachRowBatch stopped after %d batches, %v; want 1", len(seen), err)
	}
	if err := s.AckRows(seen); err != nil {
		t.Fatal(err)
	}
	if got := s.PendingRowBytes(); got != int64(len("three")) {
		t.Fatalf("pending after acking one: %d", got)
	}
	if err := s.AckRows(got[1:]); err != nil {
		t.Fatal(err)
	}
	if got := s.PendingRowBytes(); got != 0 {
		t.Fatalf("pending after acking all: %d", got)
	}
	if got, err := s.RowBatches(1 << 20); err != nil || len(got) != 0 {
		t.Fatalf("rows left after acking all: %d, %v", len(got), err)
	}
	if err := s.AckRows(nil); err != nil {
		t.Fatal(errors.New("acking nothing must be harmless"))
	}
	// Acking again (a retry) counts nothing off twice, also once new rows
	// wait behind the batches acked.
	if err := s.AckRows(got); err != nil {
		t.Fatal(err)
	}
	if got := s.PendingRowBytes(); got != 0 {
		t.Fatalf("pending after acking twice: %d, want 0", got)
	}
	txn = s.Begin()
	txn.EnqueueRows([]byte("four"))
	if err := txn.Commit(); err != nil {
		t.Fatal(err)
	}
	if err := s.AckRows(got[:1]); err != nil {
		t.Fatal(err)
	}
	if got := s.PendingRowBytes(); got != int64(len("four")) {
		t.Fatalf("pending after a stale ack: %d, want %d", got, len("four"))
	}
}

// A batch discarded while both outboxes are empty (every earlier one
// delivered) must not hand out sequence numbers at or below the delivered
// ones: what it enqueues next would count as delivered already (pending 0,
// or bytes never counted off), or be skipped by a reader starting past the
// delivered ones.
func TestDiscardWithEmptyOutboxesKeepsCounting(t *testing.T) {
	s, err := Open(t.TempDir(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for range 3 {
		txn := s.Begin()
		txn.Enqueue(&Message{Topic: "t", Value: []byte("m")})
		txn.EnqueueRows([]byte("rows"))
		if err := txn.Commit(); err != nil {
			t.Fatal(err)
		}
	}
	msgs, err := s.Outbox(10)
	if err != nil || len(msgs) != 3 {
		t.Fatalf("Outbox = %d messages, %v; want 3", len(msgs), err)
	}
	if err := s.Ack(msgs[2].Seq); err != nil {
		t.Fatal(err)
	}
	batches, err := s.RowBatches(1 << 20)
	if err != nil || len(batches) != 3 {
		t.Fatalf("RowBatches = %d, %v; want 3", len(batches), err)
	}
	if err := s.AckRows(batches); err != nil {
		t.Fatal(err)
	}

	txn := s.Begin()
	txn.Enqueue(&Message{Topic: "t", Value: []byte("discarded")})
	txn.Discard()
	txn = s.Begin()
	txn.Enqueue(&Message{Topic: "t", Value: []byte("after")})
	txn.EnqueueRows([]byte("after"))
	if err := txn.Commit(); err != nil {
		t.Fatal(err)
	}
	if n := s.Pending(); n != 1 {
		t.Fatalf("Pending = %d after a discard and one message, want 1", n)
	}
	if msgs, err = s.Outbox(10); err != nil || len(msgs) != 1 || string(msgs[0].Value) != "after" {
		t.Fatalf("Outbox = %v, %v; want the one message", msgs, err)
	}
	if err := s.Ack(msgs[0].Seq); err != nil {
		t.Fatal(err)
	}
	if n := s.Pending(); n != 0 {
		t.Fatalf("Pending = %d once delivered, want 0", n)
	}
	if err := s.Ack(1); err != nil { // a stale acknowledgement
		t.Fatal(err)
	}
	if n := s.Pending(); n != 0 {
		t.Fatalf("Pending = %d after a stale Ack, want 0", n)
	}
	if batches, err = s.RowBatches(1 << 20); err != nil || len(batches) != 1 || string(batches[0].Data) != "after" {
		t.Fatalf("RowBatches = %v, %v; want the one batch", batches, err)
	}
	if err := s.AckRows(batches); err != nil {
		t.Fatal(err)
	}
	if n := s.PendingRowBytes(); n != 0 {
		t.Fatalf("PendingRowBytes = %d once written, want 0", n)
	}
}

// Row batches are stored compressed: read back as enqueued, counted in
// PendingRowBytes by their stored size (before and after a reopen), and
// searched by FindBytes as enqueued; a damaged one is refused, not skipped.
func TestRowBatchesStoredCompressed(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	data := []byte{3}
	for i := range 2000 {
		data = fmt.Appendf(data, `{"customer_id":"c_%016x","channel":"web","type":"page_view"}`, i%50)
	}
	txn := s.Begin()
	txn.EnqueueRows(data)
	if err := txn.Commit(); err != nil {
		t.Fatal(err)
	}
	got, err := s.RowBatches(1 << 30)
	if err != nil || len(got) != 1 || !bytes.Equal(got[0].Data, data) {
		t.Fatalf("RowBatches = %d batches, %v; want the one enqueued", len(got), err)
	}
	if got[0].Size >= len(data)/2 || int64(got[0].Size) != s.PendingRowBytes() {
		t.Fatalf("stored %d bytes of %d, pending %d: want under half, and pending the stored size", got[0].Size, len(data), s.PendingRowBytes())
	}
	if k, err := s.FindBytes([]byte("c_0000000000000031")); err != nil || k == nil || k[0] != prefixRows {
		t.Fatalf("FindBytes in a compressed batch = %q, %v", k, err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if s, err = Open(dir, Options{}); err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if n := s.PendingRowBytes(); n != int64(got[0].Size) {
		t.Fatalf("pending after reopen %d, want %d", n, got[0].Size)
	}
	// Damaged on disk: the length no longer matches the block.
	bad := packRows(nil, data)
	if err := s.db.Set(seqKey(prefixRows, got[0].Seq), bad[:len(bad)-7], nil); err != nil {
		t.Fatal(err)
	}
	err = s.EachRowBatch(func(RowBatch) (bool, error) {
		t.Fatal("a damaged batch was handed out")
		return false, nil
	})
	if !errors.Is(err, ErrCorrupt) {
		t.Fatalf("EachRowBatch over a damaged batch: %v, want ErrCorrupt", err)
	}
}
