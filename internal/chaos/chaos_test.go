package chaos

import (
	"math/rand/v2"
	"path/filepath"
	"testing"
	"time"

	"github.com/omnistitch/omnistitch/internal/chtest"
	"github.com/omnistitch/omnistitch/pipeline"
)

// scenario is what every test shares: events on a broker in this process
// (it outlives the service's deaths), the offline run of the same events,
// a fresh database and a configuration for both.
type scenario struct {
	rng    *rand.Rand
	lines  [][]byte
	addrs  string
	chAddr string
	db     string
	cfg    string
	want   *expected
}

func newScenario(t *testing.T, chAddr, db string, nEvents int, extraConfig string) *scenario {
	t.Helper()
	s := newScenarioNoBroker(t, chAddr, db, nEvents, extraConfig)
	b, err := pipeline.StartBroker(0, 1, eventsTopic, deadTopic, triggersTopic)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.Close)
	s.addrs = b.Addrs()[0]
	return s
}

// newScenarioNoBroker leaves starting the broker (and setting addrs) to the test.
func newScenarioNoBroker(t *testing.T, chAddr, db string, nEvents int, extraConfig string) *scenario {
	t.Helper()
	rng, seed := seeded(t)
	s := &scenario{rng: rng, chAddr: chAddr, db: db}
	s.lines = events(t, seed, nEvents)
	s.cfg = writeConfig(t, t.TempDir(), db, extraConfig)
	s.want = offlineRun(t, binary(t), s.cfg, s.lines)
	return s
}

// check compares ClickHouse and the topics with the offline run.
func (s *scenario) check(t *testing.T) {
	t.Helper()
	if s.chAddr != "" {
		compareViews(t, s.want, views(t, s.chAddr, s.db))
	}
	compareTopics(t, s.addrs, s.want)
}

// The acceptance check: SIGKILL the service K times at random
// instants while it consumes and writes, restart it on the same state each
// time, and find the ClickHouse views, the trigger topic (by trigger_id)
// and the dead letters exactly as `omnistitch stitch` reports for the same
// events.
func TestKill9(t *testing.T) {
	addr, db := chtest.Database(t)
	nEvents, kills := pick(20000, 300000), pick(2, 6)
	rate := pick(4000, 10000) // records/s: the stream lasts ~5s (~30s long)
	began := time.Now()
	s := newScenario(t, addr, db, nEvents, "")
	t.Logf("built, generated and ran offline in %v", time.Since(began).Round(time.Millisecond))
	r := newRig(t, s.cfg, s.addrs, addr, db, filepath.Join(t.TempDir(), "state"))

	prod := produce(t, s.addrs, s.lines, rate)
	for k := 1; k <= kills; k++ {
		p := r.start()
		// A random instant of the run: odd kills count from the start, so
		// they may land while it opens Pebble, joins the group or migrates;
		// even ones from its first applied batch, so they land while it
		// consumes, commits and writes ClickHouse.
		if k%2 == 0 {
			p.waitMetric("the first events applied", time.Minute, func(m map[string]float64) bool { return m["omnistitch_events_applied_total"] > 0 })
		}
		life := time.Duration(300+s.rng.IntN(pick(1700, 5700))) * time.Millisecond
		time.Sleep(life)
		p.checkAlive()
		m := p.metrics()
		p.kill()
		t.Logf("kill %d: SIGKILL %v after its start or first batch; it had applied %.0f events, written %.0f rows, %.0f bytes of rows waiting",
			k, life.Round(time.Millisecond), m["omnistitch_events_applied_total"], sumPrefix(m, "omnistitch_clickhouse_rows_written_total"), m["omnistitch_clickhouse_outbox_bytes"])
	}
	prod.wait(t)
	began = time.Now()
	r.finish(int64(len(s.lines)))
	t.Logf("the last run finished in %v", time.Since(began).Round(time.Millisecond))
	s.check(t)
	r.checkNoPII(s.lines)
	if d := dumpState(t, s.cfg, r.stateDir); d != s.want.dump {
		t.Fatalf("the state differs from the offline run's:\n%s", diff(lines(s.want.dump), lines(d)))
	}
}
