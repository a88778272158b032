// Package pipeline runs the engine as a Kafka service: it consumes the input
// topics in a consumer group with franz-go, applies each poll as one atomic
// batch, and sends dead letters (and, later, other outputs) from the outbox.
// It knows nothing of identities: the engine does the stitching.
//
// Delivery: the offsets consumed by a poll are written in the same Pebble
// batch as the state changes and the outbox messages of that poll. After a
// crash or a rebalance the consumer resumes from the offsets in Pebble, not
// from the group's commits (those are kept for lag monitoring), so no event
// is applied twice or skipped, and every message the batch meant to send is
// still in the outbox. Sending from the outbox is at least once.
package pipeline

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/plugin/kprom"
	"github.com/twmb/franz-go/plugin/kslog"

	"github.com/omnistitch/omnistitch/internal/config"
	"github.com/omnistitch/omnistitch/pipeline/source"
	"github.com/omnistitch/omnistitch/state"
	"github.com/omnistitch/omnistitch/stitch"
	"github.com/omnistitch/omnistitch/stitch/event"
)

// Decoder turns a record value into a canonical event. Errors should be
// *event.Error so that dead letters carry a reason. The consume loop may
// call it from two goroutines at once (see Service.decode).
type Decoder func(value []byte) (event.Event, error)

// Options configure a Service.
type Options struct {
	Brokers         []string
	Group           string
	Decoders        map[string]Decoder // input topic → how its records become events
	DeadLetterTopic string
	MaxPollRecords  int // default 10000
	// AlignWindow is how far ahead in event time a partition's records are
	// applied of the slowest partition with a backlog (see aligner); 0
	// applies records as polled.
	AlignWindow time.Duration
	// InstanceID, if set, makes the consumer a static group member
	// (KIP-345): a restart with the same id takes the partitions back
	// without waiting for the dead member's session to time out.
	InstanceID string
	ClientOpts []kgo.Opt // TLS, SASL and the like
	Logger     *slog.Logger
	Registerer prometheus.Registerer // where metrics go; nil: nowhere
	// SendInterval is how often the outbox is checked when nothing wakes
	// the sender; default 200ms.
	SendInterval time.Duration

	// Stage, if set, adds a sink's rows for each batch to the batch itself
	// (see sinks/clickhouse.Stage), after the engine's changes and before
	// the commit; Staged is called after each commit that may have added
	// rows, to wake the sink. caughtUp says that the service has nothing
	// more to apply for now (no records buffered or held back), so that
	// what waits should go out rather than gather more.
	Stage  func(*state.Txn, *stitch.Result) error
	Staged func(caughtUp bool)
	// Backlog, if set, reports that a sink is too far behind (its outbox
	// over the configured cap): consumption pauses until it is not.
	Backlog func() bool
	// DiskLow, if set, reports that the filesystem holding the state is
	// nearly full (see DiskGuard): consumption pauses until it is not.
	DiskLow func() bool
	// Committed, if set, is called after each batch is committed with the
	// records it consumed (the benchmark measures produce → committed
	// latency from their timestamps). It runs on the consume loop: keep it
	// short, and keep neither the records nor their bytes: they are
	// recycled into the client's pools when it returns.
	Committed func(recs []*kgo.Record)
}

// Stats count what a Service did since it started.
type Stats struct {
	Records     int64 // consumed
	Applied     int64
	Duplicates  int64
	DeadLetters int64
	Sent        int64 // outbox messages delivered
}

// Service consumes, applies and sends. Run it once.
type Service struct {
	o     Options
	eng   *stitch.Engine
	store *state.Store
	log   *slog.Logger
	m     *metrics
	cl    *kgo.Client
	pools *fetchPools // the client's memory for fetched batches
	ready atomic.Bool
	wake  chan struct{}

	lastTS []int64 // event times of the batch being applied; consume loop only
	// align keeps partitions in step by event time; consume loop only.
	align *aligner
	// revokedParts are partitions revoked or lost since the consume loop
	// last looked (see revoked).
	revokedMu    sync.Mutex
	revokedParts []map[string][]int32

	// engMu gives the engine one writer: the consume loop holds it for a
	// batch, data-subject requests (admin.go) for theirs.
	engMu sync.Mutex
	adm   *adminMetrics

	// sendMu makes one sender at a time read, produce and acknowledge the
	// outbox: the send loop and the shutdown drain overlap briefly.
	sendMu sync.Mutex

	mu struct {
		sync.Mutex
		stats Stats
	}
}

// New builds a Service over an engine and its store. It connects lazily.
func New(o Options, eng *stitch.Engine, store *state.Store) (*Service, error) {
	if len(o.Brokers) == 0 || o.Group == "" || len(o.Decoders) == 0 || o.DeadLetterTopic == "" {
		return nil, errors.New("pipeline: brokers, group, input topics and dead-letter topic are required")
	}
	if o.MaxPollRecords <= 0 {
		o.MaxPollRecords = 10000
	}
	if o.SendInterval <= 0 {
		o.SendInterval = 200 * time.Millisecond
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	s := &Service{o: o, eng: eng, store: store, log: o.Logger, m: newMetrics(o.Registerer, func() float64 { return float64(store.Pending()) }), wake: make(chan struct{}, 1),
		align: newAligner(o.AlignWindow, alignIdle), pools: &fetchPools{}}
	topics := make([]string, 0, len(o.Decoders))
	for t := range o.Decoders {
		topics = append(topics, t)
	}
	opts := []kgo.Opt{
		kgo.SeedBrokers(o.Brokers...),
		kgo.ConsumerGroup(o.Group),
		kgo.ConsumeTopics(topics...),
		kgo.BlockRebalanceOnPoll(),
		kgo.AdjustFetchOffsetsFn(s.resumeFromState),
		kgo.OnPartitionsRevoked(s.revoked),
		kgo.OnPartitionsLost(s.revoked),
		// A partition resumed by the aligner is fetched only after the
		// fetch in flight for the others returns, which a broker with
		// nothing new for them holds for up to this long (default 5s).
		// Records present are returned at once either way.
		kgo.FetchMaxWait(100 * time.Millisecond),
		kgo.AutoCommitMarks(),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.RequiredAcks(kgo.AllISRAcks()),
		kgo.ProducerLinger(5 * time.Millisecond),
		kgo.AllowAutoTopicCreation(),
		// The client's own logs and metrics (connections, requests,
		// throttling, buffered records) beside ours.
		kgo.WithLogger(kslog.New(o.Logger)),
		// Fetched batches are decoded into memory the consume loop hands
		// back (see fetchPools and the Recycle at the end of a batch).
		kgo.WithPools(s.pools),
	}
	if o.Registerer != nil {
		// Of the client's latency histograms, the two that say whether
		// the brokers are slow or holding the client back (one histogram
		// per broker each; the others time socket reads and writes).
		opts = append(opts, kgo.WithHooks(kprom.NewMetrics("omnistitch_kafka", kprom.Registerer(o.Registerer),
			kprom.Histograms(kprom.RequestDurationE2E, kprom.RequestThrottled))))
	}
	if o.InstanceID != "" {
		opts = append(opts, kgo.InstanceID(o.InstanceID))
	}
	opts = append(opts, o.ClientOpts...)
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return nil, fmt.Errorf("pipeline: kafka client: %w", err)
	}
	s.cl = cl
	s.adm = newAdminMetrics(o.Registerer)
	return s, nil
}

// Ready reports whether the service is consuming: running, connected to the
// brokers, and not shutting down.
func (s *Service) Ready() bool { return s.ready.Load() }

// Stats returns a snapshot of the counters.
func (s *Service) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.mu.stats
}

// resumeFromState replaces the offsets the group would start from with the
// ones stored with the state: the state is the truth of what was applied.
// A partition with no stored offset starts at its beginning, so a new or
// wiped state directory rebuilds from the whole topic.
func (s *Service) resumeFromState(_ context.Context, offsets map[string]map[int32]kgo.Offset) (map[string]map[int32]kgo.Offset, error) {
	for topic, parts := range offsets {
		for p := range parts {
			next, ok, err := s.store.Offset(topic, p)
			if err != nil {
				return nil, fmt.Errorf("pipeline: stored offset of %s/%d: %w", topic, p, err)
			}
			if ok {
				s.m.nextOffset.WithLabelValues(topic, strconv.Itoa(int(p))).Set(float64(next))
				parts[p] = kgo.NewOffset().At(next).WithEpoch(-1)
			} else {
				parts[p] = kgo.NewOffset().AtStart()
			}
		}
	}
	return offsets, nil
}

// Run consumes until ctx ends, then finishes the batch in hand, sends what
// the outbox holds (for up to drainTimeout), commits the group offsets and
// leaves the group. It returns nil on a clean stop.
func (s *Service) Run(ctx context.Context) error {
	defer s.cl.Close()
	if err := s.cl.Ping(ctx); err == nil {
		if err := s.ensureOutputTopics(ctx); err != nil {
			return err
		}
		s.ready.Store(true)
	} else {
		s.log.Warn("brokers not reachable yet; the client keeps trying", "err", err)
	}
	sendCtx, stopSending := context.WithCancel(context.Background())
	sendDone := make(chan struct{})
	go func() {
		defer close(sendDone)
		s.sendLoop(sendCtx)
	}()
	err := s.consume(ctx)
	s.ready.Store(false)

	// Shutdown: give the sender a bounded time to empty the outbox, then
	// commit the group offsets for lag monitoring.
	drain, cancel := context.WithTimeout(context.Background(), drainTimeout)
	defer cancel()
	s.drain(drain)
	stopSending()
	<-sendDone
	if cerr := s.cl.CommitMarkedOffsets(drain); cerr != nil && err == nil {
		s.log.Warn("committing group offsets at shutdown failed; they are for monitoring only", "err", cerr)
	}
	return err
}

const drainTimeout = 10 * time.Second

func (s *Service) consume(ctx context.Context) error {
	var (
		evs   []event.Event
		srcs  []*kgo.Record
		jobs  []*alignEntry // this poll's records, to decode
		batch []alignEntry  // what the aligner lets through
		took  []*kgo.Record // batch's records, for counting and marking
	)
	last := map[alignKey]*kgo.Record{} // each partition's last record in the batch
	idleAfter := time.Duration(0)
	if set := s.eng.Rules(); set != nil && set.IdleAfter > 0 {
		idleAfter = set.IdleAfter
	}
	lastRecord := time.Now()
	for {
		if !s.waitForSinks(ctx) {
			return nil
		}
		wait := idleAfter
		if s.align.held > 0 && (wait == 0 || wait > alignPollWait) {
			// Held records wait on a partition that may have gone
			// silent; poll often enough to notice (see aligner.idle).
			wait = alignPollWait
		}
		pollCtx, cancelPoll := ctx, context.CancelFunc(func() {})
		if s.align.due(time.Now()) {
			// The last batch was cut short: take what the client has
			// buffered, but wait for nothing (a nil context).
			pollCtx = nil
		} else if wait > 0 {
			pollCtx, cancelPoll = context.WithTimeout(ctx, wait)
		}
		// Aligned, a poll takes everything the client has buffered (a
		// fetch response holds every partition's next records, so the
		// slowest partition is seen with the others) and the aligner
		// limits the batch; otherwise the poll does.
		n := s.o.MaxPollRecords
		if s.align.window > 0 {
			n = 0
		}
		fetches := s.cl.PollRecords(pollCtx, n)
		cancelPoll()
		if fetches.IsClientClosed() || ctx.Err() != nil {
			s.cl.AllowRebalance()
			return nil
		}
		fetches.EachError(func(topic string, p int32, err error) {
			if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
				return // the idle poll's own deadline
			}
			s.log.Warn("fetch error; the client retries", "topic", topic, "partition", p, "err", err)
		})
		s.ready.Store(true)
		// Partitions revoked or lost since the last poll take their held
		// records with them, before this poll's records (possibly of the
		// same partitions, assigned again) are queued.
		s.dropRevoked()
		began := time.Now()
		polled := 0
		fetches.EachPartition(func(p kgo.FetchTopicPartition) {
			s.align.add(p.Topic, p.Partition, p.HighWatermark, p.Records, began)
			polled += len(p.Records)
		})
		// Partitions now holding records stop being fetched at once, not
		// after decoding: the client sends its next fetch as soon as a
		// poll drains it, and what that fetch brings for a partition that
		// is paused at the next poll is dropped and fetched again (455,000
		// of 651,598 records fetched twice, measured, when this came after
		// the take). Those drained by the take resume below.
		s.pauseHeld(began)
		if polled == 0 && s.align.held == 0 {
			s.cl.AllowRebalance()
			if idle := time.Since(lastRecord); idleAfter > 0 && idle >= idleAfter {
				if err := s.fireIdle(idle); err != nil {
					return err
				}
			}
			continue
		}
		if polled > 0 {
			lastRecord = began
		}
		// Records are decoded where the aligner holds them.
		jobs = s.align.added(jobs[:0])
		s.decode(jobs)
		clear(jobs)
		s.align.settle()
		batch = s.align.take(began, clearEntries(batch), s.o.MaxPollRecords)
		s.pauseHeld(began)
		if len(batch) == 0 {
			s.cl.AllowRebalance()
			continue
		}
		evs, srcs, took, s.lastTS = evs[:0], srcs[:0], took[:0], s.lastTS[:0]
		clear(last)
		var bad []*state.Message
		for i := range batch {
			e := &batch[i]
			took = append(took, e.rec)
			last[alignKey{e.rec.Topic, e.rec.Partition}] = e.rec
			if e.err != nil {
				bad = append(bad, s.deadLetter(e.rec, e.err))
				continue
			}
			evs = append(evs, e.ev)
			srcs = append(srcs, e.rec)
			s.lastTS = append(s.lastTS, e.ev.TS)
		}
		s.engMu.Lock()
		res, err := s.eng.ApplyWith(evs, func(t *state.Txn, res *stitch.Result) error {
			for i, out := range res.Outcomes {
				if out.Status == stitch.Rejected {
					bad = append(bad, s.deadLetter(srcs[i], out.Err))
				}
			}
			for _, m := range bad {
				t.Enqueue(m)
			}
			s.enqueueTriggers(t, res)
			for k, r := range last {
				t.SetOffset(k.topic, k.part, r.Offset+1)
			}
			if s.o.Stage != nil {
				return s.o.Stage(t, res)
			}
			return nil
		})
		s.engMu.Unlock()
		if err != nil {
			s.cl.AllowRebalance()
			return fmt.Errorf("pipeline: applying a batch: %w", err)
		}
		for k, r := range last {
			next := r.Offset + 1
			part := strconv.Itoa(int(k.part))
			s.m.nextOffset.WithLabelValues(k.topic, part).Set(float64(next))
			if p := s.align.parts[k]; p != nil {
				s.m.lagRecords.WithLabelValues(k.topic, part).Set(float64(max(p.hw-next, 0)))
			}
		}
		clear(batch)
		s.count(took, res, bad, time.Since(began))
		if s.o.Committed != nil {
			s.o.Committed(took)
		}
		for _, r := range last {
			s.cl.MarkCommitRecords(r)
		}
		s.cl.AllowRebalance()
		if len(bad) > 0 || len(res.Triggers) > 0 {
			s.poke()
		}
		if s.o.Staged != nil {
			s.o.Staged(s.align.held == 0 && s.cl.BufferedFetchRecords() == 0)
		}
		// The batch is committed and its offsets marked: its records'
		// memory goes back to the client's pools. Nothing holds them now
		// (decoded events and dead letters are copies); srcs still
		// points at them, unread until refilled.
		clear(last)
		for _, r := range took {
			r.Recycle()
		}
	}
}

// alignPollWait bounds a poll while records are held; alignIdle is how
// long a partition with a backlog may deliver nothing before it stops
// holding the others back (its leader unreachable, say).
const (
	alignPollWait = time.Second
	alignIdle     = 5 * time.Second
)

// pauseHeld stops fetching the partitions whose records the aligner holds
// and resumes those it no longer does.
func (s *Service) pauseHeld(now time.Time) {
	pause, resume := s.align.pausing(now)
	s.m.alignHeld.Set(float64(s.align.held))
	s.m.alignPaused.Set(float64(s.align.pausedCount()))
	if len(pause) > 0 {
		s.cl.PauseFetchPartitions(pause)
	}
	if len(resume) > 0 {
		s.cl.ResumeFetchPartitions(resume)
	}
}

// revoked is the client's hook for partitions revoked or lost in a
// rebalance. It runs on the client's goroutine, so it only notes them for
// the consume loop (dropRevoked); it resumes them at once, so that one
// assigned back to this consumer is fetched again from the stored offset.
func (s *Service) revoked(_ context.Context, cl *kgo.Client, parts map[string][]int32) {
	cl.ResumeFetchPartitions(parts)
	s.revokedMu.Lock()
	s.revokedParts = append(s.revokedParts, parts)
	s.revokedMu.Unlock()
}

func (s *Service) dropRevoked() {
	s.revokedMu.Lock()
	parts := s.revokedParts
	s.revokedParts = nil
	s.revokedMu.Unlock()
	for _, p := range parts {
		s.align.drop(p)
	}
}

// decode decodes each record into its entry (ev, or err). A large poll is
// decoded in two halves at once when there is a second core: decoding is a
// tenth of the work per record and needs nothing but the record (decoders
// are safe for concurrent use).
func (s *Service) decode(jobs []*alignEntry) {
	run := func(jobs []*alignEntry) {
		for _, e := range jobs {
			e.ev, e.err = s.o.Decoders[e.rec.Topic](e.rec.Value)
		}
	}
	if len(jobs) < 1024 || runtime.GOMAXPROCS(0) < 2 {
		run(jobs)
		return
	}
	half := len(jobs) / 2
	var wg sync.WaitGroup
	wg.Go(func() { run(jobs[half:]) })
	run(jobs[:half])
	wg.Wait()
}

// fireIdle moves the watermark on with the wall clock while no records
// arrive, so that absences fire without new traffic: the watermark is the
// stored one plus the time the sources have been idle.
func (s *Service) fireIdle(idle time.Duration) error {
	wm, ok := s.eng.Watermark()
	if !ok {
		return nil
	}
	s.engMu.Lock()
	defer s.engMu.Unlock()
	res, err := s.eng.Fire(wm+idle.Milliseconds(), func(t *state.Txn, res *stitch.Result) error {
		s.enqueueTriggers(t, res)
		if s.o.Stage != nil {
			return s.o.Stage(t, res)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("pipeline: firing timers: %w", err)
	}
	if len(res.Triggers) > 0 {
		s.m.triggers.Add(float64(len(res.Triggers)))
		s.poke()
		if s.o.Staged != nil {
			s.o.Staged(true) // timers fire when no records come
		}
	}
	return nil
}

// enqueueTriggers puts the batch's triggers in the outbox for their topics:
// key customer_id, header rule, value as SPEC "Triggers".
func (s *Service) enqueueTriggers(t *state.Txn, res *stitch.Result) {
	set := s.eng.Rules()
	for i := range res.Triggers {
		g := &res.Triggers[i]
		topic := set.Topic
		if r := set.Rule(g.Rule); r != nil {
			topic = set.TopicOf(r)
		}
		v := stitch.AppendTriggerJSON(make([]byte, 0, 512), g)
		t.Enqueue(&state.Message{Topic: topic, Key: []byte(g.Customer), Value: v,
			Headers: []state.Header{{Key: "rule", Value: []byte(g.Rule)}}})
	}
}

// waitForSinks holds consumption while a sink's outbox is over its cap
// (the disk is the buffer during an outage, but not an unbounded one) or
// while the state's disk is nearly full. Rebalances are not blocked
// meanwhile (no poll is held). It returns false when ctx ends.
func (s *Service) waitForSinks(ctx context.Context) bool {
	reason := s.pauseReason()
	if reason == "" {
		return ctx.Err() == nil
	}
	// One warning per pause, naming the cause; no identifiers.
	if reason == pauseDisk {
		s.log.Warn("free space on the state directory's filesystem is below state.min_free_mb; consumption pauses until space returns", "reason", reason)
	} else {
		s.log.Warn("an outbox is over its cap; consumption pauses until the sink catches up", "reason", reason)
	}
	s.m.paused.Set(1)
	defer s.m.paused.Set(0)
	defer s.m.pausedBecause("")
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for ; reason != ""; reason = s.pauseReason() {
		s.m.pausedBecause(reason)
		select {
		case <-ctx.Done():
			return false
		case <-tick.C:
		}
	}
	s.log.Info("consumption resumes")
	return true
}

// Why consumption pauses: the label values of
// omnistitch_consumption_paused_reason.
const (
	pauseOutbox = "outbox_cap"
	pauseDisk   = "disk_space"
)

// pauseReason is why consumption must wait, "" if it need not. A full disk
// comes first: it is the one an operator must act on.
func (s *Service) pauseReason() string {
	switch {
	case s.o.DiskLow != nil && s.o.DiskLow():
		return pauseDisk
	case s.o.Backlog != nil && s.o.Backlog():
		return pauseOutbox
	}
	return ""
}

func (s *Service) count(recs []*kgo.Record, res *stitch.Result, bad []*state.Message, took time.Duration) {
	m := s.m
	m.batch.Observe(took.Seconds())
	for _, r := range recs {
		m.records.WithLabelValues(r.Topic).Inc()
	}
	for _, d := range bad {
		for _, h := range d.Headers {
			if h.Key == "reason" {
				m.deadLetters.WithLabelValues(string(h.Value)).Inc()
			}
		}
	}
	m.merges.Add(float64(len(res.Merges)))
	m.conflicts.Add(float64(len(res.Conflicts)))
	m.splits.Add(float64(len(res.Splits)))
	m.triggers.Add(float64(len(res.Triggers)))
	m.overflow.Add(float64(res.JourneyOverflow))
	s.mu.Lock()
	defer s.mu.Unlock()
	st := &s.mu.stats
	st.Records += int64(len(recs))
	st.DeadLetters += int64(len(bad))
	var newest int64
	for i, o := range res.Outcomes {
		switch o.Status {
		case stitch.Applied:
			st.Applied++
			m.applied.Inc()
			newest = max(newest, s.lastTS[i])
		case stitch.Duplicate:
			st.Duplicates++
			m.duplicates.Inc()
		case stitch.Forgotten:
			s.adm.lateForgotten.Inc()
		}
	}
	if newest != 0 {
		m.lag.Set(time.Since(time.UnixMilli(newest)).Seconds())
	}
}

// deadLetterMaxValue bounds the copy of a bad record on the dead-letter
// topic. Brokers and producers refuse records over about 1 MB by default;
// a dead letter they refuse would stay at the head of the outbox and hold
// back every message behind it. The record itself stays in its source
// topic at source_offset.
const deadLetterMaxValue = 256 << 10

// deadLetter is the outbox message for a bad record: its bytes as they came
// (the first deadLetterMaxValue of them, with header value_bytes giving the
// whole length, when larger), and where and why in headers. The error text
// names fields, never values.
func (s *Service) deadLetter(r *kgo.Record, err error) *state.Message {
	reason := "invalid"
	var ee *event.Error
	if errors.As(err, &ee) {
		reason = string(ee.Reason)
	}
	m := &state.Message{
		Topic: s.o.DeadLetterTopic,
		Key:   r.Key,
		Value: r.Value,
		Headers: []state.Header{
			{Key: "error", Value: []byte(err.Error())},
			{Key: "reason", Value: []byte(reason)},
			{Key: "source_topic", Value: []byte(r.Topic)},
			{Key: "source_partition", Value: strconv.AppendInt(nil, int64(r.Partition), 10)},
			{Key: "source_offset", Value: strconv.AppendInt(nil, r.Offset, 10)},
		},
	}
	if len(r.Key) > deadLetterMaxValue {
		m.Key = r.Key[:deadLetterMaxValue]
	}
	if len(r.Value) > deadLetterMaxValue {
		m.Value = r.Value[:deadLetterMaxValue]
		m.Headers = append(m.Headers, state.Header{Key: "value_bytes", Value: strconv.AppendInt(nil, int64(len(r.Value)), 10)})
	}
	return m
}

func (s *Service) poke() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// sendLoop delivers the outbox until ctx ends, retrying with backoff while
// Kafka is unreachable: the outbox on disk is the buffer.
func (s *Service) sendLoop(ctx context.Context) {
	backoff := 100 * time.Millisecond
	tick := time.NewTicker(s.o.SendInterval)
	defer tick.Stop()
	for {
		n, err := s.sendOnce(ctx)
		switch {
		case err != nil && ctx.Err() == nil:
			s.log.Warn("sending from the outbox failed; retrying", "err", err, "backoff", backoff)
			select {
			case <-ctx.Done():
				return
			case <-time.After(backoff):
			}
			backoff = min(backoff*2, 10*time.Second)
			continue
		case n > 0:
			backoff = 100 * time.Millisecond
			continue // there may be more
		}
		select {
		case <-ctx.Done():
			return
		case <-s.wake:
		case <-tick.C:
		}
	}
}

// drain sends until the outbox is empty or ctx ends.
func (s *Service) drain(ctx context.Context) {
	for ctx.Err() == nil {
		n, err := s.sendOnce(ctx)
		if err != nil {
			s.log.Warn("outbox not empty at shutdown; it is sent at the next start", "err", err)
			return
		}
		if n == 0 {
			return
		}
	}
}

// sendOnce produces one slice of the outbox and removes it once acknowledged.
func (s *Service) sendOnce(ctx context.Context) (int, error) {
	s.sendMu.Lock()
	defer s.sendMu.Unlock()
	msgs, err := s.store.Outbox(1000)
	if err != nil || len(msgs) == 0 {
		return 0, err
	}
	recs := make([]*kgo.Record, len(msgs))
	for i, m := range msgs {
		r := &kgo.Record{Topic: m.Topic, Key: m.Key, Value: m.Value}
		for _, h := range m.Headers {
			r.Headers = append(r.Headers, kgo.RecordHeader{Key: h.Key, Value: h.Value})
		}
		recs[i] = r
	}
	if err := s.cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		s.m.sendErrors.Inc()
		return 0, err
	}
	s.m.sent.Add(float64(len(msgs)))
	if err := s.store.Ack(msgs[len(msgs)-1].Seq); err != nil {
		return 0, err
	}
	s.mu.Lock()
	s.mu.stats.Sent += int64(len(msgs))
	s.mu.Unlock()
	return len(msgs), nil
}

// SourceDecoder decodes the records of a raw source topic: mapped to a
// canonical line by its mapping, then validated like any canonical event.
// Records over maxBytes are refused before mapping. The returned Decoder
// is safe for concurrent use: the canonical line goes to a pooled buffer
// (the decoded Event does not alias it).
func SourceDecoder(m *source.Mapping, dec *event.Decoder, maxBytes int) Decoder {
	var bufs sync.Pool
	return func(value []byte) (event.Event, error) {
		if maxBytes > 0 && len(value) > maxBytes {
			return event.Event{}, &event.Error{Reason: event.ReasonOversized,
				Msg: fmt.Sprintf("record of %d bytes exceeds the limit of %d", len(value), maxBytes)}
		}
		bp, _ := bufs.Get().(*[]byte)
		if bp == nil {
			bp = new([]byte)
		}
		line, err := m.Map(value, (*bp)[:0])
		*bp = line
		defer bufs.Put(bp)
		if err != nil {
			return event.Event{}, err
		}
		return dec.Decode(line)
	}
}

// Decoders builds the decoder of every input topic from the configuration:
// canonical events on kafka.events_topic, and each source mapping (those in
// sources_dir, else the built-in ones) on its own topic.
func Decoders(cfg *config.Config) (map[string]Decoder, error) {
	dec := event.NewDecoder(cfg.Input.MaxEventBytes, cfg.Input.Channels)
	decoders := map[string]Decoder{cfg.Kafka.EventsTopic: dec.Decode}
	mappings := source.Default()
	if cfg.SourcesDir != "" {
		var err error
		if mappings, err = source.LoadDir(cfg.SourcesDir); err != nil {
			return nil, err
		}
	}
	for _, m := range mappings {
		if m.Topic() == cfg.Kafka.EventsTopic {
			return nil, fmt.Errorf("%s: topic %s is the canonical events topic", m.File(), m.Topic())
		}
		decoders[m.Topic()] = SourceDecoder(m, dec, cfg.Input.MaxEventBytes)
	}
	return decoders, nil
}
