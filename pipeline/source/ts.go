package source

import (
	"strconv"
	"time"

	"github.com/omnistitch/omnistitch/internal/timestamp"
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
	minTS = timestamp.MinMillis
	maxTS = timestamp.MaxMillis
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
		if len(s) > 64 {
			return 0, false // no time is written that long
		}
		ms, ok = parseRFC3339(s)
		if !ok && len(s) > 0 && isDigit(s[0]) {
			// Not the common layout (e.g. lower-case t or z): the time
			// package decides. Rare, so its allocation does not matter.
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
func parseRFC3339(s []byte) (int64, bool) { return timestamp.ParseRFC3339(s) }
