// Package pseudonym replaces identifier values with keyed hashes, so that
// the state, ClickHouse, trigger messages and every other output hold
// pseudonyms instead of e-mail addresses and phone numbers.
//
// A value of a pseudonymised type becomes the first 32 hex digits (128 bits)
// of HMAC-SHA256(key, type + ":" + normalised value). The same key and value
// always give the same pseudonym, so stitching works exactly as on the plain
// values; without the key a pseudonym cannot be reversed or recomputed from a
// guessed value. 128 bits keep the chance of two values sharing a pseudonym
// negligible (about n²/2¹²⁹ for n values) at half the size of the full digest.
package pseudonym

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"maps"
	"slices"
	"strings"
	"sync"
)

// MinKeyBytes is the shortest key accepted: the HMAC's security rests on it.
const MinKeyBytes = 32

// Len is the length of every pseudonym, in hex digits.
const Len = 32

// ErrShortKey reports a key under MinKeyBytes.
var ErrShortKey = errors.New("pseudonym: key shorter than 32 bytes")

// fingerprintLabel is hashed with the key to recognise it later without
// storing it; the version lets the scheme change without false matches.
const fingerprintLabel = "omnistitch pseudonym fingerprint v1"

// Pseudonymiser replaces the values of some identifier types. A nil
// *Pseudonymiser replaces nothing. It is safe for concurrent use: the
// engine's writer and HTTP lookups share one.
type Pseudonymiser struct {
	types map[string]bool
	fp    string
	// HMAC states keyed once, reused: keying costs two SHA-256 blocks,
	// which would double the work per value.
	pool sync.Pool
}

// New returns a Pseudonymiser for the types listed, with key (at least
// MinKeyBytes). The key is copied.
func New(key []byte, types []string) (*Pseudonymiser, error) {
	if len(key) < MinKeyBytes {
		return nil, ErrShortKey
	}
	if len(types) == 0 {
		return nil, errors.New("pseudonym: no identifier types to pseudonymise")
	}
	key = slices.Clone(key)
	p := &Pseudonymiser{types: make(map[string]bool, len(types))}
	for _, t := range types {
		if t == "" || strings.Contains(t, ":") {
			return nil, fmt.Errorf("pseudonym: invalid identifier type %q", t)
		}
		p.types[t] = true
	}
	p.pool.New = func() any { return &hasher{h: hmac.New(sha256.New, key)} }
	// The fingerprint covers the types too: pseudonymising one more type
	// changes stored values as surely as a new key does.
	sorted := slices.Sorted(maps.Keys(p.types))
	p.fp = p.sum(fingerprintLabel, strings.Join(sorted, ","), 32)
	return p, nil
}

// Applies reports whether values of type typ are replaced.
func (p *Pseudonymiser) Applies(typ string) bool { return p != nil && p.types[typ] }

// Value returns the pseudonym of a normalised value of type typ, or the
// value itself when the type is not pseudonymised.
func (p *Pseudonymiser) Value(typ, normalised string) string {
	if !p.Applies(typ) {
		return normalised
	}
	return p.sum(typ, normalised, Len)
}

// Fingerprint identifies the key and the list of types without revealing
// the key; "" for a nil Pseudonymiser (pseudonymisation off).
func (p *Pseudonymiser) Fingerprint() string {
	if p == nil {
		return ""
	}
	return p.fp
}

// hasher is a keyed HMAC state with its scratch buffers, pooled so that a
// value costs one allocation (the result).
type hasher struct {
	h   hash.Hash
	in  []byte
	sum [sha256.Size]byte
}

// sum is HMAC(key, typ + ":" + v), encoded as the first n/2 bytes in hex.
func (p *Pseudonymiser) sum(typ, v string, n int) string {
	hs := p.pool.Get().(*hasher)
	hs.in = append(append(append(hs.in[:0], typ...), ':'), v...)
	hs.h.Reset()
	hs.h.Write(hs.in)
	out := hex.EncodeToString(hs.h.Sum(hs.sum[:0])[:n/2])
	if cap(hs.in) > 4<<10 {
		hs.in = nil // do not keep a huge value's buffer alive
	}
	p.pool.Put(hs)
	return out
}
