package rules

import (
	"math"
	"os"
	"slices"
	"testing"
)

// FuzzSegments feeds arbitrary bytes as the segments file and loads the
// shipped rules against it: loading never panics and returns either
// segments whose conditions evaluate (true or false, or an error) on any
// profile, or a *config.Error naming the file and a line. The shipped
// rules refer to the segment omnichannel, so a file without it must be
// refused with an error that names the rules file.
func FuzzSegments(f *testing.F) {
	shipped, err := os.ReadFile(shippedSegments)
	if err != nil {
		f.Fatal(err)
	}
	rulesData, err := os.ReadFile(shippedRules)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(shipped)
	f.Add([]byte(""))
	f.Add([]byte("segments:\n  - {name: omnichannel, if: \"len(profile.channels) >= 3\"}\n  - {name: omnichannel, if: \"true\"}\n"))
	f.Add([]byte("segments:\n  - name: a\n    if: \"profile.segments[0] == 'x'\"\n"))
	f.Add([]byte("segments:\n  - name: omnichannel\n    if: \"1 / (profile.events - profile.events) > 0\"\n"))
	f.Add([]byte("segments: &s [{name: omnichannel, if: &c \"profile.revenue > 1\"}, {name: b, if: *c}]\n"))
	f.Add([]byte("segments:\n  - name: omnichannel\n    if: \"all(profile.channels, {# in ['web']}) && props.x\"\n"))

	envs := hostileEnvs()
	f.Fuzz(func(t *testing.T, data []byte) {
		segs, e := decodeSegments("segments.yaml", data)
		if e != nil {
			if segs != nil {
				t.Errorf("segments returned with error %v", e)
			}
			if e.File != "segments.yaml" || e.Msg == "" || e.Line < 0 {
				t.Errorf("bad error %#v", e)
			}
			return
		}
		names := map[string]bool{}
		for _, g := range segs {
			if g.Name == "" || g.If == nil || g.Line <= 0 || names[g.Name] {
				t.Errorf("segment %+v", g)
			}
			names[g.Name] = true
			for _, env := range envs {
				_, _ = g.If.Eval(env) // must not panic
			}
		}
		s, e := decodeRules("rules.yaml", rulesData, "segments.yaml", segs, testOptions)
		if e != nil {
			if s != nil || e.File != "rules.yaml" || e.Line <= 0 {
				t.Errorf("bad rules error %#v", e)
			}
			if names["omnichannel"] {
				t.Errorf("shipped rules refused next to a segments file with omnichannel: %v", e)
			}
			return
		}
		if !names["omnichannel"] {
			t.Errorf("shipped rules loaded without their segment omnichannel")
		}
	})
}

// FuzzCondition compiles arbitrary expressions as conditions and evaluates
// the ones that compile on profiles and props at the edges (empty, huge,
// NaN-free extremes, odd types): Compile and Eval return errors, never
// panic, and an evaluation that reports no error gives the same answer
// twice (conditions see event time only, so they are pure).
func FuzzCondition(f *testing.F) {
	for _, src := range []string{
		"profile.purchases == 1",
		"len(profile.channels) >= 3",
		"(props.total ?? 0) > 50",
		"props.total > 50",
		"profile.days_since_complaint >= 0 && profile.days_since_complaint <= 30",
		`"store" in profile.channels && event.type == "purchase"`,
		"props.items[0].price * 2 > profile.revenue",
		"1 / profile.events > 0",
		"profile.events % 0 == 1",
		"all(profile.channels, {# matches '^(w+)+$'})",
		"int(props.x) > 3",
		"len(string(props)) > 10",
		"props.a.b.c.d.e == nil",
		"-9223372036854775808 / -1 == 0",
		"repeat('x', 1000000000) != ''",
		"profile.stage[1:] == 'x'",
		"",
	} {
		f.Add(src, []byte(`{"total": 59.9, "items": [{"price": "12"}], "x": "7", "a": {"b": null}}`), int64(3), 1e300)
	}
	f.Fuzz(func(t *testing.T, src string, props []byte, events int64, revenue float64) {
		if math.IsNaN(revenue) {
			revenue = 0 // never stored: the engine keeps finite amounts only
		}
		c, err := Compile(src)
		if err != nil {
			if c != nil {
				t.Fatalf("condition returned with error %v", err)
			}
			return
		}
		p, perr := DecodeProps(props)
		if perr != nil {
			p = nil
		}
		env := &Env{
			Profile: ProfileEnv{Events: events, Purchases: -events, Revenue: revenue, Channels: []string{"web", "\x00", "\xff"},
				Stage: "\xffstage", DaysSinceLast: revenue, DaysSinceComplaint: -1, LastSurveyScore: -1},
			Props: p,
			Event: EventEnv{Channel: "web", Type: string(props)},
		}
		a, aerr := c.Eval(env)
		b, berr := c.Eval(env)
		if (aerr == nil) != (berr == nil) || (aerr == nil && a != b) {
			t.Fatalf("%q: %v/%v then %v/%v", src, a, aerr, b, berr)
		}
		_, _ = c.Eval(nil)
	})
}

// FuzzMatchEvents evaluates every shipped rule's matches and conditions,
// and those of a rules file with props predicates, on fuzzed events: any
// channel, type and props bytes (not JSON, NUL, invalid UTF-8, deep). A
// match never panics, and when props are not a JSON object a props
// predicate says no with an error.
func FuzzMatchEvents(f *testing.F) {
	shipped, err := Default(testOptions)
	if err != nil {
		f.Fatal(err)
	}
	segData, err := os.ReadFile(shippedSegments)
	if err != nil {
		f.Fatal(err)
	}
	segs, e := decodeSegments("segments.yaml", segData)
	if e != nil {
		f.Fatal(e)
	}
	custom, e := decodeRules("rules.yaml", []byte(`rules:
  - name: big_basket
    kind: event
    when: {channels: [web, store], types: [purchase], props: "(props.total ?? 0) > 100 && len(props.items ?? []) > 2"}
    if: "profile.revenue > 0"
  - name: browse_then_call
    kind: sequence
    when: {types: [product_view], props: "props.sku != nil"}
    then: {channels: [callcentre], props: "props.reason in ['complaint', 'question']"}
    within: 2d
    cancel_on: [{types: [purchase], props: "props.refund == true"}]
`), "segments.yaml", segs, testOptions)
	if e != nil {
		f.Fatal(e)
	}
	all := slices.Concat(shipped.Rules, custom.Rules)
	f.Add("web", "purchase", []byte(`{"total": 500, "items": [1, 2, 3]}`))
	f.Add("store", "purchase", []byte(`{"total": "500", "items": "abc"}`))
	f.Add("callcentre", "call", []byte(`{"reason": "complaint"}`))
	f.Add("web", "product_view", []byte(`{"sku": null}`))
	f.Add("web", "product_view", []byte(`[1,2]`))
	f.Add("web\x00", "purchase\xff", []byte("{\"total\": 1e400}"))
	f.Add("web", "purchase", []byte(`{"total": {"total": {"total": [[[[[[[[[]]]]]]]]]}}}`))
	f.Add("", "", []byte(`null`))
	envs := hostileEnvs()
	f.Fuzz(func(t *testing.T, channel, typ string, props []byte) {
		decoded, derr := DecodeProps(props)
		for _, r := range all {
			for _, m := range slices.Concat([]*Match{r.When, r.Then}, r.CancelOn) {
				ok, err := m.Matches(channel, typ, props)
				if ok && err != nil {
					t.Fatalf("%s: match with error %v", r.Name, err)
				}
				if m != nil && m.Props != nil && m.matchesNames(channel, typ) && derr != nil && (ok || err == nil) {
					t.Fatalf("%s: props %q are not an object, yet match = %v, %v", r.Name, props, ok, err)
				}
				if derr == nil {
					ok2, err2 := m.MatchesProps(channel, typ, decoded)
					if ok2 != ok || (err2 == nil) != (err == nil) {
						t.Fatalf("%s: Matches %v/%v, MatchesProps %v/%v", r.Name, ok, err, ok2, err2)
					}
				}
			}
			for _, env := range envs {
				env.Event = EventEnv{Channel: channel, Type: typ}
				_, _ = r.If.Eval(env)
			}
		}
	})
}

// hostileEnvs are profiles at the edges of what the engine can hand a
// condition.
func hostileEnvs() []*Env {
	return []*Env{
		{},
		{Profile: ProfileEnv{Events: math.MaxInt64, Purchases: math.MaxInt64, Revenue: math.MaxFloat64,
			DaysSinceLast: math.Inf(1), DaysSinceComplaint: -1, LastSurveyScore: -1}},
		{Profile: ProfileEnv{Events: math.MinInt64, Revenue: -math.MaxFloat64, Channels: []string{"", "\x00", "\xff\xfe"},
			Stage: "\x00", Segments: []string{"omnichannel", "omnichannel"}, DaysSinceComplaint: 1e-300, LastSurveyScore: 10}},
	}
}
