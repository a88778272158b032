package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/omnistitch/omnistitch/bench/gen"
	"github.com/omnistitch/omnistitch/internal/chtest"
	"github.com/omnistitch/omnistitch/internal/config"
	"github.com/omnistitch/omnistitch/pipeline"
	"github.com/omnistitch/omnistitch/pipeline/source"
	chsink "github.com/omnistitch/omnistitch/sinks/clickhouse"
	"github.com/omnistitch/omnistitch/stitch/offline"
)

// serveUntilWritten runs the service over a broker until it has consumed n
// records and written every row to ClickHouse, then stops it.
func serveUntilWritten(t *testing.T, cfg *config.Config, n int64) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	runs := make(chan running, 1)
	done := make(chan error, 1)
	go func() { done <- serve(ctx, cfg, slog.New(slog.DiscardHandler), func(r running) { runs <- r }) }()
	var r running
	select {
	case r = <-runs:
	case err := <-done:
		t.Fatal(err)
	}
	for deadline := time.Now().Add(2 * time.Minute); r.svc.Stats().Records < n || r.store.PendingRowBytes() > 0; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("service did not consume and write everything: %+v, %d bytes waiting", r.svc.Stats(), r.store.PendingRowBytes())
		}
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

func journeysOf(t *testing.T, cfg *config.ClickHouse) []string {
	t.Helper()
	conn, err := chsink.Open(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	rows, err := conn.Query(context.Background(), "SELECT customer_id, seq, event_id FROM "+cfg.Database+".journeys ORDER BY customer_id, seq")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var cust, eid string
		var seq uint32
		if err := rows.Scan(&cust, &seq, &eid); err != nil {
			t.Fatal(err)
		}
		out = append(out, fmt.Sprintf("%s %d %s", cust, seq, eid))
	}
	return out
}

// On one partition the service sees the events in file order, as the
// offline command does: omnistitch.journeys equals `omnistitch stitch` on
// the same events — the same customer ids, the same seq.
func TestServiceJourneysEqualOfflineStitch(t *testing.T) {
	addr, db := chtest.Database(t)
	recs := gen.All(gen.Options{Seed: 4, Customers: 150})
	var lines bytes.Buffer
	var produce []*kgo.Record
	for _, r := range recs {
		lines.Write(r.Line)
		lines.WriteByte('\n')
		produce = append(produce, &kgo.Record{Topic: "omni.events", Value: r.Line})
	}
	var out bytes.Buffer
	if _, err := offline.Run(offline.Options{}, []offline.Input{{R: bytes.NewReader(lines.Bytes())}}, &out); err != nil {
		t.Fatal(err)
	}
	var want []string
	for _, l := range strings.Split(strings.TrimSpace(out.String()), "\n") {
		var j struct {
			Kind, CustomerID, EventID string
			Seq                       int
		}
		json.Unmarshal([]byte(strings.NewReplacer(`"customer_id"`, `"CustomerID"`, `"event_id"`, `"EventID"`).Replace(l)), &j)
		if j.Kind == "journey" {
			want = append(want, fmt.Sprintf("%s %d %s", j.CustomerID, j.Seq, j.EventID))
		}
	}
	// The offline output lists customers by id and journeys by seq, the
	// order of the query below.

	b, err := pipeline.StartBroker(0, 1, "omni.events", "omni.deadletter")
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	cl, err := kgo.NewClient(kgo.SeedBrokers(b.Addrs()...))
	if err != nil {
		t.Fatal(err)
	}
	if err := cl.ProduceSync(context.Background(), produce...).FirstErr(); err != nil {
		t.Fatal(err)
	}
	cl.Close()

	cfg := config.Default()
	cfg.Kafka.Brokers = b.Addrs()
	cfg.HTTP.Addr = ""
	cfg.State.Dir = filepath.Join(t.TempDir(), "state")
	cfg.ClickHouse.Addr, cfg.ClickHouse.Database = addr, db
	serveUntilWritten(t, cfg, int64(len(produce)))

	got := journeysOf(t, &cfg.ClickHouse)
	if len(want) == 0 || strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("journeys differ: ClickHouse %d rows, offline %d\n%s", len(got), len(want), firstDiff(want, got))
	}
}

// Raw source formats on four partitions each: the order across partitions
// is not the file's, but every event is in the journeys exactly once, seq is
// gap-free, and the stitching matches the generator's truth.
func TestServiceFourPartitionsExactlyOnce(t *testing.T) {
	addr, db := chtest.Database(t)
	recs := gen.All(gen.Options{Seed: 8, Customers: 300})
	cfg := config.Default()
	topics := []string{cfg.Kafka.EventsTopic, cfg.Kafka.DeadLetterTopic}
	for _, m := range source.Default() {
		topics = append(topics, m.Topic())
	}
	b, err := pipeline.StartBroker(0, 4, topics...)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if _, err := produceRaw(context.Background(), b.Addrs(), recs); err != nil {
		t.Fatal(err)
	}
	produced := int64(0)
	valid := map[string]bool{}
	for _, r := range recs {
		if _, _, err := gen.RawLine(r.Line); err == nil {
			produced++
		}
		if r.Valid {
			valid[r.EventID] = true
		}
	}
	cfg.Kafka.Brokers = b.Addrs()
	cfg.HTTP.Addr = ""
	cfg.State.Dir = filepath.Join(t.TempDir(), "state")
	cfg.ClickHouse.Addr, cfg.ClickHouse.Database = addr, db
	serveUntilWritten(t, cfg, produced)

	pred := map[string]string{}
	seqs := map[string]int{}
	for _, row := range journeysOf(t, &cfg.ClickHouse) {
		var cust, eid string
		var seq int
		fmt.Sscanf(row, "%s %d %s", &cust, &seq, &eid)
		if _, dup := pred[eid]; dup {
			t.Fatalf("event %s appears twice", eid)
		}
		pred[eid] = cust
		if seq != seqs[cust]+1 {
			t.Fatalf("customer %s: seq %d after %d", cust, seq, seqs[cust])
		}
		seqs[cust] = seq
	}
	if len(pred) != len(valid) {
		t.Fatalf("%d events in the journeys, %d valid events produced", len(pred), len(valid))
	}
	p, r, f1 := gen.Score(recs, pred)
	if f1 < 0.99 {
		t.Fatalf("stitching precision %.4f recall %.4f F1 %.4f, want F1 >= 0.99", p, r, f1)
	}
}

func firstDiff(want, got []string) string {
	for i := 0; i < max(len(want), len(got)); i++ {
		var w, g string
		if i < len(want) {
			w = want[i]
		}
		if i < len(got) {
			g = got[i]
		}
		if w != g {
			return fmt.Sprintf("first difference at row %d: offline %q, ClickHouse %q", i, w, g)
		}
	}
	return ""
}
