package normalize

import (
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"unsafe"
)

// testExtraJunk is shared with the fuzz tests, which check isExtraJunk against
// strings.EqualFold over this list.
var testExtraJunk = []string{
	"unbekannt",
	" Keine Angabe ",
	"ſtraße", // long s and sharp s: fold orbits with multi-byte members
	"info@shop.example",
	"+49309999999",
}

func testOptions() Options {
	return Options{
		DefaultRegion: "DE",
		ExtraJunk:     testExtraJunk,
		Types: map[string]TypeOptions{
			"cookie":  {Kind: Plain},
			"device":  {Kind: Plain},
			"user":    {Kind: Plain},
			"crm":     {Kind: Plain},
			"loyalty": {Kind: Plain, Blocklist: []string{" LC-TEST ", "null"}},
			"email":   {Kind: Email, Blocklist: []string{"Test@Test.com "}},
			"phone":   {Kind: Phone, Blocklist: []string{"+49 30 1111111"}},
		},
	}
}

func newTestNormalizer(tb testing.TB, o Options) *Normalizer {
	tb.Helper()
	n, err := New(o)
	if err != nil {
		tb.Fatalf("New: %v", err)
	}
	return n
}

func TestNormalize(t *testing.T) {
	n := newTestNormalizer(t, testOptions())
	f := func(idType, raw, want string, wantRes Result) {
		t.Helper()
		got, res := n.Normalize(idType, raw)
		if got != want || res != wantRes {
			t.Errorf("Normalize(%q, %q) = %q, %s; want %q, %s", idType, raw, got, res, want, wantRes)
		}
	}

	// Unknown types; names are exact.
	f("fax", "123", "", UnknownType)
	f("", "abc", "", UnknownType)
	f("Email", "anna@example.com", "", UnknownType)

	// Plain: trimmed (Unicode white space too), nothing else.
	f("cookie", "abc-123", "abc-123", OK)
	f("cookie", " \t abc-123\r\n", "abc-123", OK)
	f("cookie", "\u00a0abc\u3000", "abc", OK)
	f("user", "AbC", "AbC", OK)
	f("crm", "a b", "a b", OK)
	f("device", "\xff\xfe", "\xff\xfe", OK) // bytes kept as they are: no two values collapse
	f("cookie", "a\x00b", "", Invalid)
	f("cookie", "\x00", "", Invalid)
	f("cookie", strings.Repeat("a", 512), strings.Repeat("a", 512), OK)
	f("cookie", "  "+strings.Repeat("a", 512)+"\n", strings.Repeat("a", 512), OK)
	f("cookie", strings.Repeat("a", 513), "", Invalid)
	f("cookie", strings.Repeat("a", 1<<20), "", Invalid)
	f("loyalty", "LC-TEST", "", Blocked)
	f("loyalty", "  LC-TEST\t", "", Blocked)
	f("loyalty", "lc-test", "lc-test", OK) // plain blocklists are case-sensitive like the values
	f("loyalty", "LC-0001", "LC-0001", OK)

	// Built-in junk, every SPEC word, in every kind.
	for _, typ := range []string{"cookie", "email", "phone"} {
		for _, raw := range []string{
			"", " ", "\t\n", "null", "NULL", "Null", " undefined ", "UNDEFINED", "none", "None",
			"nil", "NIL", "nan", "NaN", "0", "-1", "-", "unknown", "Unknown", "anonymous",
			"ANONYMOUS", "guest", "Guest", "n/a", "N/A", "[object object]", "[object Object]",
			"0000", "00000000-0000-0000-0000-000000000000", "--", "0-0", " 0000 ",
		} {
			f(typ, raw, "", Junk)
		}
	}
	// Near misses are values.
	f("cookie", "-2", "-2", OK)
	f("cookie", "00001", "00001", OK)
	f("cookie", "nulll", "nulll", OK)
	f("cookie", "n/a/b", "n/a/b", OK)
	f("cookie", "0 0", "0 0", OK)
	f("cookie", "0_0", "0_0", OK)
	f("cookie", "guest-42", "guest-42", OK)
	f("cookie", "un\u212Anown", "un\u212Anown", OK) // Kelvin sign: built-in words fold ASCII only

	// Extra junk: trimmed, case-insensitive with Unicode simple folding.
	f("cookie", "Unbekannt", "", Junk)
	f("email", "UNBEKANNT", "", Junk)
	f("cookie", "keine angabe", "", Junk)
	f("cookie", "  KEINE ANGABE ", "", Junk)
	f("cookie", "keine  angabe", "keine  angabe", OK)
	f("cookie", "STRAẞE", "", Junk)
	f("cookie", "straße", "", Junk)
	f("cookie", "strasse", "strasse", OK) // simple folding does not expand ß
	f("email", "INFO@SHOP.EXAMPLE", "", Junk)
	// Lower-casing İ gives i, so only the normalised value is junk.
	f("email", "İNFO@shop.example", "", Junk)

	// Email: trimmed and lower-cased (SPEC), exactly one '@', non-empty local part, domain
	// without spaces; no provider tricks.
	f("email", "anna@example.com", "anna@example.com", OK)
	f("email", "  Anna@Example.COM \n", "anna@example.com", OK)
	f("email", "mailto:Anna@Example.com", "anna@example.com", OK)
	f("email", "MAILTO:anna@example.com?subject=Hallo", "anna@example.com", OK)
	f("email", "Anna Muster <Anna@Example.com>", "anna@example.com", OK)
	f("email", `"Muster, Anna" <anna@example.com>`, "anna@example.com", OK)
	f("email", `"anna"@example.com`, "anna@example.com", OK)
	f("email", "anna@example.com.", "anna@example.com", OK)
	f("email", `"anna b"@example.com`, `"anna b"@example.com`, OK) // the quotes are needed: kept
	f("email", "anna@example..", "", Invalid)                      // one root dot only
	f("email", "ÄNNE@BEISPIEL.DE", "änne@beispiel.de", OK)
	f("email", "First.Last+Tag@GMail.com", "first.last+tag@gmail.com", OK)
	f("email", "user@localhost", "", Invalid) // no dot: no internet mailbox
	f("email", "x@x.x", "", Invalid)          // no one-letter top-level domain
	f("email", "a@b.de", "a@b.de", OK)
	f("email", "none@none.com", "", Junk)
	f("email", "No-Email@shop.de", "", Junk)
	f("email", "keine.email@web.de", "", Junk)
	f("email", "do_not_reply@x.de", "", Junk)
	f("email", "0000@x.de", "", Junk)
	f("email", "nonelli@x.de", "nonelli@x.de", OK)
	// Internationalised domains: the Unicode and the ASCII ("xn--") spelling are one address.
	f("email", "anna@müller.de", "anna@müller.de", OK)
	f("email", "anna@xn--mller-kva.de", "anna@müller.de", OK)
	f("email", "Anna@XN--MLLER-KVA.DE", "anna@müller.de", OK)
	f("email", "Anna@MÜLLER.DE", "anna@müller.de", OK)
	f("email", "anna@bücher.xn--mller-kva.de", "anna@bücher.müller.de", OK)
	f("email", "anna@ｍüller.de", "anna@müller.de", OK)       // full-width letters, as IDNA maps them
	f("email", "anna@xn--zz.de", "anna@xn--zz.de", OK)       // not IDNA: kept as written
	f("email", "an na@example.com", "an na@example.com", OK) // only the domain is checked for spaces
	f("email", "anna.example.com", "", Invalid)
	f("email", "@example.com", "", Invalid)
	f("email", " @example.com", "", Invalid)
	f("email", "anna@", "", Invalid)
	f("email", "anna@ ", "", Invalid)
	f("email", "a@b@c.com", "", Invalid)
	f("email", "anna@exa mple.com", "", Invalid)
	f("email", "anna@exa\u00a0mple.com", "", Invalid)
	f("email", "anna@exa\tmple.com", "", Invalid)
	f("email", "an\x00na@example.com", "", Invalid)
	f("email", "AN\xffNA@example.com", "", Invalid)
	f("email", strings.Repeat("a", 500)+"@example.com", strings.Repeat("a", 500)+"@example.com", OK) // 512 bytes
	f("email", strings.Repeat("a", 501)+"@example.com", "", Invalid)
	f("email", "Test@Test.com", "", Blocked)
	f("email", " TEST@test.COM ", "", Blocked)
	f("email", "test@test.co", "test@test.co", OK)

	// Phone: SPEC examples and the usual spellings of one German number.
	for _, raw := range []string{
		"+49 30 1234567", "0049 30 1234567", "030 1234567", "(030) 123-4567", "+49-30-1234567",
		"+49 (0)30 1234567", "(+49) 30 1234567", "+49.30.1234567", "030/1234567", "+49301234567",
		" 030 1234567\n", "0049 (0) 30 1234567",
	} {
		f("phone", raw, "+49301234567", OK)
	}
	f("phone", "0171 1234567", "+491711234567", OK)
	f("phone", "+1 650 253 0000", "+16502530000", OK)
	f("phone", "+44 7911 123456", "+447911123456", OK)
	f("phone", "+49"+strings.Repeat(" ", 50)+"30 1234567", "+49301234567", OK) // 63 bytes
	f("phone", "123", "", Invalid)                                             // possible only locally
	f("phone", "+49 30", "", Invalid)
	f("phone", "+999 1234567", "", Invalid) // no such country code
	f("phone", "+", "", Invalid)
	f("phone", "()", "", Invalid)
	f("phone", "- -", "", Invalid)
	f("phone", "abc", "", Invalid)
	f("phone", "+49 30 1234567 ext 12", "", Invalid)
	f("phone", "+49 30 1234567 x12", "", Invalid)
	f("phone", "+49 30 1234567#12", "", Invalid)
	f("phone", "tel:+49-30-1234567", "+49301234567", OK)
	f("phone", "1234567890", "", Junk) // placeholders: a run of the keypad, one digit repeated
	f("phone", "0123 456789", "", Junk)
	f("phone", "+49 98765 4321", "", Junk)
	f("phone", "111111111", "", Junk)
	f("phone", "030 2222222", "+49302222222", OK)
	f("phone", "TEL:+493012345 67", "+49301234567", OK)
	f("phone", "tel:030-1234567", "", Invalid) // a local number needs its phone-context
	f("phone", "tel:+49-30-1234567;ext=12", "", Invalid)
	f("phone", "tel:+49-30-1234567;phone-context=example.com", "", Invalid)
	f("phone", "0800-FLOWERS", "", Invalid)
	f("phone", "０３０ １２３４５６７", "", Invalid) // full-width digits
	f("phone", "030\x001234567", "", Invalid)
	f("phone", "+49 30 1234567\xff", "", Invalid)
	f("phone", "+49"+strings.Repeat(" ", 52)+"30 1234567", "", Invalid) // 65 bytes
	f("phone", strings.Repeat("1", 1<<20), "", Invalid)
	f("phone", "+49 30 123456789012345678", "", Invalid) // too long
	// Not fixed points: the parser strips a trunk 0 after +49, so "+49000000" would itself
	// normalise to "+4900000".
	f("phone", "+49 0000000", "", Invalid)
	f("phone", "00 00 49", "", Invalid)
	f("phone", "+49 030 1234567", "+49301234567", OK) // the same stripping, where it helps
	f("phone", "+00 000", "", Junk)
	f("phone", "(000) 000-0000", "", Junk)
	f("phone", "000 000", "", Junk)
	f("phone", "+49 30 1111111", "", Blocked)
	f("phone", "030 111 1111", "", Blocked)
	f("phone", "030 9999999", "", Junk) // its E.164 form is extra junk
	f("phone", "+49 30 9999999", "", Junk)

	// Cached answers are the same answers.
	f("phone", "030 1234567", "+49301234567", OK)
	f("phone", "123", "", Invalid)
	f("phone", "030 111 1111", "", Blocked)
}

func TestIsJunk(t *testing.T) {
	f := func(v string, want bool) {
		t.Helper()
		if got := IsJunk(v); got != want {
			t.Errorf("IsJunk(%q) = %v, want %v", v, got, want)
		}
	}
	for _, v := range []string{
		"", "null", "undefined", "none", "nil", "nan", "0", "-1", "-", "unknown", "anonymous",
		"guest", "n/a", "[object object]", "NULL", "[OBJECT OBJECT]", "0000", "--",
		"00000000-0000-0000-0000-000000000000", " null ", "\tN/A\n",
	} {
		f(v, true)
	}
	for _, v := range []string{
		"a", "1", "-0-1", "01", "nul", "nils", "unknown1", "[object]", "n / a", "0 0",
		"unbekannt", "0\x00", "\xff",
	} {
		f(v, false)
	}
}

func TestParseKind(t *testing.T) {
	f := func(s string, want Kind, wantErr bool) {
		t.Helper()
		got, err := ParseKind(s)
		if got != want || (err != nil) != wantErr {
			t.Errorf("ParseKind(%q) = %d, %v; want %d, error %v", s, got, err, want, wantErr)
		}
	}
	f("", Plain, false)
	f("plain", Plain, false)
	f("email", Email, false)
	f("phone", Phone, false)
	f("Email", Plain, true)
	f("sms", Plain, true)
	f(" phone", Plain, true)
}

func TestResultString(t *testing.T) {
	f := func(r Result, want string) {
		t.Helper()
		if got := r.String(); got != want {
			t.Errorf("Result(%d).String() = %q, want %q", r, got, want)
		}
	}
	f(OK, "ok")
	f(Junk, "junk")
	f(Blocked, "blocked")
	f(Invalid, "invalid")
	f(UnknownType, "unknown_type")
	f(Result(99), "result(99)")
}

func TestNewErrors(t *testing.T) {
	f := func(o Options, wantErr string) {
		t.Helper()
		_, err := New(o)
		switch {
		case wantErr == "" && err != nil:
			t.Errorf("New(%+v) = %v, want no error", o, err)
		case wantErr != "" && (err == nil || !strings.Contains(err.Error(), wantErr)):
			t.Errorf("New(%+v) = %v, want error containing %q", o, err, wantErr)
		}
	}
	phone := map[string]TypeOptions{"phone": {Kind: Phone}}
	f(Options{}, "")
	f(Options{DefaultRegion: "DE", Types: phone}, "")
	f(Options{DefaultRegion: " de ", Types: phone}, "")
	f(Options{DefaultRegion: "XX", Types: phone}, `"XX"`)
	f(Options{DefaultRegion: "Germany"}, `"Germany"`)
	f(Options{Types: phone}, `"phone" has kind phone but DefaultRegion is empty`)
	f(Options{Types: map[string]TypeOptions{"x": {Kind: Plain}}}, "") // no region needed
	f(Options{DefaultRegion: "DE", Types: phone, PhoneCacheSize: -1}, "PhoneCacheSize")
	f(Options{Types: map[string]TypeOptions{"x": {Kind: 7}}}, `type "x": unknown kind 7`)
	f(Options{Types: map[string]TypeOptions{"email": {Kind: Email, Blocklist: []string{"not-an-email"}}}},
		`type "email": blocklist entry "not-an-email" is invalid for kind email`)
	f(Options{DefaultRegion: "DE", Types: map[string]TypeOptions{"phone": {Kind: Phone, Blocklist: []string{"123"}}}},
		`blocklist entry "123" is invalid for kind phone`)
	f(Options{Types: map[string]TypeOptions{"cookie": {Kind: Plain, Blocklist: []string{"a\x00"}}}}, "is invalid for kind plain")
	// Junk blocklist entries are harmless.
	f(Options{Types: map[string]TypeOptions{"email": {Kind: Email, Blocklist: []string{"null", ""}}}}, "")
}

func TestZeroOptionsKnowNoTypes(t *testing.T) {
	n := newTestNormalizer(t, Options{})
	for _, typ := range []string{"cookie", "email", "phone", ""} {
		if v, res := n.Normalize(typ, "x"); v != "" || res != UnknownType {
			t.Errorf("Normalize(%q) = %q, %s; want unknown_type", typ, v, res)
		}
	}
}

// TestPhoneCacheBounded checks that eviction does not change answers and that the cache
// stays within its configured size.
func TestPhoneCacheBounded(t *testing.T) {
	o := testOptions()
	o.PhoneCacheSize = 2
	n := newTestNormalizer(t, o)
	for round := 0; round < 3; round++ {
		for i := 0; i < 10; i++ {
			raw := fmt.Sprintf("030 123456%d", i)
			want := fmt.Sprintf("+4930123456%d", i)
			if v, res := n.Normalize("phone", raw); v != want || res != OK {
				t.Fatalf("round %d: Normalize(%q) = %q, %s; want %q, ok", round, raw, v, res, want)
			}
		}
		if n.phones.Len() > 2 {
			t.Fatalf("cache holds %d entries, limit 2", n.phones.Len())
		}
	}
	if d := newTestNormalizer(t, testOptions()); d.phones == nil {
		t.Fatal("default options built no phone cache")
	}
	if plain := newTestNormalizer(t, Options{Types: map[string]TypeOptions{"c": {}}}); plain.phones != nil {
		t.Fatal("phone cache built without phone types")
	}
}

// TestPhoneCacheKeyIsCopied guards against the cache pinning the event buffer a raw value was
// sliced from.
func TestPhoneCacheKeyIsCopied(t *testing.T) {
	n := newTestNormalizer(t, testOptions())
	buf := strings.Repeat("x", 4096) + "030 7654321" + strings.Repeat("y", 4096)
	raw := buf[4096 : 4096+len("030 7654321")]
	if v, res := n.Normalize("phone", raw); v != "+49307654321" || res != OK {
		t.Fatalf("Normalize(%q) = %q, %s", raw, v, res)
	}
	var key string
	for _, k := range n.phones.Keys() {
		if k == "0307654321" {
			key = k
		}
	}
	if key == "" {
		t.Fatalf("cache keys = %q, want one equal to the fold of %q", n.phones.Keys(), raw)
	}
	start := uintptr(unsafe.Pointer(unsafe.StringData(buf)))
	p := uintptr(unsafe.Pointer(unsafe.StringData(key)))
	if p >= start && p < start+uintptr(len(buf)) {
		t.Fatal("cache key shares memory with the raw value's buffer")
	}
}

func TestNormalizeConcurrent(t *testing.T) {
	o := testOptions()
	o.PhoneCacheSize = 8 // small, so goroutines race on eviction too
	n := newTestNormalizer(t, o)
	var wg sync.WaitGroup
	errs := make(chan string, 8)
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 500; i++ {
				k := (g + i) % 20
				raw := fmt.Sprintf("+49 30 12345%02d", k)
				want := fmt.Sprintf("+493012345%02d", k)
				if v, res := n.Normalize("phone", raw); v != want || res != OK {
					errs <- fmt.Sprintf("Normalize(%q) = %q, %s", raw, v, res)
					return
				}
				if v, res := n.Normalize("email", "Anna@Example.com"); v != "anna@example.com" || res != OK {
					errs <- fmt.Sprintf("email: %q, %s", v, res)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
}

func TestNormalizeAllocations(t *testing.T) {
	n := newTestNormalizer(t, testOptions())
	n.Normalize("phone", "+49 30 1234567") // warm the cache
	f := func(idType, raw string) {
		t.Helper()
		if a := testing.AllocsPerRun(100, func() { n.Normalize(idType, raw) }); a != 0 {
			t.Errorf("Normalize(%q, %q): %v allocations per call, want 0", idType, raw, a)
		}
	}
	f("cookie", "2c1f7d2e-8c4b-4e57-9d0b-5b1a9f3e7a10")
	f("cookie", "  2c1f7d2e-8c4b-4e57-9d0b-5b1a9f3e7a10\n")
	f("user", "NULL")
	f("user", "[Object Object]")
	f("user", "Unbekannt")
	f("user", "KEINE ANGABE")
	f("user", "somebody-else")
	f("user", strings.Repeat("A", 400))
	f("email", "anna@example.com")
	f("email", "test@test.com") // blocked
	f("phone", "+49 30 1234567")
	f("phone", "0000")
	f("fax", "x")
}

func BenchmarkNormalize(b *testing.B) {
	n := newTestNormalizer(b, testOptions())
	// A web-heavy mix: mostly cookies and devices, some logins and e-mails, phones already
	// cached (the steady state: the same customers come back).
	ids := []struct{ typ, raw string }{
		{"cookie", "2c1f7d2e-8c4b-4e57-9d0b-5b1a9f3e7a10"},
		{"cookie", "GA1.2.1234567890.1700000000"},
		{"device", " 6F9619FF-8B86-D011-B42D-00C04FC964FF "},
		{"user", "u-100042"},
		{"user", "null"},
		{"loyalty", "LC-0001"},
		{"email", "anna.schmidt@example.com"},
		{"email", "Anna.Schmidt@Example.com"},
		{"phone", "+49 30 1234567"},
		{"phone", "0171 1234567"},
	}
	for _, id := range ids {
		n.Normalize(id.typ, id.raw)
	}
	b.Run("serial", func(b *testing.B) {
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			id := ids[i%len(ids)]
			n.Normalize(id.typ, id.raw)
			i++
		}
	})
	b.Run("phone-miss", func(b *testing.B) {
		o := testOptions()
		o.PhoneCacheSize = 16
		n := newTestNormalizer(b, o)
		raws := make([]string, 1024)
		for i := range raws {
			raws[i] = fmt.Sprintf("030 12%05d", i)
		}
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			if _, res := n.Normalize("phone", raws[i%len(raws)]); res != OK {
				b.Fatalf("%q: %s", raws[i%len(raws)], res)
			}
			i++
		}
	})
	b.Run("parallel", func(b *testing.B) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			i := 0
			for pb.Next() {
				id := ids[i%len(ids)]
				n.Normalize(id.typ, id.raw)
				i++
			}
		})
	})
}

// The phone cache is keyed by a folded spelling; parsing the fold must give
// what parsing the value as written gives.
func TestPhoneKeyParsesAlike(t *testing.T) {
	n, err := New(Options{DefaultRegion: "DE", Types: map[string]TypeOptions{"phone": {Kind: Phone}}})
	if err != nil {
		t.Fatal(err)
	}
	if n.idd != "00" {
		t.Fatalf("international prefix of DE = %q, want 00", n.idd)
	}
	for _, v := range []string{"+49 30 1234567", "0049 30 1234567", "030 1234567", "(030) 1234567", "+49-30-1234567",
		"+49 (0)30 1234567", "+49.30.1234567", "030/1234567", "0030 21 0123 4567", "00 44 20 7946 0958", "0151 2345 6789",
		"12345", "00002700000", "0001 202 555 0143", "+1 (202) 555-0143", "49 30 1234567", "0 30 1234567", "+", "00", "0049", "(0)", "+49+30", "1-2-3"} {
		k := string(n.appendPhoneKey([]byte("x"), v)[1:])
		wv, wr := parsePhone(v, "DE")
		gv, gr := parsePhone(k, "DE")
		if wv != gv || wr != gr {
			t.Errorf("%q folds to %q: parse gives %q %v, fold gives %q %v", v, k, wv, wr, gv, gr)
		}
	}
	if a, b := string(n.appendPhoneKey(nil, "+49 30 1234567")), string(n.appendPhoneKey(nil, "0049-30-1234567")); a != b || a != "+49301234567" {
		t.Errorf("keys %q and %q, want both +49301234567", a, b)
	}
}

// A number parsed from a national spelling is cached under its E.164 form
// too; every cached answer, seeded or parsed, must be what a normaliser
// that never saw the other spellings gives for the key.
func TestPhoneCacheSeedsE164(t *testing.T) {
	n := newTestNormalizer(t, testOptions())
	for _, raw := range []string{"030 1234567", "(030) 9999999", "+49 (0)30 7654321", "0049 30 1111111", "tel:+49-30-2222222", "0151 2345 6789", "030 0000000", "12345"} {
		n.Normalize("phone", raw)
	}
	for _, want := range []string{"+49301234567", "+49307654321", "+4915123456789"} {
		if _, ok := n.phones.Peek(want); !ok {
			t.Errorf("E.164 form %q not cached", want)
		}
	}
	// "+49309999999" is junk by configuration: its seeded answer must say so.
	if r, ok := n.phones.Peek("+49309999999"); !ok || r.res != Junk {
		t.Errorf("seeded junk number: %+v, %v; want Junk", r, ok)
	}
	for _, k := range n.phones.Keys() {
		r, _ := n.phones.Peek(k)
		// normalizePhone: the blocklist applies after the cache.
		v, res := newTestNormalizer(t, testOptions()).normalizePhone(k)
		if v != r.value || res != r.res {
			t.Errorf("cached %q → %q, %s; a fresh normaliser gives %q, %s", k, r.value, r.res, v, res)
		}
	}
}

// TestPhoneKnownE164 checks that a national spelling of a number already
// cached in E.164 skips the parser's fixed-point check on the strength of
// that entry alone, and that only an OK entry of the number itself counts.
func TestPhoneKnownE164(t *testing.T) {
	n := newTestNormalizer(t, testOptions())
	if n.knownE164("+49301234567") {
		t.Fatal("known before any number was seen")
	}
	n.Normalize("phone", "+49 30 1234567")
	if !n.knownE164("+49301234567") {
		t.Fatal("a number written in E.164, parsed OK, is not known as a fixed point")
	}
	var asked []string
	v, r := parsePhoneKnowing("0301234567", "DE", func(e string) bool {
		asked = append(asked, e)
		return n.knownE164(e)
	})
	if v != "+49301234567" || r != OK || !slices.Equal(asked, []string{"+49301234567"}) {
		t.Errorf("national spelling: %q, %s, asked %q; want +49301234567, OK, asked once for it", v, r, asked)
	}
	if wv, wr := parsePhone("0301234567", "DE"); wv != v || wr != r {
		t.Errorf("with the check: %q, %s; skipping it gave %q, %s", wv, wr, v, r)
	}

	// A number cached as junk (the test blocklist's "+49309999999") or
	// invalid proves nothing.
	n.Normalize("phone", "030 9999999")
	if n.knownE164("+49309999999") {
		t.Error("a junk number counts as a known fixed point")
	}
	n.Normalize("phone", "12345")
	if n.knownE164("12345") {
		t.Error("an invalid spelling counts as a known fixed point")
	}
}
