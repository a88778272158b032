package normalize

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// IsJunk reports whether a trimmed value is junk by the built-in rules alone: empty; made only
// of '0' and '-' ("0", "-", "0000", "--", the all-zero UUID); or, ignoring ASCII case, one of
// null, undefined, none, nil, nan, -1, unknown, anonymous, guest, n/a, [object object].
// Surrounding whitespace is trimmed first, so raw values may be passed too.
//
// It never allocates: the word list is only compared when the length matches a word.
func IsJunk(v string) bool {
	return isBuiltinJunk(strings.TrimSpace(v))
}

func isBuiltinJunk(v string) bool {
	if onlyZerosAndDashes(v) {
		return true
	}
	// The words are ASCII, so a value of the same byte length can only fold-equal one if it is
	// ASCII too: "NULL" is junk, a Kelvin sign standing in for the k of "unknown" is not.
	switch len(v) {
	case 2:
		return v == "-1"
	case 3:
		return strings.EqualFold(v, "nil") || strings.EqualFold(v, "nan") || strings.EqualFold(v, "n/a")
	case 4:
		return strings.EqualFold(v, "null") || strings.EqualFold(v, "none")
	case 5:
		return strings.EqualFold(v, "guest")
	case 7:
		return strings.EqualFold(v, "unknown")
	case 9:
		return strings.EqualFold(v, "undefined") || strings.EqualFold(v, "anonymous")
	case 15:
		return strings.EqualFold(v, "[object object]")
	}
	return false
}

// onlyZerosAndDashes is true for "" too; empty is junk as well.
func onlyZerosAndDashes(v string) bool {
	for i := 0; i < len(v); i++ {
		if v[i] != '0' && v[i] != '-' {
			return false
		}
	}
	return true
}

// foldKey appends to dst a canonical form of s under Unicode simple case folding, replacing
// each rune by the smallest rune of its fold orbit (K, k and the Kelvin sign all become K).
// Two strings get the same key exactly when strings.EqualFold reports them equal, invalid
// bytes included (both read them as U+FFFD). It reports false, with dst partly written, when s
// has more than maxRunes runes, so callers can bound the work on long values.
func foldKey(dst []byte, s string, maxRunes int) ([]byte, bool) {
	runes := 0
	for _, r := range s {
		runes++
		if runes > maxRunes {
			return dst, false
		}
		if r < utf8.RuneSelf {
			if 'a' <= r && r <= 'z' {
				r -= 'a' - 'A'
			}
			dst = append(dst, byte(r))
			continue
		}
		least := r
		for f := unicode.SimpleFold(r); f != r; f = unicode.SimpleFold(f) {
			least = min(least, f)
		}
		dst = utf8.AppendRune(dst, least)
	}
	return dst, true
}
