package chaos

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/omnistitch/omnistitch/bench/gen"
	"github.com/omnistitch/omnistitch/internal/config"
	chsink "github.com/omnistitch/omnistitch/sinks/clickhouse"
	"github.com/omnistitch/omnistitch/state"
	"github.com/omnistitch/omnistitch/stitch"
	"github.com/omnistitch/omnistitch/stitch/event"
	"github.com/omnistitch/omnistitch/stitch/offline"
)

const (
	eventsTopic   = "omni.events"
	deadTopic     = "omni.deadletter"
	triggersTopic = "omni.triggers"
	group         = "omnistitch-chaos"
)

// long reports whether the long form runs (make chaos).
func long() bool { return os.Getenv("OMNISTITCH_CHAOS") == "long" }

// pick returns the short or the long form's value.
func pick[T any](short, lng T) T {
	if long() {
		return lng
	}
	return short
}

// seeded returns the test's random source, seeded from
// OMNISTITCH_CHAOS_SEED or the clock, and logs the seed so that a failing
// run can be replayed.
func seeded(t *testing.T) (*rand.Rand, uint64) {
	t.Helper()
	seed := uint64(time.Now().UnixNano())
	if s := os.Getenv("OMNISTITCH_CHAOS_SEED"); s != "" {
		v, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			t.Fatalf("OMNISTITCH_CHAOS_SEED=%q: %v", s, err)
		}
		seed = v
	}
	t.Logf("seed %d (replay with OMNISTITCH_CHAOS_SEED=%d)", seed, seed)
	return rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)), seed
}

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
	buildDir  string
)

// binary builds cmd/omnistitch once per test binary, into a directory
// TestMain removes.
func binary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		buildDir, buildErr = os.MkdirTemp("", "omnistitch-chaos-bin-")
		if buildErr != nil {
			return
		}
		binPath = filepath.Join(buildDir, "omnistitch")
		out, err := exec.Command("go", "build", "-o", binPath, "github.com/omnistitch/omnistitch/cmd/omnistitch").CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binPath
}

func TestMain(m *testing.M) {
	code := m.Run()
	if buildDir != "" {
		os.RemoveAll(buildDir)
	}
	os.Exit(code)
}

// writeConfig writes a configuration for the service and the offline run:
// the default rules, but no allowed lateness and an idle_after far beyond
// any test's length. The service's watermark is then the newest event
// time, which is where `omnistitch stitch` moves it at the end of its
// input; with the default idle_after an idle service would move it on with
// the wall clock and fire abandoned carts the offline run never reaches.
func writeConfig(t *testing.T, dir, db, extra string) string {
	t.Helper()
	root := repoRoot(t)
	rules, err := os.ReadFile(filepath.Join(root, "configs", "rules.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	r := strings.Replace(string(rules), "\nallowed_lateness: 5m", "\nallowed_lateness: 0s", 1)
	r = strings.Replace(r, "\nidle_after: 30s", "\nidle_after: 100d", 1)
	if strings.Count(r, "allowed_lateness: 0s")+strings.Count(r, "idle_after: 100d") != 2 {
		t.Fatal("configs/rules.yaml no longer sets allowed_lateness: 5m and idle_after: 30s; update the test")
	}
	for name, data := range map[string]string{
		"rules.yaml": r,
	} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for _, name := range []string{"identity.yaml", "segments.yaml"} {
		b, err := os.ReadFile(filepath.Join(root, "configs", name))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if db == "" {
		db = "omnistitch" // unused: the run has no ClickHouse
	}
	// Small polls make many batches (and many instants to die between);
	// a short flush interval keeps ClickHouse busy while the kills land.
	main := `identity_file: identity.yaml
rules_file: rules.yaml
segments_file: segments.yaml
kafka:
  max_poll_records: 2000
  # A restart takes the partition back at once (static membership) rather
  # than after the killed member's 45s session.
  instance_id: chaos-1
clickhouse:
  database: ` + db + `
  flush_interval_ms: 200
` + extra
	path := filepath.Join(dir, "omnistitch.yaml")
	if err := os.WriteFile(path, []byte(main), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := config.Load(path); err != nil {
		t.Fatal(err)
	}
	return path
}

func repoRoot(t *testing.T) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("no go.mod above the working directory")
		}
		dir = parent
	}
}

// events generates about n canonical events (with the generator's share of
// malformed lines and redeliveries), one Kafka record per line.
func events(t *testing.T, seed uint64, n int) [][]byte {
	t.Helper()
	var lines [][]byte
	for _, r := range gen.All(gen.Options{Seed: seed, Customers: max(n/20, 10), Events: n}) {
		// One record is one line of the offline input: a record the
		// offline reader would split or skip is not comparable.
		if len(bytes.TrimSpace(r.Line)) == 0 || bytes.ContainsAny(r.Line, "\r\n") {
			continue
		}
		lines = append(lines, r.Line)
	}
	return lines
}

// rig is one service under test: its configuration, broker, database and
// state directory, restarted as often as the test likes.
type rig struct {
	t        *testing.T
	bin      string
	dir      string
	cfgPath  string
	brokers  string
	chAddr   string // "" runs without ClickHouse
	db       string
	stateDir string
	runs     int
	logs     []string
}

func newRig(t *testing.T, cfgPath, brokers, chAddr, db, stateDir string) *rig {
	return &rig{t: t, bin: binary(t), dir: t.TempDir(), cfgPath: cfgPath, brokers: brokers, chAddr: chAddr, db: db, stateDir: stateDir}
}

// proc is one run of `omnistitch run`.
type proc struct {
	r     *rig
	cmd   *exec.Cmd
	http  string
	log   string
	done  chan struct{}
	err   error // valid once done is closed
	began time.Time
}

// start runs the service on the rig's state directory.
func (r *rig) start() *proc {
	r.t.Helper()
	r.runs++
	addr := freeAddr(r.t)
	logPath := filepath.Join(r.dir, fmt.Sprintf("run-%d.log", r.runs))
	f, err := os.Create(logPath)
	if err != nil {
		r.t.Fatal(err)
	}
	cmd := exec.Command(r.bin, "run", "--config", r.cfgPath, "--brokers", r.brokers, "--clickhouse", r.chAddr,
		"--state-dir", r.stateDir, "--http-addr", addr, "--group", group)
	cmd.Stdout, cmd.Stderr = f, f
	if err := cmd.Start(); err != nil {
		f.Close()
		r.t.Fatal(err)
	}
	r.logs = append(r.logs, logPath)
	p := &proc{r: r, cmd: cmd, http: addr, log: logPath, done: make(chan struct{}), began: time.Now()}
	go func() {
		p.err = cmd.Wait()
		f.Close()
		close(p.done)
	}()
	r.t.Cleanup(func() {
		select {
		case <-p.done:
		default:
			cmd.Process.Kill()
			<-p.done
		}
	})
	return p
}

// kill sends SIGKILL and waits for the process to be gone.
func (p *proc) kill() {
	p.r.t.Helper()
	p.cmd.Process.Signal(syscall.SIGKILL)
	<-p.done
}

// stop asks for a clean stop (SIGTERM) and fails the test unless it exits 0.
func (p *proc) stop() {
	p.r.t.Helper()
	p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(60 * time.Second):
		p.cmd.Process.Kill()
		<-p.done
		p.r.t.Fatalf("the service did not stop within 60s of SIGTERM\n%s", tail(p.log))
	}
	if p.err != nil {
		p.r.t.Fatalf("the service exited with %v\n%s", p.err, tail(p.log))
	}
}

// checkAlive fails the test if the process died on its own.
func (p *proc) checkAlive() {
	p.r.t.Helper()
	select {
	case <-p.done:
		p.r.t.Fatalf("the service exited by itself (%v)\n%s", p.err, tail(p.log))
	default:
	}
}

// metrics scrapes /metrics; nil if the listener is not up (yet).
func (p *proc) metrics() map[string]float64 {
	cl := http.Client{Timeout: 2 * time.Second}
	resp, err := cl.Get("http://" + p.http + "/metrics")
	if err != nil {
		return nil
	}
	defer resp.Body.Close()
	out := map[string]float64{}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "#") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		if i < 0 {
			continue
		}
		if v, err := strconv.ParseFloat(line[i+1:], 64); err == nil {
			out[line[:i]] = v
		}
	}
	return out
}

// waitMetric polls until cond holds on the metrics, failing after timeout.
func (p *proc) waitMetric(what string, timeout time.Duration, cond func(map[string]float64) bool) map[string]float64 {
	p.r.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		p.checkAlive()
		if m := p.metrics(); m != nil && cond(m) {
			return m
		}
		if time.Now().After(deadline) {
			p.r.t.Fatalf("waited %v for %s; metrics: %v\n%s", timeout, what, interesting(p.metrics()), tail(p.log))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func interesting(m map[string]float64) map[string]float64 {
	out := map[string]float64{}
	for k, v := range m {
		if strings.HasPrefix(k, "omnistitch_") && !strings.HasPrefix(k, "omnistitch_kafka") && !strings.Contains(k, "_bucket") {
			out[k] = v
		}
	}
	return out
}

func tail(path string) string {
	b, _ := os.ReadFile(path)
	if len(b) > 4000 {
		b = b[len(b)-4000:]
	}
	return "--- " + filepath.Base(path) + " (tail) ---\n" + string(b)
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// producer produces lines to partition 0 of the events topic at about
// rate records per second, in order; wait returns once all are acknowledged.
type producer struct {
	done chan error
}

func produce(t *testing.T, brokers string, lines [][]byte, rate int) *producer {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(strings.Split(brokers, ",")...), kgo.RecordPartitioner(kgo.ManualPartitioner()),
		kgo.ProducerLinger(2*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	p := &producer{done: make(chan error, 1)}
	go func() {
		defer cl.Close()
		const chunk = 200
		began := time.Now()
		for i := 0; i < len(lines); i += chunk {
			recs := make([]*kgo.Record, 0, chunk)
			for _, l := range lines[i:min(i+chunk, len(lines))] {
				recs = append(recs, &kgo.Record{Topic: eventsTopic, Partition: 0, Value: l})
			}
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			err := cl.ProduceSync(ctx, recs...).FirstErr()
			cancel()
			if err != nil {
				p.done <- fmt.Errorf("producing record %d: %w", i, err)
				return
			}
			if rate > 0 {
				if ahead := time.Duration(i+chunk)*time.Second/time.Duration(rate) - time.Since(began); ahead > 0 {
					time.Sleep(ahead)
				}
			}
		}
		p.done <- nil
	}()
	return p
}

func (p *producer) wait(t *testing.T) {
	t.Helper()
	if err := <-p.done; err != nil {
		t.Fatal(err)
	}
}

// expected is what `omnistitch stitch` reports for the events, as lines
// comparable with the ClickHouse views and the topics.
type expected struct {
	views    map[string][]string // view name → sorted rows
	triggers map[string]string   // trigger_id → message, canonical JSON
	dead     map[int64]bool      // record offsets (line-1) dead-lettered
	// dump is the state lines as the offline command wrote them, all but
	// dead letters and triggers: the service keeps no whole-trigger log
	// (its triggers are compared on the topic and in ClickHouse).
	dump string
}

// offlineRun runs `omnistitch stitch` (the binary) over the lines.
func offlineRun(t *testing.T, bin, cfgPath string, lines [][]byte) *expected {
	t.Helper()
	in := filepath.Join(t.TempDir(), "events.jsonl")
	if err := os.WriteFile(in, append(bytes.Join(lines, []byte("\n")), '\n'), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "stitch", "--config", cfgPath, "-q", in)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("omnistitch stitch: %v\n%s", err, stderr.String())
	}
	e := parseOffline(t, out)
	t.Logf("offline: %d records: %d journey rows, %d profiles, %d identities, %d merges, %d conflicts, %d triggers, %d dead letters",
		len(lines), len(e.views["journeys"]), len(e.views["profiles"]), len(e.views["identities"]), len(e.views["merges"]),
		len(e.views["identity_conflicts"]), len(e.triggers), len(e.dead))
	if len(e.triggers) < 10 || len(e.views["merges"]) == 0 || len(e.dead) == 0 {
		t.Fatal("the traffic does not exercise triggers, merges and dead letters")
	}
	return e
}

type offLine struct {
	Kind          string              `json:"kind"`
	CustomerID    string              `json:"customer_id"`
	Seq           int                 `json:"seq"`
	EventID       string              `json:"event_id"`
	Channel       string              `json:"channel"`
	Type          string              `json:"type"`
	Stage         string              `json:"stage"`
	TS            string              `json:"ts"`
	PrevChannel   string              `json:"prev_channel"`
	SecsSincePrev float64             `json:"secs_since_prev"`
	IDs           map[string][]string `json:"ids"`
	FirstSeen     string              `json:"first_seen"`
	LastSeen      string              `json:"last_seen"`
	Events        int64               `json:"events"`
	Channels      []string            `json:"channels"`
	Purchases     int64               `json:"purchases"`
	Revenue       float64             `json:"revenue"`
	AbsorbedID    string              `json:"absorbed_id"`
	SurvivorID    string              `json:"survivor_id"`
	Via           string              `json:"via"`
	MergedAt      string              `json:"merged_at"`
	IDType        string              `json:"id_type"`
	IDValue       string              `json:"id_value"`
	Reason        string              `json:"reason"`
	At            string              `json:"at"`
	TriggerID     string              `json:"trigger_id"`
	Rule          string              `json:"rule"`
	FiredAt       string              `json:"fired_at"`
	EventIDs      []string            `json:"event_ids"`
	Line          int                 `json:"line"`
}

func parseOffline(t *testing.T, out []byte) *expected {
	t.Helper()
	e := &expected{views: map[string][]string{}, triggers: map[string]string{}, dead: map[int64]bool{}}
	var dump strings.Builder
	for _, raw := range bytes.Split(bytes.TrimSpace(out), []byte("\n")) {
		var l offLine
		if err := json.Unmarshal(raw, &l); err != nil {
			t.Fatalf("offline line %s: %v", raw, err)
		}
		if l.Kind != "deadletter" && l.Kind != "trigger" {
			dump.Write(raw)
			dump.WriteByte('\n')
		}
		switch l.Kind {
		case "journey":
			e.views["journeys"] = append(e.views["journeys"], journeyRow(l.CustomerID, l.Seq, l.EventID, l.Channel, l.Type, l.Stage, l.TS, l.PrevChannel, l.SecsSincePrev))
		case "profile":
			var ids []string
			for typ, vs := range l.IDs {
				for _, v := range vs {
					ids = append(ids, typ+":"+v)
					e.views["identities"] = append(e.views["identities"], typ+":"+v+" "+l.CustomerID)
				}
			}
			e.views["profiles"] = append(e.views["profiles"], profileRow(l.CustomerID, ids, secs(t, l.FirstSeen), secs(t, l.LastSeen), l.Events, l.Channels, l.Stage, l.Purchases, l.Revenue))
		case "merge":
			e.views["merges"] = append(e.views["merges"], fmt.Sprintf("%s %s %s %d", l.AbsorbedID, l.SurvivorID, l.Via, secs(t, l.MergedAt)))
		case "conflict":
			e.views["identity_conflicts"] = append(e.views["identity_conflicts"], fmt.Sprintf("%s %s %s %s %d", l.CustomerID, l.IDType, l.IDValue, l.Reason, secs(t, l.At)))
		case "trigger":
			e.views["triggers"] = append(e.views["triggers"], fmt.Sprintf("%s %s %s %d %v", l.TriggerID, l.Rule, l.CustomerID, secs(t, l.FiredAt), l.EventIDs))
			var m map[string]any
			json.Unmarshal(raw, &m)
			delete(m, "kind")
			canon, _ := json.Marshal(m)
			e.triggers[l.TriggerID] = string(canon)
		case "deadletter":
			e.dead[int64(l.Line-1)] = true
		default:
			t.Fatalf("offline line of unknown kind: %s", raw)
		}
	}
	for _, v := range e.views {
		slices.Sort(v)
	}
	e.dump = dump.String()
	return e
}

func journeyRow(cust string, seq int, eid, ch, typ, stage, ts, prev string, secs float64) string {
	return fmt.Sprintf("%s %4d %s %s %s %s %s %s %.3f", cust, seq, eid, ch, typ, stage, ts, prev, secs)
}

func profileRow(cust string, ids []string, first, last, events int64, channels []string, stage string, purchases int64, revenue float64) string {
	slices.Sort(ids)
	return fmt.Sprintf("%s %v %d %d %d %v %s %d %.2f", cust, ids, first, last, events, channels, stage, purchases, revenue)
}

// secs is an RFC 3339 time in whole seconds, as a ClickHouse DateTime holds it.
func secs(t *testing.T, s string) int64 {
	t.Helper()
	ts, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		t.Fatalf("time %q: %v", s, err)
	}
	return ts.Unix()
}

// views reads every view of the database as rows comparable with expected.
func views(t *testing.T, addr, db string) map[string][]string {
	t.Helper()
	cfg := config.Default().ClickHouse
	cfg.Addr, cfg.Database = addr, db
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	conn, err := chsink.Open(ctx, &cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	out := map[string][]string{}
	read := func(view, cols string, scan func(rows interface{ Scan(...any) error }) (string, error)) {
		rows, err := conn.Query(ctx, "SELECT "+cols+" FROM "+db+"."+view)
		if err != nil {
			t.Fatalf("%s: %v", view, err)
		}
		defer rows.Close()
		for rows.Next() {
			s, err := scan(rows)
			if err != nil {
				t.Fatalf("%s: %v", view, err)
			}
			out[view] = append(out[view], s)
		}
		if err := rows.Err(); err != nil {
			t.Fatalf("%s: %v", view, err)
		}
		slices.Sort(out[view])
	}
	read("journeys", "customer_id, seq, event_id, channel, type, stage, ts_ms, prev_channel, secs_since_prev", func(r interface{ Scan(...any) error }) (string, error) {
		var cust, eid, ch, typ, stage, prev string
		var seq uint32
		var ts int64
		var s float64
		err := r.Scan(&cust, &seq, &eid, &ch, &typ, &stage, &ts, &prev, &s)
		return journeyRow(cust, int(seq), eid, ch, typ, stage, event.FormatTS(ts), prev, s), err
	})
	read("profiles", "customer_id, ids, first_seen, last_seen, events, channels, stage, purchases, revenue", func(r interface{ Scan(...any) error }) (string, error) {
		var cust, stage string
		var ids, channels []string
		var first, last time.Time
		var events, purchases uint64
		var revenue float64
		err := r.Scan(&cust, &ids, &first, &last, &events, &channels, &stage, &purchases, &revenue)
		return profileRow(cust, ids, first.Unix(), last.Unix(), int64(events), channels, stage, int64(purchases), revenue), err
	})
	read("identities", "id_type, id_value, customer_id", func(r interface{ Scan(...any) error }) (string, error) {
		var typ, v, cust string
		err := r.Scan(&typ, &v, &cust)
		return typ + ":" + v + " " + cust, err
	})
	read("merges", "absorbed_id, survivor_id, via, merged_at", func(r interface{ Scan(...any) error }) (string, error) {
		var a, s, via string
		var at time.Time
		err := r.Scan(&a, &s, &via, &at)
		return fmt.Sprintf("%s %s %s %d", a, s, via, at.Unix()), err
	})
	read("identity_conflicts", "customer_id, id_type, id_value, reason, at", func(r interface{ Scan(...any) error }) (string, error) {
		var cust, typ, v, reason string
		var at time.Time
		err := r.Scan(&cust, &typ, &v, &reason, &at)
		return fmt.Sprintf("%s %s %s %s %d", cust, typ, v, reason, at.Unix()), err
	})
	read("triggers", "trigger_id, rule, customer_id, fired_at, event_ids", func(r interface{ Scan(...any) error }) (string, error) {
		var id, rule, cust string
		var at time.Time
		var eids []string
		err := r.Scan(&id, &rule, &cust, &at, &eids)
		return fmt.Sprintf("%s %s %s %d %v", id, rule, cust, at.Unix(), eids), err
	})
	return out
}

var viewNames = []string{"journeys", "profiles", "identities", "merges", "identity_conflicts", "triggers"}

// compareViews fails the test with a readable diff of every view that
// differs from the offline run.
func compareViews(t *testing.T, want *expected, got map[string][]string) {
	t.Helper()
	var report strings.Builder
	for _, v := range viewNames {
		if d := diff(want.views[v], got[v]); d != "" {
			fmt.Fprintf(&report, "view %s: offline %d rows, ClickHouse %d rows\n%s", v, len(want.views[v]), len(got[v]), d)
		}
	}
	if report.Len() > 0 {
		t.Fatalf("ClickHouse differs from `omnistitch stitch` (- offline only, + ClickHouse only):\n%s", report.String())
	}
	t.Logf("ClickHouse equals the offline run: %d journey rows, %d profiles, %d identities, %d merges, %d conflicts, %d triggers",
		len(got["journeys"]), len(got["profiles"]), len(got["identities"]), len(got["merges"]), len(got["identity_conflicts"]), len(got["triggers"]))
}

// diff lists the rows only in want (-) and only in got (+), at most 10 of
// each; "" if the sorted lists are equal.
func diff(want, got []string) string {
	var only, extra []string
	i, j := 0, 0
	for i < len(want) || j < len(got) {
		switch {
		case j == len(got) || (i < len(want) && want[i] < got[j]):
			only = append(only, want[i])
			i++
		case i == len(want) || got[j] < want[i]:
			extra = append(extra, got[j])
			j++
		default:
			i++
			j++
		}
	}
	if len(only)+len(extra) == 0 {
		return ""
	}
	var b strings.Builder
	for k, s := range only {
		if k == 10 {
			fmt.Fprintf(&b, "  … %d more offline only\n", len(only)-10)
			break
		}
		fmt.Fprintf(&b, "  -%s\n", s)
	}
	for k, s := range extra {
		if k == 10 {
			fmt.Fprintf(&b, "  … %d more in ClickHouse only\n", len(extra)-10)
			break
		}
		fmt.Fprintf(&b, "  +%s\n", s)
	}
	return b.String()
}

// topicRecords reads a topic from its start to its end offsets.
func topicRecords(t *testing.T, brokers, topic string) []*kgo.Record {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	seeds := strings.Split(brokers, ",")
	adm, err := kadm.NewOptClient(kgo.SeedBrokers(seeds...))
	if err != nil {
		t.Fatal(err)
	}
	defer adm.Close()
	ends, err := adm.ListEndOffsets(ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	want := map[int32]int64{}
	ends.Each(func(o kadm.ListedOffset) {
		if o.Offset > 0 {
			want[o.Partition] = o.Offset
		}
	})
	if len(want) == 0 {
		return nil
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(seeds...), kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	var out []*kgo.Record
	for len(want) > 0 {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("reading %s: %v (still waiting for %v)", topic, ctx.Err(), want)
		}
		fs.EachError(func(_ string, _ int32, err error) { t.Logf("reading %s: %v", topic, err) })
		for _, r := range fs.Records() {
			out = append(out, r)
			if end, ok := want[r.Partition]; ok && r.Offset+1 >= end {
				delete(want, r.Partition)
			}
		}
	}
	return out
}

// compareTopics checks the trigger topic (each offline trigger at least
// once, repeats only with identical content, nothing else) and the dead
// letters (each bad record at least once, nothing else).
func compareTopics(t *testing.T, brokers string, want *expected) {
	t.Helper()
	got := map[string]string{}
	repeats := 0
	for _, r := range topicRecords(t, brokers, triggersTopic) {
		var m map[string]any
		if err := json.Unmarshal(r.Value, &m); err != nil {
			t.Fatalf("trigger value is not JSON: %s", r.Value)
		}
		id, _ := m["trigger_id"].(string)
		canon, _ := json.Marshal(m)
		if prev, dup := got[id]; dup {
			repeats++
			if prev != string(canon) {
				t.Fatalf("trigger %s repeated with other content:\n%s\n%s", id, prev, canon)
			}
		}
		got[id] = string(canon)
		if string(r.Key) != m["customer_id"] {
			t.Fatalf("trigger %s keyed %q, not by its customer", id, r.Key)
		}
	}
	var missing, extra, differ []string
	for id, w := range want.triggers {
		switch g, ok := got[id]; {
		case !ok:
			missing = append(missing, w)
		case g != w:
			differ = append(differ, "  topic   "+g+"\n  offline "+w)
		}
	}
	for id, g := range got {
		if _, ok := want.triggers[id]; !ok {
			extra = append(extra, g)
		}
	}
	if len(missing)+len(extra)+len(differ) > 0 {
		slices.Sort(missing)
		slices.Sort(extra)
		t.Fatalf("trigger topic differs from `omnistitch stitch`: %d offline, %d distinct on the topic\nmissing (%d): %s\nextra (%d): %s\ndiffering (%d):\n%s",
			len(want.triggers), len(got), len(missing), first(missing), len(extra), first(extra), len(differ), first(differ))
	}
	t.Logf("trigger topic equals the offline run: %d triggers (%d repeats, each with its trigger_id and content)", len(got), repeats)

	dead := map[int64]bool{}
	for _, r := range topicRecords(t, brokers, deadTopic) {
		for _, h := range r.Headers {
			if h.Key == "source_offset" {
				off, err := strconv.ParseInt(string(h.Value), 10, 64)
				if err != nil {
					t.Fatalf("dead letter with source_offset %q", h.Value)
				}
				dead[off] = true
			}
		}
	}
	var lost, wrong []int64
	for off := range want.dead {
		if !dead[off] {
			lost = append(lost, off)
		}
	}
	for off := range dead {
		if !want.dead[off] {
			wrong = append(wrong, off)
		}
	}
	if len(lost)+len(wrong) > 0 {
		t.Fatalf("dead letters differ: offsets missing %v, not dead offline %v", lost, wrong)
	}
}

func first(s []string) string {
	if len(s) > 5 {
		return strings.Join(s[:5], "\n") + fmt.Sprintf("\n… %d more", len(s)-5)
	}
	return strings.Join(s, "\n")
}

// finish runs the service until it has consumed all n records and both
// outboxes are empty, stops it cleanly, and checks in the state itself
// that every offset was applied and nothing waits to be sent.
func (r *rig) finish(n int64) {
	r.t.Helper()
	p := r.start()
	p.waitDone(n)
	p.stop()
	r.checkState(n)
}

// waitDone waits until the service has applied all n records and then
// both outboxes are empty. Applied means the next offset stored with the
// state (the service's metric) or the group's committed offset (the
// service marks records only after their batch is in the state) reached n:
// the group's offset alone stalls for minutes after a network cut while
// the client rejoins the group, although everything was applied.
func (p *proc) waitDone(n int64) {
	r := p.r
	r.t.Helper()
	deadline := time.Now().Add(pick(3*time.Minute, 20*time.Minute))
	applied := func() bool {
		if m := p.metrics(); m[`omnistitch_next_offset{partition="0",topic="`+eventsTopic+`"}`] >= float64(n) {
			return true
		}
		return committed(r.t, r.brokers) >= n
	}
	for !applied() {
		p.checkAlive()
		if time.Now().After(deadline) {
			r.t.Fatalf("the service did not consume all %d records: metrics %v\n%s", n, interesting(p.metrics()), tail(p.log))
		}
		time.Sleep(200 * time.Millisecond)
	}
	p.waitMetric("empty outboxes", time.Until(deadline), func(m map[string]float64) bool {
		return m["omnistitch_outbox_pending"] == 0 && m["omnistitch_clickhouse_outbox_bytes"] == 0
	})
}

// committed is the consumer group's committed offset of the events topic.
func committed(t *testing.T, brokers string) int64 {
	t.Helper()
	adm, err := kadm.NewOptClient(kgo.SeedBrokers(strings.Split(brokers, ",")...))
	if err != nil {
		t.Fatal(err)
	}
	defer adm.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	offs, err := adm.FetchOffsets(ctx, group)
	if err != nil {
		return -1 // the broker may be the one a test restarts
	}
	o, ok := offs.Lookup(eventsTopic, 0)
	if !ok || o.Err != nil {
		return -1
	}
	return o.At
}

// checkState opens the stopped service's state: all n records applied,
// both outboxes empty.
func (r *rig) checkState(n int64) {
	r.t.Helper()
	st, err := state.Open(r.stateDir, state.Options{})
	if err != nil {
		r.t.Fatalf("opening the state after the run: %v", err)
	}
	defer st.Close()
	next, ok, err := st.Offset(eventsTopic, 0)
	if err != nil || !ok || next != n {
		r.t.Fatalf("state offset of %s/0: %d (stored %v, err %v), want %d", eventsTopic, next, ok, err, n)
	}
	if p := st.Pending(); p != 0 {
		r.t.Fatalf("%d messages left in the Kafka outbox after a clean stop", p)
	}
	if b := st.PendingRowBytes(); b != 0 {
		r.t.Fatalf("%d bytes of rows left in the ClickHouse outbox after a clean stop", b)
	}
}

// dumpState is the stopped service's state as `omnistitch stitch` writes
// its final state.
func dumpState(t *testing.T, cfgPath, dir string) string {
	t.Helper()
	cfg, err := config.Load(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	st, err := state.Open(dir, state.Options{})
	if err != nil {
		t.Fatalf("opening the state: %v", err)
	}
	defer st.Close()
	eng, err := stitch.New(cfg, st)
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if err := offline.Dump(eng, st, &out, &offline.Stats{}); err != nil {
		t.Fatal(err)
	}
	return out.String()
}

// copyDir copies a directory tree of regular files.
func copyDir(t *testing.T, from, to string) {
	t.Helper()
	err := filepath.Walk(from, func(path string, info os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(from, path)
		dst := filepath.Join(to, rel)
		if info.IsDir() {
			return os.MkdirAll(dst, 0o755)
		}
		if !info.Mode().IsRegular() {
			return nil
		}
		src, err := os.Open(path)
		if err != nil {
			return err
		}
		defer src.Close()
		f, err := os.Create(dst)
		if err != nil {
			return err
		}
		if _, err := io.Copy(f, src); err != nil {
			f.Close()
			return err
		}
		return f.Close()
	})
	if err != nil {
		t.Fatal(err)
	}
}

func sumPrefix(m map[string]float64, prefix string) float64 {
	var n float64
	for k, v := range m {
		if strings.HasPrefix(k, prefix) {
			n += v
		}
	}
	return n
}

func lines(s string) []string {
	l := strings.Split(strings.TrimSpace(s), "\n")
	slices.Sort(l)
	return l
}

// checkNoPII fails the test if any run's log holds an identifier value of
// the events (as sent, or normalised the way e-mails are): the service
// logs counts, topics and reasons, never a customer.
func (r *rig) checkNoPII(lines [][]byte) {
	r.t.Helper()
	values := map[string]bool{}
	for _, l := range lines {
		var ev struct {
			IDs map[string]any `json:"ids"`
		}
		if json.Unmarshal(l, &ev) != nil {
			continue
		}
		for _, v := range ev.IDs {
			// Digits alone (and the junk placeholders) also occur in
			// any log as numbers and words; identifiers do not.
			if s, ok := v.(string); ok && len(strings.TrimSpace(s)) >= 6 && strings.Trim(s, "0123456789- ") != "" &&
				!slices.Contains([]string{"undefined", "anonymous", "[object object]"}, strings.ToLower(strings.TrimSpace(s))) {
				values[strings.TrimSpace(s)] = true
				values[strings.ToLower(strings.TrimSpace(s))] = true
			}
		}
	}
	if len(values) == 0 {
		r.t.Fatal("no identifier values in the events")
	}
	for _, path := range r.logs {
		b, err := os.ReadFile(path)
		if err != nil {
			r.t.Fatal(err)
		}
		log := string(b)
		for v := range values {
			if strings.Contains(log, v) {
				r.t.Fatalf("%s holds the identifier value %q", filepath.Base(path), v)
			}
		}
	}
	r.t.Logf("no identifier value (of %d) in the %d service logs", len(values), len(r.logs))
}
