// Package state is the embedded Pebble store behind the engine: the identity
// graph, customer profiles, journeys and the logs of merges and conflicts.
//
// Writes go through a Txn, which keeps decoded records in memory while a
// batch of events is applied and writes them in one atomic Pebble batch at
// Commit. A Store has one writer at a time; readers of committed state may run
// concurrently with it.
package state

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/bloom"
	"github.com/cockroachdb/pebble/v2/sstable"
)

// Options configure a Store. Zero values take the defaults noted.
type Options struct {
	CustomerCache   int   // decoded customers kept in memory; 0 disables the cache
	IdentifierCache int   // decoded identifiers kept in memory; 0 disables the cache
	BlockCacheBytes int64 // Pebble block cache; default 256 MiB
	// Sync makes Commit wait for the write-ahead log to reach the disk.
	// Without it a process crash loses nothing, a power cut may lose the
	// last commits.
	Sync bool
	// Logger receives Pebble's background errors, write stalls and
	// corruption, redacted and at most one per kind every few seconds
	// (see Register for their metrics); nil discards them.
	Logger *slog.Logger
}

// Store is an open state directory.
type Store struct {
	db     *pebble.DB
	sync   *pebble.WriteOptions
	health *health

	// Caches of committed records, owned by the single writer (not safe
	// for readers of committed state, which go to Pebble). Written at
	// Commit, purged whole if a commit fails.
	customers *clockCache[*Customer]
	idents    *clockCache[*Identifier]

	nextMerge, nextConflict uint64 // owned by the writer
	// nextOutbox is written by the writer and read by senders to know
	// how far to look; atomic so that they need no lock.
	nextOutbox atomic.Uint64
	// acked is the last outbox sequence number delivered (or, at open,
	// the one before the oldest waiting), for counting what is pending.
	acked atomic.Uint64
	// The row outbox: next sequence number and bytes waiting, shared with
	// the ClickHouse sink like the Kafka outbox's counters.
	nextRows atomic.Uint64
	rowBytes atomic.Int64
	// ackedRows: row batches below this sequence number are acked
	// (removed and counted off rowBytes); under ackMu.
	ackMu     sync.Mutex
	ackedRows uint64
	// unpacked is the buffer row batches are unpacked into for the
	// reader (EachRowBatch), kept for the next; under unpackMu.
	unpackMu sync.Mutex
	unpacked []byte
	version  uint64 // last row version committed; owned by the writer

	nextTrigger  uint64 // owned by the writer
	eventTime    int64  // newest event time committed; owned by the writer
	hasEventTime bool

	// Filters of the event and identifier keys ever written; owned by
	// the writer (readers of committed state go to Pebble).
	seenEvents, knownIdents *keyFilter

	tombs map[tombHash]int64 // forgotten subjects (see forget.go); nil until first asked

	// Sizes of the last committed Txn's maps: the next one starts with
	// room for as many, instead of growing (rehashing) its way there.
	hint txnSizes
	// opRefs and opRefsTmp are Commit's sort buffers, reused (one Txn at
	// a time).
	opRefs, opRefsTmp []opRef
	// spare holds the last finished Txn's buffers for the next (see
	// txnBufs); behind a mutex, so that Txns that overlap (none do today)
	// take their own.
	spareMu sync.Mutex
	spare   *txnBufs
	// committed, when set (tests), sees each Txn after its writes reached
	// Pebble and before its buffers are released.
	committed func(*Txn)
}

type txnSizes struct{ cust, ids, seen, journeys, ops, arena int }

// Open opens or creates the state directory.
func Open(dir string, o Options) (*Store, error) {
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, fmt.Errorf("state: %w", err)
	}
	if o.BlockCacheBytes <= 0 {
		o.BlockCacheBytes = 256 << 20
	}
	cache := pebble.NewCache(o.BlockCacheBytes)
	defer cache.Unref()
	h := newHealth(o.Logger)
	popts := &pebble.Options{
		Cache:         cache,
		EventListener: h.listener(),
		// A batch larger than half the memtable (counting a skiplist
		// node of ~190 bytes per key) is not inserted but queued as a
		// memtable of its own, and flushed to L0 at once. The service's
		// batch of 25,000 records (kafka.max_poll_records) is ~13 MB of
		// writes and ~25 MB by that count: with 32 MiB nearly every
		// batch was flushed alone, the row outbox with it, so the rows
		// reached L0 and were compacted before the ClickHouse writer
		// deleted them. At 64 MiB such a batch is inserted, most rows are
		// deleted before their memtable is flushed, and the flushes fall
		// from 24 to 8 per 650,000 records: measured (bench/RESULTS.md),
		// 12% less CPU per record into ClickHouse at 30,000 customers.
		// The price is up to two memtables of 64 MiB, outside the Go heap,
		// and ~350 MB of write-ahead logs on disk (each preallocated at
		// 110% of the memtable, up to three spent ones kept for reuse).
		MemTableSize:       64 << 20,
		FormatMajorVersion: pebble.FormatNewest,
		Logger:             quietLogger{},
		// Customer records are rewritten with every batch that touches
		// them, so most of what reaches L0 is soon shadowed: letting L0
		// gather 12 sublevels before compacting them drops more of it on
		// the way down. Until the store outgrows LBaseMaxBytes, L0 is
		// compacted straight into the bottom level, the whole store
		// rewritten each time: 128 MiB (default 64) ends that early
		// without making the base level small. Measured (bench/RESULTS.md):
		// against 256 MiB, 15–20% less CPU per event at 20,000 customers
		// (~270 MB of state), the same at 100,000 and at 1,000,000.
		L0CompactionThreshold: 12,
		L0StopWritesThreshold: 48,
		LBaseMaxBytes:         128 << 20,
	}
	for i := range popts.Levels {
		popts.Levels[i].FilterPolicy = bloomFilter
		popts.Levels[i].Compression = func() *sstable.CompressionProfile { return sstable.SnappyCompression }
	}
	// L0 files are written by every flush and read back once, by the
	// compaction that merges them down, within seconds: compressing them
	// costs Snappy both ways on everything flushed (row batches too,
	// which are compressed already) for disk space held only that long.
	// Measured (bench/RESULTS.md): ~1 µs of CPU per record less into
	// ClickHouse at 100,000 customers. Levels below L0 keep Snappy (a
	// level left unset would inherit L0's setting).
	popts.Levels[0].Compression = func() *sstable.CompressionProfile { return sstable.NoCompression }
	// Trigger rules set and delete short-lived keys (pending first events,
	// absence timers), which land in L0 files as blocks of tombstones.
	// Pebble's tombstone-density compactions would move each such file
	// out of L0 on its own, rewriting the overlapping base level (all of
	// it: every file spans every customer), which undoes the batching
	// above; the ordinary L0 compactions drop the tombstones as well.
	// Measured (bench/RESULTS.md): with the default rules at 20,000
	// customers, 18–23 such compactions per 2,000,000 events and ~12% more
	// CPU per event. Scans that cross tombstones start past them (timers)
	// or are bounded by one customer (pending first events).
	popts.Experimental.TombstoneDenseCompactionThreshold = -1
	db, err := pebble.Open(dir, popts)
	if err != nil {
		return nil, fmt.Errorf("state: open %s: %w", dir, err)
	}
	s := &Store{db: db, sync: pebble.NoSync, health: h}
	if o.Sync {
		s.sync = pebble.Sync
	}
	if o.CustomerCache > 0 {
		s.customers = newClockCache[*Customer](o.CustomerCache)
	}
	if o.IdentifierCache > 0 {
		s.idents = newClockCache[*Identifier](o.IdentifierCache)
	}
	if err := s.buildFilters(); err != nil {
		db.Close()
		return nil, err
	}
	if s.nextMerge, err = s.nextSeq(prefixMerge); err != nil {
		db.Close()
		return nil, err
	}
	if s.nextConflict, err = s.nextSeq(prefixConflict); err != nil {
		db.Close()
		return nil, err
	}
	next, err := s.nextSeq(prefixOutbox)
	if err != nil {
		db.Close()
		return nil, err
	}
	s.nextOutbox.Store(next)
	first, err := s.firstSeq(prefixOutbox)
	if err != nil {
		db.Close()
		return nil, err
	}
	s.acked.Store(first - 1)
	if err := s.openRows(); err != nil {
		db.Close()
		return nil, err
	}
	if s.nextTrigger, err = s.nextSeq(prefixTrigger); err != nil {
		db.Close()
		return nil, err
	}
	if err := s.loadEventTime(); err != nil {
		db.Close()
		return nil, err
	}
	return s, nil
}

// Close flushes and closes the store.
func (s *Store) Close() error {
	if err := s.db.Flush(); err != nil {
		s.db.Close()
		return fmt.Errorf("state: flush: %w", err)
	}
	return s.db.Close()
}

// buildFilters fills the key filters from a key-only scan of the store.
func (s *Store) buildFilters() error {
	for _, f := range []struct {
		prefix byte
		dst    **keyFilter
	}{{prefixEvent, &s.seenEvents}, {prefixIdentifier, &s.knownIdents}} {
		it, err := s.db.NewIter(&pebble.IterOptions{
			LowerBound: []byte{f.prefix}, UpperBound: []byte{f.prefix + 1}, KeyTypes: pebble.IterKeyTypePointsOnly})
		if err != nil {
			return err
		}
		n := 0
		for it.First(); it.Valid(); it.Next() {
			n++
		}
		*f.dst = newKeyFilter(max(n, 1<<20))
		for it.First(); it.Valid(); it.Next() {
			(*f.dst).add(it.Key())
		}
		if err := it.Close(); err != nil {
			return fmt.Errorf("state: scan: %w", err)
		}
	}
	return nil
}

func (s *Store) nextSeq(prefix byte) (uint64, error) {
	it, err := s.db.NewIter(&pebble.IterOptions{LowerBound: []byte{prefix}, UpperBound: []byte{prefix + 1}})
	if err != nil {
		return 0, err
	}
	defer it.Close()
	if !it.Last() {
		return 1, it.Error()
	}
	k := it.Key()
	if len(k) != 9 {
		return 0, ErrCorrupt
	}
	return seqFromKey(k) + 1, nil
}

// firstSeq is the sequence number of the oldest key with the prefix, or the
// next one to be written when there is none.
func (s *Store) firstSeq(prefix byte) (uint64, error) {
	it, err := s.db.NewIter(&pebble.IterOptions{LowerBound: []byte{prefix}, UpperBound: []byte{prefix + 1}})
	if err != nil {
		return 0, err
	}
	defer it.Close()
	if !it.First() {
		if err := it.Error(); err != nil {
			return 0, err
		}
		return s.nextSeq(prefix)
	}
	if len(it.Key()) != 9 {
		return 0, ErrCorrupt
	}
	return seqFromKey(it.Key()), nil
}

func seqFromKey(k []byte) uint64 {
	var v uint64
	for _, c := range k[1:9] {
		v = v<<8 | uint64(c)
	}
	return v
}

func (s *Store) purgeCaches() {
	if s.customers != nil {
		s.customers.Purge()
	}
	if s.idents != nil {
		s.idents.Purge()
	}
}

// get reads a committed value; found=false when absent.
func get[T any](r pebble.Reader, k []byte, decode func([]byte) (T, error)) (v T, found bool, err error) {
	b, closer, err := r.Get(k)
	if errors.Is(err, pebble.ErrNotFound) {
		return v, false, nil
	}
	if err != nil {
		return v, false, err
	}
	defer closer.Close()
	v, err = decode(b)
	if err != nil {
		return v, false, fmt.Errorf("%w: key %q", err, k[:min(len(k), 24)])
	}
	return v, true, nil
}

// Customer reads a committed customer; nil when absent. The result is a
// private copy.
func (s *Store) Customer(id string) (*Customer, error) {
	// The record's parts and pending entries of one commit, not of two.
	snap := s.db.NewSnapshot()
	defer snap.Close()
	c, found, err := readCustomer(snap, nil, id)
	if err != nil || !found {
		return nil, err
	}
	if err := loadPending(snap, c); err != nil {
		return nil, err
	}
	return c, nil
}

// readCustomer reads a customer's record, both parts; kb is scratch space
// for the keys.
func readCustomer(r pebble.Reader, kb []byte, id string) (*Customer, bool, error) {
	kb = append(append(kb[:0], prefixCustomer), id...)
	c, found, err := get(r, kb, func(b []byte) (*Customer, error) { return decodeCustomer(id, b) })
	if err != nil || !found || !splitRecord(c.layout) {
		return c, found, err
	}
	if err := readCold(r, kb, c); err != nil {
		return nil, false, err
	}
	return c, true, nil
}

// readCold reads the cold part of c, whose hot part was decoded; kb is
// scratch space for the key.
func readCold(r pebble.Reader, kb []byte, c *Customer) error {
	kb = append(append(append(kb[:0], prefixCustomer), c.ID...), 0)
	b, closer, err := r.Get(kb)
	if errors.Is(err, pebble.ErrNotFound) {
		return fmt.Errorf("%w: customer %s has no cold part", ErrCorrupt, c.ID)
	}
	if err != nil {
		return err
	}
	defer closer.Close()
	if err := c.decodeCold(b); err != nil {
		return fmt.Errorf("%w: cold part of customer %s", err, c.ID)
	}
	return nil
}

// Identifier reads a committed identifier ("type:value"); nil when absent.
func (s *Store) Identifier(k string) (*Identifier, error) {
	r, _, err := get(s.db, key(prefixIdentifier, k), decodeIdentifier)
	return r, err
}

// scan calls fn for every key in [lo, hi) of a consistent snapshot.
func scan(r pebble.Reader, lo, hi []byte, fn func(k, v []byte) error) error {
	it, err := r.NewIter(&pebble.IterOptions{LowerBound: lo, UpperBound: hi})
	if err != nil {
		return err
	}
	for it.First(); it.Valid(); it.Next() {
		if err := fn(it.Key(), it.Value()); err != nil {
			it.Close()
			return err
		}
	}
	if err := it.Error(); err != nil {
		it.Close()
		return err
	}
	return it.Close()
}

// Customers calls fn for every customer in id order: the profile, and the
// Pending list only of records of version 7 and later (older ones keep it
// under keys of their own, not read here).
func (s *Store) Customers(fn func(*Customer) error) error {
	// A hot part is followed by its cold part (version 5) or stands alone
	// (older versions).
	var c *Customer
	flush := func() error {
		if c == nil {
			return nil
		}
		if splitRecord(c.layout) && c.coldSum == 0 {
			return fmt.Errorf("%w: customer %s has no cold part", ErrCorrupt, c.ID)
		}
		last := c
		c = nil
		return fn(last)
	}
	err := scan(s.db, []byte{prefixCustomer}, []byte{prefixCustomer + 1}, func(k, v []byte) error {
		switch {
		case len(k) == 1+CustomerIDLen:
			if err := flush(); err != nil {
				return err
			}
			var err error
			if c, err = decodeCustomer(string(k[1:]), v); err != nil {
				return fmt.Errorf("%w: customer %q", err, k[1:])
			}
			return nil
		case len(k) == 2+CustomerIDLen && k[len(k)-1] == 0 && c != nil && c.ID == string(k[1:len(k)-1]) &&
			splitRecord(c.layout) && c.coldSum == 0:
			if err := c.decodeCold(v); err != nil {
				return fmt.Errorf("%w: cold part of customer %s", err, c.ID)
			}
			return nil
		}
		return fmt.Errorf("%w: customer key %q", ErrCorrupt, k)
	})
	if err != nil {
		return err
	}
	return flush()
}

// Journey calls fn for every event of a customer in (ts, event id) order.
func (s *Store) Journey(cust string, fn func(*Entry) error) error {
	return journey(s.db, cust, fn)
}

func journey(r pebble.Reader, cust string, fn func(*Entry) error) error {
	p := journeyPrefix(cust)
	return scan(r, p, prefixEnd(p), func(k, v []byte) error {
		en, err := decodeEntry(k, v)
		if err != nil {
			return err
		}
		return fn(en)
	})
}

// Merges calls fn for every recorded merge in the order they happened.
func (s *Store) Merges(fn func(*Merge) error) error {
	return scan(s.db, []byte{prefixMerge}, []byte{prefixMerge + 1}, func(_, v []byte) error {
		m, err := decodeMerge(v)
		if err != nil {
			return err
		}
		return fn(m)
	})
}

// Conflicts calls fn for every recorded conflict in the order they happened.
func (s *Store) Conflicts(fn func(*Conflict) error) error {
	return scan(s.db, []byte{prefixConflict}, []byte{prefixConflict + 1}, func(_, v []byte) error {
		c, err := decodeConflict(v)
		if err != nil {
			return err
		}
		return fn(c)
	})
}

// DiskBytes is the size of the store's files on disk.
func (s *Store) DiskBytes() uint64 {
	return s.db.Metrics().DiskSpaceUsage()
}

// Flush writes the memtable to disk, so that DiskBytes counts everything.
func (s *Store) Flush() error { return s.db.Flush() }

// Settle flushes the memtable and waits, up to max, until Pebble has no
// compaction running: benchmarks count the background work their
// writes caused, not only what ran before they stopped the clock.
func (s *Store) Settle(max time.Duration) error {
	if err := s.db.Flush(); err != nil {
		return err
	}
	// Pebble picks the next compaction as one ends: idle is no flush or
	// compaction running in several looks in a row.
	idle := 0
	for end := time.Now().Add(max); time.Now().Before(end); time.Sleep(5 * time.Millisecond) {
		if m := s.db.Metrics(); m.Compact.NumInProgress == 0 && m.Flush.NumInProgress == 0 {
			if idle++; idle == 4 {
				return nil
			}
		} else {
			idle = 0
		}
	}
	return fmt.Errorf("state: compactions still running after %v", max)
}

type quietLogger struct{}

func (quietLogger) Infof(string, ...any)  {}
func (quietLogger) Errorf(string, ...any) {}
func (quietLogger) Fatalf(format string, args ...any) {
	// Pebble calls Fatalf only on invariant violations; it must stop the
	// process rather than continue on a broken store.
	panic(fmt.Sprintf(format, args...))
}

var bloomFilter = bloom.FilterPolicy(10)
