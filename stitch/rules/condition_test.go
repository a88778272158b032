package rules

import (
	"strings"
	"sync"
	"testing"
)

func TestConditionEval(t *testing.T) {
	env := &Env{
		Profile: ProfileEnv{Events: 4, Purchases: 1, Revenue: 120.5, Channels: []string{"web", "store"}, Stage: "purchase",
			Segments: []string{"vip"}, DaysSinceLast: 2, DaysSinceComplaint: -1, LastSurveyScore: -1},
		Props: map[string]any{"total": 60.0, "sku": "A1", "tags": []any{"x"}},
		Event: EventEnv{Channel: "store", Type: "purchase"},
	}
	tests := []struct {
		src     string
		want    bool
		wantErr bool
	}{
		{"profile.purchases == 1", true, false},
		{"profile.revenue > 100 && profile.events >= 4", true, false},
		{`"store" in profile.channels && len(profile.channels) == 2`, true, false},
		{`profile.stage == "purchase" && "vip" in profile.segments`, true, false},
		{"profile.days_since_complaint >= 0", false, false},
		{"props.total > 50", true, false},
		{`props.sku == "A1" && "x" in props.tags`, true, false},
		{`event.channel == "store" && event.type == "purchase"`, true, false},
		{"(props.missing ?? 0) > 50", false, false},
		{"props.missing == nil", true, false},
		// A missing field compared with a number is a run-time error.
		{"props.missing > 50", false, true},
	}
	for _, tc := range tests {
		c, err := Compile(tc.src)
		if err != nil {
			t.Fatalf("Compile(%q): %v", tc.src, err)
		}
		got, err := c.Eval(env)
		if got != tc.want || (err != nil) != tc.wantErr {
			t.Errorf("%q = %v, %v; want %v, error %v", tc.src, got, err, tc.want, tc.wantErr)
		}
	}

	var nilCond *Condition
	if ok, err := nilCond.Eval(env); !ok || err != nil {
		t.Errorf("nil condition = %v, %v; want true", ok, err)
	}
	if ok, err := (&Condition{Source: "true"}).Eval(env); ok || err == nil {
		t.Errorf("uncompiled condition = %v, %v; want an error", ok, err)
	}
	c, _ := Compile("profile.purchases == 0 && props.x == nil")
	if ok, err := c.Eval(nil); !ok || err != nil {
		t.Errorf("nil env = %v, %v; want true (zero Env)", ok, err)
	}
}

func TestCompileErrors(t *testing.T) {
	for src, want := range map[string]string{
		"":                      "empty expression",
		"profile.purchse > 1":   "profile has no field purchse (column 9)",
		"profile.purchases":     "expected bool, but got int64",
		"profile.stage > 1":     "invalid operation",
		"customer.events > 1":   "unknown name customer",
		"now().Year() > 2000":   "unknown name now",
		"profile.events >":      "unexpected token",
		"event.typ == 'x'":      "event has no field typ",
		"1 +\n profile.nope":    "line 2",
		"profile.purchases = 1": "",
	} {
		_, err := Compile(src)
		if err == nil {
			t.Errorf("Compile(%q): no error", src)
			continue
		}
		if want != "" && !strings.Contains(err.Error(), want) {
			t.Errorf("Compile(%q) = %q, want it to contain %q", src, err, want)
		}
	}
}

// TestConditionConcurrent runs one condition from many goroutines, as
// partitions do (run with -race).
func TestConditionConcurrent(t *testing.T) {
	c, err := Compile("len(profile.channels) >= 3 && props.n > 0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 1000 {
				n := len(make([]string, (g+i)%5))
				env := &Env{Profile: ProfileEnv{Channels: make([]string, n)}, Props: map[string]any{"n": 1}}
				ok, err := c.Eval(env)
				if err != nil || ok != (n >= 3) {
					t.Errorf("channels %d: %v, %v", n, ok, err)
					return
				}
			}
		})
	}
	wg.Wait()
}

func TestMatch(t *testing.T) {
	props, err := Compile("(props.total ?? 0) > 50 && event.channel != 'email'")
	if err != nil {
		t.Fatal(err)
	}
	strict, err := Compile("props.total > 50")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		m       *Match
		channel string
		typ     string
		props   string
		want    bool
		wantErr bool
	}{
		{"nil match", nil, "web", "x", "", true, false},
		{"empty match", &Match{}, "web", "x", "", true, false},
		{"type any-of", &Match{Types: []string{"a", "b"}}, "web", "b", "", true, false},
		{"type miss", &Match{Types: []string{"a", "b"}}, "web", "c", "", false, false},
		{"channel any-of", &Match{Channels: []string{"web", "store"}}, "store", "x", "", true, false},
		{"channel miss", &Match{Channels: []string{"web", "store"}}, "email", "x", "", false, false},
		{"both", &Match{Channels: []string{"web"}, Types: []string{"a"}}, "web", "a", "", true, false},
		{"both, channel miss", &Match{Channels: []string{"web"}, Types: []string{"a"}}, "store", "a", "", false, false},
		{"props true", &Match{Types: []string{"purchase"}, Props: props}, "web", "purchase", `{"total": 60.5}`, true, false},
		{"props false", &Match{Types: []string{"purchase"}, Props: props}, "web", "purchase", `{"total": 10}`, false, false},
		{"props sees event", &Match{Props: props}, "email", "purchase", `{"total": 60.5}`, false, false},
		{"empty props", &Match{Props: props}, "web", "purchase", "", false, false},
		{"null props", &Match{Props: props}, "web", "purchase", " null ", false, false},
		{"empty object", &Match{Props: props}, "web", "purchase", "{}", false, false},
		{"type miss skips bad props", &Match{Types: []string{"a"}, Props: props}, "web", "b", "not json", false, false},
		{"bad props", &Match{Props: props}, "web", "purchase", "not json", false, true},
		{"props not an object", &Match{Props: props}, "web", "purchase", "[1]", false, true},
		{"run-time error", &Match{Props: strict}, "web", "purchase", `{}`, false, true},
	}
	for _, tc := range tests {
		var raw []byte
		if tc.props != "" {
			raw = []byte(tc.props)
		}
		got, err := tc.m.Matches(tc.channel, tc.typ, raw)
		if got != tc.want || (err != nil) != tc.wantErr {
			t.Errorf("%s: Matches = %v, %v; want %v, error %v", tc.name, got, err, tc.want, tc.wantErr)
		}
		if p, err := DecodeProps(raw); err == nil {
			got, err := tc.m.MatchesProps(tc.channel, tc.typ, p)
			if got != tc.want || (err != nil) != tc.wantErr {
				t.Errorf("%s: MatchesProps = %v, %v; want %v, error %v", tc.name, got, err, tc.want, tc.wantErr)
			}
		}
	}
}

func TestMatchNamesDoNotAllocate(t *testing.T) {
	m := &Match{Channels: []string{"web", "store"}, Types: []string{"add_to_cart", "purchase"}}
	raw := []byte(`{"total": 1}`)
	allocs := testing.AllocsPerRun(100, func() {
		if ok, _ := m.Matches("store", "purchase", raw); !ok {
			t.Fatal("no match")
		}
	})
	if allocs != 0 {
		t.Errorf("%v allocations per Matches without props condition", allocs)
	}
}

func BenchmarkConditionEval(b *testing.B) {
	c, err := Compile("profile.purchases == 1 && len(profile.channels) >= 3")
	if err != nil {
		b.Fatal(err)
	}
	env := &Env{Profile: ProfileEnv{Purchases: 1, Channels: []string{"web", "store", "email"}}}
	for b.Loop() {
		if ok, err := c.Eval(env); !ok || err != nil {
			b.Fatal(ok, err)
		}
	}
}
