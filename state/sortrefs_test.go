package state

import (
	"bytes"
	"cmp"
	"encoding/binary"
	"math/rand/v2"
	"slices"
	"testing"
)

// The radix sort orders like the comparison it replaces: by key, then by
// write order — over short keys, shared 8-byte prefixes and repeated keys.
func TestSortOpRefsMatchesComparison(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 7))
	for _, n := range []int{0, 1, 5, 31, 33, 255, 256, 1000, 5000, 20000} {
		keys := make([][]byte, n)
		for i := range keys {
			switch rng.IntN(6) {
			case 4: // a long shared prefix, then digits of any length
				keys[i] = []byte("iphone:+4930")
				for range rng.IntN(12) {
					keys[i] = append(keys[i], byte('0'+rng.IntN(3)))
				}
			case 5: // equal but for trailing zero bytes
				keys[i] = make([]byte, 8+rng.IntN(12))
				copy(keys[i], "iloyalty")
			case 0: // short
				keys[i] = []byte{byte('a' + rng.IntN(3))}[:rng.IntN(2)]
			case 1: // shares a long prefix with many others
				keys[i] = append([]byte("jcustomer"), byte(rng.IntN(8)))
			case 2: // an earlier key again
				if i > 0 {
					keys[i] = keys[rng.IntN(i)]
					break
				}
				fallthrough
			default:
				keys[i] = binary.BigEndian.AppendUint64([]byte{byte(rng.IntN(4))}, rng.Uint64()>>uint(rng.IntN(64)))
			}
		}
		refs := make([]opRef, n)
		for i, k := range keys {
			var p [8]byte
			copy(p[:], k)
			refs[i] = opRef{prefix: binary.BigEndian.Uint64(p[:]), i: uint32(i)}
		}
		want := slices.Clone(refs)
		slices.SortFunc(want, func(a, b opRef) int {
			if c := bytes.Compare(keys[a.i], keys[b.i]); c != 0 {
				return c
			}
			return cmp.Compare(a.i, b.i)
		})
		got := sortOpRefs(refs, make([]opRef, n), func(i uint32) []byte { return keys[i] })
		// Commit skips all but the last write to a key by comparing
		// prefix fields first: equal keys must end with equal ones.
		for k := 1; k < len(got); k++ {
			if bytes.Equal(keys[got[k-1].i], keys[got[k].i]) && got[k-1].prefix != got[k].prefix {
				t.Fatalf("n=%d: equal keys %q with prefixes %x and %x", n, keys[got[k].i], got[k-1].prefix, got[k].prefix)
			}
		}
		// Otherwise only the order counts: prefix fields are scratch.
		if !slices.EqualFunc(got, want, func(a, b opRef) bool { return a.i == b.i }) {
			for k := range got {
				if got[k].i != want[k].i {
					t.Fatalf("n=%d: order differs at %d: got %q (%d) want %q (%d)", n, k, keys[got[k].i], got[k].i, keys[want[k].i], want[k].i)
				}
			}
		}
	}
}
