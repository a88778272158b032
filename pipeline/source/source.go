// Package source maps the raw records of source systems (web analytics SDK,
// point of sale, call centre, e-mail service provider) to canonical events
// (SPEC "Canonical event"), by one YAML file per source in configs/sources/.
//
// A Mapping does not validate the canonical event it writes beyond what it
// must know to write it: the caller decodes the result with stitch/event's
// Decoder, so every source goes through the one validation path that
// canonical events on omni.events go through.
//
// Map is on the hot path (every raw record). It compiles the configured paths
// into a trie at load time and makes one pass over the record's bytes, which
// both validates the JSON and locates every configured value (see scan.go);
// it never unmarshals the record.
package source

import (
	"bytes"
	"encoding/json"
	"strconv"

	"github.com/omnistitch/omnistitch/stitch/event"
)

// Mapping is one compiled source configuration. It is immutable after Load,
// so one Mapping may be used by any number of goroutines at once.
type Mapping struct {
	name, topic, channel, file string
	nameLine, topicLine        int

	root   *node
	nSlots int

	// event_id: either one path (alternatives) with a prefix, or a template
	// of literal parts and paths.
	eventID []idPart

	ts       alt
	tsFormat tsFormat

	typeConst []byte // JSON string of a constant type, or nil
	typePath  alt
	typeVals  map[string][]byte // raw value → JSON string of the canonical type
	typeDef   []byte            // JSON string of the default type, or nil

	ids   []field // sorted by canonical id type
	props []field // in file order

	propsFrom alt      // object whose members are copied into props
	propsSkip []string // members of propsFrom not copied (renamed or overridden)
	head      []byte   // `{"event_id":"` + escaped prefix, when eventID is one path
	chanType  []byte   // `","channel":"web","type":` follows the event id's content
}

// alt is a list of alternative paths (slots): the first that holds a value wins.
type alt struct {
	paths []string // as configured, for messages
	slots []int
}

// idPart is one part of an event id: a literal (slot < 0) or a path.
type idPart struct {
	lit  []byte // JSON-escaped literal text
	path alt
}

// field is one canonical id or prop: its JSON-encoded key and where its value is.
type field struct {
	name string
	key  []byte // `"email":`
	path alt
}

// Name returns the source name (e.g. "web").
func (m *Mapping) Name() string { return m.name }

// Topic returns the Kafka topic the source's raw records arrive on (e.g. "omni.web").
func (m *Mapping) Topic() string { return m.topic }

// Channel returns the canonical channel of the source's events (e.g. "web").
func (m *Mapping) Channel() string { return m.channel }

// File returns the configuration file the mapping was loaded from.
func (m *Mapping) File() string { return m.file }

// maxStackSlots is the number of configured paths whose spans fit in Map's
// stack buffer; mappings with more paths allocate once per record.
const maxStackSlots = 48

func errf(r event.Reason, msg string) *event.Error { return &event.Error{Reason: r, Msg: msg} }

// Map turns one raw record into a canonical event line appended to dst, and
// returns the extended buffer. A record the mapping cannot map gives an
// *event.Error (malformed_json, missing_field, bad_field or bad_ts) whose
// message names the raw field path, never a value, so it is safe to log and
// to put in a dead-letter header; dst is then returned unchanged.
//
// The result is not yet validated as an event (e.g. whether at least one
// identifier is usable, field lengths): decode it with event.Decoder.
func (m *Mapping) Map(raw []byte, dst []byte) ([]byte, error) {
	var buf [maxStackSlots]span
	var spans []span
	if m.nSlots <= len(buf) {
		spans = buf[:m.nSlots]
	} else {
		spans = make([]span, m.nSlots)
	}
	rec := raw
	i := skipWS(rec, 0)
	if i >= len(rec) || rec[i] != '{' {
		return dst, errf(event.ReasonMalformed, "not a JSON object")
	}
	w := walker{data: rec, spans: spans}
	end := w.value(i, m.root, 0)
	if end >= 0 && skipWS(rec, end) != len(rec) {
		end = w.fail(skipWS(rec, end))
	}
	if end < 0 {
		if w.errAt >= len(rec) {
			return dst, errf(event.ReasonMalformed, "invalid JSON: unexpected end of input at byte "+strconv.Itoa(w.errAt))
		}
		return dst, errf(event.ReasonMalformed, "invalid JSON at byte "+strconv.Itoa(w.errAt))
	}
	// From here the record is valid JSON, so every span holds a whole value.
	val := func(a *alt) ([]byte, string) {
		for k, s := range a.slots {
			if sp := spans[s]; sp.end > 0 {
				v := rec[sp.start:sp.end]
				if v[0] != 'n' && string(v) != `""` { // null and "" count as absent
					return v, a.paths[k]
				}
			}
		}
		return nil, a.paths[0]
	}
	orig := dst
	fail := func(e *event.Error) ([]byte, error) { return orig, e }

	// event_id
	if m.head != nil {
		v, p := val(&m.eventID[0].path)
		content, e := idValue(v, p, "event id")
		if e != nil {
			return fail(e)
		}
		dst = append(dst, m.head...)
		dst = append(dst, content...)
	} else {
		dst = append(dst, `{"event_id":"`...)
		for k := range m.eventID {
			part := &m.eventID[k]
			if part.path.slots == nil {
				dst = append(dst, part.lit...)
				continue
			}
			v, p := val(&part.path)
			content, e := idValue(v, p, "event id")
			if e != nil {
				return fail(e)
			}
			dst = append(dst, content...)
		}
	}
	dst = append(dst, m.chanType...)

	// type
	switch {
	case m.typeConst != nil:
		dst = append(dst, m.typeConst...)
	default:
		v, p := val(&m.typePath)
		switch {
		case v == nil || string(v) == `""`:
			if m.typeDef == nil {
				return fail(errf(event.ReasonMissing, "missing type field "+strconv.Quote(p)))
			}
			dst = append(dst, m.typeDef...)
		case v[0] == '"' || v[0] == '-' || isDigit(v[0]):
			var t []byte
			var ok bool
			if v[0] == '"' && bytes.IndexByte(v, '\\') < 0 {
				t, ok = m.typeVals[string(v[1:len(v)-1])] // no allocation: the conversion is in the index
			} else {
				t, ok = m.typeVals[typeKey(v)]
			}
			if ok {
				dst = append(dst, t...)
			} else if m.typeDef != nil {
				dst = append(dst, m.typeDef...)
			} else if v[0] == '"' {
				dst = append(dst, v...) // unmapped names pass through as they are
			} else {
				dst = strconv.AppendQuote(dst, string(v))
			}
		default:
			return fail(errf(event.ReasonBadField, "type field "+strconv.Quote(p)+" must be a string or a number"))
		}
	}

	// ts
	v, p := val(&m.ts)
	if v == nil || string(v) == `""` {
		return fail(errf(event.ReasonMissing, "missing time field "+strconv.Quote(p)))
	}
	ms, ok := parseTS(v, m.tsFormat)
	if !ok {
		return fail(errf(event.ReasonBadTS, "time field "+strconv.Quote(p)+" is not "+tsFormatText[m.tsFormat]+" in years 1 to 9999"))
	}
	dst = strconv.AppendInt(append(dst, `,"ts":`...), ms, 10)

	// ids: the first alternative with a non-empty value; none at all gives
	// "ids":{}, which the decoder rejects (junk_ids) like any event without ids.
	dst = append(dst, `,"ids":{`...)
	first := true
	for k := range m.ids {
		f := &m.ids[k]
		var v []byte
		for j, s := range f.path.slots {
			sp := spans[s]
			if sp.end == 0 {
				continue
			}
			x := rec[sp.start:sp.end]
			switch c := x[0]; {
			case c == 'n' || string(x) == `""`:
				continue
			case c == '"' || c == '-' || isDigit(c):
				v = x // numbers keep their literal text (loyalty numbers)
			default:
				return fail(errf(event.ReasonBadField, "identifier field "+strconv.Quote(f.path.paths[j])+" must be a string or a number"))
			}
			break
		}
		if v == nil {
			continue
		}
		if !first {
			dst = append(dst, ',')
		}
		first = false
		dst = append(dst, f.key...)
		dst = append(dst, v...)
	}
	dst = append(dst, '}')

	// props: members of props_from, then the named props; written only when
	// there is at least one, so that an empty object reads as "no props".
	mark := len(dst)
	dst = append(dst, `,"props":{`...)
	body := len(dst)
	if len(m.propsFrom.slots) > 0 {
		if obj, p := val(&m.propsFrom); obj != nil {
			if obj[0] != '{' {
				return fail(errf(event.ReasonBadField, "props field "+strconv.Quote(p)+" must be an object"))
			}
			for j, ok := 1, true; ; {
				var key []byte
				var vs, ve int
				key, vs, ve, j, ok = nextField(obj, j)
				if !ok {
					break
				}
				if m.skipProp(key) {
					continue
				}
				if len(dst) > body {
					dst = append(dst, ',')
				}
				dst = append(dst, '"')
				dst = append(dst, key...)
				dst = append(dst, '"', ':')
				dst = append(dst, obj[vs:ve]...)
			}
		}
	}
	for k := range m.props {
		f := &m.props[k]
		v, _ := val(&f.path)
		if v == nil {
			continue
		}
		if len(dst) > body {
			dst = append(dst, ',')
		}
		dst = append(dst, f.key...)
		dst = append(dst, v...)
	}
	if len(dst) == body {
		dst = dst[:mark]
	} else {
		dst = append(dst, '}')
	}
	return append(dst, '}'), nil
}

var tsFormatText = [...]string{tsRFC3339: "an RFC 3339 time", tsEpochMS: "epoch milliseconds", tsEpochS: "epoch seconds"}

func (m *Mapping) skipProp(key []byte) bool {
	for _, s := range m.propsSkip {
		if s == string(key) {
			return true
		}
	}
	return false
}

// idValue returns the content for an event id (the JSON string's content
// without quotes, or a number's literal) from the raw value v of path p.
func idValue(v []byte, p, what string) ([]byte, *event.Error) {
	if v == nil {
		return nil, errf(event.ReasonMissing, "missing "+what+" field "+strconv.Quote(p))
	}
	switch c := v[0]; {
	case c == '"':
		s := v[1 : len(v)-1]
		if len(bytes.TrimSpace(s)) == 0 {
			return nil, errf(event.ReasonMissing, what+" field "+strconv.Quote(p)+" is empty")
		}
		return s, nil
	case c == '-' || isDigit(c):
		return v, nil
	}
	return nil, errf(event.ReasonBadField, what+" field "+strconv.Quote(p)+" must be a string or a number")
}

// typeKey returns the lookup key of a raw type value: a string's content,
// unescaped, or a number's literal.
func typeKey(v []byte) string {
	if v[0] != '"' {
		return string(v)
	}
	s := v[1 : len(v)-1]
	if bytes.IndexByte(s, '\\') < 0 {
		return string(s)
	}
	var u string
	if json.Unmarshal(v, &u) != nil {
		return string(s)
	}
	return u
}
