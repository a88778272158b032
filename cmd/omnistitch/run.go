package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/spf13/cobra"

	"github.com/omnistitch/omnistitch/internal/config"
	"github.com/omnistitch/omnistitch/internal/httpapi"
	"github.com/omnistitch/omnistitch/pipeline"
	"github.com/omnistitch/omnistitch/state"
	"github.com/omnistitch/omnistitch/stitch"
)

func runCmd() *cobra.Command {
	var cfgPath, brokers, stateDir, group, httpAddr string
	cmd := &cobra.Command{
		Use:   "run [--config FILE]",
		Short: "Run the service: consume events from Kafka, stitch them, send dead letters",
		Long: `Consumes the raw source topics (omni.web, omni.store, omni.callcentre, omni.email, mapped by
configs/sources/*.yaml) and canonical events (omni.events) in a consumer group, applies every poll
as one atomic batch to the state store (offsets included), and sends bad records to the
dead-letter topic. Stops cleanly on SIGINT or SIGTERM: the batch in hand is finished,
the outbox is sent (for up to 10 s) and the group is left.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := loadConfig(cfgPath)
			if err != nil {
				return err
			}
			if brokers != "" {
				cfg.Kafka.Brokers = strings.Split(brokers, ",")
			}
			if stateDir != "" {
				cfg.State.Dir = stateDir
			}
			if group != "" {
				cfg.Kafka.Group = group
			}
			if cmd.Flags().Changed("http-addr") {
				cfg.HTTP.Addr = httpAddr
			}
			log := slog.New(slog.NewJSONHandler(cmd.ErrOrStderr(), nil))
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			return serve(ctx, cfg, log, nil)
		},
	}
	cmd.Flags().StringVar(&cfgPath, "config", "", "configuration file (default: the built-in configs/omnistitch.yaml)")
	cmd.Flags().StringVar(&brokers, "brokers", "", "Kafka seed brokers, host:port,… (overrides kafka.brokers)")
	cmd.Flags().StringVar(&stateDir, "state-dir", "", "state directory (overrides state.dir)")
	cmd.Flags().StringVar(&group, "group", "", "consumer group (overrides kafka.group)")
	cmd.Flags().StringVar(&httpAddr, "http-addr", "", `HTTP listener host:port, "" to disable (overrides http.addr)`)
	return cmd
}

// serve runs the service until ctx ends. started, if set, receives the
// running service so that the demo can watch its progress.
func serve(ctx context.Context, cfg *config.Config, log *slog.Logger, started func(*pipeline.Service, *stitch.Engine, *state.Store)) error {
	store, err := state.Open(cfg.State.Dir, state.Options{
		CustomerCache: cfg.State.CustomerCache, IdentifierCache: cfg.State.IdentifierCache, Sync: true})
	if err != nil {
		return err
	}
	eng, err := stitch.New(cfg, store)
	if err != nil {
		store.Close()
		return err
	}
	secure, err := pipeline.SecurityOpts(cfg.Kafka)
	if err != nil {
		store.Close()
		return err
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	decoders, err := pipeline.Decoders(cfg)
	if err != nil {
		store.Close()
		return err
	}
	svc, err := pipeline.New(pipeline.Options{
		Brokers:         cfg.Kafka.Brokers,
		Group:           cfg.Kafka.Group,
		Decoders:        decoders,
		DeadLetterTopic: cfg.Kafka.DeadLetterTopic,
		MaxPollRecords:  cfg.Kafka.MaxPollRecords,
		Logger:          log,
		Registerer:      reg,
		ClientOpts:      secure,
	}, eng, store)
	if err != nil {
		store.Close()
		return err
	}
	var srv *http.Server
	if cfg.HTTP.Addr != "" {
		ln, err := net.Listen("tcp", cfg.HTTP.Addr)
		if err != nil {
			store.Close()
			return fmt.Errorf("http: %w", err)
		}
		srv = &http.Server{
			Handler:           httpapi.Handler(httpapi.Options{Store: store, Engine: eng, Ready: svc.Ready, Gatherer: reg, Logger: log}),
			ReadHeaderTimeout: 5 * time.Second, ReadTimeout: 10 * time.Second, WriteTimeout: 30 * time.Second,
			MaxHeaderBytes: 16 << 10,
		}
		go func() {
			if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
				log.Error("http server stopped", "err", err)
			}
		}()
		log.Info("http listening", "addr", ln.Addr().String())
	}
	topics := make([]string, 0, len(decoders))
	for t := range decoders {
		topics = append(topics, t)
	}
	slices.Sort(topics)
	log.Info("omnistitch running", "brokers", strings.Join(cfg.Kafka.Brokers, ","), "group", cfg.Kafka.Group,
		"topics", strings.Join(topics, ","), "state", cfg.State.Dir)
	if started != nil {
		started(svc, eng, store)
	}
	runErr := svc.Run(ctx)
	if srv != nil {
		// Lookups read the store: stop serving them before it closes.
		shut, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		srv.Shutdown(shut)
		cancel()
	}
	if err := store.Close(); err != nil && runErr == nil {
		runErr = fmt.Errorf("closing the state: %w", err)
	}
	st := svc.Stats()
	log.Info("omnistitch stopped", "records", st.Records, "applied", st.Applied, "duplicates", st.Duplicates,
		"dead_letters", st.DeadLetters, "sent", st.Sent)
	return runErr
}
