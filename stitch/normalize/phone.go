package normalize

import (
	"strings"

	"github.com/nyaruka/phonenumbers"
)

// normalizePhone turns a trimmed, non-junk value into E.164, or Junk when the E.164 form is
// junk. Only the cheap shape checks run before the cache; everything after is cached, valid or
// not, because the same bad value tends to repeat as often as a good one.
func (n *Normalizer) normalizePhone(v string) (string, Result) {
	if len(v) > maxPhoneLen {
		return "", Invalid
	}
	digits, nonZero := 0, false
	for i := 0; i < len(v); i++ {
		switch c := v[i]; {
		case '0' <= c && c <= '9':
			digits++
			nonZero = nonZero || c != '0'
		case c == ' ', c == '+', c == '-', c == '(', c == ')', c == '.', c == '/':
		default:
			// Letters, '#', ';', ',' and non-ASCII never reach the parser: they are how it
			// reads extensions ("ext 12", "x12"), RFC 3966 URIs ("tel:…;phone-context=…",
			// where phonenumbers has panicked before) and vanity numbers ("0800-FLOWERS"),
			// none of which identifies one person's line.
			return "", Invalid
		}
	}
	if digits == 0 {
		return "", Invalid
	}
	if !nonZero {
		return "", Junk
	}
	if r, ok := n.phones.Get(v); ok {
		return r.value, r.res
	}
	value, res := parsePhone(v, n.region)
	if res == OK && n.isJunk(value) {
		// Decided once here rather than on every hit; Options cannot change after New.
		value, res = "", Junk
	}
	n.phones.Add(strings.Clone(v), phoneResult{value: value, res: res})
	return value, res
}

// parsePhone asks phonenumbers. v has passed the shape checks of normalizePhone.
func parsePhone(v, region string) (string, Result) {
	num, err := phonenumbers.Parse(v, region)
	if err != nil || num.GetExtension() != "" {
		return "", Invalid
	}
	// IS_POSSIBLE_LOCAL_ONLY (e.g. "123" in DE) is refused although IsPossibleNumber accepts
	// it: such a number lacks its area code, so its "E.164" form would be shared by every
	// area's subscriber with the same local number and merge strangers.
	if phonenumbers.IsPossibleNumberWithReason(num) != phonenumbers.IS_POSSIBLE {
		return "", Invalid
	}
	out := phonenumbers.Format(num, phonenumbers.E164)
	if !isE164Shape(out) {
		return "", Invalid
	}
	// E.164 output is not always a fixed point: the parser strips a national prefix after the
	// country code, so "+49 0000000" gives "+49000000", which parses as "+4900000". A value
	// whose normal form would itself normalise differently cannot be matched reliably (the
	// same number stored by another system in E.164 would not link), so it is refused. This
	// costs a second parse on cache misses only.
	again, err := phonenumbers.Parse(out, region)
	if err != nil || phonenumbers.Format(again, phonenumbers.E164) != out {
		return "", Invalid
	}
	return out, OK
}

// isE164Shape is '+' followed by digits, not all of them zero.
func isE164Shape(s string) bool {
	if len(s) < 2 || s[0] != '+' {
		return false
	}
	nonZero := false
	for i := 1; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return false
		}
		nonZero = nonZero || c != '0'
	}
	return nonZero
}
