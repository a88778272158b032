package main

import (
	"context"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	chsink "github.com/omnistitch/omnistitch/sinks/clickhouse"
)

func migrateCmd() *cobra.Command {
	var cfgPath, addr, database string
	cmd := &cobra.Command{
		Use:   "migrate [--config FILE]",
		Short: "Create or upgrade the ClickHouse schema (run does this at start too)",
		Long: `Creates the database (clickhouse.database, default omnistitch), its tables and the views
users query (journeys, profiles, identities, merges, identity_conflicts, triggers), or upgrades
them to this version's schema. Safe to run again: migrations already applied are skipped.`,
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
				return fmt.Errorf("migrate: clickhouse.addr is empty: no ClickHouse to migrate")
			}
			ctx, cancel := context.WithTimeout(cmd.Context(), 2*time.Minute)
			defer cancel()
			conn, err := chsink.Open(ctx, &cfg.ClickHouse)
			if err != nil {
				return err
			}
			defer conn.Close()
			applied, err := chsink.Migrate(ctx, conn, cfg.ClickHouse.Database)
			if err != nil {
				return err
			}
			if len(applied) == 0 {
				fmt.Fprintf(cmd.OutOrStdout(), "database %s on %s is up to date\n", cfg.ClickHouse.Database, cfg.ClickHouse.Addr)
				return nil
			}
			fmt.Fprintf(cmd.OutOrStdout(), "database %s on %s: applied migrations %v\n", cfg.ClickHouse.Database, cfg.ClickHouse.Addr, applied)
			return nil
		},
	}
	cmd.Flags().StringVar(&cfgPath, "config", "", "configuration file (default: the built-in configs/omnistitch.yaml)")
	cmd.Flags().StringVar(&addr, "clickhouse", "", "ClickHouse native host:port (overrides clickhouse.addr)")
	cmd.Flags().StringVar(&database, "database", "", "database (overrides clickhouse.database)")
	return cmd
}
