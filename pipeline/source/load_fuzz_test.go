package source

import (
	"encoding/json"
	"errors"
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
