package chtest

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// OwnServer is a ClickHouse server of one test's own, which the test may
// stop and start again to make an outage. It runs Debian's clickhouse-server
// through scripts/clickhouse.sh with its own data directory and ports.
type OwnServer struct {
	t          testing.TB
	script     string
	dir        string
	port, http int
}

// StartOwnServer starts a server for this test and stops it when the test
// ends. Like Server, it fails in CI and skips elsewhere when the tests have
// no ClickHouse (make test provides one, and with it the package).
func StartOwnServer(t testing.TB) *OwnServer {
	t.Helper()
	Server(t)
	if _, err := exec.LookPath("clickhouse-server"); err != nil {
		t.Fatalf("chtest: clickhouse-server not installed: %v", err)
	}
	root, err := repoRoot()
	if err != nil {
		t.Fatal(err)
	}
	s := &OwnServer{t: t, script: filepath.Join(root, "scripts", "clickhouse.sh"), dir: t.TempDir(), port: freePort(t), http: freePort(t)}
	t.Cleanup(s.Stop)
	s.Start()
	return s
}

// Addr is the server's native protocol address.
func (s *OwnServer) Addr() string { return fmt.Sprintf("127.0.0.1:%d", s.port) }

// Start starts the server (again) on the same data and ports.
func (s *OwnServer) Start() {
	s.t.Helper()
	out, err := exec.Command(s.script, "start", s.dir, fmt.Sprint(s.port), fmt.Sprint(s.http)).CombinedOutput()
	if err != nil {
		s.t.Fatalf("chtest: starting own server: %v\n%s", err, out)
	}
}

// Stop stops the server; its data stays.
func (s *OwnServer) Stop() {
	s.t.Helper()
	if out, err := exec.Command(s.script, "stop", s.dir).CombinedOutput(); err != nil {
		s.t.Errorf("chtest: stopping own server: %v\n%s", err, out)
	}
}

func freePort(t testing.TB) int {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

func repoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("chtest: no go.mod above the working directory")
		}
		dir = parent
	}
}
