// Command omnistitch stitches omnichannel customer events into customers and
// journeys. See README.md for the commands.
package main

import (
	"fmt"
	"os"
	"runtime/debug"

	"github.com/spf13/cobra"

	"github.com/omnistitch/omnistitch/internal/config"
)

// version is set at build time with -ldflags "-X main.version=…".
var version = "dev"

func main() {
	root := &cobra.Command{
		Use:           "omnistitch",
		Short:         "Omnichannel identity and journey stitcher",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.AddCommand(runCmd(), stitchCmd(), demoCmd(), benchCmd(), migrateCmd(), forgetCmd(), unmergeCmd(), reportCmd(), versionCmd())
	// The process's memory limit comes from the configuration of the
	// command run (not in tests, which run commands in their own process).
	configured = applyRuntimeLimits
	if err := root.Execute(); err != nil {
		fmt.Fprintln(os.Stderr, "omnistitch:", err)
		os.Exit(1)
	}
}

func versionCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the version",
		Args:  cobra.NoArgs,
		Run: func(cmd *cobra.Command, _ []string) {
			fmt.Fprintln(cmd.OutOrStdout(), "omnistitch", version)
		},
	}
}

// loadConfig reads the configuration file named, or the embedded defaults.
func loadConfig(path string) (*config.Config, error) {
	cfg := config.Default()
	if path != "" {
		var err error
		if cfg, err = config.Load(path); err != nil {
			return nil, err
		}
	}
	if configured != nil {
		configured(cfg)
	}
	return cfg, nil
}

// configured is called with each configuration loaded; main sets it.
var configured func(*config.Config)

// applyRuntimeLimits sets the Go runtime's soft memory limit and its
// garbage collector's target from state.heap_limit_mb and
// state.gc_percent, unless GOMEMLIMIT or GOGC set them.
func applyRuntimeLimits(cfg *config.Config) {
	if os.Getenv("GOMEMLIMIT") == "" && cfg.State.HeapLimitMB > 0 {
		debug.SetMemoryLimit(int64(cfg.State.HeapLimitMB) << 20)
	}
	if os.Getenv("GOGC") == "" && cfg.State.GCPercent > 0 {
		debug.SetGCPercent(cfg.State.GCPercent)
	}
}
