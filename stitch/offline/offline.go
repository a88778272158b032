// Package offline runs the engine over files of canonical events, in input
// order, and writes the final state as JSON lines: the `omnistitch stitch`
// command.
package offline

import (
	"bufio"
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"time"

	"github.com/omnistitch/omnistitch/internal/config"
	"github.com/omnistitch/omnistitch/state"
	"github.com/omnistitch/omnistitch/stitch"
	"github.com/omnistitch/omnistitch/stitch/event"
)

// Input is one source of JSON lines.
type Input struct {
	Name string // shown in dead letters; "" for standard input
	R    io.Reader
}

// Options configure a run.
type Options struct {
	Config *config.Config
	// StateDir holds the state between runs: a run over the second half of
	// the input after one over the first half ends as one run over all of
	// it. Empty means a temporary directory removed at the end.
	StateDir  string
	BatchSize int // events per atomic commit; default 1024
}

// Stats count what a run did.
type Stats struct {
	Lines       int
	Applied     int
	Duplicates  int
	Forgotten   int // late events of forgotten customers, dropped
	DeadLetters int
	Customers   int
	Merges      int
	Conflicts   int
	Triggers    int
	// Applying: from the first line read until every event is applied
	// (writing the final state not included), for throughput figures.
	Applying time.Duration
}

// Run applies the inputs and writes dead letters as it goes, then the final
// state: each customer's profile followed by its journey, then merges,
// conflicts and triggers in the order they happened.
func Run(o Options, inputs []Input, out io.Writer) (Stats, error) {
	var st Stats
	cfg := o.Config
	if cfg == nil {
		cfg = config.Default()
	}
	dir := o.StateDir
	if dir == "" {
		tmp, err := os.MkdirTemp("", "omnistitch-stitch-")
		if err != nil {
			return st, err
		}
		defer os.RemoveAll(tmp)
		dir = tmp
	}
	store, err := state.Open(dir, state.Options{
		CustomerCache:   cfg.State.CustomerCache,
		IdentifierCache: cfg.State.IdentifierCache,
		BlockCacheBytes: int64(cfg.State.BlockCacheMB) << 20,
	})
	if err != nil {
		return st, err
	}
	eng, err := stitch.New(cfg, store)
	if err != nil {
		store.Close()
		return st, err
	}
	eng.KeepTriggerLog() // the output lists them at the end, after a resume too
	w := newWriter(out)
	r := &runner{
		eng: eng, w: w, st: &st,
		dec:   event.NewDecoder(cfg.Input.MaxEventBytes, cfg.Input.Channels),
		max:   cfg.Input.MaxEventBytes,
		batch: max(o.BatchSize, 1),
	}
	if o.BatchSize == 0 {
		r.batch = 1024
	}
	began := time.Now()
	for i, in := range inputs {
		r.nin = i
		if err := r.read(in); err != nil {
			store.Close()
			return st, err
		}
	}
	if err := r.flush(); err != nil {
		store.Close()
		return st, err
	}
	// At the end of the input the watermark moves to the newest event
	// time: the absences whose windows end by then fire.
	if ts, ok := store.EventTime(); ok && eng.Rules() != nil {
		if _, err := eng.Fire(ts, nil); err != nil {
			store.Close()
			return st, err
		}
	}
	st.Applying = time.Since(began)
	if err := dump(eng, store, w, &st); err != nil {
		store.Close()
		return st, err
	}
	if err := w.Flush(); err != nil {
		store.Close()
		return st, err
	}
	return st, store.Close()
}

type runner struct {
	eng   *stitch.Engine
	w     *writer
	st    *Stats
	dec   *event.Decoder
	max   int
	batch int

	evs  []event.Event
	locs []loc // where each of evs came from
	bad  []deadLetter
	nin  int // index of the input being read
}

type loc struct {
	input int
	file  string
	line  int
}

func (r *runner) read(in Input) error {
	br := bufio.NewReaderSize(in.R, 1<<20)
	for line := 1; ; line++ {
		data, oversized, err := readLine(br, r.max)
		if errors.Is(err, io.EOF) && len(data) == 0 && !oversized {
			return nil
		}
		if err != nil && !errors.Is(err, io.EOF) {
			return fmt.Errorf("read %s: %w", nameOr(in.Name), err)
		}
		if len(data) == 0 && !oversized {
			continue // a blank line is no record
		}
		r.st.Lines++
		if oversized {
			r.bad = append(r.bad, deadLetter{Kind: "deadletter", File: in.Name, Line: line, Reason: string(event.ReasonOversized),
				Error: fmt.Sprintf("%s: line exceeds the limit of %d bytes", event.ReasonOversized, r.max), input: r.nin})
		} else if ev, derr := r.dec.Decode(data); derr != nil {
			var ee *event.Error
			errors.As(derr, &ee)
			r.bad = append(r.bad, deadLetter{Kind: "deadletter", File: in.Name, Line: line, Reason: string(ee.Reason), Error: ee.Error(), input: r.nin})
		} else {
			r.evs = append(r.evs, ev)
			r.locs = append(r.locs, loc{r.nin, in.Name, line})
		}
		if len(r.evs) >= r.batch {
			if err := r.flush(); err != nil {
				return err
			}
		}
		if errors.Is(err, io.EOF) {
			return nil
		}
	}
}

// readLine reads one line without its end; a line over max bytes is
// consumed whole but returned empty with oversized set.
func readLine(br *bufio.Reader, max int) (data []byte, oversized bool, err error) {
	for {
		frag, isPrefix, err := br.ReadLine()
		if !oversized {
			if max > 0 && len(data)+len(frag) > max {
				oversized, data = true, nil
			} else {
				data = append(data, frag...)
			}
		}
		if err != nil || !isPrefix {
			return data, oversized, err
		}
	}
}

func (r *runner) flush() error {
	if len(r.evs) > 0 {
		res, err := r.eng.Apply(r.evs)
		if err != nil {
			return err
		}
		for i, out := range res.Outcomes {
			switch out.Status {
			case stitch.Applied:
				r.st.Applied++
			case stitch.Duplicate:
				r.st.Duplicates++
			case stitch.Forgotten:
				r.st.Forgotten++
			case stitch.Rejected:
				r.bad = append(r.bad, deadLetter{Kind: "deadletter", File: r.locs[i].file, Line: r.locs[i].line,
					Reason: string(out.Err.Reason), Error: out.Err.Error(), input: r.locs[i].input})
			}
		}
	}
	// Dead letters in input order: decode failures were queued as read,
	// engine rejections after them, so sort the batch's letters by place.
	sortLetters(r.bad)
	for i := range r.bad {
		r.st.DeadLetters++
		if err := r.w.line(&r.bad[i]); err != nil {
			return err
		}
	}
	r.evs, r.locs, r.bad = r.evs[:0], r.locs[:0], r.bad[:0]
	return nil
}

func nameOr(name string) string {
	if name == "" {
		return "standard input"
	}
	return name
}

// The output lines (SPEC "Command line").
type (
	deadLetter struct {
		Kind   string `json:"kind"`
		File   string `json:"file,omitempty"`
		Line   int    `json:"line"`
		Reason string `json:"reason"`
		Error  string `json:"error"`
		input  int    // which input, for ordering
	}
	journeyLine struct {
		Kind          string  `json:"kind"`
		CustomerID    string  `json:"customer_id"`
		Seq           int     `json:"seq"`
		EventID       string  `json:"event_id"`
		Channel       string  `json:"channel"`
		Type          string  `json:"type"`
		Stage         string  `json:"stage"`
		TS            string  `json:"ts"`
		PrevChannel   string  `json:"prev_channel"`
		SecsSincePrev float64 `json:"secs_since_prev"`
	}
	profileLine struct {
		Kind string `json:"kind"`
		stitch.Profile
	}
	mergeLine struct {
		Kind       string `json:"kind"`
		AbsorbedID string `json:"absorbed_id"`
		SurvivorID string `json:"survivor_id"`
		Via        string `json:"via"`
		MergedAt   string `json:"merged_at"`
		EventID    string `json:"event_id"`
	}
	triggerLine struct {
		Kind string `json:"kind"`
		stitch.TriggerMessage
	}
	conflictLine struct {
		Kind       string `json:"kind"`
		CustomerID string `json:"customer_id"`
		IDType     string `json:"id_type"`
		IDValue    string `json:"id_value"`
		Reason     string `json:"reason"`
		At         string `json:"at"`
		EventID    string `json:"event_id"`
	}
)

// Dump writes the final state of a store as the offline command does —
// each customer's profile followed by its journey, then merges and
// conflicts — and counts customers, merges and conflicts into st.
func Dump(eng *stitch.Engine, store *state.Store, out io.Writer, st *Stats) error {
	w := newWriter(out)
	if err := dump(eng, store, w, st); err != nil {
		return err
	}
	return w.Flush()
}

func dump(eng *stitch.Engine, store *state.Store, w *writer, st *Stats) error {
	err := eng.Customers(func(c *state.Customer) error {
		st.Customers++
		if err := w.line(&profileLine{Kind: "profile", Profile: stitch.ProfileOf(c)}); err != nil {
			return err
		}
		return eng.Journey(c.ID, func(r *stitch.JourneyRow) error {
			return w.line(&journeyLine{
				Kind: "journey", CustomerID: r.CustomerID, Seq: r.Seq, EventID: r.EventID,
				Channel: r.Channel, Type: r.Type, Stage: r.Stage, TS: event.FormatTS(r.TS),
				PrevChannel: r.PrevChannel, SecsSincePrev: r.SecsSincePrev,
			})
		})
	})
	if err != nil {
		return err
	}
	if err := store.Merges(func(m *state.Merge) error {
		st.Merges++
		return w.line(&mergeLine{Kind: "merge", AbsorbedID: m.Absorbed, SurvivorID: m.Survivor, Via: m.Via,
			MergedAt: event.FormatTS(m.At), EventID: m.EventID})
	}); err != nil {
		return err
	}
	if err := store.Conflicts(func(c *state.Conflict) error {
		st.Conflicts++
		return w.line(&conflictLine{Kind: "conflict", CustomerID: c.Customer, IDType: c.IDType, IDValue: c.IDValue,
			Reason: c.Reason, At: event.FormatTS(c.At), EventID: c.EventID})
	}); err != nil {
		return err
	}
	return store.Triggers(func(g *state.Trigger) error {
		st.Triggers++
		return w.line(&triggerLine{Kind: "trigger", TriggerMessage: stitch.MessageOf(g)})
	})
}

type writer struct {
	bw  *bufio.Writer
	enc *json.Encoder
}

func newWriter(out io.Writer) *writer {
	bw := bufio.NewWriterSize(out, 1<<16)
	enc := json.NewEncoder(bw)
	enc.SetEscapeHTML(false)
	return &writer{bw: bw, enc: enc}
}

func (w *writer) line(v any) error { return w.enc.Encode(v) }
func (w *writer) Flush() error     { return w.bw.Flush() }

func sortLetters(ls []deadLetter) {
	slices.SortStableFunc(ls, func(a, b deadLetter) int {
		if a.input != b.input {
			return cmp.Compare(a.input, b.input)
		}
		return cmp.Compare(a.Line, b.Line)
	})
}
