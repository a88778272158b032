package gen

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"testing"
	"time"
)

// ---- a test-only reading of the SPEC, independent of the generator's code ----

type parsed struct {
	eventID, channel, typ string
	tsMillis              int64
	ids                   map[string]string
	props                 map[string]any
}

var specChannels = map[string]bool{"web": true, "store": true, "callcentre": true, "email": true}
var specTypes = map[string]bool{
	"page_view": true, "product_view": true, "add_to_cart": true, "checkout": true, "purchase": true,
	"call": true, "complaint": true, "email_sent": true, "email_open": true, "email_click": true,
	"login": true, "signup": true, "survey_response": true,
}
var specJunk = map[string]bool{
	"": true, "null": true, "undefined": true, "none": true, "nil": true, "nan": true, "0": true,
	"-1": true, "-": true, "unknown": true, "anonymous": true, "guest": true, "n/a": true,
	"[object object]": true,
}

func isJunk(typ, v string) bool {
	v = strings.ToLower(strings.TrimSpace(v))
	if specJunk[v] || strings.Trim(v, "0-") == "" {
		return true
	}
	return typ == "email" && v == "test@test.com"
}

// parseSpec validates a line against SPEC "Canonical event" / "Bad input".
func parseSpec(line []byte) (parsed, error) {
	var p parsed
	dec := json.NewDecoder(bytes.NewReader(line))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil {
		return p, err
	}
	if dec.More() {
		return p, errors.New("trailing data")
	}
	if m == nil {
		return p, errors.New("not an object")
	}
	str := func(k string) (string, error) {
		s, ok := m[k].(string)
		if !ok || s == "" {
			return "", fmt.Errorf("missing %s", k)
		}
		return s, nil
	}
	var err error
	if p.eventID, err = str("event_id"); err != nil {
		return p, err
	}
	if p.channel, err = str("channel"); err != nil {
		return p, err
	}
	if p.typ, err = str("type"); err != nil {
		return p, err
	}
	switch ts := m["ts"].(type) {
	case string:
		t, err := time.Parse(time.RFC3339Nano, ts)
		if err != nil {
			return p, err
		}
		p.tsMillis = t.UnixMilli()
	case json.Number:
		p.tsMillis, err = strconv.ParseInt(string(ts), 10, 64)
		if err != nil {
			return p, err
		}
	default:
		return p, errors.New("bad ts")
	}
	ids, ok := m["ids"].(map[string]any)
	if !ok {
		return p, errors.New("ids not an object")
	}
	p.ids = map[string]string{}
	usable := false
	for k, v := range ids {
		s, ok := v.(string)
		if !ok {
			return p, errors.New("non-string id")
		}
		p.ids[k] = s
		usable = usable || !isJunk(k, s)
	}
	if !usable {
		return p, errors.New("no usable identifier")
	}
	if pr, ok := m["props"]; ok {
		if p.props, ok = pr.(map[string]any); !ok {
			return p, errors.New("props not an object")
		}
	}
	return p, nil
}

// normPhone maps the German layouts to +49<digits>, default country 49.
func normPhone(s string) string {
	s = strings.TrimSpace(s)
	plus := strings.HasPrefix(s, "+")
	var d []byte
	for i := 0; i < len(s); i++ {
		if s[i] >= '0' && s[i] <= '9' {
			d = append(d, s[i])
		}
	}
	ds := string(d)
	switch {
	case plus:
		ds = strings.TrimPrefix(ds, "49")
	case strings.HasPrefix(ds, "00"):
		ds = strings.TrimPrefix(ds[2:], "49")
	}
	return "+49" + strings.TrimPrefix(ds, "0")
}

func normID(typ, v string) string {
	switch typ {
	case "email":
		return strings.ToLower(strings.TrimSpace(v))
	case "phone":
		return normPhone(v)
	}
	return strings.TrimSpace(v)
}

func isTablet(typ, v string) bool { return typ == "device" && strings.HasPrefix(v, "dv-tablet-") }

// ---- tests ----

func TestNormPhoneLayouts(t *testing.T) {
	for _, s := range []string{"+49 30 1234567", "0049 30 1234567", "030 1234567", "(030) 1234567", "+49-30-1234567", "+49 (0)30 1234567", "+49301234567"} {
		if got := normPhone(s); got != "+49301234567" {
			t.Errorf("normPhone(%q) = %q", s, got)
		}
	}
	var b []byte
	for f := range phoneFormats {
		b = appendPhone(b[:0], phoneNum{area: 3, sub: 12345678}, f)
		if got := normPhone(string(b)); got != "+4915112345678" {
			t.Errorf("format %d: %q → %q", f, b, got)
		}
	}
}

func TestDeterministic(t *testing.T) {
	o := Options{Seed: 42, Customers: 300}
	a, b := All(o), All(o)
	if len(a) != len(b) {
		t.Fatalf("lengths differ: %d vs %d", len(a), len(b))
	}
	for i := range a {
		if !bytes.Equal(a[i].Line, b[i].Line) || a[i].EventID != b[i].EventID || a[i].Valid != b[i].Valid ||
			a[i].Dup != b[i].Dup || a[i].Truth != b[i].Truth || a[i].TSMillis != b[i].TSMillis {
			t.Fatalf("record %d differs:\n%s\n%s", i, a[i].Line, b[i].Line)
		}
	}
	c := All(Options{Seed: 43, Customers: 300})
	same := len(a) == len(c)
	for i := 0; same && i < len(a); i++ {
		same = bytes.Equal(a[i].Line, c[i].Line)
	}
	if same {
		t.Fatal("different seeds gave identical streams")
	}
	// Next after the end stays at the end.
	g := New(Options{Seed: 1, Customers: 5})
	for _, ok := g.Next(); ok; _, ok = g.Next() {
	}
	if _, ok := g.Next(); ok {
		t.Fatal("Next returned a record after the end")
	}
}

func TestLinesAgainstSpec(t *testing.T) {
	recs := All(Options{Seed: 7, Customers: 1000})
	prefix := map[string]string{"web": "web-", "store": "pos-", "callcentre": "cc-", "email": "esp-"}
	seen := map[string]int{}
	var invalid, epoch, offset int
	for i, r := range recs {
		if bytes.ContainsAny(r.Line, "\n\r") {
			t.Fatalf("record %d contains a newline", i)
		}
		p, err := parseSpec(r.Line)
		if !r.Valid {
			invalid++
			if err == nil {
				t.Errorf("record %d marked invalid but passes the SPEC checks: %s", i, r.Line)
			}
			if r.Truth != -1 || r.Dup {
				t.Errorf("invalid record %d has Truth %d Dup %v", i, r.Truth, r.Dup)
			}
			if r.EventID != "" {
				var m map[string]any
				if json.Unmarshal(r.Line, &m) != nil || m["event_id"] != r.EventID {
					t.Errorf("invalid record %d: EventID %q does not match line %s", i, r.EventID, r.Line)
				}
				if _, dup := seen[r.EventID]; dup {
					t.Errorf("invalid record %d reuses event_id %q", i, r.EventID)
				}
				seen[r.EventID] = -1
			}
			continue
		}
		if err != nil {
			t.Fatalf("valid record %d fails SPEC checks (%v): %s", i, err, r.Line)
		}
		if p.eventID != r.EventID || p.tsMillis != r.TSMillis {
			t.Fatalf("record %d: fields %q/%d disagree with line %s", i, r.EventID, r.TSMillis, r.Line)
		}
		if !specChannels[p.channel] || !specTypes[p.typ] || !strings.HasPrefix(p.eventID, prefix[p.channel]) {
			t.Fatalf("record %d: bad channel/type/prefix: %s", i, r.Line)
		}
		if n := len(p.ids); n < 1 || n > 3 {
			t.Errorf("record %d carries %d identifiers: %s", i, n, r.Line)
		}
		switch ts := bytes.Index(r.Line, []byte(`"ts":`)); {
		case r.Line[ts+5] != '"':
			epoch++
		case bytes.Contains(r.Line[ts:ts+40], []byte("+01:00")):
			offset++
		}
		if r.Dup {
			j, ok := seen[r.EventID]
			if !ok || j < 0 || !bytes.Equal(recs[j].Line, r.Line) {
				t.Fatalf("dup record %d does not repeat an earlier valid line: %s", i, r.Line)
			}
			if r.Truth != -1 {
				t.Errorf("dup record %d has Truth %d", i, r.Truth)
			}
			continue
		}
		if _, dup := seen[r.EventID]; dup {
			t.Fatalf("record %d: event_id %q not unique", i, r.EventID)
		}
		seen[r.EventID] = i
		if r.Truth < 0 || r.Truth >= 1000 {
			t.Fatalf("record %d: Truth %d", i, r.Truth)
		}
		switch p.typ {
		case "purchase":
			total, _ := p.props["total"].(json.Number)
			if p.props["currency"] != "EUR" || !strings.Contains(string(r.Line), `"total":`+string(total)+`,`) ||
				len(total) < 4 || total[len(total)-3] != '.' {
				t.Errorf("record %d: purchase props %v", i, p.props)
			}
			if p.props["store_id"] == nil && p.props["order_id"] == nil {
				t.Errorf("record %d: purchase without store_id/order_id", i)
			}
		case "survey_response":
			s, err := p.props["score"].(json.Number).Int64()
			if err != nil || s < 0 || s > 10 {
				t.Errorf("record %d: survey score %v", i, p.props["score"])
			}
		case "page_view":
			if u, _ := p.props["url"].(string); !strings.HasPrefix(u, "https://") {
				t.Errorf("record %d: page_view without url", i)
			}
		}
	}
	if invalid == 0 || epoch == 0 || offset == 0 {
		t.Errorf("expected some invalid lines (%d), epoch-ms ts (%d) and +01:00 ts (%d)", invalid, epoch, offset)
	}
}

// truthCheck rebuilds the grouping a perfect identifier stitcher would produce (union-find over
// normalised, non-junk, non-tablet identifiers) and compares it with Truth.
func truthCheck(t *testing.T, recs []Record, customers int) {
	t.Helper()
	parent := map[string]string{}
	var find func(string) string
	find = func(x string) string {
		p, ok := parent[x]
		if !ok || p == x {
			parent[x] = x
			return x
		}
		r := find(p)
		parent[x] = r
		return r
	}
	union := func(a, b string) { parent[find(a)] = find(b) }

	owner := map[string]int{}                      // identifier → truth group
	values := map[int]map[string]map[string]bool{} // group → type → distinct values
	var evs []string
	var truths []int
	for i, r := range recs {
		if !r.Valid || r.Dup {
			continue
		}
		p, err := parseSpec(r.Line)
		if err != nil {
			t.Fatalf("valid record %d: %v", i, err)
		}
		node := "ev:" + r.EventID
		find(node)
		real := 0
		for typ, v := range p.ids {
			if isJunk(typ, v) || isTablet(typ, v) {
				continue
			}
			real++
			key := typ + ":" + normID(typ, v)
			union(node, key)
			if o, ok := owner[key]; ok && o != r.Truth {
				t.Fatalf("identifier %s shared by truth groups %d and %d", key, o, r.Truth)
			}
			owner[key] = r.Truth
			if values[r.Truth] == nil {
				values[r.Truth] = map[string]map[string]bool{}
			}
			if values[r.Truth][typ] == nil {
				values[r.Truth][typ] = map[string]bool{}
			}
			values[r.Truth][typ][key] = true
		}
		if real == 0 {
			t.Fatalf("valid record %d has no usable identifier: %s", i, r.Line)
		}
		evs = append(evs, node)
		truths = append(truths, r.Truth)
	}
	compTruth := map[string]int{}
	truthComp := map[int]string{}
	for i, node := range evs {
		c := find(node)
		if tr, ok := compTruth[c]; ok && tr != truths[i] {
			t.Fatalf("component joins truth groups %d and %d", tr, truths[i])
		}
		compTruth[c] = truths[i]
		if c2, ok := truthComp[truths[i]]; ok && c2 != c {
			t.Fatalf("truth group %d is split over several identifier components", truths[i])
		}
		truthComp[truths[i]] = c
	}
	if len(truthComp) != customers {
		t.Errorf("%d truth groups, want one per person (%d)", len(truthComp), customers)
	}
	limits := map[string]int{"crm": 1, "user": 1, "loyalty": 1, "email": 2, "phone": 2, "cookie": 4, "device": 2}
	for g, types := range values {
		for typ, vs := range types {
			if len(vs) > limits[typ] {
				t.Errorf("group %d has %d distinct %s values (limit %d): %v", g, len(vs), typ, limits[typ], vs)
			}
		}
	}
}

func TestTruthIsPerfectStitching(t *testing.T) {
	for _, o := range []Options{
		{Seed: 1, Customers: 20},
		{Seed: 3, Customers: 1000},
		{Seed: 5, Customers: 500, Events: 30000, MalformedShare: 0.05, DuplicateShare: 0.05, LateShare: 0.3},
		{Seed: 9, Customers: 400, Clean: true},
		{Seed: 11, Customers: 300, Events: 150}, // fewer events than persons: one each
		{Seed: 12, Customers: 1}, {Seed: 13, Customers: 2}, {Seed: 14, Customers: 7},
	} {
		t.Run(fmt.Sprintf("seed%d_n%d", o.Seed, o.Customers), func(t *testing.T) {
			truthCheck(t, All(o), o.Customers)
		})
	}
}

func TestSharedTablets(t *testing.T) {
	for _, o := range []Options{{Seed: 1, Customers: 20}, {Seed: 2, Customers: 1000}, {Seed: 4, Customers: 5000, Events: 40000}} {
		users := map[string]map[int]bool{}
		cards := map[string]map[string]bool{}
		for _, r := range All(o) {
			if !r.Valid || r.Dup {
				continue
			}
			p, _ := parseSpec(r.Line)
			tab := p.ids["device"]
			if !isTablet("device", tab) {
				continue
			}
			if p.channel != "store" {
				t.Errorf("tablet outside a store: %s", r.Line)
			}
			own := false
			for _, typ := range []string{"loyalty", "phone"} {
				if v, ok := p.ids[typ]; ok && !isJunk(typ, v) {
					own = true
					if cards[tab] == nil {
						cards[tab] = map[string]bool{}
					}
					cards[tab][typ+":"+normID(typ, v)] = true
				}
			}
			if !own {
				t.Errorf("tablet event without the person's own loyalty/phone: %s", r.Line)
			}
			if users[tab] == nil {
				users[tab] = map[int]bool{}
			}
			users[tab][r.Truth] = true
		}
		if len(users) == 0 {
			t.Fatalf("%+v: no shared tablets", o)
		}
		for tab, u := range users {
			if len(u) < minTabletPersons {
				t.Errorf("%+v: tablet %s used by only %d persons", o, tab, len(u))
			}
			perType := map[string]int{}
			for v := range cards[tab] {
				perType[strings.SplitN(v, ":", 2)[0]]++
			}
			if perType["loyalty"] <= 3 && perType["phone"] <= 3 {
				t.Errorf("%+v: tablet %s seen with only %v distinct values; shared_after=3 would not trigger", o, tab, perType)
			}
		}
	}
}

func TestOrderingLateAndShares(t *testing.T) {
	o := Options{Seed: 8, Customers: 2000, MalformedShare: 0.02, DuplicateShare: 0.03, LateShare: 0.2}
	recs := All(o)
	var valid, malformed, dups, store, late int
	maxTS := int64(math.MinInt64)
	first := true
	for i, r := range recs {
		switch {
		case !r.Valid:
			malformed++
			continue
		case r.Dup:
			dups++
			continue
		}
		valid++
		if first {
			first = false
			if r.TSMillis != defaultStart.UnixMilli() {
				t.Errorf("first event at %d, want Start", r.TSMillis)
			}
		}
		isStore := strings.HasPrefix(r.EventID, "pos-")
		if isStore {
			store++
		}
		if r.TSMillis < maxTS {
			if !isStore {
				t.Fatalf("record %d: non-store event out of order: %s", i, r.Line)
			}
			late++
		}
		maxTS = max(maxTS, r.TSMillis)
	}
	lines := float64(len(recs))
	if got := float64(malformed) / lines; math.Abs(got-0.02) > 0.005 {
		t.Errorf("malformed share %.4f, want ~0.02", got)
	}
	if got := float64(dups) / float64(valid); math.Abs(got-0.03) > 0.006 {
		t.Errorf("duplicate share %.4f, want ~0.03", got)
	}
	if got := float64(late) / float64(store); got < 0.15 || got > 0.21 {
		t.Errorf("late store share %.4f, want ~0.2 (a few late ones can land in order)", got)
	}
	if got := float64(valid) / 40000; got < 0.85 || got > 1.15 {
		t.Errorf("%d valid events, want ~40000", valid)
	}
	span := float64(maxTS-defaultStart.UnixMilli()) / float64(valid)
	if span < 1000 || span > 6000 {
		t.Errorf("mean spacing %.0f ms, want a few seconds", span)
	}
}

func TestDefaultsAndCustomStart(t *testing.T) {
	start := time.Date(2027, 3, 5, 8, 0, 0, 0, time.UTC)
	recs := All(Options{Seed: 2, Customers: 100, Start: start})
	var valid, malformed, dups int
	for _, r := range recs {
		switch {
		case !r.Valid:
			malformed++
		case r.Dup:
			dups++
		default:
			if valid == 0 && r.TSMillis != start.UnixMilli() {
				t.Errorf("first event %d, want %d", r.TSMillis, start.UnixMilli())
			}
			valid++
		}
	}
	if valid < 1600 || valid > 2400 {
		t.Errorf("default Events: %d valid events, want ~2000", valid)
	}
	if malformed == 0 || dups == 0 {
		t.Errorf("defaults should include malformed (%d) and duplicates (%d)", malformed, dups)
	}
}

func TestClean(t *testing.T) {
	recs := All(Options{Seed: 5, Customers: 1000, Clean: true})
	maxTS := int64(math.MinInt64)
	for i, r := range recs {
		if !r.Valid || r.Dup {
			t.Fatalf("record %d: clean stream has invalid/dup line: %s", i, r.Line)
		}
		if r.TSMillis < maxTS {
			t.Fatalf("record %d: clean stream out of order", i)
		}
		maxTS = r.TSMillis
		p, _ := parseSpec(r.Line)
		for typ, v := range p.ids {
			if isJunk(typ, v) || isTablet(typ, v) {
				t.Fatalf("record %d: clean stream has junk/tablet %s=%q", i, typ, v)
			}
		}
	}
}

func TestVariantsAndPersonas(t *testing.T) {
	g := New(Options{Seed: 6, Customers: 1000})
	var kinds [numPersonas]int
	for i := range g.persons {
		kinds[g.persons[i].kind]++
	}
	for k, n := range kinds {
		if want := int(personaShare[k] * 1000); n != want {
			t.Errorf("persona %s: %d persons, want %d", personaName[k], n, want)
		}
	}
	var recs []Record
	for r, ok := g.Next(); ok; r, ok = g.Next() {
		recs = append(recs, r)
	}
	phoneRaw := map[string]map[string]bool{}
	var upperEmail, spacedEmail, junk int
	channels := map[int]map[string]bool{}
	for _, r := range recs {
		if !r.Valid || r.Dup {
			continue
		}
		p, _ := parseSpec(r.Line)
		if channels[r.Truth] == nil {
			channels[r.Truth] = map[string]bool{}
		}
		channels[r.Truth][p.channel] = true
		for typ, v := range p.ids {
			switch {
			case isJunk(typ, v):
				junk++
			case typ == "phone":
				n := normPhone(v)
				if phoneRaw[n] == nil {
					phoneRaw[n] = map[string]bool{}
				}
				phoneRaw[n][v] = true
			case typ == "email":
				if v != strings.TrimSpace(v) {
					spacedEmail++
				}
				if v != strings.ToLower(v) {
					upperEmail++
				}
			}
		}
	}
	multi := 0
	for _, raws := range phoneRaw {
		if len(raws) > 1 {
			multi++
		}
	}
	if multi < len(phoneRaw)/3 || upperEmail == 0 || spacedEmail == 0 || junk == 0 {
		t.Errorf("variants: %d/%d phones in several layouts, %d upper-case e-mails, %d spaced e-mails, %d junk ids",
			multi, len(phoneRaw), upperEmail, spacedEmail, junk)
	}
	four := 0
	for tr, ch := range channels {
		if g.persons[tr].kind == anonBrowser && (len(ch) != 1 || !ch["web"]) {
			t.Errorf("anonymous browser %d on channels %v", tr, ch)
		}
		if len(ch) == 4 {
			four++
		}
	}
	if four < kinds[omnichannel]/4 {
		t.Errorf("only %d persons on all four channels", four)
	}
}

func TestScorePerfectAndLumped(t *testing.T) {
	recs := All(Options{Seed: 10, Customers: 500})
	perfect := map[string]string{}
	lumped := map[string]string{}
	for _, r := range recs {
		if r.Valid && !r.Dup {
			perfect[r.EventID] = "c" + strconv.Itoa(r.Truth)
			lumped[r.EventID] = "all"
		}
	}
	if p, r, f := Score(recs, perfect); p != 1 || r != 1 || f != 1 {
		t.Errorf("perfect: %v %v %v", p, r, f)
	}
	p, r, f := Score(recs, lumped)
	if r != 1 || p > 0.05 || f > 0.1 {
		t.Errorf("lumped: precision %v recall %v f1 %v", p, r, f)
	}
}

func TestScoreSmall(t *testing.T) {
	rec := func(id string, truth int) Record { return Record{EventID: id, Valid: true, Truth: truth} }
	recs := []Record{
		rec("a", 0), rec("b", 0), rec("c", 0), rec("d", 1), rec("e", 1),
		{EventID: "a", Valid: true, Dup: true, Truth: -1}, // redelivery: ignored
		{EventID: "", Valid: false, Truth: -1},            // dead letter: ignored
	}
	near := func(a, b float64) bool { return math.Abs(a-b) < 1e-12 }
	cases := []struct {
		name    string
		pred    map[string]string
		p, r, f float64
	}{
		// true pairs: ab ac bc de = 4
		{"split and crossed", map[string]string{"a": "x", "b": "x", "c": "y", "d": "y"}, 0.5, 0.25, 1.0 / 3},
		{"all singletons", map[string]string{}, 1, 0, 0},
		{"one over-merge", map[string]string{"a": "x", "b": "x", "c": "x", "d": "x", "e": "z"}, 0.5, 0.75, 0.6},
		{"exact", map[string]string{"a": "1", "b": "1", "c": "1", "d": "2", "e": "2", "zz": "1"}, 1, 1, 1},
		{"empty id is missing", map[string]string{"a": "", "b": "", "c": "q", "d": "w", "e": "w"}, 1, 0.25, 0.4},
	}
	for _, c := range cases {
		p, r, f := Score(recs, c.pred)
		if !near(p, c.p) || !near(r, c.r) || !near(f, c.f) {
			t.Errorf("%s: got %v %v %v, want %v %v %v", c.name, p, r, f, c.p, c.r, c.f)
		}
	}
}

func TestUniqueIDAllocation(t *testing.T) {
	seen := map[uint64]bool{}
	for n := range uint64(200_000) {
		v := permDigits(n, 6, 12345)
		if seen[v] || v < 100_000 {
			t.Fatalf("permDigits(%d) = %d repeats or is short", n, v)
		}
		seen[v] = true
	}
	var a idAlloc = newIDAlloc(1)
	phones := map[phoneNum]bool{}
	for i := range 100_000 {
		p := a.newPhone(i%len(phoneAreas), i%3 == 0)
		if phones[p] {
			t.Fatalf("phone %v allocated twice", p)
		}
		phones[p] = true
	}
}

func BenchmarkNext(b *testing.B) {
	g := New(Options{Seed: 1, Customers: 10000, Events: 1 << 30})
	b.ReportAllocs()
	for b.Loop() {
		if _, ok := g.Next(); !ok {
			b.Fatal("stream ended")
		}
	}
}
