package pseudonym

import (
	"errors"
	"strings"
	"sync"
	"testing"
)

const testKey = "0123456789abcdef0123456789abcdef"

// Known answers computed outside Go:
// printf 'email:a@b.com' | openssl dgst -sha256 -hmac 0123456789abcdef0123456789abcdef
func TestKnownAnswers(t *testing.T) {
	p, err := New([]byte(testKey), []string{"email", "phone"})
	if err != nil {
		t.Fatal(err)
	}
	f := func(typ, v, want string) {
		t.Helper()
		if got := p.Value(typ, v); got != want {
			t.Errorf("Value(%s, %s) = %s, want %s", typ, v, got, want)
		}
	}
	f("email", "a@b.com", "9660d6bcb75e7f8c5863192bd8af042d")
	f("phone", "+49301234567", "fae8ee73819a9e6b33ce41afdbf595f8")
	f("cookie", "ck-1", "ck-1") // not listed: unchanged
	if !p.Applies("email") || p.Applies("cookie") {
		t.Error("Applies")
	}
}

func TestNilIsOff(t *testing.T) {
	var p *Pseudonymiser
	if p.Value("email", "a@b.com") != "a@b.com" || p.Applies("email") || p.Fingerprint() != "" {
		t.Error("a nil Pseudonymiser changes values")
	}
}

func TestNewRefusesBadInput(t *testing.T) {
	if _, err := New([]byte(testKey[:31]), []string{"email"}); !errors.Is(err, ErrShortKey) {
		t.Errorf("31-byte key: %v", err)
	}
	if _, err := New([]byte(testKey), nil); err == nil {
		t.Error("no types accepted")
	}
	if _, err := New([]byte(testKey), []string{"a:b"}); err == nil {
		t.Error("type with ':' accepted")
	}
}

// The fingerprint changes with the key and with the types, not with the
// order the types are listed in, and does not contain the key.
func TestFingerprint(t *testing.T) {
	fp := func(key string, types ...string) string {
		t.Helper()
		p, err := New([]byte(key), types)
		if err != nil {
			t.Fatal(err)
		}
		return p.Fingerprint()
	}
	a := fp(testKey, "email", "phone")
	if len(a) != 32 || strings.Contains(a, testKey) {
		t.Errorf("fingerprint %q", a)
	}
	if fp(testKey, "phone", "email") != a {
		t.Error("fingerprint depends on the order of types")
	}
	if fp(testKey+"x", "email", "phone") == a {
		t.Error("fingerprint ignores the key")
	}
	if fp(testKey, "email") == a {
		t.Error("fingerprint ignores the types")
	}
}

// The key is copied: changing the caller's slice changes nothing.
func TestKeyCopied(t *testing.T) {
	key := []byte(testKey)
	p, _ := New(key, []string{"email"})
	before := p.Value("email", "a@b.com")
	key[0] ^= 1
	if p.Value("email", "a@b.com") != before {
		t.Error("the pseudonymiser shares the caller's key")
	}
}

// Shared by the writer and HTTP lookups: concurrent use gives the same
// answers (and -race finds no race in the pool).
func TestConcurrent(t *testing.T) {
	p, _ := New([]byte(testKey), []string{"email"})
	want := p.Value("email", "a@b.com")
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 1000 {
				if got := p.Value("email", "a@b.com"); got != want {
					t.Errorf("concurrent Value %s, want %s", got, want)
					return
				}
			}
		}()
	}
	wg.Wait()
}

// Whatever the input, a pseudonym is 32 lower-case hex digits, the same
// every time, and different types of the same value differ.
func FuzzValue(f *testing.F) {
	f.Add("a@b.com")
	f.Add("")
	f.Add("\x00\xff:")
	p, _ := New([]byte(testKey), []string{"email", "phone"})
	f.Fuzz(func(t *testing.T, v string) {
		a := p.Value("email", v)
		if len(a) != Len || strings.Trim(a, "0123456789abcdef") != "" {
			t.Fatalf("pseudonym %q", a)
		}
		if p.Value("email", v) != a {
			t.Fatal("not deterministic")
		}
		if p.Value("phone", v) == a {
			t.Fatal("email and phone pseudonyms of one value are equal")
		}
		if len(v) >= 8 && strings.Contains(a, v) {
			t.Fatal("the pseudonym contains the value")
		}
	})
}

func BenchmarkValue(b *testing.B) {
	p, _ := New([]byte(testKey), []string{"email"})
	for b.Loop() {
		p.Value("email", "niklas.schroeder7@example.org")
	}
}
