package clickhouse

import (
	"errors"
	"math"
	"testing"

	"github.com/omnistitch/omnistitch/state"
	"github.com/omnistitch/omnistitch/stitch"
)

// FuzzDecodeRows: a row outbox record of any shape (a torn or corrupt
// record on disk) is decoded into columns or refused with errFormat, never
// a panic; every table's columns stay of one length; and a record Encode
// wrote decodes to the rows it holds, event times clamped to DateTime.
func FuzzDecodeRows(f *testing.F) {
	ch := &stitch.Changes{
		Journeys: []stitch.JourneyRow{
			{CustomerID: "c_0123456789abcdef", Seq: 1, EventID: "web-1", TS: -62135596800000, Channel: "web", Type: "page_view"},
			{CustomerID: "c_0123456789abcdef", Seq: 2, EventID: "pos-\xff", TS: 253402300799999, Channel: "store", Type: "purchase",
				Stage: "purchase", PrevChannel: "web", SecsSincePrev: 1e12, Props: []byte("{\"a\":\"\\u0000\"}")},
		},
		Removed:   []stitch.JourneyKey{{CustomerID: "c_fedcba9876543210", EventID: "web-1"}},
		Customers: []*state.Customer{{ID: "c_0123456789abcdef", IDs: []string{"cookie:\x00"}, Events: 2, Channels: []string{"store", "web"}, Revenue: math.MaxFloat64, Segments: []string{"vip"}}},
		Gone:      []string{"c_fedcba9876543210"},
		Identifiers: []stitch.IdentifierChange{
			{Type: "cookie", Value: "ck-1", CustomerID: "c_0123456789abcdef"},
			{Type: "cookie", Value: "shared", CustomerID: ""},
		},
	}
	res := &stitch.Result{
		Merges:    []state.Merge{{Absorbed: "c_fedcba9876543210", Survivor: "c_0123456789abcdef", Via: "cookie:ck-1", At: 5, EventID: "web-1"}},
		Conflicts: []state.Conflict{{Customer: "c_0123456789abcdef", IDType: "crm", IDValue: "C-1", Reason: "limit:crm", At: 6, EventID: "e"}},
		Triggers:  []state.Trigger{{ID: "t_1", Rule: "first_purchase", Customer: "c_0123456789abcdef", FiredAt: 7, EventIDs: []string{"pos-\xff"}}},
	}
	full := Encode(nil, 42, ch, res)
	f.Add(full)
	f.Add(Encode(nil, 1, &stitch.Changes{}, nil))
	f.Add(full[:len(full)/2])
	v1 := append([]byte{1}, full[1:]...) // format 1: profiles without segments
	f.Add(v1)
	f.Add([]byte{rowsFormat, 1, 0xff, 0xff, 0xff, 0xff, 0x0f})

	var want columns
	if err := want.decode(full); err != nil {
		f.Fatalf("a record Encode wrote does not decode: %v", err)
	}
	if want.rows() != 2+1+1+1+2+1+1+1 || want.journeys.tsMS[0] != -62135596800000 ||
		!want.journeys.eventTime[0].Equal(dateTime(0)) || want.journeys.props[0] != emptyProps ||
		want.identities.deleted[1] != 1 || want.profiles.deleted[1] != 1 || want.profiles.segments[0][0] != "vip" {
		f.Fatalf("decoded rows differ from those encoded: %+v", want)
	}

	f.Fuzz(func(t *testing.T, b []byte) {
		var c columns
		err := c.decode(b)
		if err != nil && !errors.Is(err, errFormat) {
			t.Fatalf("error %v is not errFormat", err)
		}
		j, p := &c.journeys, &c.profiles
		n := len(j.customerID)
		for _, l := range []int{len(j.eventID), len(j.seq), len(j.eventTime), len(j.tsMS), len(j.channel), len(j.typ),
			len(j.stage), len(j.prevChan), len(j.secsSincePrev), len(j.props), len(j.version), len(j.deleted)} {
			if l != n {
				t.Fatalf("journey columns of lengths %d and %d", n, l)
			}
		}
		n = len(p.customerID)
		for _, l := range []int{len(p.ids), len(p.firstSeen), len(p.lastSeen), len(p.events), len(p.channels), len(p.stage),
			len(p.purchases), len(p.revenue), len(p.segments), len(p.updatedAt), len(p.version), len(p.deleted)} {
			if l != n {
				t.Fatalf("profile columns of lengths %d and %d", n, l)
			}
		}
		if err == nil {
			for i := range j.eventTime {
				if u := j.eventTime[i].Unix(); u < 0 || u > math.MaxUint32 {
					t.Fatalf("event_time %v outside DateTime", j.eventTime[i])
				}
			}
		}
	})
}
