package main

import (
	"context"
	"crypto/tls"
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
	"github.com/omnistitch/omnistitch/internal/heapwatch"
	"github.com/omnistitch/omnistitch/internal/httpapi"
	"github.com/omnistitch/omnistitch/pipeline"
	chsink "github.com/omnistitch/omnistitch/sinks/clickhouse"
	"github.com/omnistitch/omnistitch/state"
	"github.com/omnistitch/omnistitch/stitch"
)

func runCmd() *cobra.Command {
	var cfgPath, brokers, stateDir, group, httpAddr, chAddr string
	cmd := &cobra.Command{
		Use:   "run [--config FILE]",
		Short: "Run the service: consume events from Kafka, stitch them, write ClickHouse, send dead letters",
		Long: `Consumes the raw source topics (omni.web, omni.store, omni.callcentre, omni.email, mapped by
configs/sources/*.yaml) and canonical events (omni.events) in a consumer group, applies every poll
as one atomic batch to the state store (offsets and outbox included), writes journeys, profiles
and the identity map to ClickHouse (migrating its schema first), and sends bad records to the
dead-letter topic. While ClickHouse is away, rows wait in the outbox on disk. Stops cleanly on SIGINT or SIGTERM: the batch in hand is finished,
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
				if field, msg := config.CheckHTTP(cfg.HTTP); field != "" {
					return fmt.Errorf("--http-addr: http.%s: %s", field, msg)
				}
			}
			if cmd.Flags().Changed("clickhouse") {
				cfg.ClickHouse.Addr = chAddr
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
	cmd.Flags().StringVar(&chAddr, "clickhouse", "", `ClickHouse native host:port, "" to run without (overrides clickhouse.addr)`)
	cmd.Flags().StringVar(&httpAddr, "http-addr", "", `HTTP listener host:port, "" to disable (overrides http.addr)`)
	return cmd
}

// running is the service's parts, for the demo to watch.
type running struct {
	svc    *pipeline.Service
	eng    *stitch.Engine
	store  *state.Store
	writer *chsink.Writer // nil without ClickHouse
}

// logAttrsOf keeps server messages (which may quote row values) out of
// the log; see chsink.LogAttrs.
func logAttrsOf(err error) []any { return chsink.LogAttrs(err) }

// serve runs the service until ctx ends. started, if set, receives the
// running service so that the demo can watch its progress.
func serve(ctx context.Context, cfg *config.Config, log *slog.Logger, started func(running), tune ...func(*pipeline.Options)) error {
	store, err := state.Open(cfg.State.Dir, state.Options{
		CustomerCache: cfg.State.CustomerCache, IdentifierCache: cfg.State.IdentifierCache, BlockCacheBytes: int64(cfg.State.BlockCacheMB) << 20, Sync: true,
		Logger: log})
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
	store.Register(reg)
	heap := heapwatch.New(heapwatch.Options{Logger: log})
	heap.Register(reg)
	decoders, err := pipeline.Decoders(cfg)
	if err != nil {
		store.Close()
		return err
	}
	popts := pipeline.Options{
		Brokers:         cfg.Kafka.Brokers,
		Group:           cfg.Kafka.Group,
		Decoders:        decoders,
		DeadLetterTopic: cfg.Kafka.DeadLetterTopic,
		MaxPollRecords:  cfg.Kafka.MaxPollRecords,
		AlignWindow:     time.Duration(cfg.Kafka.AlignWindowMS) * time.Millisecond,
		InstanceID:      cfg.Kafka.InstanceID,
		Logger:          log,
		Registerer:      reg,
		ClientOpts:      secure,
	}
	if cfg.State.MinFreeMB > 0 {
		guard := pipeline.NewDiskGuard(cfg.State.Dir, uint64(cfg.State.MinFreeMB)<<20)
		guard.Register(reg)
		popts.DiskLow = guard.Low
	}
	var writer *chsink.Writer
	if ch := &cfg.ClickHouse; ch.Addr != "" {
		// Connecting and migrating happen in the writer, retried, so that
		// the service runs (and its outbox grows) while ClickHouse is away.
		writer = chsink.NewWriter(store, chsink.WriterOptions{
			Connect:       chsink.Connector(ch, log),
			Database:      ch.Database,
			BatchRows:     ch.BatchRows,
			FlushInterval: time.Duration(ch.FlushIntervalMS) * time.Millisecond,
			Logger:        log,
			Registerer:    reg,
		})
		popts.Stage = chsink.Stage(eng)
		popts.Staged = writer.Staged
		popts.Backlog = func() bool { return store.PendingRowBytes() > int64(ch.OutboxCapBytes) }
	}
	for _, f := range tune {
		f(&popts)
	}
	svc, err := pipeline.New(popts, eng, store)
	if err != nil {
		store.Close()
		return err
	}
	var srv *http.Server
	if cfg.HTTP.Addr != "" {
		token, err := httpapi.Token(cfg.HTTP)
		if err != nil {
			store.Close()
			return err
		}
		tlsCfg, err := httpapi.ServerTLS(cfg.HTTP)
		if err != nil {
			store.Close()
			return err
		}
		ln, err := net.Listen("tcp", cfg.HTTP.Addr)
		if err != nil {
			store.Close()
			return fmt.Errorf("http: %w", err)
		}
		if tlsCfg != nil {
			ln = tls.NewListener(ln, tlsCfg)
		}
		srv = httpapi.NewServer(httpapi.Handler(httpapi.Options{Store: store, Engine: eng, Ready: svc.Ready, Gatherer: reg, Logger: log,
			Token: token, MaxConcurrent: cfg.HTTP.MaxConcurrent, Admin: svc}))
		// The server's own complaints (a failed TLS handshake, a
		// malformed request) go to the service's log, not to stderr.
		srv.ErrorLog = slog.NewLogLogger(log.Handler(), slog.LevelWarn)
		go func() {
			if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
				log.Error("http server stopped", "err", err)
			}
		}()
		log.Info("http listening", "addr", ln.Addr().String(), "token", token != "", "tls", tlsCfg != nil)
	}
	topics := make([]string, 0, len(decoders))
	for t := range decoders {
		topics = append(topics, t)
	}
	slices.Sort(topics)
	log.Info("omnistitch running", "brokers", strings.Join(cfg.Kafka.Brokers, ","), "group", cfg.Kafka.Group,
		"topics", strings.Join(topics, ","), "state", cfg.State.Dir)
	writeCtx, stopWriting := context.WithCancel(context.Background())
	writeDone := make(chan struct{})
	if writer != nil {
		log.Info("writing to clickhouse", "addr", cfg.ClickHouse.Addr, "database", cfg.ClickHouse.Database)
		go func() {
			defer close(writeDone)
			writer.Run(writeCtx)
		}()
	} else {
		close(writeDone)
	}
	if started != nil {
		started(running{svc, eng, store, writer})
	}
	watchCtx, stopWatching := context.WithCancel(ctx)
	defer stopWatching()
	go heap.Run(watchCtx)
	runErr := svc.Run(ctx)
	stopWriting()
	<-writeDone
	if writer != nil {
		// What the last batches staged goes out now if ClickHouse is
		// there; otherwise it waits in the outbox for the next start.
		drain, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		if err := writer.Drain(drain); err != nil {
			log.Warn("rows left in the outbox at shutdown; they are written at the next start", logAttrsOf(err)...)
		}
		cancel()
		writer.Close()
	}
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
