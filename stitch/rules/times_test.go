package rules

import (
	"slices"
	"testing"
)

func TestTimeThresholds(t *testing.T) {
	for _, tc := range []struct {
		src     string
		want    []TimeThreshold
		unknown bool
	}{
		{"profile.revenue >= 1000", nil, false},
		{"profile.days_since_last_event >= 60", []TimeThreshold{{SinceLastEvent, 60}}, false},
		{"profile.days_since_complaint >= 0 && profile.days_since_complaint <= 30",
			[]TimeThreshold{{SinceComplaint, 0}, {SinceComplaint, 30}}, false},
		{"7.5 < profile.days_since_last_event || not (profile.days_since_complaint == -1)",
			[]TimeThreshold{{SinceLastEvent, 7.5}, {SinceComplaint, -1}}, false},
		{"profile.days_since_last_event * 2 > 10", nil, true},
		{"profile.days_since_last_event > profile.days_since_complaint", nil, true},
		{"profile.days_since_last_event >= 60 && profile.days_since_last_event - 1 > 3", []TimeThreshold{{SinceLastEvent, 60}}, true},
	} {
		c, err := Compile(tc.src)
		if err != nil {
			t.Fatalf("%s: %v", tc.src, err)
		}
		if !slices.Equal(c.Times, tc.want) || c.TimesUnknown != tc.unknown {
			t.Errorf("%s: thresholds %v unknown %v, want %v %v", tc.src, c.Times, c.TimesUnknown, tc.want, tc.unknown)
		}
	}
}
