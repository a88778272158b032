package config

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// FuzzLoadIdentity feeds arbitrary bytes as the identity rules file, next
// to the shipped main file: Load never panics, and either returns a
// configuration that passes validation or an *Error naming the identity
// file (or the main file's identity_file field) and a line.
func FuzzLoadIdentity(f *testing.F) {
	mainData, err := os.ReadFile(shippedMain)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(shippedIdentity(f))
	f.Add([]byte(""))
	f.Add([]byte("default_country: ZZ\n"))
	f.Add([]byte("shared_after: 0\ntypes:\n  - {name: crm, limit: 1}\n  - {name: crm, limit: 2}\n"))
	f.Add([]byte("types:\n  - {name: \"a:b\", kind: phone, limit: 9223372036854775807, blocklist: [\"\\0\", \"\\xff\"]}\n"))
	f.Add([]byte("junk_values: &j [*j]\n"))
	f.Add([]byte("types: [{name: email, kind: email, limit: 3, detect_shared: yes, <<: {limit: -1}}]\n"))

	f.Fuzz(func(t *testing.T, data []byte) {
		dir := t.TempDir()
		mainPath := filepath.Join(dir, "omnistitch.yaml")
		idPath := filepath.Join(dir, "identity.yaml")
		if err := os.WriteFile(mainPath, mainData, 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(idPath, data, 0o600); err != nil {
			t.Fatal(err)
		}
		c, err := Load(mainPath)
		if err != nil {
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("error %T is not an *Error: %v", err, err)
			}
			if c != nil {
				t.Fatalf("config returned with error %v", err)
			}
			if (e.File != idPath && e.File != mainPath) || e.Msg == "" || e.Line < 0 || e.Error() == "" {
				t.Fatalf("incomplete error %#v", e)
			}
			return
		}
		if p := validate(c); p != nil {
			t.Fatalf("Load returned a config that fails validation: %s: %s", p.path, p.msg)
		}
		if len(c.Identity.Types) == 0 {
			t.Fatal("a configuration without identifier types")
		}
	})
}
