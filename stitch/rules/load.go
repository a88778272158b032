package rules

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/omnistitch/omnistitch/configs"
	"github.com/omnistitch/omnistitch/internal/config"
)

// Options are the names from the main configuration that rules may refer
// to; Load checks every reference against them.
type Options struct {
	Stages   []string // stage names (journey.stages), for kind stage
	Channels []string // accepted channels (input.channels), for match channels
}

// Defaults of the rules file's top-level fields when it leaves them out.
const (
	DefaultTopic           = "omni.triggers"
	DefaultAllowedLateness = 5 * time.Minute
	DefaultIdleAfter       = 30 * time.Second
)

const (
	rulesFileName    = "rules.yaml"
	segmentsFileName = "segments.yaml"
	// Rule files are small; the cap keeps a mistaken path (a log file,
	// /dev/zero) from eating memory before the parser rejects it.
	maxFileBytes = 16 << 20
)

var (
	// Names end up in ClickHouse rows, metric labels and trigger messages.
	nameRe = regexp.MustCompile(`^[a-z][a-z0-9_]*$`)
	// Kafka topic names: letters, digits, '.', '_' and '-', at most 249.
	topicRe = regexp.MustCompile(`^[A-Za-z0-9._-]{1,249}$`)
)

// Load reads the rules file at rulesPath and the segments file at
// segmentsPath, compiles every condition and checks every reference (stages
// and channels against o, segments against the segments file). The files
// replace the defaults entirely; only the rules file's topic,
// allowed_lateness and idle_after default when left out (DefaultTopic,
// DefaultAllowedLateness, DefaultIdleAfter).
//
// Every error is a *config.Error naming the file, line and field of the
// first problem; the segments file is checked first, as rules refer to it.
func Load(rulesPath, segmentsPath string, o Options) (*Set, error) {
	segData, e := readFile(segmentsPath)
	if e != nil {
		return nil, e
	}
	segs, e := decodeSegments(segmentsPath, segData)
	if e != nil {
		return nil, e
	}
	rulesData, e := readFile(rulesPath)
	if e != nil {
		return nil, e
	}
	s, e := decodeRules(rulesPath, rulesData, segmentsPath, segs, o)
	if e != nil {
		return nil, e
	}
	return s, nil
}

// Default returns the shipped rules and segments (configs.RulesFS), checked
// against o. Each call returns a new Set that the caller may modify.
func Default(o Options) (*Set, error) {
	s, e := loadEmbedded(o)
	if e != nil {
		return nil, e
	}
	return s, nil
}

func loadEmbedded(o Options) (*Set, *config.Error) {
	segData, err := fs.ReadFile(configs.RulesFS, segmentsFileName)
	if err != nil {
		return nil, &config.Error{File: segmentsFileName, Msg: "cannot read embedded file: " + err.Error()}
	}
	segs, e := decodeSegments(segmentsFileName, segData)
	if e != nil {
		return nil, e
	}
	rulesData, err := fs.ReadFile(configs.RulesFS, rulesFileName)
	if err != nil {
		return nil, &config.Error{File: rulesFileName, Msg: "cannot read embedded file: " + err.Error()}
	}
	return decodeRules(rulesFileName, rulesData, segmentsFileName, segs, o)
}

// Rule returns the rule called name, nil if none.
func (s *Set) Rule(name string) *Rule {
	for _, r := range s.Rules {
		if r.Name == name {
			return r
		}
	}
	return nil
}

// Segment returns the segment called name, nil if none.
func (s *Set) Segment(name string) *Segment {
	for _, g := range s.Segments {
		if g.Name == name {
			return g
		}
	}
	return nil
}

// TopicOf returns the Kafka topic of r's triggers: its own or the Set's.
func (s *Set) TopicOf(r *Rule) string {
	if r.Topic != "" {
		return r.Topic
	}
	return s.Topic
}

func readFile(name string) ([]byte, *config.Error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, &config.Error{File: name, Msg: "cannot read: " + osMessage(err)}
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxFileBytes+1))
	if err != nil {
		return nil, &config.Error{File: name, Msg: "cannot read: " + osMessage(err)}
	}
	if len(data) > maxFileBytes {
		return nil, &config.Error{File: name, Msg: fmt.Sprintf("cannot read: larger than %d bytes, not a rules file", maxFileBytes)}
	}
	return data, nil
}

// osMessage drops the operation and path of an *fs.PathError; the error
// already names the file.
func osMessage(err error) string {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err.Error()
	}
	return err.Error()
}

// parseTop parses a file whose top level is a mapping; nil for an empty file.
func parseTop(file string, data []byte) (*yaml.Node, *config.Error) {
	root, e := parseNode(file, data)
	if e != nil || root == nil {
		return nil, e
	}
	if d := deref(root); d != nil && isNull(d) {
		return nil, nil
	}
	if d := deref(root); d == nil || d.Kind != yaml.MappingNode {
		return nil, &config.Error{File: file, Line: root.Line, Msg: "expected a mapping of fields at the top level, got " + config.Describe(root)}
	}
	return root, nil
}

// decodeSegments decodes a segments file.
func decodeSegments(file string, data []byte) ([]*Segment, *config.Error) {
	root, e := parseTop(file, data)
	if e != nil || root == nil {
		return nil, e
	}
	var segs []*Segment
	first := map[string]int{}
	conds := map[condKey]*Condition{}
	e = eachField(file, root, nil, []string{"segments"}, func(_ string, _, v *yaml.Node) *config.Error {
		list := fieldPath{"segments"}
		return eachEntry(file, v, list, func(i int, el *yaml.Node) *config.Error {
			p := list.with(i)
			g := &Segment{File: file, Line: el.Line}
			e := eachField(file, el, p, []string{"name", "if"}, func(name string, k, v *yaml.Node) *config.Error {
				var e *config.Error
				switch name {
				case "name":
					if g.Name, e = str(file, v, p.with(name)); e != nil {
						return e
					}
					if !nameRe.MatchString(g.Name) {
						return nodeError(file, v, p.with(name), "segment name %q is not a valid name (a lower-case letter, then lower-case letters, digits or underscores)", g.Name)
					}
					if line, dup := first[g.Name]; dup {
						return nodeError(file, v, p.with(name), "segment %q is defined twice (first on line %d)", g.Name, line)
					}
					first[g.Name] = v.Line
				case "if":
					g.If, e = condition(file, v, p.with(name), conds, scopeProfile)
					return e
				}
				return nil
			})
			if e != nil {
				return e
			}
			if g.Name == "" {
				return nodeError(file, el, p.with("name"), "required")
			}
			if g.If == nil {
				return nodeError(file, el, p.with("if"), `required: the condition over the profile (e.g. "profile.revenue >= 1000")`)
			}
			segs = append(segs, g)
			return nil
		})
	})
	if e != nil {
		return nil, e
	}
	return segs, nil
}

// Which names of Env a condition may use.
type condScope int

const (
	scopeAll     condScope = iota // rule if: profile, props and event
	scopeProfile                  // segment if: the profile only
	scopeEvent                    // match props: props and event, no profile
)

var scopeForbidden = map[condScope][]string{
	// A segment depending on memberships would depend on the order in
	// which segments are evaluated.
	scopeProfile: {"props", "event", "profile.segments"},
	scopeEvent:   {"profile"},
}

type condKey struct {
	src   string
	scope condScope
}

// condition decodes and compiles an expression. Compiled conditions are
// shared by source: they are immutable and safe for concurrent use.
func condition(file string, v *yaml.Node, path fieldPath, cache map[condKey]*Condition, scope condScope) (*Condition, *config.Error) {
	src, e := str(file, v, path)
	if e != nil {
		return nil, e
	}
	key := condKey{src, scope}
	if c, ok := cache[key]; ok {
		return c, nil
	}
	c, err := compile(src, scopeForbidden[scope])
	if err != nil {
		return nil, nodeError(file, v, path, "bad expression %q: %s", src, err)
	}
	cache[key] = c
	return c, nil
}

// decoder decodes one rules file.
type decoder struct {
	file     string
	segFile  string
	opts     Options
	segments []*Segment
	// Results per node, so that aliased values are decoded once.
	matches map[*yaml.Node]*Match
	lists   map[listKey][]string
	conds   map[condKey]*Condition
}

type listKey struct {
	n    *yaml.Node
	what string
}

var topFields = []string{"topic", "allowed_lateness", "idle_after", "rules"}

// ruleFields are a rule's fields, in the order messages list them.
var ruleFields = []string{"name", "kind", "when", "then", "within", "stage", "segment", "on", "if", "cancel_on", "cooldown", "max_fires", "topic"}

var kinds = []Kind{KindEvent, KindSequence, KindAbsence, KindStage, KindSegment}

// kindFields are the fields only some kinds take; the rest take every kind.
var kindFields = map[string][]Kind{
	"when":      {KindEvent, KindSequence, KindAbsence},
	"then":      {KindSequence, KindAbsence},
	"within":    {KindSequence, KindAbsence},
	"cancel_on": {KindSequence, KindAbsence},
	"stage":     {KindStage},
	"segment":   {KindSegment},
	"on":        {KindStage, KindSegment},
}

// requiredFields are the fields each kind needs, besides name and kind.
var requiredFields = map[Kind][]string{
	KindEvent:    {"when"},
	KindSequence: {"when", "then", "within"},
	KindAbsence:  {"when", "then", "within"},
	KindStage:    {"stage"},
	KindSegment:  {"segment"},
}

func decodeRules(file string, data []byte, segFile string, segs []*Segment, o Options) (*Set, *config.Error) {
	s := &Set{Segments: segs, Topic: DefaultTopic, AllowedLateness: DefaultAllowedLateness, IdleAfter: DefaultIdleAfter}
	root, e := parseTop(file, data)
	if e != nil {
		return nil, e
	}
	if root == nil {
		return s, nil
	}
	d := &decoder{
		file: file, segFile: segFile, opts: o, segments: segs,
		matches: map[*yaml.Node]*Match{}, lists: map[listKey][]string{}, conds: map[condKey]*Condition{},
	}
	e = eachField(file, root, nil, topFields, func(name string, _, v *yaml.Node) *config.Error {
		p := fieldPath{name}
		var e *config.Error
		switch name {
		case "topic":
			s.Topic, e = d.topic(v, p)
		case "allowed_lateness":
			s.AllowedLateness, e = duration(file, v, p, false)
		case "idle_after":
			s.IdleAfter, e = duration(file, v, p, true)
		case "rules":
			s.Rules, e = d.rules(v, p)
		}
		return e
	})
	if e != nil {
		return nil, e
	}
	return s, nil
}

func (d *decoder) rules(v *yaml.Node, list fieldPath) ([]*Rule, *config.Error) {
	var rules []*Rule
	first := map[string]int{}
	e := eachEntry(d.file, v, list, func(i int, el *yaml.Node) *config.Error {
		r, e := d.rule(el, list.with(i), first)
		if e != nil {
			return e
		}
		rules = append(rules, r)
		return nil
	})
	return rules, e
}

func (d *decoder) rule(el *yaml.Node, p fieldPath, first map[string]int) (*Rule, *config.Error) {
	r := &Rule{File: d.file, Line: el.Line}
	// The kind decides which fields are allowed, and it may come after
	// them; a bad kind is reported where it is, in file order.
	var kind Kind
	if kn := deref(findField(el, "kind")); kn != nil && kn.Kind == yaml.ScalarNode && isKind(Kind(kn.Value)) {
		kind = Kind(kn.Value)
	}
	seen := map[string]bool{}
	e := eachField(d.file, el, p, ruleFields, func(name string, k, v *yaml.Node) *config.Error {
		fp := p.with(name)
		seen[name] = true
		if only, ok := kindFields[name]; ok && kind != "" && !slices.Contains(only, kind) {
			return nodeError(d.file, k, fp, "not allowed for kind %s (only for kind %s)", kind, kindList(only))
		}
		var e *config.Error
		switch name {
		case "name":
			if r.Name, e = str(d.file, v, fp); e != nil {
				return e
			}
			if !nameRe.MatchString(r.Name) {
				return nodeError(d.file, v, fp, "rule name %q is not a valid name (a lower-case letter, then lower-case letters, digits or underscores)", r.Name)
			}
			if line, dup := first[r.Name]; dup {
				return nodeError(d.file, v, fp, "rule %q is defined twice (first on line %d)", r.Name, line)
			}
			first[r.Name] = v.Line
		case "kind":
			var k string
			if k, e = str(d.file, v, fp); e != nil {
				return e
			}
			if !isKind(Kind(k)) {
				return nodeError(d.file, v, fp, "unknown kind %q; use %s", k, kindList(kinds))
			}
			r.Kind = Kind(k)
		case "when":
			r.When, e = d.match(v, fp)
		case "then":
			r.Then, e = d.match(v, fp)
		case "within":
			r.Within, e = duration(d.file, v, fp, true)
		case "stage":
			if r.Stage, e = str(d.file, v, fp); e != nil {
				return e
			}
			if !slices.Contains(d.opts.Stages, r.Stage) {
				return nodeError(d.file, v, fp, "unknown stage %q; %s", r.Stage, known("the configured stages (journey.stages)", d.opts.Stages))
			}
		case "segment":
			if r.Segment, e = str(d.file, v, fp); e != nil {
				return e
			}
			if !d.hasSegment(r.Segment) {
				return nodeError(d.file, v, fp, "unknown segment %q; %s", r.Segment, known("the segments of "+filepath.Base(d.segFile), d.segmentNames()))
			}
		case "on":
			var on string
			if on, e = str(d.file, v, fp); e != nil {
				return e
			}
			switch on {
			case "enter":
			case "exit":
				r.Exit = true
			default:
				return nodeError(d.file, v, fp, "must be enter or exit, got %q", on)
			}
		case "if":
			r.If, e = condition(d.file, v, fp, d.conds, scopeAll)
		case "cancel_on":
			e = eachEntry(d.file, v, fp, func(i int, el *yaml.Node) *config.Error {
				m, e := d.match(el, fp.with(i))
				r.CancelOn = append(r.CancelOn, m)
				return e
			})
		case "cooldown":
			r.Cooldown, e = duration(d.file, v, fp, false)
		case "max_fires":
			if r.MaxFires, e = wholeNumber(d.file, v, fp); e != nil {
				return e
			}
			if r.MaxFires < 0 {
				return nodeError(d.file, v, fp, "must be 0 (unlimited) or more, got %d", r.MaxFires)
			}
		case "topic":
			r.Topic, e = d.topic(v, fp)
		}
		return e
	})
	if e != nil {
		return nil, e
	}
	if !seen["name"] {
		return nil, nodeError(d.file, el, p.with("name"), "required")
	}
	if !seen["kind"] {
		return nil, nodeError(d.file, el, p.with("kind"), "required: %s", kindList(kinds))
	}
	for _, f := range requiredFields[r.Kind] {
		if !seen[f] {
			return nil, nodeError(d.file, el, p.with(f), "required for kind %s", r.Kind)
		}
	}
	return r, nil
}

// match decodes a Match; an aliased one is decoded once and shared.
func (d *decoder) match(use *yaml.Node, p fieldPath) (*Match, *config.Error) {
	n := deref(use)
	if m, ok := d.matches[n]; ok && n != nil {
		return m, nil
	}
	if n != nil && isNull(n) {
		return nil, nodeError(d.file, use, p, "no value given; use {} to select every event")
	}
	m := &Match{}
	e := eachField(d.file, use, p, []string{"channels", "types", "props"}, func(name string, _, v *yaml.Node) *config.Error {
		fp := p.with(name)
		var e *config.Error
		switch name {
		case "channels":
			m.Channels, e = d.names(v, fp, "channel", func(s string) string {
				if slices.Contains(d.opts.Channels, s) {
					return ""
				}
				return fmt.Sprintf("unknown channel %q; %s", s, known("the configured channels (input.channels)", d.opts.Channels))
			})
		case "types":
			m.Types, e = d.names(v, fp, "type", func(s string) string {
				if nameRe.MatchString(s) {
					return ""
				}
				return fmt.Sprintf("event type %q is not a valid name (a lower-case letter, then lower-case letters, digits or underscores)", s)
			})
		case "props":
			m.Props, e = condition(d.file, v, fp, d.conds, scopeEvent)
		}
		return e
	})
	if e != nil {
		return nil, e
	}
	d.matches[n] = m
	return m, nil
}

// names decodes a list of distinct strings, each checked by bad (which
// returns a message, "" when fine). An aliased list is decoded once.
func (d *decoder) names(use *yaml.Node, p fieldPath, what string, bad func(string) string) ([]string, *config.Error) {
	key := listKey{deref(use), what}
	if l, ok := d.lists[key]; ok && key.n != nil {
		return l, nil
	}
	var l []string
	seen := map[string]bool{}
	e := eachEntry(d.file, use, p, func(i int, el *yaml.Node) *config.Error {
		s, e := str(d.file, el, p.with(i))
		if e != nil {
			return e
		}
		if msg := bad(s); msg != "" {
			return nodeError(d.file, el, p.with(i), "%s", msg)
		}
		if seen[s] {
			return nodeError(d.file, el, p.with(i), "%s %q is listed twice", what, s)
		}
		seen[s] = true
		l = append(l, s)
		return nil
	})
	if e != nil {
		return nil, e
	}
	d.lists[key] = l
	return l, nil
}

func (d *decoder) topic(v *yaml.Node, p fieldPath) (string, *config.Error) {
	t, e := str(d.file, v, p)
	if e != nil {
		return "", e
	}
	if !topicRe.MatchString(t) || t == "." || t == ".." {
		return "", nodeError(d.file, v, p, "must be a Kafka topic name (letters, digits, '.', '_', '-'), got %q", t)
	}
	return t, nil
}

func (d *decoder) hasSegment(name string) bool {
	for _, g := range d.segments {
		if g.Name == name {
			return true
		}
	}
	return false
}

func (d *decoder) segmentNames() []string {
	names := make([]string, len(d.segments))
	for i, g := range d.segments {
		names[i] = g.Name
	}
	return names
}

func isKind(k Kind) bool { return slices.Contains(kinds, k) }

// kindList formats kinds as "event, sequence or absence".
func kindList(list []Kind) string {
	s := make([]string, len(list))
	for i, k := range list {
		s[i] = string(k)
	}
	if len(s) == 1 {
		return s[0]
	}
	return strings.Join(s[:len(s)-1], ", ") + " or " + s[len(s)-1]
}

// known formats a list of known names for a message.
func known(what string, names []string) string {
	if len(names) == 0 {
		return what + ": none"
	}
	return what + ": " + strings.Join(names, ", ")
}
