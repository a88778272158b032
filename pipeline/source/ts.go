package source

import (
	"strconv"
	"time"
)

// tsFormat is how a source writes its event time.
type tsFormat uint8

const (
	tsRFC3339 tsFormat = iota + 1 // "2026-11-20T10:00:00.123Z", any offset, optional fraction
	tsEpochMS                     // 1795082400123 (number or string); a fraction is truncated
	tsEpochS                      // 1795082400 or 1795082400.123 (number or string); beyond ms truncated
)

var tsFormats = map[string]tsFormat{"rfc3339": tsRFC3339, "epoch_ms": tsEpochMS, "epoch_s": tsEpochS}

// Accepted event times: years 1 to 9999, as the canonical decoder accepts,
// so every mapped ts decodes.
const (
	minTS = -62135596800000
	maxTS = 253402300799999
)

// parseTS converts the raw JSON value of a ts field (not absent, not null)
// to Unix milliseconds. ok is false when the value is not a time in the
// format.
func parseTS(raw []byte, f tsFormat) (ms int64, ok bool) {
	s := raw
	if raw[0] == '"' {
		s = raw[1 : len(raw)-1]
	} else if f == tsRFC3339 || raw[0] != '-' && !isDigit(raw[0]) {
		return 0, false // RFC 3339 is a string; epochs are numbers or strings
	}
	switch f {
	case tsRFC3339:
		ms, ok = parseRFC3339(s)
		if !ok && len(s) > 0 && isDigit(s[0]) && len(s) <= 64 {
			// Not the common layout (e.g. lower-case t, fraction of more than 9 digits):
			// the time package decides. Rare, so its allocation does not matter.
			t, err := time.Parse(time.RFC3339Nano, string(s))
			ms, ok = t.UnixMilli(), err == nil
		}
	case tsEpochMS:
		ms, ok = parseDecimal(s, 0)
	case tsEpochS:
		ms, ok = parseDecimal(s, 3)
	}
	return ms, ok && ms >= minTS && ms <= maxTS
}

// parseDecimal parses [-]digits[.digits] exactly (no float rounding: epoch
// seconds 1795082400.123 are 1795082400123 ms, not ...122) and scales it by
// 10^shift, truncating further fraction digits. An exponent goes through
// strconv.ParseFloat.
func parseDecimal(s []byte, shift int) (int64, bool) {
	neg := false
	i := 0
	if i < len(s) && s[i] == '-' {
		neg, i = true, 1
	}
	intStart := i
	var n int64
	for ; i < len(s) && isDigit(s[i]); i++ {
		if i-intStart >= 16 {
			return 0, false // far outside years 1..9999 in any unit
		}
		n = n*10 + int64(s[i]-'0')
	}
	if i == intStart {
		return 0, false
	}
	frac := 0
	if i < len(s) && s[i] == '.' {
		i++
		fs := i
		for ; i < len(s) && isDigit(s[i]); i++ {
			if i-fs < shift {
				frac = frac*10 + int(s[i]-'0')
			}
		}
		if i == fs {
			return 0, false
		}
		for k := i - fs; k < shift; k++ {
			frac *= 10
		}
	} else {
		for k := 0; k < shift; k++ {
			frac *= 10
		}
	}
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		f, err := strconv.ParseFloat(string(s), 64)
		if err != nil {
			return 0, false
		}
		for k := 0; k < shift; k++ {
			f *= 10
		}
		if f != f || f < minTS || f > maxTS {
			return 0, false
		}
		return int64(f), true
	}
	if i != len(s) {
		return 0, false
	}
	for k := 0; k < shift; k++ {
		n *= 10
	}
	n += int64(frac)
	if neg {
		n = -n
	}
	return n, true
}

// parseRFC3339 is the common layout of RFC 3339 (what the time package's
// own fast path accepts), converted straight to Unix milliseconds without
// allocating. ok=false means "not this layout"; time.Parse has the last word.
func parseRFC3339(s []byte) (int64, bool) {
	if len(s) < len("2006-01-02T15:04:05Z") ||
		s[4] != '-' || s[7] != '-' || s[10] != 'T' || s[13] != ':' || s[16] != ':' {
		return 0, false
	}
	year, ok1 := digits(s[0:4], 0, 9999)
	month, ok2 := digits(s[5:7], 1, 12)
	if !ok1 || !ok2 {
		return 0, false
	}
	day, ok3 := digits(s[8:10], 1, daysIn(month, year))
	hour, ok4 := digits(s[11:13], 0, 23)
	mi, ok5 := digits(s[14:16], 0, 59)
	sec, ok6 := digits(s[17:19], 0, 59)
	if !ok3 || !ok4 || !ok5 || !ok6 {
		return 0, false
	}
	s = s[19:]
	msec := 0
	if len(s) >= 2 && s[0] == '.' && isDigit(s[1]) {
		n := 1
		for n < len(s) && isDigit(s[n]) {
			if n <= 3 {
				msec = msec*10 + int(s[n]-'0')
			}
			n++
		}
		if n > 10 {
			return 0, false
		}
		for k := n; k <= 3; k++ {
			msec *= 10
		}
		s = s[n:]
	}
	offset := 0
	if len(s) != 1 || s[0] != 'Z' {
		if len(s) != len("-07:00") || (s[0] != '-' && s[0] != '+') || s[3] != ':' {
			return 0, false
		}
		hr, ok1 := digits(s[1:3], 0, 23)
		mm, ok2 := digits(s[4:6], 0, 59)
		if !ok1 || !ok2 {
			return 0, false
		}
		offset = (hr*60 + mm) * 60
		if s[0] == '-' {
			offset = -offset
		}
	}
	secs := daysFromCivil(year, month, day)*86400 + int64(hour*3600+mi*60+sec-offset)
	return secs*1000 + int64(msec), true
}

func digits(s []byte, lo, hi int) (int, bool) {
	x := 0
	for _, c := range s {
		if !isDigit(c) {
			return 0, false
		}
		x = x*10 + int(c-'0')
	}
	return x, lo <= x && x <= hi
}

func daysIn(month, year int) int {
	switch month {
	case 2:
		if year%4 == 0 && (year%100 != 0 || year%400 == 0) {
			return 29
		}
		return 28
	case 4, 6, 9, 11:
		return 30
	}
	return 31
}

// daysFromCivil returns the days from 1970-01-01 to a proleptic Gregorian
// date (H. Hinnant's algorithm).
func daysFromCivil(year, month, day int) int64 {
	y := int64(year)
	if month <= 2 {
		y--
	}
	era := y
	if era < 0 {
		era -= 399
	}
	era /= 400
	yoe := y - era*400
	mp := int64((month + 9) % 12)
	doy := (153*mp+2)/5 + int64(day) - 1
	doe := yoe*365 + yoe/4 - yoe/100 + doy
	return era*146097 + doe - 719468
}
