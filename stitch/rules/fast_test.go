package rules

import (
	"math/rand/v2"
	"testing"

	"github.com/expr-lang/expr/vm"
)

// The closures of fast.go give the VM's answers: every condition of the
// shipped files and a set of hand-written ones, on random profiles.
func TestFastEqualsVM(t *testing.T) {
	srcs := []string{
		"len(profile.channels) >= 3",
		"profile.revenue >= 1000",
		"profile.days_since_complaint >= 0 && profile.days_since_complaint <= 30",
		"profile.last_survey_score >= 0 && profile.last_survey_score <= 6",
		"profile.days_since_last_event >= 60",
		"profile.events > 5 || profile.purchases == 0",
		"not (profile.purchases >= 2) and profile.stage == 'consideration'",
		"profile.stage != \"purchase\" && !(profile.revenue < 10.5)",
		"'vip' in profile.segments",
		"'store' not in profile.channels",
		"event.channel == 'store' && event.type == 'purchase'",
		"profile.events >= -1",
		"len(profile.segments) == 0",
		"profile.events * 2 > 10", // arithmetic: the VM's
		"profile.stage in ['purchase', 'loyalty']",
		"true",
		"false || profile.events == 3",
	}
	set, err := Default(Options{Stages: []string{"awareness", "consideration", "purchase", "service", "loyalty"}, Channels: []string{"web", "store", "callcentre", "email"}})
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range set.Segments {
		srcs = append(srcs, s.If.Source)
	}
	for _, r := range set.Rules {
		if r.If != nil {
			srcs = append(srcs, r.If.Source)
		}
	}
	rng := rand.New(rand.NewPCG(1, 2))
	stages := []string{"", "awareness", "consideration", "purchase", "loyalty"}
	channels := []string{"web", "store", "callcentre", "email"}
	fast := 0
	for _, src := range srcs {
		c, err := Compile(src)
		if err != nil {
			t.Fatalf("%s: %v", src, err)
		}
		if c.fast != nil {
			fast++
		}
		for range 2000 {
			env := &Env{
				Profile: ProfileEnv{
					Events: rng.Int64N(12), Purchases: rng.Int64N(4), Revenue: float64(rng.IntN(2000)) / 2,
					Stage: stages[rng.IntN(len(stages))], DaysSinceLast: float64(rng.IntN(120)),
					DaysSinceComplaint: float64(rng.IntN(60) - 1), LastSurveyScore: float64(rng.IntN(12) - 1),
				},
				Event: EventEnv{Channel: channels[rng.IntN(4)], Type: []string{"purchase", "page_view"}[rng.IntN(2)]},
			}
			for _, ch := range channels {
				if rng.IntN(2) == 0 {
					env.Profile.Channels = append(env.Profile.Channels, ch)
				}
			}
			if rng.IntN(2) == 0 {
				env.Profile.Segments = []string{"vip"}
			}
			got, err := c.Eval(env)
			if err != nil {
				t.Fatalf("%s: %v", src, err)
			}
			out, err := vm.Run(c.program, env)
			if err != nil {
				t.Fatalf("%s: vm: %v", src, err)
			}
			if want, _ := out.(bool); got != want {
				t.Fatalf("%s on %+v: %v, the VM says %v", src, env, got, want)
			}
		}
	}
	if fast < len(srcs)/2 {
		t.Fatalf("only %d of %d conditions took the fast path", fast, len(srcs))
	}
	for _, s := range set.Segments {
		if s.If.fast == nil {
			t.Errorf("shipped segment %s (%s) is not on the fast path", s.Name, s.If.Source)
		}
	}
}
