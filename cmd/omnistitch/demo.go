package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/omnistitch/omnistitch/bench/gen"
	"github.com/omnistitch/omnistitch/internal/config"
	"github.com/omnistitch/omnistitch/pipeline"
	"github.com/omnistitch/omnistitch/pipeline/source"
	chsink "github.com/omnistitch/omnistitch/sinks/clickhouse"
	"github.com/omnistitch/omnistitch/state"
	"github.com/omnistitch/omnistitch/stitch"
	"github.com/omnistitch/omnistitch/stitch/offline"
)

// demo starts an in-process Kafka-protocol broker, produces generated
// omnichannel traffic with known ground truth to it, runs the service over
// it, and shows what happened.
func demoCmd() *cobra.Command {
	var customers, port int
	var seed uint64
	var outDir, chAddr, chDB string
	var keep bool
	cmd := &cobra.Command{
		Use:   "demo",
		Short: "Run the service on generated omnichannel traffic through an embedded broker, and show the result",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runDemo(cmd.Context(), cmd.OutOrStdout(), demoOptions{customers, seed, outDir, port, keep, chAddr, chDB})
		},
	}
	cmd.Flags().IntVar(&customers, "customers", 2000, "real persons in the generated traffic")
	cmd.Flags().Uint64Var(&seed, "seed", 1, "generator seed (same seed, same traffic)")
	cmd.Flags().StringVar(&outDir, "out", "", "directory for events.jsonl, stitched.jsonl and the state (default: a new temporary directory)")
	cmd.Flags().IntVar(&port, "port", 0, "port of the embedded broker (default: a free one)")
	cmd.Flags().BoolVar(&keep, "keep", false, "keep the broker running after the summary, until Ctrl-C (to look at it with kcat)")
	def := config.Default().ClickHouse
	cmd.Flags().StringVar(&chAddr, "clickhouse", def.Addr, `ClickHouse native host:port to write to, "" for none`)
	cmd.Flags().StringVar(&chDB, "database", def.Database, "ClickHouse database of the demo; emptied first")
	return cmd
}

type demoOptions struct {
	customers int
	seed      uint64
	outDir    string
	port      int
	keep      bool
	chAddr    string
	chDB      string
}

func runDemo(ctx context.Context, w io.Writer, o demoOptions) error {
	if ctx == nil {
		ctx = context.Background()
	}
	outDir := o.outDir
	if outDir == "" {
		d, err := os.MkdirTemp("", "omnistitch-demo-")
		if err != nil {
			return err
		}
		outDir = d
	} else if err := os.MkdirAll(outDir, 0o755); err != nil {
		return err
	}
	eventsPath := filepath.Join(outDir, "events.jsonl")
	outPath := filepath.Join(outDir, "stitched.jsonl")

	recs := gen.All(gen.Options{Seed: o.seed, Customers: o.customers})
	var in bytes.Buffer
	for _, r := range recs {
		in.Write(r.Line)
		in.WriteByte('\n')
	}
	if err := os.WriteFile(eventsPath, in.Bytes(), 0o644); err != nil {
		return err
	}

	cfg := config.Default()
	cfg.ClickHouse.Addr, cfg.ClickHouse.Database = o.chAddr, o.chDB
	if err := resetDatabase(ctx, &cfg.ClickHouse); err != nil {
		return err
	}
	topics := append([]string{cfg.Kafka.EventsTopic, cfg.Kafka.DeadLetterTopic}, triggerTopics(cfg)...)
	for _, m := range source.Default() {
		topics = append(topics, m.Topic())
	}
	b, err := pipeline.StartBroker(o.port, 4, topics...)
	if err != nil {
		return err
	}
	defer b.Close()
	fmt.Fprintf(w, "Started an in-process Kafka-protocol broker on %s (topics %s; 4 partitions each).\n",
		strings.Join(b.Addrs(), ","), strings.Join(topics, ", "))
	perTopic, err := produceRaw(ctx, b.Addrs(), recs)
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "Produced %d records of omnichannel traffic from %d people in the source systems' own formats\n", len(recs), o.customers)
	fmt.Fprintf(w, "(%s),\n", perTopic)
	fmt.Fprintf(w, "with junk identifiers, phone numbers in many formats, shared store tablets, late store\n")
	fmt.Fprintf(w, "uploads, redelivered duplicates and malformed records (also in %s).\n\n", eventsPath)

	cfg.Kafka.Brokers = b.Addrs()
	cfg.Kafka.Group = "omnistitch-demo"
	cfg.HTTP.Addr = "" // the demo runs beside whatever else listens on 8080
	cfg.State.Dir = filepath.Join(outDir, "state")
	runCtx, stop := context.WithCancel(ctx)
	defer stop()
	ready := make(chan struct{})
	var svc *pipeline.Service
	var eng *stitch.Engine
	var store *state.Store
	done := make(chan error, 1)
	start := time.Now()
	go func() {
		done <- serve(runCtx, cfg, slog.New(slog.DiscardHandler), func(r running) {
			// Called before the service consumes: its final state is
			// written as `omnistitch stitch` writes it, triggers included.
			r.eng.KeepTriggerLog()
			svc, eng, store = r.svc, r.eng, r.store
			close(ready)
		})
	}()
	select {
	case <-ready:
	case err := <-done:
		return err
	}
	deadline := time.Now().Add(5 * time.Minute)
	for st := svc.Stats(); st.Records < int64(len(recs)) || st.Sent < st.DeadLetters || (cfg.ClickHouse.Addr != "" && store.PendingRowBytes() > 0); st = svc.Stats() {
		if time.Now().After(deadline) || ctx.Err() != nil {
			stop()
			<-done
			return fmt.Errorf("the service did not consume all %d records in time (%+v)", len(recs), st)
		}
		time.Sleep(20 * time.Millisecond)
	}
	took := time.Since(start)
	st := svc.Stats()

	// The service is idle now; reading its state alongside is safe.
	out, err := os.Create(outPath)
	if err != nil {
		return err
	}
	var counts offline.Stats
	err = offline.Dump(eng, store, out, &counts)
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	stop()
	if rerr := <-done; err == nil {
		err = rerr
	}
	if err != nil {
		return err
	}

	sum, err := summarise(outPath)
	if err != nil {
		return err
	}
	p, r, f1 := gen.Score(recs, sum.pred)
	fmt.Fprintf(w, "The service consumed them in %s (%.0f records/s, state in Pebble at %s):\n", took.Round(time.Millisecond),
		float64(st.Records)/took.Seconds(), cfg.State.Dir)
	fmt.Fprintf(w, "  %7d events applied, %d redelivered duplicates dropped\n", st.Applied, st.Duplicates)
	fmt.Fprintf(w, "  %7d dead letters sent to %s\n", st.DeadLetters, cfg.Kafka.DeadLetterTopic)
	fmt.Fprintf(w, "  %7d customers (the traffic has %d real people)\n", counts.Customers, o.customers)
	fmt.Fprintf(w, "  %7d merges, %d refused links (conflicts)\n", counts.Merges, counts.Conflicts)
	fmt.Fprintf(w, "  stitching against the generator's truth: precision %.4f, recall %.4f, F1 %.4f\n\n", p, r, f1)
	if sum.example != "" {
		fmt.Fprintf(w, "One customer across channels (%s):\n%s\n", sum.exampleID, sum.example)
	}
	if cfg.ClickHouse.Addr != "" {
		if err := showClickHouse(ctx, w, &cfg.ClickHouse); err != nil {
			return err
		}
	}
	fmt.Fprintf(w, "The final state, one JSON object per line: %s\n", outPath)
	fmt.Fprintf(w, "Try:\n")
	fmt.Fprintf(w, "  grep '\"kind\":\"merge\"' %s | head\n", outPath)
	fmt.Fprintf(w, "  grep '\"customer_id\":\"%s\"' %s\n", sum.exampleID, outPath)
	fmt.Fprintf(w, "  %s stitch %s | grep deadletter | head     # the same engine, offline\n", os.Args[0], eventsPath)
	if o.keep {
		fmt.Fprintf(w, "\nThe broker stays up until Ctrl-C. Look at it with kcat, e.g.:\n")
		fmt.Fprintf(w, "  kcat -b %s -C -t %s -f '%%h %%s\\n' -e\n", b.Addrs()[0], cfg.Kafka.DeadLetterTopic)
		sig, cancel := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
		defer cancel()
		<-sig.Done()
	}
	return nil
}

// produceRaw writes each generated event in the raw format of its source
// system to that system's topic, and says how many went where.
func produceRaw(ctx context.Context, addrs []string, recs []gen.Record) (string, error) {
	cl, err := kgo.NewClient(kgo.SeedBrokers(addrs...), kgo.ProducerLinger(5*time.Millisecond))
	if err != nil {
		return "", err
	}
	defer cl.Close()
	batch := make([]*kgo.Record, 0, len(recs))
	counts := map[string]int{}
	for i, r := range recs {
		topic, raw, err := gen.RawLine(r.Line)
		if err != nil {
			continue // an empty line: nothing to send
		}
		counts[topic]++
		// Keyed by the line's position: spread over the partitions, the
		// way independent source systems would write them.
		batch = append(batch, &kgo.Record{Topic: topic, Key: strconv.AppendInt(nil, int64(i), 10), Value: raw})
	}
	if err := cl.ProduceSync(ctx, batch...).FirstErr(); err != nil {
		return "", err
	}
	var parts []string
	for t, n := range counts {
		parts = append(parts, fmt.Sprintf("%s %d", t, n))
	}
	slices.Sort(parts)
	return strings.Join(parts, ", "), nil
}

type summary struct {
	pred      map[string]string
	exampleID string
	example   string
}

// summarise reads the stitched output back: the grouping for scoring and the
// customer with the most channels as an example.
func summarise(path string) (*summary, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	s := &summary{pred: map[string]string{}}
	type row struct {
		Kind       string   `json:"kind"`
		CustomerID string   `json:"customer_id"`
		EventID    string   `json:"event_id"`
		Channels   []string `json:"channels"`
		Seq        int      `json:"seq"`
		TS         string   `json:"ts"`
		Channel    string   `json:"channel"`
		Type       string   `json:"type"`
		Stage      string   `json:"stage"`
	}
	best := 0
	var cur []string
	var curID string
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<24)
	for sc.Scan() {
		var r row
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			return nil, err
		}
		switch r.Kind {
		case "profile":
			curID, cur = "", nil
			if len(r.Channels) > best || (len(r.Channels) == best && s.exampleID == "") {
				best, curID = len(r.Channels), r.CustomerID
				cur = []string{fmt.Sprintf("  %s", sc.Text())}
			}
		case "journey":
			s.pred[r.EventID] = r.CustomerID
			if r.CustomerID == curID && len(cur) < 13 {
				cur = append(cur, fmt.Sprintf("  %3d  %s  %-10s %-15s %s", r.Seq, r.TS, r.Channel, r.Type, r.Stage))
				s.exampleID, s.example = curID, strings.Join(cur, "\n")
			}
		}
	}
	return s, sc.Err()
}

// resetDatabase empties the demo's (or benchmark's) database, so that what it shows is
// this run's alone, and says clearly when there is no ClickHouse to write to.
func resetDatabase(ctx context.Context, cfg *config.ClickHouse) error {
	if cfg.Addr == "" {
		return nil
	}
	conn, err := chsink.Open(ctx, cfg)
	if err != nil {
		return fmt.Errorf("demo: no ClickHouse at %s (make demo starts one; --clickhouse \"\" runs without): %w", cfg.Addr, err)
	}
	defer conn.Close()
	return conn.Exec(ctx, "DROP DATABASE IF EXISTS "+cfg.Database)
}

// showClickHouse prints what landed in ClickHouse and queries to try.
func showClickHouse(ctx context.Context, w io.Writer, cfg *config.ClickHouse) error {
	conn, err := chsink.Open(ctx, cfg)
	if err != nil {
		return err
	}
	defer conn.Close()
	db := cfg.Database
	var rows, customers, ids, merges uint64
	for _, q := range []struct {
		sql string
		dst *uint64
	}{
		{"SELECT count() FROM " + db + ".journeys", &rows},
		{"SELECT count() FROM " + db + ".profiles", &customers},
		{"SELECT count() FROM " + db + ".identities", &ids},
		{"SELECT count() FROM " + db + ".merges", &merges},
	} {
		if err := conn.QueryRow(ctx, q.sql).Scan(q.dst); err != nil {
			return fmt.Errorf("demo: %s: %w", q.sql, err)
		}
	}
	host, port, _ := strings.Cut(cfg.Addr, ":")
	fmt.Fprintf(w, "In ClickHouse at %s, database %s: %d journey rows, %d profiles, %d identifiers, %d merges.\n", cfg.Addr, db, rows, customers, ids, merges)
	fmt.Fprintf(w, "Try (clickhouse-client --host %s --port %s --query '…'):\n", host, port)
	for _, q := range []string{
		"SELECT channel, type, count() AS n FROM " + db + ".journeys GROUP BY channel, type ORDER BY n DESC LIMIT 10",
		"SELECT prev_channel, channel, count() AS n FROM " + db + ".journeys WHERE prev_channel != '' AND prev_channel != channel GROUP BY prev_channel, channel ORDER BY n DESC",
		"SELECT customer_id, seq, event_time, channel, type, stage FROM " + db + ".journeys WHERE customer_id = (SELECT customer_id FROM " + db + ".profiles ORDER BY length(channels) DESC, events DESC LIMIT 1) ORDER BY seq",
		"SELECT length(channels) AS channels_used, count() AS customers, round(avg(revenue), 2) AS avg_revenue FROM " + db + ".profiles GROUP BY channels_used ORDER BY channels_used",
	} {
		fmt.Fprintf(w, "  %s\n", q)
	}
	fmt.Fprintln(w)
	return nil
}
