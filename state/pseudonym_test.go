package state

import (
	"errors"
	"testing"
)

func TestCheckPseudonyms(t *testing.T) {
	dir := t.TempDir()
	reopen := func() *Store {
		t.Helper()
		s, err := Open(dir, Options{})
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	s := reopen()
	if err := s.CheckPseudonyms("fp-a"); err != nil {
		t.Fatalf("new state: %v", err)
	}
	tx := s.Begin()
	tx.SetIdentifier("email:0123", &Identifier{Customer: "c_0000000000000001"})
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	s.Close()

	s = reopen()
	if err := s.CheckPseudonyms("fp-a"); err != nil {
		t.Errorf("same fingerprint after restart: %v", err)
	}
	for _, fp := range []string{"fp-b", ""} {
		if err := s.CheckPseudonyms(fp); !errors.Is(err, ErrPseudonyms) {
			t.Errorf("fingerprint %q on a state built with fp-a: %v, want ErrPseudonyms", fp, err)
		}
	}
	s.Close()

	// A state of plain identifiers cannot be switched to pseudonyms.
	dir = t.TempDir()
	s = reopen()
	defer s.Close()
	if err := s.CheckPseudonyms(""); err != nil {
		t.Fatal(err)
	}
	tx = s.Begin()
	if err := tx.MarkSeen("e1"); err != nil {
		t.Fatal(err)
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	if err := s.CheckPseudonyms(""); err != nil {
		t.Errorf("plain state, pseudonymisation off: %v", err)
	}
	if err := s.CheckPseudonyms("fp-a"); !errors.Is(err, ErrPseudonyms) {
		t.Errorf("switching on for a plain state: %v, want ErrPseudonyms", err)
	}
}
