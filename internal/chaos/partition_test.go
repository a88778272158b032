package chaos

import (
	"net"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/omnistitch/omnistitch/internal/chtest"
)

// cuttable is the broker's listener with a switch: while cut, every open
// connection is closed and new ones are closed as soon as they are
// accepted, so the broker is unreachable although it keeps its state (a
// network partition, or a load balancer in front of it failing).
type cuttable struct {
	net.Listener
	mu struct {
		sync.Mutex
		cut   bool
		conns map[net.Conn]struct{}
	}
}

func (l *cuttable) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		l.mu.Lock()
		if l.mu.cut {
			l.mu.Unlock()
			c.Close()
			continue
		}
		l.mu.conns[c] = struct{}{}
		l.mu.Unlock()
		return &tracked{Conn: c, l: l}, nil
	}
}

// set cuts the broker off (closing every connection) or lets it be reached.
func (l *cuttable) set(cut bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.mu.cut = cut
	if cut {
		for c := range l.mu.conns {
			c.Close()
		}
		clear(l.mu.conns)
	}
}

type tracked struct {
	net.Conn
	l *cuttable
}

func (c *tracked) Close() error {
	c.l.mu.Lock()
	delete(c.l.mu.conns, c.Conn)
	c.l.mu.Unlock()
	return c.Conn.Close()
}

// The broker unreachable mid-run while it keeps running: every connection
// dropped (requests in flight, produce requests whose answer never comes)
// and none accepted for a while. The service and the producer reconnect;
// nothing is lost or doubled.
func TestBrokerUnreachable(t *testing.T) {
	addr, db := chtest.Database(t)
	s := newScenarioNoBroker(t, addr, db, pick(20000, 200000), "")
	var ln *cuttable
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(1, eventsTopic, deadTopic, triggersTopic), kfake.AllowAutoTopicCreation(),
		kfake.ListenFn(func(network, address string) (net.Listener, error) {
			l, err := net.Listen(network, address)
			if err != nil {
				return nil, err
			}
			ln = &cuttable{Listener: l}
			ln.mu.conns = map[net.Conn]struct{}{}
			return ln, nil
		}))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	s.addrs = c.ListenAddrs()[0]
	r := newRig(t, s.cfg, s.addrs, addr, db, filepath.Join(t.TempDir(), "state"))
	prod := produce(t, s.addrs, s.lines, pick(4000, 10000))
	p := r.start()
	p.waitMetric("the first events applied", time.Minute, func(m map[string]float64) bool { return m["omnistitch_events_applied_total"] > 0 })
	time.Sleep(time.Duration(s.rng.IntN(1500)) * time.Millisecond)
	down := pick(5*time.Second, 30*time.Second)
	ln.set(true)
	before := p.metrics()
	time.Sleep(down)
	after := p.metrics()
	ln.set(false)
	// The cut must have bitten: the service's client saw its connections
	// fail (kprom's counters of the franz-go client).
	broken := func(m map[string]float64) float64 {
		return sumPrefix(m, "omnistitch_kafka_disconnects_total") + sumPrefix(m, "omnistitch_kafka_read_errors_total") +
			sumPrefix(m, "omnistitch_kafka_connect_errors_total")
	}
	if broken(after) <= broken(before) {
		t.Fatalf("the service's Kafka client saw no broken connection during the cut: before %v, after %v", interesting(before), interesting(after))
	}
	t.Logf("broker unreachable for %v: %.0f broken connections, %.0f events applied meanwhile (what was fetched before)",
		down, broken(after)-broken(before), after["omnistitch_events_applied_total"]-before["omnistitch_events_applied_total"])
	prod.wait(t)
	p.waitDone(int64(len(s.lines)))
	p.stop()
	r.checkState(int64(len(s.lines)))
	s.check(t)
}
