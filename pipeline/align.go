package pipeline

import (
	"cmp"
	"container/heap"
	"math"
	"slices"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/omnistitch/omnistitch/stitch/event"
)

// Reading partitions in step by event time.
//
// A backlog — a restart after downtime, a first deployment reading topics
// from their start — is fetched a megabyte at a time from every partition,
// and partitions differ widely in how much event time a megabyte holds: a
// call-centre partition's whole month arrives with a web partition's first
// day. Applied as they come, the month of calls lands first and every web
// event after it is late: the watermark (newest event time minus the
// allowed lateness) runs ahead of most of the traffic, so absence rules
// fire before their window has really passed, and each late event
// renumbers the rest of its customer's journey, which rewrites those rows
// in ClickHouse.
//
// The aligner holds back the records more than a window of event time ahead
// of the slowest partition that still has a backlog, and the service stops
// fetching from partitions whose records are held (so what is held is
// bounded by what one poll brought). Each batch is applied in event-time
// order across partitions, every partition's records in their own order, so
// offsets stay a prefix. A partition with nothing more to read (caught up)
// holds nobody back, nor does one that delivered nothing for a while (its
// broker unreachable): live traffic, every partition at its end, passes
// straight through, and with one partition the order is the topic's.

// alignEntry is one polled record, decoded.
type alignEntry struct {
	rec *kgo.Record
	ev  event.Event // when err == nil
	err error       // the record is a dead letter
	ts  int64       // order key: the event time; a bad record's is its predecessor's
}

type alignKey struct {
	topic string
	part  int32
}

func (k alignKey) compare(o alignKey) int {
	if c := cmp.Compare(k.topic, o.topic); c != 0 {
		return c
	}
	return cmp.Compare(k.part, o.part)
}

type alignPart struct {
	key      alignKey
	queue    []alignEntry // polled, not applied, in offset order
	frontier int64        // the newest event time polled
	hw       int64        // high watermark at its last fetch
	behind   bool         // its last fetch ended short of hw
	lastSeen time.Time    // when records last arrived (or it was resumed)
	paused   bool         // fetching stopped while it holds records
	adding   bool         // in aligner.adding; its entries from fresh on are not settled
	fresh    int
}

type aligner struct {
	window int64         // ms; ≤ 0: nothing held, records in poll order
	idle   time.Duration // a behind partition silent this long holds nobody back
	parts  map[alignKey]*alignPart
	polled []*alignPart // partitions with queued records, in poll order
	adding []*alignPart // partitions with records added since the last settle
	held   int          // records queued over all partitions
	h      partHeap
}

func newAligner(window, idle time.Duration) *aligner {
	return &aligner{window: window.Milliseconds(), idle: idle, parts: map[alignKey]*alignPart{}}
}

// add queues one poll's records of a partition, not yet decoded; hw is the
// partition's high watermark as the fetch reported it. Records must come
// in offset order. The caller decodes what each poll added (see added) in
// place, then calls settle, before the next take.
func (a *aligner) add(topic string, part int32, hw int64, recs []*kgo.Record, now time.Time) {
	if len(recs) == 0 {
		return
	}
	k := alignKey{topic, part}
	p := a.parts[k]
	if p == nil {
		p = &alignPart{key: k, frontier: math.MinInt64}
		a.parts[k] = p
	}
	if len(p.queue) == 0 {
		a.polled = append(a.polled, p)
	}
	if !p.adding {
		p.adding, p.fresh = true, len(p.queue)
		a.adding = append(a.adding, p)
	}
	p.queue = slices.Grow(p.queue, len(recs))
	for _, r := range recs {
		p.queue = append(p.queue, alignEntry{rec: r})
	}
	a.held += len(recs)
	p.hw = hw
	p.behind = recs[len(recs)-1].Offset+1 < hw
	p.lastSeen = now
}

// added appends to jobs the entries queued since the last settle, for
// the caller to decode into (ev, or err).
func (a *aligner) added(jobs []*alignEntry) []*alignEntry {
	for _, p := range a.adding {
		for i := p.fresh; i < len(p.queue); i++ {
			jobs = append(jobs, &p.queue[i])
		}
	}
	return jobs
}

// settle orders the entries added since the last settle, once decoded: a
// valid record by its event time, a bad one as the record before it.
func (a *aligner) settle() {
	for _, p := range a.adding {
		prev := p.frontier
		if p.fresh > 0 {
			prev = p.queue[p.fresh-1].ts
		}
		for i := p.fresh; i < len(p.queue); i++ {
			e := &p.queue[i]
			if e.err == nil {
				e.ts = e.ev.TS
				p.frontier = max(p.frontier, e.ts)
			} else {
				e.ts = prev
			}
			prev = e.ts
		}
		p.adding = false
	}
	a.adding = a.adding[:0]
}

// horizon is the newest event time that may be applied now: window past
// the frontier of the slowest partition that still has records to give,
// or no bound at all.
func (a *aligner) horizon(now time.Time) int64 {
	if a.window <= 0 {
		return math.MaxInt64
	}
	slowest := int64(math.MaxInt64)
	for _, p := range a.parts {
		if len(p.queue) == 0 && (!p.behind || now.Sub(p.lastSeen) >= a.idle) {
			continue
		}
		slowest = min(slowest, p.frontier)
	}
	if slowest > math.MaxInt64-a.window {
		return math.MaxInt64
	}
	return slowest + a.window
}

// take appends to out the records that may be applied now, at most limit
// of them, in event-time order across partitions and offset order within
// each: what it takes of a partition is always a prefix of what it holds.
// With alignment off it takes everything, in poll order (the poll was
// limited instead).
func (a *aligner) take(now time.Time, out []alignEntry, limit int) []alignEntry {
	if a.window <= 0 {
		for _, p := range a.polled {
			out = append(out, p.queue...)
			a.held -= len(p.queue)
			p.queue = clearEntries(p.queue)
		}
		a.polled = a.polled[:0]
		return out
	}
	// Draining a partition that has nothing more to fetch takes it out of
	// the horizon, which may let more through: repeat until nothing moves.
	n := 0
	for upTo, prev := a.horizon(now), int64(math.MinInt64); upTo != prev && n < limit; upTo, prev = a.horizon(now), upTo {
		a.fill(upTo)
		for len(a.h) > 0 && n < limit {
			p := a.h[0]
			out = append(out, p.queue[0])
			n++
			p.queue[0] = alignEntry{}
			p.queue = p.queue[1:]
			a.held--
			if len(p.queue) > 0 && p.queue[0].ts <= upTo {
				heap.Fix(&a.h, 0)
			} else {
				heap.Pop(&a.h)
			}
		}
	}
	a.polled = slices.DeleteFunc(a.polled, func(p *alignPart) bool {
		if len(p.queue) == 0 {
			p.queue = p.queue[:0:0] // let the consumed array go
			return true
		}
		return false
	})
	return out
}

// fill puts in the heap the partitions whose first held record is due.
func (a *aligner) fill(upTo int64) {
	a.h = a.h[:0]
	for _, p := range a.polled {
		if len(p.queue) > 0 && p.queue[0].ts <= upTo {
			a.h = append(a.h, p)
		}
	}
	heap.Init(&a.h)
}

// due reports whether take would return something now (a batch cut short
// by its limit left records that need no new fetch).
func (a *aligner) due(now time.Time) bool {
	if a.held == 0 {
		return false
	}
	a.fill(a.horizon(now))
	return len(a.h) > 0
}

// pausing reports the partitions to stop and to resume fetching: those
// that now hold records, and those that no longer do. It updates the
// partitions' paused flags, so call it once per take.
func (a *aligner) pausing(now time.Time) (pause, resume map[string][]int32) {
	for _, p := range a.parts {
		switch hold := len(p.queue) > 0; {
		case hold && !p.paused:
			p.paused = true
			pause = addPart(pause, p.key)
		case !hold && p.paused:
			p.paused = false
			p.lastSeen = now // it was silent because it was paused
			resume = addPart(resume, p.key)
		}
	}
	return pause, resume
}

func (a *aligner) pausedCount() int {
	n := 0
	for _, p := range a.parts {
		if p.paused {
			n++
		}
	}
	return n
}

// drop forgets partitions this consumer no longer owns (revoked, lost):
// their held records are another consumer's to apply now, from the
// offsets stored with the state, or this one's again after a new
// assignment, fetched anew.
func (a *aligner) drop(parts map[string][]int32) {
	for topic, ps := range parts {
		for _, part := range ps {
			k := alignKey{topic, part}
			if p := a.parts[k]; p != nil {
				a.held -= len(p.queue)
				delete(a.parts, k)
				a.polled = slices.DeleteFunc(a.polled, func(q *alignPart) bool { return q == p })
			}
		}
	}
}

func addPart(m map[string][]int32, k alignKey) map[string][]int32 {
	if m == nil {
		m = map[string][]int32{}
	}
	m[k.topic] = append(m[k.topic], k.part)
	return m
}

func clearEntries(q []alignEntry) []alignEntry {
	clear(q)
	return q[:0]
}

// partHeap orders partitions by the event time of their first queued
// record, then by topic and partition, so that a batch's order does not
// depend on map iteration.
type partHeap []*alignPart

func (h partHeap) Len() int { return len(h) }
func (h partHeap) Less(i, j int) bool {
	if c := cmp.Compare(h[i].queue[0].ts, h[j].queue[0].ts); c != 0 {
		return c < 0
	}
	return h[i].key.compare(h[j].key) < 0
}
func (h partHeap) Swap(i, j int) { h[i], h[j] = h[j], h[i] }
func (h *partHeap) Push(x any)   { *h = append(*h, x.(*alignPart)) }
func (h *partHeap) Pop() any {
	old := *h
	p := old[len(old)-1]
	*h = old[:len(old)-1]
	return p
}
