package rules

import (
	"github.com/expr-lang/expr/ast"
)

// Conditions on time (profile.days_since_last_event,
// profile.days_since_complaint) change their answer as the watermark moves,
// with no event of the customer: a customer becomes "lapsed" by staying
// away. For such a condition the engine needs to know when to look again.
// It does when the condition compares a time field with a number, however
// the comparisons are combined: the answer can change only where a field
// crosses one of those numbers.

// TimeField is a profile field that grows with the watermark.
type TimeField int

const (
	SinceLastEvent TimeField = iota + 1 // profile.days_since_last_event
	SinceComplaint                      // profile.days_since_complaint
)

// TimeThreshold is a number of days a condition compares a time field with.
type TimeThreshold struct {
	Field TimeField
	Days  float64
}

// timeThresholds returns the thresholds of the comparisons of time fields
// with numbers in n, and whether n uses a time field in any other way (in
// arithmetic, say), where no threshold can be known.
func timeThresholds(n ast.Node) (ths []TimeThreshold, other bool) {
	v := &timeVisitor{}
	ast.Walk(&n, v)
	return v.ths, v.refs > len(v.ths)
}

type timeVisitor struct {
	ths  []TimeThreshold
	refs int // time field references seen
}

func (v *timeVisitor) Visit(n *ast.Node) {
	switch n := (*n).(type) {
	case *ast.MemberNode:
		if timeField(n) != 0 {
			v.refs++
		}
	case *ast.BinaryNode:
		switch n.Operator {
		case "==", "!=", "<", "<=", ">", ">=":
		default:
			return
		}
		f, k := timeComparison(n.Left, n.Right)
		if f == 0 {
			f, k = timeComparison(n.Right, n.Left)
		}
		if f != 0 {
			v.ths = append(v.ths, TimeThreshold{Field: f, Days: k})
		}
	}
}

// timeComparison reports the field and the number when field is a time
// field and num a numeric constant.
func timeComparison(field, num ast.Node) (TimeField, float64) {
	m, ok := field.(*ast.MemberNode)
	if !ok {
		return 0, 0
	}
	f := timeField(m)
	if f == 0 {
		return 0, 0
	}
	k, ok := constant(num)
	if !ok {
		return 0, 0
	}
	return f, k
}

func timeField(m *ast.MemberNode) TimeField {
	switch member(m) {
	case "profile.days_since_last_event":
		return SinceLastEvent
	case "profile.days_since_complaint":
		return SinceComplaint
	}
	return 0
}

func constant(n ast.Node) (float64, bool) {
	switch n := n.(type) {
	case *ast.IntegerNode:
		return float64(n.Value), true
	case *ast.FloatNode:
		return n.Value, true
	case *ast.UnaryNode:
		k, ok := constant(n.Node)
		switch {
		case !ok:
		case n.Operator == "-":
			return -k, true
		case n.Operator == "+":
			return k, true
		}
	}
	return 0, false
}
