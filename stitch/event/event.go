// Package event decodes and validates canonical events (SPEC "Canonical event").
//
// Decoding is strict about the required fields and lenient about what does not
// matter for stitching: unknown top-level fields are ignored, identifier values
// may be JSON strings or numbers, and props are kept verbatim.
package event

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

// ID is one identifier of an event as sent: its type and its raw value.
type ID struct {
	Type  string
	Value string
}

// Event is a decoded canonical event.
type Event struct {
	ID      string
	Channel string
	Type    string
	TS      int64  // event time, milliseconds since the Unix epoch (UTC)
	IDs     []ID   // sorted by type; values not yet normalised
	Props   []byte // the raw JSON object, or nil when absent or null
}

// Reason classifies why a record was rejected; it is what metrics and
// dead-letter headers carry, so the set is small and stable.
type Reason string

// Reasons for rejecting a record.
const (
	ReasonMalformed Reason = "malformed_json"
	ReasonMissing   Reason = "missing_field"
	ReasonBadField  Reason = "bad_field"
	ReasonBadTS     Reason = "bad_ts"
	ReasonOversized Reason = "oversized"
	ReasonJunkIDs   Reason = "junk_ids" // set by the engine: no usable identifier
)

// Error says why a record is not a valid event. Msg never contains
// identifier values, so it is safe to log.
type Error struct {
	Reason Reason
	Msg    string
}

func (e *Error) Error() string { return string(e.Reason) + ": " + e.Msg }

func errf(r Reason, format string, args ...any) *Error {
	return &Error{Reason: r, Msg: fmt.Sprintf(format, args...)}
}

// Limits on single fields, so that a hostile record cannot blow up keys in
// the state store. Identifier values are bounded by the normaliser.
const (
	maxEventIDBytes = 512
	maxNameBytes    = 128
	maxIDs          = 64
)

// Earliest and latest accepted event times: years 1 to 9999, the range that
// RFC 3339 can express, so every accepted ts can be written back out.
const (
	minTS = -62135596800000
	maxTS = 253402300799999
)

// Decoder decodes canonical events. The zero value accepts any channel and
// records of any size; configure it with NewDecoder.
type Decoder struct {
	maxBytes int
	channels []string
}

// NewDecoder returns a Decoder that rejects records over maxBytes (0 = no
// limit) and channels not in channels (empty = any).
func NewDecoder(maxBytes int, channels []string) *Decoder {
	return &Decoder{maxBytes: maxBytes, channels: slices.Clone(channels)}
}

type wire struct {
	EventID json.RawMessage `json:"event_id"`
	Channel json.RawMessage `json:"channel"`
	Type    json.RawMessage `json:"type"`
	TS      json.RawMessage `json:"ts"`
	IDs     json.RawMessage `json:"ids"`
	Props   json.RawMessage `json:"props"`
}

// Decode parses one record. The returned Event does not alias data.
func (d *Decoder) Decode(data []byte) (Event, error) {
	var ev Event
	if d.maxBytes > 0 && len(data) > d.maxBytes {
		return ev, errf(ReasonOversized, "record of %d bytes exceeds the limit of %d", len(data), d.maxBytes)
	}
	data = bytes.TrimSpace(data)
	if len(data) == 0 || data[0] != '{' {
		return ev, errf(ReasonMalformed, "not a JSON object")
	}
	var w wire
	if err := json.Unmarshal(data, &w); err != nil {
		return ev, errf(ReasonMalformed, "invalid JSON: %s", jsonErrMsg(err))
	}
	var err error
	if ev.ID, err = requiredString("event_id", w.EventID, maxEventIDBytes); err != nil {
		return ev, err
	}
	if ev.Channel, err = requiredString("channel", w.Channel, maxNameBytes); err != nil {
		return ev, err
	}
	if len(d.channels) > 0 && !slices.Contains(d.channels, ev.Channel) {
		return ev, errf(ReasonBadField, "channel %q is not configured", ev.Channel)
	}
	if ev.Type, err = requiredString("type", w.Type, maxNameBytes); err != nil {
		return ev, err
	}
	if ev.TS, err = parseTS(w.TS); err != nil {
		return ev, err
	}
	if ev.IDs, err = parseIDs(w.IDs); err != nil {
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

func isNull(raw json.RawMessage) bool {
	return len(raw) == 0 || string(raw) == "null"
}

func requiredString(field string, raw json.RawMessage, max int) (string, error) {
	if isNull(raw) {
		return "", errf(ReasonMissing, "missing required field %q", field)
	}
	if raw[0] != '"' {
		return "", errf(ReasonBadField, "field %q must be a string", field)
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return "", errf(ReasonBadField, "field %q: %s", field, jsonErrMsg(err))
	}
	s = strings.TrimSpace(s)
	if s == "" {
		return "", errf(ReasonMissing, "required field %q is empty", field)
	}
	if len(s) > max {
		return "", errf(ReasonBadField, "field %q is longer than %d bytes", field, max)
	}
	if !utf8.ValidString(s) || strings.IndexByte(s, 0) >= 0 {
		return "", errf(ReasonBadField, "field %q has invalid characters", field)
	}
	return s, nil
}

// parseTS accepts RFC 3339 with an optional fraction, or integer epoch
// milliseconds as a JSON number or a string of digits.
func parseTS(raw json.RawMessage) (int64, error) {
	if isNull(raw) {
		return 0, errf(ReasonMissing, "missing required field \"ts\"")
	}
	var s string
	if raw[0] == '"' {
		if err := json.Unmarshal(raw, &s); err != nil {
			return 0, errf(ReasonBadTS, "ts: %s", jsonErrMsg(err))
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
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return 0, errf(ReasonBadTS, "ts %s is neither RFC 3339 nor integer epoch milliseconds", quoteShort(s))
	}
	ms := t.UnixMilli()
	if ms < minTS || ms > maxTS {
		return 0, errf(ReasonBadTS, "ts %s is outside years 1 to 9999", quoteShort(s))
	}
	return ms, nil
}

func parseIDs(raw json.RawMessage) ([]ID, error) {
	if isNull(raw) {
		return nil, errf(ReasonMissing, "missing required field \"ids\"")
	}
	if raw[0] != '{' {
		return nil, errf(ReasonBadField, "field \"ids\" must be an object")
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, errf(ReasonBadField, "ids: %s", jsonErrMsg(err))
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
		case isNull(v):
			continue // an absent identifier, not an error
		case v[0] == '"':
			if err := json.Unmarshal(v, &val); err != nil {
				return nil, errf(ReasonBadField, "ids.%s: %s", typ, jsonErrMsg(err))
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

// jsonErrMsg strips the Go type names encoding/json puts into its messages,
// which mean nothing to a data engineer reading a dead letter.
func jsonErrMsg(err error) string {
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

// quoteShort quotes a value for an error message, cut so that a hostile
// record cannot make the message huge.
func quoteShort(s string) string {
	const max = 40
	if len(s) > max {
		s = s[:max] + "…"
	}
	return strconv.QuoteToASCII(s)
}

// FormatTS writes event time as RFC 3339 UTC with milliseconds, the form
// every output of the engine uses.
func FormatTS(ms int64) string {
	return time.UnixMilli(ms).UTC().Format("2006-01-02T15:04:05.000Z07:00")
}
