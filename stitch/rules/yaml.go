package rules

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/omnistitch/omnistitch/internal/config"
)

// This file decodes YAML node trees by hand rather than with yaml's typed
// decoder: every value is checked where it is, so that each error names its
// exact line and field, and duplicate keys, nulls and wrong types are caught
// (the typed decoder takes the last of two duplicate keys and turns null
// into a zero value).
//
// Aliases (*name) are followed. The schema has a fixed depth and the results
// of aliased lists and matches are cached per node (see decoder), so
// alias-heavy input costs no more than its size. Merge keys (<<) are
// rejected: nothing in these files needs them.

// fieldPath locates a value: string elements are mapping keys, int elements
// list indexes. It formats as "rules[2].when.types[0]".
type fieldPath []any

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

// with returns p extended by el, never sharing p's backing array.
func (p fieldPath) with(el any) fieldPath {
	q := make(fieldPath, len(p), len(p)+1)
	copy(q, p)
	return append(q, el)
}

// nodeError is an error at node n (its line) and path.
func nodeError(file string, n *yaml.Node, path fieldPath, format string, args ...any) *config.Error {
	line := 0
	if n != nil {
		line = n.Line
	}
	return &config.Error{File: file, Line: line, Field: path.String(), Msg: fmt.Sprintf(format, args...)}
}

// guard turns a panic of the YAML parser into an error: whatever a file
// holds, loading must end with a message, not a stack trace.
func guard(f func() error) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("yaml: parser failure: %v", r)
		}
	}()
	return f()
}

// parseNode parses data into a node tree; nil root for a file without
// content (empty or only comments). It mirrors internal/config so that
// syntax errors read the same.
func parseNode(file string, data []byte) (*yaml.Node, *config.Error) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	err := guard(func() error { return dec.Decode(&doc) })
	if errors.Is(err, io.EOF) {
		return nil, nil
	}
	if err != nil {
		return nil, syntaxError(file, data, err)
	}
	var extra yaml.Node
	err = guard(func() error { return dec.Decode(&extra) })
	switch {
	case errors.Is(err, io.EOF):
	case err != nil:
		return nil, syntaxError(file, data, err)
	default:
		return nil, &config.Error{File: file, Line: extra.Line, Msg: `a second YAML document ("---") is not allowed; put all fields in one document`}
	}
	if doc.Kind == yaml.DocumentNode {
		if len(doc.Content) == 0 {
			return nil, nil
		}
		return doc.Content[0], nil
	}
	return &doc, nil
}

var yamlLineRe = regexp.MustCompile(`(?s)^(?:yaml: )?line (\d+): (.*)$`)

// syntaxError converts a parser error into a *config.Error. The parser's
// line is often that of the enclosing block, so the line is recomputed as
// the first one that cannot belong to a valid document.
func syntaxError(file string, data []byte, err error) *config.Error {
	line, msg := 0, strings.TrimPrefix(err.Error(), "yaml: ")
	if m := yamlLineRe.FindStringSubmatch(err.Error()); m != nil {
		line, _ = strconv.Atoi(m[1])
		msg = m[2]
	}
	if l := firstBadLine(data); l > 0 {
		line = l
	}
	return &config.Error{File: file, Line: line, Msg: "invalid YAML: " + msg}
}

// maxRescanLines bounds firstBadLine, which parses up to one prefix per line.
const maxRescanLines = 1000

// firstBadLine returns the line after the longest prefix of whole lines that
// parses; 0 if data is too long to rescan.
func firstBadLine(data []byte) int {
	lines := bytes.SplitAfter(data, []byte("\n"))
	if len(lines[len(lines)-1]) == 0 {
		lines = lines[:len(lines)-1]
	}
	if len(lines) > maxRescanLines {
		return 0
	}
	for k := len(lines) - 1; k > 0; k-- {
		if parses(bytes.Join(lines[:k], nil)) {
			return k + 1
		}
	}
	return 1
}

func parses(data []byte) bool {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	for {
		var n yaml.Node
		err := guard(func() error { return dec.Decode(&n) })
		if errors.Is(err, io.EOF) {
			return true
		}
		if err != nil {
			return false
		}
	}
}

// deref follows aliases; nil for a dangling one.
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

// value derefs n (as used at path) and rejects dangling aliases and nulls.
func value(file string, use *yaml.Node, path fieldPath) (*yaml.Node, *config.Error) {
	n := deref(use)
	if n == nil {
		return nil, nodeError(file, use, path, "alias to an unknown anchor")
	}
	if isNull(n) {
		return nil, nodeError(file, use, path, "no value given; leave the field out to keep the default")
	}
	return n, nil
}

// eachField checks that use is a mapping with only the known keys, each at
// most once, and calls f for each key in file order, stopping at the first
// error. The nodes passed to f are as written (possibly aliases).
func eachField(file string, use *yaml.Node, path fieldPath, known []string, f func(name string, k, v *yaml.Node) *config.Error) *config.Error {
	n, e := value(file, use, path)
	if e != nil {
		return e
	}
	if n.Kind != yaml.MappingNode {
		return nodeError(file, use, path, "expected a mapping of fields, got %s", config.Describe(n))
	}
	first := make(map[string]int, len(n.Content)/2)
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		kd := deref(k)
		if kd == nil || kd.Kind != yaml.ScalarNode {
			return nodeError(file, k, path, "expected a field name, got %s", config.Describe(k))
		}
		name := kd.Value
		if name == "<<" && (k.Tag == "" || k.Tag == "!" || k.Tag == "!!merge" || k.Tag == "tag:yaml.org,2002:merge") {
			return nodeError(file, k, path, "merge keys (<<) are not supported here; write the fields out or alias a whole value (*name)")
		}
		if line, dup := first[name]; dup {
			return nodeError(file, k, path.with(name), "given twice (first on line %d)", line)
		}
		first[name] = k.Line
		if !slices.Contains(known, name) {
			return nodeError(file, k, path.with(name), "unknown field %q; known fields: %s", name, strings.Join(known, ", "))
		}
		if e := f(name, k, v); e != nil {
			return e
		}
	}
	return nil
}

// findField returns the value of key name in mapping use, nil if absent.
func findField(use *yaml.Node, name string) *yaml.Node {
	n := deref(use)
	if n == nil || n.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if k := deref(n.Content[i]); k != nil && k.Kind == yaml.ScalarNode && k.Value == name {
			return n.Content[i+1]
		}
	}
	return nil
}

// eachEntry checks that use is a list (null is an empty list) and calls f
// for each entry; null entries are errors.
func eachEntry(file string, use *yaml.Node, path fieldPath, f func(i int, el *yaml.Node) *config.Error) *config.Error {
	n := deref(use)
	if n == nil {
		return nodeError(file, use, path, "alias to an unknown anchor")
	}
	if isNull(n) {
		return nil
	}
	if n.Kind != yaml.SequenceNode {
		return nodeError(file, use, path, "expected a list, got %s", config.Describe(n))
	}
	for i, el := range n.Content {
		if d := deref(el); d != nil && isNull(d) {
			return nodeError(file, el, path.with(i), "empty list entry")
		}
		if e := f(i, el); e != nil {
			return e
		}
	}
	return nil
}

// str decodes a string. Any non-null scalar is a string (yaml would turn
// `topic: 123` into "123" too).
func str(file string, use *yaml.Node, path fieldPath) (string, *config.Error) {
	n, e := value(file, use, path)
	if e != nil {
		return "", e
	}
	var s string
	if n.Kind != yaml.ScalarNode || guard(func() error { return n.Decode(&s) }) != nil {
		return "", nodeError(file, use, path, "expected a string, got %s", config.Describe(n))
	}
	return s, nil
}

// wholeNumber decodes an int; only integers (yaml would truncate 1.5).
func wholeNumber(file string, use *yaml.Node, path fieldPath) (int, *config.Error) {
	n, e := value(file, use, path)
	if e != nil {
		return 0, e
	}
	var i int
	if n.Kind == yaml.ScalarNode && n.ShortTag() == "!!int" && guard(func() error { return n.Decode(&i) }) == nil {
		return i, nil
	}
	return 0, nodeError(file, use, path, "expected a whole number, got %s", config.Describe(n))
}

var durationRe = regexp.MustCompile(`^(?:([0-9]+)d)?(?:([0-9]+)h)?(?:([0-9]+)m)?(?:([0-9]+)s)?$`)

// ParseDuration parses a duration of the rules files: whole numbers with
// units d (24h), h, m and s, largest unit first, e.g. "90m", "7d", "1h30m",
// "0s".
func ParseDuration(s string) (time.Duration, error) {
	m := durationRe.FindStringSubmatch(s)
	if s == "" || m == nil {
		return 0, fmt.Errorf("bad duration %q: use a number with s, m, h or d (e.g. 90m, 7d)", s)
	}
	var total time.Duration
	for i, unit := range []time.Duration{24 * time.Hour, time.Hour, time.Minute, time.Second} {
		if m[i+1] == "" {
			continue
		}
		n, err := strconv.ParseInt(m[i+1], 10, 64)
		if err != nil || n > int64(math.MaxInt64/unit) || total > math.MaxInt64-time.Duration(n)*unit {
			return 0, fmt.Errorf("duration %q is too large", s)
		}
		total += time.Duration(n) * unit
	}
	return total, nil
}

// duration decodes a duration; positive requires it to be > 0, otherwise it
// must be >= 0 (which the syntax guarantees).
func duration(file string, use *yaml.Node, path fieldPath, positive bool) (time.Duration, *config.Error) {
	n, e := value(file, use, path)
	if e != nil {
		return 0, e
	}
	if n.Kind != yaml.ScalarNode {
		return 0, nodeError(file, use, path, "expected a duration such as 90m or 7d, got %s", config.Describe(n))
	}
	d, err := ParseDuration(n.Value)
	if err != nil {
		return 0, nodeError(file, use, path, "%s", err)
	}
	if positive && d <= 0 {
		return 0, nodeError(file, use, path, "must be more than 0, got %q", n.Value)
	}
	return d, nil
}
