package event

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"
	"time"
)

// differentialSeeds are inputs where a hand-written JSON decoder is most
// likely to part ways with encoding/json.
var differentialSeeds = []string{
	// FuzzDecode's seeds.
	`{"event_id":"pos-S12-000913","channel":"store","type":"purchase","ts":"2026-11-20T10:00:00.123Z","ids":{"loyalty":"LC-0001","phone":"+49 30 1234567"},"props":{"store_id":"S12","total":59.90}}`,
	`{"event_id":"a","channel":"web","type":"t","ts":1795168800123,"ids":{"cookie":"x","loyalty":123}}`,
	`{"event_id":"a","channel":"web","type":"t","ts":"9999-12-31T23:59:59Z","ids":{"cookie":null},"props":{}}`,
	`{"event_id":"a","ts":"yesterday"}`,
	"{\"event_id\":\"\xff\",\"channel\":\"web\"}",
	`{}`,
	// Escapes and surrogates.
	`{"event_id":"a\"b\\c\/d\be\ff\ng\rh\ti\u00e9\u20AC","channel":"web","type":"t","ts":1,"ids":{"c\u006fokie":"\ud83d\ude00"}}`,
	`{"event_id":"\ud800","channel":"web","type":"t","ts":1,"ids":{"cookie":"\udc00\ud800\u0041\ud83d"}}`,
	`{"event_id":"\ud83d\ud83d\ude00","channel":"web","type":"t","ts":1,"ids":{"\udfff":"x"}}`,
	`{"event_id":"a\x","channel":"web","type":"t","ts":1,"ids":{"cookie":"x"}}`,
	`{"event_id":"a\u12","channel":"web","type":"t","ts":1,"ids":{"cookie":"x"}}`,
	`{"event_id":"a\'","channel":"web","type":"t","ts":1,"ids":{"cookie":"x"}}`,
	`{"event_id":"a\u0000","channel":"web","type":"t","ts":1,"ids":{"cookie":"x\u0000"}}`,
	"{\"event_id\":\"a\xed\xa0\x80\xc0\xaf\",\"channel\":\"web\",\"type\":\"t\",\"ts\":1,\"ids\":{\"c\xff\":\"\xfe\xef\xbf\xbd\"}}",
	"{\"event_id\":\"a\x7f\",\"channel\":\"web\",\"type\":\"t\",\"ts\":1,\"ids\":{\"cookie\":\"x\x1f\"}}",
	`{"event_id":"\u00a0 a \u2003","channel":" web\u0085","type":"\u3000t","ts":" 1 ","ids":{"cookie":" x "}}`,
	// Duplicate keys, case-insensitive and escaped names.
	`{"event_id":"a","event_id":"b","channel":"web","type":"t","ts":1,"ts":2,"ids":{"cookie":"x","cookie":null,"cookie":"y"},"ids":{"user":"u"}}`,
	`{"event_id":"a","channel":"web","type":"t","ts":1,"ids":{"cookie":"x"},"props":{"a":1},"props":null}`,
	`{"EVENT_ID":"a","Channel":"web","tYpE":"t","TS":1,"IDS":{"cookie":"x"},"Props":{}}`,
	"{\"event_id\":\"a\",\"channel\":\"web\",\"type\":\"t\",\"t\u017f\":1,\"id\u017f\":{\"cookie\":\"x\"},\"prop\u017f\":{}}",
	"{\"event_\u0130d\":\"a\",\"event_id\":\"b\",\"channel\":\"web\",\"type\":\"t\",\"ts\":1,\"ids\":{\"\u212aey\":\"x\",\"Key\":\"y\"}}",
	`{"\u0065vent_id":"a","\u0063hannel":"web","typ\u0065":"t","t\u0073":1,"\u0069ds":{"cookie":"x"}}`,
	`{"event_id":"a","channel":"web","type":"t","ts":1,"ids":{"cookie":"x","Cookie":"y","":"z"}}`,
	`{"event_id":"a","event_id":null,"channel":"web","type":"t","ts":1,"ids":{"cookie":"x"}}`,
	// Nested and odd values.
	`{"event_id":"a","channel":"web","type":"t","ts":1,"ids":{"cookie":"x"},"props":{"a":[1,{"b":[[],{}]},"}"],"c":{"d":null}},"x":[{"y":[true,false,null]}]}`,
	`{"event_id":"a","channel":"web","type":"t","ts":1,"ids":{"cookie":"x","device":[1]}}`,
	`{"event_id":"a","channel":"web","type":"t","ts":1,"ids":{"cookie":true}}`,
	`{"event_id":"a","channel":"web","type":"t","ts":1,"ids":{"cookie":null,"device":null}}`,
	`{"event_id":"a","channel":"web","type":"t","ts":1,"ids":{"cookie":"x"},"props":"{}"}`,
	`{"event_id":"a","channel":"web","type":"t","ts":1,"ids":{"cookie":"x"},"props":[]}`,
	`{"event_id":["a"],"channel":"web","type":"t","ts":1,"ids":{"cookie":"x"}}`,
	`{"event_id":"a","channel":{"web":1},"type":"t","ts":1,"ids":{"cookie":"x"}}`,
	// Numbers.
	`{"event_id":"a","channel":"web","type":"t","ts":-0,"ids":{"loyalty":-0,"crm":1e5,"user":-1.5E+10,"device":0.0e-0}}`,
	`{"event_id":"a","channel":"web","type":"t","ts":1e5,"ids":{"cookie":"x"}}`,
	`{"event_id":"a","channel":"web","type":"t","ts":01,"ids":{"cookie":"x"}}`,
	`{"event_id":"a","channel":"web","type":"t","ts":1,"ids":{"loyalty":01}}`,
	`{"event_id":"a","channel":"web","type":"t","ts":1,"ids":{"loyalty":-}}`,
	`{"event_id":"a","channel":"web","type":"t","ts":1,"ids":{"loyalty":1.}}`,
	`{"event_id":"a","channel":"web","type":"t","ts":1,"ids":{"loyalty":1e}}`,
	`{"event_id":"a","channel":"web","type":"t","ts":1,"ids":{"loyalty":.5}}`,
	`{"event_id":"a","channel":"web","type":"t","ts":1,"ids":{"loyalty":+5}}`,
	`{"event_id":"a","channel":"web","type":"t","ts":1e999999999999,"ids":{"loyalty":1E-999999999}}`,
	`{"event_id":"a","channel":"web","type":"t","ts":99999999999999999999,"ids":{"cookie":"x"}}`,
	`{"event_id":"a","channel":"web","type":"t","ts":-9223372036854775808,"ids":{"cookie":"x"}}`,
	`{"event_id":"a","channel":"web","type":"t","ts":"+1795168800123","ids":{"cookie":"x"}}`,
	`{"event_id":"a","channel":"web","type":"t","ts":"-62135596800000","ids":{"cookie":"x"}}`,
	`{"event_id":"a","channel":"web","type":"t","ts":"253402300800000","ids":{"cookie":"x"}}`,
	`{"event_id":"a","channel":"web","type":"t","ts":true,"ids":{"cookie":"x"}}`,
	`{"event_id":"a","channel":"web","type":"t","ts":{},"ids":{"cookie":"x"}}`,
	// Timestamps.
	`{"event_id":"a","channel":"web","type":"t","ts":"2024-02-29T23:59:59.9999999999-23:59","ids":{"cookie":"x"}}`,
	`{"event_id":"a","channel":"web","type":"t","ts":"2023-02-29T00:00:00Z","ids":{"cookie":"x"}}`,
	`{"event_id":"a","channel":"web","type":"t","ts":"0000-01-01T00:00:00Z","ids":{"cookie":"x"}}`,
	`{"event_id":"a","channel":"web","type":"t","ts":"0001-01-01T00:00:00+00:01","ids":{"cookie":"x"}}`,
	`{"event_id":"a","channel":"web","type":"t","ts":"9999-12-31T23:59:59-00:01","ids":{"cookie":"x"}}`,
	`{"event_id":"a","channel":"web","type":"t","ts":"2026-11-20T10:00:00,123Z","ids":{"cookie":"x"}}`,
	`{"event_id":"a","channel":"web","type":"t","ts":"2026-11-20T10:00:00.Z","ids":{"cookie":"x"}}`,
	`{"event_id":"a","channel":"web","type":"t","ts":"2026-11-20T1:00:00Z","ids":{"cookie":"x"}}`,
	`{"event_id":"a","channel":"web","type":"t","ts":"2026-11-20T10:00:00+24:00","ids":{"cookie":"x"}}`,
	`{"event_id":"a","channel":"web","type":"t","ts":"2026-11-20t10:00:00z","ids":{"cookie":"x"}}`,
	`{"event_id":"a","channel":"web","type":"t","ts":"2026-11-20T10:00:60Z","ids":{"cookie":"x"}}`,
	`{"event_id":"a","channel":"web","type":"t","ts":"2026-11-20T24:00:00Z","ids":{"cookie":"x"}}`,
	`{"event_id":"a","channel":"web","type":"t","ts":"2026-11-20T10:00:00","ids":{"cookie":"x"}}`,
	`{"event_id":"a","channel":"web","type":"t","ts":"\u0032026-11-20T10:00:00Z","ids":{"cookie":"x"}}`,
	`{"event_id":"a","channel":"web","type":"t","ts":"+2026-11-20T10:00:00Z","ids":{"cookie":"x"}}`,
	// White space, trailing garbage, BOM, NUL, framing.
	" \t\r\n{ \"event_id\" : \"a\" , \"channel\" :\"web\",\"type\":\"t\",\"ts\":1,\"ids\":{ \"cookie\" : \"x\" } } \n",
	"\v\f\u00a0\u0085{\"event_id\":\"a\",\"channel\":\"web\",\"type\":\"t\",\"ts\":1,\"ids\":{\"cookie\":\"x\"}}\u2028\u3000",
	"{\"event_id\":\"a\",\"channel\":\"web\",\"type\":\"t\",\"ts\":1,\"ids\":{\"cookie\":\"x\"}\v}",
	"\ufeff{\"event_id\":\"a\",\"channel\":\"web\",\"type\":\"t\",\"ts\":1,\"ids\":{\"cookie\":\"x\"}}",
	"{\"event_id\":\"a\",\"channel\":\"web\",\"type\":\"t\",\"ts\":1,\"ids\":{\"cookie\":\"x\"}}\x00",
	"{\"event_id\":\"a\x00\",\"channel\":\"web\",\"type\":\"t\",\"ts\":1,\"ids\":{\"cookie\":\"x\"}}",
	`{"event_id":"a","channel":"web","type":"t","ts":1,"ids":{"cookie":"x"}}}`,
	`{"event_id":"a","channel":"web","type":"t","ts":1,"ids":{"cookie":"x"}} {}`,
	`{"event_id":"a","channel":"web","type":"t","ts":1,"ids":{"cookie":"x"}}x`,
	`{"event_id":"a","channel":"web","type":"t","ts":1,"ids":{"cookie":"x"},}`,
	`{"event_id":"a","channel":"web","type":"t","ts":1,"ids":{"cookie":"x",}}`,
	`{"event_id":"a","channel":"web","type":"t","ts":1,"ids":{"cookie":"x"},"props":[1,]}`,
	`{"event_id":"a","channel":"web","type":"t","ts":1,"ids":{"cookie":"x"},"props":{"a" 1}}`,
	`{"event_id":"a","channel":"web","type":"t","ts":1,"ids":{"cookie":"x"},"props":{1:2}}`,
	`{"event_id":"a","channel":"web","type":"t","ts":1,"ids":{"cookie":"x"},"x":tru}`,
	`{"event_id":"a","channel":"web","type":"t","ts":1,"ids":{"cookie":"x"},"x":nul`,
	`{"event_id":"a","channel":"web","type":"t","ts":1,"ids":{"cookie":"x"},"x":"`,
	`{"event_id"}`, `{"event_id":}`, `{:1}`, `{,}`, `{`, `{"`, `{"a":1 "b":2}`, `{}}`, `{ }`,
	`{"event_id":"a","channel":"fax","type":"t","ts":1,"ids":{"cookie":"x"}}`,
	`{"event_id":"` + strings.Repeat("e", 513) + `","channel":"web","type":"t","ts":1,"ids":{"cookie":"x"}}`,
	`{"event_id":"a","channel":"web","type":"t","ts":1,"ids":{"` + strings.Repeat("k", 129) + `":null,"cookie":"x"}}`,
	`{"event_id":"a","channel":"web","type":"t","ts":1,"ids":{"` + strings.Repeat("\\u00e9", 64) + `":"x"}}`,
	`{"event_id":"a","channel":"web","type":"t","ts":1,"ids":{"` + strings.Repeat("\xff", 43) + `":"x"}}`,
	// Deep nesting.
	`{"event_id":"a","channel":"web","type":"t","ts":1,"ids":{"cookie":"x"},"props":{"a":` + strings.Repeat("[", 200) + strings.Repeat("]", 200) + `}}`,
	`{"x":` + strings.Repeat(`{"a":`, 100) + `1` + strings.Repeat("}", 100) + `,"event_id":"a","channel":"web","type":"t","ts":1,"ids":{"cookie":"x"}}`,
	`{"x":` + strings.Repeat("[", 20000) + `}`,
}

// manyIDs builds a record whose ids object has n distinct types.
func manyIDs(n int, val string) string {
	var b strings.Builder
	b.WriteString(`{"event_id":"a","channel":"web","type":"t","ts":1,"ids":{`)
	for i := range n {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `"t%d":%s`, i, val)
	}
	b.WriteString(`}}`)
	return b.String()
}

// deep builds a valid record whose props nest arrays to total depth depth
// (the top-level object counts as 1).
func deep(depth int) string {
	n := depth - 2 // the top-level object and props
	return `{"event_id":"a","channel":"web","type":"t","ts":1,"ids":{"cookie":"x"},"props":{"a":` +
		strings.Repeat("[", n) + strings.Repeat("]", n) + `}}`
}

var differentialDecoders = []*Decoder{
	NewDecoder(0, nil),
	NewDecoder(1<<12, []string{"web", "store", "callcentre", "email"}),
}

// sameAsReference fails t when Decode and decodeReference disagree on data:
// both must return the same Event (even when failing: the partial event
// carries the fields decoded before the failure) and fail with the same
// Reason or both succeed. Messages may be worded differently.
func sameAsReference(t *testing.T, d *Decoder, data []byte) {
	t.Helper()
	rec := bytes.Clone(data)
	got, gerr := d.Decode(rec)
	for i := range rec {
		rec[i] = '#' // the event must not alias the record
	}
	want, werr := decodeReference(d, data)
	reason := func(err error) Reason {
		if err == nil {
			return ""
		}
		var e *Error
		if !errors.As(err, &e) || e.Reason == "" || e.Msg == "" {
			t.Fatalf("Decode(%q): error %v is not a classified *Error", data, err)
		}
		return e.Reason
	}
	if gr, wr := reason(gerr), reason(werr); gr != wr {
		t.Fatalf("Decode(%q):\n got error %v\nwant error %v", data, gerr, werr)
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("Decode(%q) (error %v):\n got %#v\nwant %#v", data, gerr, got, want)
	}
}

func TestDecodeDifferentialSeeds(t *testing.T) {
	inputs := append([]string(nil), differentialSeeds...)
	inputs = append(inputs,
		manyIDs(64, `"v"`), manyIDs(65, `"v"`), manyIDs(64, `null`), manyIDs(65, `null`), manyIDs(300, `1`),
		deep(maxDepth), deep(maxDepth+1), deep(maxDepth+50),
	)
	for _, in := range inputs {
		for _, d := range differentialDecoders {
			sameAsReference(t, d, []byte(in))
		}
	}
	// The depth limit is encoding/json's, exactly.
	d := NewDecoder(0, nil)
	if _, err := d.Decode([]byte(deep(maxDepth))); err != nil {
		t.Fatalf("depth %d: %v", maxDepth, err)
	}
	if _, err := d.Decode([]byte(deep(maxDepth + 1))); err == nil || err.(*Error).Reason != ReasonMalformed {
		t.Fatalf("depth %d: %v, want malformed", maxDepth+1, err)
	}
}

// FuzzDecodeDifferential: Decode behaves exactly like the encoding/json
// implementation it replaced (decodeReference) on every input.
func FuzzDecodeDifferential(f *testing.F) {
	// Only small seeds: the fuzzer spends minutes minimizing what it
	// derives from big ones. The big ones (depth limit, many ids) run in
	// TestDecodeDifferentialSeeds.
	for _, s := range differentialSeeds {
		if len(s) <= 1024 {
			f.Add([]byte(s))
		}
	}
	f.Add([]byte(manyIDs(65, `null`)))
	f.Add([]byte(deep(64)))
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) > 4<<10 {
			// Long inputs add little here (TestDecodeDifferentialSeeds has
			// the ones that matter) and the fuzzer spends up to a minute
			// minimizing each one it finds interesting.
			return
		}
		for _, d := range differentialDecoders {
			sameAsReference(t, d, data)
		}
	})
}

// TestParseRFC3339 checks the fast path against time.Parse on random and
// edge-case timestamps, valid and not.
func TestParseRFC3339(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	check := func(s string) {
		t.Helper()
		ms, ok := parseRFC3339([]byte(s))
		tm, err := time.Parse(time.RFC3339Nano, s)
		if ok && (err != nil || tm.UnixMilli() != ms) {
			t.Fatalf("parseRFC3339(%q) = %d; time.Parse = %v (%d), %v", s, ms, tm, tm.UnixMilli(), err)
		}
	}
	for _, s := range []string{
		"0000-01-01T00:00:00Z", "0000-02-29T00:00:00Z", "0000-03-01T00:00:00-23:59", "1969-12-31T23:59:59.999Z",
		"1970-01-01T00:00:00Z", "1900-02-29T00:00:00Z", "2000-02-29T12:00:00+00:00", "2100-02-29T00:00:00Z",
		"9999-12-31T23:59:59.999999999+23:59", "2026-11-20T10:00:00.1234567891234Z", "2026-11-20T10:00:00.Z",
	} {
		check(s)
	}
	for range 200000 {
		var frac, zone string
		if r.IntN(2) == 0 {
			frac = "." + fmt.Sprint(r.Uint64())[:1+r.IntN(12)]
		}
		switch r.IntN(3) {
		case 0:
			zone = "Z"
		case 1:
			zone = fmt.Sprintf("+%02d:%02d", r.IntN(26), r.IntN(62))
		default:
			zone = fmt.Sprintf("-%02d:%02d", r.IntN(26), r.IntN(62))
		}
		check(fmt.Sprintf("%04d-%02d-%02dT%02d:%02d:%02d%s%s",
			r.IntN(10000), r.IntN(14), r.IntN(33), r.IntN(25), r.IntN(61), r.IntN(61), frac, zone))
	}
}

// TestDecodeAllocs pins the allocation budget of the typical event: the
// event id, two id values, the IDs slice and the props copy.
func TestDecodeAllocs(t *testing.T) {
	line := []byte(`{"event_id":"pos-S12-000913","channel":"store","type":"purchase","ts":"2026-11-20T10:00:00.123Z","ids":{"loyalty":"LC-0001","phone":"+49 30 1234567"},"props":{"store_id":"S12","total":59.90}}`)
	d := NewDecoder(1<<20, []string{"web", "store", "callcentre", "email"})
	if n := testing.AllocsPerRun(100, func() {
		if _, err := d.Decode(line); err != nil {
			t.Fatal(err)
		}
	}); n > 5 {
		t.Fatalf("Decode allocates %v times, want <= 5", n)
	}
}

// TestDecodeErrorsDoNotLeakIDs: no error message carries an identifier value.
func TestDecodeErrorsDoNotLeakIDs(t *testing.T) {
	const secret = "SECRETVALUE"
	d := NewDecoder(0, nil)
	for _, in := range []string{
		`{"event_id":"a","channel":"web","type":"t","ts":1,"ids":{"email":"SECRETVALUE","cookie":{"x":1}}}`,
		`{"event_id":"a","channel":"web","type":"t","ts":1,"ids":{"email":"SECRETVALUE"},"props":[1]}`,
		`{"event_id":"a","channel":"web","type":"t","ts":1,"ids":{"email":"SECRETVALUE",}}`,
		`{"event_id":"a","channel":"web","type":"t","ts":"x","ids":{"email":"SECRETVALUE"}}`,
		`{"event_id":"a","channel":"web","type":"t","ts":1,"ids":{"email":"SECRETVALUE\q"}}`,
	} {
		_, err := d.Decode([]byte(in))
		if err == nil || strings.Contains(err.Error(), secret) {
			t.Fatalf("Decode(%s) = %v", in, err)
		}
	}
}

// TestDecodeDifferentialRandom compares Decode with decodeReference on
// records assembled from pieces that byte-level fuzzing rarely combines:
// case-folded and escaped field names, tricky strings, numbers and
// timestamps, duplicates, and the odd corrupted byte.
func TestDecodeDifferentialRandom(t *testing.T) {
	keys := []string{
		`"event_id"`, `"EVENT_ID"`, `"Event_Id"`, `"\u0065vent_id"`, "\"event_\u0130d\"", `"event_id "`,
		`"channel"`, `"CHANNEL"`, `"c\u0068annel"`, `"type"`, `"TYPE"`, `"typ\u0065"`,
		`"ts"`, `"TS"`, "\"t\u017f\"", `"t\u017f"`, `"\u0074s"`, `"t"`,
		`"ids"`, `"IDS"`, "\"id\u017f\"", `"props"`, `"PROPS"`, "\"prop\u017f\"", `"x"`, `""`, "\"\xff\"",
	}
	strs := []string{
		`"a"`, `"web"`, `"store"`, `" store "`, `"\u00a0web"`, `"t"`, `"purchase"`, `""`, `"  "`, `"\u0000"`,
		`"\ud83d\ude00"`, `"\ud800"`, `"\udc00x"`, `"\ud800\ud800\udc00"`, `"a\"\\\/\b\f\n\r\t"`, "\"\xff\xfe\"",
		"\"\xed\xa0\x80\"", `"\uFFFD"`, `"` + strings.Repeat("x", 129) + `"`, `"` + strings.Repeat("\\u00e9", 65) + `"`,
	}
	tss := []string{
		`1`, `-0`, `0`, `1795168800123`, `-62135596800000`, `-62135596800001`, `253402300799999`, `253402300800000`,
		`1.5`, `1e3`, `"1795168800123"`, `"+1"`, `"-1"`, `" 12 "`, `"1_000"`, `"0x10"`, `"99999999999999999999"`,
		`"2026-11-20T10:00:00.123Z"`, `"2026-11-20T10:00:00Z"`, `"2026-11-20T11:00:00+01:00"`, `"2026-11-20T10:00:00.1234567891Z"`,
		`"0001-01-01T00:00:00Z"`, `"0000-12-31T23:59:59Z"`, `"9999-12-31T23:59:59.999Z"`, `"9999-12-31T23:59:59-01:00"`,
		`"2024-02-29T00:00:00Z"`, `"2023-02-29T00:00:00Z"`, `"2026-11-20T10:00:00,5Z"`, `"2026-11-20 10:00:00Z"`,
		`"2026-11-20T10:00:00+0100"`, `"2026-11-20T10:00Z"`, `"\u0032026-11-20T10:00:00Z"`, `"2026-11-20T10:00:00.Z"`,
	}
	vals := []string{`null`, `true`, `false`, `[]`, `{}`, `[1,{"a":[null]}]`, `{"a":{"b":"}"}}`, `-1.5e-3`, `0`, `12345`}
	r := rand.New(rand.NewPCG(3, 4))
	pick := func(l []string) string { return l[r.IntN(len(l))] }
	value := func() string {
		switch r.IntN(4) {
		case 0:
			return pick(strs)
		case 1:
			return pick(tss)
		case 2:
			return pick(vals)
		}
		var b strings.Builder
		b.WriteByte('{')
		for i := range r.IntN(4) {
			if i > 0 {
				b.WriteByte(',')
			}
			b.WriteString(pick([]string{`"cookie"`, `"email"`, `"Cookie"`, `"c\u006fokie"`, `""`, "\"\u212a\"", `"phone"`}))
			b.WriteByte(':')
			b.WriteString(pick(append(append([]string{}, strs...), vals...)))
		}
		b.WriteByte('}')
		return b.String()
	}
	for range 100000 {
		var b strings.Builder
		b.WriteString(pick([]string{"", " ", "\n\t", "\u00a0", "\v"}))
		b.WriteByte('{')
		base := []string{`"event_id":"e1"`, `"channel":"web"`, `"type":"t"`, `"ts":1`, `"ids":{"cookie":"x"}`}
		n := 0
		for _, kv := range base {
			if r.IntN(6) > 0 {
				if n > 0 {
					b.WriteByte(',')
				}
				b.WriteString(kv)
				n++
			}
		}
		for range r.IntN(4) {
			if n > 0 {
				b.WriteString(pick([]string{",", " , ", ",\n"}))
			}
			b.WriteString(pick(keys))
			b.WriteString(pick([]string{":", " : "}))
			b.WriteString(value())
			n++
		}
		b.WriteByte('}')
		b.WriteString(pick([]string{"", " ", "\r\n", "\u2028", "x", "}", "\x00"}))
		rec := []byte(b.String())
		if r.IntN(10) == 0 { // corrupt a byte
			const alphabet = "\"\\{}[],: \x00\xff0-eE.tnu"
			rec[r.IntN(len(rec))] = alphabet[r.IntN(len(alphabet))]
		}
		for _, d := range differentialDecoders {
			sameAsReference(t, d, rec)
		}
	}
}
