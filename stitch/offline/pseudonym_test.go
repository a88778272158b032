package offline

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/cockroachdb/pebble/v2"

	"github.com/omnistitch/omnistitch/bench/gen"
	"github.com/omnistitch/omnistitch/internal/config"
	"github.com/omnistitch/omnistitch/state"
	"github.com/omnistitch/omnistitch/stitch"
	"github.com/omnistitch/omnistitch/stitch/normalize"
	"github.com/omnistitch/omnistitch/stitch/pseudonym"
)

var allTypes = []string{"crm", "user", "loyalty", "email", "phone", "device", "cookie"}

// pseudoConfig is the default configuration with every identifier type
// pseudonymised under a key in a file, as an operator would set it up.
func pseudoConfig(t *testing.T) *config.Config {
	t.Helper()
	keyFile := filepath.Join(t.TempDir(), "key")
	if err := os.WriteFile(keyFile, []byte("c2VjcmV0LWtleS1mb3ItdGhlLXRlc3Qtb25seS0xMjM0\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := config.Default()
	cfg.Identity.Pseudonymise = config.Pseudonymise{KeyFile: keyFile, Types: allTypes}
	if err := cfg.Identity.Pseudonymise.ReadKey(); err != nil {
		t.Fatal(err)
	}
	return cfg
}

// identifierValues returns every usable identifier value of the input, as
// written and as normalised: what must never appear once pseudonymised.
func identifierValues(t *testing.T, recs []gen.Record) []string {
	t.Helper()
	store, err := state.Open(t.TempDir(), state.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	eng, err := stitch.New(config.Default(), store)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, r := range recs {
		var ev struct{ IDs map[string]any }
		if json.Unmarshal(r.Line, &ev) != nil {
			continue
		}
		for typ, v := range ev.IDs {
			raw, ok := v.(string)
			if !ok {
				continue
			}
			norm, res := eng.Normalize(typ, raw)
			// Junk is never stored; short values would match by chance.
			if res != normalize.OK || len(norm) < 6 {
				continue
			}
			seen[strings.TrimSpace(raw)], seen[norm] = true, true
		}
	}
	return slices.Sorted(func(yield func(string) bool) {
		for v := range seen {
			if !yield(v) {
				return
			}
		}
	})
}

// leaks returns the values found in b.
func leaks(b []byte, values []string) []string {
	var found []string
	for _, v := range values {
		if bytes.Contains(b, []byte(v)) {
			found = append(found, v)
		}
	}
	return found
}

// scanState returns every key and value of a closed state directory,
// read with Pebble itself (the files on disk are compressed).
func scanState(t *testing.T, dir string) []byte {
	t.Helper()
	db, err := pebble.Open(dir, &pebble.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	it, err := db.NewIter(nil)
	if err != nil {
		t.Fatal(err)
	}
	defer it.Close()
	var all []byte
	n := 0
	for it.First(); it.Valid(); it.Next() {
		all = append(append(append(all, it.Key()...), 0), it.Value()...)
		n++
	}
	if n < 1000 {
		t.Fatalf("only %d keys in the state", n)
	}
	return all
}

// pseudonymise maps a line of the plain run's output to what the
// pseudonymised run must write: identifier values replaced, all else equal.
func pseudonymise(t *testing.T, p *pseudonym.Pseudonymiser, line string) string {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal([]byte(line), &m); err != nil {
		t.Fatal(err)
	}
	mapIDs := func(ids any) {
		for typ, vs := range ids.(map[string]any) {
			var out []string
			for _, v := range vs.([]any) {
				out = append(out, p.Value(typ, v.(string)))
			}
			slices.Sort(out)
			ids.(map[string]any)[typ] = out
		}
	}
	switch m["kind"] {
	case "profile", "trigger":
		mapIDs(m["ids"])
	case "merge":
		typ, v, _ := strings.Cut(m["via"].(string), ":")
		m["via"] = typ + ":" + p.Value(typ, v)
	case "conflict":
		m["id_value"] = p.Value(m["id_type"].(string), m["id_value"].(string))
	}
	return canonical(t, m)
}

func canonical(t *testing.T, m map[string]any) string {
	t.Helper()
	if ids, ok := m["ids"].(map[string]any); ok {
		for typ, vs := range ids {
			if l, ok := vs.([]any); ok {
				var out []string
				for _, v := range l {
					out = append(out, v.(string))
				}
				slices.Sort(out)
				ids[typ] = out
			}
		}
	}
	b, err := json.Marshal(m) // map keys sorted
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// With every identifier type pseudonymised, no identifier value appears in
// the output or anywhere in the state, and the stitching is exactly that of
// the plain run: the same customers, journeys, merges, conflicts and
// triggers, with each identifier replaced by its pseudonym.
func TestPseudonymisedRunEqualsPlainRun(t *testing.T) {
	recs := gen.All(gen.Options{Seed: 11, Customers: 300})
	var in bytes.Buffer
	for _, r := range recs {
		in.Write(r.Line)
		in.WriteByte('\n')
	}
	values := identifierValues(t, recs)
	if len(values) < 500 {
		t.Fatalf("only %d identifier values in the input", len(values))
	}

	run := func(cfg *config.Config) (string, string, Stats) {
		t.Helper()
		dir := t.TempDir()
		var out bytes.Buffer
		st, err := Run(Options{Config: cfg, StateDir: dir}, []Input{{Name: "in", R: bytes.NewReader(in.Bytes())}}, &out)
		if err != nil {
			t.Fatal(err)
		}
		return out.String(), dir, st
	}
	plainOut, plainDir, plainStats := run(config.Default())
	cfg := pseudoConfig(t)
	pseudoOut, pseudoDir, pseudoStats := run(cfg)

	// The checks can fail: the plain run holds the values.
	if n := len(leaks([]byte(plainOut), values)); n < len(values)/2 {
		t.Fatalf("the plain output holds only %d of %d values; is the check looking at the right thing?", n, len(values))
	}
	if n := len(leaks(scanState(t, plainDir), values)); n < len(values)/2 {
		t.Fatalf("the plain state holds only %d of %d values", n, len(values))
	}
	if found := leaks([]byte(pseudoOut), values); len(found) > 0 {
		t.Errorf("%d identifier values in the pseudonymised output, e.g. %q", len(found), found[0])
	}
	if found := leaks(scanState(t, pseudoDir), values); len(found) > 0 {
		t.Errorf("%d identifier values in the pseudonymised state, e.g. %q", len(found), found[0])
	}

	plainStats.Applying, pseudoStats.Applying = 0, 0 // time taken, not a result
	if plainStats != pseudoStats {
		t.Errorf("stats differ: plain %+v, pseudonymised %+v", plainStats, pseudoStats)
	}
	if plainStats.Merges == 0 || plainStats.Conflicts == 0 || plainStats.Triggers == 0 || plainStats.DeadLetters == 0 {
		t.Fatalf("the input exercises too little: %+v", plainStats)
	}
	p, err := pseudonym.New(cfg.Identity.Pseudonymise.Key(), allTypes)
	if err != nil {
		t.Fatal(err)
	}
	plainLines := strings.Split(strings.TrimSpace(plainOut), "\n")
	pseudoLines := strings.Split(strings.TrimSpace(pseudoOut), "\n")
	if len(plainLines) != len(pseudoLines) {
		t.Fatalf("%d lines plain, %d pseudonymised", len(plainLines), len(pseudoLines))
	}
	diffs := 0
	for i := range plainLines {
		var m map[string]any
		if err := json.Unmarshal([]byte(pseudoLines[i]), &m); err != nil {
			t.Fatal(err)
		}
		if want, got := pseudonymise(t, p, plainLines[i]), canonical(t, m); want != got && diffs < 5 {
			diffs++
			t.Errorf("line %d:\n plain→ %s\n  got   %s", i+1, want, got)
		}
	}
}

// The key and types are fixed for the life of a state: another key, or
// pseudonymisation switched off or on, is refused before anything is
// written.
func TestPseudonymKeyChangeRefused(t *testing.T) {
	in := `{"event_id":"e1","channel":"web","type":"login","ts":1000,"ids":{"email":"a@b.com","cookie":"ck-12345678"}}` + "\n"
	dir := t.TempDir()
	run := func(cfg *config.Config) error {
		_, err := Run(Options{Config: cfg, StateDir: dir}, []Input{{R: strings.NewReader(in)}}, new(bytes.Buffer))
		return err
	}
	cfg := pseudoConfig(t)
	if err := run(cfg); err != nil {
		t.Fatal(err)
	}
	if err := run(cfg); err != nil {
		t.Fatalf("same key again: %v", err)
	}
	other := pseudoConfig(t)
	keyFile := other.Identity.Pseudonymise.KeyFile
	os.WriteFile(keyFile, []byte(strings.Repeat("z", 40)), 0o600)
	if err := other.Identity.Pseudonymise.ReadKey(); err != nil {
		t.Fatal(err)
	}
	fewer := pseudoConfig(t)
	fewer.Identity.Pseudonymise.Types = []string{"email"}
	for name, c := range map[string]*config.Config{"another key": other, "other types": fewer, "off": config.Default()} {
		err := run(c)
		if !errors.Is(err, state.ErrPseudonyms) {
			t.Errorf("%s: %v, want ErrPseudonyms", name, err)
		}
	}
	// A plain state is not switched on.
	dir = t.TempDir()
	if err := run(config.Default()); err != nil {
		t.Fatal(err)
	}
	if err := run(cfg); !errors.Is(err, state.ErrPseudonyms) {
		t.Errorf("switching on for a plain state: %v", err)
	}
}
