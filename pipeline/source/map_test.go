package source

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/omnistitch/omnistitch/internal/config"
	"github.com/omnistitch/omnistitch/stitch/event"
)

func loadYAML(t *testing.T, name, text string) (*Mapping, error) {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return Load(p)
}

func mustLoad(t *testing.T, text string) *Mapping {
	t.Helper()
	m, err := loadYAML(t, "src.yaml", text)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

const orderYAML = `
name: orders
topic: shop.orders
channel: web
event_id: {path: [id, order.id], prefix: "ord-"}
ts: {path: meta.created, format: epoch_s}
type: {constant: purchase}
ids:
  email: [customer.emails.1, customer.emails.0]
  crm: customer.no
props:
  first_sku: items.0.sku
  second_qty: items.1.qty
  total: basket.total
  shipping: [shipping.express, shipping.standard]
`

// TestMapPaths: nested paths, array indexes, alternatives, constants,
// fractional epoch seconds, numeric identifiers keeping their literal text.
func TestMapPaths(t *testing.T) {
	m := mustLoad(t, orderYAML)
	raw := `{"order":{"id":"A-1"},"meta":{"created":"1795168800.1239"},
	  "customer":{"emails":["a@example.org",null],"no":0012},
	  "items":[{"sku":"S1","qty":1},{"sku":"S2","qty":3}],"basket":{"total":19.90},
	  "shipping":{"express":null,"standard":{"carrier":"DHL"}}}`
	out, err := m.Map([]byte(strings.ReplaceAll(raw, "0012", "12")), []byte("prefix:"))
	if err != nil {
		t.Fatal(err)
	}
	want := `prefix:{"event_id":"ord-A-1","channel":"web","type":"purchase","ts":1795168800123,"ids":{"crm":12,"email":"a@example.org"},` +
		`"props":{"first_sku":"S1","second_qty":3,"total":19.90,"shipping":{"carrier":"DHL"}}}`
	if string(out) != want {
		t.Fatalf("got  %s\nwant %s", out, want)
	}
	ev, err := event.NewDecoder(0, nil).Decode(out[len("prefix:"):])
	if err != nil || ev.IDs[0].Value != "12" {
		t.Fatalf("decode: %+v %v", ev, err)
	}
	// "0012" is not a JSON number: the record is malformed, not mis-mapped.
	if _, err := m.Map([]byte(raw), nil); reason(err) != event.ReasonMalformed {
		t.Fatalf("leading zeros: got %v", err)
	}
}

func reason(err error) event.Reason {
	var e *event.Error
	if errors.As(err, &e) {
		return e.Reason
	}
	return ""
}

func TestMapTemplateAndTypes(t *testing.T) {
	m := mustLoad(t, `
name: pos
topic: pos
channel: store
event_id: {template: "pos-{store.id}/{txn}"}
ts: {path: at, format: epoch_ms}
type:
  path: [kind, legacy_kind]
  values: {sale: purchase, "3": return, "Ret\"urn": return}
ids: {loyalty: card}
props_from: extra
props: {renamed: extra.old, extra_total: total}
`)
	cases := []struct{ raw, want string }{
		{`{"store":{"id":"S1"},"txn":7,"at":1795168800123.9,"kind":"sale","card":"L1","extra":{"old":1,"keep":[1,2],"renamed":"dropped"}}`,
			`{"event_id":"pos-S1/7","channel":"store","type":"purchase","ts":1795168800123,"ids":{"loyalty":"L1"},"props":{"keep":[1,2],"renamed":1}}`},
		{`{"store":{"id":"S1"},"txn":"8","at":"1795168800000","kind":"","legacy_kind":3,"card":"L1"}`,
			`{"event_id":"pos-S1/8","channel":"store","type":"return","ts":1795168800000,"ids":{"loyalty":"L1"}}`},
		{`{"store":{"id":"S1"},"txn":"9","at":0,"kind":"Ret\"urn","card":"L1","extra":{}}`,
			`{"event_id":"pos-S1/9","channel":"store","type":"return","ts":0,"ids":{"loyalty":"L1"}}`},
		// unlisted names pass through when there is no default
		{`{"store":{"id":"S1"},"txn":"9","at":0,"kind":"void\u00e9","card":"L1","total":{"a":1}}`,
			`{"event_id":"pos-S1/9","channel":"store","type":"void\u00e9","ts":0,"ids":{"loyalty":"L1"},"props":{"extra_total":{"a":1}}}`},
	}
	for _, c := range cases {
		out, err := m.Map([]byte(c.raw), nil)
		if err != nil || string(out) != c.want {
			t.Errorf("Map(%s)\ngot  %s %v\nwant %s", c.raw, out, err, c.want)
		}
	}
	bad := []struct {
		raw    string
		reason event.Reason
		path   string
	}{
		{`{"txn":"9","at":0,"kind":"sale","card":"L1"}`, event.ReasonMissing, "store.id"},
		{`{"store":{"id":"  "},"txn":"9","at":0,"kind":"sale","card":"L1"}`, event.ReasonMissing, "store.id"},
		{`{"store":{"id":"S1"},"txn":"9","at":0,"card":"L1"}`, event.ReasonMissing, "kind"},
		{`{"store":{"id":"S1"},"txn":"9","at":0,"kind":true,"card":"L1"}`, event.ReasonBadField, "kind"},
		{`{"store":{"id":"S1"},"txn":"9","at":"1e3x","kind":"sale","card":"L1"}`, event.ReasonBadTS, "at"},
		{`{"store":{"id":"S1"},"txn":"9","at":99999999999999999,"kind":"sale","card":"L1"}`, event.ReasonBadTS, "at"},
		{`{"store":{"id":"S1"},"txn":"9","at":0,"kind":"sale","card":"L1","extra":[1]}`, event.ReasonBadField, "extra"},
		{`{"store":{"id":"S1"},"txn":"9","at":0,"kind":"sale","card":"L1"} {}`, event.ReasonMalformed, ""},
		{`{"store":{"id":"S1"},"txn":"9","at":0,"kind":"sale","card":"L1\u12"}`, event.ReasonMalformed, ""},
		{strings.Repeat("[", 20000), event.ReasonMalformed, ""},
		{`{"a":` + strings.Repeat("[", 20000) + strings.Repeat("]", 20000) + `}`, event.ReasonMalformed, ""},
	}
	for _, c := range bad {
		dst := []byte("keep")
		out, err := m.Map([]byte(c.raw), dst)
		var e *event.Error
		if !errors.As(err, &e) || e.Reason != c.reason || !strings.Contains(e.Msg, `"`+c.path+`"`) && c.path != "" {
			t.Errorf("Map(%.60s): got %v, want %s naming %q", c.raw, err, c.reason, c.path)
		}
		if string(out) != "keep" {
			t.Errorf("Map(%.60s) changed dst on error: %q", c.raw, out)
		}
	}
	// Deep nesting within the canonical decoder's limit is fine.
	deep := `{"store":{"id":"S1"},"txn":"9","at":0,"kind":"sale","card":"L1","x":` + strings.Repeat("[", 9000) + strings.Repeat("]", 9000) + `}`
	if _, err := m.Map([]byte(deep), nil); err != nil {
		t.Errorf("nesting 9000: %v", err)
	}
}

func TestMapTimestamps(t *testing.T) {
	cases := []struct {
		format, raw string
		ms          int64
		ok          bool
	}{
		{"rfc3339", `"2026-11-20T10:00:00Z"`, 1795168800000, true},
		{"rfc3339", `"2026-11-20T11:00:00.1234567+01:00"`, 1795168800123, true},
		{"rfc3339", `"2026-11-20T09:30:00.5-00:30"`, 1795168800500, true},
		{"rfc3339", `"2026-11-20T10:00:00.123456789123Z"`, 1795168800123, true}, // beyond ns: time.Parse decides
		{"rfc3339", `"2026-02-30T10:00:00Z"`, 0, false},
		{"rfc3339", `1795168800000`, 0, false},
		{"rfc3339", `"1795168800000"`, 0, false},
		{"epoch_ms", `1795168800123`, 1795168800123, true},
		{"epoch_ms", `"-1000"`, -1000, true},
		{"epoch_ms", `1.7951688e12`, 1795168800000, true},
		{"epoch_ms", `"2026-11-20T10:00:00Z"`, 0, false},
		{"epoch_ms", `253402300800000`, 0, false},
		{"epoch_s", `1795168800`, 1795168800000, true},
		{"epoch_s", `1795168800.5`, 1795168800500, true},
		{"epoch_s", `"1795168800.123999"`, 1795168800123, true},
		{"epoch_s", `-1.5`, -1500, true},
		{"epoch_s", `"1795168800."`, 0, false},
		{"epoch_s", `""`, 0, false},
		{"epoch_s", `true`, 0, false},
	}
	for _, c := range cases {
		ms, ok := parseTS([]byte(c.raw), tsFormats[c.format])
		if ok != c.ok || ok && ms != c.ms {
			t.Errorf("parseTS(%s, %s) = %d, %v; want %d, %v", c.raw, c.format, ms, ok, c.ms, c.ok)
		}
	}
}

// TestConfigErrors: each bad file fails with the file, the line and the field.
func TestConfigErrors(t *testing.T) {
	const good = "name: s\ntopic: t\nchannel: web\nevent_id: {path: id}\nts: {path: ts, format: rfc3339}\ntype: {constant: page_view}\nids: {cookie: c}\n"
	if _, err := loadYAML(t, "ok.yaml", good); err != nil {
		t.Fatalf("good file: %v", err)
	}
	cases := []struct {
		name, text string
		line       int
		field, msg string
	}{
		{"unknown top field", good + "prop: {a: b}\n", 8, "prop", `unknown field "prop"`},
		{"unknown nested field", strings.Replace(good, "{path: ts, format: rfc3339}", "\n  path: ts\n  format: rfc3339\n  zone: CET", 1), 8, "ts.zone", "unknown field"},
		{"bad path", strings.Replace(good, "{cookie: c}", "\n  cookie: c\n  email: [a.b, context..email]", 1), 9, "ids.email[1]", "empty segment"},
		{"bracket index", good + "props:\n  sku: items[0].sku\n", 9, "props.sku", "dotted"},
		{"bad ts format", strings.Replace(good, "format: rfc3339", "format: iso8601", 1), 5, "ts.format", `unknown format "iso8601"`},
		{"missing ts format", strings.Replace(good, ", format: rfc3339", "", 1), 5, "ts.format", "required"},
		{"missing ids", strings.Replace(good, "ids: {cookie: c}\n", "", 1), 1, "ids", "required"},
		{"type constant and path", strings.Replace(good, "{constant: page_view}", "{constant: page_view, path: t}", 1), 6, "type.path", "constant"},
		{"bad type name", strings.Replace(good, "constant: page_view", "constant: Page View", 1), 6, "type.constant", "lower case"},
		{"bad value type", good + "type2: x\n", 8, "type2", "unknown field"},
		{"duplicate key", good + "name: s2\n", 8, "name", "given twice (first on line 1)"},
		{"template unclosed", strings.Replace(good, "{path: id}", `{template: "pos-{store"}`, 1), 4, "event_id.template", "unclosed"},
		{"template without path", strings.Replace(good, "{path: id}", `{template: "pos"}`, 1), 4, "event_id.template", "no {path}"},
		{"path and template", strings.Replace(good, "{path: id}", `{path: id, template: "x-{id}"}`, 1), 4, "event_id.template", "not both"},
		{"bad topic", strings.Replace(good, "topic: t", "topic: omni web", 1), 2, "topic", "Kafka topic"},
		{"alias", good + "props: {a: &x b, c: *x}\n", 8, "props.c", "aliases"},
		{"yaml syntax", good + "props: {a: [b}\n", 8, "", "invalid YAML"},
		{"empty list", strings.Replace(good, "{cookie: c}", "{cookie: []}", 1), 7, "ids.cookie", "1 to 8"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := loadYAML(t, "src.yaml", c.text)
			var ce *config.Error
			if !errors.As(err, &ce) {
				t.Fatalf("got %v (%T), want *config.Error", err, err)
			}
			if !strings.HasSuffix(ce.File, "src.yaml") || ce.Line != c.line || ce.Field != c.field || !strings.Contains(ce.Msg, c.msg) {
				t.Fatalf("got %q (line %d, field %q)\nwant line %d, field %q, message containing %q", ce.Error(), ce.Line, ce.Field, c.line, c.field, c.msg)
			}
		})
	}
}

func TestLoadDirDuplicateTopic(t *testing.T) {
	dir := t.TempDir()
	a := "name: a\ntopic: omni.web\nchannel: web\nevent_id: {path: id}\nts: {path: ts, format: rfc3339}\ntype: {constant: x}\nids: {cookie: c}\n"
	b := "# another SDK\nname: b\ntopic: omni.web\nchannel: web\nevent_id: {path: id}\nts: {path: ts, format: rfc3339}\ntype: {constant: x}\nids: {cookie: c}\n"
	for name, text := range map[string]string{"a.yaml": a, "b.yaml": b, "notes.txt": "ignored"} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	_, err := LoadDir(dir)
	var ce *config.Error
	if !errors.As(err, &ce) || ce.File != filepath.Join(dir, "b.yaml") || ce.Line != 3 || ce.Field != "topic" || !strings.Contains(ce.Msg, "a.yaml") {
		t.Fatalf("got %v", err)
	}
	// Unique topics load, in name order.
	if err := os.WriteFile(filepath.Join(dir, "b.yaml"), []byte(strings.Replace(b, "omni.web", "omni.app", 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	ms, err := LoadDir(dir)
	if err != nil || len(ms) != 2 || ms[0].Name() != "a" || ms[1].Topic() != "omni.app" {
		t.Fatalf("got %v, %v", ms, err)
	}
}
