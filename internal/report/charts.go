package report

import (
	"fmt"
	"math"
	"sort"
	"strings"
	"time"
)

// Chart layout constants, in SVG user units (pixels at 100%).
const (
	chartW   = 1080.0 // full-width charts
	smallW   = 520.0  // the stitching-health small multiples
	maxSteps = 6      // path boxes drawn before the middle of a path is elided
)

// firstLabel names the "previous channel" of a customer's first event.
const firstLabel = "(first event)"

// channelOrder lists the channels seen in transitions and paths, busiest
// first (by events on the channel), then by name.
func channelOrder(d *Data) []string {
	vol := map[string]uint64{}
	for _, t := range d.Transitions {
		if t.To != "" {
			vol[t.To] += t.Count
		}
		if t.From != "" {
			vol[t.From] += 0 // seen, even if never a destination
		}
	}
	for _, p := range d.Paths.Top {
		for _, c := range p.Channels {
			vol[c] += 0 // seen
		}
	}
	out := make([]string, 0, len(vol))
	for c := range vol {
		out = append(out, c)
	}
	sort.Slice(out, func(i, j int) bool {
		if vol[out[i]] != vol[out[j]] {
			return vol[out[i]] > vol[out[j]]
		}
		return out[i] < out[j]
	})
	return out
}

// pct formats n/of as a percentage, "–" when of is 0.
func pct(n, of uint64) string {
	if of == 0 {
		return "–"
	}
	p := 100 * float64(n) / float64(of)
	switch {
	case p > 0 && p < 1:
		return "<1%"
	case p < 99.5 || p == 100:
		return fmt.Sprintf("%.0f%%", p)
	default:
		return ">99%"
	}
}

// thousands formats n with separators: 12,345.
func thousands(n uint64) string {
	s := fmt.Sprint(n)
	var b strings.Builder
	for i, r := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteRune(',')
		}
		b.WriteRune(r)
	}
	return b.String()
}

// count formats n with the singular or plural noun.
func count(n uint64, noun [2]string) string {
	if n == 1 {
		return "1 " + noun[0]
	}
	return thousands(n) + " " + noun[1]
}

// emptyChart is a frame with a message, for a chart without data.
func emptyChart(label, msg string, w float64) svg {
	s := svg{W: w, H: 90, Label: label}
	s.rect(0.5, 0.5, w-1, 89, "#f9fafb", "").Stroke = "#d1d5db"
	s.text(w/2, 50, "middle", "muted", msg)
	return s
}

// heatmap draws the channel-transition matrix: rows are the previous
// channel (plus a first-event row), columns the channel of the event. The
// colour scale covers switches between channels only; staying on a channel
// (the diagonal) is grey, since it would otherwise wash out every switch.
func heatmap(d *Data, chans []string) svg {
	const label = "Channel transitions: previous channel (rows) to the next event's channel (columns)"
	if len(d.Transitions) == 0 {
		return emptyChart(label, "No journey events yet: nothing to show.", chartW)
	}
	cell := map[[2]string]uint64{}
	rowSum := map[string]uint64{}
	hasFirst := false
	var maxSwitch uint64
	for _, t := range d.Transitions {
		cell[[2]string{t.From, t.To}] += t.Count
		rowSum[t.From] += t.Count
		if t.From == "" {
			hasFirst = true
		}
	}
	for k, n := range cell {
		if k[0] != "" && k[0] != k[1] && n > maxSwitch {
			maxSwitch = n
		}
	}
	rows := append([]string{}, chans...)
	if hasFirst {
		rows = append([]string{""}, rows...)
	}
	labelW := 170.0
	for _, c := range chans {
		labelW = math.Max(labelW, math.Min(textW(c, 12)+24, 180))
	}
	cw := math.Min(110, math.Max(56, (chartW-labelW-100)/float64(max(len(chans), 1))))
	const ch = 46.0
	top := 58.0
	w := labelW + cw*float64(len(chans)) + 90
	h := top + ch*float64(len(rows)) + 70
	s := svg{W: math.Max(w, 560), H: h, Label: label}

	// Axis titles.
	s.text(labelW+cw*float64(len(chans))/2, 16, "middle", "axis-title", "TO: channel of the event →")
	s.text(0, 38, "start", "axis-title", "FROM: previous channel ↓")
	for j, c := range chans {
		s.text(labelW+cw*(float64(j)+0.5), top-8, "middle", "lbl", fit(c, cw-8)).Tip = c
	}
	s.text(labelW+cw*float64(len(chans))+45, top-8, "middle", "muted", "row total")
	for i, r := range rows {
		y := top + ch*float64(i)
		name := r
		if r == "" {
			name = firstLabel
		}
		s.text(labelW-10, y+ch/2+4, "end", "lbl", fit(name, labelW-16)).Tip = name
		for j, c := range chans {
			x := labelW + cw*float64(j)
			n := cell[[2]string{r, c}]
			fill, dark := "#ffffff", false
			switch {
			case r == c:
				fill = "#d1d5db"
			case n > 0:
				t := 0.12 + 0.88*float64(n)/float64(max(maxSwitch, 1))
				fill, dark = heat(t), t > 0.55
			}
			tip := fmt.Sprintf("%s → %s: %s events (%s of the events after %s)", name, c, thousands(n), pct(n, rowSum[r]), name)
			s.rect(x+1, y+1, cw-2, ch-2, fill, tip).Stroke = "#e5e7eb"
			if n == 0 {
				s.text(x+cw/2, y+ch/2+4, "middle", "muted", "·")
				continue
			}
			cls := "cell"
			if dark {
				cls = "cell on-dark"
			}
			s.text(x+cw/2, y+ch/2, "middle", cls, thousands(n))
			sub := "cell-sub"
			if dark {
				sub = "cell-sub on-dark"
			}
			s.text(x+cw/2, y+ch/2+14, "middle", sub, pct(n, rowSum[r]))
		}
		s.text(labelW+cw*float64(len(chans))+45, y+ch/2+4, "middle", "muted", thousands(rowSum[r]))
	}

	// Legend: five swatches of the switch scale, then the diagonal.
	ly := top + ch*float64(len(rows)) + 22
	s.text(labelW, ly+12, "start", "muted", "Channel switches:")
	lx := labelW + 112
	for k := 0; k < 5; k++ {
		t := 0.12 + 0.88*float64(k)/4
		s.rect(lx+float64(k)*34, ly, 34, 16, heat(t), "")
	}
	s.text(lx, ly+30, "start", "muted", "1 event")
	s.text(lx+170, ly+30, "end", "muted", thousands(maxSwitch)+" events")
	gx := lx + 200
	s.rect(gx, ly, 34, 16, "#d1d5db", "")
	s.text(gx+42, ly+12, "start", "muted", "stayed on the same channel (not on the colour scale)")
	s.text(gx, ly+30, "start", "muted", "Small number in each cell: share of the row (events after that channel).")
	return s
}

// pathsChart draws the top paths as chains of channel boxes ending in the
// purchase, with a bar of how many customers took each.
func pathsChart(d *Data, col map[string]string) svg {
	const label = "Top paths to first purchase: channels in order, consecutive events on one channel merged"
	p := d.Paths
	if len(p.Top) == 0 {
		return emptyChart(label, "No customer has purchased yet: no paths to show.", chartW)
	}
	const (
		rankW = 34.0
		barW  = 170.0 // the customers bar, before the path
		boxW  = 88.0
		boxH  = 26.0
		gap   = 24.0
		rowH  = 40.0
	)
	chainX := rankW + barW + 110
	var maxN uint64
	for _, path := range p.Top {
		maxN = max(maxN, path.Customers)
	}
	s := svg{W: chartW, Label: label}

	// Legend of channel colours.
	var seen []string
	for _, path := range p.Top {
		for _, c := range path.Channels {
			if !contains(seen, c) {
				seen = append(seen, c)
			}
		}
	}
	top := s.legend("Channel:", chainX, 3, chartW, seen, col) + 44
	s.H = top + rowH*float64(len(p.Top)) + 4
	s.text(rankW, top-14, "start", "axis-title", "CUSTOMERS (share of purchasers)")
	s.text(chainX, top-14, "start", "axis-title", "PATH: first touch → … → channel of the first purchase")

	for i, path := range p.Top {
		y := top + rowH*float64(i)
		cy := y + boxH/2
		s.text(rankW-8, cy+4, "end", "muted", fmt.Sprintf("#%d", i+1))
		bw := barW * float64(path.Customers) / float64(max(maxN, 1))
		s.rect(rankW, y+3, bw, boxH-6, "#9ca3af", "")
		s.text(rankW+bw+6, cy+4, "start", "val", fmt.Sprintf("%s (%s)", thousands(path.Customers), pct(path.Customers, p.Purchasers)))
		x := chainX
		for k, c := range elide(path.Channels) {
			if k > 0 {
				s.arrow(x-gap+3, x-3, cy)
			}
			if c.more > 0 {
				r := s.rect(x, y, boxW, boxH, "#ffffff", fmt.Sprintf("%d more steps", c.more))
				r.Stroke, r.R = "#9ca3af", 4
				s.text(x+boxW/2, cy+4, "middle", "muted", fmt.Sprintf("… %d more", c.more))
			} else {
				s.rect(x, y, boxW, boxH, col[c.name], c.name).R = 4
				// Bold white on colour: glyphs are wider than charW.
				s.text(x+boxW/2, cy+4, "middle", "box", clip(c.name, int((boxW-12)/7.6))).Tip = c.name
			}
			x += boxW + gap
		}
		if len(path.Channels) > 0 {
			s.arrow(x-gap+3, x-3, cy)
		}
		s.rect(x, y, 84, boxH, "#111827", "first purchase").R = 13
		s.text(x+42, cy+4, "middle", "box", "✓ purchase")
	}
	return s
}

type step struct {
	name string
	more int // > 0: stands for this many elided steps
}

// elide keeps paths of up to maxSteps channels and shortens longer ones to
// their first and last steps around a "… n more" step.
func elide(chans []string) []step {
	var out []step
	if len(chans) <= maxSteps {
		for _, c := range chans {
			out = append(out, step{name: c})
		}
		return out
	}
	head, tail := (maxSteps-1)/2, maxSteps-1-(maxSteps-1)/2
	for _, c := range chans[:head] {
		out = append(out, step{name: c})
	}
	out = append(out, step{more: len(chans) - head - tail})
	for _, c := range chans[len(chans)-tail:] {
		out = append(out, step{name: c})
	}
	return out
}

func contains(ss []string, s string) bool {
	for _, x := range ss {
		if x == s {
			return true
		}
	}
	return false
}

var funnelColors = []string{"#9ecae1", "#4292c6", "#08519c"}

// funnelChart draws one bar per funnel stage over a grey track standing for
// all customers, with the share of all customers and of the stage before.
func funnelChart(d *Data) svg {
	const label = "Stage funnel: customers who reached each stage"
	total := d.Totals.Customers
	for _, f := range d.Funnel {
		total = max(total, f.Customers)
	}
	if total == 0 || len(d.Funnel) == 0 {
		return emptyChart(label, "No customers yet: nothing to show.", chartW)
	}
	labelW := 130.0
	for _, f := range d.Funnel {
		labelW = math.Max(labelW, math.Min(textW(f.Stage, 13)+20, 200))
	}
	const (
		barH = 34.0
		rowH = 64.0
		top  = 12.0
	)
	barW := chartW - labelW - 250
	s := svg{W: chartW, H: top + rowH*float64(len(d.Funnel)) + 40, Label: label}
	for i, f := range d.Funnel {
		y := top + rowH*float64(i)
		s.text(labelW-12, y+barH/2+5, "end", "lbl-big", clip(f.Stage, 24)).Tip = f.Stage
		s.rect(labelW, y, barW, barH, "#f3f4f6", "all customers: "+thousands(total))
		w := barW * float64(f.Customers) / float64(max(total, 1))
		s.rect(labelW, y, w, barH, funnelColors[min(i, len(funnelColors)-1)], fmt.Sprintf("%s: %s customers", f.Stage, thousands(f.Customers)))
		s.text(labelW+barW+12, y+barH/2-2, "start", "val", thousands(f.Customers)+" customers")
		s.text(labelW+barW+12, y+barH/2+13, "start", "muted", pct(f.Customers, total)+" of all customers")
		if i > 0 {
			prev := d.Funnel[i-1].Customers
			s.text(labelW+8, y-8, "start", "muted", fmt.Sprintf("↓ %s of the %s stage went on to %s", pct(f.Customers, prev), d.Funnel[i-1].Stage, f.Stage))
		}
	}
	ay := top + rowH*float64(len(d.Funnel)) - rowH + barH + 10
	s.line(labelW, ay, labelW+barW, ay, "axis")
	for _, v := range []float64{0, 0.25, 0.5, 0.75, 1} {
		x := labelW + barW*v
		s.line(x, ay, x, ay+4, "axis")
		s.text(x, ay+17, "middle", "muted", thousands(uint64(math.Round(v*float64(total)))))
	}
	s.text(labelW+barW/2, ay+32, "middle", "axis-title", "customers (grey track: all "+thousands(total)+" customers)")
	return s
}

// bucket is one bar of the triggers chart.
type bucket struct {
	start  time.Time
	label  string
	byRule map[string]uint64
	total  uint64
}

// triggerBuckets groups the per-day counts into days, or weeks or months
// when the range is too long for a bar per day.
func triggerBuckets(d *Data) (bs []bucket, unit string) {
	if len(d.Triggers) == 0 {
		return nil, "day"
	}
	first, last := d.Triggers[0].Day, d.Triggers[0].Day
	for _, t := range d.Triggers {
		if t.Day.Before(first) {
			first = t.Day
		}
		if t.Day.After(last) {
			last = t.Day
		}
	}
	days := int(last.Sub(first).Hours()/24) + 1
	unit = "day"
	key := func(t time.Time) time.Time { return t }
	next := func(t time.Time) time.Time { return t.AddDate(0, 0, 1) }
	format := "Jan 2"
	switch {
	case days > 730:
		unit, format = "month", "Jan 2006"
		key = func(t time.Time) time.Time { return time.Date(t.Year(), t.Month(), 1, 0, 0, 0, 0, time.UTC) }
		next = func(t time.Time) time.Time { return t.AddDate(0, 1, 0) }
	case days > 92:
		unit = "week"
		key = func(t time.Time) time.Time { return t.AddDate(0, 0, -((int(t.Weekday()) + 6) % 7)) } // Monday
		next = func(t time.Time) time.Time { return t.AddDate(0, 0, 7) }
	}
	if first.Year() != last.Year() && unit != "month" {
		format = "Jan 2 2006"
	}
	idx := map[time.Time]int{}
	for t := key(first); !t.After(last); t = next(t) {
		idx[t] = len(bs)
		bs = append(bs, bucket{start: t, label: t.Format(format), byRule: map[string]uint64{}})
	}
	for _, t := range d.Triggers {
		b := &bs[idx[key(t.Day)]]
		b.byRule[t.Rule] += t.Count
		b.total += t.Count
	}
	return bs, unit
}

// ruleOrder lists the rules by triggers fired, most first.
func ruleOrder(d *Data) []string {
	n := map[string]uint64{}
	for _, t := range d.Triggers {
		n[t.Rule] += t.Count
	}
	rules := make([]string, 0, len(n))
	for r := range n {
		rules = append(rules, r)
	}
	sort.Slice(rules, func(i, j int) bool {
		if n[rules[i]] != n[rules[j]] {
			return n[rules[i]] > n[rules[j]]
		}
		return rules[i] < rules[j]
	})
	return rules
}

// triggersChart draws stacked bars of triggers per day (or week, month) and
// rule. Without triggers it still draws the axes, over the week up to the
// last event (or the report's date), with the message across the plot.
func triggersChart(d *Data, rules []string, col map[string]string) svg {
	const label = "Triggers fired per day, by rule"
	bs, unit := triggerBuckets(d)
	const (
		left   = 64.0
		right  = 16.0
		plotH  = 220.0
		bottom = 56.0
	)
	s := svg{W: chartW, Label: label}
	empty := len(bs) == 0
	top := 44.0
	if !empty {
		top = s.legend("Rule:", left, 5, chartW, rules, col) + 24
	}
	s.H = top + plotH + bottom
	if empty {
		end := d.Totals.Last
		if end.IsZero() {
			end = d.GeneratedAt
		}
		end = time.Date(end.Year(), end.Month(), end.Day(), 0, 0, 0, 0, time.UTC)
		for i := 6; i >= 0; i-- {
			day := end.AddDate(0, 0, -i)
			bs = append(bs, bucket{start: day, label: day.Format("Jan 2")})
		}
	}
	var maxT uint64
	for _, b := range bs {
		maxT = max(maxT, b.total)
	}
	ticks := niceTicks(float64(maxT), 5)
	ymax := ticks[len(ticks)-1]
	plotW := chartW - left - right
	y := func(v float64) float64 { return top + plotH - plotH*v/ymax }

	s.text(left-8, top-12, "end", "axis-title", "triggers")
	for _, t := range ticks {
		s.line(left, y(t), left+plotW, y(t), "grid")
		s.text(left-8, y(t)+4, "end", "muted", thousands(uint64(t)))
	}
	s.line(left, top, left, top+plotH, "axis")
	s.line(left, top+plotH, left+plotW, top+plotH, "axis")

	bw := plotW / float64(len(bs))
	every := int(math.Ceil((textW(bs[0].label, 11) + 12) / bw))
	for i, b := range bs {
		x := left + bw*float64(i)
		if i%max(every, 1) == 0 {
			s.line(x+bw/2, top+plotH, x+bw/2, top+plotH+4, "axis")
			s.text(x+bw/2, top+plotH+18, "middle", "muted", b.label)
		}
		acc := 0.0
		for _, r := range rules {
			n := b.byRule[r]
			if n == 0 {
				continue
			}
			h := plotH * float64(n) / ymax
			bar := math.Min(bw*0.7, 64)
			s.rect(x+(bw-bar)/2, y(acc)-h, bar, h, col[r], fmt.Sprintf("%s, %s: %s triggers", b.label, r, thousands(n)))
			acc += float64(n)
		}
		if b.total > 0 && bw >= 14 {
			s.text(x+bw/2, y(acc)-5, "middle", "val-small", thousands(b.total))
		}
	}
	s.text(left+plotW/2, top+plotH+42, "middle", "axis-title", unit+" (UTC)")
	if empty {
		s.text(left+plotW/2, top+plotH/2, "middle", "empty-msg", "No triggers fired yet")
	}
	return s
}

// hbars draws one labelled horizontal bar per count, the value at its end.
func hbars(label string, cs []Count, color string, unit [2]string, emptyMsg string) svg {
	if len(cs) == 0 {
		return emptyChart(label, emptyMsg, smallW)
	}
	labelW := 60.0
	for _, c := range cs {
		labelW = math.Max(labelW, math.Min(textW(c.Label, 12)+16, 190))
	}
	var maxN uint64
	for _, c := range cs {
		maxN = max(maxN, c.N)
	}
	valW := textW(thousands(maxN)+" "+unit[1], 12) + 16
	const rowH = 26.0
	barW := smallW - labelW - valW
	s := svg{W: smallW, H: rowH*float64(len(cs)) + 8, Label: label}
	for i, c := range cs {
		y := 4 + rowH*float64(i)
		s.text(labelW-8, y+rowH/2+4, "end", "lbl", fit(c.Label, labelW-16)).Tip = c.Label
		w := barW * float64(c.N) / float64(max(maxN, 1))
		s.rect(labelW, y+3, w, rowH-6, color, c.Label+": "+count(c.N, unit))
		s.text(labelW+w+6, y+rowH/2+4, "start", "val", count(c.N, unit))
	}
	return s
}
