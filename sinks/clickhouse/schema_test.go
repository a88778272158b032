package clickhouse

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/omnistitch/omnistitch/internal/chtest"
	"github.com/omnistitch/omnistitch/internal/config"
)

// migrated returns a connection and a fresh, migrated database.
func migrated(t *testing.T) (driver.Conn, string) {
	t.Helper()
	addr, db := chtest.Database(t)
	ctx := context.Background()
	conn, err := Open(ctx, &config.ClickHouse{Addr: addr, Database: db})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	if _, err := Migrate(ctx, conn, db); err != nil {
		t.Fatal(err)
	}
	return conn, db
}

func TestMigrate(t *testing.T) {
	addr, db := chtest.Database(t)
	ctx := context.Background()
	conn, err := Open(ctx, &config.ClickHouse{Addr: addr, Database: db})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	// chtest created the database; drop it so that Migrate has to create it.
	if err := conn.Exec(ctx, "DROP DATABASE "+db); err != nil {
		t.Fatal(err)
	}

	applied, err := Migrate(ctx, conn, db)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(applied, []int{1, 2}) {
		t.Fatalf("first Migrate applied %v, want [1 2]", applied)
	}
	applied, err = Migrate(ctx, conn, db)
	if err != nil {
		t.Fatalf("second Migrate: %v", err)
	}
	if len(applied) != 0 {
		t.Fatalf("second Migrate applied %v, want nothing", applied)
	}
	var n uint64
	if err := conn.QueryRow(ctx, "SELECT count() FROM "+db+".schema_migrations FINAL WHERE version = 1").Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 1 {
		t.Fatalf("schema_migrations holds %d rows for version 1, want 1", n)
	}

	// A crash after the statements but before the record: the next run
	// repeats them, which must not fail.
	if err := conn.Exec(ctx, "TRUNCATE TABLE "+db+".schema_migrations"); err != nil {
		t.Fatal(err)
	}
	applied, err = Migrate(ctx, conn, db)
	if err != nil {
		t.Fatalf("Migrate over an unrecorded schema: %v", err)
	}
	if !slices.Equal(applied, []int{1, 2}) {
		t.Fatalf("Migrate over an unrecorded schema applied %v, want [1 2]", applied)
	}
}

func TestMigrateRejectsBadDatabase(t *testing.T) {
	for _, db := range []string{"", "1db", "omni-stitch", "x; DROP DATABASE default", "a.b", "db`"} {
		// A nil conn: the name must be refused before any statement.
		if _, err := Migrate(context.Background(), nil, db); err == nil {
			t.Errorf("Migrate(%q) accepted the name", db)
		}
	}
}

// The writer builds its INSERTs from the column constants; they must list
// exactly the migrated columns, in order.
func TestColumnsMatchTables(t *testing.T) {
	conn, db := migrated(t)
	for table, want := range tableColumns {
		if got := columnNames(t, conn, db, table); got != want {
			t.Errorf("%s has columns\n  %s\nthe constant says\n  %s", table, got, want)
		}
		if got, want := InsertStatement(db, table), "INSERT INTO "+db+"."+table+" ("+want+")"; got != want {
			t.Errorf("InsertStatement(%s) = %q, want %q", table, got, want)
		}
	}
	views := map[string]string{ // SPEC.md, section ClickHouse
		"journeys":           "customer_id, seq, event_id, event_time, ts_ms, channel, type, stage, prev_channel, secs_since_prev, props",
		"profiles":           "customer_id, ids, first_seen, last_seen, events, channels, stage, purchases, revenue, segments, updated_at",
		"identities":         "id_type, id_value, customer_id",
		"merges":             "absorbed_id, survivor_id, via, merged_at",
		"identity_conflicts": "customer_id, id_type, id_value, reason, at",
		"triggers":           "trigger_id, rule, customer_id, fired_at, event_ids",
	}
	for view, want := range views {
		if got := columnNames(t, conn, db, view); got != want {
			t.Errorf("view %s has columns\n  %s\nSPEC says\n  %s", view, got, want)
		}
	}
}

func columnNames(t *testing.T, conn driver.Conn, db, table string) string {
	t.Helper()
	rows, err := conn.Query(context.Background(),
		"SELECT name FROM system.columns WHERE database = ? AND table = ?", db, table)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	// system.columns has no position column on 18.16; it lists a table's
	// columns in their order.
	var names []string
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			t.Fatal(err)
		}
		names = append(names, n)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return strings.Join(names, ", ")
}

func TestInsertStatementPanicsOnProgrammingErrors(t *testing.T) {
	for _, c := range []struct{ db, table string }{{"omnistitch", "journeys"}, {"omni stitch", JourneyTable}} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("InsertStatement(%q, %q) did not panic", c.db, c.table)
				}
			}()
			InsertStatement(c.db, c.table)
		}()
	}
}

// forbidden are types missing on 18.16 (SPEC.md, section ClickHouse).
var forbidden = []string{"DateTime64", "Map(", "JSON", "Bool", "LowCardinality", "Nullable"}

func forbiddenIn(ddl string) []string {
	var found []string
	for _, f := range forbidden {
		if strings.Contains(ddl, f) {
			found = append(found, f)
		}
	}
	return found
}

func TestDDLUsesOnlyOldTypes(t *testing.T) {
	if got := forbiddenIn("x DateTime64(3), y Map(String, String)"); len(got) != 2 {
		t.Fatalf("the check itself is broken: found %v in a DDL with two forbidden types", got)
	}
	ddl := []string{migrationsTable}
	for _, m := range migrations {
		ddl = append(ddl, m.stmts...)
	}
	if len(ddl) < 13 {
		t.Fatalf("only %d statements to check", len(ddl))
	}
	for _, stmt := range ddl {
		if found := forbiddenIn(stmt); len(found) > 0 {
			t.Errorf("DDL uses %v, which ClickHouse 18.16 lacks:\n%s", found, stmt)
		}
	}
}

// selectView returns the view's rows for one key, each as the values of
// its columns, times in UTC so that rows compare with reflect.DeepEqual.
func selectView(ctx context.Context, t *testing.T, conn driver.Conn, db, view, keyCol, key string) [][]any {
	t.Helper()
	rows, err := conn.Query(ctx, "SELECT * FROM "+db+"."+view+" WHERE "+keyCol+" = ?", key)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out [][]any
	for rows.Next() {
		ptrs := make([]any, len(rows.ColumnTypes()))
		for i, ct := range rows.ColumnTypes() {
			ptrs[i] = reflect.New(ct.ScanType()).Interface()
		}
		if err := rows.Scan(ptrs...); err != nil {
			t.Fatal(err)
		}
		row := make([]any, len(ptrs))
		for i, p := range ptrs {
			row[i] = reflect.ValueOf(p).Elem().Interface()
			if tm, ok := row[i].(time.Time); ok {
				row[i] = tm.UTC()
			}
		}
		out = append(out, row)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// insert writes rows in one INSERT, which becomes one part of its own.
func insert(t *testing.T, conn driver.Conn, db, table string, rows ...[]any) {
	t.Helper()
	ctx := context.Background()
	b, err := conn.PrepareBatch(ctx, InsertStatement(db, table))
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range rows {
		if err := b.Append(r...); err != nil {
			t.Fatal(err)
		}
	}
	if err := b.Send(); err != nil {
		t.Fatal(err)
	}
}

func activeParts(t *testing.T, conn driver.Conn, db, table string) uint64 {
	t.Helper()
	var n uint64
	err := conn.QueryRow(context.Background(),
		"SELECT count() FROM system.parts WHERE database = ? AND table = ? AND active", db, table).Scan(&n)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// A table's rows for the tombstone tests: row makes the values to insert,
// view the values the view must show; both derive every column from the
// version, so that a stale version shows.
type tableCase struct {
	table, view, keyCol string
	row                 func(key string, version uint64, deleted uint8) []any
	live                func(key string, version uint64) []any
}

var at = time.Date(2024, 3, 1, 12, 0, 0, 0, time.UTC)

func vtime(v uint64) time.Time { return at.Add(time.Duration(v) * time.Hour) }

func vs(v uint64) string { return "v" + string(rune('0'+v)) }

var tableCases = []tableCase{{
	table: JourneyTable, view: "journeys", keyCol: "event_id",
	row: func(key string, v uint64, deleted uint8) []any {
		return []any{"c1", key, uint32(v), vtime(v), vtime(v).UnixMilli(), "web" + vs(v), "view", "awareness", "store" + vs(v), float64(v) * 1.5, `{"v":"` + vs(v) + `"}`, v, deleted}
	},
	live: func(key string, v uint64) []any {
		return []any{"c1", uint32(v), key, vtime(v), vtime(v).UnixMilli(), "web" + vs(v), "view", "awareness", "store" + vs(v), float64(v) * 1.5, `{"v":"` + vs(v) + `"}`}
	},
}, {
	table: ProfileTable, view: "profiles", keyCol: "customer_id",
	row: func(key string, v uint64, deleted uint8) []any {
		return []any{key, []string{"email:" + vs(v) + "@x.com"}, at, vtime(v), v * 10, []string{"web", vs(v)}, "stage" + vs(v), v, float64(v) * 9.5, []string{"seg" + vs(v)}, vtime(v), v, deleted}
	},
	live: func(key string, v uint64) []any {
		return []any{key, []string{"email:" + vs(v) + "@x.com"}, at, vtime(v), v * 10, []string{"web", vs(v)}, "stage" + vs(v), v, float64(v) * 9.5, []string{"seg" + vs(v)}, vtime(v)}
	},
}, {
	table: IdentityTable, view: "identities", keyCol: "id_value",
	row: func(key string, v uint64, deleted uint8) []any {
		return []any{"email", key, "c_" + vs(v), v, deleted}
	},
	live: func(key string, v uint64) []any { return []any{"email", key, "c_" + vs(v)} },
}}

// The trap these tests guard: a view that filtered deleted = 0 before FINAL
// picked the newest version would drop a tombstone and show the older live
// row it replaced. Merges are stopped so that every INSERT stays a part of
// its own, as rows are between merges in production; each check runs with
// ClickHouse's filter-moving optimisations forced on as well.
func TestTombstones(t *testing.T) {
	conn, db := migrated(t)
	settings := []clickhouse.Settings{
		nil,
		{"optimize_move_to_prewhere": 1, "enable_optimize_predicate_expression": 1},
	}
	for _, c := range tableCases {
		t.Run(c.view, func(t *testing.T) {
			if err := conn.Exec(context.Background(), "SYSTEM STOP MERGES "+db+"."+c.table); err != nil {
				t.Fatal(err)
			}
			check := func(key string, want [][]any) {
				t.Helper()
				for _, s := range settings {
					ctx := clickhouse.Context(context.Background(), clickhouse.WithSettings(s))
					if got := selectView(ctx, t, conn, db, c.view, c.keyCol, key); !reflect.DeepEqual(got, want) {
						t.Fatalf("%s for %s (settings %v):\n got  %v\n want %v", c.view, key, s, got, want)
					}
				}
			}

			insert(t, conn, db, c.table, c.row("k1", 1, 0))
			check("k1", [][]any{c.live("k1", 1)})
			insert(t, conn, db, c.table, c.row("k1", 2, 1))
			check("k1", nil)
			insert(t, conn, db, c.table, c.row("k1", 3, 0))
			check("k1", [][]any{c.live("k1", 3)})

			// Versions, not arrival order, decide.
			insert(t, conn, db, c.table, c.row("k2", 5, 0))
			insert(t, conn, db, c.table, c.row("k2", 4, 0))
			check("k2", [][]any{c.live("k2", 5)})
			insert(t, conn, db, c.table, c.row("k3", 7, 1))
			insert(t, conn, db, c.table, c.row("k3", 6, 0))
			check("k3", nil)

			// Within one INSERT (one part) as well, in either order.
			insert(t, conn, db, c.table, c.row("k4", 1, 0), c.row("k4", 2, 1))
			check("k4", nil)
			insert(t, conn, db, c.table, c.row("k5", 9, 0), c.row("k5", 8, 1))
			check("k5", [][]any{c.live("k5", 9)})

			// The checks above prove nothing if a merge had already
			// collapsed the versions.
			if n := activeParts(t, conn, db, c.table); n != 9 {
				t.Fatalf("%s has %d active parts, want 9: the versions were not kept apart", c.table, n)
			}
		})
	}
}

// A re-delivered row (same key, same version) counts once.
func TestRedelivery(t *testing.T) {
	conn, db := migrated(t)
	for _, c := range tableCases {
		t.Run(c.view, func(t *testing.T) {
			ctx := context.Background()
			if err := conn.Exec(ctx, "SYSTEM STOP MERGES "+db+"."+c.table); err != nil {
				t.Fatal(err)
			}
			for range 3 {
				insert(t, conn, db, c.table, c.row("k1", 4, 0))
			}
			var base uint64
			if err := conn.QueryRow(ctx, "SELECT count() FROM "+db+"."+c.table).Scan(&base); err != nil {
				t.Fatal(err)
			}
			if base != 3 {
				t.Fatalf("%s holds %d rows, want the 3 copies unmerged", c.table, base)
			}
			if got, want := selectView(ctx, t, conn, db, c.view, c.keyCol, "k1"), [][]any{c.live("k1", 4)}; !reflect.DeepEqual(got, want) {
				t.Fatalf("%s after 3 deliveries:\n got  %v\n want %v", c.view, got, want)
			}
		})
	}
}

// The types on the server, not only the DDL text, must be ones 18.16 has.
func TestServerColumnTypes(t *testing.T) {
	conn, db := migrated(t)
	rows, err := conn.Query(context.Background(), "SELECT table, name, type FROM system.columns WHERE database = ?", db)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	n := 0
	for rows.Next() {
		var table, name, typ string
		if err := rows.Scan(&table, &name, &typ); err != nil {
			t.Fatal(err)
		}
		n++
		if found := forbiddenIn(typ); len(found) > 0 {
			t.Errorf("%s.%s is %s", table, name, typ)
		}
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	if n < 50 {
		t.Fatalf("only %d columns in %s", n, db)
	}
}

func TestOpenErrorsNameTheSetting(t *testing.T) {
	const secret = "s3cret-Pa55word"
	dir := t.TempDir()
	ca := filepath.Join(dir, "ca.pem")
	if err := os.WriteFile(ca, []byte(secret), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("OMNISTITCH_TEST_NO_SUCH_VAR", "")
	os.Unsetenv("OMNISTITCH_TEST_NO_SUCH_VAR")

	for _, c := range []struct {
		cfg  config.ClickHouse
		want string
	}{
		{config.ClickHouse{Addr: "127.0.0.1:1", Database: "omnistitch", PasswordEnv: "OMNISTITCH_TEST_NO_SUCH_VAR"}, "clickhouse.password_env"},
		{config.ClickHouse{Addr: "127.0.0.1:1", Database: "omnistitch", PasswordFile: filepath.Join(dir, "missing")}, "clickhouse.password_file"},
		{config.ClickHouse{Addr: "127.0.0.1:1", Database: "omni-stitch"}, "clickhouse.database"},
		{config.ClickHouse{Addr: "", Database: "omnistitch"}, "clickhouse.addr"},
		{config.ClickHouse{Addr: "127.0.0.1:1", Database: "omnistitch", TLS: config.TLS{Enabled: true, CAFile: ca}}, "clickhouse.tls.ca_file"},
	} {
		_, err := Open(context.Background(), &c.cfg)
		if err == nil {
			t.Errorf("Open(%+v) succeeded", c.cfg)
			continue
		}
		if !strings.Contains(err.Error(), c.want) || !strings.HasPrefix(err.Error(), "clickhouse: ") {
			t.Errorf("Open(%+v) = %q, want a clickhouse: error naming %s", c.cfg, err, c.want)
		}
		if strings.Contains(err.Error(), secret) {
			t.Errorf("Open(%+v) error shows the secret: %q", c.cfg, err)
		}
	}
}

// The server refuses the password (the test server's default user has
// none); the error must say so without repeating it.
func TestOpenWrongPasswordHidesIt(t *testing.T) {
	addr := chtest.Server(t)
	const secret = "s3cret-Pa55word"
	file := filepath.Join(t.TempDir(), "password")
	if err := os.WriteFile(file, []byte(secret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("OMNISTITCH_TEST_CH_PASSWORD", secret)
	for _, cfg := range []config.ClickHouse{
		{Addr: addr, Database: "omnistitch", PasswordFile: file},
		{Addr: addr, Database: "omnistitch", PasswordEnv: "OMNISTITCH_TEST_CH_PASSWORD"},
	} {
		conn, err := Open(context.Background(), &cfg)
		if err == nil {
			conn.Close()
			t.Fatalf("Open with a wrong password succeeded")
		}
		if strings.Contains(err.Error(), secret) {
			t.Errorf("error shows the password: %q", err)
		}
		if !strings.Contains(err.Error(), "clickhouse: ping") {
			t.Errorf("error %q, want the server's refusal at ping", err)
		}
	}
}

func TestOpenPings(t *testing.T) {
	addr := chtest.Server(t)
	conn, err := Open(context.Background(), &config.ClickHouse{Addr: addr, Database: "omnistitch", Username: "default"})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	var one uint8
	if err := conn.QueryRow(context.Background(), "SELECT toUInt8(1)").Scan(&one); err != nil || one != 1 {
		t.Fatalf("SELECT 1 = %d, %v", one, err)
	}
}

// A server that accepts the connection but never answers must fail Open
// within the dial timeout (which also bounds the handshake), not hang
// start-up.
func TestOpenSilentServerFailsInTime(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	defer func() { ln.Close(); <-done }()
	go func() {
		defer close(done)
		var conns []net.Conn // held open, unanswered, until the listener closes
		defer func() {
			for _, c := range conns {
				c.Close()
			}
		}()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			conns = append(conns, c)
		}
	}()
	addr := ln.Addr().String()
	start := time.Now()
	conn, err := Open(context.Background(), &config.ClickHouse{Addr: addr, Database: "omnistitch"})
	elapsed := time.Since(start)
	if err == nil {
		conn.Close()
		t.Fatal("Open of a silent server succeeded")
	}
	if elapsed > 2*dialTimeout {
		t.Fatalf("Open took %v, want it bounded by the %v dial timeout", elapsed, dialTimeout)
	}
	if !strings.HasPrefix(err.Error(), "clickhouse: ") || !strings.Contains(err.Error(), addr) {
		t.Fatalf("error %q, want it to name the address", err)
	}
}
