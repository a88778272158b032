package jsonlex

import (
	"bytes"
	"encoding/json"
	"testing"
)

type tokenCase struct {
	in   string
	end  int
	ok   bool
	note string
}

func checkTokens(t *testing.T, name string, scan func([]byte) (int, bool), cases []tokenCase) {
	t.Helper()
	for _, c := range cases {
		end, ok := scan([]byte(c.in))
		if end != c.end || ok != c.ok {
			t.Errorf("%s(%q) = %d, %v; want %d, %v (%s)", name, c.in, end, ok, c.end, c.ok, c.note)
		}
	}
}

func TestNumber(t *testing.T) {
	checkTokens(t, "Number", func(b []byte) (int, bool) { return Number(b, 0) }, []tokenCase{
		{"0", 1, true, "zero"},
		{"7", 1, true, "one digit"},
		{"123", 3, true, "digits"},
		{"-0", 2, true, "negative zero"},
		{"-12", 3, true, "negative"},
		{"-", 1, false, "minus alone: end of input"},
		{"-a", 1, false, "minus then no digit"},
		{"--1", 1, false, "two minus signs"},
		{"01", 1, true, "leading zero: the number is 0, the 1 is the caller's problem"},
		{"-01", 2, true, "negative leading zero"},
		{"1.", 2, false, "fraction without digits: end of input"},
		{"1.x", 2, false, "fraction without digits"},
		{".5", 0, false, "no integer part"},
		{"1.5", 3, true, "fraction"},
		{"0.001", 5, true, "fraction after zero"},
		{"1e", 2, false, "exponent without digits: end of input"},
		{"1e+", 3, false, "signed exponent without digits"},
		{"1ex", 2, false, "exponent followed by a letter"},
		{"1e5", 3, true, "exponent"},
		{"1E5", 3, true, "upper-case exponent"},
		{"1e+5", 4, true, "plus exponent"},
		{"1e-5", 4, true, "minus exponent"},
		{"1e05", 4, true, "exponent may have leading zeros"},
		{"-1.25e+10", 9, true, "everything"},
		{"1.5e-3x", 6, true, "stops before a trailing byte"},
		{"12,", 2, true, "stops at a comma"},
		{"1 ", 1, true, "stops at white space"},
		{"1.e5", 2, false, "dot then exponent"},
		{"+1", 0, false, "plus sign is not JSON"},
	})
	// Offsets are relative to the whole slice.
	if end, ok := Number([]byte(`[1,-2.5]`), 3); end != 7 || !ok {
		t.Errorf("Number at offset 3 = %d, %v; want 7, true", end, ok)
	}
}

func TestLiteral(t *testing.T) {
	cases := []struct {
		in, word string
		end      int
		ok       bool
	}{
		{"true", "true", 4, true},
		{"false", "false", 5, true},
		{"null", "null", 4, true},
		{"true,", "true", 4, true},
		{"trueish", "true", 4, true}, // the caller rejects what follows
		{"tru", "true", 3, false},    // end of input
		{"trux", "true", 3, false},
		{"tRue", "true", 1, false},
		{"nul", "null", 3, false},
		{"fals", "false", 4, false},
		{"", "null", 0, false},
	}
	for _, c := range cases {
		end, ok := Literal([]byte(c.in), 0, c.word)
		if end != c.end || ok != c.ok {
			t.Errorf("Literal(%q, %q) = %d, %v; want %d, %v", c.in, c.word, end, ok, c.end, c.ok)
		}
	}
	if end, ok := Literal([]byte(`[null]`), 1, "null"); end != 5 || !ok {
		t.Errorf("Literal at offset 1 = %d, %v; want 5, true", end, ok)
	}
}

func TestString(t *testing.T) {
	checkTokens(t, "String", func(b []byte) (int, bool) { return String(b, 0) }, []tokenCase{
		{`""`, 2, true, "empty"},
		{`"abc"`, 5, true, "plain"},
		{`"abc":1`, 5, true, "stops after the closing quote"},
		{`"abc`, 4, false, "unterminated"},
		{`"`, 1, false, "quote alone"},
		{`"a\"b"`, 6, true, "escaped quote"},
		{`"\\"`, 4, true, "escaped backslash"},
		{`"\/\b\f\n\r\t"`, 14, true, "all short escapes"},
		{`"\x"`, 2, false, "unknown escape: offset of the letter"},
		{`"\'"`, 2, false, "single quote escape is not JSON"},
		{`"\`, 2, false, "backslash at end of input"},
		{`"\u00e9"`, 8, true, "unicode escape"},
		{`"\u00E9"`, 8, true, "upper-case hex"},
		{`"\u00g0"`, 5, false, "bad hex digit: its offset"},
		{`"\u12`, 5, false, "short unicode escape at end of input"},
		{`"\u"`, 3, false, "no hex digits"},
		{`"\ud83d\ude00"`, 14, true, "surrogate pair"},
		{`"\ud800"`, 8, true, "lone high surrogate is lexically fine"},
		{`"\udc00x"`, 9, true, "lone low surrogate is lexically fine"},
		{"\"a\nb\"", 2, false, "raw newline"},
		{"\"a\x00b\"", 2, false, "NUL"},
		{"\"a\x1fb\"", 2, false, "unit separator"},
		{"\"a\x7fb\"", 5, true, "DEL is allowed"},
		{"\"\xff\xfe\"", 4, true, "invalid UTF-8 is allowed"},
		{"\"é😀\"", 8, true, "UTF-8"},
	})
	if end, ok := String([]byte(`{"k":"v"}`), 5); end != 8 || !ok {
		t.Errorf("String at offset 5 = %d, %v; want 8, true", end, ok)
	}
}

func TestSkipSpace(t *testing.T) {
	cases := []struct {
		in     string
		i, end int
	}{
		{"", 0, 0},
		{"x", 0, 0},
		{" \t\r\nx", 0, 4},
		{"   ", 0, 3},
		{"a  b", 1, 3},
		{"\v x", 0, 0},       // vertical tab is not JSON white space
		{"\u00a0x", 0, 0},    // nor is NBSP
		{"\f x", 0, 0},       // nor form feed
		{"x \n", 1, 3},       // to the end
		{"xy", 2, 2},         // at the end already
		{"\r\n\r\n{", 0, 4},  // CRLF
		{"\t\t\t\t1", 2, 4},  // from the middle
		{" \u2028x", 0, 1},   // Unicode line separator is not JSON white space
		{"    \x00", 0, 4},   // NUL is not white space
		{"\n\n\n\n\n", 5, 5}, // offset == len
	}
	for _, c := range cases {
		if got := SkipSpace([]byte(c.in), c.i); got != c.end {
			t.Errorf("SkipSpace(%q, %d) = %d; want %d", c.in, c.i, got, c.end)
		}
	}
}

func TestClasses(t *testing.T) {
	for c := 0; c < 256; c++ {
		b := byte(c)
		if got, want := IsDigit(b), bytes.IndexByte([]byte("0123456789"), b) >= 0; got != want {
			t.Errorf("IsDigit(%q) = %v", b, got)
		}
		if got, want := IsHex(b), bytes.IndexByte([]byte("0123456789abcdefABCDEF"), b) >= 0; got != want {
			t.Errorf("IsHex(%q) = %v", b, got)
		}
	}
}

// FuzzTokens checks String and Number against encoding/json: a token they
// accept is valid JSON on its own, a valid JSON string or number is
// accepted whole, and error offsets stay within the input.
func FuzzTokens(f *testing.F) {
	for _, s := range []string{`"abc"`, `"\u00e9\ud83d\ude00"`, `"\x"`, `"a`, `-`, `01`, `1.`, `1e`, `1e+5`, `-0.5E-7`, "\"\xff\"", `true`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if len(b) == 0 {
			return
		}
		var end int
		var ok bool
		switch c := b[0]; {
		case c == '"':
			end, ok = String(b, 0)
		case c == '-' || IsDigit(c):
			end, ok = Number(b, 0)
		case c == 't':
			end, ok = Literal(b, 0, "true")
		default:
			return
		}
		if end < 0 || end > len(b) {
			t.Fatalf("%q: end %d out of range", b, end)
		}
		if ok && !json.Valid(b[:end]) {
			t.Fatalf("%q: accepted %q, which encoding/json rejects", b, b[:end])
		}
		if !ok && end < len(b) && json.Valid(b[:end+1]) {
			// The offending byte cannot end a valid token.
			t.Fatalf("%q: rejected at %d, but %q is valid", b, end, b[:end+1])
		}
		trailingSpace := len(bytes.TrimRight(b, " \t\r\n")) < len(b)
		if json.Valid(b) && !trailingSpace && (!ok || end != len(b)) {
			t.Fatalf("%q: valid JSON, but scanned as %d, %v", b, end, ok)
		}
	})
}
