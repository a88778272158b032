package rules

import (
	"errors"
	"os"
	"testing"

	"github.com/omnistitch/omnistitch/internal/config"
)

// FuzzLoad feeds arbitrary bytes as the rules file, next to the shipped
// segments file, and checks that loading never panics and returns either a
// Set whose references hold or a *config.Error saying where.
func FuzzLoad(f *testing.F) {
	shipped, err := os.ReadFile(shippedRules)
	if err != nil {
		f.Fatal(err)
	}
	segData, err := os.ReadFile(shippedSegments)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(shipped)
	f.Add([]byte(""))
	f.Add([]byte("rules:\n  - name: a\n    kind: absence\n    when: &m {types: &t [a]}\n    then: *m\n    within: 1d2h\n    cancel_on: [*m, {types: *t}]\n"))
	f.Add([]byte("a: &a [*a, *a]\n"))
	f.Add([]byte("rules:\n  - {name: a, kind: event, when: {props: \"(props.x ?? 0) > 1\"}, if: \"profile.events > 1\"}\n"))
	for _, tc := range badFiles {
		if tc.segments == "" {
			f.Add([]byte(tc.rules))
		}
	}
	segs, e := decodeSegments("segments.yaml", segData)
	if e != nil {
		f.Fatal(e)
	}

	f.Fuzz(func(t *testing.T, data []byte) {
		s, e := decodeRules("rules.yaml", data, "segments.yaml", segs, testOptions)
		if e != nil {
			if s != nil {
				t.Errorf("set returned with error %v", e)
			}
			if e.File != "rules.yaml" || e.Msg == "" || e.Line < 0 {
				t.Errorf("bad error %#v", e)
			}
			_ = e.Error()
			return
		}
		for _, r := range s.Rules {
			if r.Name == "" || !isKind(r.Kind) || r.Line <= 0 {
				t.Errorf("rule %s", describe(r))
			}
			for _, f := range requiredFields[r.Kind] {
				switch {
				case f == "when" && r.When == nil, f == "then" && r.Then == nil, f == "within" && r.Within <= 0:
					t.Errorf("rule %s lacks %s", describe(r), f)
				}
			}
			if r.Kind == KindSegment && s.Segment(r.Segment) == nil {
				t.Errorf("rule %s: unknown segment", describe(r))
			}
			// Conditions must run without panicking.
			_, _ = r.If.Eval(&Env{})
			_, _ = r.When.Matches("web", "purchase", []byte(`{"total": 1}`))
		}
	})
}

// TestLoadErrorsAreConfigErrors checks the error type through the public
// API, which FuzzLoad bypasses to avoid writing files.
func TestLoadErrorsAreConfigErrors(t *testing.T) {
	_, err := Load(writeFile(t, "rules.yaml", "rules: [\n"), shippedSegments, testOptions)
	var e *config.Error
	if !errors.As(err, &e) {
		t.Fatalf("%T %v", err, err)
	}
}
