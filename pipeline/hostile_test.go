package pipeline

import (
	"bytes"
	"context"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/omnistitch/omnistitch/internal/config"
	"github.com/omnistitch/omnistitch/state"
	"github.com/omnistitch/omnistitch/stitch"
)

// hostile is one pathological record and what must become of it.
type hostile struct {
	name   string
	topic  string
	value  []byte
	reason string // dead-letter reason; "" = applied
}

func hostileRecords() []hostile {
	ev := func(id, ts, ids, props string) []byte {
		return fmt.Appendf(nil, `{"event_id":%s,"channel":"web","type":"page_view","ts":%s,"ids":%s,"props":%s}`, id, ts, ids, props)
	}
	okTS := `"2026-11-20T10:00:00Z"`
	cookie := `{"cookie":"ck-1"}`
	var many strings.Builder
	many.WriteString("{")
	for i := range 10000 {
		if i > 0 {
			many.WriteString(",")
		}
		fmt.Fprintf(&many, `"t%d":"v%d"`, i, i)
	}
	many.WriteString("}")
	deep := strings.Repeat(`{"a":`, 100000) + "1" + strings.Repeat("}", 100000)
	tenMiB := ev(`"big"`, okTS, cookie, `{"blob":"`+strings.Repeat("x", 10<<20)+`"}`)
	web := func(messageID, props string) []byte {
		return fmt.Appendf(nil, `{"type":"page","messageId":%s,"anonymousId":"ck-2","timestamp":"2026-11-20T10:00:00Z","properties":%s}`, messageID, props)
	}
	return []hostile{
		{"10 MiB canonical record", eventsTopic, tenMiB, "oversized"},
		{"10 MiB raw web record", "omni.web", web(`"m-big"`, `{"blob":"`+strings.Repeat("x", 10<<20)+`"}`), "oversized"},
		{"10,000 identifiers", eventsTopic, ev(`"many-ids"`, okTS, many.String(), "{}"), "bad_field"},
		{"props nested 100,000 deep", eventsTopic, ev(`"deep"`, okTS, cookie, deep), "malformed_json"},
		{"raw web properties nested 100,000 deep", "omni.web", web(`"m-deep"`, deep), "malformed_json"},
		{"NUL in event_id", eventsTopic, ev(`"e\u0000vil"`, okTS, cookie, "{}"), "bad_field"},
		{"NUL in raw messageId", "omni.web", web(`"m\u0000x"`, "{}"), "bad_field"},
		{"NUL in type", eventsTopic, []byte(`{"event_id":"nul-type","channel":"web","type":"page\u0000view","ts":1,"ids":{"cookie":"ck-1"}}`), "bad_field"},
		{"NUL in identifier type only", eventsTopic, ev(`"nul-idtype"`, okTS, `{"coo\u0000kie":"ck-1"}`, "{}"), "junk_ids"},
		{"NUL in the only identifier value", eventsTopic, ev(`"nul-idvalue"`, okTS, `{"cookie":"ck\u0000-1"}`, "{}"), "junk_ids"},
		{"NUL in one identifier value of two", eventsTopic, ev(`"nul-idvalue2"`, okTS, `{"cookie":"ck\u0000-1","device":"dv-1"}`, "{}"), ""},
		{"NUL and invalid UTF-8 in props", eventsTopic, ev(`"nul-props"`, okTS, cookie, "{\"a\":\"\\u0000\xff\xfe\",\"\xc3\":1}"), ""},
		{"invalid UTF-8 in event_id", eventsTopic, ev("\"ev-\xff\"", okTS, cookie, "{}"), "bad_field"},
		{"invalid UTF-8 in raw messageId", "omni.web", web("\"m-\xfe\"", "{}"), "bad_field"},
		{"invalid UTF-8 in identifier value", eventsTopic, ev(`"bad-utf8-id"`, okTS, "{\"cookie\":\"ck-\xff\"}", "{}"), ""},
		{"ts in year 1", eventsTopic, ev(`"year-1"`, `"0001-01-01T00:00:00Z"`, cookie, "{}"), ""},
		{"ts in year 9999", eventsTopic, ev(`"year-9999"`, `"9999-12-31T23:59:59.999Z"`, cookie, "{}"), ""},
		{"ts in year 10000 (epoch ms)", eventsTopic, ev(`"year-10000"`, "253402300800000", cookie, "{}"), "bad_ts"},
		{"ts before year 1 (epoch ms)", eventsTopic, ev(`"year-0"`, "-62135596800001", cookie, "{}"), "bad_ts"},
		{"ts of 19 digits", eventsTopic, ev(`"ts-huge"`, "9223372036854775808", cookie, "{}"), "bad_ts"},
		{"a plain event after them all", eventsTopic, ev(`"last"`, okTS, cookie, "{}"), ""},
	}
}

// Pathological records through the service, over TCP from the embedded
// broker with the real decoders (canonical and raw source mappings): each
// goes to the dead-letter topic with its reason, at most a bounded copy of
// its value (a 10 MiB record would otherwise be refused by the producer
// and hold back the outbox), or is applied and stored safely; the
// partition never blocks, and nothing crashes.
func TestHostileRecordsThroughService(t *testing.T) {
	b, err := StartBroker(0, 1, eventsTopic, "omni.web", deadTopic)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	cl, err := kgo.NewClient(kgo.SeedBrokers(b.Addrs()...), kgo.ProducerBatchMaxBytes(16<<20))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx := context.Background()
	// The brokers of a real deployment may accept such records on their
	// input topics; the dead-letter topic keeps the default limit.
	big := strconv.Itoa(16 << 20)
	if _, err := kadm.NewClient(cl).AlterTopicConfigs(ctx, []kadm.AlterConfig{{Name: "max.message.bytes", Value: &big}}, eventsTopic, "omni.web"); err != nil {
		t.Fatal(err)
	}
	recs := hostileRecords()
	applied := 0
	for _, h := range recs {
		if err := cl.ProduceSync(ctx, &kgo.Record{Topic: h.topic, Value: h.value}).FirstErr(); err != nil {
			t.Fatalf("%s: produce: %v", h.name, err)
		}
		if h.reason == "" {
			applied++
		}
	}

	cfg := config.Default()
	dir := t.TempDir()
	store, err := state.Open(dir, state.Options{CustomerCache: 100, IdentifierCache: 100})
	if err != nil {
		t.Fatal(err)
	}
	eng, err := stitch.New(cfg, store)
	if err != nil {
		t.Fatal(err)
	}
	decoders, err := Decoders(cfg)
	if err != nil {
		t.Fatal(err)
	}
	svc, err := New(Options{Brokers: b.Addrs(), Group: "omnistitch-hostile", Decoders: decoders, DeadLetterTopic: deadTopic,
		MaxPollRecords: 500, SendInterval: 20 * time.Millisecond}, eng, store)
	if err != nil {
		t.Fatal(err)
	}
	r := &run{store: store, eng: eng, svc: svc}
	st := r.until(t, func(s Stats) bool { return s.Records == int64(len(recs)) && s.Sent == s.DeadLetters })
	if st.Applied != int64(applied) || st.DeadLetters != int64(len(recs)-applied) {
		t.Errorf("stats %+v: want %d applied, %d dead letters", st, applied, len(recs)-applied)
	}

	dl := deadLetters(t, b.Addrs(), len(recs)-applied)
	got := map[string]*kgo.Record{} // "topic/offset" → dead letter
	for _, d := range dl {
		got[header(d, "source_topic")+"/"+header(d, "source_offset")] = d
	}
	offsets := map[string]int{}
	for _, h := range recs {
		off := offsets[h.topic]
		offsets[h.topic]++
		d := got[h.topic+"/"+strconv.Itoa(off)]
		switch {
		case h.reason == "" && d != nil:
			t.Errorf("%s: dead-lettered (%s), want applied", h.name, header(d, "error"))
		case h.reason == "":
		case d == nil:
			t.Errorf("%s: no dead letter, want reason %s", h.name, h.reason)
		case header(d, "reason") != h.reason || !strings.HasPrefix(header(d, "error"), h.reason+": "):
			t.Errorf("%s: dead letter reason %q, error %q; want %s", h.name, header(d, "reason"), header(d, "error"), h.reason)
		case len(h.value) > deadLetterMaxValue:
			if len(d.Value) != deadLetterMaxValue || !bytes.HasPrefix(h.value, d.Value) || header(d, "value_bytes") != strconv.Itoa(len(h.value)) {
				t.Errorf("%s: dead letter of %d bytes (value_bytes %q), want the first %d of %d", h.name, len(d.Value), header(d, "value_bytes"), deadLetterMaxValue, len(h.value))
			}
		case !bytes.Equal(d.Value, h.value):
			t.Errorf("%s: dead letter value differs from the record", h.name)
		}
		if d != nil && len(header(d, "error")) > 300 {
			t.Errorf("%s: error header of %d bytes", h.name, len(header(d, "error")))
		}
	}
	if len(dl) != len(recs)-applied {
		t.Errorf("%d dead letters, want %d", len(dl), len(recs)-applied)
	}

	// What was applied is stored and reads back: years 1 and 9999 keep
	// their time; props keep NUL and invalid UTF-8 as they came; an
	// identifier value with NUL links nothing (the normaliser refuses it),
	// one with invalid UTF-8 links with U+FFFD in its place, as JSON
	// decoding gives it.
	if err := store.Close(); err != nil {
		t.Fatal(err)
	}
	store, err = state.Open(dir, state.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	if eng, err = stitch.New(cfg, store); err != nil {
		t.Fatal(err)
	}
	events := 0
	if err := eng.Customers(func(c *state.Customer) error {
		events += int(c.Events)
		return eng.Journey(c.ID, func(jr *stitch.JourneyRow) error {
			switch jr.EventID {
			case "year-1":
				if jr.TS != -62135596800000 {
					t.Errorf("year-1 at %d", jr.TS)
				}
			case "year-9999":
				if jr.TS != 253402300799999 {
					t.Errorf("year-9999 at %d", jr.TS)
				}
			case "nul-props":
				if !bytes.Contains(jr.Props, []byte("\\u0000\xff\xfe")) {
					t.Errorf("props not kept as sent: %q", jr.Props)
				}
			}
			return nil
		})
	}); err != nil {
		t.Fatal(err)
	}
	if events != applied {
		t.Errorf("profiles count %d events, want %d", events, applied)
	}
	for _, k := range []string{"device:dv-1", "cookie:ck-1", "cookie:ck-\ufffd"} {
		if r, err := store.Identifier(k); err != nil || r == nil || r.Customer == "" {
			t.Errorf("identifier %q: %+v, %v", k, r, err)
		}
	}
}

// A bot through the service: one cookie on 60 events under a journey cap
// of 10. omnistitch_journey_overflow_total counts the 50 not stored, and
// the state agrees.
func TestJourneyOverflowMetric(t *testing.T) {
	b, err := StartBroker(0, 1, eventsTopic, deadTopic)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	cl, err := kgo.NewClient(kgo.SeedBrokers(b.Addrs()...), kgo.DefaultProduceTopic(eventsTopic))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	const n, limit = 60, 10
	for i := range n {
		v := fmt.Appendf(nil, `{"event_id":"bot-%d","channel":"web","type":"page_view","ts":%d,"ids":{"cookie":"ck-bot"}}`, i, 1795168800000+int64(i)*1000)
		if err := cl.ProduceSync(context.Background(), &kgo.Record{Value: v}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	cfg := config.Default()
	cfg.Journey.MaxEvents = limit
	store, err := state.Open(t.TempDir(), state.Options{CustomerCache: 10, IdentifierCache: 10})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	eng, err := stitch.New(cfg, store)
	if err != nil {
		t.Fatal(err)
	}
	decoders, err := Decoders(cfg)
	if err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	svc, err := New(Options{Brokers: b.Addrs(), Group: "omnistitch-bot", Decoders: decoders, DeadLetterTopic: deadTopic,
		MaxPollRecords: 7, SendInterval: 20 * time.Millisecond, Registerer: reg}, eng, store)
	if err != nil {
		t.Fatal(err)
	}
	(&run{store: store, eng: eng, svc: svc}).until(t, func(s Stats) bool { return s.Applied == n })
	if got := testutil.ToFloat64(svc.m.overflow); got != n-limit {
		t.Errorf("omnistitch_journey_overflow_total = %v, want %d", got, n-limit)
	}
	if c, err := testutil.GatherAndCount(reg, "omnistitch_journey_overflow_total"); err != nil || c != 1 {
		t.Errorf("metric not registered: %d, %v", c, err)
	}
	if err := eng.Customers(func(c *state.Customer) error {
		if c.Events != n || c.Overflow != n-limit || c.JourneyLen() != limit {
			t.Errorf("customer: %d events, %d overflow, journey %d", c.Events, c.Overflow, c.JourneyLen())
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
}
