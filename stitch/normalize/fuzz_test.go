package normalize

import (
	"strings"
	"testing"
	"unicode/utf8"
)

// checkCommon asserts the properties every kind has and returns the trimmed input.
// Never panicking is asserted by the fuzzer itself.
func checkCommon(t *testing.T, n *Normalizer, idType, raw, out string, res Result) string {
	t.Helper()
	v := strings.TrimSpace(raw)
	if res == UnknownType || res > UnknownType {
		t.Fatalf("Normalize(%q, %q) = %s for a configured type", idType, raw, res)
	}
	if res != OK && out != "" {
		t.Fatalf("Normalize(%q, %q) = %q with %s, want empty value", idType, raw, out, res)
	}
	if IsJunk(v) || extraJunkByEqualFold(v) {
		if res != Junk {
			t.Fatalf("Normalize(%q, %q) = %q, %s; the trimmed value is junk", idType, raw, out, res)
		}
	}
	if res != OK {
		return v
	}
	if out == "" || strings.IndexByte(out, 0) >= 0 {
		t.Fatalf("Normalize(%q, %q) = %q, ok: empty or NUL", idType, raw, out)
	}
	if IsJunk(out) || extraJunkByEqualFold(out) {
		t.Fatalf("Normalize(%q, %q) = %q, ok, but the output is junk", idType, raw, out)
	}
	if again, res2 := n.Normalize(idType, out); again != out || res2 != OK {
		t.Fatalf("not idempotent: %q → %q → %q, %s", raw, out, again, res2)
	}
	return v
}

// extraJunkByEqualFold is the obvious, slow definition isExtraJunk must agree with.
func extraJunkByEqualFold(v string) bool {
	for _, e := range testExtraJunk {
		if strings.EqualFold(v, strings.TrimSpace(e)) {
			return true
		}
	}
	return false
}

func FuzzNormalizeEmail(f *testing.F) {
	for _, s := range []string{
		"anna@example.com", "  Anna@Example.COM \n", "ÄNNE@BEISPIEL.DE", "a@b@c", "@x", "x@",
		"anna@exa mple.com", "Test@Test.com", "NULL", "", "İNFO@shop.example", "\xff@x",
		"a\x00@b", "ǅ@ǅ", "ΣΑΣ@ΣΑΣ", "\u212A@k", "ẞ@ß", "ſ@s", "a@b\u2028c",
		"anna@xn--mller-kva.de", "a@ｍüller.de", "x@xn--ls8h.de", "x@xn--fiq228c.xn--4gb",
	} {
		f.Add(s)
	}
	n := newTestNormalizer(f, testOptions())
	f.Fuzz(func(t *testing.T, raw string) {
		out, res := n.Normalize("email", raw)
		checkCommon(t, n, "email", raw, out, res)
		if res != OK {
			return
		}
		if strings.ToLower(out) != out {
			t.Fatalf("%q → %q is not lower-case", raw, out)
		}
		if strings.Count(out, "@") != 1 || strings.HasPrefix(out, "@") || strings.HasSuffix(out, "@") {
			t.Fatalf("%q → %q is not local@domain", raw, out)
		}
		if !utf8.ValidString(out) || len(out) > maxValueLen {
			t.Fatalf("%q → %q: invalid UTF-8 or too long", raw, out)
		}
	})
}

func FuzzNormalizePhone(f *testing.F) {
	for _, s := range []string{
		"+49 30 1234567", "0049 30 1234567", "030 1234567", "(030) 123-4567", "+49-30-1234567",
		"+49 (0)30 1234567", "(+49) 30 1234567", "+1 650 253 0000", "+44 7911 123456", "123",
		"0000", "+00 000", "+999 1234567", "tel:+49-30-1234567;phone-context=+49", "+49 30 1234567 ext 12",
		"+39 06 1234567", "+800 12345678", "+7 495 1234567", "+352 12", "00 00 49", "+49 0000000",
		"(((((((((((1", "+-+-+-1", "//..//1234567", "+49 30 1111111", "030 9999999", "0049 (0) 30 1234567",
	} {
		f.Add(s)
	}
	o := testOptions()
	o.PhoneCacheSize = 64 // small: most fuzz inputs reach the parser
	n := newTestNormalizer(f, o)
	f.Fuzz(func(t *testing.T, raw string) {
		out, res := n.Normalize("phone", raw)
		checkCommon(t, n, "phone", raw, out, res)
		if res != OK {
			return
		}
		if !isE164Shape(out) || len(out) > 1+17+3 {
			t.Fatalf("%q → %q is not + followed by digits", raw, out)
		}
		// The cache must give the same answer as the parser.
		if v, r := parsePhone(strings.TrimSpace(raw), n.region); v != out || r != OK {
			t.Fatalf("%q: cached %q, parsed %q, %s", raw, out, v, r)
		}
	})
}

func FuzzNormalizePlain(f *testing.F) {
	for _, s := range []string{
		"abc", " abc ", "\u00a0abc\u3000", "a\x00b", "LC-TEST", "null", "NuLl", "0000", "-0-",
		"-1", "[Object Object]", "Unbekannt", "keine angabe", "STRAẞE", "ſtraße", "\xff", "un\u212Anown",
		strings.Repeat("x", 513),
	} {
		f.Add(s)
	}
	n := newTestNormalizer(f, testOptions())
	f.Fuzz(func(t *testing.T, raw string) {
		out, res := n.Normalize("loyalty", raw)
		v := checkCommon(t, n, "loyalty", raw, out, res)
		// Plain is fully specified, so check the exact answer.
		var want Result
		switch {
		case IsJunk(v) || extraJunkByEqualFold(v):
			want = Junk
		case len(v) > maxValueLen || strings.IndexByte(v, 0) >= 0:
			want = Invalid
		case v == "LC-TEST":
			want = Blocked
		}
		if res != want {
			t.Fatalf("Normalize(loyalty, %q) = %q, %s; want %s", raw, out, res, want)
		}
		if res == OK && out != v {
			t.Fatalf("Normalize(loyalty, %q) = %q, want the trimmed value %q", raw, out, v)
		}
	})
}
