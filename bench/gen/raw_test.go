package gen

import (
	"bytes"
	"encoding/json"
	"reflect"
	"testing"

	"github.com/omnistitch/omnistitch/pipeline/source"
	canon "github.com/omnistitch/omnistitch/stitch/event"
)

func mappingsByTopic(t testing.TB) map[string]*source.Mapping {
	ms := map[string]*source.Mapping{}
	for _, m := range source.Default() {
		ms[m.Topic()] = m
	}
	for _, topic := range []string{TopicWeb, TopicStore, TopicCallcentre, TopicEmail} {
		if ms[topic] == nil {
			t.Fatalf("no default mapping for %s", topic)
		}
	}
	return ms
}

// sameEvent compares events field by field, props as parsed JSON (the
// mapping may order members differently).
func sameEvent(a, b canon.Event) bool {
	if a.ID != b.ID || a.Channel != b.Channel || a.Type != b.Type || a.TS != b.TS || !reflect.DeepEqual(a.IDs, b.IDs) {
		return false
	}
	if (a.Props == nil) != (b.Props == nil) {
		return false
	}
	if a.Props == nil {
		return true
	}
	var pa, pb any
	if json.Unmarshal(a.Props, &pa) != nil || json.Unmarshal(b.Props, &pb) != nil {
		return false
	}
	return reflect.DeepEqual(pa, pb)
}

// TestRawLineRoundTrip: for every valid generator line, the raw record maps
// back (with the default mappings) to the event the canonical line decodes
// to; only a small share has no raw form and goes to omni.events.
func TestRawLineRoundTrip(t *testing.T) {
	ms := mappingsByTopic(t)
	dec := canon.NewDecoder(0, nil)
	recs := All(Options{Seed: 1, Customers: 300})
	perTopic := map[string]int{}
	valid, canonical := 0, 0
	var buf []byte
	for _, rec := range recs {
		if !rec.Valid {
			continue
		}
		valid++
		want, err := dec.Decode(rec.Line)
		if err != nil {
			t.Fatalf("generator line does not decode: %v\n%s", err, rec.Line)
		}
		topic, raw, err := RawLine(rec.Line)
		if err != nil {
			t.Fatalf("RawLine: %v\n%s", err, rec.Line)
		}
		perTopic[topic]++
		if topic == TopicCanonical {
			canonical++
			if !bytes.Equal(raw, rec.Line) {
				t.Fatalf("a line for omni.events must be the canonical line unchanged\n%s\n%s", rec.Line, raw)
			}
			continue
		}
		if want.Channel != map[string]string{TopicWeb: "web", TopicStore: "store", TopicCallcentre: "callcentre", TopicEmail: "email"}[topic] {
			t.Fatalf("channel %s sent to %s", want.Channel, topic)
		}
		buf, err = ms[topic].Map(raw, buf[:0])
		if err != nil {
			t.Fatalf("raw record does not map: %v\ncanonical: %s\nraw:       %s", err, rec.Line, raw)
		}
		got, err := dec.Decode(buf)
		if err != nil {
			t.Fatalf("mapped line does not decode: %v\nmapped: %s", err, buf)
		}
		if !sameEvent(got, want) {
			t.Fatalf("round trip changed the event\ncanonical: %s\nraw:       %s\nmapped:    %s\nwant %+v\ngot  %+v",
				rec.Line, raw, buf, want, got)
		}
	}
	t.Logf("%d valid lines: %v", valid, perTopic)
	if valid < 4000 {
		t.Fatalf("only %d valid lines", valid)
	}
	if share := float64(canonical) / float64(valid); share >= 0.05 {
		t.Fatalf("%d of %d valid lines (%.1f%%) went to omni.events as canonical; want < 5%%", canonical, valid, 100*share)
	}
	for _, topic := range []string{TopicWeb, TopicStore, TopicCallcentre, TopicEmail} {
		if perTopic[topic] < valid/50 {
			t.Errorf("only %d lines on %s", perTopic[topic], topic)
		}
	}
}

// TestRawLineInvalid: lines that do not decode reach the service unchanged,
// on their channel's raw topic when it can be told, where the mapping
// rejects them with a reason (they must be dead-lettered, never dropped).
func TestRawLineInvalid(t *testing.T) {
	ms := mappingsByTopic(t)
	dec := canon.NewDecoder(0, nil)
	n := 0
	perTopic := map[string]int{}
	for _, rec := range All(Options{Seed: 2, Customers: 300, MalformedShare: 0.05}) {
		if rec.Valid {
			continue
		}
		topic, raw, err := RawLine(rec.Line)
		if err != nil {
			t.Fatal(err)
		}
		perTopic[topic]++
		if _, derr := dec.Decode(rec.Line); derr != nil {
			n++
			if !bytes.Equal(raw, rec.Line) {
				t.Fatalf("an undecodable line must pass unchanged\n%s\n%s", rec.Line, raw)
			}
		}
		if topic == TopicCanonical {
			continue // the canonical decoder (or, for junk ids, the engine) rejects it there
		}
		out, err := ms[topic].Map(raw, nil)
		if err == nil {
			// Rendered lines with only junk identifiers map; the engine rejects them.
			if _, derr := dec.Decode(out); derr == nil {
				if _, cerr := dec.Decode(rec.Line); cerr != nil {
					t.Fatalf("a malformed line maps to a valid event on %s\n%s\n%s", topic, rec.Line, out)
				}
			}
			continue
		}
		if _, ok := err.(*canon.Error); !ok {
			t.Fatalf("Map error %T %v is not an *event.Error", err, err)
		}
	}
	if n < 50 {
		t.Fatalf("only %d undecodable lines", n)
	}
	for _, topic := range []string{TopicWeb, TopicStore, TopicCallcentre, TopicEmail} {
		if perTopic[topic] == 0 {
			t.Errorf("no malformed traffic on %s: %v", topic, perTopic)
		}
	}
	t.Logf("invalid lines per topic: %v", perTopic)
}

func TestRawLineDeterministic(t *testing.T) {
	recs := All(Options{Seed: 3, Customers: 50})
	for _, rec := range recs {
		t1, r1, _ := RawLine(rec.Line)
		t2, r2, _ := RawLine(bytes.Clone(rec.Line))
		if t1 != t2 || !bytes.Equal(r1, r2) {
			t.Fatalf("RawLine is not deterministic for %s", rec.Line)
		}
	}
	if _, _, err := RawLine([]byte("  ")); err == nil {
		t.Fatal("empty line: want an error")
	}
}
