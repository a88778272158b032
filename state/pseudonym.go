package state

import (
	"errors"
	"fmt"

	"github.com/cockroachdb/pebble/v2"
)

// With identifier pseudonymisation on, the state keeps a fingerprint of the
// key (and of the list of types) it was built with:
//
//	v 'p'  → fingerprint (hex), absent while pseudonymisation is off
//
// Identifiers are stored under their pseudonyms, so a state built with one
// key is meaningless under another: new events would never meet the
// customers they belong to. The check below makes that a start-up error.
const metaPseudonym = 'p'

// ErrPseudonyms reports a pseudonymisation setting that does not match the
// state.
var ErrPseudonyms = errors.New("state: pseudonymisation does not match the state")

// CheckPseudonyms compares the pseudonymisation fingerprint of the
// configuration ("" = off) with the one the state was built with. A new
// (empty) state takes the fingerprint given; an existing one must match:
// switching pseudonymisation on or off, or changing its key or types, is
// refused, because the stored identifiers would no longer match new ones.
// It must be called before the first write of the engine.
func (s *Store) CheckPseudonyms(fingerprint string) error {
	k := []byte{prefixMeta, metaPseudonym}
	stored, found, err := get(s.db, k, func(b []byte) (string, error) { return string(b), nil })
	if err != nil {
		return fmt.Errorf("state: reading the pseudonym fingerprint: %w", err)
	}
	switch {
	case found && stored == fingerprint:
		return nil
	case found && fingerprint == "":
		return fmt.Errorf("%w: this state holds pseudonymised identifiers but pseudonymise.types is empty; configure the same key_file and types it was built with, or start from an empty state directory", ErrPseudonyms)
	case found:
		return fmt.Errorf("%w: pseudonymise.key_file or pseudonymise.types differs from the one this state was built with (fingerprint %s, configured %s); restore the key and types, or start from an empty state directory", ErrPseudonyms, stored, fingerprint)
	case fingerprint == "":
		return nil
	}
	empty, err := s.empty()
	if err != nil {
		return err
	}
	if !empty {
		return fmt.Errorf("%w: this state holds plain identifiers, so pseudonymisation cannot be switched on for it; start from an empty state directory (and replay the input) to pseudonymise", ErrPseudonyms)
	}
	if err := s.db.Set(k, []byte(fingerprint), pebble.Sync); err != nil {
		return fmt.Errorf("state: writing the pseudonym fingerprint: %w", err)
	}
	return nil
}

// empty reports whether no event, identifier or customer was ever stored.
func (s *Store) empty() (bool, error) {
	for _, p := range []byte{prefixEvent, prefixIdentifier, prefixCustomer} {
		it, err := s.db.NewIter(&pebble.IterOptions{LowerBound: []byte{p}, UpperBound: []byte{p + 1}})
		if err != nil {
			return false, err
		}
		found := it.First()
		if err := it.Close(); err != nil {
			return false, err
		}
		if found {
			return false, nil
		}
	}
	return true, nil
}
