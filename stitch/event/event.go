// Package event decodes and validates canonical events (SPEC "Canonical event").
//
// Decoding is strict about the required fields and lenient about what does not
// matter for stitching: unknown top-level fields are ignored, identifier values
// may be JSON strings or numbers, and props are kept verbatim.
package event

import (
	"bytes"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/omnistitch/omnistitch/internal/jsonlex"
	"github.com/omnistitch/omnistitch/internal/timestamp"
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
	minTS = timestamp.MinMillis
	maxTS = timestamp.MaxMillis
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

// Decode parses one record. The returned Event does not alias data.
//
// It is a single pass over the bytes (see scan.go) that accepts and rejects
// exactly what the former encoding/json implementation did and returns the
// same Event: white space around the record (any Unicode white space, as
// bytes.TrimSpace) is ignored; the record must be one JSON object, valid as
// a whole; later duplicates of a field win; field names match exactly or
// case-insensitively; unknown fields are ignored whatever their value.
func (d *Decoder) Decode(data []byte) (Event, error) {
	var ev Event
	if d.maxBytes > 0 && len(data) > d.maxBytes {
		return ev, errf(ReasonOversized, "record of %d bytes exceeds the limit of %d", len(data), d.maxBytes)
	}
	rec := bytes.TrimSpace(data)
	if len(rec) == 0 || rec[0] != '{' {
		return ev, errf(ReasonMalformed, "not a JSON object")
	}
	s := scanner{data: rec}
	var f [numFields]span
	if !s.object(&f) {
		lead := len(data) - len(bytes.TrimLeftFunc(data, unicode.IsSpace))
		return ev, errf(ReasonMalformed, "invalid JSON: %s", s.message(lead))
	}

	var buf [128]byte // scratch for unescaping the short string fields
	v, e := stringField(rec[f[fEventID].start:f[fEventID].end], "event_id", maxEventIDBytes, buf[:0])
	if e != nil {
		return ev, e
	}
	ev.ID = string(v)

	if v, e = stringField(rec[f[fChannel].start:f[fChannel].end], "channel", maxNameBytes, buf[:0]); e != nil {
		return ev, e
	}
	if len(d.channels) > 0 {
		for _, c := range d.channels {
			if string(v) == c {
				ev.Channel = c
				break
			}
		}
		if ev.Channel == "" {
			ev.Channel = string(v)
			return ev, errf(ReasonBadField, "channel %q is not configured", ev.Channel)
		}
	} else {
		ev.Channel = intern(v)
	}

	if v, e = stringField(rec[f[fType].start:f[fType].end], "type", maxNameBytes, buf[:0]); e != nil {
		return ev, e
	}
	ev.Type = intern(v)

	var err error
	if ev.TS, err = parseTS(rec[f[fTS].start:f[fTS].end]); err != nil {
		return ev, err
	}
	if ev.IDs, e = parseIDs(rec[f[fIDs].start:f[fIDs].end]); e != nil {
		return ev, e
	}
	if p := rec[f[fProps].start:f[fProps].end]; !isNull(p) {
		if p[0] != '{' {
			return ev, errf(ReasonBadField, "props must be a JSON object")
		}
		ev.Props = bytes.Clone(p)
	}
	return ev, nil
}

// isNull reports whether a field's raw value is absent or null.
func isNull(raw []byte) bool {
	return len(raw) == 0 || string(raw) == "null"
}

// stringField returns the value of a required string field from its raw
// JSON value: unescaped (into buf when needed) and trimmed of white space.
func stringField(raw []byte, field string, max int, buf []byte) ([]byte, *Error) {
	if isNull(raw) {
		return nil, errf(ReasonMissing, "missing required field %q", field)
	}
	if raw[0] != '"' {
		return nil, errf(ReasonBadField, "field %q must be a string", field)
	}
	v := bytes.TrimSpace(unquote(buf, raw))
	if len(v) == 0 {
		return nil, errf(ReasonMissing, "required field %q is empty", field)
	}
	if len(v) > max {
		return nil, errf(ReasonBadField, "field %q is longer than %d bytes", field, max)
	}
	// Invalid UTF-8 is refused, not replaced by U+FFFD as elsewhere: two
	// event ids differing only in invalid bytes would become one, and the
	// second event would be dropped as a duplicate. NUL (from \u0000)
	// would break the state keys that use 0x00 as a separator.
	if bytes.IndexByte(v, 0) >= 0 || !utf8.Valid(raw) {
		return nil, errf(ReasonBadField, "field %q has invalid characters", field)
	}
	return v, nil
}

// intern returns v as a string, without allocating for the usual channel,
// event type and identifier type names (SPEC "Canonical event").
func intern(v []byte) string {
	switch string(v) {
	case "web":
		return "web"
	case "store":
		return "store"
	case "callcentre":
		return "callcentre"
	case "email":
		return "email"
	case "page_view":
		return "page_view"
	case "product_view":
		return "product_view"
	case "add_to_cart":
		return "add_to_cart"
	case "checkout":
		return "checkout"
	case "purchase":
		return "purchase"
	case "call":
		return "call"
	case "complaint":
		return "complaint"
	case "email_sent":
		return "email_sent"
	case "email_open":
		return "email_open"
	case "email_click":
		return "email_click"
	case "login":
		return "login"
	case "signup":
		return "signup"
	case "survey_response":
		return "survey_response"
	case "cookie":
		return "cookie"
	case "device":
		return "device"
	case "user":
		return "user"
	case "phone":
		return "phone"
	case "loyalty":
		return "loyalty"
	case "crm":
		return "crm"
	}
	return string(v)
}

// parseTS accepts RFC 3339 with an optional fraction, or integer epoch
// milliseconds as a JSON number or a string of digits. raw is the field's
// JSON value (empty when absent).
func parseTS(raw []byte) (int64, error) {
	if isNull(raw) {
		return 0, errf(ReasonMissing, "missing required field \"ts\"")
	}
	s := raw
	if raw[0] == '"' {
		var buf [64]byte
		s = bytes.TrimSpace(unquote(buf[:0], raw))
	}
	if ms, ok := parseInt(s); ok {
		if ms < minTS || ms > maxTS {
			return 0, errf(ReasonBadTS, "ts %d is outside years 1 to 9999", ms)
		}
		return ms, nil
	}
	ms, ok := parseRFC3339(s)
	if !ok {
		// Not the common form: time.Parse decides, as it always did.
		t, err := time.Parse(time.RFC3339Nano, string(s))
		if err != nil {
			return 0, errf(ReasonBadTS, "ts %s is neither RFC 3339 nor integer epoch milliseconds", quoteShort(string(s)))
		}
		ms = t.UnixMilli()
	}
	if ms < minTS || ms > maxTS {
		return 0, errf(ReasonBadTS, "ts %s is outside years 1 to 9999", quoteShort(string(s)))
	}
	return ms, nil
}

// parseInt is strconv.ParseInt(s, 10, 64) without the allocations: an
// optional sign and at least one digit, and no more than int64 holds.
func parseInt(s []byte) (int64, bool) {
	i := 0
	if len(s) > 0 && (s[0] == '+' || s[0] == '-') {
		i = 1
	}
	if i == len(s) {
		return 0, false
	}
	for _, c := range s[i:] {
		if !isDigit(c) {
			return 0, false
		}
	}
	if len(s)-i > 18 { // might not fit: let strconv judge
		n, err := strconv.ParseInt(string(s), 10, 64)
		return n, err == nil
	}
	var n int64
	for _, c := range s[i:] {
		n = n*10 + int64(c-'0')
	}
	if s[0] == '-' {
		n = -n
	}
	return n, true
}

// parseRFC3339 is the fast path of time.Parse(time.RFC3339Nano, s),
// returning Unix milliseconds without allocating: when it reports ok,
// time.Parse gives the same instant; when it does not, only time.Parse can
// tell.
func parseRFC3339(s []byte) (ms int64, ok bool) { return timestamp.ParseRFC3339(s) }

// parseIDs decodes the ids object from its raw JSON value (already
// validated by the scanner). Like a Go map it keeps the last value of a
// repeated type; null values count as present for the limits but yield no
// ID. The result is sorted by type.
func parseIDs(raw []byte) ([]ID, *Error) {
	if isNull(raw) {
		return nil, errf(ReasonMissing, "missing required field \"ids\"")
	}
	if raw[0] != '{' {
		return nil, errf(ReasonBadField, "field \"ids\" must be an object")
	}
	type entry struct{ typ, val []byte }
	var ents [maxIDs]entry
	n := 0
	s := scanner{data: raw}
	i := skipWS(raw, 1)
	for raw[i] == '"' {
		ke, ok := jsonlex.String(raw, i)
		if !ok {
			return nil, errf(ReasonMalformed, "invalid JSON in ids") // not reached: validated
		}
		typ := unquote(nil, raw[i:ke]) // allocates only for escaped or invalid UTF-8 types
		i = skipWS(raw, skipWS(raw, ke)+1)
		vs := i
		if i = s.value(i, 2); i < 0 {
			return nil, errf(ReasonMalformed, "invalid JSON in ids") // not reached: validated
		}
		k := 0
		for k < n && !bytes.Equal(ents[k].typ, typ) {
			k++
		}
		if k == maxIDs {
			return nil, errf(ReasonBadField, "ids has more than %d identifiers", maxIDs)
		}
		if k == n {
			n++
		}
		ents[k] = entry{typ, raw[vs:i]}
		if i = skipWS(raw, i); raw[i] != ',' {
			break
		}
		i = skipWS(raw, i+1)
	}
	if n == 0 {
		return nil, errf(ReasonJunkIDs, "ids is empty")
	}
	values := 0
	for _, e := range ents[:n] {
		if len(e.typ) > maxNameBytes || !utf8.Valid(e.typ) {
			return nil, errf(ReasonBadField, "ids has an invalid identifier type")
		}
		switch c := e.val[0]; {
		case c == 'n': // null: an absent identifier, not an error
		case c == '"' || c == '-' || isDigit(c):
			values++
		default:
			return nil, errf(ReasonBadField, "ids.%s must be a string or a number", e.typ)
		}
	}
	if values == 0 {
		return nil, errf(ReasonJunkIDs, "ids has no values")
	}
	ids := make([]ID, 0, values)
	var buf [128]byte
	for _, e := range ents[:n] {
		var val string
		switch e.val[0] {
		case 'n':
			continue
		case '"':
			val = string(unquote(buf[:0], e.val))
		default:
			val = string(e.val) // numeric ids (loyalty numbers) keep their literal text
		}
		ids = append(ids, ID{Type: intern(e.typ), Value: val})
	}
	slices.SortFunc(ids, func(a, b ID) int { return strings.Compare(a.Type, b.Type) })
	return ids, nil
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
