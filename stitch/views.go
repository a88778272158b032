package stitch

import (
	"math"
	"strings"

	"github.com/omnistitch/omnistitch/state"
	"github.com/omnistitch/omnistitch/stitch/event"
)

// JourneyRow is one event of a customer's journey as users see it: its
// 1-based position and what came before it. The same rows feed the offline
// output and ClickHouse.
type JourneyRow struct {
	CustomerID    string
	Seq           int
	EventID       string
	TS            int64 // ms
	Channel       string
	Type          string
	Stage         string
	PrevChannel   string  // "" for the first event
	SecsSincePrev float64 // 0 for the first event
	Props         []byte
}

// Journey calls fn for each event of a committed customer journey in
// (ts, event_id) order.
func (e *Engine) Journey(cust string, fn func(*JourneyRow) error) error {
	var prev *state.Entry
	seq := 0
	return e.store.Journey(cust, func(en *state.Entry) error {
		seq++
		row := e.row(cust, seq, en, prev)
		prev = en
		return fn(&row)
	})
}

// Customers calls fn for every committed customer in id order.
func (e *Engine) Customers(fn func(*state.Customer) error) error {
	return e.store.Customers(fn)
}

// Profile is a customer's profile as users see it: in the offline output,
// over HTTP, and (later) in ClickHouse.
type Profile struct {
	CustomerID string              `json:"customer_id"`
	IDs        map[string][]string `json:"ids"`
	FirstSeen  string              `json:"first_seen"`
	LastSeen   string              `json:"last_seen"`
	Events     int64               `json:"events"`
	Channels   []string            `json:"channels"`
	Stage      string              `json:"stage"`
	Purchases  int64               `json:"purchases"`
	Revenue    float64             `json:"revenue"`
	// JourneyOverflow: events counted in Events but not kept in the
	// journey, which held journey.max_events (left out when 0).
	JourneyOverflow int64 `json:"journey_overflow,omitempty"`
}

// ProfileOf makes the user view of a stored customer.
func ProfileOf(c *state.Customer) Profile {
	channels := c.Channels
	if channels == nil {
		channels = []string{}
	}
	return Profile{
		CustomerID: c.ID, IDs: IDsByType(c.IDs),
		FirstSeen: event.FormatTS(c.FirstSeen), LastSeen: event.FormatTS(c.LastSeen),
		Events: c.Events, Channels: channels, Stage: c.Stage, Purchases: c.Purchases,
		// Sums of amounts in varying order differ in the last bits;
		// four decimals hide that and keep every real cent.
		Revenue:         math.Round(c.Revenue*1e4) / 1e4,
		JourneyOverflow: c.Overflow,
	}
}

// IDsByType groups "type:value" keys as {type: [values]}, values in order.
func IDsByType(keys []string) map[string][]string {
	m := make(map[string][]string)
	for _, k := range keys {
		typ, v, _ := strings.Cut(k, ":")
		m[typ] = append(m[typ], v)
	}
	return m
}
