// Package report turns the ClickHouse views into one self-contained HTML
// page: channel transitions, top paths to purchase, the stage funnel,
// triggers over time and stitching health, each as an inline SVG chart with
// the numbers behind it as a table.
//
// Gather reads the views into a Data; Render writes the page from a Data
// alone (no I/O, no clock), so it can be tested without a server. The page
// loads nothing: no scripts, fonts, style sheets or images from anywhere, and
// a Content-Security-Policy that says so.
package report

import "time"

// Funnel stages, in order. They are the default journey stages of
// configs/omnistitch.yaml (SPEC "Journeys"); a configuration without one of
// them shows an empty bar for it.
var FunnelStages = []string{"awareness", "consideration", "purchase"}

// PurchaseType is the event type that ends a path to purchase.
const PurchaseType = "purchase"

// TopPaths is how many paths Gather keeps.
const TopPaths = 10

// Data is everything the report shows. Gather fills it from ClickHouse;
// tests build it by hand. Render accepts any Data, including the zero value
// and inconsistent numbers.
type Data struct {
	Database    string    // the database the views were read from
	Server      string    // ClickHouse version, "" if unknown
	GeneratedAt time.Time // when the data was gathered

	Totals      Totals
	Transitions []Transition   // every (previous channel, channel) pair with events
	Paths       Paths          // top paths of channels up to the first purchase
	Funnel      []FunnelStage  // one per FunnelStages entry, in that order
	Stages      []Count        // customers with at least one event in each stage (every stage)
	Triggers    []TriggerCount // triggers fired per UTC day and rule
	Health      Health
}

// Totals are the headline numbers.
type Totals struct {
	Customers   uint64 // rows of profiles
	Events      uint64 // rows of journeys
	Merges      uint64 // rows of merges
	Conflicts   uint64 // rows of identity_conflicts
	Triggers    uint64 // rows of triggers
	Identifiers uint64 // rows of identities
	// Event time of the first and last journey row; zero without events.
	First, Last time.Time
}

// Transition counts journey rows with channel To whose previous event was on
// channel From. From is "" for a customer's first event.
type Transition struct {
	From, To string
	Count    uint64
}

// Paths summarises how purchasing customers got to their first purchase.
type Paths struct {
	Top        []Path // most frequent first
	Purchasers uint64 // customers with at least one purchase
	Distinct   uint64 // distinct paths among them
}

// Path is a sequence of channels up to and including the customer's first
// purchase, consecutive events on the same channel counted once: web, web,
// email, web, store(purchase) is the path web → email → web → store.
type Path struct {
	Channels  []string
	Customers uint64
}

// FunnelStage counts the customers who reached a stage: with an event in it
// or in a later funnel stage.
type FunnelStage struct {
	Stage     string
	Customers uint64
}

// TriggerCount is the number of triggers a rule fired on one UTC day.
type TriggerCount struct {
	Day   time.Time // midnight UTC
	Rule  string
	Count uint64
}

// Health is how stitching went.
type Health struct {
	MergesVia      []Count // merges by the type of the identifier that linked the customers
	Conflicts      []Count // refused links by reason
	Shared         []Count // identifiers, by type, that link nobody any more (shared devices, cookies)
	IDsPerCustomer []Count // customers by number of identifiers: "1", "2", "3", "4", "5+"
	Identifiers    []Count // the identity map by identifier type
}

// Count is a labelled number.
type Count struct {
	Label string
	N     uint64
}
