package main

import (
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/omnistitch/omnistitch/stitch/offline"
)

func stitchCmd() *cobra.Command {
	var cfgPath, stateDir string
	var quiet bool
	cmd := &cobra.Command{
		Use:   "stitch [--config FILE] [--state DIR] [FILE...]",
		Short: "Stitch canonical events (JSON lines) offline and print the final state as JSON lines",
		Long: `Reads canonical events as JSON lines from the files named (standard input if none),
applies them in input order with the same engine as the service, and writes JSON lines to
standard output, each with a "kind": "deadletter" for every bad line (as it is found), then
for each customer its "profile" followed by its "journey" rows, then every "merge" and
"conflict" in the order they happened. A summary goes to standard error.

With --state DIR the state is kept in DIR: a later run continues from it, so running over
two halves of the input in turn ends exactly as one run over all of it.`,
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, err := loadConfig(cfgPath)
			if err != nil {
				return err
			}
			var inputs []offline.Input
			if len(args) == 0 {
				inputs = append(inputs, offline.Input{R: os.Stdin})
			}
			for _, name := range args {
				f, err := os.Open(name)
				if err != nil {
					return err
				}
				defer f.Close()
				inputs = append(inputs, offline.Input{Name: name, R: f})
			}
			st, err := offline.Run(offline.Options{Config: cfg, StateDir: stateDir}, inputs, cmd.OutOrStdout())
			if err != nil {
				return err
			}
			if !quiet {
				forgotten := ""
				if st.Forgotten > 0 {
					forgotten = fmt.Sprintf(", %d late events of forgotten customers dropped", st.Forgotten)
				}
				fmt.Fprintf(cmd.ErrOrStderr(), "omnistitch stitch: %d lines: %d events applied, %d duplicates dropped%s, %d dead letters; %d customers, %d merges, %d conflicts; read and applied in %.1f s (%.0f lines/s)\n",
					st.Lines, st.Applied, st.Duplicates, forgotten, st.DeadLetters, st.Customers, st.Merges, st.Conflicts,
					st.Applying.Seconds(), float64(st.Lines)/max(st.Applying.Seconds(), 1e-9))
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&cfgPath, "config", "", "configuration file (default: the built-in configs/omnistitch.yaml)")
	cmd.Flags().StringVar(&stateDir, "state", "", "state directory to keep between runs (default: a temporary one)")
	cmd.Flags().BoolVarP(&quiet, "quiet", "q", false, "no summary on standard error")
	return cmd
}
