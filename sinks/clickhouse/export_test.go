package clickhouse

import (
	"context"
	"fmt"
	"slices"
)

// SendBlockRows is sendBlockRows, for the external tests.
const SendBlockRows = sendBlockRows

// HiddenTriggers returns the trigger ids a round forgetting customers
// would write tombstones for (Writer.hideTriggers), sorted.
func HiddenTriggers(ctx context.Context, w *Writer, customers []string) ([]string, error) {
	if w.conn == nil {
		conn, err := w.o.Connect(ctx)
		if err != nil {
			return nil, err
		}
		w.conn = conn
	}
	c := &columns{purge: purge{customers: customers, version: 1}}
	if err := w.hideTriggers(ctx, c); err != nil {
		return nil, err
	}
	for i, d := range c.triggers.deleted {
		if d != 1 || c.triggers.version[i] != 1 {
			return nil, fmt.Errorf("trigger %s: deleted %d, version %d", c.triggers.triggerID[i], d, c.triggers.version[i])
		}
	}
	return slices.Sorted(slices.Values(c.triggers.triggerID)), nil
}

// PokeBytes is pokeBytes, for the external tests.
const PokeBytes = pokeBytes

// Woken reports, and takes, a pending wake of the writer.
func Woken(w *Writer) bool {
	select {
	case <-w.wake:
		return true
	default:
		return false
	}
}
