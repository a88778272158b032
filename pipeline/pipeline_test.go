package pipeline

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/omnistitch/omnistitch/bench/gen"
	"github.com/omnistitch/omnistitch/internal/config"
	"github.com/omnistitch/omnistitch/state"
	"github.com/omnistitch/omnistitch/stitch"
	"github.com/omnistitch/omnistitch/stitch/event"
)

const (
	eventsTopic = "omni.events"
	deadTopic   = "omni.deadletter"
)

// produce writes the generator's lines to the events topic, spread over its
// partitions by key.
func produce(t *testing.T, addrs []string, recs []gen.Record) {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addrs...), kgo.DefaultProduceTopic(eventsTopic))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	batch := make([]*kgo.Record, len(recs))
	for i, r := range recs {
		batch[i] = &kgo.Record{Key: []byte(strconv.Itoa(i)), Value: r.Line}
	}
	if err := cl.ProduceSync(context.Background(), batch...).FirstErr(); err != nil {
		t.Fatal(err)
	}
}

type run struct {
	store *state.Store
	eng   *stitch.Engine
	svc   *Service
}

func start(t *testing.T, addrs []string, dir string) *run {
	t.Helper()
	cfg := config.Default()
	store, err := state.Open(dir, state.Options{CustomerCache: 1000, IdentifierCache: 1000})
	if err != nil {
		t.Fatal(err)
	}
	eng, err := stitch.New(cfg, store)
	if err != nil {
		t.Fatal(err)
	}
	dec := event.NewDecoder(cfg.Input.MaxEventBytes, cfg.Input.Channels)
	svc, err := New(Options{
		Brokers:         addrs,
		Group:           "omnistitch-test",
		Decoders:        map[string]Decoder{eventsTopic: dec.Decode},
		DeadLetterTopic: deadTopic,
		MaxPollRecords:  500,
		SendInterval:    20 * time.Millisecond,
		// As omnistitch run does by default: restarts and rebalances
		// with records held back (see aligner).
		AlignWindow: time.Minute,
	}, eng, store)
	if err != nil {
		t.Fatal(err)
	}
	return &run{store: store, eng: eng, svc: svc}
}

// until runs the service until cond holds (or a deadline), then stops it
// cleanly and closes the store.
func (r *run) until(t *testing.T, cond func(Stats) bool) Stats {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.svc.Run(ctx) }()
	deadline := time.Now().Add(60 * time.Second)
	for !cond(r.svc.Stats()) {
		if time.Now().After(deadline) {
			cancel()
			<-done
			t.Fatalf("timed out; stats %+v", r.svc.Stats())
		}
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	return r.svc.Stats()
}

func deadLetters(t *testing.T, addrs []string, want int) []*kgo.Record {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addrs...), kgo.ConsumeTopics(deadTopic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	var out []*kgo.Record
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for len(out) < want {
		f := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			break
		}
		out = append(out, f.Records()...)
	}
	// Nothing more than expected arrives shortly after.
	short, cancel2 := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel2()
	out = append(out, cl.PollFetches(short).Records()...)
	return out
}

func rewindGroup(t *testing.T, addrs []string) {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addrs...))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	var os kadm.Offsets
	for p := range int32(4) {
		os.Add(kadm.Offset{Topic: eventsTopic, Partition: p, At: 0, LeaderEpoch: -1})
	}
	resp, err := kadm.NewClient(cl).CommitOffsets(context.Background(), "omnistitch-test", os)
	if err == nil {
		err = resp.Error()
	}
	if err != nil {
		t.Fatal(err)
	}
}

func header(r *kgo.Record, k string) string {
	for _, h := range r.Headers {
		if h.Key == k {
			return string(h.Value)
		}
	}
	return ""
}

// The service stitches generated traffic consumed over TCP from 4
// partitions exactly as the truth groups it, sends every bad record to the
// dead-letter topic with its headers, and — stopped halfway and restarted on
// the same state directory — neither re-applies nor skips anything.
func TestServiceEndToEndWithRestart(t *testing.T) {
	b, err := StartBroker(0, 4, eventsTopic, deadTopic)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	recs := gen.All(gen.Options{Seed: 3, Customers: 300, MalformedShare: 0.02})
	produce(t, b.Addrs(), recs)
	var valid, invalid, dups int
	for _, r := range recs {
		switch {
		case !r.Valid:
			invalid++
		case r.Dup:
			dups++
		default:
			valid++
		}
	}

	dir := t.TempDir()
	first := start(t, b.Addrs(), dir)
	st1 := first.until(t, func(s Stats) bool { return s.Records >= int64(len(recs)/2) })
	if err := first.store.Close(); err != nil {
		t.Fatal(err)
	}
	t.Logf("first run: %+v", st1)
	if st1.Records >= int64(len(recs)) {
		t.Logf("the first run consumed everything (%d records); the restart then only checks nothing is re-applied", st1.Records)
	}

	// A crash leaves the group's commits behind the state; rewind them
	// all the way. Resuming from the offsets stored with the state must
	// neither re-consume nor re-apply anything.
	rewindGroup(t, b.Addrs())

	second := start(t, b.Addrs(), dir)
	remaining := int64(len(recs)) - st1.Records
	st2 := second.until(t, func(s Stats) bool { return s.Records >= remaining && s.Sent >= s.DeadLetters })
	if got := st1.Records + st2.Records; got != int64(len(recs)) {
		t.Fatalf("consumed %d + %d records, want exactly %d", st1.Records, st2.Records, len(recs))
	}
	if got := st1.Applied + st2.Applied; got != int64(valid) {
		t.Errorf("applied %d events, want the %d valid ones", got, valid)
	}
	if got := st1.Duplicates + st2.Duplicates; got != int64(dups) {
		t.Errorf("dropped %d duplicates, want %d", got, dups)
	}

	pred := map[string]string{}
	err = second.eng.Customers(func(c *state.Customer) error {
		return second.eng.Journey(c.ID, func(r *stitch.JourneyRow) error {
			if _, twice := pred[r.EventID]; twice {
				t.Errorf("event %s applied twice", r.EventID)
			}
			pred[r.EventID] = r.CustomerID
			return nil
		})
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := second.store.Close(); err != nil {
		t.Fatal(err)
	}
	if len(pred) != valid {
		t.Errorf("%d events in journeys, want %d", len(pred), valid)
	}
	if p, r, f1 := gen.Score(recs, pred); f1 < 0.99 {
		t.Errorf("stitching precision %.4f recall %.4f F1 %.4f, want F1 >= 0.99", p, r, f1)
	}

	// Fetched batches went back to the client's pools once applied, and
	// what was copied out of them before (a dead letter's value) is the
	// record as produced, not the pooled memory reused since.
	if second.svc.pools.returned.Load() == 0 {
		t.Error("no fetched batch was recycled")
	}
	bad := map[string]bool{}
	for _, r := range recs {
		if !r.Valid {
			bad[string(r.Line)] = true
		}
	}
	dl := deadLetters(t, b.Addrs(), invalid)
	if len(dl) != invalid {
		t.Fatalf("%d dead letters on %s, want %d", len(dl), deadTopic, invalid)
	}
	for _, r := range dl {
		if header(r, "error") == "" || header(r, "source_topic") != eventsTopic ||
			header(r, "source_partition") == "" || header(r, "source_offset") == "" {
			t.Fatalf("dead letter without its headers: %v", r.Headers)
		}
		if !bad[string(r.Value)] {
			t.Fatalf("dead letter %q is none of the invalid records produced", r.Value)
		}
	}
}

// A second member joining the group mid-stream takes partitions over: no
// record is lost (every valid event is applied by one member or both) and
// no member applies an event twice. (Each member has its own state; one
// identity graph across members is the two-stage topology of DESIGN.md.)
func TestRebalanceLosesNothing(t *testing.T) {
	b, err := StartBroker(0, 4, eventsTopic, deadTopic)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	recs := gen.All(gen.Options{Seed: 5, Customers: 400})
	half := len(recs) / 2
	produce(t, b.Addrs(), recs[:half])
	valid := map[string]bool{}
	for _, r := range recs {
		if r.Valid && !r.Dup {
			valid[r.EventID] = true
		}
	}

	a := start(t, b.Addrs(), t.TempDir())
	a.svc.o.MaxPollRecords = 100
	ctxA, stopA := context.WithCancel(context.Background())
	doneA := make(chan error, 1)
	go func() { doneA <- a.svc.Run(ctxA) }()
	for a.svc.Stats().Records < int64(half) {
		time.Sleep(5 * time.Millisecond)
	}

	// The second member joins; once it has partitions (it starts them
	// from their beginning: its state holds no offsets), the second half
	// of the traffic arrives and is split between the two.
	c := start(t, b.Addrs(), t.TempDir())
	ctxC, stopC := context.WithCancel(context.Background())
	doneC := make(chan error, 1)
	go func() { doneC <- c.svc.Run(ctxC) }()
	for joined := time.Now().Add(30 * time.Second); c.svc.Stats().Records == 0; {
		if time.Now().After(joined) {
			t.Fatal("the second member was given no partition")
		}
		time.Sleep(5 * time.Millisecond)
	}
	produce(t, b.Addrs(), recs[half:])

	seen := func(r *run) map[string]int {
		m := map[string]int{}
		r.eng.Customers(func(cu *state.Customer) error {
			return r.eng.Journey(cu.ID, func(j *stitch.JourneyRow) error { m[j.EventID]++; return nil })
		})
		return m
	}
	deadline := time.Now().Add(60 * time.Second)
	for {
		sa, sc := seen(a), seen(c)
		missing := 0
		for id := range valid {
			if sa[id] == 0 && sc[id] == 0 {
				missing++
			}
		}
		if missing == 0 {
			for id, n := range sa {
				if n > 1 {
					t.Errorf("first member applied %s %d times", id, n)
				}
			}
			for id, n := range sc {
				if n > 1 {
					t.Errorf("second member applied %s %d times", id, n)
				}
			}
			if a.svc.Stats().Records <= int64(half) {
				t.Error("the first member consumed nothing of the second half")
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d valid events applied by neither member", missing)
		}
		time.Sleep(20 * time.Millisecond)
	}
	stopA()
	stopC()
	if err := <-doneA; err != nil {
		t.Fatal(err)
	}
	if err := <-doneC; err != nil {
		t.Fatal(err)
	}
	a.store.Close()
	c.store.Close()
}
