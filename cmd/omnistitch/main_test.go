package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"runtime/debug"
	"strings"
	"testing"
	"time"

	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/omnistitch/omnistitch/bench/gen"
	"github.com/omnistitch/omnistitch/internal/chtest"
	"github.com/omnistitch/omnistitch/internal/config"
	"github.com/omnistitch/omnistitch/pipeline"
)

func execute(t *testing.T, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	root := &cobra.Command{Use: "omnistitch", SilenceUsage: true, SilenceErrors: true}
	root.AddCommand(stitchCmd(), demoCmd(), benchCmd(), migrateCmd(), forgetCmd(), unmergeCmd(), versionCmd())
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
	addr, db := chtest.Database(t)
	out, _, err = execute(t, "demo", "--customers", "40", "--out", t.TempDir(), "--clickhouse", addr, "--database", db)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"40 customers (the traffic has 40 real people)", "F1 1.0000", "One customer across channels",
		"In ClickHouse at " + addr + ", database " + db + ": ", " 40 profiles"} {
		if !strings.Contains(out, want) {
			t.Errorf("demo output lacks %q:\n%s", want, out)
		}
	}
}

// The benchmark's JSON has the keys the SPEC names, with values a small run
// must reach: every record consumed, exact stitching, a no-op yardstick.
func TestBenchJSON(t *testing.T) {
	path := filepath.Join(t.TempDir(), "bench.json")
	out, _, err := execute(t, "bench", "--customers", "60", "--rate", "5000", "--json", path)
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var got map[string]any
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatal(err)
	}
	num := func(path ...string) float64 {
		var v any = got
		for _, k := range path {
			m, ok := v.(map[string]any)
			if !ok {
				t.Fatalf("%v: not an object in %s", path, b)
			}
			v = m[k]
		}
		f, ok := v.(float64)
		if !ok {
			t.Fatalf("key %s missing or not a number in %s", strings.Join(path, "."), b)
		}
		return f
	}
	if num("events_per_s") <= 0 || num("noop_consume_events_per_s") <= 0 || num("peak_rss_bytes") <= 0 {
		t.Fatalf("rates and memory must be positive: %s", b)
	}
	if p50, p99 := num("latency_ms", "p50"), num("latency_ms", "p99"); p50 <= 0 || p99 < p50 {
		t.Fatalf("latency p50 %v p99 %v", p50, p99)
	}
	for _, k := range []string{"precision", "recall", "f1"} {
		if v := num("accuracy", k); v != 1 {
			t.Errorf("accuracy.%s = %v, want 1 on this traffic\n%s", k, v, out)
		}
	}
}

func TestMigrateIsIdempotent(t *testing.T) {
	addr, db := chtest.Database(t)
	out, _, err := execute(t, "migrate", "--clickhouse", addr, "--database", db)
	if err != nil || !strings.Contains(out, "applied migrations [1 2]") {
		t.Fatalf("first migrate: %q %v", out, err)
	}
	out, _, err = execute(t, "migrate", "--clickhouse", addr, "--database", db)
	if err != nil || !strings.Contains(out, "up to date") {
		t.Fatalf("second migrate: %q %v", out, err)
	}
}

// A new source system needs only a YAML file: a mapping dropped into
// sources_dir is consumed from its topic by the service.
func TestNewSourceNeedsOnlyAYAMLFile(t *testing.T) {
	b, err := pipeline.StartBroker(0, 1, "omni.kiosk", "omni.events", "omni.deadletter")
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	dir := t.TempDir()
	srcDir := filepath.Join(dir, "sources")
	os.MkdirAll(srcDir, 0o755)
	store, err := os.ReadFile("../../configs/sources/store.yaml")
	if err != nil {
		t.Fatal(err)
	}
	kiosk := strings.Replace(strings.Replace(string(store), "\nname: store", "\nname: kiosk", 1), "\ntopic: omni.store", "\ntopic: omni.kiosk", 1)
	os.WriteFile(filepath.Join(srcDir, "kiosk.yaml"), []byte(kiosk), 0o644)
	os.WriteFile(filepath.Join(dir, "omnistitch.yaml"), []byte("sources_dir: sources\nhttp:\n  addr: \"\"\nclickhouse:\n  addr: \"\"\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "identity.yaml"), []byte("{}\n"), 0o644)
	cfg, err := loadConfig(filepath.Join(dir, "omnistitch.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	cfg.Kafka.Brokers = b.Addrs()
	cfg.State.Dir = filepath.Join(dir, "state")

	raw := `{"txn_type":"sale","store":"K1","till":"T1","txn_no":"000001","ts":"2026-11-01T10:00:00+01:00","loyalty_card":"LC-1","total":5,"currency":"EUR"}`
	cl, err := kgo.NewClient(kgo.SeedBrokers(b.Addrs()...))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	if err := cl.ProduceSync(context.Background(), &kgo.Record{Topic: "omni.kiosk", Value: []byte(raw)}).FirstErr(); err != nil {
		t.Fatal(err)
	}

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	svcs := make(chan *pipeline.Service, 1)
	done := make(chan error, 1)
	go func() {
		done <- serve(ctx, cfg, slog.New(slog.DiscardHandler), func(r running) { svcs <- r.svc })
	}()
	var svc *pipeline.Service
	select {
	case svc = <-svcs:
	case err := <-done:
		t.Fatal(err)
	}
	for deadline := time.Now().Add(20 * time.Second); svc.Stats().Applied < 1; {
		if time.Now().After(deadline) {
			t.Fatalf("the kiosk record was not applied: %+v", svc.Stats())
		}
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

// bench --events-out writes the generated traffic as canonical events, the
// same lines the generator makes, which omnistitch stitch reads: the
// engine measured alone on any number of people.
func TestBenchEventsOut(t *testing.T) {
	path := filepath.Join(t.TempDir(), "events.jsonl")
	out, _, err := execute(t, "bench", "--customers", "50", "--events", "300", "--seed", "3", "--events-out", path)
	if err != nil {
		t.Fatal(err)
	}
	want := gen.All(gen.Options{Seed: 3, Customers: 50, Events: 300})
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
	if len(lines) != len(want) || !strings.Contains(out, fmt.Sprintf("%d lines of 50 people", len(want))) {
		t.Fatalf("%d lines written (%q), the generator makes %d", len(lines), out, len(want))
	}
	for i, l := range lines {
		if l != string(want[i].Line) {
			t.Fatalf("line %d: %s, want %s", i+1, l, want[i].Line)
		}
	}
	_, errOut, err := execute(t, "stitch", "-q=false", path)
	if err != nil || !strings.Contains(errOut, fmt.Sprintf("%d lines:", len(want))) || !strings.Contains(errOut, "lines/s)") {
		t.Fatalf("stitch on it: %v, %s", err, errOut)
	}
}

// bench --events-out - writes the same lines to stdout, and the summary to
// stderr, so that the traffic can be piped into omnistitch stitch.
func TestBenchEventsOutStdout(t *testing.T) {
	out, errOut, err := execute(t, "bench", "--customers", "50", "--events", "300", "--seed", "3", "--events-out", "-")
	if err != nil {
		t.Fatal(err)
	}
	var want strings.Builder
	recs := gen.All(gen.Options{Seed: 3, Customers: 50, Events: 300})
	for _, r := range recs {
		want.Write(r.Line)
		want.WriteByte('\n')
	}
	if out != want.String() {
		t.Fatalf("stdout is not the generated traffic (%d bytes, want %d)", len(out), want.Len())
	}
	if !strings.Contains(errOut, fmt.Sprintf("%d lines of 50 people written to stdout", len(recs))) {
		t.Fatalf("stderr: %q", errOut)
	}
}

// state.heap_limit_mb and state.gc_percent become the runtime's soft
// memory limit and collector target, unless the environment sets
// GOMEMLIMIT or GOGC.
func TestRuntimeLimits(t *testing.T) {
	before := debug.SetMemoryLimit(-1)
	gcBefore := debug.SetGCPercent(100)
	t.Cleanup(func() { debug.SetMemoryLimit(before); debug.SetGCPercent(gcBefore) })
	cfg := config.Default()
	cfg.State.HeapLimitMB, cfg.State.GCPercent = 300, 250
	t.Setenv("GOMEMLIMIT", "")
	t.Setenv("GOGC", "")
	applyRuntimeLimits(cfg)
	if got := debug.SetMemoryLimit(-1); got != 300<<20 {
		t.Fatalf("limit %d, want %d", got, 300<<20)
	}
	if got := debug.SetGCPercent(250); got != 250 {
		t.Fatalf("GC percent %d, want 250", got)
	}
	t.Setenv("GOMEMLIMIT", "1GiB")
	t.Setenv("GOGC", "100")
	cfg.State.HeapLimitMB, cfg.State.GCPercent = 200, 400
	applyRuntimeLimits(cfg)
	if got := debug.SetMemoryLimit(-1); got != 300<<20 {
		t.Fatalf("GOMEMLIMIT set, yet the limit changed to %d", got)
	}
	if got := debug.SetGCPercent(250); got != 250 {
		t.Fatalf("GOGC set, yet the GC percent changed to %d", got)
	}
}
