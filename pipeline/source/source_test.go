package source

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/omnistitch/omnistitch/stitch/event"
)

func defaultMapping(t testing.TB, name string) *Mapping {
	t.Helper()
	for _, m := range Default() {
		if m.Name() == name {
			return m
		}
	}
	t.Fatalf("no default mapping %q", name)
	return nil
}

func sampleLines(t testing.TB, channel string) [][]byte {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("..", "..", "testdata", "sources", channel+".jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	return bytes.Split(bytes.TrimRight(data, "\n"), []byte("\n"))
}

// mapDecode maps a raw record and decodes the result: the pipeline's path.
func mapDecode(m *Mapping, raw []byte) (event.Event, error) {
	out, err := m.Map(raw, nil)
	if err != nil {
		return event.Event{}, err
	}
	return event.NewDecoder(1<<20, []string{"web", "store", "callcentre", "email"}).Decode(out)
}

type want struct {
	line    int    // 1-based line of testdata/sources/<channel>.jsonl
	id      string // event_id
	typ     string
	ts      string // event time, RFC 3339 UTC with ms
	ids     string // "type=value" sorted by type, joined by "|"
	props   string // the props JSON as mapped ("" = none)
	reason  event.Reason
	msgPath string // the raw path the error names
}

var sampleWant = map[string][]want{
	"web": {
		{line: 1, id: "web-8682f30b13d3dc67", typ: "page_view", ts: "2026-11-01T00:00:00.000Z", ids: "cookie=ck-f0dc1f62915124c9", props: `{"url":"https://shop.example.org/c/jackets"}`},
		{line: 3, id: "web-99442cb9fce7fd4b", typ: "add_to_cart", ts: "2026-11-01T00:00:42.382Z", ids: "cookie=ck-a294bfb1f6740e59", props: `{"currency":"EUR","price":11.53,"sku":"SKU-94945","qty":1}`},
		{line: 4, id: "web-7140dec2ac6bde62", typ: "signup", ts: "2026-11-01T00:01:05.528Z", ids: "cookie=ck-40d004d2cd11683a|email=moritz.hartmann55@example.org|user=u1351361", props: `{"method":"apple"}`},
		{line: 12, id: "web-6fabdc7ad390e5f4", typ: "login", ts: "2026-11-01T00:08:51.564Z", ids: "device=dv-89c1c0b240fa5df7|user=u3608317", props: `{"method":"password"}`},
		{line: 19, id: "web-a1b2c3d4e5f60718", typ: "identify", ts: "2026-11-20T09:15:00.250Z", ids: "cookie=ck-0a1b2c3d4e5f6071|email=Lena.Koch7@example.com|loyalty=LC-220481|phone=0171 5550123|user=4711"},
		{line: 20, id: "web-b7e9a0c2d4f61835", typ: "page_view", ts: "2026-11-20T09:16:12.004Z", ids: "device=dv-5d2e8f0a9b7c6d14|user=u5809625", props: `{"name":"Home"}`},
		{line: 21, id: "web-c3d5e7f9a1b2c4d6", typ: "Coupon Applied", ts: "2026-11-20T09:17:45.120Z", ids: "cookie=ck-de0666308235aae3|user=u5809625", props: `{"coupon_id":"BLACKWEEK25","discount":12.5}`},
		{line: 22, id: "web-d4e6f8a0b2c4d6e8", typ: "purchase", ts: "2026-11-20T09:21:03.500Z", ids: "cookie=ck-de0666308235aae3|email=jonas.hoffmann20@example.org|phone=+49 151 7007489|user=u5809625",
			props: `{"order_id":"o-00004711","currency":"EUR","products":[{"sku":"SKU-70137","quantity":1,"price":149.9}],"total":149.9}`},
		{line: 23, reason: event.ReasonMissing, msgPath: "messageId"},
		{line: 24, reason: event.ReasonMalformed},
		{line: 25, reason: event.ReasonBadTS, msgPath: "timestamp"},
		{line: 26, reason: event.ReasonBadField, msgPath: "anonymousId"},
		{line: 27, reason: event.ReasonBadField, msgPath: "properties"},
		{line: 28, reason: event.ReasonMalformed},
	},
	"store": {
		{line: 1, id: "pos-S02-000000", typ: "purchase", ts: "2026-11-01T00:00:46.986Z", ids: "loyalty=LC-497962|phone=+49 170 1392139", props: `{"store_id":"S02","total":26.18,"currency":"EUR","items":3}`},
		{line: 4, id: "pos-S01-000000", typ: "purchase", ts: "2026-11-01T00:02:19.604Z", ids: "device=dv-tablet-S01|loyalty=LC-138390|phone=+4916073158723", props: `{"store_id":"S01","total":5.54,"currency":"EUR","items":1}`},
		{line: 5, id: "pos-S04-000001", typ: "signup", ts: "2026-11-01T00:02:23.630Z", ids: "loyalty=LC-474151|phone=+49305920921", props: `{"store_id":"S04"}`},
		{line: 19, id: "pos-S12-913", typ: "return", ts: "2026-11-20T14:42:07.000Z", ids: "loyalty=104233", props: `{"store_id":"S12","total":-19.99,"currency":"EUR","items":-1}`},
		{line: 20, id: "pos-S12-000914", typ: "purchase", ts: "2026-11-20T14:50:31.200Z", ids: "cookie=ck-0a1b2c3d4e5f6071|email=lena.koch7@example.com|user=u7146753", props: `{"store_id":"S12","total":89.00,"currency":"EUR","items":1}`},
		{line: 21, id: "pos-S03-004410", typ: "purchase", ts: "2026-11-20T15:02:00.000Z", ids: "loyalty=LC-670199", props: `{"store_id":"S03","total":4.50,"currency":"EUR"}`},
		{line: 22, reason: event.ReasonMissing, msgPath: "txn_no"},
		{line: 23, reason: event.ReasonBadTS, msgPath: "ts"},
		{line: 24, reason: event.ReasonBadTS, msgPath: "ts"},
		{line: 25, reason: event.ReasonBadField, msgPath: "customer_phone"},
	},
	"callcentre": {
		{line: 1, id: "cc-000000001", typ: "call", ts: "2026-11-01T00:18:34.794Z", ids: "crm=CRM-6804935|phone=(0151) 7571728", props: `{"duration_s":609,"reason":"loyalty_points","agent":"A124"}`},
		{line: 4, id: "cc-000000004", typ: "complaint", ts: "2026-11-01T00:21:02.192Z", ids: "phone=+49 (0)89 23763613", props: `{"reason":"wrong_item","severity":"medium"}`},
		{line: 9, id: "cc-000000019", typ: "survey_response", ts: "2026-11-01T00:34:30.630Z", ids: "phone=(089) 69327852", props: `{"survey":"nps","score":7}`},
		{line: 19, id: "cc-000100001", typ: "call", ts: "2026-11-20T10:00:00.500Z", ids: "crm=5512301|phone=030 1234567", props: `{"duration_s":95,"reason":"delivery","agent":"A117"}`},
		{line: 20, id: "cc-000100002", typ: "survey_response", ts: "2026-11-20T10:05:00.000Z", ids: "phone=+49 30 1234567", props: `{"survey":"csat","score":9}`},
		{line: 21, id: "cc-000100003", typ: "call", ts: "2026-11-20T10:06:40.250Z", ids: "cookie=ck-0a1b2c3d4e5f6071|phone=+49 171 5550123|user=u7146753", props: `{"duration_s":41,"reason":"returns","agent":"A103"}`},
		{line: 22, reason: event.ReasonMissing, msgPath: "started_at"},
		{line: 23, reason: event.ReasonBadTS, msgPath: "started_at"},
		{line: 24, reason: event.ReasonBadField, msgPath: "call_id"},
		{line: 25, reason: event.ReasonJunkIDs}, // maps, but has no identifier: the decoder rejects it
	},
	"email": {
		{line: 1, id: "esp-e65df4408d4f568e", typ: "email_open", ts: "2026-11-01T00:06:36.891Z", ids: "email=MAX.SCHULZ31@EXAMPLE.ORG", props: `{"campaign":"loyalty-bonus","message_id":"m-00000001"}`},
		{line: 2, id: "esp-71bc9fd1c1b47128", typ: "email_sent", ts: "2026-11-01T00:07:47.103Z", ids: "email=jonas.hoffmann20@example.org", props: `{"campaign":"welcome-series","message_id":"m-00000002"}`},
		{line: 4, id: "esp-95326c26b073e372", typ: "email_click", ts: "2026-11-01T00:10:45.490Z", ids: "cookie=ck-b85b783388769db4|email=johanna.weber37@example.org", props: `{"campaign":"welcome-series","message_id":"m-00000004","url":"https://shop.example.org/account"}`},
		{line: 19, id: "esp-5e1d0c3b9a874f21", typ: "email_bounce", ts: "2026-11-20T10:00:00.123Z", ids: "email=lena.koch7@example.con", props: `{"campaign":"nov-black-week","message_id":"m-00012345"}`},
		{line: 20, id: "esp-6f2e1d4c0bA85e32", typ: "deferred", ts: "2026-11-20T10:01:00.000Z", ids: "email=lena.koch7@example.com", props: `{"campaign":"nov-black-week","message_id":"m-00012346"}`},
		{line: 21, id: "esp-7a3f2e5d1cb96f43", typ: "email_click", ts: "2026-11-20T10:03:20.456Z", ids: "cookie=ck-0a1b2c3d4e5f6071|email=Lena.Koch7@example.com|user=u7146753", props: `{"campaign":"nov-black-week","message_id":"m-00012347","url":"https://shop.example.org/sale?utm_source=newsletter"}`},
		{line: 22, reason: event.ReasonBadTS, msgPath: "timestamp"},
		{line: 23, reason: event.ReasonMissing, msgPath: "sg_event_id"},
		{line: 24, reason: event.ReasonBadField, msgPath: "event"},
		{line: 25, reason: event.ReasonMalformed},
	},
}

func idsString(ids []event.ID) string {
	var parts []string
	for _, id := range ids {
		parts = append(parts, id.Type+"="+id.Value)
	}
	return strings.Join(parts, "|")
}

// TestSamples: every sample line maps and decodes to the expected event, and
// exactly the lines listed as bad fail, with the expected reason and a
// message that names the raw field but none of the record's values.
func TestSamples(t *testing.T) {
	for channel, wants := range sampleWant {
		t.Run(channel, func(t *testing.T) {
			m := defaultMapping(t, channel)
			lines := sampleLines(t, channel)
			if len(lines) < 20 {
				t.Fatalf("only %d sample lines", len(lines))
			}
			byLine := map[int]want{}
			for _, w := range wants {
				byLine[w.line] = w
			}
			for i, line := range lines {
				w, listed := byLine[i+1]
				ev, err := mapDecode(m, line)
				switch {
				case listed && w.reason != "":
					var ee *event.Error
					if !errors.As(err, &ee) || ee.Reason != w.reason {
						t.Errorf("line %d: got %v, want reason %s", i+1, err, w.reason)
						continue
					}
					if w.msgPath != "" && !strings.Contains(ee.Msg, `"`+w.msgPath+`"`) {
						t.Errorf("line %d: message %q does not name the field %q", i+1, ee.Msg, w.msgPath)
					}
					for _, v := range []string{"yesterday", "ck-a4b534ad44071716", "030 1234567", "2026-11-20T10:05:00Z", "20.11.2026"} {
						if strings.Contains(ee.Msg, v) {
							t.Errorf("line %d: message %q contains a value of the record", i+1, ee.Msg)
						}
					}
				case err != nil:
					t.Errorf("line %d: %v\n%s", i+1, err, line)
				case listed:
					if ev.ID != w.id || ev.Channel != channel || ev.Type != w.typ || event.FormatTS(ev.TS) != w.ts ||
						idsString(ev.IDs) != w.ids || string(ev.Props) != w.props {
						t.Errorf("line %d:\ngot  %s %s %s %s %s %s\nwant %s %s %s %s %s %s", i+1,
							ev.ID, ev.Channel, ev.Type, event.FormatTS(ev.TS), idsString(ev.IDs), ev.Props,
							w.id, channel, w.typ, w.ts, w.ids, w.props)
					}
				}
			}
		})
	}
}

// TestDefault: the embedded files load, one per SPEC source topic.
func TestDefault(t *testing.T) {
	ms := Default()
	got := map[string]string{}
	for _, m := range ms {
		got[m.Topic()] = m.Channel()
	}
	want := map[string]string{"omni.web": "web", "omni.store": "store", "omni.callcentre": "callcentre", "omni.email": "email"}
	if len(got) != len(want) {
		t.Fatalf("got %v", got)
	}
	for topic, ch := range want {
		if got[topic] != ch {
			t.Errorf("topic %s: channel %q, want %q", topic, got[topic], ch)
		}
	}
	// The files in the repository are the embedded ones.
	dir, err := LoadDir(filepath.Join("..", "..", "configs", "sources"))
	if err != nil || len(dir) != len(ms) {
		t.Fatalf("LoadDir(configs/sources): %d mappings, %v", len(dir), err)
	}
}
