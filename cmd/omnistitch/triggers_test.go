package main

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/omnistitch/omnistitch/bench/gen"
	"github.com/omnistitch/omnistitch/internal/config"
	"github.com/omnistitch/omnistitch/pipeline"
	"github.com/omnistitch/omnistitch/stitch/offline"
)

// rulesConfig is the default configuration with the default rules, but no
// allowed lateness: the service's watermark is then the newest event time,
// which is where the offline command moves it at the end of its input.
func rulesConfig(t *testing.T) *config.Config {
	t.Helper()
	dir := t.TempDir()
	rules, err := os.ReadFile("../../configs/rules.yaml")
	if err != nil {
		t.Fatal(err)
	}
	segs, err := os.ReadFile("../../configs/segments.yaml")
	if err != nil {
		t.Fatal(err)
	}
	r := strings.Replace(string(rules), "\nallowed_lateness: 5m", "\nallowed_lateness: 0s", 1)
	if r == string(rules) {
		t.Fatal("configs/rules.yaml no longer sets allowed_lateness: 5m; update the test")
	}
	cfg := config.Default()
	cfg.RulesFile, cfg.SegmentsFile = filepath.Join(dir, "rules.yaml"), filepath.Join(dir, "segments.yaml")
	os.WriteFile(cfg.RulesFile, []byte(r), 0o644)
	os.WriteFile(cfg.SegmentsFile, segs, 0o644)
	return cfg
}

// On a 1-partition topic the trigger topic holds exactly the triggers that
// `omnistitch stitch` reports for the same events, one trigger_id each,
// keyed by customer with the rule in a header.
func TestTriggerTopicEqualsOfflineStitch(t *testing.T) {
	cfg := rulesConfig(t)
	recs := gen.All(gen.Options{Seed: 6, Customers: 120})
	var lines bytes.Buffer
	var produce []*kgo.Record
	for _, r := range recs {
		lines.Write(r.Line)
		lines.WriteByte('\n')
		produce = append(produce, &kgo.Record{Topic: "omni.events", Value: r.Line})
	}
	var out bytes.Buffer
	if _, err := offline.Run(offline.Options{Config: cfg}, []offline.Input{{R: &lines}}, &out); err != nil {
		t.Fatal(err)
	}
	want := map[string]string{}
	for _, l := range strings.Split(strings.TrimSpace(out.String()), "\n") {
		if strings.Contains(l, `"kind":"trigger"`) {
			var m map[string]any
			json.Unmarshal([]byte(l), &m)
			delete(m, "kind")
			b, _ := json.Marshal(m)
			want[m["trigger_id"].(string)] = string(b)
		}
	}
	if len(want) < 10 {
		t.Fatalf("only %d triggers offline; the traffic does not exercise the rules", len(want))
	}

	b, err := pipeline.StartBroker(0, 1, "omni.events", "omni.deadletter", "omni.triggers")
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	cl, err := kgo.NewClient(kgo.SeedBrokers(b.Addrs()...), kgo.ConsumeTopics("omni.triggers"),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	if err := cl.ProduceSync(context.Background(), produce...).FirstErr(); err != nil {
		t.Fatal(err)
	}
	cfg.Kafka.Brokers = b.Addrs()
	cfg.HTTP.Addr, cfg.ClickHouse.Addr = "", ""
	cfg.State.Dir = filepath.Join(t.TempDir(), "state")
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- serve(ctx, cfg, slog.New(slog.DiscardHandler), nil) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	}()

	got := map[string]string{}
	deadline := time.Now().Add(60 * time.Second)
	for len(got) < len(want) && time.Now().Before(deadline) {
		pctx, pcancel := context.WithTimeout(context.Background(), time.Second)
		fs := cl.PollFetches(pctx)
		pcancel()
		for _, r := range fs.Records() {
			var m map[string]any
			if err := json.Unmarshal(r.Value, &m); err != nil {
				t.Fatalf("trigger value is not JSON: %s", r.Value)
			}
			id, _ := m["trigger_id"].(string)
			if _, dup := got[id]; dup {
				t.Fatalf("trigger %s twice on the topic", id)
			}
			if string(r.Key) != m["customer_id"] || len(r.Headers) != 1 || r.Headers[0].Key != "rule" || string(r.Headers[0].Value) != m["rule"] {
				t.Fatalf("trigger %s: key %q, headers %v; want the customer id and a rule header", id, r.Key, r.Headers)
			}
			canon, _ := json.Marshal(m) // keys sorted, as the offline lines are
			got[id] = string(canon)
		}
	}
	var missing, extra, differ []string
	for id, w := range want {
		g, ok := got[id]
		switch {
		case !ok:
			missing = append(missing, id)
		case g != w:
			differ = append(differ, "topic "+g+"\noffline "+w)
		}
	}
	for id := range got {
		if _, ok := want[id]; !ok {
			extra = append(extra, got[id])
		}
	}
	slices.Sort(missing)
	if len(missing)+len(extra)+len(differ) > 0 {
		t.Fatalf("%d triggers offline, %d on the topic: missing %v\nextra %v\ndiffering %v", len(want), len(got), missing, extra, differ)
	}
}

// With no new traffic the watermark follows the wall clock: an abandoned
// cart fires although no later event ever arrives.
func TestIdleSourcesStillFireTimers(t *testing.T) {
	dir := t.TempDir()
	cfg := config.Default()
	cfg.RulesFile, cfg.SegmentsFile = filepath.Join(dir, "rules.yaml"), filepath.Join(dir, "segments.yaml")
	os.WriteFile(cfg.RulesFile, []byte(`
topic: omni.triggers
allowed_lateness: 0s
idle_after: 1s
rules:
  - name: cart_abandoned
    kind: absence
    when: {types: [add_to_cart]}
    then: {types: [purchase]}
    within: 2s
`), 0o644)
	os.WriteFile(cfg.SegmentsFile, []byte("segments: []\n"), 0o644)
	b, err := pipeline.StartBroker(0, 1, "omni.events", "omni.deadletter", "omni.triggers")
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	cl, err := kgo.NewClient(kgo.SeedBrokers(b.Addrs()...), kgo.ConsumeTopics("omni.triggers"),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	cart := `{"event_id":"a1","channel":"web","type":"add_to_cart","ts":"2026-11-20T10:00:00Z","ids":{"cookie":"k1"}}`
	if err := cl.ProduceSync(context.Background(), &kgo.Record{Topic: "omni.events", Value: []byte(cart)}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	cfg.Kafka.Brokers = b.Addrs()
	cfg.HTTP.Addr, cfg.ClickHouse.Addr = "", ""
	cfg.State.Dir = filepath.Join(t.TempDir(), "state")
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- serve(ctx, cfg, slog.New(slog.DiscardHandler), nil) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	}()
	pctx, pcancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer pcancel()
	fs := cl.PollFetches(pctx)
	recs := fs.Records()
	if len(recs) != 1 || !strings.Contains(string(recs[0].Value), `"event_ids":["a1"]`) {
		t.Fatalf("want the cart's trigger on the topic while the sources are idle, got %d records (%v)", len(recs), fs.Errors())
	}
}
