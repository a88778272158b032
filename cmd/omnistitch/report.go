package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"

	"github.com/omnistitch/omnistitch/internal/report"
	chsink "github.com/omnistitch/omnistitch/sinks/clickhouse"
)

func reportCmd() *cobra.Command {
	var cfgPath, addr, database, out string
	cmd := &cobra.Command{
		Use:   "report --out FILE [--clickhouse HOST:PORT] [--database NAME] [--config FILE]",
		Short: "Write an HTML report of journeys, funnel, triggers and stitching health",
		Long: `Queries the ClickHouse views (journeys, profiles, identities, merges, identity_conflicts,
triggers) and writes one self-contained HTML file: channel transitions, top paths to the first
purchase, the stage funnel, triggers per day and stitching health, each chart with the numbers
behind it. The file loads nothing from anywhere (inline CSS and SVG, no scripts): open it in any
browser, or mail it.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := loadConfig(cfgPath)
			if err != nil {
				return err
			}
			if addr != "" {
				cfg.ClickHouse.Addr = addr
			}
			if database != "" {
				cfg.ClickHouse.Database = database
			}
			if cfg.ClickHouse.Addr == "" {
				return fmt.Errorf("report: clickhouse.addr is empty: no ClickHouse to read")
			}
			ctx, cancel := context.WithTimeout(cmd.Context(), 10*time.Minute)
			defer cancel()
			conn, err := chsink.Open(ctx, &cfg.ClickHouse)
			if err != nil {
				return err
			}
			defer conn.Close()
			d, err := report.Gather(ctx, conn, cfg.ClickHouse.Database)
			if err != nil {
				return err
			}
			var buf bytes.Buffer
			if err := report.Render(&buf, d); err != nil {
				return err
			}
			if err := writeReportFile(out, buf.Bytes()); err != nil {
				return fmt.Errorf("report: write %s: %w", out, err)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "wrote %s (%d bytes): %d customers, %d events, %d merges, %d triggers from %s on %s\n",
				out, buf.Len(), d.Totals.Customers, d.Totals.Events, d.Totals.Merges, d.Totals.Triggers, cfg.ClickHouse.Database, cfg.ClickHouse.Addr)
			return nil
		},
	}
	cmd.Flags().StringVar(&cfgPath, "config", "", "configuration file (default: the built-in configs/omnistitch.yaml)")
	cmd.Flags().StringVar(&addr, "clickhouse", "", "ClickHouse native host:port (default: clickhouse.addr of the configuration)")
	cmd.Flags().StringVar(&database, "database", "", "database (default: clickhouse.database of the configuration, omnistitch)")
	cmd.Flags().StringVar(&out, "out", "", "HTML file to write (required)")
	_ = cmd.MarkFlagRequired("out") // fails only for an undefined flag
	return cmd
}

// writeReportFile writes data to path through a temporary file in the same
// directory, so a reader never sees half a report and a failed run leaves
// an earlier report in place.
func writeReportFile(path string, data []byte) error {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	defer os.Remove(tmp) // after the rename, a no-op
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Chmod(0o644); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}
