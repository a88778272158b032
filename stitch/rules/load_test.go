package rules

import (
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/omnistitch/omnistitch/internal/config"
)

const (
	shippedRules    = "../../configs/rules.yaml"
	shippedSegments = "../../configs/segments.yaml"
)

// testOptions are the stages and channels of the shipped omnistitch.yaml.
var testOptions = Options{
	Stages:   []string{"awareness", "consideration", "purchase", "service", "loyalty"},
	Channels: []string{"web", "store", "callcentre", "email"},
}

func TestDefault(t *testing.T) {
	s, err := Default(testOptions)
	if err != nil {
		t.Fatal(err)
	}
	if s.Topic != "omni.triggers" || s.AllowedLateness != 5*time.Minute || s.IdleAfter != 30*time.Second {
		t.Errorf("Topic, AllowedLateness, IdleAfter = %q, %v, %v", s.Topic, s.AllowedLateness, s.IdleAfter)
	}
	if len(s.Rules) != 4 {
		t.Fatalf("%d rules, want 4", len(s.Rules))
	}

	r := s.Rule("cart_abandoned")
	if r == nil || r.Kind != KindAbsence || r.Within != time.Hour || !sameList(r.When.Types, "add_to_cart") ||
		!sameList(r.Then.Types, "purchase") || len(r.When.Channels)+len(r.Then.Channels) != 0 || r.If != nil || r.MaxFires != 0 {
		t.Errorf("cart_abandoned = %s", describe(r))
	}
	r = s.Rule("first_purchase")
	if r == nil || r.Kind != KindEvent || !sameList(r.When.Types, "purchase") || r.Then != nil ||
		r.If.String() != "profile.purchases == 1" || r.MaxFires != 1 {
		t.Errorf("first_purchase = %s", describe(r))
	}
	r = s.Rule("complaint_after_purchase")
	if r == nil || r.Kind != KindSequence || r.Within != 7*24*time.Hour || !sameList(r.When.Types, "purchase") ||
		!sameList(r.Then.Types, "complaint") || r.MaxFires != 0 {
		t.Errorf("complaint_after_purchase = %s", describe(r))
	}
	r = s.Rule("omnichannel_customer")
	if r == nil || r.Kind != KindSegment || r.Segment != "omnichannel" || r.Exit || r.MaxFires != 1 || r.When != nil {
		t.Errorf("omnichannel_customer = %s", describe(r))
	}
	for _, r := range s.Rules {
		if r.File != "rules.yaml" || r.Line == 0 || s.TopicOf(r) != "omni.triggers" {
			t.Errorf("%s: File, Line, topic = %q, %d, %q", r.Name, r.File, r.Line, s.TopicOf(r))
		}
	}

	wantSegs := map[string]string{
		"omnichannel": "len(profile.channels) >= 3",
		"vip":         "profile.revenue >= 1000",
		"complainer":  "profile.days_since_complaint >= 0 && profile.days_since_complaint <= 30",
		"detractor":   "profile.last_survey_score >= 0 && profile.last_survey_score <= 6",
		"lapsed":      "profile.days_since_last_event >= 60",
	}
	if len(s.Segments) != len(wantSegs) {
		t.Errorf("%d segments, want %d", len(s.Segments), len(wantSegs))
	}
	for name, src := range wantSegs {
		g := s.Segment(name)
		if g == nil || g.If.String() != src || g.File != "segments.yaml" || g.Line == 0 {
			t.Errorf("segment %s = %+v, want if %q", name, g, src)
		}
	}

	// The segment conditions mean what their comments say.
	segTests := []struct {
		p    ProfileEnv
		want []string
	}{
		{ProfileEnv{DaysSinceComplaint: -1, LastSurveyScore: -1}, nil},
		{ProfileEnv{Channels: []string{"web", "store", "email"}, Revenue: 1000, DaysSinceComplaint: 30, LastSurveyScore: 6, DaysSinceLast: 60},
			[]string{"omnichannel", "vip", "complainer", "detractor", "lapsed"}},
		{ProfileEnv{Channels: []string{"web", "store"}, Revenue: 999.99, DaysSinceComplaint: 30.5, LastSurveyScore: 7, DaysSinceLast: 59.9}, nil},
		{ProfileEnv{DaysSinceComplaint: 0, LastSurveyScore: 0}, []string{"complainer", "detractor"}},
	}
	for _, tc := range segTests {
		var got []string
		for _, g := range s.Segments {
			ok, err := g.If.Eval(&Env{Profile: tc.p})
			if err != nil {
				t.Fatal(err)
			}
			if ok {
				got = append(got, g.Name)
			}
		}
		if strings.Join(got, ",") != strings.Join(tc.want, ",") {
			t.Errorf("profile %+v: segments %v, want %v", tc.p, got, tc.want)
		}
	}
}

func TestDefaultIsACopy(t *testing.T) {
	a, err := Default(Options{})
	if err != nil {
		t.Fatal(err)
	}
	a.Rules[0].Name = "changed"
	a.Segments = nil
	b, err := Default(Options{})
	if err != nil {
		t.Fatal(err)
	}
	if b.Rules[0].Name != "cart_abandoned" || len(b.Segments) != 5 {
		t.Errorf("Default changed by a caller: %s, %d segments", b.Rules[0].Name, len(b.Segments))
	}
}

func TestLoadShippedFiles(t *testing.T) {
	s, err := Load(shippedRules, shippedSegments, testOptions)
	if err != nil {
		t.Fatal(err)
	}
	d, err := Default(testOptions)
	if err != nil {
		t.Fatal(err)
	}
	if describeSet(s) != describeSet(d) {
		t.Errorf("shipped files differ from the embedded ones:\n%s\nvs\n%s", describeSet(s), describeSet(d))
	}
	if s.Rules[0].File != shippedRules || s.Segments[0].File != shippedSegments {
		t.Errorf("File = %q, %q", s.Rules[0].File, s.Segments[0].File)
	}
}

func TestLoadAllFields(t *testing.T) {
	rules := `
topic: custom.triggers
allowed_lateness: 0s
idle_after: 1h30m
rules:
  - name: big_web_order
    kind: event
    when: {channels: [web], types: [purchase, checkout], props: "(props.total ?? 0) > 50"}
    if: "profile.purchases >= 0"
    cooldown: 24h
    max_fires: 3
    topic: other
  - name: cart
    kind: absence
    when: &cart {types: [add_to_cart]}
    then: {types: [purchase]}
    within: 90m
    cancel_on: [{types: [logout]}, *cart]
  - name: left_service
    kind: stage
    stage: service
    on: exit
  - name: became_vip
    kind: segment
    segment: vip
`
	s, err := Load(writeFile(t, "rules.yaml", rules), shippedSegments, testOptions)
	if err != nil {
		t.Fatal(err)
	}
	if s.Topic != "custom.triggers" || s.AllowedLateness != 0 || s.IdleAfter != 90*time.Minute || len(s.Rules) != 4 {
		t.Fatalf("set = %s", describeSet(s))
	}
	r := s.Rules[0]
	if !sameList(r.When.Channels, "web") || !sameList(r.When.Types, "purchase", "checkout") || r.When.Props.String() != "(props.total ?? 0) > 50" ||
		r.Cooldown != 24*time.Hour || r.MaxFires != 3 || s.TopicOf(r) != "other" || r.Line != 6 {
		t.Errorf("rule 0 = %s", describe(r))
	}
	r = s.Rules[1]
	if r.Within != 90*time.Minute || len(r.CancelOn) != 2 || !sameList(r.CancelOn[0].Types, "logout") || r.CancelOn[1] != r.When || s.TopicOf(r) != "custom.triggers" {
		t.Errorf("rule 1 = %s", describe(r))
	}
	if r := s.Rules[2]; r.Kind != KindStage || r.Stage != "service" || !r.Exit {
		t.Errorf("rule 2 = %s", describe(r))
	}
	if r := s.Rules[3]; r.Kind != KindSegment || r.Segment != "vip" || r.Exit {
		t.Errorf("rule 3 = %s", describe(r))
	}
}

func TestEmptyFiles(t *testing.T) {
	s, err := Load(writeFile(t, "rules.yaml", "# nothing\n"), writeFile(t, "segments.yaml", ""), Options{})
	if err != nil {
		t.Fatal(err)
	}
	if len(s.Rules) != 0 || len(s.Segments) != 0 || s.Topic != DefaultTopic || s.AllowedLateness != DefaultAllowedLateness || s.IdleAfter != DefaultIdleAfter {
		t.Errorf("set = %s", describeSet(s))
	}
}

func TestParseDuration(t *testing.T) {
	good := map[string]time.Duration{
		"0s": 0, "30s": 30 * time.Second, "90m": 90 * time.Minute, "1h30m": 90 * time.Minute,
		"7d": 7 * 24 * time.Hour, "1d2h3m4s": 26*time.Hour + 3*time.Minute + 4*time.Second,
	}
	for s, want := range good {
		if d, err := ParseDuration(s); err != nil || d != want {
			t.Errorf("ParseDuration(%q) = %v, %v; want %v", s, d, err, want)
		}
	}
	for _, s := range []string{"", "1", "1x", "1.5h", "-1h", "30m1h", "1h 30m", "h", "1ms", "99999999999999999999d", "106752d", "106751d24h"} {
		if d, err := ParseDuration(s); err == nil {
			t.Errorf("ParseDuration(%q) = %v, want an error", s, d)
		}
	}
}

// rule is a valid rule of the given kind with extra lines appended.
func rule(kind, extra string) string {
	s := "rules:\n  - name: r\n    kind: " + kind + "\n"
	switch kind {
	case "event":
		s += "    when: {types: [a]}\n"
	case "sequence", "absence":
		s += "    when: {types: [a]}\n    then: {types: [b]}\n    within: 1h\n"
	case "stage":
		s += "    stage: purchase\n"
	case "segment":
		s += "    segment: vip\n"
	}
	return s + extra
}

// badFiles are files that Load must reject, with where it must say the
// problem is. FuzzLoad uses them as seeds.
var badFiles = []struct {
	name     string
	rules    string
	segments string // "" = the shipped segments.yaml
	file     string // base name of the file the error must name
	line     int
	field    string
	msg      string // substring of Msg
}{
	{"unknown top-level field", "topic: x\nrule: []\n", "", "rules.yaml", 2, "rule", `unknown field "rule"; known fields: topic, allowed_lateness, idle_after, rules`},
	{"unknown rule field", rule("event", "    colour: red\n"), "", "rules.yaml", 5, "rules[0].colour", `unknown field "colour"`},
	{"unknown match field", "rules:\n  - name: r\n    kind: event\n    when:\n      type: [a]\n", "", "rules.yaml", 5, "rules[0].when.type", `unknown field "type"`},
	{"unknown segment field", "", "segments:\n  - name: a\n    when: x\n", "segments.yaml", 3, "segments[0].when", `unknown field "when"`},
	{"duplicate key", rule("event", "    name: s\n"), "", "rules.yaml", 5, "rules[0].name", "given twice (first on line 2)"},
	{"duplicate top-level key", "topic: a\ntopic: b\n", "", "rules.yaml", 2, "topic", "given twice"},
	{"wrong type list for string", "rules:\n  - name: [r]\n", "", "rules.yaml", 2, "rules[0].name", "expected a string, got a list"},
	{"wrong type scalar for list", "rules: r\n", "", "rules.yaml", 1, "rules", "expected a list"},
	{"wrong type scalar for match", "rules:\n  - name: r\n    kind: event\n    when: purchase\n", "", "rules.yaml", 4, "rules[0].when", "expected a mapping of fields"},
	{"wrong type scalar for types", "rules:\n  - name: r\n    kind: event\n    when: {types: purchase}\n", "", "rules.yaml", 4, "rules[0].when.types", "expected a list"},
	{"wrong type max_fires", rule("event", "    max_fires: 1.5\n"), "", "rules.yaml", 5, "rules[0].max_fires", `expected a whole number, got "1.5"`},
	{"negative max_fires", rule("event", "    max_fires: -1\n"), "", "rules.yaml", 5, "rules[0].max_fires", "0 (unlimited) or more"},
	{"null value", rule("event", "    cooldown:\n"), "", "rules.yaml", 5, "rules[0].cooldown", "no value given"},
	{"null match", "rules:\n  - name: r\n    kind: event\n    when:\n", "", "rules.yaml", 4, "rules[0].when", "use {} to select every event"},
	{"null list entry", "rules:\n  - name: r\n    kind: event\n    when: {types: [a]}\n  -\n", "", "rules.yaml", 5, "rules[1]", "empty list entry"},
	{"top level not a mapping", "- a\n", "", "rules.yaml", 1, "", "expected a mapping of fields at the top level"},
	{"two documents", "topic: a\n---\ntopic: b\n", "", "rules.yaml", 2, "", "second YAML document"},
	{"yaml syntax error", "rules:\n  - name: [r\n    kind: event\n", "", "rules.yaml", 2, "", "invalid YAML"},
	{"tab indentation", "rules:\n\t- name: r\n", "", "rules.yaml", 2, "", "invalid YAML"},
	{"unknown anchor", rule("event", "    cooldown: *nope\n"), "", "rules.yaml", 5, "", "unknown anchor"},
	{"merge key", "rules:\n  - name: r\n    kind: event\n    <<: {when: {types: [a]}}\n", "", "rules.yaml", 4, "rules[0]", "merge keys (<<) are not supported"},

	{"bad duration", rule("sequence", "    cooldown: 1x\n"), "", "rules.yaml", 7, "rules[0].cooldown", `bad duration "1x": use a number with s, m, h or d (e.g. 90m, 7d)`},
	{"bad duration number", "rules:\n  - name: r\n    kind: absence\n    when: {}\n    then: {}\n    within: 3600\n", "", "rules.yaml", 6, "rules[0].within", `bad duration "3600"`},
	{"zero within", "rules:\n  - name: r\n    kind: absence\n    when: {}\n    then: {}\n    within: 0s\n", "", "rules.yaml", 6, "rules[0].within", "more than 0"},
	{"zero idle_after", "idle_after: 0m\n", "", "rules.yaml", 1, "idle_after", "more than 0"},
	{"bad allowed_lateness", "allowed_lateness: -5m\n", "", "rules.yaml", 1, "allowed_lateness", "bad duration"},
	{"list for duration", "allowed_lateness: [5m]\n", "", "rules.yaml", 1, "allowed_lateness", "expected a duration"},

	{"bad if expression", rule("event", "    if: \"profile.purchse > 1\"\n"), "", "rules.yaml", 5, "rules[0].if", `bad expression "profile.purchse > 1": profile has no field purchse (column 9)`},
	{"if not bool", rule("event", "    if: profile.purchases\n"), "", "rules.yaml", 5, "rules[0].if", "expected bool"},
	{"if syntax", rule("event", "    if: \"profile.purchases >\"\n"), "", "rules.yaml", 5, "rules[0].if", "bad expression"},
	{"empty if", rule("event", "    if: ''\n"), "", "rules.yaml", 5, "rules[0].if", "empty expression"},
	{"now in if", rule("event", "    if: \"now() != nil\"\n"), "", "rules.yaml", 5, "rules[0].if", "unknown name now"},
	{"profile in props", "rules:\n  - name: r\n    kind: event\n    when:\n      props: \"profile.purchases > 1\"\n", "", "rules.yaml", 5, "rules[0].when.props", "profile is not available here"},
	{"bad props expression", "rules:\n  - name: r\n    kind: event\n    when: {props: \"props.total >\"}\n", "", "rules.yaml", 4, "rules[0].when.props", "bad expression"},
	{"bad segment expression", "", "segments:\n  - name: a\n    if: len(profile.chanels) >= 3\n", "segments.yaml", 3, "segments[0].if", "profile has no field chanels"},
	{"props in segment", "", "segments:\n  - name: a\n    if: props.total > 1\n", "segments.yaml", 3, "segments[0].if", "props is not available here"},
	{"segments in segment", "", "segments:\n  - name: a\n    if: \"'vip' in profile.segments\"\n", "segments.yaml", 3, "segments[0].if", "profile.segments is not available here"},

	{"unknown segment", "rules:\n  - name: r\n    kind: segment\n    segment: nope\n", "", "rules.yaml", 4, "rules[0].segment", `unknown segment "nope"; the segments of segments.yaml: omnichannel, vip`},
	{"unknown stage", "rules:\n  - name: r\n    kind: stage\n    stage: checkout\n", "", "rules.yaml", 4, "rules[0].stage", `unknown stage "checkout"; the configured stages (journey.stages): awareness`},
	{"unknown channel", "rules:\n  - name: r\n    kind: event\n    when:\n      channels: [web, sms]\n", "", "rules.yaml", 5, "rules[0].when.channels[1]", `unknown channel "sms"; the configured channels (input.channels): web, store`},
	{"duplicate channel", "rules:\n  - name: r\n    kind: event\n    when:\n      channels: [web, web]\n", "", "rules.yaml", 5, "rules[0].when.channels[1]", `channel "web" is listed twice`},
	{"bad type name", "rules:\n  - name: r\n    kind: event\n    when:\n      types:\n        - Add To Cart\n", "", "rules.yaml", 6, "rules[0].when.types[0]", `event type "Add To Cart" is not a valid name`},
	{"bad cancel_on", rule("absence", "    cancel_on:\n      - {types: [logout]}\n      - {channel: [web]}\n"), "", "rules.yaml", 9, "rules[0].cancel_on[1].channel", "unknown field"},
	{"duplicate rule name", rule("event", "  - name: r\n    kind: event\n    when: {}\n"), "", "rules.yaml", 5, "rules[1].name", `rule "r" is defined twice (first on line 2)`},
	{"bad rule name", "rules:\n  - name: Cart-Abandoned\n", "", "rules.yaml", 2, "rules[0].name", "not a valid name"},
	{"duplicate segment", "", "segments:\n  - {name: a, if: 'true'}\n  - {name: a, if: 'false'}\n", "segments.yaml", 3, "segments[1].name", `segment "a" is defined twice (first on line 2)`},
	{"bad segment name", "", "segments:\n  - {name: VIP, if: 'true'}\n", "segments.yaml", 2, "segments[0].name", "not a valid name"},
	{"segment without if", "", "segments:\n  - name: a\n", "segments.yaml", 2, "segments[0].if", "required"},
	{"segment without name", "", "segments:\n  - if: 'true'\n", "segments.yaml", 2, "segments[0].name", "required"},

	{"missing name", "rules:\n  - kind: event\n    when: {}\n", "", "rules.yaml", 2, "rules[0].name", "required"},
	{"missing kind", "rules:\n  - name: r\n    when: {}\n", "", "rules.yaml", 2, "rules[0].kind", "required: event, sequence, absence, stage or segment"},
	{"unknown kind", "rules:\n  - name: r\n    kind: timer\n", "", "rules.yaml", 3, "rules[0].kind", `unknown kind "timer"; use event, sequence, absence, stage or segment`},
	{"event without when", "rules:\n  - name: r\n    kind: event\n", "", "rules.yaml", 2, "rules[0].when", "required for kind event"},
	{"sequence without then", "rules:\n  - name: r\n    kind: sequence\n    when: {}\n    within: 1h\n", "", "rules.yaml", 2, "rules[0].then", "required for kind sequence"},
	{"absence without within", "rules:\n  - name: r\n    kind: absence\n    when: {}\n    then: {}\n", "", "rules.yaml", 2, "rules[0].within", "required for kind absence"},
	{"stage without stage", "rules:\n  - name: r\n    kind: stage\n    on: exit\n", "", "rules.yaml", 2, "rules[0].stage", "required for kind stage"},
	{"segment without segment", "rules:\n  - name: r\n    kind: segment\n", "", "rules.yaml", 2, "rules[0].segment", "required for kind segment"},
	{"within on event", rule("event", "    within: 1h\n"), "", "rules.yaml", 5, "rules[0].within", "not allowed for kind event (only for kind sequence or absence)"},
	{"then on stage", rule("stage", "    then: {types: [a]}\n"), "", "rules.yaml", 5, "rules[0].then", "not allowed for kind stage"},
	{"forbidden field before kind", "rules:\n  - name: r\n    segment: vip\n    kind: event\n    when: {}\n", "", "rules.yaml", 3, "rules[0].segment", "not allowed for kind event (only for kind segment)"},
	{"on on sequence", rule("sequence", "    on: enter\n"), "", "rules.yaml", 7, "rules[0].on", "not allowed for kind sequence"},
	{"cancel_on on event", rule("event", "    cancel_on: [{}]\n"), "", "rules.yaml", 5, "rules[0].cancel_on", "not allowed for kind event"},
	{"bad on", rule("segment", "    on: leave\n"), "", "rules.yaml", 5, "rules[0].on", `must be enter or exit, got "leave"`},

	{"bad topic", "topic: omni triggers\n", "", "rules.yaml", 1, "topic", `must be a Kafka topic name (letters, digits, '.', '_', '-'), got "omni triggers"`},
	{"dot topic", rule("event", "    topic: ..\n"), "", "rules.yaml", 5, "rules[0].topic", "must be a Kafka topic name"},
	{"long topic", "topic: " + strings.Repeat("t", 250) + "\n", "", "rules.yaml", 1, "topic", "must be a Kafka topic name"},
	{"empty topic", rule("event", "    topic: ''\n"), "", "rules.yaml", 5, "rules[0].topic", "must be a Kafka topic name"},
}

func TestBadFiles(t *testing.T) {
	for _, tc := range badFiles {
		t.Run(tc.name, func(t *testing.T) {
			segPath := shippedSegments
			if tc.segments != "" {
				segPath = writeFile(t, "segments.yaml", tc.segments)
			}
			rulesPath := writeFile(t, "rules.yaml", tc.rules)
			s, err := Load(rulesPath, segPath, testOptions)
			if err == nil {
				t.Fatalf("no error; set %s", describeSet(s))
			}
			if s != nil {
				t.Errorf("set returned with error")
			}
			var e *config.Error
			if !errors.As(err, &e) {
				t.Fatalf("error %T %v is not a *config.Error", err, err)
			}
			if filepath.Base(e.File) != tc.file || e.Line != tc.line || e.Field != tc.field {
				t.Errorf("File, Line, Field = %s, %d, %q; want %s, %d, %q (%v)", filepath.Base(e.File), e.Line, e.Field, tc.file, tc.line, tc.field, err)
			}
			prefix := filepath.Join(filepath.Dir(e.File), tc.file) + ":" + strconv.Itoa(tc.line) + ": "
			if tc.field != "" {
				prefix += tc.field + ": "
			}
			if !strings.HasPrefix(err.Error(), prefix) {
				t.Errorf("error %q does not start with %q", err, prefix)
			}
			if !strings.Contains(e.Msg, tc.msg) {
				t.Errorf("Msg = %q, want it to contain %q", e.Msg, tc.msg)
			}
		})
	}
}

func TestMissingFiles(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct{ rules, segments, want string }{
		{filepath.Join(dir, "nope.yaml"), shippedSegments, filepath.Join(dir, "nope.yaml")},
		{shippedRules, filepath.Join(dir, "nosegs.yaml"), filepath.Join(dir, "nosegs.yaml")},
	} {
		_, err := Load(tc.rules, tc.segments, testOptions)
		var e *config.Error
		if !errors.As(err, &e) || e.File != tc.want || e.Line != 0 || !strings.Contains(e.Msg, "no such file") {
			t.Errorf("Load(%s, %s) = %v", tc.rules, tc.segments, err)
		}
	}
}

// TestAliasesAreCheap checks that aliases are decoded once: a file that
// expands to billions of entries loads (or fails) at once.
func TestAliasesAreCheap(t *testing.T) {
	var b strings.Builder
	b.WriteString("rules:\n")
	for i := range 200 {
		b.WriteString("  - name: r" + strconv.Itoa(i) + "\n    kind: absence\n")
		if i == 0 {
			b.WriteString("    when: {types: &t [a, b, c]}\n    then: &m {types: *t}\n")
		} else {
			b.WriteString("    when: {types: *t}\n    then: *m\n")
		}
		b.WriteString("    within: 1h\n    cancel_on: [*m")
		b.WriteString(strings.Repeat(", *m", 499))
		b.WriteString("]\n")
	}
	start := time.Now()
	s, err := Load(writeFile(t, "rules.yaml", b.String()), shippedSegments, testOptions)
	if err != nil {
		t.Fatal(err)
	}
	if len(s.Rules) != 200 || len(s.Rules[199].CancelOn) != 500 || s.Rules[199].CancelOn[0] != s.Rules[0].Then {
		t.Errorf("aliased matches not shared")
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("took %v", d)
	}
}

func writeFile(t testing.TB, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func sameList(got []string, want ...string) bool {
	return strings.Join(got, ",") == strings.Join(want, ",")
}

func describe(r *Rule) string {
	if r == nil {
		return "<nil>"
	}
	m := func(m *Match) string {
		if m == nil {
			return "-"
		}
		return "{ch=" + strings.Join(m.Channels, ",") + " types=" + strings.Join(m.Types, ",") + " props=" + m.Props.String() + "}"
	}
	var cancel []string
	for _, c := range r.CancelOn {
		cancel = append(cancel, m(c))
	}
	return strings.Join([]string{
		r.Name, string(r.Kind), "when=" + m(r.When), "then=" + m(r.Then), "within=" + r.Within.String(),
		"stage=" + r.Stage, "segment=" + r.Segment, "exit=" + strconv.FormatBool(r.Exit), "if=" + r.If.String(),
		"cancel=" + strings.Join(cancel, ","), "cooldown=" + r.Cooldown.String(), "max=" + strconv.Itoa(r.MaxFires), "topic=" + r.Topic,
		"line=" + strconv.Itoa(r.Line),
	}, " ")
}

func describeSet(s *Set) string {
	if s == nil {
		return "<nil>"
	}
	var b strings.Builder
	b.WriteString("topic=" + s.Topic + " lateness=" + s.AllowedLateness.String() + " idle=" + s.IdleAfter.String() + "\n")
	for _, r := range s.Rules {
		b.WriteString(describe(r) + "\n")
	}
	for _, g := range s.Segments {
		b.WriteString(g.Name + ": " + g.If.String() + " line=" + strconv.Itoa(g.Line) + "\n")
	}
	return b.String()
}
