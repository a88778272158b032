package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Error is a configuration error that names where it is.
type Error struct {
	File  string // path as given
	Line  int    // 1-based; 0 when unknown
	Field string // dotted path, e.g. "types[3].limit" or "state.customer_cache"
	Msg   string

	err error // underlying cause (e.g. fs.ErrNotExist), for errors.Is
}

// Error formats as "FILE:LINE: FIELD: MSG", leaving out ":LINE" when the
// line is unknown and "FIELD: " when no single field is at fault.
func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(e.File)
	if e.Line > 0 {
		b.WriteString(":")
		b.WriteString(strconv.Itoa(e.Line))
	}
	b.WriteString(": ")
	if e.Field != "" {
		b.WriteString(e.Field)
		b.WriteString(": ")
	}
	b.WriteString(e.Msg)
	return b.String()
}

// Unwrap returns the underlying cause, if any, so that callers can tell a
// missing file (errors.Is(err, fs.ErrNotExist)) from a bad one.
func (e *Error) Unwrap() error { return e.err }

// guard turns a panic inside the YAML library into an error: whatever a
// configuration file contains, start-up must end with a message, not a
// stack trace.
func guard(f func() error) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("yaml: parser failure: %v", r)
		}
	}()
	return f()
}

// parseNode parses data into a node tree. It returns a nil root for a file
// without content (empty or only comments), which keeps every default.
func parseNode(file string, data []byte) (*yaml.Node, *Error) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	err := guard(func() error { return dec.Decode(&doc) })
	if errors.Is(err, io.EOF) {
		return nil, nil
	}
	if err != nil {
		return nil, syntaxError(file, data, err)
	}
	// yaml's Decode reads only the first document; silently ignoring the
	// rest would drop settings the user believes are in effect.
	var extra yaml.Node
	err = guard(func() error { return dec.Decode(&extra) })
	switch {
	case errors.Is(err, io.EOF):
	case err != nil:
		return nil, syntaxError(file, data, err)
	default:
		return nil, &Error{File: file, Line: extra.Line, Msg: `a second YAML document ("---") is not allowed; put all fields in one document`}
	}
	if doc.Kind != yaml.DocumentNode {
		return &doc, nil
	}
	if len(doc.Content) == 0 {
		return nil, nil
	}
	return doc.Content[0], nil
}

var yamlLineRe = regexp.MustCompile(`(?s)^(?:yaml: )?line (\d+): (.*)$`)

// syntaxError converts a parser error ("yaml: line 3: ...") into an *Error.
// The parser's line is often that of the enclosing block, and 0-based for
// some errors, so the line is recomputed as the first line that cannot be
// part of a valid document.
func syntaxError(file string, data []byte, err error) *Error {
	line, msg := splitLine(err.Error())
	if l := firstBadLine(data); l > 0 {
		line = l
	}
	return &Error{File: file, Line: line, Msg: "invalid YAML: " + msg, err: err}
}

// maxRescanLines bounds firstBadLine, which parses up to one prefix per line.
const maxRescanLines = 1000

// firstBadLine returns the line after the longest prefix of whole lines that
// parses, which is where the text stops being YAML (an unclosed bracket or
// quote is reported on the line it opens). 0 if data is too long to rescan.
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

// parses reports whether every document in data parses.
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

// yamlError converts an error of the typed decode into an *Error. The schema
// check normally reports these first and with a precise field; this is the
// fallback for what only the decoder detects (e.g. excessive aliasing).
func yamlError(file string, root *yaml.Node, err error) *Error {
	var te *yaml.TypeError
	if errors.As(err, &te) && len(te.Errors) > 0 {
		line, msg := splitLine(te.Errors[0])
		return &Error{File: file, Line: line, Field: fieldAtLine(root, line).String(), Msg: msg, err: err}
	}
	line, msg := splitLine(err.Error())
	return &Error{File: file, Line: line, Field: fieldAtLine(root, line).String(), Msg: msg, err: err}
}

// splitLine splits "yaml: line N: msg" or "line N: msg" into N and msg.
func splitLine(s string) (int, string) {
	if m := yamlLineRe.FindStringSubmatch(s); m != nil {
		if n, err := strconv.Atoi(m[1]); err == nil {
			return n, m[2]
		}
	}
	return 0, strings.TrimPrefix(s, "yaml: ")
}
