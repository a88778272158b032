// Package clickhouse writes journeys, profiles and the identity map to
// ClickHouse: the connection, the schema and its migrations. Everything here
// works on ClickHouse 18.16 (Debian's package) and on current releases.
package clickhouse

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"regexp"
	"strings"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/omnistitch/omnistitch/internal/config"
)

const (
	dialTimeout = 5 * time.Second
	// One writer inserts, migrations and health checks use the rest; more
	// connections would only let large inserts compete with each other.
	maxConns = 4
)

// Open connects to the server at cfg.Addr and pings it. The session's
// database is "default", not cfg.Database: that one may not exist before
// Migrate, so every statement names its database instead. The password is
// read now, so a missing secret fails at start-up; errors name the setting,
// never the secret.
func Open(ctx context.Context, cfg *config.ClickHouse) (driver.Conn, error) {
	if cfg.Addr == "" {
		return nil, errors.New("clickhouse: clickhouse.addr is empty")
	}
	if err := validDatabase(cfg.Database); err != nil {
		return nil, fmt.Errorf("clickhouse: clickhouse.database: %w", err)
	}
	pass, err := password(cfg)
	if err != nil {
		return nil, fmt.Errorf("clickhouse: %w", err)
	}
	tlsCfg, err := tlsConfig(cfg.TLS)
	if err != nil {
		return nil, fmt.Errorf("clickhouse: %w", err)
	}
	opts := &clickhouse.Options{
		Addr:         []string{cfg.Addr},
		Auth:         clickhouse.Auth{Database: "default", Username: cfg.Username, Password: pass},
		TLS:          tlsCfg,
		DialTimeout:  dialTimeout,
		MaxOpenConns: maxConns,
		MaxIdleConns: maxConns,
	}
	if cfg.Compressed() {
		opts.Compression = &clickhouse.Compression{Method: clickhouse.CompressionLZ4}
	}
	conn, err := clickhouse.Open(opts)
	if err != nil {
		return nil, fmt.Errorf("clickhouse: %s: %w", cfg.Addr, err)
	}
	if err := conn.Ping(ctx); err != nil {
		conn.Close()
		return nil, fmt.Errorf("clickhouse: ping %s: %w", cfg.Addr, err)
	}
	return conn, nil
}

// password returns "" when neither source is set: ClickHouse's default
// user has no password.
func password(cfg *config.ClickHouse) (string, error) {
	switch {
	case cfg.PasswordEnv != "":
		p, ok := os.LookupEnv(cfg.PasswordEnv)
		if !ok || p == "" {
			return "", fmt.Errorf("clickhouse.password_env: environment variable %s is not set", cfg.PasswordEnv)
		}
		return p, nil
	case cfg.PasswordFile != "":
		b, err := os.ReadFile(cfg.PasswordFile)
		if err != nil {
			// The *PathError names the file and the cause, not its content.
			return "", fmt.Errorf("clickhouse.password_file: %w", err)
		}
		p := strings.TrimRight(string(b), "\r\n")
		if p == "" {
			return "", fmt.Errorf("clickhouse.password_file: %s is empty", cfg.PasswordFile)
		}
		return p, nil
	}
	return "", nil
}

// tlsConfig mirrors the Kafka side (pipeline.SecurityOpts) for the
// clickhouse.tls settings; nil means plain TCP.
func tlsConfig(t config.TLS) (*tls.Config, error) {
	if !t.Enabled {
		return nil, nil
	}
	cfg := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: t.ServerName}
	if t.CAFile != "" {
		pem, err := os.ReadFile(t.CAFile)
		if err != nil {
			return nil, fmt.Errorf("clickhouse.tls.ca_file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("clickhouse.tls.ca_file: %s holds no PEM certificate", t.CAFile)
		}
		cfg.RootCAs = pool
	}
	if t.CertFile != "" || t.KeyFile != "" {
		cert, err := tls.LoadX509KeyPair(t.CertFile, t.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("clickhouse.tls.cert_file/key_file: %w", err)
		}
		cfg.Certificates = []tls.Certificate{cert}
	}
	return cfg, nil
}

// Database names are spliced into DDL and INSERTs (ClickHouse takes no
// parameters for identifiers), so only plain identifiers are accepted.
var databaseRe = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

func validDatabase(name string) error {
	if !databaseRe.MatchString(name) {
		return fmt.Errorf("%q is not a database name (letters, digits, '_', not starting with a digit)", name)
	}
	return nil
}
