package report

import (
	"math"
	"strconv"
	"unicode/utf8"
)

// An svg is a chart as plain shapes. The page template writes it out, so
// every string in it (labels, tooltips) is escaped by html/template like
// the rest of the page; nothing here builds markup.
type svg struct {
	W, H  float64
	Label string // accessible name and tooltip of the whole chart
	Items []shape
}

// shape is one SVG element. Kind selects which fields matter:
//
//	rect: X, Y, W, H, Fill, Stroke, R (corner radius), Tip
//	text: X, Y, Text, Anchor (start, middle, end), Class, Fill, Tip
//	line: X, Y, X2, Y2, Stroke, Class
//	path: D, Fill, Stroke, Class
type shape struct {
	Kind          string
	X, Y, W, H    float64
	X2, Y2, R     float64
	Fill, Stroke  string
	Class, Anchor string
	Text, Tip, D  string
}

func (s *svg) rect(x, y, w, h float64, fill, tip string) *shape {
	s.Items = append(s.Items, shape{Kind: "rect", X: x, Y: y, W: math.Max(w, 0), H: math.Max(h, 0), Fill: fill, Tip: tip})
	return &s.Items[len(s.Items)-1]
}

func (s *svg) text(x, y float64, anchor, class, text string) *shape {
	s.Items = append(s.Items, shape{Kind: "text", X: x, Y: y, Anchor: anchor, Class: class, Text: text})
	return &s.Items[len(s.Items)-1]
}

func (s *svg) line(x, y, x2, y2 float64, class string) {
	s.Items = append(s.Items, shape{Kind: "line", X: x, Y: y, X2: x2, Y2: y2, Class: class})
}

func (s *svg) path(d, fill, class string) {
	s.Items = append(s.Items, shape{Kind: "path", D: d, Fill: fill, Class: class})
}

// arrow draws a horizontal arrow from x to x2 at height y.
func (s *svg) arrow(x, x2, y float64) {
	s.line(x, y, x2-5, y, "arrow")
	s.path("M"+num(x2-6)+" "+num(y-4)+" L"+num(x2)+" "+num(y)+" L"+num(x2-6)+" "+num(y+4)+" Z", "#6b7280", "")
}

// legend draws a colour swatch and name per item from x to maxX, wrapping
// onto more lines as needed, and returns the y below it.
func (s *svg) legend(title string, x, y, maxX float64, names []string, col map[string]string) float64 {
	s.text(x, y+11, "start", "muted", title)
	x0 := x + textW(title, 11) + 10
	lx := x0
	for _, n := range names {
		l := clip(n, 28)
		w := 20 + textW(l, 12) + 18
		if lx > x0 && lx+w > maxX {
			lx, y = x0, y+20
		}
		s.rect(lx, y, 14, 14, col[n], n).R = 3
		s.text(lx+20, y+11, "start", "lbl", l).Tip = n
		lx += w
	}
	return y + 20
}

// num formats a coordinate: at most one decimal, no exponent.
func num(v float64) string {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return "0"
	}
	return strconv.FormatFloat(math.Round(v*10)/10, 'f', -1, 64)
}

// Text metrics for layout without a browser: an average glyph of the page
// font at 12px is about 6.6px wide. Good enough to size label columns and
// decide where labels fit; long labels are cut with an ellipsis and keep
// the full text in a tooltip and in the tables.
const charW = 6.6

func textW(s string, size float64) float64 {
	return float64(utf8.RuneCountInString(s)) * charW * size / 12
}

// fit shortens s, if needed, to about px wide at 12px.
func fit(s string, px float64) string {
	if textW(s, 12) <= px+0.5 {
		return s
	}
	return clip(s, int(px/charW))
}

// clip shortens s to at most n runes, ending in "…" when cut.
func clip(s string, n int) string {
	if n < 1 {
		n = 1
	}
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return string(r[:n-1]) + "…"
}

// niceTicks returns tick values from 0 to at least max, about n of them,
// stepping by 1, 2 or 5 times a power of ten (never below 1: the charts
// count things).
func niceTicks(max float64, n int) []float64 {
	if max <= 0 || math.IsNaN(max) || math.IsInf(max, 0) {
		max = 1
	}
	raw := max / float64(n)
	mag := math.Pow(10, math.Floor(math.Log10(raw)))
	step := mag
	for _, m := range []float64{1, 2, 5, 10} {
		if m*mag >= raw {
			step = m * mag
			break
		}
	}
	step = math.Max(step, 1)
	var ticks []float64
	for v := 0.0; ; v += step {
		ticks = append(ticks, v)
		if v >= max {
			break
		}
	}
	return ticks
}

// Colours. Channels and rules get colours from one qualitative palette
// (Tableau 10, distinguishable with the common colour-vision deficiencies
// when labelled, which every chart is).
var palette = []string{"#4e79a7", "#f28e2b", "#59a14f", "#b07aa1", "#e15759", "#76b7b2", "#edc948", "#ff9da7", "#9c755f", "#bab0ac"}

// The default channels keep their colours from report to report.
var channelColors = map[string]string{"web": "#4e79a7", "store": "#f28e2b", "callcentre": "#b07aa1", "email": "#59a14f"}

// colors assigns a colour to each name, in order, default channels first
// to their own.
func colors(names []string) map[string]string {
	m := map[string]string{}
	used := map[string]bool{}
	for _, n := range names {
		if c, ok := channelColors[n]; ok {
			m[n], used[c] = c, true
		}
	}
	free := []string{}
	for _, c := range palette {
		if !used[c] {
			free = append(free, c)
		}
	}
	i := 0
	for _, n := range names {
		if _, ok := m[n]; !ok {
			m[n] = free[i%len(free)]
			i++
		}
	}
	return m
}

// heat maps t in [0,1] to a sequential blue, light to dark.
func heat(t float64) string {
	t = math.Max(0, math.Min(1, t))
	lo := [3]float64{0xeb, 0xf3, 0xfb}
	hi := [3]float64{0x08, 0x45, 0x94}
	b := []byte{'#'}
	for i := range lo {
		v := int(math.Round(lo[i] + (hi[i]-lo[i])*t))
		b = append(b, "0123456789abcdef"[v>>4], "0123456789abcdef"[v&15])
	}
	return string(b)
}
