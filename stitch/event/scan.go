package event

import (
	"fmt"
	"unicode"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/omnistitch/omnistitch/internal/jsonlex"
)

// This file holds the single-pass JSON scanner behind Decoder.Decode. It
// validates exactly the grammar encoding/json's scanner accepts (RFC 8259:
// JSON whitespace only, strict numbers, escapes \" \\ \/ \b \f \n \r \t
// \uXXXX, no control characters in strings, any other byte, even invalid
// UTF-8, allowed in strings, nesting up to maxDepth) without building
// anything: it only reports where the values of the known fields are.

// maxDepth is encoding/json's nesting limit: the top-level object counts as
// depth 1, and an object or array at depth maxDepth+1 is a syntax error.
const maxDepth = 10000

// Known top-level fields, in the order Decode checks them.
const (
	fEventID = iota
	fChannel
	fType
	fTS
	fIDs
	fProps
	numFields
)

// foldedNames are the JSON names of the known fields in encoding/json's
// case-folded form (ASCII upper case), in field order.
var foldedNames = [numFields]string{"EVENT_ID", "CHANNEL", "TYPE", "TS", "IDS", "PROPS"}

// span locates a field's value in the record: data[start:end]. A zero span
// (end == 0) means the field is absent: no value starts at byte 0.
type span struct{ start, end int }

// scanner walks one record. On a syntax error it records the offset and
// returns -1 from the method that found it; callers pass -1 up unchanged.
type scanner struct {
	data   []byte
	errAt  int
	errMsg string // "" = invalid character at errAt (or end of input)
}

func (s *scanner) fail(i int) int {
	s.errAt = i
	return -1
}

// tok passes on the result of a jsonlex function: the offset after the
// token, or -1 with the error recorded at the offset jsonlex reported.
func (s *scanner) tok(end int, ok bool) int {
	if ok {
		return end
	}
	return s.fail(end)
}

// message describes the syntax error, with off added to the offset (the
// bytes trimmed from the front of the record).
func (s *scanner) message(off int) string {
	switch {
	case s.errMsg != "":
		return fmt.Sprintf("%s at byte %d", s.errMsg, s.errAt+off)
	case s.errAt >= len(s.data):
		return fmt.Sprintf("unexpected end of input at byte %d", s.errAt+off)
	}
	c := s.data[s.errAt]
	if c >= 0x20 && c < 0x7f {
		return fmt.Sprintf("invalid character %q at byte %d", rune(c), s.errAt+off)
	}
	return fmt.Sprintf("invalid byte 0x%02x at byte %d", c, s.errAt+off)
}

// skipWS returns the offset of the first non-white-space byte at or after
// data[i], or len(data).
func skipWS(data []byte, i int) int { return jsonlex.SkipSpace(data, i) }

// object scans the top-level object, which starts at data[0] == '{', and
// whatever follows it, recording in fields the last value of each known
// field (later duplicates win, as with encoding/json). It reports whether
// the whole record is valid JSON.
func (s *scanner) object(fields *[numFields]span) bool {
	data := s.data
	i := skipWS(data, 1)
	if i < len(data) && data[i] == '}' {
		i++
	} else {
		for {
			if i >= len(data) || data[i] != '"' {
				s.fail(i)
				return false
			}
			ks := i
			if i = s.tok(jsonlex.String(data, i)); i < 0 {
				return false
			}
			ke := i
			i = skipWS(data, i)
			if i >= len(data) || data[i] != ':' {
				s.fail(i)
				return false
			}
			i = skipWS(data, i+1)
			vs := i
			if i = s.value(i, 1); i < 0 {
				return false
			}
			if f := matchField(data[ks+1 : ke-1]); f >= 0 {
				fields[f] = span{vs, i}
			}
			i = skipWS(data, i)
			if i < len(data) && data[i] == ',' {
				i = skipWS(data, i+1)
				continue
			}
			if i < len(data) && data[i] == '}' {
				i++
				break
			}
			s.fail(i)
			return false
		}
	}
	if i = skipWS(data, i); i != len(data) {
		s.errMsg = "data after the object"
		s.fail(i)
		return false
	}
	return true
}

// isDigit reports whether c is an ASCII decimal digit.
func isDigit(c byte) bool { return jsonlex.IsDigit(c) }

// value scans the value starting at data[i], inside a container at depth
// depth, and returns the offset just after it.
func (s *scanner) value(i, depth int) int {
	if i >= len(s.data) {
		return s.fail(i)
	}
	switch c := s.data[i]; c {
	case '"':
		return s.tok(jsonlex.String(s.data, i))
	case '{', '[':
		return s.compound(i, depth)
	case 't':
		return s.tok(jsonlex.Literal(s.data, i, "true"))
	case 'f':
		return s.tok(jsonlex.Literal(s.data, i, "false"))
	case 'n':
		return s.tok(jsonlex.Literal(s.data, i, "null"))
	default:
		if c == '-' || isDigit(c) {
			return s.tok(jsonlex.Number(s.data, i))
		}
		return s.fail(i)
	}
}

// compound scans the object or array starting at data[i], without
// recursion: open holds the opening bracket of every container not yet
// closed (in the common case on the stack; deep nesting spills to the heap).
func (s *scanner) compound(i, depth int) int {
	data := s.data
	var buf [64]byte
	open := buf[:0]
	const (
		afterOpen = iota // just after '{' or '['
		key              // an object key is expected
		val              // a value is expected
		afterVal         // just after a value
	)
	state := val
	for {
		switch state {
		case afterOpen:
			i = skipWS(data, i)
			if i < len(data) && data[i] == open[len(open)-1]+2 { // '}' = '{'+2, ']' = '['+2
				open = open[:len(open)-1]
				i++
				state = afterVal
			} else if open[len(open)-1] == '{' {
				state = key
			} else {
				state = val
			}
		case key:
			if i >= len(data) || data[i] != '"' {
				return s.fail(i)
			}
			if i = s.tok(jsonlex.String(data, i)); i < 0 {
				return -1
			}
			i = skipWS(data, i)
			if i >= len(data) || data[i] != ':' {
				return s.fail(i)
			}
			i = skipWS(data, i+1)
			state = val
		case val:
			if i >= len(data) {
				return s.fail(i)
			}
			if c := data[i]; c == '{' || c == '[' {
				if depth+len(open) >= maxDepth {
					s.errMsg = "nesting deeper than 10000"
					return s.fail(i)
				}
				open = append(open, c)
				i++
				state = afterOpen
				continue
			}
			if i = s.value(i, depth); i < 0 {
				return -1
			}
			state = afterVal
		case afterVal:
			if len(open) == 0 {
				return i
			}
			i = skipWS(data, i)
			if i >= len(data) {
				return s.fail(i)
			}
			switch c := data[i]; {
			case c == ',':
				i = skipWS(data, i+1)
				if open[len(open)-1] == '{' {
					state = key
				} else {
					state = val
				}
			case c == open[len(open)-1]+2:
				open = open[:len(open)-1]
				i++
			default:
				return s.fail(i)
			}
		}
	}
}

// matchField returns the known field a key (the raw bytes between its
// quotes) names, or -1. Like encoding/json it matches the unescaped key
// exactly or, failing that, case-insensitively by Unicode simple folding.
func matchField(k []byte) int {
	switch string(k) {
	case "event_id":
		return fEventID
	case "channel":
		return fChannel
	case "type":
		return fType
	case "ts":
		return fTS
	case "ids":
		return fIDs
	case "props":
		return fProps
	}
	for f := range foldedNames {
		if foldEqual(k, foldedNames[f]) {
			return f
		}
	}
	return -1
}

// foldEqual reports whether the raw (escaped) string content k, unescaped
// and folded as encoding/json folds names, equals folded, an upper-case
// ASCII name.
func foldEqual(k []byte, folded string) bool {
	j := 0
	for i := 0; i < len(k); {
		var r rune
		r, i = nextRune(k, i)
		if 'a' <= r && r <= 'z' {
			r -= 'a' - 'A'
		} else if r >= utf8.RuneSelf {
			r = foldRune(r)
		}
		if j >= len(folded) || r != rune(folded[j]) {
			return false
		}
		j++
	}
	return j == len(folded)
}

// foldRune returns the smallest rune of r's simple-folding orbit, as
// encoding/json does to compare names.
func foldRune(r rune) rune {
	for {
		r2 := unicode.SimpleFold(r)
		if r2 <= r {
			return r2
		}
		r = r2
	}
}

// nextRune decodes the character at s[i] of valid string content (the bytes
// between the quotes): an escape sequence, or a UTF-8 sequence where invalid
// bytes count as U+FFFD one at a time, as encoding/json decodes them.
func nextRune(s []byte, i int) (rune, int) {
	c := s[i]
	if c >= utf8.RuneSelf {
		r, n := utf8.DecodeRune(s[i:])
		return r, i + n
	}
	if c != '\\' {
		return rune(c), i + 1
	}
	switch s[i+1] {
	case 'b':
		return '\b', i + 2
	case 'f':
		return '\f', i + 2
	case 'n':
		return '\n', i + 2
	case 'r':
		return '\r', i + 2
	case 't':
		return '\t', i + 2
	case 'u':
		r := hex4(s[i+2 : i+6])
		i += 6
		if !utf16.IsSurrogate(r) {
			return r, i
		}
		// A high surrogate followed by an escaped low one is one character;
		// any other surrogate is replaced, consuming only its own escape.
		if i+6 <= len(s) && s[i] == '\\' && s[i+1] == 'u' {
			if dec := utf16.DecodeRune(r, hex4(s[i+2:i+6])); dec != utf8.RuneError {
				return dec, i + 6
			}
		}
		return utf8.RuneError, i
	default: // '"', '\\', '/'
		return rune(s[i+1]), i + 2
	}
}

// hex4 decodes four hex digits (already validated by the scanner).
func hex4(h []byte) rune {
	var r rune
	for _, c := range h[:4] {
		switch {
		case c <= '9':
			c -= '0'
		case c >= 'a':
			c -= 'a' - 10
		default:
			c -= 'A' - 10
		}
		r = r<<4 | rune(c)
	}
	return r
}

// plain reports whether string content needs no unescaping: no escapes and
// valid UTF-8, so its bytes are its value.
func plain(s []byte) bool {
	for i, c := range s {
		if c == '\\' {
			return false
		}
		if c >= utf8.RuneSelf {
			return utf8.Valid(s[i:]) && !hasBackslash(s[i:])
		}
	}
	return true
}

func hasBackslash(s []byte) bool {
	for _, c := range s {
		if c == '\\' {
			return true
		}
	}
	return false
}

// unquote returns the value of a valid JSON string literal (with its
// quotes): the content itself when plain, or else the content unescaped and
// with invalid UTF-8 replaced by U+FFFD, appended to dst.
func unquote(dst, lit []byte) []byte {
	s := lit[1 : len(lit)-1]
	if plain(s) {
		return s
	}
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case c < utf8.RuneSelf && c != '\\':
			dst = append(dst, c)
			i++
		case c == '\\':
			var r rune
			r, i = nextRune(s, i)
			dst = utf8.AppendRune(dst, r)
		default:
			r, n := utf8.DecodeRune(s[i:])
			if r == utf8.RuneError && n == 1 {
				dst = append(dst, "\uFFFD"...)
			} else {
				dst = append(dst, s[i:i+n]...)
			}
			i += n
		}
	}
	return dst
}
