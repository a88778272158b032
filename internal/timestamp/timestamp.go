// Package timestamp converts event times to Unix milliseconds without
// allocating: the common layout of RFC 3339 and the calendar arithmetic it
// needs. It is shared by the canonical decoder (stitch/event) and the raw
// source mapper (pipeline/source).
package timestamp

// Earliest and latest event times the engine accepts, in Unix milliseconds:
// years 1 to 9999, the range RFC 3339 can express.
const (
	MinMillis = -62135596800000
	MaxMillis = 253402300799999
)

// ParseRFC3339 is the fast path of time.Parse(time.RFC3339Nano, s) (the
// time package's own parseRFC3339) returning Unix milliseconds directly:
// "2006-01-02T15:04:05", an optional fraction of any number of digits
// (truncated to milliseconds), then "Z" or a "±hh:mm" offset. It also takes
// what RFC 3339 allows and time.Parse does not: "t" and "z" in lower case
// (section 5.6, note) and a space between date and time (the same note's
// readability choice, as databases export). When it reports ok, time.Parse
// gives the same instant for s with an upper-case T and Z; when it does
// not, only time.Parse can tell (a leap second, ...).
func ParseRFC3339(s []byte) (ms int64, ok bool) {
	if len(s) < len("2006-01-02T15:04:05") ||
		s[4] != '-' || s[7] != '-' || (s[10] != 'T' && s[10] != 't' && s[10] != ' ') || s[13] != ':' || s[16] != ':' {
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
			if n <= 3 { // milliseconds: the first three digits
				msec = msec*10 + int(s[n]-'0')
			}
			n++
		}
		for k := n; k <= 3; k++ {
			msec *= 10
		}
		s = s[n:]
	}
	offset := 0
	if len(s) != 1 || (s[0] != 'Z' && s[0] != 'z') {
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

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

// digits parses s as an unsigned decimal in [lo, hi].
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

// daysIn returns the number of days in a month (1-12) of a year.
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

// daysFromCivil returns the days from 1970-01-01 to the given date of the
// proleptic Gregorian calendar (H. Hinnant's algorithm).
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
	yoe := y - era*400                     // [0, 399]
	mp := int64((month + 9) % 12)          // March = 0
	doy := (153*mp+2)/5 + int64(day) - 1   // [0, 365]
	doe := yoe*365 + yoe/4 - yoe/100 + doy // [0, 146096]
	return era*146097 + doe - 719468
}
