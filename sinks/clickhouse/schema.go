package clickhouse

import (
	"context"
	"fmt"
	"strings"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
)

// Base tables. The writer inserts rows here; users query the views.
const (
	JourneyTable  = "journey_rows"
	ProfileTable  = "profile_rows"
	IdentityTable = "identity_rows"
	MergeTable    = "merge_rows"
	ConflictTable = "conflict_rows"
	TriggerTable  = "trigger_rows"
	AuditTable    = "audit_rows"
)

// Columns of each base table in table order, for INSERTs that name their
// columns. TestColumnsMatchTables holds them to the migrated tables.
const (
	JourneyColumns  = "customer_id, event_id, seq, event_time, ts_ms, channel, type, stage, prev_channel, secs_since_prev, props, version, deleted"
	ProfileColumns  = "customer_id, ids, first_seen, last_seen, events, channels, stage, purchases, revenue, segments, updated_at, version, deleted"
	IdentityColumns = "id_type, id_value, customer_id, version, deleted"
	MergeColumns    = "absorbed_id, survivor_id, via, merged_at, event_id, version, deleted"
	ConflictColumns = "customer_id, id_type, id_value, reason, at, event_id, version, deleted"
	TriggerColumns  = "trigger_id, rule, customer_id, fired_at, event_ids, version, deleted"
	AuditColumns    = "request_id, op, customer_id, resolved_id, id_type, status, actor, events, parts, requested_at, version"
)

var tableColumns = map[string]string{
	JourneyTable:  JourneyColumns,
	ProfileTable:  ProfileColumns,
	IdentityTable: IdentityColumns,
	MergeTable:    MergeColumns,
	ConflictTable: ConflictColumns,
	TriggerTable:  TriggerColumns,
	AuditTable:    AuditColumns,
}

// InsertStatement returns "INSERT INTO database.table (columns)" for one of
// the base tables, ready for PrepareBatch. The database must be valid (Open
// and Migrate check it) and the table one of the constants above; anything
// else is a programming error and panics.
func InsertStatement(database, table string) string {
	cols, ok := tableColumns[table]
	if !ok {
		panic(fmt.Sprintf("clickhouse: InsertStatement: unknown table %q", table))
	}
	if err := validDatabase(database); err != nil {
		panic("clickhouse: InsertStatement: " + err.Error())
	}
	return "INSERT INTO " + database + "." + table + " (" + cols + ")"
}

// migrationsTable records the applied migrations, one row per version.
const migrationsTable = `CREATE TABLE IF NOT EXISTS {db}.schema_migrations (
	version UInt32,
	name String,
	applied_at DateTime
) ENGINE = ReplacingMergeTree ORDER BY version`

// A migration is a step of the schema. Once released it never changes: a
// new step is appended instead. Every statement must be safe to run again
// (IF NOT EXISTS, IF EXISTS), because a crash can come between a statement
// and the record of its migration. On 18.16 that rules out CREATE OR
// REPLACE VIEW: change a view with DROP VIEW IF EXISTS then CREATE VIEW.
type migration struct {
	version uint32
	name    string
	stmts   []string // "{db}" stands for the database
}

// Every base table is a ReplacingMergeTree(version): a re-delivered row
// (same key, same version) or an older one is replaced by the newest, and a
// row with deleted = 1 at a higher version is a tombstone (forget, re-keying
// after a merge). No PARTITION BY: versions of one key must stay in one
// partition to replace each other, and the keys carry no time to split on.
//
// Each view reads its table FINAL in a subquery and filters deleted = 0
// outside it. The filter must see rows only after FINAL has picked the
// newest version of each key: applied before (as PREWHERE), it would drop
// the tombstone and bring back the older live row beneath it. ClickHouse
// moves WHERE to PREWHERE on its own. 18.16 does not under FINAL, and does
// not push the outer filter into a FINAL subquery even with
// enable_optimize_predicate_expression = 1 (so the plain "FROM t FINAL
// WHERE deleted = 0" is right there too); the subquery states the order
// rather than lean on that. Current releases move nothing under FINAL
// unless optimize_move_to_prewhere_if_final = 1, and their planner may push
// the outer filter down to the FINAL read, so that setting must stay at its
// default 0 for queries on these views (not checked here: no current server
// in tests). TestTombstones checks the views with tombstones in parts of
// their own.
var migrations = []migration{{
	version: 1,
	name:    "initial schema",
	stmts: []string{
		`CREATE TABLE IF NOT EXISTS {db}.journey_rows (
	customer_id String,
	event_id String,
	seq UInt32,
	event_time DateTime,
	ts_ms Int64,
	channel String,
	type String,
	stage String,
	prev_channel String,
	secs_since_prev Float64,
	props String,
	version UInt64,
	deleted UInt8
) ENGINE = ReplacingMergeTree(version) ORDER BY (customer_id, event_id)`,
		`CREATE TABLE IF NOT EXISTS {db}.profile_rows (
	customer_id String,
	ids Array(String),
	first_seen DateTime,
	last_seen DateTime,
	events UInt64,
	channels Array(String),
	stage String,
	purchases UInt64,
	revenue Float64,
	segments Array(String),
	updated_at DateTime,
	version UInt64,
	deleted UInt8
) ENGINE = ReplacingMergeTree(version) ORDER BY customer_id`,
		`CREATE TABLE IF NOT EXISTS {db}.identity_rows (
	id_type String,
	id_value String,
	customer_id String,
	version UInt64,
	deleted UInt8
) ENGINE = ReplacingMergeTree(version) ORDER BY (id_type, id_value)`,
		`CREATE TABLE IF NOT EXISTS {db}.merge_rows (
	absorbed_id String,
	survivor_id String,
	via String,
	merged_at DateTime,
	event_id String,
	version UInt64,
	deleted UInt8
) ENGINE = ReplacingMergeTree(version) ORDER BY (absorbed_id, survivor_id, event_id)`,
		`CREATE TABLE IF NOT EXISTS {db}.conflict_rows (
	customer_id String,
	id_type String,
	id_value String,
	reason String,
	at DateTime,
	event_id String,
	version UInt64,
	deleted UInt8
) ENGINE = ReplacingMergeTree(version) ORDER BY (event_id, id_type, id_value)`,
		`CREATE TABLE IF NOT EXISTS {db}.trigger_rows (
	trigger_id String,
	rule String,
	customer_id String,
	fired_at DateTime,
	event_ids Array(String),
	version UInt64,
	deleted UInt8
) ENGINE = ReplacingMergeTree(version) ORDER BY trigger_id`,
		`CREATE VIEW IF NOT EXISTS {db}.journeys AS
SELECT customer_id, seq, event_id, event_time, ts_ms, channel, type, stage, prev_channel, secs_since_prev, props
FROM (
	SELECT customer_id, seq, event_id, event_time, ts_ms, channel, type, stage, prev_channel, secs_since_prev, props, deleted
	FROM {db}.journey_rows FINAL
)
WHERE deleted = 0`,
		`CREATE VIEW IF NOT EXISTS {db}.profiles AS
SELECT customer_id, ids, first_seen, last_seen, events, channels, stage, purchases, revenue, segments, updated_at
FROM (
	SELECT customer_id, ids, first_seen, last_seen, events, channels, stage, purchases, revenue, segments, updated_at, deleted
	FROM {db}.profile_rows FINAL
)
WHERE deleted = 0`,
		`CREATE VIEW IF NOT EXISTS {db}.identities AS
SELECT id_type, id_value, customer_id
FROM (
	SELECT id_type, id_value, customer_id, deleted
	FROM {db}.identity_rows FINAL
)
WHERE deleted = 0`,
		`CREATE VIEW IF NOT EXISTS {db}.merges AS
SELECT absorbed_id, survivor_id, via, merged_at
FROM (
	SELECT absorbed_id, survivor_id, via, merged_at, deleted
	FROM {db}.merge_rows FINAL
)
WHERE deleted = 0`,
		`CREATE VIEW IF NOT EXISTS {db}.identity_conflicts AS
SELECT customer_id, id_type, id_value, reason, at
FROM (
	SELECT customer_id, id_type, id_value, reason, at, deleted
	FROM {db}.conflict_rows FINAL
)
WHERE deleted = 0`,
		`CREATE VIEW IF NOT EXISTS {db}.triggers AS
SELECT trigger_id, rule, customer_id, fired_at, event_ids
FROM (
	SELECT trigger_id, rule, customer_id, fired_at, event_ids, deleted
	FROM {db}.trigger_rows FINAL
)
WHERE deleted = 0`,
	},
}, {
	version: 2,
	name:    "audit of data-subject requests",
	// One row per request (forget, unmerge), kept when the customer it
	// names is forgotten: the audit is what proves the erasure. It holds
	// the identifier's type, never its value.
	stmts: []string{
		`CREATE TABLE IF NOT EXISTS {db}.audit_rows (
	request_id String,
	op String,
	customer_id String,
	resolved_id String,
	id_type String,
	status String,
	actor String,
	events UInt64,
	parts Array(String),
	requested_at DateTime,
	version UInt64
) ENGINE = ReplacingMergeTree(version) ORDER BY request_id`,
		`CREATE VIEW IF NOT EXISTS {db}.audit AS
SELECT request_id, op, customer_id, resolved_id, id_type, status, actor, events, parts, requested_at
FROM {db}.audit_rows FINAL`,
	},
}}

// Migrate creates the database if it is missing and applies the migrations
// it has not recorded yet, in order. It returns the versions applied now
// (none when the schema is up to date). Two processes migrating at once
// both run the same idempotent statements and record the same versions,
// which the ReplacingMergeTree collapses.
func Migrate(ctx context.Context, conn driver.Conn, database string) (applied []int, err error) {
	if err := validDatabase(database); err != nil {
		return nil, fmt.Errorf("clickhouse: migrate: %w", err)
	}
	for _, stmt := range []string{"CREATE DATABASE IF NOT EXISTS {db}", migrationsTable} {
		if err := conn.Exec(ctx, strings.ReplaceAll(stmt, "{db}", database)); err != nil {
			return nil, fmt.Errorf("clickhouse: migrate %s: %w", database, err)
		}
	}
	done, err := appliedVersions(ctx, conn, database)
	if err != nil {
		return nil, err
	}
	applied = []int{}
	for _, m := range migrations {
		if done[m.version] {
			continue
		}
		for i, stmt := range m.stmts {
			if err := conn.Exec(ctx, strings.ReplaceAll(stmt, "{db}", database)); err != nil {
				return applied, fmt.Errorf("clickhouse: migration %d (%s), statement %d: %w", m.version, m.name, i+1, err)
			}
		}
		// INSERT ... SELECT rather than VALUES: the bound arguments become
		// literals in a query, which every server version parses alike.
		record := "INSERT INTO " + database + ".schema_migrations (version, name, applied_at) SELECT toUInt32(?), ?, now()"
		if err := conn.Exec(ctx, record, m.version, m.name); err != nil {
			return applied, fmt.Errorf("clickhouse: migration %d (%s): record: %w", m.version, m.name, err)
		}
		applied = append(applied, int(m.version))
	}
	return applied, nil
}

func appliedVersions(ctx context.Context, conn driver.Conn, database string) (map[uint32]bool, error) {
	rows, err := conn.Query(ctx, "SELECT DISTINCT version FROM "+database+".schema_migrations")
	if err != nil {
		return nil, fmt.Errorf("clickhouse: migrate %s: read versions: %w", database, err)
	}
	defer rows.Close()
	done := map[uint32]bool{}
	for rows.Next() {
		var v uint32
		if err := rows.Scan(&v); err != nil {
			return nil, fmt.Errorf("clickhouse: migrate %s: read versions: %w", database, err)
		}
		done[v] = true
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("clickhouse: migrate %s: read versions: %w", database, err)
	}
	return done, nil
}
