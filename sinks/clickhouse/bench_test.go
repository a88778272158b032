package clickhouse_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/omnistitch/omnistitch/internal/chtest"
	"github.com/omnistitch/omnistitch/internal/config"
	"github.com/omnistitch/omnistitch/sinks/clickhouse"
	"github.com/omnistitch/omnistitch/state"
	"github.com/omnistitch/omnistitch/stitch"
)

// BenchmarkWriteJourneyRows measures the writer alone: journey rows as the
// engine stages them (10,000 per batch, realistic sizes and props) drained
// from the outbox into ClickHouse. Reported as journey rows/s.
func BenchmarkWriteJourneyRows(b *testing.B) {
	addr, db := chtest.Database(b)
	cfg := config.Default().ClickHouse
	cfg.Addr, cfg.Database = addr, db
	store, err := state.Open(b.TempDir(), state.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer store.Close()
	w := clickhouse.NewWriter(store, clickhouse.WriterOptions{Connect: clickhouse.Connector(&cfg, nil), Database: db, BatchRows: cfg.BatchRows})
	defer w.Close()

	const perBatch, batches = 10000, 50
	channels := []string{"web", "store", "callcentre", "email"}
	types := []string{"page_view", "product_view", "add_to_cart", "purchase", "email_open"}
	var buf []byte
	rows := make([]stitch.JourneyRow, perBatch)
	ctx := context.Background()
	total := 0
	var took time.Duration
	for b.Loop() {
		for n := range batches {
			txn := store.Begin()
			for i := range rows {
				k := n*perBatch + i
				rows[i] = stitch.JourneyRow{
					CustomerID: fmt.Sprintf("c_%016x", k/7), Seq: k%7 + 1, EventID: fmt.Sprintf("web-%012d", k),
					TS: 1763985600000 + int64(k)*1000, Channel: channels[k%4], Type: types[k%5], Stage: "consideration",
					PrevChannel: channels[(k+1)%4], SecsSincePrev: 12.5,
					Props: []byte(`{"url":"/p/sku-` + fmt.Sprint(k%5000) + `","currency":"EUR","total":59.9}`),
				}
			}
			buf = clickhouse.Encode(buf[:0], txn.Version(), &stitch.Changes{Journeys: rows}, nil)
			txn.EnqueueRows(buf)
			if err := txn.Commit(); err != nil {
				b.Fatal(err)
			}
		}
		start := time.Now()
		if err := w.Drain(ctx); err != nil {
			b.Fatal(err)
		}
		took += time.Since(start)
		total += perBatch * batches
	}
	b.ReportMetric(float64(total)/took.Seconds(), "rows/s")
}
