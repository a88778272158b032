package chaos

import (
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

	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/omnistitch/omnistitch/internal/chtest"
)

// powerCut freezes the service (SIGSTOP) at the instant it is called,
// copies its state directory to dst and kills it (SIGKILL) without letting
// it run again: the copy is what the disk holds after a power cut at that
// instant. Commits are synced, so the copy holds at least every batch the
// service acknowledged (and possibly more, from the page cache).
func powerCut(t *testing.T, p *proc, src, dst string) {
	t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	copyDir(t, src, dst)
	p.kill()
}

// A power cut at a random instant: a new service on the copied state
// directory opens it, recovers and ends exactly like the offline run, in
// ClickHouse and on the topics.
func TestTornWriteCopy(t *testing.T) {
	addr, db := chtest.Database(t)
	s := newScenario(t, addr, db, pick(20000, 100000), "")
	r := newRig(t, s.cfg, s.addrs, addr, db, filepath.Join(t.TempDir(), "state"))
	prod := produce(t, s.addrs, s.lines, pick(4000, 10000))
	p := r.start()
	p.waitMetric("the first events applied", time.Minute, func(m map[string]float64) bool { return m["omnistitch_events_applied_total"] > 0 })
	time.Sleep(time.Duration(s.rng.IntN(1500)) * time.Millisecond)
	orig := r.stateDir
	r.stateDir = filepath.Join(t.TempDir(), "copy")
	powerCut(t, p, orig, r.stateDir)
	prod.wait(t)
	r.finish(int64(len(s.lines)))
	s.check(t)
}

// A torn write: after the power cut the newest write-ahead log also loses
// a random number of bytes at its end (a write the disk never finished).
// Pebble must open the directory, and the service resume from what the
// state says it applied and converge to the offline run's state. The run
// has no ClickHouse: a cut into a synced commit sends the state back behind
// rows already written, which a real disk does not do, so the check is the
// state itself and the trigger topic.
func TestTornWriteTruncatedWAL(t *testing.T) {
	s := newScenario(t, "", "", pick(20000, 100000), "")
	r := newRig(t, s.cfg, s.addrs, "", "", filepath.Join(t.TempDir(), "state"))
	prod := produce(t, s.addrs, s.lines, pick(4000, 10000))
	p := r.start()
	p.waitMetric("the first events applied", time.Minute, func(m map[string]float64) bool { return m["omnistitch_events_applied_total"] > 0 })
	time.Sleep(time.Duration(s.rng.IntN(1500)) * time.Millisecond)
	orig := r.stateDir
	r.stateDir = filepath.Join(t.TempDir(), "copy")
	powerCut(t, p, orig, r.stateDir)

	wals, _ := filepath.Glob(filepath.Join(r.stateDir, "*.log"))
	slices.Sort(wals) // zero-padded numbers: the last is the newest
	if len(wals) == 0 {
		t.Fatalf("no write-ahead log in the state directory")
	}
	newest := wals[len(wals)-1]
	fi, err := os.Stat(newest)
	if err != nil {
		t.Fatal(err)
	}
	cut := int64(0)
	if fi.Size() > 0 {
		cut = 1 + s.rng.Int64N(min(fi.Size(), 64<<10))
	}
	if err := os.Truncate(newest, fi.Size()-cut); err != nil {
		t.Fatal(err)
	}
	t.Logf("cut %d of %d bytes off %s", cut, fi.Size(), filepath.Base(newest))

	prod.wait(t)
	r.finish(int64(len(s.lines)))
	compareTopics(t, s.addrs, s.want)
	if d := dumpState(t, s.cfg, r.stateDir); d != s.want.dump {
		t.Fatalf("the state differs from the offline run's (- offline, + state):\n%s", diff(lines(s.want.dump), lines(d)))
	}
}

// ClickHouse stopped mid-run (a minute in the long form): rows wait in the
// outbox, consumption goes on, and once the server is back everything is
// written, nothing lost or doubled.
func TestClickHouseOutage(t *testing.T) {
	srv := chtest.StartOwnServer(t)
	db := "omnistitch_chaos"
	s := newScenario(t, srv.Addr(), db, pick(20000, 200000), "")
	r := newRig(t, s.cfg, s.addrs, srv.Addr(), db, filepath.Join(t.TempDir(), "state"))
	prod := produce(t, s.addrs, s.lines, pick(4000, 10000))
	p := r.start()
	p.waitMetric("rows written", time.Minute, func(m map[string]float64) bool {
		return sumPrefix(m, "omnistitch_clickhouse_rows_written_total") > 0
	})
	outage := pick(5*time.Second, time.Minute)
	srv.Stop()
	stopped := time.Now()
	before := p.metrics()["omnistitch_events_applied_total"]
	time.Sleep(outage)
	m := p.waitMetric("rows waiting in the outbox", time.Minute, func(m map[string]float64) bool {
		return m["omnistitch_clickhouse_outbox_bytes"] > 0
	})
	t.Logf("ClickHouse down for %v: %.0f events applied meanwhile, %.0f bytes of rows waiting, %.0f failed write rounds",
		time.Since(stopped).Round(time.Second), m["omnistitch_events_applied_total"]-before, m["omnistitch_clickhouse_outbox_bytes"], m["omnistitch_clickhouse_write_errors_total"])
	srv.Start()
	prod.wait(t)
	p.waitDone(int64(len(s.lines)))
	p.stop()
	r.checkState(int64(len(s.lines)))
	s.check(t)
}

// The broker restarted mid-run: kfake keeping its log and groups on disk
// is closed, and after a pause started again on the same port and data.
// The service and the producer reconnect; nothing is lost or doubled.
func TestBrokerRestart(t *testing.T) {
	addr, db := chtest.Database(t)
	s := newScenarioNoBroker(t, addr, db, pick(20000, 200000), "")
	data := filepath.Join(t.TempDir(), "kafka")
	port := freePort(t)
	start := func() *kfake.Cluster {
		t.Helper()
		var c *kfake.Cluster
		var err error
		// The port was just freed by the old broker; retry briefly.
		for range 50 {
			if c, err = kfake.NewCluster(kfake.NumBrokers(1), kfake.Ports(port), kfake.SeedTopics(1, eventsTopic, deadTopic, triggersTopic),
				kfake.AllowAutoTopicCreation(), kfake.DataDir(data), kfake.SyncWrites()); err == nil {
				return c
			}
			time.Sleep(100 * time.Millisecond)
		}
		t.Fatalf("starting the broker: %v", err)
		return nil
	}
	c := start()
	t.Cleanup(func() { c.Close() })
	s.addrs = "127.0.0.1:" + strconv.Itoa(port)
	r := newRig(t, s.cfg, s.addrs, addr, db, filepath.Join(t.TempDir(), "state"))
	prod := produce(t, s.addrs, s.lines, pick(4000, 10000))
	p := r.start()
	p.waitMetric("the first events applied", time.Minute, func(m map[string]float64) bool { return m["omnistitch_events_applied_total"] > 0 })
	time.Sleep(time.Duration(s.rng.IntN(1500)) * time.Millisecond)
	c.Close()
	down := pick(3*time.Second, 20*time.Second)
	t.Logf("broker down for %v", down)
	time.Sleep(down)
	p.checkAlive()
	c = start()
	prod.wait(t)
	p.waitDone(int64(len(s.lines)))
	p.stop()
	r.checkState(int64(len(s.lines)))
	s.check(t)
}

// The disk nearly full: a small tmpfs holds the state; a file fills it
// below state.min_free_mb mid-run. Consumption pauses (metric, one warning
// in the log) and nothing is applied until the file is removed; then it
// resumes and ends exactly like the offline run.
func TestDiskNearlyFull(t *testing.T) {
	addr, db := chtest.Database(t)
	mnt := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=1g", "tmpfs", mnt).CombinedOutput(); err != nil {
		msg := "mounting a tmpfs (needs root): " + err.Error() + " " + strings.TrimSpace(string(out))
		if os.Getenv("CI") != "" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	t.Cleanup(func() {
		if out, err := exec.Command("umount", mnt).CombinedOutput(); err != nil {
			t.Errorf("umount %s: %v %s", mnt, err, out)
		}
	})
	// Above what one memtable flush (64 MiB) writes, as the default 256 is:
	// the guard must stop work while Pebble still has room to finish it.
	// The tmpfs has room for the state and Pebble's write-ahead logs
	// (preallocated at 110% of the memtable, up to three kept for reuse:
	// ~350 MB) with more than the minimum to spare.
	const minFreeMB = 192
	s := newScenario(t, addr, db, pick(20000, 100000), "state:\n  min_free_mb: "+strconv.Itoa(minFreeMB)+"\n")
	r := newRig(t, s.cfg, s.addrs, addr, db, filepath.Join(mnt, "state"))
	prod := produce(t, s.addrs, s.lines, pick(4000, 10000))
	p := r.start()
	p.waitMetric("the first events applied", time.Minute, func(m map[string]float64) bool { return m["omnistitch_events_applied_total"] > 0 })

	filler := filepath.Join(mnt, "filler")
	release := holdFull(t, mnt, filler, (minFreeMB/2)<<20)
	paused := `omnistitch_consumption_paused_reason{reason="disk_space"}`
	m := p.waitMetric("the pause for disk space", 30*time.Second, func(m map[string]float64) bool {
		return m[paused] == 1 && m["omnistitch_consumption_paused"] == 1
	})
	time.Sleep(time.Second)
	m2 := p.metrics()
	if m2[paused] != 1 || m2["omnistitch_events_applied_total"] != m["omnistitch_events_applied_total"] {
		t.Fatalf("while the disk was full: paused %v, applied %v then %v", m2[paused], m["omnistitch_events_applied_total"], m2["omnistitch_events_applied_total"])
	}
	t.Logf("paused at %.0f events applied with %.1f MiB free", m2["omnistitch_events_applied_total"], m2["omnistitch_state_disk_free_bytes"]/(1<<20))
	// The pause must come while Pebble still has room: a flush or
	// compaction failing for want of space would be counted here.
	if v, ok := m2["omnistitch_state_background_errors_total"]; !ok || v != 0 || m2["omnistitch_state_disk_usage_bytes"] <= 0 {
		t.Fatalf("while paused: state background errors %v (exported: %v), state on disk %v bytes", v, ok, m2["omnistitch_state_disk_usage_bytes"])
	}
	release()
	p.waitMetric("consumption to resume", 30*time.Second, func(m map[string]float64) bool {
		return m[paused] == 0 && m["omnistitch_consumption_paused"] == 0 && m["omnistitch_events_applied_total"] > m2["omnistitch_events_applied_total"]
	})
	prod.wait(t)
	p.waitDone(int64(len(s.lines)))
	p.stop()
	log, _ := os.ReadFile(p.log)
	if n := strings.Count(string(log), "below state.min_free_mb"); n != 1 {
		t.Fatalf("%d warnings about the disk in the log, want 1\n%s", n, tail(p.log))
	}
	if strings.Contains(string(log), `"level":"ERROR"`) {
		t.Fatalf("errors in the log: the guard left the disk too little\n%s", tail(p.log))
	}
	r.checkState(int64(len(s.lines)))
	s.check(t)
}

// holdFull fills the filesystem at mnt with the file filler until only
// leave bytes are free, and keeps it there (Pebble frees space too, as it
// deletes obsolete logs and tables) until release, which removes the file.
func holdFull(t *testing.T, mnt, filler string, leave int64) (release func()) {
	t.Helper()
	f, err := os.Create(filler)
	if err != nil {
		t.Fatal(err)
	}
	top := func() {
		var st syscall.Statfs_t
		if err := syscall.Statfs(mnt, &st); err != nil {
			return
		}
		buf := make([]byte, 1<<20)
		for n := int64(st.Bavail)*int64(st.Bsize) - leave; n > 0; {
			k, err := f.Write(buf[:min(int64(len(buf)), n)])
			n -= int64(k)
			if err != nil {
				return
			}
		}
	}
	top()
	stop, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		for {
			select {
			case <-stop:
				return
			case <-time.After(50 * time.Millisecond):
				top()
			}
		}
	}()
	var once sync.Once
	release = func() {
		once.Do(func() {
			close(stop)
			<-done
			f.Close()
			if err := os.Remove(filler); err != nil {
				t.Error(err)
			}
		})
	}
	t.Cleanup(release) // before the unmount, if the test fails first
	return release
}

func freePort(t *testing.T) int {
	t.Helper()
	a := freeAddr(t)
	port, _ := strconv.Atoi(a[strings.LastIndexByte(a, ':')+1:])
	return port
}
