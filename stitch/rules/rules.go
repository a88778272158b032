// Package rules holds the trigger rules and segments: what they are, how
// they are loaded from YAML (configs/rules.yaml, configs/segments.yaml) and
// how their conditions are compiled and evaluated. The engine (stitch)
// decides when they fire.
package rules

import (
	"time"

	"github.com/expr-lang/expr/vm"
)

// Kind is what makes a rule fire.
type Kind string

// Rule kinds.
const (
	KindEvent    Kind = "event"    // an event matching When (and If)
	KindSequence Kind = "sequence" // When, then Then within Within (Then fires it)
	KindAbsence  Kind = "absence"  // When, and no Then within Within (fires once the watermark passes When.ts+Within)
	KindStage    Kind = "stage"    // the customer enters (or leaves) Stage
	KindSegment  Kind = "segment"  // the customer enters (or leaves) Segment
)

// Set is a loaded rules file with the segments it may refer to.
type Set struct {
	Rules    []*Rule
	Segments []*Segment
	// Topic is where triggers go unless a rule names its own.
	Topic string
	// AllowedLateness is how far behind the newest event time an event may
	// arrive and still count: the watermark is the newest event time seen
	// minus this.
	AllowedLateness time.Duration
	// IdleAfter: when no event arrives for this long, the watermark moves
	// on with the wall clock, so that timers fire without new traffic.
	IdleAfter time.Duration
}

// Rule is one trigger rule.
type Rule struct {
	Name string
	Kind Kind

	When *Match // event: the event; sequence and absence: the first event (A)
	Then *Match // sequence: the event that completes it (B); absence: the event that must not follow

	Within time.Duration // sequence and absence: the window after When

	Stage   string // KindStage: the stage
	Segment string // KindSegment: the segment's name
	Exit    bool   // KindStage, KindSegment: fire on leaving rather than entering

	If *Condition // optional profile condition, evaluated on the merged customer after the event

	CancelOn []*Match      // events that cancel pending sequence/absence matches
	Cooldown time.Duration // no second fire for the same customer within this (event time)
	MaxFires int           // per customer; 0 means unlimited

	Topic string // Kafka topic of its triggers; "" means Set.Topic

	File string // where it was defined, for messages
	Line int
}

// Match selects events.
type Match struct {
	Channels []string   // any of these; empty: any channel
	Types    []string   // any of these; empty: any type
	Props    *Condition // optional predicate over the event's props (`props.total > 50`)
}

// Segment is a named condition over the profile.
type Segment struct {
	Name string
	If   *Condition
	File string
	Line int
}

// Condition is a compiled expression (github.com/expr-lang/expr) returning
// a bool. It is compiled once, at load.
type Condition struct {
	Source  string
	program *vm.Program
	fast    boolFn // the same condition as plain Go, when it is simple enough (fast.go); nil otherwise

	// Times are the thresholds at which the condition's answer may change
	// as time passes (times.go); TimesUnknown is set when it reads a time
	// field otherwise than compared with a number.
	Times        []TimeThreshold
	TimesUnknown bool
}

// Env is what a condition sees. Names in expressions are the `expr` tags.
type Env struct {
	Profile ProfileEnv     `expr:"profile"`
	Props   map[string]any `expr:"props"` // the event's props (nil for conditions not about an event)
	Event   EventEnv       `expr:"event"`
}

// ProfileEnv is the customer's profile as conditions see it.
type ProfileEnv struct {
	Events             int64    `expr:"events"`
	Purchases          int64    `expr:"purchases"`
	Revenue            float64  `expr:"revenue"`
	Channels           []string `expr:"channels"`
	Stage              string   `expr:"stage"`
	Segments           []string `expr:"segments"`
	DaysSinceLast      float64  `expr:"days_since_last_event"` // by the watermark
	DaysSinceComplaint float64  `expr:"days_since_complaint"`  // by the watermark; -1 when none
	LastSurveyScore    float64  `expr:"last_survey_score"`     // -1 when none
}

// EventEnv is the current event as conditions see it.
type EventEnv struct {
	Channel string `expr:"channel"`
	Type    string `expr:"type"`
}
