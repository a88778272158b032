// Package chtest gives tests a ClickHouse server, and a database of their own
// on it, when one is configured.
package chtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
)

// EnvAddr names the environment variable holding the test server's native
// protocol address (host:port). `make test` starts a server and sets it.
const EnvAddr = "OMNISTITCH_TEST_CLICKHOUSE"

// Server returns the test server's address. Without one the test is
// skipped on a developer's machine but fails in CI, where a skipped test
// would hide that the ClickHouse code never ran.
func Server(t testing.TB) (addr string) {
	t.Helper()
	addr = os.Getenv(EnvAddr)
	if addr != "" {
		return addr
	}
	if os.Getenv("CI") != "" {
		t.Fatalf("no ClickHouse: CI is set, so %s (host:port) must name a test server; run make test", EnvAddr)
	}
	t.Skip("no ClickHouse: set " + EnvAddr + " or run make test")
	return ""
}

// Database creates an empty database with a random name on the test server
// and drops it when the test ends, so tests (and concurrent runs of the
// suite) never see each other's rows.
func Database(t testing.TB) (addr, database string) {
	t.Helper()
	addr = Server(t)
	var b [8]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails
	database = "omnistitch_test_" + hex.EncodeToString(b[:])

	conn, err := clickhouse.Open(&clickhouse.Options{Addr: []string{addr}, DialTimeout: 5 * time.Second})
	if err != nil {
		t.Fatalf("chtest: open %s: %v", addr, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := conn.Exec(ctx, "CREATE DATABASE "+database); err != nil {
		conn.Close()
		t.Fatalf("chtest: create database on %s: %v", addr, err)
	}
	t.Cleanup(func() {
		defer conn.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := conn.Exec(ctx, "DROP DATABASE IF EXISTS "+database); err != nil {
			t.Errorf("chtest: drop database %s: %v", database, err)
		}
	})
	return addr, database
}
