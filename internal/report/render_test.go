package report

import (
	"bytes"
	"encoding/xml"
	"fmt"
	"io"
	"regexp"
	"strings"
	"testing"
	"time"
)

// Strings that must come out as text, never as markup or a reference.
const (
	hostile  = `</script><b>bold</b>`
	hostile2 = `"'><svg onload=alert(1)>&amp;`
)

// sampleData is a small report with every chart filled and hostile
// strings wherever data reaches the page.
func sampleData() *Data {
	day := time.Date(2026, 11, 20, 0, 0, 0, 0, time.UTC)
	return &Data{
		Database:    "omnistitch",
		Server:      "18.16.1",
		GeneratedAt: time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC),
		Totals: Totals{Customers: 200, Events: 4281, Merges: 6, Conflicts: 4, Triggers: 9, Identifiers: 737,
			First: day, Last: day.Add(3*time.Hour + 20*time.Minute)},
		Transitions: []Transition{
			{"", "web", 140}, {"", "store", 60}, {"", hostile, 1},
			{"web", "web", 1589}, {"web", "email", 343}, {"web", "store", 117}, {"web", "callcentre", 70},
			{"email", "web", 304}, {"email", "email", 186}, {"email", "store", 131}, {"email", "callcentre", 63},
			{"store", "store", 468}, {"store", "email", 133}, {"store", "web", 118}, {"store", "callcentre", 139},
			{"callcentre", "callcentre", 161}, {"callcentre", "web", 82}, {"callcentre", "store", 122}, {"callcentre", "email", 55},
			{hostile, "web", 1},
		},
		Paths: Paths{Purchasers: 150, Distinct: 70, Top: []Path{
			{[]string{"store"}, 55},
			{[]string{"web"}, 13},
			{[]string{"web", "email", "web", "email", "web"}, 8},
			{[]string{"web", "email", "web", "email", "web", "email", "web", "email", "web"}, 7},
			{[]string{"web", "store"}, 6},
			{[]string{hostile, "store"}, 1},
		}},
		Funnel: []FunnelStage{{"awareness", 190}, {"consideration", 160}, {"purchase", 150}},
		Stages: []Count{{"purchase", 150}, {"consideration", 140}, {"awareness", 120}, {"service", 60}, {hostile2, 1}},
		Triggers: []TriggerCount{
			{day, "first_purchase", 3}, {day, "cart_abandoned", 2},
			{day.AddDate(0, 0, 2), "first_purchase", 1}, {day.AddDate(0, 0, 2), hostile, 3},
		},
		Health: Health{
			MergesVia:      []Count{{"phone", 3}, {"email", 2}, {hostile2, 1}},
			Conflicts:      []Count{{"merge_limit:loyalty", 4}, {hostile, 1}},
			Shared:         []Count{{"device", 1}},
			IDsPerCustomer: []Count{{"1", 20}, {"2", 60}, {"3", 70}, {"4", 30}, {"5+", 20}},
			Identifiers:    []Count{{"cookie", 225}, {"email", 138}, {"phone", 116}, {hostile, 1}},
		},
	}
}

// largeData has more of everything than fits comfortably: many and long
// channel and rule names, long paths, a year of triggers.
func largeData() *Data {
	d := sampleData()
	var chans []string
	for i := 0; i < 12; i++ {
		chans = append(chans, fmt.Sprintf("channel_%d_with_a_rather_long_name", i))
	}
	d.Transitions = nil
	for i, a := range append([]string{""}, chans...) {
		for j, b := range chans {
			d.Transitions = append(d.Transitions, Transition{a, b, uint64(1 + (i*7+j*13)%50)})
		}
	}
	d.Paths.Top = nil
	for i := 0; i < TopPaths; i++ {
		d.Paths.Top = append(d.Paths.Top, Path{chans[:1+i], uint64(100 - i)})
	}
	d.Triggers = nil
	day := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := 0; i < 400; i += 3 {
		d.Triggers = append(d.Triggers, TriggerCount{day.AddDate(0, 0, i), fmt.Sprintf("rule_number_%d_%s", i%15, hostile), uint64(i%40 + 1)})
	}
	return d
}

func render(t *testing.T, d *Data) string {
	t.Helper()
	var b bytes.Buffer
	if err := Render(&b, d); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

// wellFormed parses the page as XML with HTML's void elements and
// entities: every element closed in order, every attribute quoted, every
// entity known. It returns the elements seen, by name.
func wellFormed(t *testing.T, page string) map[string]int {
	t.Helper()
	dec := xml.NewDecoder(strings.NewReader(page))
	dec.Strict = true
	dec.Entity = xml.HTMLEntity
	seen := map[string]int{}
	var stack []string
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			line := strings.Split(page, "\n")
			n, _ := dec.InputPos()
			t.Fatalf("page is not well-formed: %v (line %d: %q)", err, n, line[min(n, len(line))-1])
		}
		switch el := tok.(type) {
		case xml.StartElement:
			seen[el.Name.Local]++
			stack = append(stack, el.Name.Local)
			for _, a := range el.Attr {
				if strings.HasPrefix(strings.ToLower(a.Name.Local), "on") {
					t.Errorf("event handler attribute %s=%q on <%s>", a.Name.Local, a.Value, el.Name.Local)
				}
			}
		case xml.EndElement:
			stack = stack[:len(stack)-1]
		}
	}
	if len(stack) != 0 {
		t.Fatalf("unclosed elements: %v", stack)
	}
	return seen
}

// A reference to anything outside the page: a URL in src, href, xlink:href
// or CSS url()/@import, or a protocol-relative one.
var externalRef = regexp.MustCompile(`(?i)(src|href)\s*=\s*["']?\s*(https?:|//|javascript:|data:)|url\(|@import`)

func TestRenderSelfContainedAndEscaped(t *testing.T) {
	for name, d := range map[string]*Data{"sample": sampleData(), "large": largeData(), "empty": {}, "nil": nil} {
		t.Run(name, func(t *testing.T) {
			page := render(t, d)
			seen := wellFormed(t, page)
			if seen["svg"] < 3 || strings.Count(page, "<svg") < 3 {
				t.Errorf("%d <svg> elements, want at least 3", seen["svg"])
			}
			for _, el := range []string{"script", "b", "img", "link", "iframe", "object", "embed", "image", "use", "foreignObject"} {
				if seen[el] > 0 {
					t.Errorf("page has %d <%s> element(s)", seen[el], el)
				}
			}
			for _, s := range []string{"http://", "https://"} {
				if strings.Contains(page, s) {
					t.Errorf("page contains %q: not self-contained", s)
				}
			}
			if m := externalRef.FindString(page); m != "" {
				t.Errorf("page references something outside: %q", m)
			}
			if !strings.Contains(page, `content="default-src 'none'; style-src 'unsafe-inline'"`) {
				t.Error("no Content-Security-Policy forbidding requests")
			}
			for _, title := range []string{"Channel transitions", "Top paths to first purchase", "Stage funnel", "Triggers over time", "Stitching health"} {
				if !strings.Contains(page, "<h2>"+title+"</h2>") {
					t.Errorf("no section %q", title)
				}
			}
			if d == nil || len(d.Triggers) == 0 {
				if !strings.Contains(page, "No triggers yet") || !strings.Contains(page, "No triggers fired yet") {
					t.Error("no explanation of the empty triggers chart")
				}
			}
		})
	}
}

func TestRenderEscapesData(t *testing.T) {
	page := render(t, sampleData())
	if strings.Contains(page, hostile) || strings.Contains(page, "<svg onload") || strings.Contains(page, "<b>") {
		t.Error("a hostile string reached the page unescaped")
	}
	// The hostile strings are there, as text: in table cells and SVG text.
	for _, want := range []string{`&lt;/script&gt;&lt;b&gt;bold&lt;/b&gt;`, `&#34;&#39;&gt;&lt;svg onload=alert(1)&gt;&amp;amp;`} {
		if n := strings.Count(page, want); n < 3 {
			t.Errorf("escaped %q appears %d times, want it in charts and tables", want, n)
		}
	}
	// Numbers behind the charts are in tables.
	for _, want := range []string{"<td>1,589</td>", "<td>web → email → web → email → web → purchase</td>", "<td>merge_limit:loyalty</td>", "<td>2026-11-22</td><td>first_purchase</td><td>1</td>"} {
		if !strings.Contains(page, want) {
			t.Errorf("no table cell %s", want)
		}
	}
	if !strings.Contains(page, "Events from 2026-11-20 00:00:00 to 2026-11-20 03:20:00 UTC (3h20m)") {
		t.Error("header has no time range")
	}
}

// Render reads nothing but its Data: the same Data gives the same bytes.
func TestRenderIsDeterministic(t *testing.T) {
	if a, b := render(t, sampleData()), render(t, sampleData()); a != b {
		t.Fatal("two renders of the same data differ")
	}
}

func TestTriggerBuckets(t *testing.T) {
	day := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	f := func(span int, wantUnit string, wantBuckets int) {
		t.Helper()
		d := &Data{Triggers: []TriggerCount{{day, "a", 1}, {day.AddDate(0, 0, span), "a", 2}}}
		bs, unit := triggerBuckets(d)
		var n uint64
		for _, b := range bs {
			n += b.total
		}
		if unit != wantUnit || len(bs) != wantBuckets || n != 3 {
			t.Errorf("span %d days: %d %s buckets holding %d, want %d %s holding 3", span, len(bs), unit, n, wantBuckets, wantUnit)
		}
		render(t, d)
	}
	f(0, "day", 1)
	f(6, "day", 7)
	f(92, "week", 14) // Thu 1 Jan 2026 is in the week of Mon 29 Dec
	f(800, "month", 27)
	f(20000, "month", 658)
}

func TestNiceTicks(t *testing.T) {
	f := func(max float64, want string) {
		t.Helper()
		var got []string
		for _, v := range niceTicks(max, 5) {
			got = append(got, num(v))
		}
		if g := strings.Join(got, " "); g != want {
			t.Errorf("niceTicks(%v) = %s, want %s", max, g, want)
		}
	}
	f(0, "0 1")
	f(1, "0 1")
	f(3, "0 1 2 3")
	f(7, "0 2 4 6 8")
	f(48, "0 10 20 30 40 50")
	f(1589, "0 500 1000 1500 2000")
}
