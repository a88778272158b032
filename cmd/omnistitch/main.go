// Command omnistitch stitches omnichannel customer events into customers and
// journeys. See README.md for the commands.
package main

import (
	"fmt"
	"os"

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
	if path == "" {
		return config.Default(), nil
	}
	return config.Load(path)
}
