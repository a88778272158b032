package rules

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"

	"github.com/expr-lang/expr"
	"github.com/expr-lang/expr/ast"
	"github.com/expr-lang/expr/file"
	"github.com/expr-lang/expr/vm"
)

// Compile compiles src, an expr expression (https://expr-lang.org) over Env
// that returns a bool. Unknown names and fields (profile.purchse), wrong
// types (profile.stage > 1) and non-bool results are errors here, not at
// run time. props is a map, so any props.x compiles and is nil when the
// event has no such field. now() is not available: rules run on event
// time, so a condition must give the same answer when events are replayed.
func Compile(src string) (*Condition, error) {
	return compile(src, nil)
}

// compile compiles src and rejects references to the top-level names in
// forbidden (e.g. profile in a props predicate, which sees no profile).
func compile(src string, forbidden []string) (*Condition, error) {
	if strings.TrimSpace(src) == "" {
		return nil, errors.New("empty expression")
	}
	var prog *vm.Program
	err := guardExpr(func() (err error) {
		prog, err = expr.Compile(src, expr.Env(Env{}), expr.AsBool(), expr.DisableBuiltin("now"))
		return err
	})
	if err != nil {
		return nil, errors.New(exprMessage(err))
	}
	if len(forbidden) > 0 {
		f := &findNames{names: forbidden}
		node := prog.Node()
		ast.Walk(&node, f)
		if f.found != "" {
			return nil, fmt.Errorf("%s is not available here", f.found)
		}
	}
	c := &Condition{Source: src, program: prog, fast: fastBool(prog.Node())}
	c.Times, c.TimesUnknown = timeThresholds(prog.Node())
	return c, nil
}

// guardExpr turns a panic of the expression compiler into an error, so that
// no rules file can crash start-up.
func guardExpr(f func() error) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("expression compiler failure: %v", r)
		}
	}()
	return f()
}

// exprMessage is expr's message on one line: the message and where, without
// the multi-line source snippet.
func exprMessage(err error) string {
	var fe *file.Error
	if !errors.As(err, &fe) {
		return err.Error()
	}
	msg := goTypeNames.Replace(fe.Message)
	if fe.Snippet == "" {
		return msg
	}
	if fe.Line > 1 {
		return fmt.Sprintf("%s (line %d, column %d of the expression)", msg, fe.Line, fe.Column+1)
	}
	return fmt.Sprintf("%s (column %d)", msg, fe.Column+1)
}

// goTypeNames turns the Go types in expr's messages into the names users
// write ("type rules.ProfileEnv has no field purchse").
var goTypeNames = strings.NewReplacer(
	"type rules.ProfileEnv", "profile",
	"type rules.EventEnv", "event",
	"rules.ProfileEnv", "profile",
	"rules.EventEnv", "event",
	"rules.Env", "the condition's names",
)

// findNames finds the first use of one of names: a top-level name of Env
// ("props") or a field of one ("profile.segments").
type findNames struct {
	names []string
	found string
}

func (f *findNames) Visit(n *ast.Node) {
	if f.found != "" {
		return
	}
	switch n := (*n).(type) {
	case *ast.IdentifierNode:
		if slices.Contains(f.names, n.Value) {
			f.found = n.Value
		}
	case *ast.MemberNode:
		id, ok1 := n.Node.(*ast.IdentifierNode)
		prop, ok2 := n.Property.(*ast.StringNode)
		if ok1 && ok2 && slices.Contains(f.names, id.Value+"."+prop.Value) {
			f.found = id.Value + "." + prop.Value
		}
	}
}

// vms are reused between evaluations: a VM keeps its stack and scopes.
var vms = sync.Pool{New: func() any { return new(vm.VM) }}

// Eval evaluates the condition. A nil condition is true (no condition).
//
// Eval is safe for concurrent use. A run-time error returns false and the
// error; the caller decides whether to count or log it. The usual one is a comparison with a missing props
// field (props.total > 50 on an event without total: nil > 50), which a
// rule avoids with (props.total ?? 0) > 50. A nil env is the zero Env.
func (c *Condition) Eval(env *Env) (bool, error) {
	if c == nil {
		return true, nil
	}
	if c.program == nil {
		return false, fmt.Errorf("rules: condition %q is not compiled (use rules.Compile)", c.Source)
	}
	if env == nil {
		env = &Env{}
	}
	if c.fast != nil {
		return c.fast(env), nil
	}
	m := vms.Get().(*vm.VM)
	out, err := m.Run(c.program, env)
	// Drop references to env so the pooled VM keeps nothing alive.
	clear(m.Stack)
	clear(m.Variables)
	vms.Put(m)
	if err != nil {
		return false, fmt.Errorf("rules: condition %q: %s", c.Source, exprMessage(err))
	}
	b, _ := out.(bool)
	return b, nil
}

// String returns the source of the condition.
func (c *Condition) String() string {
	if c == nil {
		return ""
	}
	return c.Source
}

// Matches reports whether an event with this channel, type and props (the
// raw JSON object of the event) is selected. A nil match selects every
// event. Channels and types are checked first, without allocating; props
// are decoded only when the match has a Props condition and the channel and
// type fit. An error (props not a JSON object, or a run-time error of the
// condition) comes with false.
func (m *Match) Matches(channel, typ string, props []byte) (bool, error) {
	if m == nil {
		return true, nil
	}
	if !m.matchesNames(channel, typ) {
		return false, nil
	}
	if m.Props == nil {
		return true, nil
	}
	p, err := DecodeProps(props)
	if err != nil {
		return false, err
	}
	return m.Props.Eval(&Env{Props: p, Event: EventEnv{Channel: channel, Type: typ}})
}

// MatchesProps is Matches with props already decoded (by DecodeProps), for
// a caller that tests one event against many matches.
func (m *Match) MatchesProps(channel, typ string, props map[string]any) (bool, error) {
	if m == nil {
		return true, nil
	}
	if !m.matchesNames(channel, typ) {
		return false, nil
	}
	if m.Props == nil {
		return true, nil
	}
	return m.Props.Eval(&Env{Props: props, Event: EventEnv{Channel: channel, Type: typ}})
}

func (m *Match) matchesNames(channel, typ string) bool {
	return (len(m.Channels) == 0 || slices.Contains(m.Channels, channel)) &&
		(len(m.Types) == 0 || slices.Contains(m.Types, typ))
}

// DecodeProps decodes an event's props, a JSON object, for Env.Props.
// Empty input and null give an empty map.
func DecodeProps(raw []byte) (map[string]any, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 {
		return map[string]any{}, nil
	}
	var p map[string]any
	if err := json.Unmarshal(raw, &p); err != nil {
		return nil, fmt.Errorf("rules: props: %w", err)
	}
	if p == nil {
		p = map[string]any{}
	}
	return p, nil
}
