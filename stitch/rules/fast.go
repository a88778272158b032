package rules

import (
	"slices"

	"github.com/expr-lang/expr/ast"
)

// Conditions are evaluated for every event (segments) and every firing
// rule, and expr's VM reads the Env's fields by reflection, boxing each
// number it reads: an allocation per field per evaluation. The usual
// conditions — comparisons of profile and event fields with constants,
// joined by and/or/not, len() of a list, "x" in a list — are compiled here
// into plain Go closures instead, which read the fields directly and
// allocate nothing. Anything else (props, arithmetic, other builtins) keeps
// the VM. TestFastEqualsVM holds the two to the same answers.

type (
	boolFn func(*Env) bool
	numFn  func(*Env) float64
	strFn  func(*Env) string
	listFn func(*Env) []string
)

// fastBool compiles n to a closure, or returns nil when n is outside the
// subset.
func fastBool(n ast.Node) boolFn {
	switch n := n.(type) {
	case *ast.BoolNode:
		v := n.Value
		return func(*Env) bool { return v }
	case *ast.UnaryNode:
		if n.Operator != "!" && n.Operator != "not" {
			return nil
		}
		if x := fastBool(n.Node); x != nil {
			return func(e *Env) bool { return !x(e) }
		}
	case *ast.BinaryNode:
		switch n.Operator {
		case "&&", "and", "||", "or":
			l, r := fastBool(n.Left), fastBool(n.Right)
			if l == nil || r == nil {
				return nil
			}
			if n.Operator == "&&" || n.Operator == "and" {
				return func(e *Env) bool { return l(e) && r(e) }
			}
			return func(e *Env) bool { return l(e) || r(e) }
		case "==", "!=", "<", "<=", ">", ">=":
			if l, r := fastNum(n.Left), fastNum(n.Right); l != nil && r != nil {
				return numCompare(n.Operator, l, r)
			}
			if n.Operator != "==" && n.Operator != "!=" {
				return nil
			}
			l, r := fastStr(n.Left), fastStr(n.Right)
			if l == nil || r == nil {
				return nil
			}
			if n.Operator == "==" {
				return func(e *Env) bool { return l(e) == r(e) }
			}
			return func(e *Env) bool { return l(e) != r(e) }
		case "in", "not in":
			x, list := fastStr(n.Left), fastList(n.Right)
			if x == nil || list == nil {
				return nil
			}
			if n.Operator == "in" {
				return func(e *Env) bool { return slices.Contains(list(e), x(e)) }
			}
			return func(e *Env) bool { return !slices.Contains(list(e), x(e)) }
		}
	}
	return nil
}

func numCompare(op string, l, r numFn) boolFn {
	switch op {
	case "==":
		return func(e *Env) bool { return l(e) == r(e) }
	case "!=":
		return func(e *Env) bool { return l(e) != r(e) }
	case "<":
		return func(e *Env) bool { return l(e) < r(e) }
	case "<=":
		return func(e *Env) bool { return l(e) <= r(e) }
	case ">":
		return func(e *Env) bool { return l(e) > r(e) }
	default:
		return func(e *Env) bool { return l(e) >= r(e) }
	}
}

// Numbers compare as float64, as expr compares an int with a float; the
// counts held (events, purchases) stay exact far beyond any real customer.
func fastNum(n ast.Node) numFn {
	switch n := n.(type) {
	case *ast.IntegerNode:
		v := float64(n.Value)
		return func(*Env) float64 { return v }
	case *ast.FloatNode:
		v := n.Value
		return func(*Env) float64 { return v }
	case *ast.UnaryNode:
		x := fastNum(n.Node)
		switch {
		case x == nil:
			return nil
		case n.Operator == "-":
			return func(e *Env) float64 { return -x(e) }
		case n.Operator == "+":
			return x
		}
	case *ast.BuiltinNode:
		if n.Name != "len" || len(n.Arguments) != 1 {
			return nil
		}
		if list := fastList(n.Arguments[0]); list != nil {
			return func(e *Env) float64 { return float64(len(list(e))) }
		}
	case *ast.MemberNode:
		switch member(n) {
		case "profile.events":
			return func(e *Env) float64 { return float64(e.Profile.Events) }
		case "profile.purchases":
			return func(e *Env) float64 { return float64(e.Profile.Purchases) }
		case "profile.revenue":
			return func(e *Env) float64 { return e.Profile.Revenue }
		case "profile.days_since_last_event":
			return func(e *Env) float64 { return e.Profile.DaysSinceLast }
		case "profile.days_since_complaint":
			return func(e *Env) float64 { return e.Profile.DaysSinceComplaint }
		case "profile.last_survey_score":
			return func(e *Env) float64 { return e.Profile.LastSurveyScore }
		}
	}
	return nil
}

func fastStr(n ast.Node) strFn {
	switch n := n.(type) {
	case *ast.StringNode:
		v := n.Value
		return func(*Env) string { return v }
	case *ast.MemberNode:
		switch member(n) {
		case "profile.stage":
			return func(e *Env) string { return e.Profile.Stage }
		case "event.channel":
			return func(e *Env) string { return e.Event.Channel }
		case "event.type":
			return func(e *Env) string { return e.Event.Type }
		}
	}
	return nil
}

func fastList(n ast.Node) listFn {
	switch n := n.(type) {
	case *ast.MemberNode:
		switch member(n) {
		case "profile.channels":
			return func(e *Env) []string { return e.Profile.Channels }
		case "profile.segments":
			return func(e *Env) []string { return e.Profile.Segments }
		}
	case *ast.ArrayNode:
		var items []string
		for _, it := range n.Nodes {
			s, ok := it.(*ast.StringNode)
			if !ok {
				return nil
			}
			items = append(items, s.Value)
		}
		return func(*Env) []string { return items }
	}
	return nil
}

// member names a field access "root.field" ("" for anything else).
func member(n *ast.MemberNode) string {
	id, ok1 := n.Node.(*ast.IdentifierNode)
	prop, ok2 := n.Property.(*ast.StringNode)
	if !ok1 || !ok2 || n.Optional || n.Method {
		return ""
	}
	return id.Value + "." + prop.Value
}
