package normalize

import (
	"strings"
	"unsafe"

	"github.com/nyaruka/phonenumbers"
)

// normalizePhone turns a trimmed, non-junk value into E.164, or Junk when the E.164 form is
// junk. Only the cheap shape checks run before the cache; everything after is cached, valid or
// not, because the same bad value tends to repeat as often as a good one.
func (n *Normalizer) normalizePhone(v string) (string, Result) {
	if len(v) > maxPhoneLen {
		return "", Invalid
	}
	if len(v) > 5 && v[4] == '+' && strings.EqualFold(v[:4], "tel:") {
		// An RFC 3966 URI of a global number (click-to-call links, CRM
		// exports) names the line as plainly as "+49 30 …" does; its
		// parameters (";ext=", ";phone-context=") are still refused below.
		v = v[4:]
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
	// Cached by the folded spelling (appendPhoneKey), folded on the stack:
	// a hit costs the fold and one lookup and allocates nothing. The
	// unsafe string only lives for the lookup, which keeps no key.
	var buf [maxPhoneLen]byte
	k := n.appendPhoneKey(buf[:0], v)
	if r, ok := n.phones.Get(unsafe.String(unsafe.SliceData(k), len(k))); ok {
		return r.value, r.res
	}
	key := string(k)
	var r phoneResult
	out, res := parsePhoneKnowing(key, n.region, n.knownE164)
	r.value, r.res = out, res
	if res == OK && n.isJunk(out) {
		// Decided once here rather than on every hit; Options cannot change after New.
		r.value, r.res = "", Junk
	}
	n.phones.Add(key, r)
	if res == OK && out != key {
		// The E.164 form is a spelling of its own (its fold is itself) and
		// parses to itself with the same verdict (parsePhone checked that
		// it is a fixed point), so a number seen nationally first costs no
		// second parse when it comes written in E.164.
		n.phones.Add(out, r)
	}
	return r.value, r.res
}

// appendPhoneKey appends to dst the fold of v that the phone cache is keyed
// by: the ways of writing one number that the parser reads alike give one
// key, so "+49 30 1234567", "+49-30-1234567" and "0049 30 1234567", or
// "(030) 1234567" and "030 1234567", cost one parse: phonenumbers ignores
// the punctuation " -().,/" and treats the region's international prefix
// like "+". The key is itself what gets parsed, so a cached result is
// exactly the parse of its key. A '+' anywhere but first keeps the value as
// it is. The key is never longer than v.
func (n *Normalizer) appendPhoneKey(dst []byte, v string) []byte {
	start := len(dst)
	for i := 0; i < len(v); i++ {
		switch c := v[i]; c {
		case ' ', '-', '(', ')', '.', '/':
		case '+':
			if len(dst) > start {
				return append(dst[:start], v...)
			}
			dst = append(dst, c)
		default:
			dst = append(dst, c)
		}
	}
	// Like the parser, only an international prefix followed by a country
	// code (never starting with 0) counts as one.
	k := dst[start:]
	if n.idd != "" && len(k) > len(n.idd) && string(k[:len(n.idd)]) == n.idd && k[len(n.idd)] != '0' {
		k[0] = '+'
		dst = append(dst[:start+1], k[len(n.idd):]...)
	}
	return dst
}

// knownE164 reports whether the cache holds e as a number in E.164 that
// normalises to itself: an entry e → (e, OK) is only ever made by a parse of
// e that gave e, or by seeding after parsePhone checked that e is a fixed
// point. A national spelling of a number seen before in another layout then
// costs one parse, not two (a third of the second parses on the benchmark's
// traffic).
func (n *Normalizer) knownE164(e string) bool {
	r, ok := n.phones.Peek(e)
	return ok && r.res == OK && r.value == e
}

// parsePhone asks phonenumbers. v has passed the shape checks of normalizePhone.
func parsePhone(v, region string) (string, Result) { return parsePhoneKnowing(v, region, nil) }

// parsePhoneKnowing is parsePhone with known, if not nil, reporting E.164
// forms already proven to be fixed points.
func parsePhoneKnowing(v, region string, known func(string) bool) (string, Result) {
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
	// (A value written as its own E.164 form is a fixed point already.)
	if out != v && (known == nil || !known(out)) {
		again, err := phonenumbers.Parse(out, region)
		if err != nil || phonenumbers.Format(again, phonenumbers.E164) != out {
			return "", Invalid
		}
	}
	if placeholderDigits(phonenumbers.GetNationalSignificantNumber(num)) {
		return "", Junk
	}
	return out, OK
}

// placeholderDigits reports whether a national number is one typed to fill a field: one digit
// repeated (111111111) or a run up or down the keypad (1234567890, 0123456789, 98765). Such a
// number passes as possible, but is shared by everyone who gave none.
func placeholderDigits(nsn string) bool {
	if len(nsn) < 5 {
		return false
	}
	same, up, down := true, true, true
	for i := 1; i < len(nsn); i++ {
		d, p := nsn[i], nsn[i-1]
		same = same && d == p
		up = up && (d == p+1 || (p == '9' && d == '0'))
		down = down && (d+1 == p || (p == '0' && d == '9'))
	}
	return same || up || down
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

func isDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// internationalPrefix is the region's international dialling prefix ("00"
// for DE) when it is one fixed digit string, else "" (some regions have
// several, written as a pattern).
func internationalPrefix(region string) string {
	coll, err := phonenumbers.MetadataCollection()
	if err != nil {
		return ""
	}
	for _, md := range coll.GetMetadata() {
		if md.GetId() == region && isDigits(md.GetInternationalPrefix()) {
			return md.GetInternationalPrefix()
		}
	}
	return ""
}
