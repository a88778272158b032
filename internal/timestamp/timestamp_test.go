package timestamp

import (
	"testing"
	"time"
)

func TestParseRFC3339(t *testing.T) {
	cases := []struct {
		in string
		ms int64
		ok bool
	}{
		{"1970-01-01T00:00:00Z", 0, true},
		{"2026-11-20T10:00:00Z", 1795168800000, true},
		{"2026-11-20T10:00:00.123Z", 1795168800123, true},
		{"2026-11-20T10:00:00.1Z", 1795168800100, true},
		{"2026-11-20T10:00:00.12Z", 1795168800120, true},
		{"2026-11-20T10:00:00.123456789Z", 1795168800123, true},
		{"2026-11-20T10:00:00.1239999999999Z", 1795168800123, true}, // more than 9 digits: truncated, as time.Parse does
		{"2026-11-20T11:30:00.5+01:30", 1795168800500, true},
		{"2026-11-20T08:00:00-02:00", 1795168800000, true},
		{"1969-12-31T23:59:59.999Z", -1, true},
		{"0001-01-01T00:00:00Z", MinMillis, true},
		{"9999-12-31T23:59:59.999Z", MaxMillis, true},
		{"2024-02-29T00:00:00Z", 1709164800000, true},
		{"2000-02-29T00:00:00Z", 951782400000, true},
		{"2023-02-29T00:00:00Z", 0, false}, // not a leap year
		{"1900-02-29T00:00:00Z", 0, false}, // century, not a leap year
		{"2026-04-31T00:00:00Z", 0, false},
		{"2026-13-01T00:00:00Z", 0, false},
		{"2026-00-01T00:00:00Z", 0, false},
		{"2026-01-00T00:00:00Z", 0, false},
		{"2026-01-01T24:00:00Z", 0, false},
		{"2026-01-01T00:60:00Z", 0, false},
		{"2026-01-01T00:00:60Z", 0, false},            // leap second: time.Parse decides
		{"2026-01-01T00:00:00", 0, false},             // no zone
		{"2026-01-01T00:00:00z", 1767225600000, true}, // lower case: RFC 3339 5.6
		{"2026-01-01t00:00:00Z", 1767225600000, true},
		{"2026-01-01 00:00:00.5+01:00", 1767222000500, true}, // a space: RFC 3339 5.6
		{"2026-01-01_00:00:00Z", 0, false},
		{"2026-01-01T00:00:00.Z", 0, false},
		{"2026-01-01T00:00:00+0100", 0, false},
		{"2026-01-01T00:00:00+24:00", 0, false},
		{"2026-01-01T00:00:00+01:60", 0, false},
		{"2026-01-01T00:00:00ZZ", 0, false},
		{"2026-1-01T00:00:00Z", 0, false},
		{"+026-01-01T00:00:00Z", 0, false},
		{"", 0, false},
		{"2026-01-01", 0, false},
	}
	for _, c := range cases {
		ms, ok := ParseRFC3339([]byte(c.in))
		if ok != c.ok || ok && ms != c.ms {
			t.Errorf("ParseRFC3339(%q) = %d, %v; want %d, %v", c.in, ms, ok, c.ms, c.ok)
		}
	}
}

func TestDaysFromCivil(t *testing.T) {
	for d := time.Date(1, 1, 1, 0, 0, 0, 0, time.UTC); d.Year() <= 9999; d = d.AddDate(0, 0, 13) {
		want := d.Unix() / 86400
		if got := daysFromCivil(d.Year(), int(d.Month()), d.Day()); got != want {
			t.Fatalf("daysFromCivil(%s) = %d; want %d", d.Format(time.DateOnly), got, want)
		}
	}
}

func TestDaysIn(t *testing.T) {
	for _, y := range []int{0, 1, 4, 100, 400, 1900, 2000, 2023, 2024, 9999} {
		for m := 1; m <= 12; m++ {
			want := time.Date(y, time.Month(m)+1, 0, 0, 0, 0, 0, time.UTC).Day()
			if got := daysIn(m, y); got != want {
				t.Errorf("daysIn(%d, %d) = %d; want %d", m, y, got, want)
			}
		}
	}
}

// FuzzParseRFC3339: whenever the fast path accepts, time.Parse accepts too
// and gives the same instant.
func FuzzParseRFC3339(f *testing.F) {
	for _, s := range []string{"2026-11-20T10:00:00.123Z", "2024-02-29T23:59:59+05:30", "0001-01-01T00:00:00-00:01",
		"9999-12-31T23:59:59.9999999999Z", "2026-01-01T00:00:60Z", "2026-01-01t00:00:00z"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		ms, ok := ParseRFC3339([]byte(s))
		if !ok {
			return
		}
		// time.Parse takes T and Z in upper case only.
		b := []byte(s)
		b[10] = 'T'
		if b[len(b)-1] == 'z' {
			b[len(b)-1] = 'Z'
		}
		tm, err := time.Parse(time.RFC3339Nano, string(b))
		if err != nil || tm.UnixMilli() != ms {
			t.Fatalf("ParseRFC3339(%q) = %d; time.Parse = %v (%d), %v", s, ms, tm, tm.UnixMilli(), err)
		}
	})
}
