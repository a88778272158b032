package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/omnistitch/omnistitch/bench/gen"
	"github.com/omnistitch/omnistitch/internal/chtest"
	"github.com/omnistitch/omnistitch/internal/config"
	"github.com/omnistitch/omnistitch/pipeline"
	chsink "github.com/omnistitch/omnistitch/sinks/clickhouse"
	"github.com/omnistitch/omnistitch/state"
	"github.com/omnistitch/omnistitch/stitch"
	"github.com/omnistitch/omnistitch/stitch/normalize"
)

// lockedBuffer is the log's destination, read while the service writes.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) Bytes() []byte {
	l.mu.Lock()
	defer l.mu.Unlock()
	return bytes.Clone(l.b.Bytes())
}

// hostileRecords are bad records that carry identifiers where a careless
// error message would quote them, plus events that force a conflict and a
// merge, each with identifiers of its own to look for.
var hostileRecords = []struct{ topic, value string }{
	{"omni.events", `{"event_id":"h-ts","channel":"web","type":"login","ts":"leak.ts@example.com","ids":{"email":"leak.ts.owner@example.com"}}`},
	{"omni.events", `{"event_id":"h-chan","channel":"leak.channel@example.com","type":"login","ts":1000,"ids":{"email":"leak.channel.owner@example.com"}}`},
	{"omni.events", `{"event_id":"h-type","channel":"web","type":"login","ts":1000,"ids":{"email":["leak.list@example.com"]}}`},
	{"omni.events", `{"event_id":"h-num","channel":"web","type":"login","ts":1000,"ids":{"phone":4930123456789}}`},
	{"omni.events", `{"event_id":"h-trunc","channel":"web","type":"login","ts":1000,"ids":{"email":"leak.truncated@example.com"`},
	{"omni.events", `{"event_id":"h-junk","channel":"web","type":"login","ts":1000,"ids":{"email":"test@test.com","phone":"leak-not-a-phone-123"}}`},
	{"omni.events", `{"event_id":"h-utf8","channel":"web","type":"login","ts":1000,"ids":{"email":"leak.utf8` + "\xff\xfe" + `@example.com"}}`},
	{"omni.events", `{"event_id":"h-noid","channel":"web","type":"login","ts":1000,"ids":{},"props":{"email":"leak.props@example.com"}}`},
	{"omni.events", `leak.bare@example.com`},
	{"omni.events", `{"event_id":"h-big","channel":"web","type":"login","ts":1000,"ids":{"email":"leak.big@example.com"},"props":{"pad":"` + strings.Repeat("x", 1<<20) + `"}}`},
	{"omni.store", `{"txn_type":"sale","store":"S01","till":"T1","txn_no":"1","ts":"leak.store.ts","loyalty_card":"LC-LEAK-STORE","customer_phone":"+49 170 5550001","total":1}`},
	{"omni.callcentre", `{"call_id":"1","started_at":"leak-time","caller_number":"(0151) 5550002","crm_id":"CRM-LEAK-CALL"}`},
	{"omni.email", `{"sg_event_id":"x","event":"open","email":"LEAK.ESP@EXAMPLE.ORG"}`},
	{"omni.web", `{"type":"identify","messageId":"m1","anonymousId":"ck-leak-web-1","userId":"u-leak-web","timestamp":"no time"}`},
	// A limit conflict: a second crm id for one customer.
	{"omni.events", `{"event_id":"h-c1","channel":"callcentre","type":"call","ts":2000,"ids":{"crm":"CRM-LEAK-A","email":"leak.conflict@example.com"}}`},
	{"omni.events", `{"event_id":"h-c2","channel":"callcentre","type":"call","ts":3000,"ids":{"crm":"CRM-LEAK-B","email":"leak.conflict@example.com"}}`},
	// A merge: two customers joined by a user id.
	{"omni.events", `{"event_id":"h-m1","channel":"web","type":"page_view","ts":4000,"ids":{"cookie":"ck-leak-merge-1"}}`},
	{"omni.events", `{"event_id":"h-m2","channel":"web","type":"page_view","ts":5000,"ids":{"cookie":"ck-leak-merge-2"}}`},
	{"omni.events", `{"event_id":"h-m3","channel":"web","type":"login","ts":6000,"ids":{"cookie":"ck-leak-merge-1","user":"u-leak-merge"}}`},
	{"omni.events", `{"event_id":"h-m4","channel":"web","type":"login","ts":7000,"ids":{"cookie":"ck-leak-merge-2","user":"u-leak-merge"}}`},
	// A shared device: it merges three e-mail customers, then a fourth
	// address marks it shared and the merges are undone.
	{"omni.events", `{"event_id":"h-s1","channel":"store","type":"signup","ts":8000,"ids":{"device":"dv-leak-shared","email":"leak.shared1@example.com"}}`},
	{"omni.events", `{"event_id":"h-s2","channel":"store","type":"signup","ts":9000,"ids":{"device":"dv-leak-shared","email":"leak.shared2@example.com"}}`},
	{"omni.events", `{"event_id":"h-s3","channel":"store","type":"signup","ts":10000,"ids":{"device":"dv-leak-shared","email":"leak.shared3@example.com"}}`},
	{"omni.events", `{"event_id":"h-s4","channel":"store","type":"signup","ts":11000,"ids":{"device":"dv-leak-shared","email":"leak.shared4@example.com"}}`},
}

// hostileValues are the identifier values of hostileRecords, as written
// and as normalised.
var hostileValues = []string{
	"leak.ts.owner@example.com", "leak.channel.owner@example.com",
	"leak.list@example.com", "4930123456789", "+4930123456789", "leak.truncated@example.com", "leak-not-a-phone-123",
	"leak.utf8", "leak.props@example.com", "leak.bare@example.com", "leak.big@example.com",
	"LC-LEAK-STORE", "170 5550001", "+491705550001", "5550002", "+491515550002", "CRM-LEAK-CALL",
	"LEAK.ESP@EXAMPLE.ORG", "leak.esp@example.org", "ck-leak-web-1", "u-leak-web",
	"CRM-LEAK-A", "CRM-LEAK-B", "leak.conflict@example.com",
	"ck-leak-merge-1", "ck-leak-merge-2", "u-leak-merge",
	"dv-leak-shared", "leak.shared1@example.com", "leak.shared2@example.com", "leak.shared3@example.com", "leak.shared4@example.com",
}

// fieldValues are values of other fields that look like personal data. A
// dead letter's error may quote them (a bad ts is easier to fix when shown;
// the record travels with it anyway), the log and metrics may not.
var fieldValues = []string{"leak.ts@example.com", "leak.channel@example.com", "leak.store.ts", "leak-time"}

// No identifier value, raw or normalised, appears in the service's log (at
// debug level, franz-go's included) or in its metrics, whatever the input:
// good events, dead letters of every kind, conflicts, merges, shared
// devices. Dead-letter error headers are held to the same rule: they say
// why, never quote the record.
func TestNoIdentifierInLogsOrMetrics(t *testing.T) {
	chAddr, db := chtest.Database(t)
	topics := []string{"omni.events", "omni.web", "omni.store", "omni.callcentre", "omni.email", "omni.deadletter", "omni.triggers"}
	b, err := pipeline.StartBroker(0, 2, topics...)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	cfg := config.Default()
	cfg.Kafka.Brokers = b.Addrs()
	cfg.State.Dir = filepath.Join(t.TempDir(), "state")
	cfg.HTTP.Addr = "127.0.0.1:0"
	cfg.ClickHouse.Addr, cfg.ClickHouse.Database = chAddr, db
	decoders, err := pipeline.Decoders(cfg)
	if err != nil {
		t.Fatal(err)
	}

	var recs []*kgo.Record
	for _, r := range gen.All(gen.Options{Seed: 5, Customers: 150, MalformedShare: 0.05}) {
		recs = append(recs, &kgo.Record{Topic: "omni.events", Value: r.Line})
	}
	for _, src := range []string{"web", "store", "callcentre", "email"} {
		f, err := os.Open(filepath.Join("../../testdata/sources", src+".jsonl"))
		if err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(f)
		sc.Buffer(nil, 1<<20)
		for n := 0; sc.Scan() && n < 300; n++ {
			recs = append(recs, &kgo.Record{Topic: "omni." + src, Value: bytes.Clone(sc.Bytes())})
		}
		f.Close()
	}
	for _, h := range hostileRecords {
		recs = append(recs, &kgo.Record{Topic: h.topic, Value: []byte(h.value)})
	}
	values := identifierValuesOf(t, recs, decoders)
	values = append(values, hostileValues...)

	cl, err := kgo.NewClient(kgo.SeedBrokers(b.Addrs()...), kgo.ProducerBatchMaxBytes(4<<20))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	if err := cl.ProduceSync(context.Background(), recs...).FirstErr(); err != nil {
		t.Fatal(err)
	}

	logs := &lockedBuffer{}
	log := slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	runs := make(chan running, 1)
	done := make(chan error, 1)
	go func() { done <- serve(ctx, cfg, log, func(r running) { runs <- r }) }()
	var r running
	select {
	case r = <-runs:
	case err := <-done:
		t.Fatal(err)
	}
	for deadline := time.Now().Add(2 * time.Minute); r.svc.Stats().Records < int64(len(recs)) || r.store.PendingRowBytes() > 0 || r.store.Pending() > 0; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("not everything consumed and written: %+v", r.svc.Stats())
		}
	}
	metrics := scrapeMetrics(t, logs.Bytes())
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}

	// The run did what the test is about.
	st := r.svc.Stats()
	if st.DeadLetters < 20 {
		t.Errorf("only %d dead letters", st.DeadLetters)
	}
	for _, m := range []string{"omnistitch_merges_total ", "omnistitch_identity_conflicts_total ", "omnistitch_unmerges_total "} {
		if !metricPositive(metrics, m) {
			t.Errorf("%s is not positive: the input does not exercise it", strings.TrimSpace(m))
		}
	}
	logged := logs.Bytes()
	if bytes.Count(logged, []byte("\n")) < 10 || !bytes.Contains(logged, []byte(`"level":"DEBUG"`)) {
		t.Fatalf("the log holds too little to judge (%d bytes, debug lines: %v)", len(logged), bytes.Contains(logged, []byte(`"level":"DEBUG"`)))
	}
	headers := deadLetterErrors(t, b.Addrs())
	if len(headers) < int(st.DeadLetters) {
		t.Errorf("%d dead-letter error headers read, %d dead letters sent", len(headers), st.DeadLetters)
	}

	lower := func(b []byte) []byte { return bytes.ToLower(b) }
	all := append(values, fieldValues...)
	for _, c := range []struct {
		what   string
		text   []byte
		values []string
	}{{"log", lower(logged), all}, {"metrics", lower(metrics), all}, {"dead-letter error headers", lower([]byte(strings.Join(headers, "\n"))), values}} {
		var found []string
		for _, v := range c.values {
			if containsToken(c.text, []byte(strings.ToLower(v))) {
				found = append(found, v)
			}
		}
		if len(found) > 0 {
			t.Errorf("%d identifier values in the %s, e.g. %q; context: %s", len(found), c.what, found[0], contextOf(c.text, strings.ToLower(found[0])))
		}
	}
}

// containsToken reports whether v occurs in text other than inside a
// longer run of letters and digits: a six-digit loyalty number is also the
// middle of many a timestamp's nanoseconds or byte count, which is no leak,
// while a leaked value stands between quotes, spaces or other punctuation.
func containsToken(text, v []byte) bool {
	word := func(c byte) bool { return '0' <= c && c <= '9' || 'a' <= c && c <= 'z' }
	for at := 0; ; {
		i := bytes.Index(text[at:], v)
		if i < 0 {
			return false
		}
		i += at
		end := i + len(v)
		if (i == 0 || !word(text[i-1]) || !word(v[0])) && (end == len(text) || !word(text[end]) || !word(v[len(v)-1])) {
			return true
		}
		at = i + 1
	}
}

// identifierValuesOf decodes the records as the service does and returns
// every usable identifier value, as written and as normalised. Values
// shorter than 6 characters would match by chance and are left out.
func identifierValuesOf(t *testing.T, recs []*kgo.Record, decoders map[string]pipeline.Decoder) []string {
	t.Helper()
	store, err := state.Open(t.TempDir(), state.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	eng, err := stitch.New(config.Default(), store)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, r := range recs {
		ev, err := decoders[r.Topic](r.Value)
		if err != nil {
			continue
		}
		for _, id := range ev.IDs {
			norm, res := eng.Normalize(id.Type, id.Value)
			if res != normalize.OK {
				continue
			}
			for _, v := range []string{strings.TrimSpace(id.Value), norm} {
				if len(v) >= 6 {
					seen[v] = true
				}
			}
		}
	}
	if len(seen) < 300 {
		t.Fatalf("only %d identifier values in the input", len(seen))
	}
	out := make([]string, 0, len(seen))
	for v := range seen {
		out = append(out, v)
	}
	return out
}

// scrapeMetrics reads /metrics from the address the service logged.
func scrapeMetrics(t *testing.T, logged []byte) []byte {
	t.Helper()
	var addr string
	for _, line := range bytes.Split(logged, []byte("\n")) {
		var m struct{ Msg, Addr string }
		if json.Unmarshal(line, &m) == nil && m.Msg == "http listening" {
			addr = m.Addr
		}
	}
	if addr == "" {
		t.Fatal(`no "http listening" line in the log`)
	}
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("/metrics: %d %v", resp.StatusCode, err)
	}
	return body
}

func metricPositive(metrics []byte, prefix string) bool {
	for _, line := range strings.Split(string(metrics), "\n") {
		if v, ok := strings.CutPrefix(line, prefix); ok {
			var f float64
			fmt.Sscan(v, &f)
			return f > 0
		}
	}
	return false
}

// deadLetterErrors reads the error header of every dead letter.
func deadLetterErrors(t *testing.T, brokers []string) []string {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.ConsumeTopics("omni.deadletter"),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	var out []string
	for idle := 0; idle < 2; {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		fs := cl.PollFetches(ctx)
		cancel()
		if len(fs.Records()) == 0 {
			idle++
		}
		for _, r := range fs.Records() {
			for _, h := range r.Headers {
				if h.Key == "error" {
					out = append(out, string(h.Value))
				}
			}
		}
	}
	return out
}

func contextOf(text []byte, v string) string {
	i := bytes.Index(text, []byte(v))
	if i < 0 {
		return ""
	}
	return string(text[max(0, i-200):min(len(text), i+len(v)+100)])
}

// The Kafka and ClickHouse passwords and the HTTP token never reach the
// log, even at debug level and while authentication fails and is retried.
func TestSecretsNotLogged(t *testing.T) {
	chAddr, db := chtest.Database(t)
	b, err := pipeline.StartBroker(0, 1, "omni.events", "omni.deadletter")
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	dir := t.TempDir()
	const kafkaPass, chPass, token = "kafka-pass-Q7xZ31", "clickhouse-pass-W9yV44", "http-token-5f0c2a9e77b1d3c8"
	os.WriteFile(filepath.Join(dir, "kafka"), []byte(kafkaPass+"\n"), 0o600)
	os.WriteFile(filepath.Join(dir, "token"), []byte(token+"\n"), 0o600)
	t.Setenv("OMNISTITCH_TEST_CH_PASSWORD", chPass)
	cfg := config.Default()
	cfg.Kafka.Brokers = b.Addrs()
	cfg.Kafka.SASL = config.SASL{Mechanism: "PLAIN", Username: "svc", PasswordFile: filepath.Join(dir, "kafka")}
	cfg.ClickHouse.Addr, cfg.ClickHouse.Database = chAddr, db
	cfg.ClickHouse.PasswordEnv = "OMNISTITCH_TEST_CH_PASSWORD" // the test server's default user has none: refused
	cfg.HTTP.Addr, cfg.HTTP.TokenFile = "127.0.0.1:0", filepath.Join(dir, "token")
	cfg.State.Dir = filepath.Join(dir, "state")

	logs := &lockedBuffer{}
	log := slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Second)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- serve(ctx, cfg, log, nil) }()
	time.Sleep(2 * time.Second)
	// A request with the token and one with a wrong token.
	var addr string
	for _, line := range bytes.Split(logs.Bytes(), []byte("\n")) {
		var m struct{ Msg, Addr string }
		if json.Unmarshal(line, &m) == nil && m.Msg == "http listening" {
			addr = m.Addr
		}
	}
	for _, auth := range []string{"Bearer " + token, "Bearer " + token + "-wrong"} {
		req, _ := http.NewRequest("GET", "http://"+addr+"/metrics", nil)
		req.Header.Set("Authorization", auth)
		if resp, err := http.DefaultClient.Do(req); err == nil {
			resp.Body.Close()
		}
	}
	<-done
	// The writer connects only when rows wait; the refusal it would log
	// is this one.
	_, chErr := chsink.Open(context.Background(), &cfg.ClickHouse)
	if chErr == nil {
		t.Fatal("the ClickHouse server accepted a wrong password")
	}
	log.Warn("writing to ClickHouse failed", chsink.LogAttrs(chErr)...)
	log.Warn("writing to ClickHouse failed", "err", chErr)
	logged := logs.Bytes()
	if bytes.Count(logged, []byte("\n")) < 10 {
		t.Fatalf("the log holds too little to judge: %s", logged)
	}
	for _, secret := range []string{kafkaPass, chPass, token} {
		if bytes.Contains(logged, []byte(secret)) {
			t.Errorf("secret %s… in the log: %s", secret[:6], contextOf(logged, secret))
		}
	}
}

func TestContainsToken(t *testing.T) {
	for _, c := range []struct {
		text, v string
		want    bool
	}{
		{`"time":"11:47:49.104233893z"`, "104233", false},
		{`"bytes_read":2810974`, "104233", false},
		{`"id":"104233"`, "104233", true},
		{`card 104233, then`, "104233", true},
		{`104233`, "104233", true},
		{`x104233 and 104233y then 104233`, "104233", true},
		{`"email":"ann@example.com"`, "ann@example.com", true},
		{`<joann@example.com>`, "ann@example.com", false},
		{`"+4915112345678"`, "+4915112345678", true},
		{`tel:+4915112345678;ext`, "+4915112345678", true},
	} {
		if got := containsToken([]byte(c.text), []byte(c.v)); got != c.want {
			t.Errorf("containsToken(%q, %q) = %v, want %v", c.text, c.v, got, c.want)
		}
	}
}
