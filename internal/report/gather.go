package report

import (
	"context"
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
)

// Database names are spliced into the queries (ClickHouse takes no
// parameters for identifiers), so only plain identifiers are accepted, as
// in sinks/clickhouse.
var databaseRe = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// Gather reads the report's numbers from the views of database (and, for
// identifiers that link nobody any more, from the identity_rows table
// behind the identities view, which hides them). Every query runs on
// ClickHouse 18.16 and on current releases: no window functions, and
// journeys are ordered within a customer with arraySort over groupArray.
// Times are taken in UTC whatever the server's time zone.
func Gather(ctx context.Context, conn driver.Conn, database string) (*Data, error) {
	if !databaseRe.MatchString(database) {
		return nil, fmt.Errorf("report: %q is not a database name (letters, digits, '_', not starting with a digit)", database)
	}
	g := gatherer{ctx: ctx, conn: conn, db: database}
	d := &Data{Database: database, GeneratedAt: time.Now().UTC()}
	for _, step := range []func(*Data) error{g.server, g.schema, g.totals, g.transitions, g.paths, g.funnel, g.triggers, g.health} {
		if err := step(d); err != nil {
			return nil, err
		}
	}
	return d, nil
}

type gatherer struct {
	ctx  context.Context
	conn driver.Conn
	db   string
}

// query runs q ("{db}" standing for the database) and calls scan for each
// row. Errors name the query's purpose.
func (g *gatherer) query(what, q string, scan func(driver.Rows) error) error {
	rows, err := g.conn.Query(g.ctx, strings.ReplaceAll(q, "{db}", g.db))
	if err != nil {
		return fmt.Errorf("report: %s: %w", what, err)
	}
	defer rows.Close()
	for rows.Next() {
		if err := scan(rows); err != nil {
			return fmt.Errorf("report: %s: %w", what, err)
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("report: %s: %w", what, err)
	}
	return nil
}

// counts runs a query of (label String, n UInt64) rows.
func (g *gatherer) counts(what, q string) ([]Count, error) {
	var out []Count
	err := g.query(what, q, func(r driver.Rows) error {
		var c Count
		if err := r.Scan(&c.Label, &c.N); err != nil {
			return err
		}
		out = append(out, c)
		return nil
	})
	return out, err
}

func (g *gatherer) server(d *Data) error {
	return g.query("server version", `SELECT version()`, func(r driver.Rows) error {
		return r.Scan(&d.Server)
	})
}

// views are what the report reads; identity_rows is behind identities.
var views = []string{"journeys", "profiles", "identities", "merges", "identity_conflicts", "triggers", "identity_rows"}

// schema checks that the database has the schema, so that a wrong
// --database or a server never migrated gets a plain answer.
func (g *gatherer) schema(*Data) error {
	have := map[string]bool{}
	rows, err := g.conn.Query(g.ctx, "SELECT name FROM system.tables WHERE database = ?", g.db)
	if err != nil {
		return fmt.Errorf("report: list tables of %s: %w", g.db, err)
	}
	defer rows.Close()
	for rows.Next() {
		var name string
		if err := rows.Scan(&name); err != nil {
			return fmt.Errorf("report: list tables of %s: %w", g.db, err)
		}
		have[name] = true
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("report: list tables of %s: %w", g.db, err)
	}
	var missing []string
	for _, v := range views {
		if !have[v] {
			missing = append(missing, v)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("report: database %s lacks %s: not an omnistitch database, or not migrated yet (omnistitch migrate)", g.db, strings.Join(missing, ", "))
	}
	return nil
}

func (g *gatherer) totals(d *Data) error {
	t := &d.Totals
	var first, last time.Time
	err := g.query("totals", `SELECT
	(SELECT count() FROM {db}.profiles),
	(SELECT count() FROM {db}.merges),
	(SELECT count() FROM {db}.identity_conflicts),
	(SELECT count() FROM {db}.triggers),
	(SELECT count() FROM {db}.identities)`, func(r driver.Rows) error {
		return r.Scan(&t.Customers, &t.Merges, &t.Conflicts, &t.Triggers, &t.Identifiers)
	})
	if err != nil {
		return err
	}
	err = g.query("event time range", `SELECT count(), min(event_time), max(event_time) FROM {db}.journeys`, func(r driver.Rows) error {
		return r.Scan(&t.Events, &first, &last)
	})
	if err != nil {
		return err
	}
	if t.Events > 0 {
		t.First, t.Last = first.UTC(), last.UTC()
	}
	return nil
}

func (g *gatherer) transitions(d *Data) error {
	return g.query("channel transitions", `SELECT prev_channel, channel, count() AS n
FROM {db}.journeys GROUP BY prev_channel, channel ORDER BY n DESC, prev_channel, channel`, func(r driver.Rows) error {
		var tr Transition
		if err := r.Scan(&tr.From, &tr.To, &tr.Count); err != nil {
			return err
		}
		d.Transitions = append(d.Transitions, tr)
		return nil
	})
}

// pathsQuery orders each purchasing customer's events by seq, cuts them
// after the first purchase and drops consecutive repeats of a channel.
const pathsQuery = `SELECT path, count() AS n FROM (
	SELECT
		arraySort(x -> tupleElement(x, 1), groupArray((seq, channel, type))) AS evs,
		indexOf(arrayMap(x -> tupleElement(x, 3), evs), '` + PurchaseType + `') AS p,
		arrayMap(x -> tupleElement(x, 2), arraySlice(evs, 1, p)) AS upto,
		arrayFilter((c, i) -> i = 1 OR c != upto[i - 1], upto, arrayEnumerate(upto)) AS path
	FROM {db}.journeys
	GROUP BY customer_id
	HAVING p > 0
)
GROUP BY path`

func (g *gatherer) paths(d *Data) error {
	q := pathsQuery + fmt.Sprintf(" ORDER BY n DESC, path LIMIT %d", TopPaths)
	err := g.query("top paths", q, func(r driver.Rows) error {
		var p Path
		if err := r.Scan(&p.Channels, &p.Customers); err != nil {
			return err
		}
		d.Paths.Top = append(d.Paths.Top, p)
		return nil
	})
	if err != nil {
		return err
	}
	return g.query("purchasing customers", `SELECT count(), sum(n) FROM (`+pathsQuery+`)`, func(r driver.Rows) error {
		return r.Scan(&d.Paths.Distinct, &d.Paths.Purchasers)
	})
}

func (g *gatherer) funnel(d *Data) error {
	// The furthest funnel stage each customer reached, 0 for none.
	var furthest strings.Builder
	furthest.WriteString("multiIf(")
	for i := len(FunnelStages) - 1; i >= 0; i-- {
		fmt.Fprintf(&furthest, "stage = '%s', %d, ", FunnelStages[i], i+1)
	}
	furthest.WriteString("0)")
	reached := make([]uint64, len(FunnelStages)+1)
	err := g.query("funnel", `SELECT m, count() FROM (
	SELECT customer_id, max(`+furthest.String()+`) AS m FROM {db}.journeys GROUP BY customer_id
) GROUP BY m`, func(r driver.Rows) error {
		var m uint8
		var n uint64
		if err := r.Scan(&m, &n); err != nil {
			return err
		}
		if int(m) < len(reached) {
			reached[m] = n
		}
		return nil
	})
	if err != nil {
		return err
	}
	d.Funnel = make([]FunnelStage, len(FunnelStages))
	var cum uint64
	for i := len(FunnelStages) - 1; i >= 0; i-- {
		cum += reached[i+1]
		d.Funnel[i] = FunnelStage{Stage: FunnelStages[i], Customers: cum}
	}
	d.Stages, err = g.counts("customers per stage", `SELECT stage, uniqExact(customer_id) AS n
FROM {db}.journeys WHERE stage != '' GROUP BY stage ORDER BY n DESC, stage`)
	return err
}

func (g *gatherer) triggers(d *Data) error {
	// Days since 1970 in UTC: toDate would use the server's time zone.
	return g.query("triggers per day", `SELECT intDiv(toUInt32(fired_at), 86400) AS day, rule, count()
FROM {db}.triggers GROUP BY day, rule ORDER BY day, rule`, func(r driver.Rows) error {
		var day uint32
		var tc TriggerCount
		if err := r.Scan(&day, &tc.Rule, &tc.Count); err != nil {
			return err
		}
		tc.Day = time.Unix(int64(day)*86400, 0).UTC()
		d.Triggers = append(d.Triggers, tc)
		return nil
	})
}

func (g *gatherer) health(d *Data) error {
	h := &d.Health
	var err error
	if h.MergesVia, err = g.counts("merges by identifier type", `SELECT splitByChar(':', via)[1] AS t, count() AS n
FROM {db}.merges GROUP BY t ORDER BY n DESC, t`); err != nil {
		return err
	}
	if h.Conflicts, err = g.counts("conflicts by reason", `SELECT reason, count() AS n
FROM {db}.identity_conflicts GROUP BY reason ORDER BY n DESC, reason`); err != nil {
		return err
	}
	// The identities view hides identifiers that link nobody; their rows
	// are tombstones in identity_rows. FINAL first, then the filter, as in
	// the views (see sinks/clickhouse/schema.go).
	if h.Shared, err = g.counts("identifiers linking nobody", `SELECT id_type, count() AS n FROM (
	SELECT id_type, deleted FROM {db}.identity_rows FINAL
) WHERE deleted = 1 GROUP BY id_type ORDER BY n DESC, id_type`); err != nil {
		return err
	}
	if h.IDsPerCustomer, err = g.counts("identifiers per customer", `SELECT if(k >= 5, '5+', toString(k)) AS label, count() FROM (
	SELECT length(ids) AS k FROM {db}.profiles
) GROUP BY label ORDER BY label`); err != nil {
		return err
	}
	h.Identifiers, err = g.counts("identity map by type", `SELECT id_type, count() AS n
FROM {db}.identities GROUP BY id_type ORDER BY n DESC, id_type`)
	return err
}
