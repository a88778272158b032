package gen

import (
	"bytes"
	"encoding/json"
	"errors"
	"hash/fnv"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	canon "github.com/omnistitch/omnistitch/stitch/event"
)

// Raw source formats: RawLine renders a canonical line of the generator in
// the raw format of its channel's source system, as documented (and mapped
// back) by configs/sources/*.yaml. It is the inverse of those default
// mappings, so raw traffic keeps the generator's ground truth: mapping the raw
// record gives the event the canonical line decodes to (same id, channel,
// type, time, identifiers and props; only the order of props members and
// the spelling of ts may differ). pipeline/source's round-trip test checks it
// record by record.

// Topics of the raw sources and of canonical events (SPEC "Kafka topics").
const (
	TopicWeb        = "omni.web"
	TopicStore      = "omni.store"
	TopicCallcentre = "omni.callcentre"
	TopicEmail      = "omni.email"
	TopicCanonical  = "omni.events"
)

var channelTopic = map[string]string{"web": TopicWeb, "store": TopicStore, "callcentre": TopicCallcentre, "email": TopicEmail}

var rawDecoder canon.Decoder // zero value: any channel, no size limit; safe for concurrent use

// RawLine returns the topic and the raw record for one canonical line.
//
//   - A line that decodes as an event is rendered in the raw format of its
//     channel, for that channel's topic. Its identifiers need not be usable:
//     a line with only junk identifiers is rendered too, so the service
//     dead-letters it for the reason it would in production.
//   - A line that does not decode (the generator's malformed lines) is
//     returned unchanged, on the raw topic of the channel it names if that
//     can be recognised, else on omni.events, so that bad traffic still
//     reaches the service and ends up on the dead-letter topic.
//   - An event the source system has no record for (e.g. a survey answer in
//     the e-mail channel, an unknown channel or identifier type) is returned
//     unchanged on omni.events, where canonical events are accepted.
//
// The raw record is a new slice; an unchanged line is canonical itself. err
// is non-nil only for empty input, which no topic should receive.
func RawLine(canonical []byte) (topic string, raw []byte, err error) {
	if len(bytes.TrimSpace(canonical)) == 0 {
		return "", nil, errors.New("gen: RawLine: empty line")
	}
	ev, derr := rawDecoder.Decode(canonical)
	if derr != nil {
		return guessTopic(canonical), canonical, nil
	}
	r, ok := rawEvent{ev: &ev}.render()
	if !ok {
		return TopicCanonical, canonical, nil
	}
	return channelTopic[ev.Channel], r, nil
}

// guessTopic finds the channel a broken line names, however broken: a JSON
// member, a form field, or the same inside a double-encoded string.
func guessTopic(line []byte) string {
	for ch, topic := range channelTopic {
		for _, pat := range [...]string{`"channel":"` + ch + `"`, `\"channel\":\"` + ch + `\"`, "channel=" + ch + "&"} {
			if bytes.Contains(line, []byte(pat)) {
				return topic
			}
		}
	}
	return TopicCanonical
}

type rawEvent struct {
	ev    *canon.Event
	props map[string]json.RawMessage
	h     uint64 // hash of the event id: deterministic filler (tills, agents, user agents)
}

func (r rawEvent) render() ([]byte, bool) {
	if r.ev.Props != nil {
		if json.Unmarshal(r.ev.Props, &r.props) != nil {
			return nil, false
		}
	}
	f := fnv.New64a()
	f.Write([]byte(r.ev.ID))
	r.h = f.Sum64()
	switch r.ev.Channel {
	case "web":
		return r.web()
	case "store":
		return r.store()
	case "callcentre":
		return r.callcentre()
	case "email":
		return r.email()
	}
	return nil, false
}

// obj writes one JSON object member by member.
type obj struct {
	b []byte
	n []int // members written, per open object
}

func (o *obj) key(k string) {
	if o.n[len(o.n)-1] > 0 {
		o.b = append(o.b, ',')
	}
	o.n[len(o.n)-1]++
	o.b = append(appendJSONString(o.b, k), ':')
}
func (o *obj) str(k, v string)        { o.key(k); o.b = appendJSONString(o.b, v) }
func (o *obj) raw(k string, v []byte) { o.key(k); o.b = append(o.b, v...) }
func (o *obj) num(k string, v int64)  { o.key(k); o.b = strconv.AppendInt(o.b, v, 10) }
func (o *obj) open(k string)          { o.key(k); o.b = append(o.b, '{'); o.n = append(o.n, 0) }
func (o *obj) openArr(k string)       { o.key(k); o.b = append(o.b, '['); o.n = append(o.n, 0) }
func (o *obj) close()                 { o.b = append(o.b, '}'); o.n = o.n[:len(o.n)-1] }
func (o *obj) closeArr()              { o.b = append(o.b, ']'); o.n = o.n[:len(o.n)-1] }
func (o *obj) strIf(k string, v *string) {
	if v != nil {
		o.str(k, *v)
	}
}
func newObj() *obj          { return &obj{b: append(make([]byte, 0, 512), '{'), n: []int{0}} }
func (o *obj) done() []byte { o.close(); return o.b }

// elem starts an array element (no key).
func (o *obj) elem() {
	if o.n[len(o.n)-1] > 0 {
		o.b = append(o.b, ',')
	}
	o.n[len(o.n)-1]++
}

// ids returns the event's identifiers by type; ok is false if one has a type
// outside known (the source has no field for it).
func (r rawEvent) ids(known ...string) (map[string]*string, bool) {
	m := map[string]*string{}
	for i := range r.ev.IDs {
		id := &r.ev.IDs[i]
		if !slices.Contains(known, id.Type) || id.Value == "" {
			return nil, false
		}
		m[id.Type] = &id.Value
	}
	return m, true
}

// onlyProps reports whether every prop is one of allowed and holds a value the
// mappings copy (named props skip null and "": they count as absent).
func (r rawEvent) onlyProps(allowed ...string) bool {
	for k, v := range r.props {
		if !slices.Contains(allowed, k) || string(v) == "null" || string(v) == `""` {
			return false
		}
	}
	return true
}

// propString returns a prop that is a JSON string with a non-blank value.
func (r rawEvent) propString(k string) (string, bool) {
	v, ok := r.props[k]
	if !ok {
		return "", false
	}
	var s string
	if json.Unmarshal(v, &s) != nil || strings.TrimSpace(s) == "" {
		return "", false
	}
	return s, true
}

// idAfter returns the event id without its source prefix, if it has it.
func (r rawEvent) idAfter(prefix string) (string, bool) {
	rest, ok := strings.CutPrefix(r.ev.ID, prefix)
	return rest, ok && strings.TrimSpace(rest) != ""
}

func (r rawEvent) pick(choices ...string) string { return choices[r.h%uint64(len(choices))] }

var webCalls = map[string][2]string{ // canonical type → Segment call type, event name
	"page_view": {"page", ""}, "identify": {"identify", ""},
	"product_view": {"track", "Product Viewed"}, "add_to_cart": {"track", "Product Added"},
	"checkout": {"track", "Checkout Started"}, "purchase": {"track", "Order Completed"},
	"login": {"track", "Signed In"}, "signup": {"track", "Signed Up"},
}

// webRenamed: canonical props the SDK spells differently (web.yaml renames them back).
var webRenamed = map[string]string{"total": "revenue", "qty": "quantity"}

func (r rawEvent) web() ([]byte, bool) {
	call, ok := webCalls[r.ev.Type]
	id, ok2 := r.idAfter("web-")
	ids, ok3 := r.ids("cookie", "user", "device", "email", "phone", "loyalty", "crm")
	if !ok || !ok2 || !ok3 {
		return nil, false
	}
	for canon, sdk := range webRenamed {
		if _, clash := r.props[sdk]; clash {
			return nil, false // would be renamed on the way back
		}
		if v, ok := r.props[canon]; ok && (string(v) == "null" || string(v) == `""`) {
			return nil, false
		}
	}
	o := newObj()
	o.str("type", call[0])
	if call[1] != "" {
		o.str("event", call[1])
	}
	o.str("messageId", id)
	o.strIf("anonymousId", ids["cookie"])
	o.strIf("userId", ids["user"])
	o.str("timestamp", canon.FormatTS(r.ev.TS))
	o.str("sentAt", canon.FormatTS(r.ev.TS+int64(40+r.h%900)))
	o.open("context")
	o.open("library")
	if ids["device"] != nil {
		o.str("name", "analytics-ios")
		o.str("version", "1.6.2")
	} else {
		o.str("name", "analytics.js")
		o.str("version", "4.1.0")
	}
	o.close()
	if u, ok := r.props["url"]; ok && ids["device"] == nil {
		o.open("page")
		o.raw("url", u)
		o.close()
	}
	if ids["device"] != nil {
		o.open("device")
		o.str("id", *ids["device"])
		o.close()
	}
	if ids["email"] != nil || ids["phone"] != nil || ids["loyalty"] != nil || ids["crm"] != nil {
		o.open("traits")
		o.strIf("email", ids["email"])
		o.strIf("phone", ids["phone"])
		o.strIf("loyalty_card", ids["loyalty"])
		o.strIf("crm_id", ids["crm"])
		o.close()
	}
	o.close()
	o.open("properties")
	for _, k := range sortedKeys(r.props) {
		name := k
		if sdk, ok := webRenamed[k]; ok {
			name = sdk
		}
		o.raw(name, r.props[k])
	}
	o.close()
	return o.done(), true
}

var storeTxn = map[string]string{"purchase": "sale", "signup": "loyalty_signup", "return": "return"}

func (r rawEvent) store() ([]byte, bool) {
	txn, ok := storeTxn[r.ev.Type]
	rest, ok2 := r.idAfter("pos-")
	ids, ok3 := r.ids("loyalty", "phone", "email", "device", "crm", "user", "cookie")
	if !ok || !ok2 || !ok3 || !r.onlyProps("store_id", "total", "currency", "items") {
		return nil, false
	}
	// "pos-{store}-{txn_no}": the store is the part up to the first dash, and
	// props.store_id, which store.yaml also reads from the store field, must agree.
	storeID, txnNo, ok := strings.Cut(rest, "-")
	if s, ok2 := r.propString("store_id"); !ok || !ok2 || s != storeID || strings.TrimSpace(storeID) == "" || strings.TrimSpace(txnNo) == "" {
		return nil, false
	}
	o := newObj()
	o.str("txn_type", txn)
	o.str("store", storeID)
	o.str("till", "T0"+strconv.Itoa(int(1+r.h%4)))
	o.str("txn_no", txnNo)
	o.str("ts", time.UnixMilli(r.ev.TS).In(cet).Format("2006-01-02T15:04:05.000-07:00"))
	o.str("cashier", "K0"+strconv.Itoa(int(100+r.h%900)))
	o.strIf("loyalty_card", ids["loyalty"])
	o.strIf("customer_phone", ids["phone"])
	o.strIf("customer_email", ids["email"])
	o.strIf("device_id", ids["device"])
	o.strIf("crm_id", ids["crm"])
	if ids["user"] != nil || ids["cookie"] != nil {
		o.open("online_order")
		o.strIf("user_id", ids["user"])
		o.strIf("web_cookie", ids["cookie"])
		o.close()
	}
	r.basket(o)
	for _, k := range [...]string{"items:item_count", "total:total", "currency:currency"} {
		canon, rawName, _ := strings.Cut(k, ":")
		if v, ok := r.props[canon]; ok {
			o.raw(rawName, v)
		}
	}
	return o.done(), true
}

// basket writes plausible basket lines that add up to the props' item count
// and total (not mapped back: journeys carry the totals).
func (r rawEvent) basket(o *obj) {
	var items int
	var total float64
	if json.Unmarshal(r.props["items"], &items) != nil || json.Unmarshal(r.props["total"], &total) != nil ||
		items < 1 || items > 1000 || total < 0 || total > 1e9 {
		return
	}
	cents := int64(math.Round(total * 100))
	lines := min(items, 1+int(r.h%3))
	o.openArr("basket")
	h := r.h
	left, leftCents := items, cents
	for i := range lines {
		qty, amount := 1, leftCents/int64(lines-i)
		if i == lines-1 {
			qty, amount = left, leftCents
		} else if left-(lines-i-1) > 1 {
			qty = 1 + int(h%uint64(left-(lines-i-1)))
		}
		left, leftCents = left-qty, leftCents-amount
		h = h*6364136223846793005 + 1442695040888963407
		o.elem()
		o.b = append(o.b, '{')
		o.n = append(o.n, 0) // an object inside the array
		o.str("sku", "SKU-"+strconv.FormatUint(10000+h%90000, 10))
		o.num("qty", int64(qty))
		o.key("amount")
		o.b = appendCents(o.b, amount)
		o.close()
	}
	o.closeArr()
}

func (r rawEvent) callcentre() ([]byte, bool) {
	id, ok := r.idAfter("cc-")
	ids, ok2 := r.ids("phone", "crm", "email", "loyalty", "user", "cookie", "device")
	if !ok || !ok2 {
		return nil, false
	}
	o := newObj()
	o.str("call_id", id)
	o.key("started_at")
	o.b = appendEpochSeconds(o.b, r.ev.TS)
	switch r.ev.Type {
	case "call":
		// callcentre.yaml reads the type from the wrap-up code, so a call's
		// reason must not be one the file lists as another type.
		if !r.onlyProps("duration_s", "reason", "agent") {
			return nil, false
		}
		if _, has := r.props["reason"]; has {
			if s, ok := r.propString("reason"); !ok || s == "complaint" || s == "nps" || s == "csat" {
				return nil, false
			}
		}
		if d, ok := r.props["duration_s"]; ok {
			o.raw("duration_s", d)
		}
		o.str("direction", "inbound")
		o.str("queue", r.pick("service", "service", "orders", "loyalty"))
	case "complaint":
		if !r.onlyProps("reason", "severity") {
			return nil, false
		}
		if _, ok := r.propString("reason"); !ok { // else the wrap-up code would become the reason
			return nil, false
		}
		o.str("direction", "inbound")
		o.str("queue", "complaints")
	case "survey_response":
		s, ok := r.propString("survey")
		if !r.onlyProps("survey", "score") || !ok || (s != "nps" && s != "csat") {
			return nil, false
		}
	default:
		return nil, false
	}
	o.strIf("caller_number", ids["phone"])
	o.strIf("crm_id", ids["crm"])
	o.strIf("customer_email", ids["email"])
	o.strIf("loyalty_card", ids["loyalty"])
	o.strIf("web_account", ids["user"])
	if ids["cookie"] != nil || ids["device"] != nil {
		o.open("callback")
		o.strIf("web_cookie", ids["cookie"])
		o.strIf("device_id", ids["device"])
		o.close()
	}
	switch r.ev.Type {
	case "call":
		if a, ok := r.props["agent"]; ok {
			o.raw("agent_id", a)
		}
		if v, ok := r.props["reason"]; ok {
			o.raw("reason", v)
		}
	case "complaint":
		o.str("reason", "complaint")
		o.open("complaint")
		o.raw("category", r.props["reason"])
		if v, ok := r.props["severity"]; ok {
			o.raw("severity", v)
		}
		o.close()
	default:
		o.raw("survey", r.props["survey"])
		if v, ok := r.props["score"]; ok {
			o.raw("survey_score", v)
		}
	}
	return o.done(), true
}

// appendEpochSeconds writes ms as epoch seconds, with a fraction only when
// there are milliseconds (as IVR exports do): 1795168800 or 1795168800.123.
func appendEpochSeconds(b []byte, ms int64) []byte {
	if ms < 0 {
		b = append(b, '-')
		ms = -ms
	}
	b = strconv.AppendInt(b, ms/1000, 10)
	if f := ms % 1000; f != 0 {
		b = appendPadded(append(b, '.'), uint64(f), 3)
	}
	return b
}

var espEvents = map[string]string{
	"email_sent": "delivered", "email_open": "open", "email_click": "click", "email_bounce": "bounce",
	"email_dropped": "dropped", "email_spam_report": "spamreport", "email_unsubscribe": "unsubscribe",
	"email_processed": "processed",
}

var userAgents = [...]string{
	"Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148",
	"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0 Safari/537.36",
	"Mozilla/5.0 (Linux; Android 15; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0 Mobile Safari/537.36",
	"Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:133.0) Gecko/20100101 Firefox/133.0",
}

func (r rawEvent) email() ([]byte, bool) {
	name, ok := espEvents[r.ev.Type]
	id, ok2 := r.idAfter("esp-")
	ids, ok3 := r.ids("email", "cookie", "user", "crm", "loyalty", "phone", "device")
	if !ok || !ok2 || !ok3 || !r.onlyProps("campaign", "message_id", "url") {
		return nil, false
	}
	o := newObj()
	o.str("sg_event_id", id)
	if v, ok := r.props["message_id"]; ok {
		o.raw("sg_message_id", v)
	}
	o.str("event", name)
	o.strIf("email", ids["email"])
	o.num("timestamp", r.ev.TS)
	if v, ok := r.props["campaign"]; ok {
		o.raw("campaign", v)
	}
	if v, ok := r.props["url"]; ok {
		o.raw("url", v)
	}
	if name == "open" || name == "click" {
		o.str("useragent", userAgents[r.h%uint64(len(userAgents))])
		o.str("ip", "203.0.113."+strconv.Itoa(int(1+(r.h>>8)%250)))
	}
	o.strIf("web_cookie", ids["cookie"])
	o.strIf("user_id", ids["user"])
	o.strIf("crm_id", ids["crm"])
	o.strIf("loyalty_card", ids["loyalty"])
	o.strIf("phone", ids["phone"])
	o.strIf("device_id", ids["device"])
	return o.done(), true
}

func sortedKeys(m map[string]json.RawMessage) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
