package state

import (
	"hash/maphash"
	"math/bits"
)

// keyFilter answers "certainly absent" for most keys that were never
// written, so that the two lookups that usually miss — the de-duplication of
// a new event id, the first sighting of an identifier — cost no Pebble read.
// A "maybe" falls back to the exact read, so false positives cost time,
// never correctness.
//
// It is a chain of blocked Bloom filters (all probes of a key in one 64-byte
// block, one cache miss per filter), each twice the capacity of the one
// before, so it grows with the store without rehashing. It lives only in
// memory: Open rebuilds it from a key-only scan, so it cannot go stale after
// a crash. Keys added by a Txn that is later discarded only add false
// positives.
type keyFilter struct {
	seed    maphash.Seed
	filters []*blockedBloom
}

const (
	bloomBitsPerKey = 10 // about 1% false positives with 7 probes
	bloomProbes     = 7
	minFilterKeys   = 1 << 16
)

type blockedBloom struct {
	blocks [][8]uint64
	keys   int
	cap    int
}

func newKeyFilter(expected int) *keyFilter {
	f := &keyFilter{seed: maphash.MakeSeed()}
	f.grow(max(expected*2, minFilterKeys))
	return f
}

func (f *keyFilter) grow(capacity int) {
	nblocks := (capacity*bloomBitsPerKey + 511) / 512
	f.filters = append(f.filters, &blockedBloom{blocks: make([][8]uint64, nblocks), cap: capacity})
}

func (f *keyFilter) hash(k []byte) uint64 { return maphash.Bytes(f.seed, k) }

func (f *keyFilter) add(k []byte) {
	last := f.filters[len(f.filters)-1]
	if last.keys >= last.cap {
		f.grow(last.cap * 2)
		last = f.filters[len(f.filters)-1]
	}
	last.add(f.hash(k))
}

func (f *keyFilter) mayContain(k []byte) bool {
	h := f.hash(k)
	for _, b := range f.filters {
		if b.mayContain(h) {
			return true
		}
	}
	return false
}

// The block comes from the high half of the hash, the probe positions from
// a remixed copy, 9 bits each.
func (b *blockedBloom) locate(h uint64) (*[8]uint64, uint64) {
	hi, _ := bits.Mul64(h, uint64(len(b.blocks)))
	return &b.blocks[hi], h * 0x9e3779b97f4a7c15
}

func (b *blockedBloom) add(h uint64) {
	blk, p := b.locate(h)
	for i := 0; i < bloomProbes; i++ {
		bit := (p >> (9 * i)) & 511
		blk[bit>>6] |= 1 << (bit & 63)
	}
	b.keys++
}

func (b *blockedBloom) mayContain(h uint64) bool {
	blk, p := b.locate(h)
	for i := 0; i < bloomProbes; i++ {
		bit := (p >> (9 * i)) & 511
		if blk[bit>>6]&(1<<(bit&63)) == 0 {
			return false
		}
	}
	return true
}
