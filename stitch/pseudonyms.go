package stitch

import (
	"fmt"

	"github.com/omnistitch/omnistitch/internal/config"
	"github.com/omnistitch/omnistitch/stitch/pseudonym"
)

// setPseudonyms sets up identifier pseudonymisation (off when no type is
// listed) and checks it against the state before anything is written: a
// state built with another key, other types, or without pseudonyms would
// silently stop matching, so the engine refuses to start instead.
func (e *Engine) setPseudonyms(ps *config.Pseudonymise) error {
	if len(ps.Types) > 0 {
		for _, t := range ps.Types {
			if e.types[t] == nil {
				return fmt.Errorf("stitch: pseudonymise.types: %q is not an identifier type", t)
			}
		}
		p, err := pseudonym.New(ps.Key(), ps.Types)
		if err != nil {
			return fmt.Errorf("stitch: pseudonymise (key_file %s): %w", ps.KeyFile, err)
		}
		e.pseudo = p
	}
	return e.store.CheckPseudonyms(e.pseudo.Fingerprint())
}
