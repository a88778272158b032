package stitch

import (
	"runtime"
	"slices"
	"strings"

	"github.com/omnistitch/omnistitch/stitch/event"
	"github.com/omnistitch/omnistitch/stitch/normalize"
)

// Normalising identifiers (parsing phone numbers above all) is a fifth of
// the engine's work per event and depends on nothing but the event and the
// configuration: the normaliser and the pseudonymiser are safe for
// concurrent use. With a second core, ApplyWith has it done by another
// goroutine, a chunk of events ahead of the apply loop, so that it leaves
// the one goroutine that must stay serial. The result is identical: the
// same function runs on the same events; only where it runs differs.

// prenormChunk is how many events the helper normalises before it hands
// them over: large enough that the hand-over costs nothing per event,
// small enough that the apply loop starts at once.
const prenormChunk = 256

// prenormMin is the smallest batch worth a goroutine.
const prenormMin = 2 * prenormChunk

// normalised is one event's usable identifiers in priority order (records
// not yet looked up), or why it has none.
type normalised struct {
	ids []ident
	rej *event.Error
}

// prenorm is the hand-over between the helper and the apply loop.
type prenorm struct {
	out   []normalised
	ready chan int // the end of each chunk done, in order
	avail int      // out[:avail] may be read
	done  int      // chunks received
	total int      // chunks sent in all
}

// prenormalise starts the helper over evs, or returns nil when the batch
// is too small or there is no second core (the apply loop then normalises
// inline, as it always did). The caller must call finish before evs may
// change or be reused.
func (e *Engine) prenormalise(evs []event.Event) *prenorm {
	if len(evs) < prenormMin || runtime.GOMAXPROCS(0) < 2 {
		return nil
	}
	if cap(e.prenormBuf) < len(evs) {
		e.prenormBuf = make([]normalised, len(evs))
	}
	p := &prenorm{out: e.prenormBuf[:len(evs)], total: (len(evs) + prenormChunk - 1) / prenormChunk}
	p.ready = make(chan int, p.total)
	go func() {
		var ids []ident
		for lo := 0; lo < len(evs); lo += prenormChunk {
			hi := min(lo+prenormChunk, len(evs))
			// A fresh array per chunk: the apply loop reads the chunks
			// already handed over while this one is appended to.
			ids = make([]ident, 0, 2*(hi-lo))
			for i := lo; i < hi; i++ {
				start := len(ids)
				ids, p.out[i].rej = e.normaliseIDs(&evs[i], ids)
				p.out[i].ids = ids[start:len(ids):len(ids)]
			}
			p.ready <- hi
		}
	}()
	return p
}

// get waits until event i is normalised and returns it.
func (p *prenorm) get(i int) *normalised {
	for i >= p.avail {
		p.avail = <-p.ready
		p.done++
	}
	return &p.out[i]
}

// finish waits for the helper to end (it may still run when the batch
// failed early) and drops the references to the batch's identifiers.
func (p *prenorm) finish() {
	if p == nil {
		return
	}
	for ; p.done < p.total; p.done++ {
		<-p.ready
	}
	clear(p.out)
}

// normaliseIDs appends ev's usable identifiers to ids, in priority order,
// or reports why it has none.
func (e *Engine) normaliseIDs(ev *event.Event, ids []ident) ([]ident, *event.Error) {
	start := len(ids)
	var why []string
	for _, raw := range ev.IDs {
		typ := e.types[raw.Type]
		v, res := e.Normalize(raw.Type, raw.Value)
		if typ == nil || res != normalize.OK {
			// Types and reasons only: the values are personal data.
			why = append(why, raw.Type+": "+res.String())
			continue
		}
		ids = append(ids, ident{typ: typ, key: typ.name + ":" + v})
	}
	if len(ids) == start {
		return ids, &event.Error{Reason: event.ReasonJunkIDs, Msg: "no usable identifier (" + strings.Join(why, ", ") + ")"}
	}
	slices.SortFunc(ids[start:], func(x, y ident) int { return x.typ.prio - y.typ.prio })
	return ids, nil
}
