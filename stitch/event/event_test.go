package event

import (
	"errors"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestDecode(t *testing.T) {
	d := NewDecoder(1<<10, []string{"web", "store", "callcentre", "email"})
	ok := func(line string, want Event) {
		t.Helper()
		got, err := d.Decode([]byte(line))
		if err != nil {
			t.Fatalf("Decode(%s): %v", line, err)
		}
		if got.ID != want.ID || got.Channel != want.Channel || got.Type != want.Type || got.TS != want.TS ||
			string(got.Props) != string(want.Props) || len(got.IDs) != len(want.IDs) {
			t.Fatalf("Decode(%s)\n got %+v\nwant %+v", line, got, want)
		}
		for i := range got.IDs {
			if got.IDs[i] != want.IDs[i] {
				t.Fatalf("Decode(%s): ids %v, want %v", line, got.IDs, want.IDs)
			}
		}
	}
	ok(`{"event_id": "pos-S12-000913", "channel": "store", "type": "purchase", "ts": "2026-11-20T10:00:00.123Z",
	     "ids": {"loyalty": "LC-0001", "phone": "+49 30 1234567"}, "props": {"store_id": "S12", "total": 59.90}}`,
		Event{ID: "pos-S12-000913", Channel: "store", Type: "purchase", TS: 1795168800123,
			IDs:   []ID{{"loyalty", "LC-0001"}, {"phone", "+49 30 1234567"}},
			Props: []byte(`{"store_id": "S12", "total": 59.90}`)})
	ok(`{"event_id":"a","channel":"web","type":"page_view","ts":1795168800123,"ids":{"cookie":"x"}}`,
		Event{ID: "a", Channel: "web", Type: "page_view", TS: 1795168800123, IDs: []ID{{"cookie", "x"}}})
	ok(`{"event_id":"a","channel":"web","type":"page_view","ts":"1795168800123","ids":{"loyalty":12345,"email":null},"props":null}`,
		Event{ID: "a", Channel: "web", Type: "page_view", TS: 1795168800123, IDs: []ID{{"loyalty", "12345"}}})
	ok(`{"event_id":"a","channel":"web","type":"page_view","ts":"2026-11-20T11:00:00+01:00","ids":{"cookie":"x"},"extra":[1]}`,
		Event{ID: "a", Channel: "web", Type: "page_view", TS: 1795168800000, IDs: []ID{{"cookie", "x"}}})
	ok(`{"event_id":"a","channel":"web","type":"t","ts":"0001-01-01T00:00:00Z","ids":{"cookie":"x"}}`,
		Event{ID: "a", Channel: "web", Type: "t", TS: minTS, IDs: []ID{{"cookie", "x"}}})
	ok(`{"event_id":"a","channel":"web","type":"t","ts":"9999-12-31T23:59:59.999999999Z","ids":{"cookie":"x"}}`,
		Event{ID: "a", Channel: "web", Type: "t", TS: maxTS, IDs: []ID{{"cookie", "x"}}})

	bad := func(line string, reason Reason, msg string) {
		t.Helper()
		_, err := d.Decode([]byte(line))
		var e *Error
		if !errors.As(err, &e) {
			t.Fatalf("Decode(%s) = %v, want *Error", line, err)
		}
		if e.Reason != reason || !strings.Contains(e.Msg, msg) {
			t.Fatalf("Decode(%s) = %v, want %s containing %q", line, e, reason, msg)
		}
	}
	bad(`not json`, ReasonMalformed, "not a JSON object")
	bad(`{"event_id":"a",`, ReasonMalformed, "invalid JSON")
	bad(`[1,2]`, ReasonMalformed, "not a JSON object")
	bad(`{"channel":"web","type":"t","ts":1,"ids":{"cookie":"x"}}`, ReasonMissing, `"event_id"`)
	bad(`{"event_id":"  ","channel":"web","type":"t","ts":1,"ids":{"cookie":"x"}}`, ReasonMissing, `"event_id"`)
	bad(`{"event_id":7,"channel":"web","type":"t","ts":1,"ids":{"cookie":"x"}}`, ReasonBadField, `"event_id" must be a string`)
	bad(`{"event_id":"a","type":"t","ts":1,"ids":{"cookie":"x"}}`, ReasonMissing, `"channel"`)
	bad(`{"event_id":"a","channel":"fax","type":"t","ts":1,"ids":{"cookie":"x"}}`, ReasonBadField, `channel "fax" is not configured`)
	bad(`{"event_id":"a","channel":"web","ts":1,"ids":{"cookie":"x"}}`, ReasonMissing, `"type"`)
	bad(`{"event_id":"a","channel":"web","type":"t","ids":{"cookie":"x"}}`, ReasonMissing, `"ts"`)
	bad(`{"event_id":"a","channel":"web","type":"t","ts":"yesterday","ids":{"cookie":"x"}}`, ReasonBadTS, "neither RFC 3339")
	bad(`{"event_id":"a","channel":"web","type":"t","ts":1.5,"ids":{"cookie":"x"}}`, ReasonBadTS, "neither RFC 3339")
	bad(`{"event_id":"a","channel":"web","type":"t","ts":99999999999999999,"ids":{"cookie":"x"}}`, ReasonBadTS, "outside years")
	bad(`{"event_id":"a","channel":"web","type":"t","ts":true,"ids":{"cookie":"x"}}`, ReasonBadTS, "neither RFC 3339")
	bad(`{"event_id":"a","channel":"web","type":"t","ts":1}`, ReasonMissing, `"ids"`)
	bad(`{"event_id":"a","channel":"web","type":"t","ts":1,"ids":[]}`, ReasonBadField, `"ids" must be an object`)
	bad(`{"event_id":"a","channel":"web","type":"t","ts":1,"ids":{}}`, ReasonJunkIDs, "empty")
	bad(`{"event_id":"a","channel":"web","type":"t","ts":1,"ids":{"cookie":{"a":1}}}`, ReasonBadField, "ids.cookie must be a string")
	bad(`{"event_id":"a","channel":"web","type":"t","ts":1,"ids":{"cookie":"x"},"props":[1]}`, ReasonBadField, "props must be a JSON object")
	bad(`{"event_id":"a","channel":"web","type":"t","ts":1,"ids":{"cookie":"x"},"props":"`+strings.Repeat("x", 2000)+`"}`, ReasonOversized, "exceeds")
	bad("{\"event_id\":\"a\x00b\",\"channel\":\"web\",\"type\":\"t\",\"ts\":1,\"ids\":{\"cookie\":\"x\"}}", ReasonMalformed, "invalid JSON")
	bad(`{"event_id":"a\u0000b","channel":"web","type":"t","ts":1,"ids":{"cookie":"x"}}`, ReasonBadField, "invalid characters")
}

func TestFormatTS(t *testing.T) {
	for _, ms := range []int64{0, 1795168800123, minTS, maxTS, -1} {
		s := FormatTS(ms)
		got, err := parseTS([]byte(`"` + s + `"`))
		if err != nil || got != ms {
			t.Fatalf("FormatTS(%d) = %s, parses back to %d, %v", ms, s, got, err)
		}
	}
	if s := FormatTS(1795168800123); s != "2026-11-20T10:00:00.123Z" {
		t.Fatalf("FormatTS = %s", s)
	}
}

// FuzzDecode: any input gives an event or an *Error, never a panic; an
// accepted event has every required field, a ts that formats and parses
// back, and valid UTF-8 names.
func FuzzDecode(f *testing.F) {
	f.Add([]byte(`{"event_id":"pos-S12-000913","channel":"store","type":"purchase","ts":"2026-11-20T10:00:00.123Z","ids":{"loyalty":"LC-0001","phone":"+49 30 1234567"},"props":{"store_id":"S12","total":59.90}}`))
	f.Add([]byte(`{"event_id":"a","channel":"web","type":"t","ts":1795168800123,"ids":{"cookie":"x","loyalty":123}}`))
	f.Add([]byte(`{"event_id":"a","channel":"web","type":"t","ts":"9999-12-31T23:59:59Z","ids":{"cookie":null},"props":{}}`))
	f.Add([]byte(`{"event_id":"a","ts":"yesterday"}`))
	f.Add([]byte("{\"event_id\":\"\xff\",\"channel\":\"web\"}"))
	f.Add([]byte(`{}`))
	d := NewDecoder(1<<12, nil)
	f.Fuzz(func(t *testing.T, data []byte) {
		ev, err := d.Decode(data)
		if err != nil {
			var e *Error
			if !errors.As(err, &e) || e.Reason == "" {
				t.Fatalf("error %v is not a classified *Error", err)
			}
			return
		}
		if ev.ID == "" || ev.Channel == "" || ev.Type == "" || len(ev.IDs) == 0 {
			t.Fatalf("accepted event with an empty required field: %+v", ev)
		}
		if !utf8.ValidString(ev.ID) || !utf8.ValidString(ev.Channel) || !utf8.ValidString(ev.Type) {
			t.Fatalf("accepted invalid UTF-8: %+v", ev)
		}
		if ts, err := parseTS([]byte(`"` + FormatTS(ev.TS) + `"`)); err != nil || ts != ev.TS {
			t.Fatalf("ts %d does not round-trip: %v", ev.TS, err)
		}
		if ev.Props != nil && ev.Props[0] != '{' {
			t.Fatalf("props not an object: %s", ev.Props)
		}
	})
}

func BenchmarkDecode(b *testing.B) {
	line := []byte(`{"event_id":"pos-S12-000913","channel":"store","type":"purchase","ts":"2026-11-20T10:00:00.123Z","ids":{"loyalty":"LC-0001","phone":"+49 30 1234567"},"props":{"store_id":"S12","total":59.90}}`)
	d := NewDecoder(1<<20, []string{"web", "store", "callcentre", "email"})
	b.SetBytes(int64(len(line)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := d.Decode(line); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
}
