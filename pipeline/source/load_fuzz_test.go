package source

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/omnistitch/omnistitch/stitch/event"
)

// FuzzLoadMapping feeds arbitrary bytes as a source file and maps an
// arbitrary record with what loaded: loading never panics and returns a
// Mapping or a *config.Error naming the file; a loaded Mapping either
// writes valid JSON that the canonical decoder does not reject as
// malformed, or returns an *event.Error. FuzzMap covers the shipped
// mappings on any record; this covers any mapping.
func FuzzLoadMapping(f *testing.F) {
	dir := filepath.Join("..", "..", "configs", "sources")
	ents, err := os.ReadDir(dir)
	if err != nil {
		f.Fatal(err)
	}
	for _, e := range ents {
		if !strings.HasSuffix(e.Name(), ".yaml") {
			continue
		}
		data, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			f.Fatal(err)
		}
		ch := strings.TrimSuffix(e.Name(), ".yaml")
		for i, l := range sampleLines(f, ch) {
			if i < 3 {
				f.Add(data, l)
			}
		}
	}
	const small = "name: s\ntopic: t\nchannel: web\nevent_id: {path: a.0.b, prefix: \"\\u0000\"}\nts: {path: [t, u], format: epoch_s}\n" +
		"type: {path: k, values: {x: purchase}, default: page_view}\nids: {cookie: [c, d.e], email: f}\nprops: {total: g, from: h}\n"
	f.Add([]byte(small), []byte(`{"a":[{"b":"\u0000"}],"t":"1e30","k":"x","c":"\xff","h":{"total":1,"y":[[[[]]]]}}`))
	f.Add([]byte("name: s\ntopic: t\nchannel: web\nevent_id: {template: \"{a}-{a}-{b}\"}\nts: {path: t, format: rfc3339}\ntype: {constant: purchase}\nids: {cookie: c}\n"),
		[]byte(`{"a":1e999,"b":-0,"t":"0001-01-01T00:00:00Z","c":0}`))
	f.Add([]byte("a: &a [*a, *a]\n"), []byte(`{}`))
	f.Add([]byte("name: &n s\ntopic: *n\nchannel: *n\n"), []byte(`{}`))
	f.Add([]byte(""), []byte(""))

	dec := event.NewDecoder(0, nil)
	f.Fuzz(func(t *testing.T, yamlData, raw []byte) {
		m, cerr := parse("src.yaml", yamlData)
		if cerr != nil {
			if m != nil {
				t.Fatalf("mapping returned with error %v", cerr)
			}
			if cerr.File != "src.yaml" || cerr.Msg == "" || cerr.Line < 0 {
				t.Fatalf("bad error %#v", cerr)
			}
			return
		}
		if m.Name() == "" || m.Topic() == "" || m.Channel() == "" {
			t.Fatalf("mapping without name, topic or channel: %q %q %q", m.Name(), m.Topic(), m.Channel())
		}
		out, err := m.Map(raw, nil)
		if err != nil {
			var e *event.Error
			if !errors.As(err, &e) {
				t.Fatalf("error %T is not an *event.Error: %v", err, err)
			}
			if out != nil {
				t.Fatalf("output on error %v", err)
			}
			return
		}
		if !json.Valid(raw) {
			t.Fatalf("mapped invalid JSON %q", raw)
		}
		if !json.Valid(out) {
			t.Fatalf("wrote invalid JSON %q from %q", out, raw)
		}
		if _, derr := dec.Decode(out); derr != nil {
			var e *event.Error
			if !errors.As(derr, &e) || e.Reason == event.ReasonMalformed {
				t.Fatalf("mapped line rejected as malformed: %v\n%s", derr, out)
			}
		}
	})
}

// FuzzMapPaths builds a valid-looking source file from fuzzed paths,
// prefix, template, ts format and prop names (where FuzzLoadMapping's
// mutated YAML seldom parses), and maps a fuzzed record with it: the same
// promises as FuzzLoadMapping, over the path syntax, the trie of shared
// path prefixes, alternatives, templates and props_from.
func FuzzMapPaths(f *testing.F) {
	rec := []byte(`{"id":"x-1","ts":1795168800123,"t":"Order Completed","u":{"c":"ck-1","e":"A@B.org","p":"030 1234567"},` +
		`"items":[{"sku":"J-1"},{"sku":"J-2"}],"props":{"a":1,"b":"2","c":{"d":null}},"x.y":3}`)
	f.Add("id", "web-", "", "ts", uint8(1), "t", "u.c", "u.e", "u.p", "total", "items.1.sku", "props", rec)
	f.Add("", "", "{id}-{items.0.sku}-{u.c}", "ts", uint8(1), "t", "u.c", "u.c", "u.c", "a", "props.c.d", "props", rec)
	f.Add("items.0", "", "", "ts", uint8(2), "missing", "u", "props.a", "items", "\x00", "x.y", "u", rec)
	f.Add("id", "\"\\\u2028", "", "t", uint8(0), "id", "props.b", "props.c", "u.e", "b", "props.b", "props.c", []byte(`{"id":"1","t":"2026-11-20T10:00:00Z","props":{"b":"x","c":{}}}`))
	f.Add("a..b", "", "{}", "0", uint8(3), ".", "1.", "-1", "99999999999999999999", "", "", "", []byte(`[]`))
	dec := event.NewDecoder(0, nil)
	formats := []string{"rfc3339", "epoch_ms", "epoch_s", "epoch_us"}
	f.Fuzz(func(t *testing.T, idPath, prefix, template, tsPath string, format uint8, typePath, cookie, email, phone, propName, propPath, propsFrom string, raw []byte) {
		q := func(s string) string { b, _ := json.Marshal(s); return string(b) } // a YAML flow scalar
		var y strings.Builder
		y.WriteString("name: fz\ntopic: omni.fz\nchannel: web\n")
		if template != "" {
			fmt.Fprintf(&y, "event_id: {template: %s}\n", q(template))
		} else {
			fmt.Fprintf(&y, "event_id: {path: %s, prefix: %s}\n", q(idPath), q(prefix))
		}
		fmt.Fprintf(&y, "ts: {path: [%s, %s], format: %s}\n", q(tsPath), q(idPath), formats[int(format)%len(formats)])
		fmt.Fprintf(&y, "type: {path: %s, values: {%s: purchase, x: page_view}, default: page_view}\n", q(typePath), q(typePath+"!"))
		fmt.Fprintf(&y, "ids: {cookie: [%s, %s], email: %s, phone: %s}\n", q(cookie), q(idPath), q(email), q(phone))
		if propsFrom != "" {
			fmt.Fprintf(&y, "props_from: %s\n", q(propsFrom))
		}
		fmt.Fprintf(&y, "props: {%s: %s}\n", q(propName), q(propPath))
		m, cerr := parse("src.yaml", []byte(y.String()))
		if cerr != nil {
			if m != nil || cerr.File != "src.yaml" || cerr.Msg == "" || cerr.Line < 0 {
				t.Fatalf("bad error %#v for\n%s", cerr, y.String())
			}
			return
		}
		out, err := m.Map(raw, nil)
		if err != nil {
			var e *event.Error
			if !errors.As(err, &e) || out != nil {
				t.Fatalf("error %T %v (output %q)", err, err, out)
			}
			if e.Reason != event.ReasonMalformed && !json.Valid(raw) {
				t.Fatalf("invalid JSON reported as %v", err)
			}
			return
		}
		if !json.Valid(raw) || !json.Valid(out) {
			t.Fatalf("mapped %q to %q", raw, out)
		}
		if _, derr := dec.Decode(out); derr != nil {
			var e *event.Error
			if !errors.As(derr, &e) || e.Reason == event.ReasonMalformed {
				t.Fatalf("mapped line rejected as malformed: %v\n%s\nmapping:\n%s", derr, out, y.String())
			}
		}
	})
}
