package event

// decodeReference is the original encoding/json implementation of
// Decoder.Decode, kept verbatim (helpers renamed with a ref prefix) as the
// oracle for FuzzDecodeDifferential. Do not "fix" it: it defines the
// behaviour the hand-written scanner must reproduce.

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

type refWire struct {
	EventID json.RawMessage `json:"event_id"`
	Channel json.RawMessage `json:"channel"`
	Type    json.RawMessage `json:"type"`
	TS      json.RawMessage `json:"ts"`
	IDs     json.RawMessage `json:"ids"`
	Props   json.RawMessage `json:"props"`
}

func decodeReference(d *Decoder, data []byte) (Event, error) {
	var ev Event
	if d.maxBytes > 0 && len(data) > d.maxBytes {
		return ev, errf(ReasonOversized, "record of %d bytes exceeds the limit of %d", len(data), d.maxBytes)
	}
	data = bytes.TrimSpace(data)
	if len(data) == 0 || data[0] != '{' {
		return ev, errf(ReasonMalformed, "not a JSON object")
	}
	var w refWire
	if err := json.Unmarshal(data, &w); err != nil {
		return ev, errf(ReasonMalformed, "invalid JSON: %s", refJSONErrMsg(err))
	}
	var err error
	if ev.ID, err = refRequiredString("event_id", w.EventID, maxEventIDBytes); err != nil {
		return ev, err
	}
	if ev.Channel, err = refRequiredString("channel", w.Channel, maxNameBytes); err != nil {
		return ev, err
	}
	if len(d.channels) > 0 && !slices.Contains(d.channels, ev.Channel) {
		return ev, errf(ReasonBadField, "channel %q is not configured", ev.Channel)
	}
	if ev.Type, err = refRequiredString("type", w.Type, maxNameBytes); err != nil {
		return ev, err
	}
	if ev.TS, err = refParseTS(w.TS); err != nil {
		return ev, err
	}
	if ev.IDs, err = refParseIDs(w.IDs); err != nil {
		return ev, err
	}
	switch p := bytes.TrimSpace(w.Props); {
	case len(p) == 0 || string(p) == "null":
	case p[0] == '{':
		ev.Props = bytes.Clone(p)
	default:
		return ev, errf(ReasonBadField, "props must be a JSON object")
	}
	return ev, nil
}

func refIsNull(raw json.RawMessage) bool {
	return len(raw) == 0 || string(raw) == "null"
}

func refRequiredString(field string, raw json.RawMessage, max int) (string, error) {
	if refIsNull(raw) {
		return "", errf(ReasonMissing, "missing required field %q", field)
	}
	if raw[0] != '"' {
		return "", errf(ReasonBadField, "field %q must be a string", field)
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return "", errf(ReasonBadField, "field %q: %s", field, refJSONErrMsg(err))
	}
	s = strings.TrimSpace(s)
	if s == "" {
		return "", errf(ReasonMissing, "required field %q is empty", field)
	}
	if len(s) > max {
		return "", errf(ReasonBadField, "field %q is longer than %d bytes", field, max)
	}
	if !utf8.Valid(raw) || strings.IndexByte(s, 0) >= 0 {
		return "", errf(ReasonBadField, "field %q has invalid characters", field)
	}
	return s, nil
}

func refParseTS(raw json.RawMessage) (int64, error) {
	if refIsNull(raw) {
		return 0, errf(ReasonMissing, "missing required field \"ts\"")
	}
	var s string
	if raw[0] == '"' {
		if err := json.Unmarshal(raw, &s); err != nil {
			return 0, errf(ReasonBadTS, "ts: %s", refJSONErrMsg(err))
		}
		s = strings.TrimSpace(s)
	} else {
		s = string(raw)
	}
	if ms, err := strconv.ParseInt(s, 10, 64); err == nil {
		if ms < minTS || ms > maxTS {
			return 0, errf(ReasonBadTS, "ts %d is outside years 1 to 9999", ms)
		}
		return ms, nil
	}
	// RFC 3339 (5.6) allows t and z in lower case and a space for the T;
	// time.Parse takes the upper-case T form only.
	p := []byte(s)
	if len(p) > 10 && (p[10] == 't' || p[10] == ' ') {
		p[10] = 'T'
	}
	if len(p) > 0 && p[len(p)-1] == 'z' {
		p[len(p)-1] = 'Z'
	}
	t, err := time.Parse(time.RFC3339Nano, string(p))
	if err != nil {
		return 0, errf(ReasonBadTS, "ts %s is neither RFC 3339 nor integer epoch milliseconds", quoteShort(s))
	}
	ms := t.UnixMilli()
	if ms < minTS || ms > maxTS {
		return 0, errf(ReasonBadTS, "ts %s is outside years 1 to 9999", quoteShort(s))
	}
	return ms, nil
}

func refParseIDs(raw json.RawMessage) ([]ID, error) {
	if refIsNull(raw) {
		return nil, errf(ReasonMissing, "missing required field \"ids\"")
	}
	if raw[0] != '{' {
		return nil, errf(ReasonBadField, "field \"ids\" must be an object")
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, errf(ReasonBadField, "ids: %s", refJSONErrMsg(err))
	}
	if len(m) == 0 {
		return nil, errf(ReasonJunkIDs, "ids is empty")
	}
	if len(m) > maxIDs {
		return nil, errf(ReasonBadField, "ids has %d identifiers, more than %d", len(m), maxIDs)
	}
	ids := make([]ID, 0, len(m))
	for typ, v := range m {
		if len(typ) > maxNameBytes || !utf8.ValidString(typ) {
			return nil, errf(ReasonBadField, "ids has an invalid identifier type")
		}
		var val string
		switch {
		case refIsNull(v):
			continue // an absent identifier, not an error
		case v[0] == '"':
			if err := json.Unmarshal(v, &val); err != nil {
				return nil, errf(ReasonBadField, "ids.%s: %s", typ, refJSONErrMsg(err))
			}
		case v[0] == '-' || (v[0] >= '0' && v[0] <= '9'):
			val = string(v) // numeric ids (loyalty numbers) keep their literal text
		default:
			return nil, errf(ReasonBadField, "ids.%s must be a string or a number", typ)
		}
		ids = append(ids, ID{Type: typ, Value: val})
	}
	if len(ids) == 0 {
		return nil, errf(ReasonJunkIDs, "ids has no values")
	}
	slices.SortFunc(ids, func(a, b ID) int { return strings.Compare(a.Type, b.Type) })
	return ids, nil
}

func refJSONErrMsg(err error) string {
	if se, ok := err.(*json.SyntaxError); ok {
		return fmt.Sprintf("%s at byte %d", se.Error(), se.Offset)
	}
	if te, ok := err.(*json.UnmarshalTypeError); ok {
		if te.Field != "" {
			return fmt.Sprintf("field %q has the wrong type (%s)", te.Field, te.Value)
		}
		return fmt.Sprintf("wrong type (%s)", te.Value)
	}
	return err.Error()
}
