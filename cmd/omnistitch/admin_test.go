package main

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/omnistitch/omnistitch/internal/chtest"
	"github.com/omnistitch/omnistitch/internal/config"
	"github.com/omnistitch/omnistitch/internal/httpapi"
	"github.com/omnistitch/omnistitch/internal/tlstest"
	"github.com/omnistitch/omnistitch/pipeline"
	chsink "github.com/omnistitch/omnistitch/sinks/clickhouse"
)

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

func adminOut(t *testing.T, out string) httpapi.AdminResponse {
	t.Helper()
	var r httpapi.AdminResponse
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatalf("output %q: %v", out, err)
	}
	return r
}

// forget and unmerge against the running service, through its HTTP API,
// reach ClickHouse; against a stopped service's state with --offline they
// wait in the row outbox for its next start. Each is idempotent and in the
// audit table.
func TestForgetAndUnmergeCommands(t *testing.T) {
	addr, db := chtest.Database(t)
	b, err := pipeline.StartBroker(0, 1, "omni.events", "omni.deadletter")
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	lines := []string{
		`{"event_id":"a1","channel":"web","type":"page_view","ts":"2026-11-20T10:00:00Z","ids":{"email":"ann@example.com","cookie":"k-ann"}}`,
		`{"event_id":"a2","channel":"store","type":"purchase","ts":"2026-11-20T11:00:00Z","ids":{"email":"ann@example.com","loyalty":"L-ann"},"props":{"total":10}}`,
		`{"event_id":"b1","channel":"web","type":"page_view","ts":"2026-11-20T10:30:00Z","ids":{"email":"bob@example.com","device":"kiosk-1"}}`,
		`{"event_id":"c1","channel":"web","type":"page_view","ts":"2026-11-20T10:40:00Z","ids":{"email":"cat@example.com","device":"kiosk-1"}}`,
		`{"event_id":"d1","channel":"web","type":"page_view","ts":"2026-11-20T10:50:00Z","ids":{"email":"dan@example.com"}}`,
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(b.Addrs()...))
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range lines {
		if err := cl.ProduceSync(context.Background(), &kgo.Record{Topic: "omni.events", Value: []byte(l)}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	cl.Close()

	cfg := config.Default()
	cfg.Kafka.Brokers = b.Addrs()
	cfg.HTTP.Addr = freeAddr(t)
	cfg.State.Dir = filepath.Join(t.TempDir(), "state")
	cfg.ClickHouse.Addr, cfg.ClickHouse.Database = addr, db
	api := "http://" + cfg.HTTP.Addr

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	runs := make(chan running, 1)
	done := make(chan error, 1)
	go func() { done <- serve(ctx, cfg, slog.New(slog.DiscardHandler), func(r running) { runs <- r }) }()
	var r running
	select {
	case r = <-runs:
	case err := <-done:
		t.Fatal(err)
	}
	settled := func(what string) {
		t.Helper()
		for deadline := time.Now().Add(time.Minute); r.svc.Stats().Records < int64(len(lines)) || r.store.PendingRowBytes() > 0; time.Sleep(20 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("%s: not consumed and written: %+v, %d bytes waiting", what, r.svc.Stats(), r.store.PendingRowBytes())
			}
		}
	}
	settled("events")
	conn, err := chsink.Open(context.Background(), &cfg.ClickHouse)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	count := func(q string) uint64 {
		t.Helper()
		var n uint64
		if err := conn.QueryRow(context.Background(), strings.ReplaceAll(q, "{db}", db)).Scan(&n); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
		return n
	}

	out, _, err := execute(t, "forget", "--api", api, "--id", "email:Ann@Example.com", "--request-id", "dsr-1", "--actor", "dpo@example.com")
	if err != nil {
		t.Fatal(err)
	}
	ann := adminOut(t, out)
	if ann.Status != "forgotten" || ann.Events != 2 || ann.ResolvedID == "" {
		t.Fatalf("forget: %+v", ann)
	}
	settled("forget")
	if n := count(`SELECT count() FROM {db}.identities WHERE id_value IN ('ann@example.com', 'k-ann', 'L-ann')`); n != 0 {
		t.Fatalf("%d identities of the forgotten customer left", n)
	}
	if n := count(`SELECT count() FROM {db}.journeys WHERE customer_id = '` + ann.ResolvedID + `'`); n != 0 {
		t.Fatalf("%d journey rows of the forgotten customer left", n)
	}
	res, err := http.Get(api + "/v1/lookup?type=email&value=ann@example.com")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusNotFound {
		t.Fatalf("lookup after forget: %s", res.Status)
	}
	out, _, err = execute(t, "forget", "--api", api, "--customer", ann.ResolvedID)
	if err != nil || adminOut(t, out).Status != "already_forgotten" {
		t.Fatalf("forget again: %q %v", out, err)
	}
	if _, _, err := execute(t, "forget", "--api", api, "--id", "email:ida@example.com"); err == nil || !strings.Contains(err.Error(), "404") {
		t.Fatalf("forget of an unknown identifier: %v", err)
	}

	// A body with fields the API does not know is refused, not guessed at.
	res, err = http.Post(api+"/v1/forget", "application/json", strings.NewReader(`{"email":"bob@example.com"}`))
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusBadRequest {
		t.Fatalf("forget with an unknown field: %s", res.Status)
	}

	// The kiosk joined bob and cat.
	bob := lookup(t, api, "bob@example.com")
	if cat := lookup(t, api, "cat@example.com"); cat != bob {
		t.Fatalf("setup: bob %s, cat %s", bob, cat)
	}
	out, _, err = execute(t, "unmerge", "--api", api, "--customer", bob, "--id", "device:kiosk-1")
	if err != nil {
		t.Fatal(err)
	}
	if u := adminOut(t, out); u.Status != "unmerged" || len(u.Parts) != 1 {
		t.Fatalf("unmerge: %+v", u)
	}
	settled("unmerge")
	if lookup(t, api, "bob@example.com") == lookup(t, api, "cat@example.com") {
		t.Fatal("bob and cat are still one customer")
	}
	if n := count(`SELECT uniqExact(customer_id) FROM {db}.journeys WHERE event_id IN ('b1', 'c1')`); n != 2 {
		t.Fatalf("b1 and c1 under %d customers in ClickHouse, want 2", n)
	}

	// --offline while the service runs: its state is locked.
	if _, _, err := execute(t, "forget", "--offline", "--state-dir", cfg.State.Dir, "--id", "email:dan@example.com"); err == nil {
		t.Fatal("offline forget opened the state of a running service")
	}
	dan := lookup(t, api, "dan@example.com")
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	out, _, err = execute(t, "forget", "--offline", "--state-dir", cfg.State.Dir, "--id", "email:dan@example.com")
	if err != nil || adminOut(t, out).Status != "forgotten" || adminOut(t, out).ResolvedID != dan {
		t.Fatalf("offline forget: %q %v", out, err)
	}
	// The default config names a ClickHouse, so the rows wait in the
	// outbox; the next start writes them.
	ctx2, cancel2 := context.WithCancel(context.Background())
	defer cancel2()
	done2 := make(chan error, 1)
	go func() { done2 <- serve(ctx2, cfg, slog.New(slog.DiscardHandler), func(rr running) { runs <- rr }) }()
	select {
	case r = <-runs:
	case err := <-done2:
		t.Fatal(err)
	}
	for deadline := time.Now().Add(time.Minute); count(`SELECT count() FROM {db}.profiles WHERE customer_id = '`+dan+`'`) != 0; time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the offline forget never reached ClickHouse")
		}
	}
	cancel2()
	if err := <-done2; err != nil {
		t.Fatal(err)
	}
	if n := count(`SELECT count() FROM {db}.audit`); n != 4 {
		t.Fatalf("audit holds %d rows, want 4 (forget, forget again, unmerge, offline forget)", n)
	}
	if n := count(`SELECT count() FROM {db}.audit WHERE request_id = 'dsr-1' AND actor = 'dpo@example.com' AND status = 'forgotten'`); n != 1 {
		t.Fatalf("audit row of dsr-1: %d", n)
	}
}

func lookup(t *testing.T, api, email string) string {
	t.Helper()
	res, err := http.Get(api + "/v1/lookup?type=email&value=" + email)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var p struct {
		CustomerID string `json:"customer_id"`
	}
	if err := json.NewDecoder(res.Body).Decode(&p); err != nil || p.CustomerID == "" {
		t.Fatalf("lookup %s: %s %v", email, res.Status, err)
	}
	return p.CustomerID
}

// With http.tls_cert_file and tls_key_file the service answers over HTTPS
// only, and forget/unmerge reach it there from the same configuration.
func TestServiceOverHTTPS(t *testing.T) {
	b, err := pipeline.StartBroker(0, 1, "omni.events", "omni.deadletter")
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	dir := t.TempDir()
	certFile, keyFile := tlstest.SelfSigned(t, dir, 7)
	addr := freeAddr(t)
	cfgFile := filepath.Join(dir, "omnistitch.yaml")
	yaml := fmt.Sprintf("http:\n  addr: %s\n  tls_cert_file: %s\n  tls_key_file: %s\nstate:\n  dir: %s\nclickhouse:\n  addr: \"\"\nkafka:\n  brokers: [%s]\n",
		addr, certFile, keyFile, filepath.Join(dir, "state"), b.Addrs()[0])
	if err := os.WriteFile(cfgFile, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	identity, err := os.ReadFile("../../configs/identity.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "identity.yaml"), identity, 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(cfgFile)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	runs := make(chan running, 1)
	done := make(chan error, 1)
	go func() { done <- serve(ctx, cfg, slog.New(slog.DiscardHandler), func(r running) { runs <- r }) }()
	select {
	case <-runs:
	case err := <-done:
		t.Fatal(err)
	}

	tc, err := httpapi.ClientTLS(cfg.HTTP)
	if err != nil {
		t.Fatal(err)
	}
	cl := &http.Client{Transport: &http.Transport{TLSClientConfig: tc}}
	res, err := cl.Get("https://" + addr + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusOK || res.TLS == nil || res.TLS.PeerCertificates[0].SerialNumber.Int64() != 7 {
		t.Fatalf("healthz over https: %s", res.Status)
	}
	if res, err := http.Get("http://" + addr + "/healthz"); err == nil {
		res.Body.Close()
		if res.StatusCode == http.StatusOK {
			t.Fatal("plain HTTP answered")
		}
	}
	// Reaches the service (which knows nobody yet): a 404, not a
	// connection or certificate error.
	if _, _, err := execute(t, "forget", "--config", cfgFile, "--id", "email:ida@example.com"); err == nil || !strings.Contains(err.Error(), "404") {
		t.Fatalf("forget over https: %v", err)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}
