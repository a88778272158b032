package state

import (
	"bytes"
	"cmp"
	"slices"
)

// sortOpRefs orders refs by key, and writes to one key in write order
// (by index), using tmp (len(refs) long) as scratch; it returns whichever
// of the two holds the result. Commit sorts a batch's ops this way: a
// batch of 50,000 events writes some 200,000 keys, which a comparison sort
// took a tenth of the consume loop to order. A least-significant-digit
// radix sort over the 8-byte prefixes is linear and stable, so only keys
// sharing all 8 bytes (a customer's journey entries, say) are compared.
func sortOpRefs(refs, tmp []opRef, key func(i uint32) []byte) []opRef {
	if len(refs) < 256 {
		slices.SortFunc(refs, func(a, b opRef) int {
			if a.prefix != b.prefix {
				return cmp.Compare(a.prefix, b.prefix)
			}
			if c := bytes.Compare(key(a.i), key(b.i)); c != 0 {
				return c
			}
			return cmp.Compare(a.i, b.i)
		})
		return refs
	}
	src, dst := refs, tmp[:len(refs)]
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
	// Runs of equal prefixes are in write order; a stable sort by the whole
	// key keeps writes to one key in that order.
	for i := 0; i < len(src); {
		j := i + 1
		for j < len(src) && src[j].prefix == src[i].prefix {
			j++
		}
		if j-i > 1 {
			slices.SortStableFunc(src[i:j], func(a, b opRef) int { return bytes.Compare(key(a.i), key(b.i)) })
		}
		i = j
	}
	return src
}
