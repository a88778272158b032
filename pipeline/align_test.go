package pipeline

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/omnistitch/omnistitch/internal/config"
	"github.com/omnistitch/omnistitch/state"
	"github.com/omnistitch/omnistitch/stitch"
	"github.com/omnistitch/omnistitch/stitch/event"
)

const minute = int64(time.Minute / time.Millisecond)

// put queues a partition's records at offsets from, from+1, ... with the
// given event times (minutes), decoded as the service does; a negative
// time makes a bad record.
func put(a *aligner, topic string, part int32, hw, from int64, now time.Time, minutes ...int64) {
	rs := make([]*kgo.Record, len(minutes))
	for i := range minutes {
		rs[i] = &kgo.Record{Topic: topic, Partition: part, Offset: from + int64(i)}
	}
	a.add(topic, part, hw, rs, now)
	for _, e := range a.added(nil) {
		m := minutes[e.rec.Offset-from]
		if m < 0 {
			e.err = errors.New("bad")
			continue
		}
		e.ev = event.Event{ID: fmt.Sprintf("%s/%d/%d", topic, part, e.rec.Offset), TS: m * minute}
	}
	a.settle()
}

// names lists entries as topic/partition/offset.
func names(es []alignEntry) []string {
	out := make([]string, len(es))
	for i, e := range es {
		out[i] = fmt.Sprintf("%s/%d/%d", e.rec.Topic, e.rec.Partition, e.rec.Offset)
	}
	return out
}

func TestAlignOffPassesPollOrder(t *testing.T) {
	a := newAligner(0, time.Second)
	now := time.Now()
	put(a, "b", 0, 100, 0, now, 50, 60)
	put(a, "a", 0, 100, 0, now, 1, 2)
	got := names(a.take(now, nil, 1))
	if want := []string{"b/0/0", "b/0/1", "a/0/0", "a/0/1"}; !slices.Equal(got, want) {
		t.Fatalf("took %v, want %v", got, want)
	}
	if a.held != 0 || a.due(now) {
		t.Fatalf("held %d after taking all", a.held)
	}
	if pause, resume := a.pausing(now); pause != nil || resume != nil {
		t.Fatalf("pausing %v, resuming %v with alignment off", pause, resume)
	}
}

func TestAlignHoldsPartitionsAhead(t *testing.T) {
	a := newAligner(time.Minute, time.Hour)
	now := time.Now()
	// web has a backlog (high watermark 100) and is at minute 10; calls
	// were read to their end and reach minute 60.
	put(a, "web", 0, 100, 0, now, 0, 5, 10)
	put(a, "calls", 0, 3, 0, now, 3, 11, 30)
	got := names(a.take(now, nil, 1000))
	if want := []string{"web/0/0", "calls/0/0", "web/0/1", "web/0/2", "calls/0/1"}; !slices.Equal(got, want) {
		t.Fatalf("took %v, want %v (event-time order up to minute 11)", got, want)
	}
	if a.held != 1 {
		t.Fatalf("held %d, want the call at minute 30", a.held)
	}
	pause, resume := a.pausing(now)
	if !slices.Equal(pause["calls"], []int32{0}) || len(pause) != 1 || resume != nil || a.pausedCount() != 1 {
		t.Fatalf("pause %v resume %v (%d paused), want calls/0 paused", pause, resume, a.pausedCount())
	}
	if a.due(now) {
		t.Fatal("due with nothing new from web")
	}
	// web moves to minute 29: the call at 30 is within the window.
	put(a, "web", 0, 100, 3, now, 20, 29)
	got = names(a.take(now, nil, 1000))
	if want := []string{"web/0/3", "web/0/4", "calls/0/2"}; !slices.Equal(got, want) {
		t.Fatalf("took %v, want %v", got, want)
	}
	pause, resume = a.pausing(now)
	if pause != nil || !slices.Equal(resume["calls"], []int32{0}) || len(resume) != 1 || a.pausedCount() != 0 {
		t.Fatalf("pause %v resume %v (%d paused), want calls/0 resumed", pause, resume, a.pausedCount())
	}
}

// A partition read to its end holds nobody back, even once emptied within
// the same take: what it held then goes out with the rest.
func TestAlignCaughtUpPartitionsDrain(t *testing.T) {
	a := newAligner(time.Minute, time.Hour)
	now := time.Now()
	put(a, "web", 0, 3, 0, now, 0, 5, 10)
	put(a, "calls", 0, 2, 0, now, 30, 90)
	got := names(a.take(now, nil, 1000))
	if want := []string{"web/0/0", "web/0/1", "web/0/2", "calls/0/0", "calls/0/1"}; !slices.Equal(got, want) {
		t.Fatalf("took %v, want %v", got, want)
	}
	if a.held != 0 {
		t.Fatalf("held %d", a.held)
	}
}

// A partition with a backlog that delivers nothing for the idle time (its
// leader unreachable) stops holding the others back.
func TestAlignSilentPartitionReleases(t *testing.T) {
	a := newAligner(time.Minute, 5*time.Second)
	t0 := time.Now()
	put(a, "web", 0, 100, 0, t0, 0)
	put(a, "calls", 0, 1, 0, t0, 30)
	if got := names(a.take(t0, nil, 1000)); !slices.Equal(got, []string{"web/0/0"}) {
		t.Fatalf("took %v", got)
	}
	if a.due(t0.Add(4 * time.Second)) {
		t.Fatal("released before the idle time")
	}
	later := t0.Add(5 * time.Second)
	if !a.due(later) {
		t.Fatal("not due after the idle time")
	}
	if got := names(a.take(later, nil, 1000)); !slices.Equal(got, []string{"calls/0/0"}) {
		t.Fatalf("took %v", got)
	}
}

// A bad record keeps its place in its partition: it goes with the record
// before it, and what follows waits behind it.
func TestAlignBadRecordsKeepTheirPlace(t *testing.T) {
	a := newAligner(time.Minute, time.Hour)
	now := time.Now()
	put(a, "web", 0, 100, 0, now, 0, 20)
	put(a, "calls", 0, 100, 0, now, -1, 1, 50, -1, 2)
	got := names(a.take(now, nil, 1000))
	if want := []string{"calls/0/0", "web/0/0", "calls/0/1", "web/0/1"}; !slices.Equal(got, want) {
		t.Fatalf("took %v, want %v", got, want)
	}
	// The call at minute 2 is due by its time but sits behind the one at
	// 50 (and the bad record after it): offsets are applied as a prefix.
	if a.held != 3 {
		t.Fatalf("held %d, want 3", a.held)
	}
}

func TestAlignLimitAndDue(t *testing.T) {
	a := newAligner(time.Minute, time.Hour)
	now := time.Now()
	put(a, "web", 0, 5, 0, now, 0, 1, 2, 3, 4)
	got := names(a.take(now, nil, 2))
	if !slices.Equal(got, []string{"web/0/0", "web/0/1"}) || !a.due(now) {
		t.Fatalf("took %v, due %v", got, a.due(now))
	}
	got = names(a.take(now, nil, 10))
	if !slices.Equal(got, []string{"web/0/2", "web/0/3", "web/0/4"}) || a.due(now) || a.held != 0 {
		t.Fatalf("took %v, held %d", got, a.held)
	}
}

func TestAlignDropForgetsPartitions(t *testing.T) {
	a := newAligner(time.Minute, time.Hour)
	now := time.Now()
	put(a, "web", 0, 100, 0, now, 0)
	put(a, "calls", 0, 100, 0, now, 30, 31)
	a.take(now, nil, 1000)
	a.pausing(now)
	a.drop(map[string][]int32{"calls": {0}, "web": {7}})
	if a.held != 0 || len(a.parts) != 1 {
		t.Fatalf("held %d, partitions %d after dropping calls/0", a.held, len(a.parts))
	}
	// Assigned again, its records come anew from the stored offset.
	put(a, "calls", 0, 100, 0, now, 30, 31)
	if a.held != 2 {
		t.Fatalf("held %d", a.held)
	}
}

// Whatever the partitions hold and however polls and takes interleave,
// each partition's records come out once, in offset order, and all of them
// once every partition is read to its end.
func TestAlignProperty(t *testing.T) {
	for seed := range uint64(200) {
		r := rand.New(rand.NewPCG(seed, 1))
		a := newAligner(time.Duration(r.IntN(3))*time.Minute, time.Hour)
		now := time.Now()
		type part struct {
			ts   []int64
			next int
		}
		parts := make([]part, 1+r.IntN(5))
		total := 0
		for i := range parts {
			n := r.IntN(40)
			t0 := int64(r.IntN(100))
			for range n {
				t0 += int64(r.IntN(10)) - 2
				if r.IntN(10) == 0 {
					parts[i].ts = append(parts[i].ts, -1)
				} else {
					parts[i].ts = append(parts[i].ts, max(t0, 0))
				}
			}
			total += n
		}
		next := map[string]int64{}
		var out []alignEntry
		seen := 0
		for steps := 0; seen < total; steps++ {
			if steps > 10000 {
				t.Fatalf("seed %d: stuck with %d of %d taken, held %d", seed, seen, total, a.held)
			}
			i := r.IntN(len(parts))
			p := &parts[i]
			if p.next < len(p.ts) && r.IntN(2) == 0 {
				n := 1 + r.IntN(len(p.ts)-p.next)
				topic := fmt.Sprint("t", i)
				put(a, topic, 0, int64(len(p.ts)), int64(p.next), now, p.ts[p.next:p.next+n]...)
				p.next += n
			}
			out = a.take(now, out[:0], 1+r.IntN(20))
			a.pausing(now)
			for _, e := range out {
				k := e.rec.Topic
				if e.rec.Offset != next[k] {
					t.Fatalf("seed %d: %s offset %d taken, want %d", seed, k, e.rec.Offset, next[k])
				}
				next[k]++
				seen++
			}
		}
		if a.held != 0 || seen != total {
			t.Fatalf("seed %d: held %d, took %d of %d", seed, a.held, seen, total)
		}
	}
}

const (
	denseTopic, sparseTopic = "omni.web", "omni.callcentre"
)

// produceSkewedBacklog writes a backlog on two topics of two partitions
// each, far apart in event-time density — a month of calls fits in one
// fetch, the web traffic of the same month takes many — every partition
// in time order, plus one bad record. It returns how many records.
func produceSkewedBacklog(t *testing.T, br *Broker, nDense, nSparse int) int {
	t.Helper()
	t0 := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	line := func(id string, ch string, ts time.Time, junk int) []byte {
		return fmt.Appendf(nil, `{"event_id":%q,"channel":%q,"type":"page_view","ts":%q,"ids":{"cookie":"ck-%d"},"props":{"pad":%q}}`,
			id, ch, ts.Format(time.RFC3339Nano), junk%500, fmt.Sprintf("%0300d", junk))
	}
	var batch []*kgo.Record
	for i := range nDense {
		batch = append(batch, &kgo.Record{Topic: denseTopic, Partition: int32(i % 2), Value: line(fmt.Sprint("w", i), "web", t0.Add(time.Duration(i)*time.Minute), i)})
	}
	for i := range nSparse {
		batch = append(batch, &kgo.Record{Topic: sparseTopic, Partition: int32(i % 2), Value: line(fmt.Sprint("c", i), "callcentre", t0.Add(time.Duration(i)*40*time.Minute), i)})
	}
	batch = append(batch, &kgo.Record{Topic: sparseTopic, Partition: 1, Value: []byte("{not json")})
	cl, err := kgo.NewClient(kgo.SeedBrokers(br.Addrs()...), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	if err := cl.ProduceSync(context.Background(), batch...).FirstErr(); err != nil {
		t.Fatal(err)
	}
	return len(batch)
}

// alignedService is a service over the two backlog topics with its own
// state; applied counts, per record, how often a committed batch held it.
func alignedService(t *testing.T, br *Broker, group string, align time.Duration, maxPoll int, committed func([]*kgo.Record)) *run {
	t.Helper()
	cfg := config.Default()
	dec := event.NewDecoder(cfg.Input.MaxEventBytes, cfg.Input.Channels)
	store, err := state.Open(t.TempDir(), state.Options{CustomerCache: 1000, IdentifierCache: 1000})
	if err != nil {
		t.Fatal(err)
	}
	eng, err := stitch.New(cfg, store)
	if err != nil {
		t.Fatal(err)
	}
	svc, err := New(Options{
		Brokers: br.Addrs(), Group: group, DeadLetterTopic: deadTopic,
		Decoders:       map[string]Decoder{denseTopic: dec.Decode, sparseTopic: dec.Decode},
		MaxPollRecords: maxPoll, AlignWindow: align, SendInterval: 20 * time.Millisecond,
		Committed: committed,
	}, eng, store)
	if err != nil {
		t.Fatal(err)
	}
	return &run{store: store, eng: eng, svc: svc}
}

// The backlog is applied in step: no event is applied more than the
// window behind one applied before it, every record exactly once. Without
// alignment the same backlog is applied out of step, which is what the
// test guards against.
func TestAlignedBacklogOverKafka(t *testing.T) {
	const window = 5 * time.Minute
	br, err := StartBroker(0, 2, denseTopic, sparseTopic, deadTopic)
	if err != nil {
		t.Fatal(err)
	}
	defer br.Close()
	total := produceSkewedBacklog(t, br, 6000, 150)
	dec := event.NewDecoder(config.Default().Input.MaxEventBytes, config.Default().Input.Channels)
	late := func(align time.Duration) int {
		var newest int64
		lateN := 0
		seen := map[string]int{}
		r := alignedService(t, br, fmt.Sprint("align-", align), align, 1000, func(recs []*kgo.Record) {
			for _, r := range recs {
				seen[fmt.Sprint(r.Topic, r.Partition, r.Offset)]++
				ev, err := dec.Decode(r.Value)
				if err != nil {
					continue
				}
				if ev.TS < newest-window.Milliseconds() {
					lateN++
				}
				newest = max(newest, ev.TS)
			}
		})
		st := r.until(t, func(s Stats) bool { return s.Records >= int64(total) })
		r.store.Close()
		if st.Records != int64(total) || st.DeadLetters != 1 || len(seen) != total {
			t.Fatalf("aligned %v: stats %+v, %d distinct records", align, st, len(seen))
		}
		for k, n := range seen {
			if n != 1 {
				t.Fatalf("aligned %v: record %s applied %d times", align, k, n)
			}
		}
		return lateN
	}
	if n := late(window); n != 0 {
		t.Errorf("aligned: %d events applied more than %v behind an earlier one", n, window)
	}
	if n := late(0); n == 0 {
		t.Errorf("unaligned: no event applied late; the backlog does not exercise alignment")
	}
}

// Rebalances while records are held back: a second member takes some
// partitions from the first (which holds records of them), applies some
// and leaves, and the first gets them back. Between them every record is
// applied, and neither applies one twice. (That a revoked partition's held
// records are dropped is TestAlignDropForgetsPartitions: with one state per
// member, applying them anyway would not show here.)
func TestRebalanceWithHeldRecords(t *testing.T) {
	br, err := StartBroker(0, 2, denseTopic, sparseTopic, deadTopic)
	if err != nil {
		t.Fatal(err)
	}
	defer br.Close()
	total := produceSkewedBacklog(t, br, 20000, 300)
	var mu sync.Mutex
	applied := [2]map[string]int{{}, {}}
	member := func(i int) func([]*kgo.Record) {
		return func(recs []*kgo.Record) {
			mu.Lock()
			for _, r := range recs {
				applied[i][fmt.Sprint(r.Topic, "/", r.Partition, "/", r.Offset)]++
			}
			mu.Unlock()
			if i == 0 {
				time.Sleep(10 * time.Millisecond) // slow, so that it is still catching up when the other comes and goes
			}
		}
	}
	count := func(i int) int {
		mu.Lock()
		defer mu.Unlock()
		return len(applied[i])
	}
	union := func() int {
		mu.Lock()
		defer mu.Unlock()
		n := len(applied[0])
		for k := range applied[1] {
			if applied[0][k] == 0 {
				n++
			}
		}
		return n
	}
	a := alignedService(t, br, "held", time.Minute, 200, member(0))
	ctxA, stopA := context.WithCancel(context.Background())
	doneA := make(chan error, 1)
	go func() { doneA <- a.svc.Run(ctxA) }()
	for deadline := time.Now().Add(30 * time.Second); testutil.ToFloat64(a.svc.m.alignHeld) == 0; {
		if time.Now().After(deadline) {
			t.Fatal("the first member never held records back")
		}
		time.Sleep(time.Millisecond)
	}
	c := alignedService(t, br, "held", time.Minute, 200, member(1))
	ctxC, stopC := context.WithCancel(context.Background())
	doneC := make(chan error, 1)
	go func() { doneC <- c.svc.Run(ctxC) }()
	for deadline := time.Now().Add(60 * time.Second); count(1) < 500; {
		if time.Now().After(deadline) {
			t.Fatal("the second member was given no partition")
		}
		time.Sleep(time.Millisecond)
	}
	stopC()
	if err := <-doneC; err != nil {
		t.Fatal(err)
	}
	c.store.Close()
	for deadline := time.Now().Add(60 * time.Second); union() < total; {
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d records applied by either member", union(), total)
		}
		time.Sleep(5 * time.Millisecond)
	}
	stopA()
	if err := <-doneA; err != nil {
		t.Fatal(err)
	}
	a.store.Close()
	mu.Lock()
	defer mu.Unlock()
	for i, m := range applied {
		for k, n := range m {
			if n != 1 {
				t.Fatalf("member %d applied %s %d times", i, k, n)
			}
		}
	}
}
