package pipeline

import (
	"github.com/prometheus/client_golang/prometheus"
)

// metrics of the service. Labels are topics and reasons only: never an
// identifier or anything else a customer could be recognised by.
type metrics struct {
	records     *prometheus.CounterVec // by source topic
	applied     prometheus.Counter
	duplicates  prometheus.Counter
	deadLetters *prometheus.CounterVec // by reason
	merges      prometheus.Counter
	conflicts   prometheus.Counter
	splits      prometheus.Counter
	sent        prometheus.Counter
	sendErrors  prometheus.Counter
	batch       prometheus.Histogram
	lag         prometheus.Gauge
	pending     prometheus.GaugeFunc
	paused      prometheus.Gauge
	pausedBy    *prometheus.GaugeVec // by reason (pauseOutbox, pauseDisk)
	triggers    prometheus.Counter
	overflow    prometheus.Counter // events not stored in a journey (journey.max_events)
	// Per partition, from the state rather than the group: the group's
	// committed offset is for monitoring only and stalls while the client
	// rejoins (after a network cut), when these stay true.
	nextOffset *prometheus.GaugeVec
	lagRecords *prometheus.GaugeVec
	// Reading in step (see aligner): what is held back, and from where.
	alignHeld   prometheus.Gauge
	alignPaused prometheus.Gauge
}

func newMetrics(reg prometheus.Registerer, pending func() float64) *metrics {
	m := &metrics{
		records: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "omnistitch_records_total", Help: "Records consumed, by source topic."}, []string{"topic"}),
		applied: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "omnistitch_events_applied_total", Help: "Events applied to the state."}),
		duplicates: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "omnistitch_duplicates_total", Help: "Events dropped because their event_id was applied before."}),
		deadLetters: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "omnistitch_dead_letters_total", Help: "Records sent to the dead-letter topic, by reason."}, []string{"reason"}),
		merges: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "omnistitch_merges_total", Help: "Customers absorbed by another."}),
		conflicts: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "omnistitch_identity_conflicts_total", Help: "Identifier links refused by a per-type limit."}),
		splits: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "omnistitch_unmerges_total", Help: "Customers split off when a shared identifier was detached."}),
		sent: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "omnistitch_outbox_sent_total", Help: "Outbox messages delivered to Kafka."}),
		sendErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "omnistitch_outbox_send_errors_total", Help: "Failed attempts to deliver the outbox (retried)."}),
		batch: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "omnistitch_batch_seconds", Help: "Time to apply and commit one poll.",
			Buckets: prometheus.ExponentialBuckets(0.001, 2, 14)}),
		lag: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "omnistitch_processing_lag_seconds", Help: "Wall clock minus the event time of the newest event applied."}),
		pending: prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "omnistitch_outbox_pending", Help: "Outbox messages waiting to be delivered; grows while Kafka is unreachable."}, pending),
		triggers: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "omnistitch_triggers_total", Help: "Triggers fired (sent to their topics through the outbox)."}),
		overflow: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "omnistitch_journey_overflow_total", Help: "Events applied (counted in their customer's profile) but not stored in the journey, which held journey.max_events: a bot or a shared identifier."}),
		paused: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "omnistitch_consumption_paused", Help: "1 while consumption is paused: an outbox is over its cap (a sink is down or slow) or the state's disk is nearly full."}),
		pausedBy: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "omnistitch_consumption_paused_reason", Help: "1 for the reason consumption is paused: outbox_cap (a sink is down or slow) or disk_space (below state.min_free_mb)."}, []string{"reason"}),
		nextOffset: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "omnistitch_next_offset", Help: "Next offset to apply per source partition, as committed with the state (the truth of what was applied; the group's committed offset may lag it)."}, []string{"topic", "partition"}),
		lagRecords: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "omnistitch_consumer_lag_records", Help: "Records of a source partition not applied yet: the high watermark of the last fetch minus the next offset."}, []string{"topic", "partition"}),
		alignHeld: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "omnistitch_align_held_records", Help: "Records fetched but held back because their event time is more than kafka.align_window_ms ahead of the slowest partition with a backlog."}),
		alignPaused: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "omnistitch_align_paused_partitions", Help: "Partitions not fetched while their held records wait for the slowest partition with a backlog."}),
	}
	m.pausedBecause("") // both series exist from the start, at 0
	if reg != nil {
		reg.MustRegister(m.records, m.applied, m.duplicates, m.deadLetters, m.merges, m.conflicts, m.splits,
			m.sent, m.sendErrors, m.batch, m.lag, m.pending, m.paused, m.pausedBy, m.triggers, m.overflow,
			m.nextOffset, m.lagRecords, m.alignHeld, m.alignPaused)
	}
	return m
}

// pausedBecause sets the reason gauge: 1 for reason, 0 for the others.
func (m *metrics) pausedBecause(reason string) {
	for _, r := range []string{pauseOutbox, pauseDisk} {
		v := 0.0
		if r == reason {
			v = 1
		}
		m.pausedBy.WithLabelValues(r).Set(v)
	}
}
