package report

import (
	"bytes"
	_ "embed"
	"fmt"
	"html/template"
	"io"
	"sort"
	"strings"
	"time"
)

//go:embed report.html.tmpl
var pageSource string

var pageTmpl = template.Must(template.New("page").Funcs(template.FuncMap{"num": num}).Parse(pageSource))

// page is what the template shows: sections of charts and tables, all
// strings still unescaped (the template escapes them).
type page struct {
	Title    string
	Subtitle string
	Stats    []stat
	Range    string
	Sections []section
}

type stat struct {
	Label, Value, Note string
}

// section is a chart with its explanation and the numbers behind it; Subs
// are small charts shown side by side (stitching health).
type section struct {
	ID, Title, Lead  string
	Empty, EmptyText string // an explanatory panel, shown when Empty is set
	Chart            *svg
	Tables           []table
	Subs             []section
}

type table struct {
	Caption string
	Head    []string
	Rows    [][]string
	Foot    []string
	Open    bool   // show the table expanded
	Class   string // "text2": the second column is text (left-aligned, wraps)
}

// Render writes the report page for d to w. It reads nothing but d: no
// clock, no files, no network. The page is self-contained (inline CSS and
// SVG, no scripts) and forbids itself any request with a
// Content-Security-Policy, so a reference to anything outside would show as
// a console error in a browser rather than load.
func Render(w io.Writer, d *Data) error {
	if d == nil {
		d = &Data{}
	}
	var buf bytes.Buffer
	if err := pageTmpl.Execute(&buf, build(d)); err != nil {
		return fmt.Errorf("report: render: %w", err)
	}
	if _, err := w.Write(buf.Bytes()); err != nil {
		return fmt.Errorf("report: write: %w", err)
	}
	return nil
}

func build(d *Data) *page {
	t := d.Totals
	p := &page{Title: "Omnistitch report"}
	var sub []string
	if d.Database != "" {
		sub = append(sub, "database "+d.Database)
	}
	if d.Server != "" {
		sub = append(sub, "ClickHouse "+d.Server)
	}
	if !d.GeneratedAt.IsZero() {
		sub = append(sub, "generated "+d.GeneratedAt.UTC().Format("2006-01-02 15:04:05 UTC"))
	}
	p.Subtitle = strings.Join(sub, " · ")
	p.Stats = []stat{
		{"Customers", thousands(t.Customers), "stitched profiles"},
		{"Events", thousands(t.Events), "journey rows"},
		{"Merges", thousands(t.Merges), "customers joined"},
		{"Conflicts", thousands(t.Conflicts), "links refused"},
		{"Identifiers", thousands(t.Identifiers), "in the identity map"},
		{"Triggers", thousands(t.Triggers), "fired"},
	}
	if t.Events > 0 && !t.First.IsZero() {
		p.Range = fmt.Sprintf("Events from %s to %s UTC (%s)", t.First.UTC().Format("2006-01-02 15:04:05"),
			t.Last.UTC().Format("2006-01-02 15:04:05"), span(t.Last.Sub(t.First)))
	} else {
		p.Range = "No events yet"
	}

	chans := channelOrder(d)
	col := colors(chans)
	rules := ruleOrder(d)
	rcol := map[string]string{}
	for i, r := range rules {
		rcol[r] = palette[i%len(palette)]
	}
	p.Sections = []section{
		transitionsSection(d, chans),
		pathsSection(d, col),
		funnelSection(d),
		triggersSection(d, rules, rcol),
		healthSection(d),
	}
	return p
}

// span formats a duration in days, hours, minutes and seconds.
func span(d time.Duration) string {
	if d < time.Minute {
		return d.Round(time.Second).String()
	}
	days := int(d / (24 * time.Hour))
	d -= time.Duration(days) * 24 * time.Hour
	s := d.Round(time.Minute).String()
	s = strings.TrimSuffix(s, "0s")
	if days > 0 {
		return fmt.Sprintf("%dd %s", days, s)
	}
	return s
}

func transitionsSection(d *Data, chans []string) section {
	s := heatmap(d, chans)
	sec := section{
		ID:    "transitions",
		Title: "Channel transitions",
		Lead: "Where customers go next. Each cell counts events on the column's channel whose previous event (same customer) " +
			"was on the row's channel; the first row counts customers' first events. Darker blue = more switches between channels.",
		Chart: &s,
	}
	if len(d.Transitions) == 0 {
		return sec
	}
	cell := map[[2]string]uint64{}
	var hasFirst bool
	for _, t := range d.Transitions {
		cell[[2]string{t.From, t.To}] += t.Count
		hasFirst = hasFirst || t.From == ""
	}
	tb := table{Caption: "Events by previous channel (rows) and channel (columns)", Head: append(append([]string{"from \\ to"}, chans...), "total"), Open: true}
	rows := chans
	if hasFirst {
		rows = append([]string{""}, chans...)
	}
	colSum := make([]uint64, len(chans))
	var all uint64
	for _, r := range rows {
		name := r
		if r == "" {
			name = firstLabel
		}
		line := []string{name}
		var sum uint64
		for j, c := range chans {
			n := cell[[2]string{r, c}]
			line = append(line, thousands(n))
			sum += n
			colSum[j] += n
		}
		all += sum
		tb.Rows = append(tb.Rows, append(line, thousands(sum)))
	}
	tb.Foot = []string{"total"}
	for _, n := range colSum {
		tb.Foot = append(tb.Foot, thousands(n))
	}
	tb.Foot = append(tb.Foot, thousands(all))
	sec.Tables = []table{tb}
	return sec
}

func pathsSection(d *Data, col map[string]string) section {
	s := pathsChart(d, col)
	p := d.Paths
	var covered uint64
	for _, path := range p.Top {
		covered += path.Customers
	}
	lead := "How purchasing customers got to their first purchase: the channels of their events in order, " +
		"consecutive events on the same channel shown once, ending on the channel of the purchase."
	if p.Purchasers > 0 {
		lead += fmt.Sprintf(" These %d paths cover %s of the %s customers who purchased (%s distinct paths).",
			len(p.Top), thousands(covered), thousands(p.Purchasers), thousands(p.Distinct))
	}
	sec := section{ID: "paths", Title: "Top paths to first purchase", Lead: lead, Chart: &s}
	if len(p.Top) == 0 {
		return sec
	}
	tb := table{Head: []string{"#", "path", "steps", "customers", "share of purchasers"}, Open: true, Class: "text2"}
	for i, path := range p.Top {
		tb.Rows = append(tb.Rows, []string{fmt.Sprint(i + 1), strings.Join(path.Channels, " → ") + " → purchase",
			fmt.Sprint(len(path.Channels)), thousands(path.Customers), pct(path.Customers, p.Purchasers)})
	}
	sec.Tables = []table{tb}
	return sec
}

func funnelSection(d *Data) section {
	s := funnelChart(d)
	sec := section{
		ID:    "funnel",
		Title: "Stage funnel",
		Lead: "Customers who reached each stage: with an event of that stage or of a later one " +
			"(a customer whose first event is a store purchase counts for every stage).",
		Chart: &s,
	}
	total := d.Totals.Customers
	tb := table{Head: []string{"stage", "customers reached", "of all customers", "of the stage before"}, Open: true}
	for i, f := range d.Funnel {
		prev := "–"
		if i > 0 {
			prev = pct(f.Customers, d.Funnel[i-1].Customers)
		}
		tb.Rows = append(tb.Rows, []string{f.Stage, thousands(f.Customers), pct(f.Customers, total), prev})
	}
	if len(d.Funnel) > 0 {
		sec.Tables = []table{tb}
	}
	if len(d.Stages) > 0 {
		st := table{Caption: "Customers with at least one event in each stage (all configured stages)", Head: []string{"stage", "customers", "of all customers"}, Open: true}
		for _, c := range d.Stages {
			st.Rows = append(st.Rows, []string{c.Label, thousands(c.N), pct(c.N, total)})
		}
		sec.Tables = append(sec.Tables, st)
	}
	return sec
}

func triggersSection(d *Data, rules []string, col map[string]string) section {
	s := triggersChart(d, rules, col)
	sec := section{
		ID:    "triggers",
		Title: "Triggers over time",
		Lead:  "Trigger events fired to orchestrators (the triggers view), per day of fired_at in UTC, stacked by rule.",
		Chart: &s,
	}
	if len(d.Triggers) == 0 {
		sec.Empty = "No triggers yet"
		sec.EmptyText = "The triggers view is empty: no rule has fired. Rules (configs/rules.yaml: cart_abandoned, first_purchase, " +
			"complaint_after_purchase, omnichannel_customer, …) write a row there each time they fire; absence rules fire " +
			"only once the watermark has passed their deadline."
		return sec
	}
	byRule := map[string]uint64{}
	first, last := map[string]time.Time{}, map[string]time.Time{}
	long := table{Caption: "Triggers per day and rule", Head: []string{"day (UTC)", "rule", "triggers"}}
	days := append([]TriggerCount(nil), d.Triggers...)
	sort.SliceStable(days, func(i, j int) bool {
		if !days[i].Day.Equal(days[j].Day) {
			return days[i].Day.Before(days[j].Day)
		}
		return days[i].Rule < days[j].Rule
	})
	for _, tc := range days {
		long.Rows = append(long.Rows, []string{tc.Day.UTC().Format("2006-01-02"), tc.Rule, thousands(tc.Count)})
		byRule[tc.Rule] += tc.Count
		if f, ok := first[tc.Rule]; !ok || tc.Day.Before(f) {
			first[tc.Rule] = tc.Day
		}
		if tc.Day.After(last[tc.Rule]) {
			last[tc.Rule] = tc.Day
		}
	}
	long.Open = len(long.Rows) <= 31
	long.Class = "text2"
	per := table{Caption: "Triggers per rule", Head: []string{"rule", "triggers", "first day", "last day"}, Open: true}
	var all uint64
	for _, r := range rules {
		per.Rows = append(per.Rows, []string{r, thousands(byRule[r]), first[r].UTC().Format("2006-01-02"), last[r].UTC().Format("2006-01-02")})
		all += byRule[r]
	}
	per.Foot = []string{"total", thousands(all), "", ""}
	sec.Tables = []table{per, long}
	return sec
}

func healthSection(d *Data) section {
	h := d.Health
	sub := func(id, title, lead string, cs []Count, color, unit, emptyMsg, labelHead string) section {
		s := hbars(title, cs, color, [2]string{strings.TrimSuffix(unit, "s"), unit}, emptyMsg)
		tb := table{Head: []string{labelHead, unit}, Open: len(cs) <= 12}
		var sum uint64
		for _, c := range cs {
			tb.Rows = append(tb.Rows, []string{c.Label, thousands(c.N)})
			sum += c.N
		}
		if len(cs) > 1 {
			tb.Foot = []string{"total", thousands(sum)}
		}
		sec := section{ID: id, Title: title, Lead: lead, Chart: &s}
		if len(cs) > 0 {
			sec.Tables = []table{tb}
		}
		return sec
	}
	return section{
		ID:    "health",
		Title: "Stitching health",
		Lead: fmt.Sprintf("How identifiers were stitched into %s: %s, %s (conflicts), %s linking nobody any more.",
			count(d.Totals.Customers, [2]string{"customer", "customers"}), count(d.Totals.Merges, [2]string{"merge", "merges"}),
			count(d.Totals.Conflicts, [2]string{"refused link", "refused links"}), count(sum(h.Shared), [2]string{"identifier", "identifiers"})),
		Subs: []section{
			sub("merges", "Merges by linking identifier", "Two customers found to be one person, by the type of the identifier that linked them.",
				h.MergesVia, "#4e79a7", "merges", "No merges yet.", "identifier type"),
			sub("conflicts", "Conflicts by reason", "Links refused by merge protection (per-type limits); the event stayed with its strongest identifier.",
				h.Conflicts, "#e15759", "conflicts", "No conflicts: no link was refused.", "reason"),
			sub("shared", "Shared identifiers (link nobody)", "Devices and cookies seen with too many people (a store's tablet, a family computer): they no longer link anyone.",
				h.Shared, "#f28e2b", "identifiers", "No shared identifiers.", "identifier type"),
			sub("idcount", "Customers by number of identifiers", "Customers with a single identifier are not linked to anything else (yet).",
				h.IDsPerCustomer, "#76b7b2", "customers", "No customers yet.", "identifiers"),
			sub("idmap", "Identity map by type", "Identifiers that currently point at a customer (the identities view).",
				h.Identifiers, "#59a14f", "identifiers", "The identity map is empty.", "identifier type"),
		},
	}
}

func sum(cs []Count) uint64 {
	var n uint64
	for _, c := range cs {
		n += c.N
	}
	return n
}
