// Package jsonlex holds the lexical primitives shared by the hand-written
// JSON scanners of the engine (stitch/event's decoder and
// pipeline/source's mapper): white space, strings, numbers and literals,
// exactly as RFC 8259 and encoding/json's scanner define them.
//
// The functions work on a byte slice and an offset and build nothing. Each
// returns, with ok true, the offset just after the token; with ok false, the
// offset of the first byte that makes the token invalid (len(b) when the
// input ends too early), so that callers report errors their own way.
package jsonlex

// IsDigit reports whether c is an ASCII decimal digit.
func IsDigit(c byte) bool { return '0' <= c && c <= '9' }

// IsHex reports whether c is an ASCII hexadecimal digit (either case).
func IsHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

// SkipSpace returns the offset of the first byte at or after b[i] that is not
// JSON white space (space, tab, newline, carriage return), or len(b).
func SkipSpace(b []byte, i int) int {
	for i < len(b) {
		switch b[i] {
		case ' ', '\t', '\n', '\r':
			i++
		default:
			return i
		}
	}
	return i
}

// strSafe[c] reports whether byte c stands for itself inside a JSON string:
// not the closing quote, not a backslash, not a control character.
var strSafe = func() (t [256]bool) {
	for c := 0x20; c < 256; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

// String scans the string literal starting at b[i] == '"' (the caller has
// checked that byte). Escapes must be \" \\ \/ \b \f \n \r \t or \u and four
// hex digits; control characters are errors; any other byte, even invalid
// UTF-8, is allowed, as encoding/json allows it.
func String(b []byte, i int) (end int, ok bool) {
	i++
	for {
		for i < len(b) && strSafe[b[i]] {
			i++
		}
		if i >= len(b) {
			return i, false
		}
		switch b[i] {
		case '"':
			return i + 1, true
		case '\\':
			i++
			if i >= len(b) {
				return i, false
			}
			switch b[i] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				i++
			case 'u':
				for k := 1; k <= 4; k++ {
					if i+k >= len(b) || !IsHex(b[i+k]) {
						return i + k, false
					}
				}
				i += 5
			default:
				return i, false
			}
		default: // a control character
			return i, false
		}
	}
}

// Number scans the number starting at b[i], which the caller has checked is
// '-' or a digit: an optional minus, an integer part without leading zeros,
// an optional fraction and an optional exponent, each with at least one
// digit.
func Number(b []byte, i int) (end int, ok bool) {
	if b[i] == '-' {
		i++
	}
	switch {
	case i >= len(b):
		return i, false
	case b[i] == '0':
		i++
	case IsDigit(b[i]):
		for i++; i < len(b) && IsDigit(b[i]); i++ {
		}
	default:
		return i, false
	}
	if i < len(b) && b[i] == '.' {
		i++
		if i >= len(b) || !IsDigit(b[i]) {
			return i, false
		}
		for i++; i < len(b) && IsDigit(b[i]); i++ {
		}
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		if i >= len(b) || !IsDigit(b[i]) {
			return i, false
		}
		for i++; i < len(b) && IsDigit(b[i]); i++ {
		}
	}
	return i, true
}

// Literal scans the literal word (true, false or null) expected at b[i].
func Literal(b []byte, i int, word string) (end int, ok bool) {
	for k := 0; k < len(word); k++ {
		if i+k >= len(b) || b[i+k] != word[k] {
			return i + k, false
		}
	}
	return i + len(word), true
}
