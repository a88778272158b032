package state

import (
	"bytes"
	"cmp"
	"encoding/binary"
	"slices"
)

// sortOpRefs orders refs by key, and writes to one key in write order
// (by index), using tmp (len(refs) long) as scratch; it returns whichever
// of the two holds the result. Commit sorts a batch's ops this way: a
// batch of 50,000 events writes some 200,000 keys, which a comparison sort
// took a tenth of the consume loop to order. A least-significant-digit
// radix sort over 8 key bytes at a time is linear and stable; keys sharing
// those bytes (every "iphone:+…" identifier, a customer's journey entries)
// are ordered by the next 8, and only small groups are compared whole.
func sortOpRefs(refs, tmp []opRef, key func(i uint32) []byte) []opRef {
	if len(refs) <= smallRun {
		slices.SortFunc(refs, byKeyThenIndex(key))
		return refs
	}
	out := radixSort(refs, tmp[:len(refs)])
	if &out[0] == &refs[0] {
		tmp = tmp[:len(refs)]
	} else {
		tmp = refs
	}
	sortRuns(out, tmp, key, 8)
	return out
}

// smallRun is the size below which a comparison sort is faster.
const smallRun = 32

func byKeyThenIndex(key func(i uint32) []byte) func(a, b opRef) int {
	return func(a, b opRef) int {
		if c := bytes.Compare(key(a.i), key(b.i)); c != 0 {
			return c
		}
		return cmp.Compare(a.i, b.i)
	}
}

// radixSort orders src stably by prefix, using dst as scratch, and returns
// the one holding the result.
func radixSort(src, dst []opRef) []opRef {
	for shift := 0; shift < 64; shift += 8 {
		var count [256]int
		for _, r := range src {
			count[byte(r.prefix>>shift)]++
		}
		if count[byte(src[0].prefix>>shift)] == len(src) {
			continue // every key has the same byte here
		}
		pos := 0
		for b, c := range count {
			count[b] = pos
			pos += c
		}
		for _, r := range src {
			b := byte(r.prefix >> shift)
			dst[count[b]] = r
			count[b]++
		}
		src, dst = dst, src
	}
	return src
}

// sortRuns orders each run of refs with equal prefixes (the key bytes
// before off, all equal) by the bytes from off on. Zero padding past a
// key's end keeps the order a key comparison gives, ties aside, which the
// deeper levels or the final comparison resolve.
func sortRuns(refs, tmp []opRef, key func(i uint32) []byte, off int) {
	for i := 0; i < len(refs); {
		j := i + 1
		for j < len(refs) && refs[j].prefix == refs[i].prefix {
			j++
		}
		if j-i > 1 {
			sortRun(refs[i:j], tmp[i:j], key, off)
		}
		i = j
	}
}

func sortRun(run, tmp []opRef, key func(i uint32) []byte, off int) {
	if len(run) <= smallRun || off >= 64 {
		slices.SortFunc(run, byKeyThenIndex(key))
		return
	}
	ended := true
	for k := range run {
		var p [8]byte
		if kb := key(run[k].i); off < len(kb) {
			copy(p[:], kb[off:])
			ended = false
		}
		run[k].prefix = binary.BigEndian.Uint64(p[:])
	}
	if ended {
		slices.SortFunc(run, byKeyThenIndex(key))
		return
	}
	if out := radixSort(run, tmp); &out[0] != &run[0] {
		copy(run, out)
	}
	sortRuns(run, tmp, key, off+8)
}
