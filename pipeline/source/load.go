package source

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"

	"go.yaml.in/yaml/v3"

	"github.com/omnistitch/omnistitch/configs/sources"
	"github.com/omnistitch/omnistitch/internal/config"
)

// Load reads and compiles one source file. Every error is a *config.Error
// naming the file, the line and the field, so that a bad file stops the
// service at start-up with a message a data engineer can act on.
func Load(path string) (*Mapping, error) {
	data, err := readFile(path, os.Open)
	if err != nil {
		return nil, err
	}
	m, cerr := parse(path, data)
	if cerr != nil {
		return nil, cerr
	}
	return m, nil
}

// LoadDir loads every *.yaml file in dir, in name order. Topics and names
// must be unique across the files: a topic is how a record finds its mapping.
func LoadDir(dir string) ([]*Mapping, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, &config.Error{File: dir, Msg: "cannot read the sources directory: " + err.Error()}
	}
	var ms []*Mapping
	for _, e := range ents { // os.ReadDir sorts by name
		if e.IsDir() || !strings.HasSuffix(e.Name(), ".yaml") {
			continue
		}
		m, err := Load(filepath.Join(dir, e.Name()))
		if err != nil {
			return nil, err
		}
		ms = append(ms, m)
	}
	if len(ms) == 0 {
		return nil, &config.Error{File: dir, Msg: "no *.yaml source files in the directory"}
	}
	if err := checkUnique(ms); err != nil {
		return nil, err
	}
	return ms, nil
}

// defaults is compiled once; Mappings are immutable, so all callers share them.
var defaults = sync.OnceValue(func() []*Mapping {
	ents, err := fs.ReadDir(sources.FS, ".")
	if err != nil {
		panic("source: embedded configs/sources: " + err.Error())
	}
	var ms []*Mapping
	for _, e := range ents {
		if !strings.HasSuffix(e.Name(), ".yaml") {
			continue
		}
		data, err := fs.ReadFile(sources.FS, e.Name())
		if err != nil {
			panic("source: embedded configs/sources: " + err.Error())
		}
		m, cerr := parse("configs/sources/"+e.Name(), data)
		if cerr != nil {
			// The embedded files are part of the binary and covered by tests:
			// reaching this is a build defect, not a user error.
			panic("source: embedded configs/sources file is invalid: " + cerr.Error())
		}
		ms = append(ms, m)
	}
	if err := checkUnique(ms); err != nil {
		panic("source: embedded configs/sources: " + err.Error())
	}
	return ms
})

// Default returns the mappings of the embedded configs/sources/*.yaml, in
// file name order. The slice is the caller's; the Mappings are shared.
func Default() []*Mapping { return slices.Clone(defaults()) }

func checkUnique(ms []*Mapping) error {
	topics := map[string]*Mapping{}
	names := map[string]*Mapping{}
	for _, m := range ms {
		if o := topics[m.topic]; o != nil {
			return &config.Error{File: m.file, Line: m.topicLine, Field: "topic",
				Msg: fmt.Sprintf("topic %q is already used by %s", m.topic, o.file)}
		}
		if o := names[m.name]; o != nil {
			return &config.Error{File: m.file, Line: m.nameLine, Field: "name",
				Msg: fmt.Sprintf("name %q is already used by %s", m.name, o.file)}
		}
		topics[m.topic], names[m.name] = m, m
	}
	return nil
}

// maxFileBytes keeps a mistaken path (a log file, /dev/zero) from eating
// memory before the YAML parser rejects it; source files are a few KB.
const maxFileBytes = 1 << 20

func readFile(path string, open func(string) (*os.File, error)) ([]byte, error) {
	f, err := open(path)
	if err != nil {
		return nil, &config.Error{File: path, Msg: "cannot read: " + err.Error()}
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxFileBytes+1))
	if err != nil {
		return nil, &config.Error{File: path, Msg: "cannot read: " + err.Error()}
	}
	if len(data) > maxFileBytes {
		return nil, &config.Error{File: path, Msg: fmt.Sprintf("larger than %d bytes; is this a source file?", maxFileBytes)}
	}
	return data, nil
}

var (
	nameRe  = regexp.MustCompile(`^[a-z][a-z0-9_]{0,63}$`)
	topicRe = regexp.MustCompile(`^[a-zA-Z0-9._-]{1,249}$`)
	lineRe  = regexp.MustCompile(`^(?:yaml: )?line (\d+): (.*)$`)
)

// maxAlternatives bounds a list of alternative paths; maxPaths the distinct
// paths of one file (each costs a compare per record).
const (
	maxAlternatives = 8
	maxPaths        = 256
)

// loader compiles one file.
type loader struct {
	file  string
	m     *Mapping
	slots map[string]int
}

func (l *loader) errf(n *yaml.Node, field, format string, args ...any) *config.Error {
	line := 0
	if n != nil {
		line = n.Line
	}
	return &config.Error{File: l.file, Line: line, Field: field, Msg: fmt.Sprintf(format, args...)}
}

// parse compiles the YAML text of one source file.
func parse(file string, data []byte) (m *Mapping, cerr *config.Error) {
	var doc yaml.Node
	err := func() (err error) {
		defer func() {
			if r := recover(); r != nil { // a parser panic must end in a message, not a crash
				err = fmt.Errorf("yaml: parser failure: %v", r)
			}
		}()
		return yaml.Unmarshal(data, &doc)
	}()
	if err != nil {
		msg := strings.TrimPrefix(err.Error(), "yaml: ")
		line := 0
		if sm := lineRe.FindStringSubmatch(err.Error()); sm != nil {
			line, _ = strconv.Atoi(sm[1])
			msg = sm[2]
		}
		if l := firstBadLine(data); l > 0 {
			line = l
		}
		return nil, &config.Error{File: file, Line: line, Msg: "invalid YAML: " + msg}
	}
	if doc.Kind != yaml.DocumentNode || len(doc.Content) == 0 {
		return nil, &config.Error{File: file, Msg: "empty file; a source needs name, topic, channel, event_id, ts, type and ids"}
	}
	l := &loader{file: file, m: &Mapping{file: file, root: &node{idx: -1, slot: -1}}, slots: map[string]int{}}
	if e := l.top(doc.Content[0]); e != nil {
		return nil, e
	}
	l.m.nSlots = len(l.slots)
	return l.m, nil
}

// firstBadLine returns the line after the longest prefix of whole lines that
// parses: where the text stops being YAML. The parser's own line is often that
// of the enclosing block (an unclosed bracket is reported where it opens, or
// one line early), as internal/config found. 0 for long files (the rescan
// parses up to one prefix per line).
func firstBadLine(data []byte) int {
	lines := strings.SplitAfter(string(data), "\n")
	if len(lines) > 500 {
		return 0
	}
	for k := len(lines) - 1; k > 0; k-- {
		var n yaml.Node
		ok := func() (ok bool) {
			defer func() {
				if recover() != nil {
					ok = false
				}
			}()
			return yaml.Unmarshal([]byte(strings.Join(lines[:k], "")), &n) == nil
		}()
		if ok {
			return k + 1
		}
	}
	return 1
}

// fields checks that n is a mapping with only known, unique keys, and
// returns the value node of each key given.
func (l *loader) fields(n *yaml.Node, field string, known ...string) (map[string]*yaml.Node, map[string]*yaml.Node, *config.Error) {
	if n.Kind == yaml.AliasNode {
		return nil, nil, l.errf(n, field, "anchors and aliases are not supported in source files")
	}
	if n.Kind != yaml.MappingNode {
		return nil, nil, l.errf(n, field, "expected a mapping of fields (%s), got %s", strings.Join(known, ", "), config.Describe(n))
	}
	vals := map[string]*yaml.Node{}
	keys := map[string]*yaml.Node{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		name := k.Value
		f := join(field, name)
		if k.Kind != yaml.ScalarNode {
			return nil, nil, l.errf(k, field, "expected a field name, got %s", config.Describe(k))
		}
		if known != nil && !slices.Contains(known, name) {
			return nil, nil, l.errf(k, f, "unknown field %q; known fields: %s", name, strings.Join(known, ", "))
		}
		if o := keys[name]; o != nil {
			return nil, nil, l.errf(k, f, "given twice (first on line %d)", o.Line)
		}
		if v.Kind == yaml.AliasNode {
			return nil, nil, l.errf(v, f, "anchors and aliases are not supported in source files")
		}
		keys[name], vals[name] = k, v
	}
	return vals, keys, nil
}

func join(parent, name string) string {
	if parent == "" {
		return name
	}
	return parent + "." + name
}

// str returns the scalar text of n.
func (l *loader) str(n *yaml.Node, field string) (string, *config.Error) {
	if n.Kind != yaml.ScalarNode || n.Tag == "!!null" {
		return "", l.errf(n, field, "expected a value, got %s", config.Describe(n))
	}
	return n.Value, nil
}

func (l *loader) canonName(n *yaml.Node, field, what string) (string, *config.Error) {
	s, e := l.str(n, field)
	if e != nil {
		return "", e
	}
	if !nameRe.MatchString(s) {
		return "", l.errf(n, field, "%s %q must be lower case letters, digits and _ (starting with a letter, at most 64)", what, s)
	}
	return s, nil
}

// alt compiles a path or a list of alternative paths.
func (l *loader) alt(n *yaml.Node, field string) (alt, *config.Error) {
	var a alt
	one := func(n *yaml.Node, field string) *config.Error {
		p, e := l.str(n, field)
		if e != nil {
			return e
		}
		if msg := checkPath(p); msg != "" {
			return l.errf(n, field, "bad path %q: %s", p, msg)
		}
		slot, ok := l.slots[p]
		if !ok {
			if len(l.slots) >= maxPaths {
				return l.errf(n, field, "more than %d distinct paths in one source", maxPaths)
			}
			nd := l.m.root
			for _, seg := range strings.Split(p, ".") {
				nd = nd.child(seg)
			}
			slot = len(l.slots)
			nd.slot = slot
			l.slots[p] = slot
		}
		a.paths = append(a.paths, p)
		a.slots = append(a.slots, slot)
		return nil
	}
	switch n.Kind {
	case yaml.SequenceNode:
		if len(n.Content) == 0 || len(n.Content) > maxAlternatives {
			return a, l.errf(n, field, "a list of paths needs 1 to %d entries", maxAlternatives)
		}
		for i, el := range n.Content {
			if e := one(el, fmt.Sprintf("%s[%d]", field, i)); e != nil {
				return a, e
			}
		}
	default:
		if e := one(n, field); e != nil {
			return a, e
		}
	}
	return a, nil
}

var topFields = []string{"name", "description", "topic", "channel", "event_id", "ts", "type", "ids", "props", "props_from"}

func (l *loader) top(root *yaml.Node) *config.Error {
	m := l.m
	f, keys, e := l.fields(root, "", topFields...)
	if e != nil {
		return e
	}
	for _, req := range []string{"name", "topic", "channel", "event_id", "ts", "type", "ids"} {
		if f[req] == nil {
			return l.errf(root, req, "required field missing")
		}
	}
	if m.name, e = l.canonName(f["name"], "name", "name"); e != nil {
		return e
	}
	m.nameLine = keys["name"].Line
	if m.topic, e = l.str(f["topic"], "topic"); e != nil {
		return e
	}
	if !topicRe.MatchString(m.topic) {
		return l.errf(f["topic"], "topic", "%q is not a valid Kafka topic name (letters, digits, '.', '_', '-')", m.topic)
	}
	m.topicLine = keys["topic"].Line
	if m.channel, e = l.canonName(f["channel"], "channel", "channel"); e != nil {
		return e
	}
	if d := f["description"]; d != nil {
		if _, e = l.str(d, "description"); e != nil {
			return e
		}
	}
	if e = l.eventID(f["event_id"]); e != nil {
		return e
	}
	m.chanType = append(append([]byte(`","channel":`), jsonString(m.channel)...), `,"type":`...)
	if e = l.ts(f["ts"]); e != nil {
		return e
	}
	if e = l.typ(f["type"]); e != nil {
		return e
	}
	if e = l.ids(f["ids"]); e != nil {
		return e
	}
	if n := f["props_from"]; n != nil {
		if m.propsFrom, e = l.alt(n, "props_from"); e != nil {
			return e
		}
	}
	if n := f["props"]; n != nil {
		if e = l.props(n); e != nil {
			return e
		}
	}
	return nil
}

func (l *loader) eventID(n *yaml.Node) *config.Error {
	f, _, e := l.fields(n, "event_id", "path", "prefix", "template")
	if e != nil {
		return e
	}
	switch {
	case f["path"] != nil && f["template"] != nil:
		return l.errf(f["template"], "event_id.template", "give either path (with an optional prefix) or template, not both")
	case f["path"] != nil:
		a, e := l.alt(f["path"], "event_id.path")
		if e != nil {
			return e
		}
		prefix := ""
		if p := f["prefix"]; p != nil {
			if prefix, e = l.str(p, "event_id.prefix"); e != nil {
				return e
			}
		}
		l.m.eventID = []idPart{{path: a}}
		l.m.head = append([]byte(`{"event_id":`), jsonString(prefix)...)
		l.m.head = l.m.head[:len(l.m.head)-1] // leave the string open for the id
	case f["template"] != nil:
		if f["prefix"] != nil {
			return l.errf(f["prefix"], "event_id.prefix", "a template has its literal text inline; prefix goes with path")
		}
		return l.template(f["template"])
	default:
		return l.errf(n, "event_id", "needs path (a field of the record, with an optional prefix) or template (\"pos-{store}-{txn_no}\")")
	}
	return nil
}

// template compiles "pos-{store}-{txn_no}": literal text and {path} placeholders.
func (l *loader) template(n *yaml.Node) *config.Error {
	const field = "event_id.template"
	t, e := l.str(n, field)
	if e != nil {
		return e
	}
	var parts []idPart
	paths := 0
	for rest := t; rest != ""; {
		open := strings.IndexAny(rest, "{}")
		if open < 0 {
			parts = append(parts, idPart{lit: jsonContent(rest)})
			break
		}
		if rest[open] == '}' {
			return l.errf(n, field, "unmatched '}' in template %q", t)
		}
		if open > 0 {
			parts = append(parts, idPart{lit: jsonContent(rest[:open])})
		}
		end := strings.IndexAny(rest[open+1:], "{}")
		if end < 0 || rest[open+1+end] != '}' {
			return l.errf(n, field, "unclosed '{' in template %q", t)
		}
		p := rest[open+1 : open+1+end]
		if msg := checkPath(p); msg != "" {
			return l.errf(n, field, "bad path %q in template: %s", p, msg)
		}
		a, e := l.alt(&yaml.Node{Kind: yaml.ScalarNode, Value: p, Line: n.Line}, field)
		if e != nil {
			return e
		}
		parts = append(parts, idPart{path: a})
		paths++
		rest = rest[open+2+end:]
	}
	if paths == 0 {
		return l.errf(n, field, "template %q has no {path} placeholder: every event would get the same id", t)
	}
	l.m.eventID = parts
	return nil
}

func (l *loader) ts(n *yaml.Node) *config.Error {
	f, _, e := l.fields(n, "ts", "path", "format")
	if e != nil {
		return e
	}
	if f["path"] == nil {
		return l.errf(n, "ts.path", "required field missing")
	}
	if f["format"] == nil {
		return l.errf(n, "ts.format", "required field missing (rfc3339, epoch_ms or epoch_s)")
	}
	if l.m.ts, e = l.alt(f["path"], "ts.path"); e != nil {
		return e
	}
	s, e := l.str(f["format"], "ts.format")
	if e != nil {
		return e
	}
	fm, ok := tsFormats[s]
	if !ok {
		return l.errf(f["format"], "ts.format", "unknown format %q; use rfc3339, epoch_ms or epoch_s", s)
	}
	l.m.tsFormat = fm
	return nil
}

func (l *loader) typ(n *yaml.Node) *config.Error {
	f, _, e := l.fields(n, "type", "constant", "path", "values", "default")
	if e != nil {
		return e
	}
	m := l.m
	if c := f["constant"]; c != nil {
		for _, other := range []string{"path", "values", "default"} {
			if f[other] != nil {
				return l.errf(f[other], "type."+other, "a constant type takes no %s", other)
			}
		}
		s, e := l.canonName(c, "type.constant", "type")
		if e != nil {
			return e
		}
		m.typeConst = jsonString(s)
		return nil
	}
	if f["path"] == nil {
		return l.errf(n, "type", "needs constant (every record has this type) or path (with optional values and default)")
	}
	if m.typePath, e = l.alt(f["path"], "type.path"); e != nil {
		return e
	}
	if d := f["default"]; d != nil {
		s, e := l.canonName(d, "type.default", "type")
		if e != nil {
			return e
		}
		m.typeDef = jsonString(s)
	}
	if v := f["values"]; v != nil {
		vals, keys, e := l.fields(v, "type.values")
		if e != nil {
			return e
		}
		m.typeVals = map[string][]byte{}
		for i := 0; i+1 < len(v.Content); i += 2 { // in file order, so errors are deterministic
			raw := v.Content[i].Value
			s, e := l.canonName(vals[raw], "type.values."+raw, "type")
			if e != nil {
				return e
			}
			if raw == "" {
				return l.errf(keys[raw], "type.values", "empty raw value; records without a type get the default")
			}
			m.typeVals[raw] = jsonString(s)
		}
	}
	return nil
}

func (l *loader) ids(n *yaml.Node) *config.Error {
	vals, keys, e := l.fields(n, "ids")
	if e != nil {
		return e
	}
	if len(vals) == 0 {
		return l.errf(n, "ids", "at least one identifier is needed")
	}
	for i := 0; i+1 < len(n.Content); i += 2 { // in file order, so errors are deterministic
		typ, v := n.Content[i].Value, n.Content[i+1]
		field := "ids." + typ
		if !nameRe.MatchString(typ) {
			return l.errf(keys[typ], field, "identifier type %q must be lower case letters, digits and _", typ)
		}
		a, e := l.alt(v, field)
		if e != nil {
			return e
		}
		l.m.ids = append(l.m.ids, field2(typ, a))
	}
	// Sorted, so that the canonical line does not depend on map order.
	slices.SortFunc(l.m.ids, func(a, b field) int { return strings.Compare(a.name, b.name) })
	return nil
}

func (l *loader) props(n *yaml.Node) *config.Error {
	if _, _, e := l.fields(n, "props"); e != nil {
		return e
	}
	m := l.m
	for i := 0; i+1 < len(n.Content); i += 2 { // in file order
		k, v := n.Content[i], n.Content[i+1]
		name, field := k.Value, "props."+k.Value
		if name == "" || len(name) > 128 || strings.ContainsFunc(name, func(r rune) bool { return r < ' ' || r == 0x7f }) {
			return l.errf(k, field, "prop name must be 1 to 128 printable characters")
		}
		a, e := l.alt(v, field)
		if e != nil {
			return e
		}
		m.props = append(m.props, field2(name, a))
		m.propsSkip = append(m.propsSkip, name) // a named prop overrides a copied member
		// A direct member of props_from read by a named prop is renamed, not copied twice.
		for _, from := range m.propsFrom.paths {
			for _, p := range a.paths {
				if seg, ok := strings.CutPrefix(p, from+"."); ok && !strings.Contains(seg, ".") {
					m.propsSkip = append(m.propsSkip, seg)
				}
			}
		}
	}
	return nil
}

func field2(name string, a alt) field {
	return field{name: name, key: append(jsonString(name), ':'), path: a}
}

// jsonString encodes s as a JSON string.
func jsonString(s string) []byte {
	b, err := json.Marshal(s)
	if err != nil { // not reached: a Go string always encodes
		panic(errors.New("source: " + err.Error()))
	}
	return b
}

// jsonContent is jsonString without the quotes.
func jsonContent(s string) []byte {
	b := jsonString(s)
	return b[1 : len(b)-1]
}
