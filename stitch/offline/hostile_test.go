package offline_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/omnistitch/omnistitch/internal/config"
	"github.com/omnistitch/omnistitch/stitch/offline"
)

// Pathological lines through `omnistitch stitch`: each bad one becomes a
// deadletter line with its line number and reason, the good ones are
// stitched, and a 10 MiB line is skipped without being held in memory
// whole (the reader drops what is over input.max_event_bytes as it reads).
func TestHostileLinesOffline(t *testing.T) {
	ev := func(id, ts, ids, props string) string {
		return fmt.Sprintf(`{"event_id":%s,"channel":"web","type":"page_view","ts":%s,"ids":%s,"props":%s}`, id, ts, ids, props)
	}
	var many strings.Builder
	many.WriteString("{")
	for i := range 10000 {
		if i > 0 {
			many.WriteString(",")
		}
		fmt.Fprintf(&many, `"t%d":"v%d"`, i, i)
	}
	many.WriteString("}")
	cases := []struct {
		line   string
		reason string // "" = applied
	}{
		{ev(`"big"`, "1", `{"cookie":"ck-1"}`, `{"blob":"`+strings.Repeat("x", 10<<20)+`"}`), "oversized"},
		{ev(`"many"`, "1", many.String(), "{}"), "bad_field"},
		{ev(`"deep"`, "1", `{"cookie":"ck-1"}`, strings.Repeat(`[`, 100000)+strings.Repeat(`]`, 100000)), "malformed_json"},
		{ev(`"nul\u0000id"`, "1", `{"cookie":"ck-1"}`, "{}"), "bad_field"},
		{ev("\"bad-\xff\"", "1", `{"cookie":"ck-1"}`, "{}"), "bad_field"},
		{ev(`"nul-value"`, "1", `{"cookie":"ck-\u0000"}`, "{}"), "junk_ids"},
		{ev(`"year-1"`, `"0001-01-01T00:00:00Z"`, `{"cookie":"ck-1"}`, "{\"a\":\"\\u0000\xff\"}"), ""},
		{ev(`"year-9999"`, `"9999-12-31T23:59:59.999Z"`, `{"cookie":"ck-1"}`, "{}"), ""},
		{ev(`"year-10000"`, `"10000-01-01T00:00:00Z"`, `{"cookie":"ck-1"}`, "{}"), "bad_ts"},
		{ev(`"ms-overflow"`, "-9223372036854775809", `{"cookie":"ck-1"}`, "{}"), "bad_ts"},
	}
	var in strings.Builder
	for _, c := range cases {
		in.WriteString(c.line)
		in.WriteString("\n")
	}
	var out bytes.Buffer
	st, err := offline.Run(offline.Options{Config: config.Default()}, []offline.Input{{Name: "hostile.jsonl", R: strings.NewReader(in.String())}}, &out)
	if err != nil {
		t.Fatal(err)
	}
	dead := map[int]string{}
	var journey []string
	for _, l := range strings.Split(strings.TrimSpace(out.String()), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("output line is not JSON: %v", err)
		}
		switch m["kind"] {
		case "deadletter":
			dead[int(m["line"].(float64))] = m["reason"].(string)
			if len(l) > 400 {
				t.Errorf("dead letter of %d bytes: %.200s", len(l), l)
			}
		case "journey":
			journey = append(journey, m["event_id"].(string)+"@"+m["ts"].(string))
		}
	}
	applied := 0
	for i, c := range cases {
		if got := dead[i+1]; got != c.reason {
			t.Errorf("line %d: dead letter %q, want %q", i+1, got, c.reason)
		}
		if c.reason == "" {
			applied++
		}
	}
	if st.Applied != applied || st.DeadLetters != len(cases)-applied {
		t.Errorf("stats %+v", st)
	}
	if want := []string{"year-1@0001-01-01T00:00:00.000Z", "year-9999@9999-12-31T23:59:59.999Z"}; fmt.Sprint(journey) != fmt.Sprint(want) {
		t.Errorf("journey %v, want %v", journey, want)
	}
}
