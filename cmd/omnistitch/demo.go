package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/omnistitch/omnistitch/bench/gen"
	"github.com/omnistitch/omnistitch/internal/config"
	"github.com/omnistitch/omnistitch/stitch/offline"
)

// demo generates omnichannel traffic with known ground truth, stitches it
// with the engine and shows what happened. The Kafka service replaces the
// offline run here once it exists; the traffic and the report stay.
func demoCmd() *cobra.Command {
	var customers int
	var seed uint64
	var outDir string
	cmd := &cobra.Command{
		Use:   "demo",
		Short: "Generate omnichannel traffic, stitch it, and show the result",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runDemo(cmd.OutOrStdout(), customers, seed, outDir)
		},
	}
	cmd.Flags().IntVar(&customers, "customers", 2000, "real persons in the generated traffic")
	cmd.Flags().Uint64Var(&seed, "seed", 1, "generator seed (same seed, same traffic)")
	cmd.Flags().StringVar(&outDir, "out", "", "directory for events.jsonl and stitched.jsonl (default: a new temporary directory)")
	return cmd
}

func runDemo(w io.Writer, customers int, seed uint64, outDir string) error {
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

	recs := gen.All(gen.Options{Seed: seed, Customers: customers})
	var in bytes.Buffer
	for _, r := range recs {
		in.Write(r.Line)
		in.WriteByte('\n')
	}
	if err := os.WriteFile(eventsPath, in.Bytes(), 0o644); err != nil {
		return err
	}
	fmt.Fprintf(w, "Generated %d lines of omnichannel traffic from %d people (web, store, call centre, e-mail),\n", len(recs), customers)
	fmt.Fprintf(w, "with junk identifiers, phone numbers in many formats, shared store tablets, late store\n")
	fmt.Fprintf(w, "uploads, redelivered duplicates and malformed lines: %s\n\n", eventsPath)

	out, err := os.Create(outPath)
	if err != nil {
		return err
	}
	start := time.Now()
	st, err := offline.Run(offline.Options{Config: config.Default(), StateDir: filepath.Join(outDir, "state")},
		[]offline.Input{{Name: eventsPath, R: &in}}, out)
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	took := time.Since(start)

	sum, err := summarise(outPath)
	if err != nil {
		return err
	}
	p, r, f1 := gen.Score(recs, sum.pred)
	fmt.Fprintf(w, "Stitched in %s (%.0f events/s, Pebble state on disk in %s):\n", took.Round(time.Millisecond),
		float64(st.Applied)/took.Seconds(), filepath.Join(outDir, "state"))
	fmt.Fprintf(w, "  %7d events applied, %d redelivered duplicates dropped\n", st.Applied, st.Duplicates)
	fmt.Fprintf(w, "  %7d dead letters:%s\n", st.DeadLetters, sum.deadReasons())
	fmt.Fprintf(w, "  %7d customers (the traffic has %d real people)\n", st.Customers, customers)
	fmt.Fprintf(w, "  %7d merges, %d refused links (conflicts)\n", st.Merges, st.Conflicts)
	fmt.Fprintf(w, "  stitching against the generator's truth: precision %.4f, recall %.4f, F1 %.4f\n\n", p, r, f1)
	if sum.example != "" {
		fmt.Fprintf(w, "One customer across channels (%s):\n%s\n", sum.exampleID, sum.example)
	}
	fmt.Fprintf(w, "The whole result, one JSON object per line: %s\n", outPath)
	fmt.Fprintf(w, "Try:\n")
	fmt.Fprintf(w, "  grep '\"kind\":\"merge\"' %s | head\n", outPath)
	fmt.Fprintf(w, "  grep '\"customer_id\":\"%s\"' %s\n", sum.exampleID, outPath)
	fmt.Fprintf(w, "  %s stitch %s | grep deadletter | head\n", os.Args[0], eventsPath)
	return nil
}

type summary struct {
	pred      map[string]string
	dead      map[string]int
	exampleID string
	example   string
}

func (s *summary) deadReasons() string {
	var parts []string
	for r, n := range s.dead {
		parts = append(parts, fmt.Sprintf(" %s %d", r, n))
	}
	slices.Sort(parts)
	return strings.Join(parts, ",")
}

// summarise reads the stitched output back: the grouping for scoring, dead
// letters by reason, and the customer with the most channels as an example.
func summarise(path string) (*summary, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	s := &summary{pred: map[string]string{}, dead: map[string]int{}}
	type row struct {
		Kind       string   `json:"kind"`
		CustomerID string   `json:"customer_id"`
		EventID    string   `json:"event_id"`
		Reason     string   `json:"reason"`
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
		case "deadletter":
			s.dead[r.Reason]++
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
