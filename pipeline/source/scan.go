package source

import (
	"strconv"
	"strings"

	"github.com/omnistitch/omnistitch/internal/jsonlex"
)

// This file holds the one pass over a raw record that Map makes: it
// validates the record as JSON (RFC 8259, the grammar encoding/json accepts)
// and, while it is at it, notes where the value of every configured path is.
//
// Why not jsonscan.Field once per path segment: a web mapping reads about a
// dozen paths, most under "context" and "properties"; looking each up from the
// root re-scans the same bytes a dozen times (several µs for a 400-byte
// record) and still does not tell a truncated record from a whole one. The
// paths of a mapping are compiled into a trie instead, and the record is
// walked once, each object's keys compared only with the children of the trie
// node for that object.

// maxDepth bounds nesting as the canonical decoder does (stitch/event), so a
// raw record is not rejected for a depth its canonical form would pass.
const maxDepth = 10000

// span locates a value in the record: raw[start:end]. end == 0: absent.
type span struct{ start, end int32 }

// node is one segment of the compiled paths. The root stands for the whole
// record; a node's slot (>= 0) is where the value found there is recorded.
type node struct {
	seg  string // object key, compared with the raw key bytes as written
	idx  int    // array index the segment also names, or -1
	slot int
	kids []*node
}

// child returns the child for segment seg, creating it.
func (n *node) child(seg string) *node {
	for _, k := range n.kids {
		if k.seg == seg {
			return k
		}
	}
	k := &node{seg: seg, idx: indexOf(seg), slot: -1}
	n.kids = append(n.kids, k)
	return k
}

// indexOf returns the array index a segment names ("0", "12"; no sign, no
// leading zeros), or -1.
func indexOf(seg string) int {
	if seg == "" || len(seg) > 6 || (len(seg) > 1 && seg[0] == '0') {
		return -1
	}
	n := 0
	for i := 0; i < len(seg); i++ {
		if seg[i] < '0' || seg[i] > '9' {
			return -1
		}
		n = n*10 + int(seg[i]-'0')
	}
	return n
}

// checkPath reports what is wrong with a configured path, or "".
func checkPath(p string) string {
	if p == "" {
		return "empty path"
	}
	if strings.ContainsAny(p, "[]") {
		return "write array indexes as dotted segments (items.0.sku), not brackets"
	}
	segs := strings.Split(p, ".")
	if len(segs) > maxSegments {
		return "path has more than " + strconv.Itoa(maxSegments) + " segments"
	}
	for _, s := range segs {
		if s == "" {
			return "empty segment in path " + strconv.Quote(p) + " (leading, trailing or double dot)"
		}
		for i := 0; i < len(s); i++ {
			if c := s[i]; c <= ' ' || c == '"' || c == '\\' || c == 0x7f {
				return "path " + strconv.Quote(p) + " contains a space, quote, backslash or control character"
			}
		}
	}
	return ""
}

const maxSegments = 16

// walker validates one record and fills spans for the trie's slots.
type walker struct {
	data  []byte
	spans []span
	errAt int
}

func (w *walker) fail(i int) int {
	w.errAt = i
	return -1
}

// tok passes on the result of a jsonlex function: the offset after the
// token, or -1 with the error recorded at the offset jsonlex reported.
func (w *walker) tok(end int, ok bool) int {
	if ok {
		return end
	}
	return w.fail(end)
}

// skipWS returns the offset of the first non-white-space byte at or after
// b[i], or len(b).
func skipWS(b []byte, i int) int { return jsonlex.SkipSpace(b, i) }

// value scans the value at data[i] and returns the offset after it, or -1.
// n is the trie node for this position (nil: no configured path goes here,
// the value is only validated).
func (w *walker) value(i int, n *node, depth int) int {
	data := w.data
	if i >= len(data) {
		return w.fail(i)
	}
	start := i
	switch c := data[i]; {
	case c == '"':
		i = w.tok(jsonlex.String(data, i))
	case c == '{':
		i = w.object(i, n, depth+1)
	case c == '[':
		i = w.array(i, n, depth+1)
	case c == 't':
		i = w.tok(jsonlex.Literal(data, i, "true"))
	case c == 'f':
		i = w.tok(jsonlex.Literal(data, i, "false"))
	case c == 'n':
		i = w.tok(jsonlex.Literal(data, i, "null"))
	case c == '-' || isDigit(c):
		i = w.tok(jsonlex.Number(data, i))
	default:
		return w.fail(i)
	}
	if i >= 0 && n != nil && n.slot >= 0 {
		// Later duplicates of a key win, as in encoding/json and stitch/event.
		w.spans[n.slot] = span{int32(start), int32(i)}
	}
	return i
}

func (w *walker) object(i int, n *node, depth int) int {
	if depth > maxDepth {
		return w.fail(i)
	}
	data := w.data
	i = skipWS(data, i+1)
	if i < len(data) && data[i] == '}' {
		return i + 1
	}
	for {
		if i >= len(data) || data[i] != '"' {
			return w.fail(i)
		}
		ks := i
		if i = w.tok(jsonlex.String(data, i)); i < 0 {
			return -1
		}
		var kid *node
		if n != nil {
			key := data[ks+1 : i-1]
			for _, k := range n.kids {
				if k.seg == string(key) {
					kid = k
					break
				}
			}
		}
		i = skipWS(data, i)
		if i >= len(data) || data[i] != ':' {
			return w.fail(i)
		}
		if i = w.value(skipWS(data, i+1), kid, depth); i < 0 {
			return -1
		}
		i = skipWS(data, i)
		if i >= len(data) {
			return w.fail(i)
		}
		switch data[i] {
		case ',':
			i = skipWS(data, i+1)
		case '}':
			return i + 1
		default:
			return w.fail(i)
		}
	}
}

func (w *walker) array(i int, n *node, depth int) int {
	if depth > maxDepth {
		return w.fail(i)
	}
	data := w.data
	i = skipWS(data, i+1)
	if i < len(data) && data[i] == ']' {
		return i + 1
	}
	for k := 0; ; k++ {
		var kid *node
		if n != nil {
			for _, c := range n.kids {
				if c.idx == k {
					kid = c
					break
				}
			}
		}
		if i = w.value(i, kid, depth); i < 0 {
			return -1
		}
		i = skipWS(data, i)
		if i >= len(data) {
			return w.fail(i)
		}
		switch data[i] {
		case ',':
			i = skipWS(data, i+1)
		case ']':
			return i + 1
		default:
			return w.fail(i)
		}
	}
}

// isDigit reports whether c is an ASCII decimal digit.
func isDigit(c byte) bool { return jsonlex.IsDigit(c) }

// nextField iterates the members of a valid JSON object (already checked by
// the walker): given the offset after '{' or after a member, it returns the
// raw key (without quotes), the value's span and the offset to continue
// from; ok is false at the end of the object.
func nextField(data []byte, i int) (key []byte, vs, ve, next int, ok bool) {
	i = skipWS(data, i)
	if i < len(data) && data[i] == ',' {
		i = skipWS(data, i+1)
	}
	if i >= len(data) || data[i] != '"' {
		return nil, 0, 0, i, false
	}
	w := walker{data: data}
	ke, _ := jsonlex.String(data, i)
	key = data[i+1 : ke-1]
	vs = skipWS(data, skipWS(data, ke)+1)
	ve = w.value(vs, nil, 0)
	return key, vs, ve, ve, true
}
