package config

import (
	"fmt"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"unicode/utf8"

	"go.yaml.in/yaml/v3"
)

var digitsRe = regexp.MustCompile(`^[-+]?[0-9][0-9_]*$`)

// fieldPath locates a value in a file: string elements are mapping keys, int
// elements are list indexes.
type fieldPath []any

// String formats the path as "types[3].limit".
func (p fieldPath) String() string {
	var b strings.Builder
	for _, el := range p {
		switch el := el.(type) {
		case string:
			if b.Len() > 0 {
				b.WriteByte('.')
			}
			b.WriteString(el)
		case int:
			b.WriteByte('[')
			b.WriteString(strconv.Itoa(el))
			b.WriteByte(']')
		}
	}
	return b.String()
}

// with returns p extended by el without sharing p's backing array, so that
// sibling paths built from the same parent never overwrite each other.
func (p fieldPath) with(el any) fieldPath {
	q := make(fieldPath, len(p), len(p)+1)
	copy(q, p)
	return append(q, el)
}

// checker compares a node tree with the Go type it will be decoded into and
// reports the first mismatch with its exact field. yaml's decoder reports the
// same problems, but only with a line number, and it silently drops null list
// entries, truncates 1.5 to 1 and takes the last of two duplicate keys.
type checker struct {
	file string
	// seen makes an aliased node checked once per target type, which bounds
	// the work of alias-heavy ("billion laughs") input to the tree size.
	seen map[visit]bool
	// active holds the nodes being checked, to catch an anchor that contains
	// an alias to itself before the decoder has to.
	active map[*yaml.Node]bool
}

type visit struct {
	n *yaml.Node
	t reflect.Type
}

// checkSchema checks root against the struct out points to.
func checkSchema(file string, root *yaml.Node, out any) *Error {
	c := &checker{file: file, seen: map[visit]bool{}, active: map[*yaml.Node]bool{}}
	return c.check(root, reflect.TypeOf(out).Elem(), nil)
}

func (c *checker) errorf(n *yaml.Node, path fieldPath, format string, args ...any) *Error {
	return &Error{File: c.file, Line: n.Line, Field: path.String(), Msg: fmt.Sprintf(format, args...)}
}

func (c *checker) check(use *yaml.Node, t reflect.Type, path fieldPath) *Error {
	n := deref(use)
	if n == nil {
		return c.errorf(use, path, "alias to an unknown anchor")
	}
	if c.active[n] {
		return c.errorf(use, path, "alias *%s refers to a value that contains it", use.Value)
	}
	if isNull(n) {
		switch t.Kind() {
		case reflect.Struct, reflect.Slice:
			// An empty section ("state:" with every field commented out)
			// keeps the defaults; an empty list is an empty list.
			return nil
		}
		return c.errorf(use, path, "no value given; leave the field out to keep the default")
	}
	v := visit{n, t}
	if c.seen[v] {
		return nil
	}
	c.seen[v] = true
	c.active[n] = true
	defer delete(c.active, n)

	switch t.Kind() {
	case reflect.Struct:
		return c.checkStruct(use, n, t, path)
	case reflect.Slice:
		if n.Kind != yaml.SequenceNode {
			return c.errorf(use, path, "expected a list, got %s", Describe(n))
		}
		for i, el := range n.Content {
			if d := deref(el); d != nil && isNull(d) {
				return c.errorf(el, path.with(i), "empty list entry")
			}
			if e := c.check(el, t.Elem(), path.with(i)); e != nil {
				return e
			}
		}
		return nil
	case reflect.String:
		var s string
		if n.Kind != yaml.ScalarNode || guard(func() error { return n.Decode(&s) }) != nil {
			return c.errorf(use, path, "expected a string, got %s", Describe(n))
		}
		return nil
	case reflect.Int:
		var i int
		// Only integers: yaml would silently truncate 1.5 to 1.
		if n.Kind == yaml.ScalarNode && n.ShortTag() == "!!int" && guard(func() error { return n.Decode(&i) }) == nil {
			return nil
		}
		if n.Kind == yaml.ScalarNode && digitsRe.MatchString(n.Value) {
			// Digits too long for an int resolve as a float, or fail to decode.
			return c.errorf(use, path, "number %s is out of range", Describe(n))
		}
		return c.errorf(use, path, "expected a whole number, got %s", Describe(n))
	case reflect.Bool:
		var b bool
		if n.Kind != yaml.ScalarNode || guard(func() error { return n.Decode(&b) }) != nil {
			return c.errorf(use, path, "expected true or false, got %s", Describe(n))
		}
		return nil
	}
	// Only reachable if a field of an unsupported type is added to Config.
	return c.errorf(use, path, "internal error: no schema check for Go type %s", t)
}

func (c *checker) checkStruct(use, n *yaml.Node, t reflect.Type, path fieldPath) *Error {
	if n.Kind != yaml.MappingNode {
		return c.errorf(use, path, "expected a mapping of fields, got %s", Describe(n))
	}
	fields, names := structFields(t)
	first := map[string]int{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if isMergeKey(k) {
			if e := c.checkMerge(v, t, path); e != nil {
				return e
			}
			continue
		}
		kd := deref(k)
		if kd == nil || kd.Kind != yaml.ScalarNode {
			return c.errorf(k, path, "expected a field name, got %s", Describe(k))
		}
		name := kd.Value
		if line, dup := first[name]; dup {
			return c.errorf(k, path.with(name), "given twice (first on line %d)", line)
		}
		first[name] = k.Line
		ft, ok := fields[name]
		if !ok {
			return c.errorf(k, path.with(name), "unknown field %q; known fields: %s", name, strings.Join(names, ", "))
		}
		if e := c.check(v, ft, path.with(name)); e != nil {
			return e
		}
	}
	return nil
}

// checkMerge checks the value of a "<<" key, which yaml merges into the
// enclosing mapping: a mapping or a list of mappings, possibly aliased.
func (c *checker) checkMerge(v *yaml.Node, t reflect.Type, path fieldPath) *Error {
	d := deref(v)
	if d == nil {
		return c.errorf(v, path, "alias to an unknown anchor")
	}
	switch d.Kind {
	case yaml.MappingNode:
		return c.check(v, t, path)
	case yaml.SequenceNode:
		for _, el := range d.Content {
			if ed := deref(el); ed == nil || ed.Kind != yaml.MappingNode {
				return c.errorf(el, path, "a merge (<<) takes a mapping or a list of mappings, got %s", Describe(el))
			}
			if e := c.check(el, t, path); e != nil {
				return e
			}
		}
		return nil
	}
	return c.errorf(v, path, "a merge (<<) takes a mapping or a list of mappings, got %s", Describe(d))
}

// structFields returns the YAML field names of struct type t with their Go
// types, and the names in declaration order for messages.
func structFields(t reflect.Type) (map[string]reflect.Type, []string) {
	fields := map[string]reflect.Type{}
	var names []string
	for i := range t.NumField() {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if !f.IsExported() || name == "-" {
			continue
		}
		if name == "" {
			name = strings.ToLower(f.Name) // yaml's own default
		}
		fields[name] = f.Type
		names = append(names, name)
	}
	return fields, names
}

// deref follows aliases; nil for a dangling one. The parser never produces
// chains, but the bound keeps a hand-built tree from looping.
func deref(n *yaml.Node) *yaml.Node {
	for i := 0; n != nil && n.Kind == yaml.AliasNode; i++ {
		if i > 100 {
			return nil
		}
		n = n.Alias
	}
	return n
}

func isNull(n *yaml.Node) bool {
	return n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null"
}

// isMergeKey mirrors yaml's own test, so the check and the decoder agree on
// which keys merge.
func isMergeKey(k *yaml.Node) bool {
	return k.Kind == yaml.ScalarNode && k.Value == "<<" &&
		(k.Tag == "" || k.Tag == "!" || k.Tag == "!!merge" || k.Tag == "tag:yaml.org,2002:merge")
}

// Describe names a YAML node's value for an error message, e.g. "a list"
// or "\"abc\"" (long values cut), for every loader of our YAML files.
func Describe(n *yaml.Node) string {
	if d := deref(n); d != nil {
		n = d
	}
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.AliasNode:
		return "an alias"
	}
	v := n.Value
	if utf8.RuneCountInString(v) > 40 {
		v = string([]rune(v)[:40]) + "…"
	}
	return strconv.Quote(v)
}

// lineOf returns the line of the value at path in root: the line of its key,
// of its list entry, or, when the value is not in the file (it came from the
// defaults), of the deepest enclosing field that is. 0 when not even the
// top-level field is in the file.
func lineOf(root *yaml.Node, path fieldPath) int {
	line := 0
	n := root
	for _, el := range path {
		n = deref(n)
		if n == nil {
			return line
		}
		switch el := el.(type) {
		case string:
			k, v := findKey(n, el, map[*yaml.Node]bool{})
			if k == nil {
				return line
			}
			line, n = k.Line, v
		case int:
			if n.Kind != yaml.SequenceNode || el < 0 || el >= len(n.Content) {
				return line
			}
			n = n.Content[el]
			line = n.Line
		}
	}
	return line
}

// findKey finds key name in mapping m, looking into merged mappings ("<<")
// when m does not have it itself, as yaml does when decoding.
func findKey(m *yaml.Node, name string, visited map[*yaml.Node]bool) (k, v *yaml.Node) {
	m = deref(m)
	if m == nil || m.Kind != yaml.MappingNode || visited[m] {
		return nil, nil
	}
	visited[m] = true
	for i := 0; i+1 < len(m.Content); i += 2 {
		if kd := deref(m.Content[i]); kd != nil && !isMergeKey(m.Content[i]) && kd.Kind == yaml.ScalarNode && kd.Value == name {
			return m.Content[i], m.Content[i+1]
		}
	}
	for i := 0; i+1 < len(m.Content); i += 2 {
		if !isMergeKey(m.Content[i]) {
			continue
		}
		merged := deref(m.Content[i+1])
		if merged == nil {
			continue
		}
		candidates := []*yaml.Node{merged}
		if merged.Kind == yaml.SequenceNode {
			candidates = merged.Content
		}
		for _, c := range candidates {
			if k, v := findKey(c, name, visited); k != nil {
				return k, v
			}
		}
	}
	return nil, nil
}

// fieldAtLine returns the path of the first key or list entry on line, for
// errors that come with a line only. Aliases are not followed, so every node
// is visited at most once.
func fieldAtLine(root *yaml.Node, line int) fieldPath {
	if root == nil || line <= 0 {
		return nil
	}
	var walk func(n *yaml.Node, path fieldPath) fieldPath
	walk = func(n *yaml.Node, path fieldPath) fieldPath {
		switch n.Kind {
		case yaml.MappingNode:
			for i := 0; i+1 < len(n.Content); i += 2 {
				k, v := n.Content[i], n.Content[i+1]
				p := path.with(k.Value)
				if k.Line == line {
					return p
				}
				if r := walk(v, p); r != nil {
					return r
				}
			}
		case yaml.SequenceNode:
			for i, el := range n.Content {
				p := path.with(i)
				if el.Kind == yaml.ScalarNode && el.Line == line {
					return p
				}
				if r := walk(el, p); r != nil {
					return r
				}
			}
		}
		return nil
	}
	return walk(root, nil)
}
