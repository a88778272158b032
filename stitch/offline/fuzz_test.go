package offline_test

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/omnistitch/omnistitch/stitch/offline"
)

// FuzzStitch: whatever the input, a run succeeds, writes only JSON lines,
// and accounts for every non-blank line exactly once: applied, dropped as a
// duplicate, or dead-lettered.
func FuzzStitch(f *testing.F) {
	f.Add([]byte(`{"event_id":"w1","channel":"web","type":"page_view","ts":"2026-11-20T10:00:00Z","ids":{"cookie":"ck1"}}
{"event_id":"w2","channel":"web","type":"login","ts":"2026-11-20T10:01:00Z","ids":{"cookie":"ck1","user":"u1","email":" A@B.com"}}
{"event_id":"s1","channel":"store","type":"purchase","ts":1795168800000,"ids":{"loyalty":"LC-1","phone":"030 1234567"},"props":{"total":"59.90"}}
{"event_id":"w1","channel":"web","type":"page_view","ts":"2026-11-20T10:00:00Z","ids":{"cookie":"ck1"}}
not json`))
	f.Add([]byte("{\"event_id\":\"a\",\"channel\":\"store\",\"type\":\"t\",\"ts\":1,\"ids\":{\"device\":\"tab\",\"phone\":\"+49 30 1000001\"}}\n" +
		"{\"event_id\":\"b\",\"channel\":\"store\",\"type\":\"t\",\"ts\":2,\"ids\":{\"device\":\"tab\",\"phone\":\"+49 30 1000002\"}}\n" +
		"{\"event_id\":\"c\",\"channel\":\"store\",\"type\":\"t\",\"ts\":3,\"ids\":{\"device\":\"tab\",\"phone\":\"+49 30 1000003\"}}\n" +
		"{\"event_id\":\"d\",\"channel\":\"store\",\"type\":\"t\",\"ts\":4,\"ids\":{\"device\":\"tab\",\"phone\":\"+49 30 1000004\"}}\n"))
	f.Add([]byte("\x00\xff{}\n\n{\"ids\":null}"))
	f.Fuzz(func(t *testing.T, in []byte) {
		var out bytes.Buffer
		st, err := offline.Run(offline.Options{BatchSize: 2}, []offline.Input{{R: bytes.NewReader(in)}}, &out)
		if err != nil {
			t.Fatalf("run failed: %v", err)
		}
		if st.Applied+st.Duplicates+st.DeadLetters != st.Lines {
			t.Fatalf("%d lines but %d applied + %d duplicates + %d dead letters", st.Lines, st.Applied, st.Duplicates, st.DeadLetters)
		}
		journeys := 0
		for _, l := range strings.Split(strings.TrimSpace(out.String()), "\n") {
			if l == "" {
				continue
			}
			var v map[string]any
			if err := json.Unmarshal([]byte(l), &v); err != nil {
				t.Fatalf("output line is not JSON: %q", l)
			}
			if v["kind"] == "journey" {
				journeys++
			}
		}
		if journeys != st.Applied {
			t.Fatalf("%d journey rows for %d applied events", journeys, st.Applied)
		}
	})
}
