package stitch

import (
	"encoding/json"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/omnistitch/omnistitch/state"
	"github.com/omnistitch/omnistitch/stitch/event"
)

// AppendTriggerJSON appends the trigger's message (see TriggerMessage) as
// JSON, byte for byte what encoding/json makes of MessageOf(g), without
// its reflection and map sorting: at a trigger every few events, that was
// a tenth of the service's consume loop.
func AppendTriggerJSON(b []byte, g *state.Trigger) []byte {
	b = append(b, `{"trigger_id":`...)
	b = appendJSONString(b, g.ID)
	b = append(b, `,"rule":`...)
	b = appendJSONString(b, g.Rule)
	b = append(b, `,"customer_id":`...)
	b = appendJSONString(b, g.Customer)
	b = append(b, `,"fired_at":`...)
	b = appendJSONString(b, event.FormatTS(g.FiredAt))
	b = append(b, `,"ids":{`...)
	var typesBuf [8]string
	types := typesBuf[:0]
	for _, k := range g.IDs {
		typ, _, _ := strings.Cut(k, ":")
		if !slices.Contains(types, typ) {
			types = append(types, typ)
		}
	}
	slices.Sort(types)
	for i, typ := range types {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendJSONString(b, typ)
		b = append(b, ":["...)
		n := 0
		for _, k := range g.IDs {
			if t, v, _ := strings.Cut(k, ":"); t == typ {
				if n > 0 {
					b = append(b, ',')
				}
				b = appendJSONString(b, v)
				n++
			}
		}
		b = append(b, ']')
	}
	b = append(b, `},"stage":`...)
	b = appendJSONString(b, g.Stage)
	b = append(b, `,"event_ids":`...)
	if g.EventIDs == nil {
		b = append(b, "null"...)
	} else {
		b = append(b, '[')
		for i, id := range g.EventIDs {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendJSONString(b, id)
		}
		b = append(b, ']')
	}
	return append(b, `,"props":{}}`...)
}

// appendJSONString appends s quoted as encoding/json quotes it. Ids are
// plain ASCII almost always; anything else (escapes, HTML characters,
// non-ASCII, invalid UTF-8) is left to encoding/json itself, so that the
// output stays identical.
func appendJSONString(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= utf8.RuneSelf || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			q, _ := json.Marshal(s) // a string always marshals
			return append(b, q...)
		}
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"')
}
