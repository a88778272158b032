package offline_test

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/omnistitch/omnistitch/bench/gen"
	"github.com/omnistitch/omnistitch/stitch/offline"
)

// On realistic generated traffic (all personas, phone and e-mail variants,
// junk identifiers, shared store tablets, late uploads, redeliveries,
// malformed lines) the offline run keeps every valid event exactly once, in
// (ts, event_id) order per customer, dead-letters every invalid line, and
// groups events as perfect deterministic stitching would.
func TestAccuracyOnGeneratedTraffic(t *testing.T) {
	for _, o := range []gen.Options{
		{Seed: 1, Customers: 300},
		{Seed: 7, Customers: 2000, MalformedShare: 0.02, DuplicateShare: 0.03, LateShare: 0.2},
	} {
		recs := gen.All(o)
		var in bytes.Buffer
		for _, r := range recs {
			in.Write(r.Line)
			in.WriteByte('\n')
		}
		var out bytes.Buffer
		st, err := offline.Run(offline.Options{}, []offline.Input{{R: &in}}, &out)
		if err != nil {
			t.Fatal(err)
		}

		pred := map[string]string{}
		dead := map[int]bool{}
		type last struct {
			ts  string
			eid string
		}
		prev := map[string]last{}
		for _, line := range strings.Split(strings.TrimSpace(out.String()), "\n") {
			var l struct {
				Kind, CustomerID, EventID, TS string
				Line                          int
			}
			var raw map[string]any
			if err := json.Unmarshal([]byte(line), &raw); err != nil {
				t.Fatalf("bad output line %s", line)
			}
			l.Kind, _ = raw["kind"].(string)
			l.CustomerID, _ = raw["customer_id"].(string)
			l.EventID, _ = raw["event_id"].(string)
			l.TS, _ = raw["ts"].(string)
			if f, ok := raw["line"].(float64); ok {
				l.Line = int(f)
			}
			switch l.Kind {
			case "journey":
				if _, dup := pred[l.EventID]; dup {
					t.Fatalf("event %s listed twice", l.EventID)
				}
				pred[l.EventID] = l.CustomerID
				if p, ok := prev[l.CustomerID]; ok && (l.TS < p.ts || (l.TS == p.ts && l.EventID <= p.eid)) {
					t.Fatalf("journey of %s out of (ts, event_id) order at %s", l.CustomerID, l.EventID)
				}
				prev[l.CustomerID] = last{l.TS, l.EventID}
			case "deadletter":
				dead[l.Line] = true
			}
		}
		valid := 0
		for i, r := range recs {
			switch {
			case !r.Valid:
				if !dead[i+1] {
					t.Errorf("invalid line %d was not dead-lettered: %s", i+1, r.Line)
				}
			case r.Dup:
				if dead[i+1] {
					t.Errorf("duplicate line %d was dead-lettered", i+1)
				}
			default:
				valid++
				if _, ok := pred[r.EventID]; !ok {
					t.Errorf("valid event %s (line %d) is missing from the journeys", r.EventID, i+1)
				}
				if dead[i+1] {
					t.Errorf("valid line %d was dead-lettered", i+1)
				}
			}
		}
		if len(pred) != valid {
			t.Errorf("journeys list %d events, want the %d valid ones", len(pred), valid)
		}
		p, r, f1 := gen.Score(recs, pred)
		t.Logf("seed %d, %d customers: %d lines, %d events, %d duplicates, %d dead letters, %d customers (truth %d), %d merges, %d conflicts; precision %.4f recall %.4f F1 %.4f",
			o.Seed, o.Customers, st.Lines, st.Applied, st.Duplicates, st.DeadLetters, st.Customers, o.Customers, st.Merges, st.Conflicts, p, r, f1)
		if f1 < 0.99 {
			t.Errorf("F1 %.4f < 0.99 (precision %.4f, recall %.4f)", f1, p, r)
		}
	}
}
