package config

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// FuzzLoad feeds arbitrary bytes as the main file, next to the shipped
// identity file, and checks that Load never panics and that it either
// returns a configuration that passes validation or an *Error saying where.
func FuzzLoad(f *testing.F) {
	shipped, err := os.ReadFile(shippedMain)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(shipped)
	f.Add([]byte(""))
	f.Add([]byte("state: &s {dir: x}\ninput: {channels: [web]}\nprofile:\n  <<: {revenue_prop: amount}\n"))
	f.Add([]byte("a: &a [*a, *a]\n"))
	f.Add([]byte("identity_file: identity.yaml\njourney:\n  stages:\n    - {name: a, types: [x]}\n"))
	for _, tc := range badFiles {
		if tc.main != "" {
			f.Add([]byte(tc.main))
		}
	}
	identity := shippedIdentity(f)

	f.Fuzz(func(t *testing.T, data []byte) {
		// identity_file may name any path; reading a device or a pipe could
		// block the fuzzer for reasons that have nothing to do with Load.
		if bytes.Contains(data, []byte("/dev")) || bytes.Contains(data, []byte("/proc")) || bytes.Contains(data, []byte("/sys")) {
			t.Skip("names a special file")
		}
		dir := t.TempDir()
		mainPath := filepath.Join(dir, "omnistitch.yaml")
		if err := os.WriteFile(mainPath, data, 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "identity.yaml"), identity, 0o600); err != nil {
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
			if e.File == "" || e.Msg == "" || e.Line < 0 || e.Error() == "" {
				t.Fatalf("incomplete error %#v", e)
			}
			return
		}
		if p := validate(c); p != nil {
			t.Fatalf("Load returned a config that fails validation: %s: %s", p.path, p.msg)
		}
	})
}
