package source

import (
	"bytes"
	"encoding/json"
	"errors"
	"testing"

	"github.com/omnistitch/omnistitch/stitch/event"
)

// FuzzMap: whatever the bytes, each default mapping either writes a line that
// is valid JSON and that the canonical decoder accepts or rejects with a
// reason other than malformed_json, or returns an *event.Error with one of
// Map's reasons; it never panics. Map's JSON validation agrees with
// encoding/json's: a record is malformed exactly when json.Valid says so.
func FuzzMap(f *testing.F) {
	for _, ch := range []string{"web", "store", "callcentre", "email"} {
		for _, l := range sampleLines(f, ch) {
			f.Add(l)
		}
	}
	f.Add([]byte(`{"messageId":1,"timestamp":"2026-11-20T10:00:00Z","type":"page","anonymousId":2,"properties":{"a":{"b":[1,2,{"c":null}]}}}`))
	f.Add([]byte(`{"call_id":"x","started_at":-1e3,"reason":"complaint","complaint":{"category":"\u0000"}}`))
	ms := Default()
	dec := event.NewDecoder(0, nil)
	f.Fuzz(func(t *testing.T, raw []byte) {
		for _, m := range ms {
			out, err := m.Map(raw, nil)
			if err != nil {
				var e *event.Error
				if !errors.As(err, &e) {
					t.Fatalf("%s: error %T is not an *event.Error", m.Name(), err)
				}
				switch e.Reason {
				case event.ReasonMissing, event.ReasonBadField, event.ReasonBadTS:
					if !json.Valid(raw) {
						t.Fatalf("%s: invalid JSON reported as %v", m.Name(), err)
					}
				case event.ReasonMalformed:
					trimmed := bytes.TrimLeft(raw, " \t\r\n")
					if json.Valid(raw) && len(trimmed) > 0 && trimmed[0] == '{' && len(raw) < 10000 {
						t.Fatalf("%s: valid JSON object reported as %v", m.Name(), err)
					}
				default:
					t.Fatalf("%s: unexpected reason in %v", m.Name(), err)
				}
				if out != nil {
					t.Fatalf("%s: output on error", m.Name())
				}
				continue
			}
			if !json.Valid(raw) {
				t.Fatalf("%s: mapped invalid JSON %q", m.Name(), raw)
			}
			if !json.Valid(out) {
				t.Fatalf("%s: wrote invalid JSON %s", m.Name(), out)
			}
			if _, derr := dec.Decode(out); derr != nil {
				var e *event.Error
				if !errors.As(derr, &e) || e.Reason == event.ReasonMalformed || e.Reason == event.ReasonOversized {
					t.Fatalf("%s: mapped line rejected: %v\n%s", m.Name(), derr, out)
				}
			}
		}
	})
}
