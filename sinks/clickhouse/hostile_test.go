package clickhouse_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/omnistitch/omnistitch/sinks/clickhouse"
	"github.com/omnistitch/omnistitch/stitch"
	"github.com/omnistitch/omnistitch/stitch/event"
)

// Hostile values reach ClickHouse 18.16 intact or clamped as documented:
// events in years 1 and 9999 keep their exact ts_ms while event_time,
// first_seen and last_seen are clamped into DateTime's 1970..2106; props
// with NUL, invalid UTF-8 and deep nesting are stored byte for byte; and a
// bot's capped journey has max_events rows while its profile counts every
// event.
func TestHostileValuesInClickHouse(t *testing.T) {
	r := newRig(t)
	cfg := *r.cfg
	cfg.Journey.MaxEvents = 5
	eng, err := stitch.New(&cfg, r.store)
	if err != nil {
		t.Fatal(err)
	}
	r.eng, r.stage = eng, clickhouse.Stage(eng)

	props := "{\"nul\":\"a\\u0000b\",\"raw\":\"\xff\xfe\",\"deep\":" + strings.Repeat("[", 500) + strings.Repeat("]", 500) + "}"
	lines := []string{
		`{"event_id":"year-1","channel":"web","type":"page_view","ts":"0001-01-01T00:00:00Z","ids":{"cookie":"ck-old"},"props":` + props + `}`,
		`{"event_id":"year-9999","channel":"store","type":"purchase","ts":"9999-12-31T23:59:59.999Z","ids":{"cookie":"ck-old"},"props":{"total":5}}`,
	}
	for i := range 40 {
		lines = append(lines, fmt.Sprintf(`{"event_id":"bot-%02d","channel":"web","type":"page_view","ts":%d,"ids":{"cookie":"ck-bot"}}`, i, 1795168800000+int64(i)*1000))
	}
	r.apply(mustEvents(t, lines...), 7)
	r.drain()

	type row struct {
		et    time.Time
		ts    int64
		props string
	}
	got := map[string]row{}
	rows := r.query(`SELECT event_id, event_time, ts_ms, props FROM {db}.journeys`)
	bot := 0
	for rows.Next() {
		var eid, p string
		var et time.Time
		var ts int64
		if err := rows.Scan(&eid, &et, &ts, &p); err != nil {
			t.Fatal(err)
		}
		if strings.HasPrefix(eid, "bot-") {
			bot++
			continue
		}
		got[eid] = row{et, ts, p}
	}
	rows.Close()
	if g := got["year-1"]; g.ts != -62135596800000 || g.et.Unix() != 0 || g.props != props {
		t.Errorf("year-1: event_time %v, ts_ms %d, props %q", g.et, g.ts, g.props)
	}
	if g := got["year-9999"]; g.ts != 253402300799999 || g.et.Unix() != 1<<32-1 {
		t.Errorf("year-9999: event_time %v (%d), ts_ms %d", g.et, g.et.Unix(), g.ts)
	}
	if bot != 5 {
		t.Errorf("%d journey rows for the bot, want its cap of 5", bot)
	}

	rows = r.query(`SELECT events, first_seen, last_seen FROM {db}.profiles ORDER BY events`)
	var profiles []string
	for rows.Next() {
		var events uint64
		var first, last time.Time
		if err := rows.Scan(&events, &first, &last); err != nil {
			t.Fatal(err)
		}
		profiles = append(profiles, fmt.Sprintf("%d %d %d", events, first.Unix(), last.Unix()))
	}
	rows.Close()
	want := []string{"2 0 4294967295", fmt.Sprintf("40 %d %d", 1795168800, 1795168839)}
	if fmt.Sprint(profiles) != fmt.Sprint(want) {
		t.Errorf("profiles (events, first_seen, last_seen) %v, want %v", profiles, want)
	}
	if ts := event.FormatTS(253402300799999); ts != "9999-12-31T23:59:59.999Z" {
		t.Errorf("FormatTS = %s", ts)
	}
}
