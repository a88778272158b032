package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/spf13/cobra"
)

func execute(t *testing.T, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	root := &cobra.Command{Use: "omnistitch", SilenceUsage: true, SilenceErrors: true}
	root.AddCommand(stitchCmd(), demoCmd(), versionCmd())
	var out, errb bytes.Buffer
	root.SetOut(&out)
	root.SetErr(&errb)
	root.SetArgs(args)
	err = root.Execute()
	return out.String(), errb.String(), err
}

func TestStitchCommand(t *testing.T) {
	dir := t.TempDir()
	in := filepath.Join(dir, "events.jsonl")
	lines := `{"event_id":"w1","channel":"web","type":"page_view","ts":"2026-11-20T10:00:00Z","ids":{"cookie":"ck1","email":"A@B.com"}}
{"event_id":"c1","channel":"callcentre","type":"call","ts":"2026-11-21T09:00:00Z","ids":{"phone":"030 1234567","email":"a@b.com"}}
not json
`
	if err := os.WriteFile(in, []byte(lines), 0o644); err != nil {
		t.Fatal(err)
	}
	out, errOut, err := execute(t, "stitch", in)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		`{"kind":"deadletter","file":"` + in + `","line":3,"reason":"malformed_json"`,
		`"ids":{"cookie":["ck1"],"email":["a@b.com"],"phone":["+49301234567"]}`,
		`"seq":2,"event_id":"c1","channel":"callcentre"`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %s:\n%s", want, out)
		}
	}
	if !strings.Contains(errOut, "3 lines: 2 events applied, 0 duplicates dropped, 1 dead letters; 1 customers") {
		t.Errorf("summary: %s", errOut)
	}

	// The state directory carries a run over to the next one.
	state := filepath.Join(dir, "state")
	if _, _, err := execute(t, "stitch", "-q", "--state", state, in); err != nil {
		t.Fatal(err)
	}
	more := filepath.Join(dir, "more.jsonl")
	os.WriteFile(more, []byte(`{"event_id":"s1","channel":"store","type":"purchase","ts":"2026-11-22T09:00:00Z","ids":{"phone":"+49 30 1234567"},"props":{"total":10}}`+"\n"), 0o644)
	out, _, err = execute(t, "stitch", "-q", "--state", state, more)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, `"events":3`) || !strings.Contains(out, `"seq":3,"event_id":"s1"`) {
		t.Errorf("resumed run did not continue the customer:\n%s", out)
	}
}

func TestStitchBadConfigNamesFileLineField(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "omnistitch.yaml")
	os.WriteFile(cfg, []byte("state:\n  customer_cache: lots\n"), 0o644)
	_, _, err := execute(t, "stitch", "--config", cfg, os.DevNull)
	if err == nil || !strings.Contains(err.Error(), cfg+":2:") || !strings.Contains(err.Error(), "state.customer_cache") {
		t.Fatalf("error %v does not name file, line 2 and field", err)
	}
}

func TestVersionAndDemo(t *testing.T) {
	out, _, err := execute(t, "version")
	if err != nil || !strings.HasPrefix(out, "omnistitch ") {
		t.Fatalf("version: %q %v", out, err)
	}
	out, _, err = execute(t, "demo", "--customers", "40", "--out", t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"40 customers (the traffic has 40 real people)", "F1 1.0000", "One customer across channels"} {
		if !strings.Contains(out, want) {
			t.Errorf("demo output lacks %q:\n%s", want, out)
		}
	}
}
