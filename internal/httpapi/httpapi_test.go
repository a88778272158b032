package httpapi

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/omnistitch/omnistitch/internal/config"
	"github.com/omnistitch/omnistitch/state"
	"github.com/omnistitch/omnistitch/stitch"
	"github.com/omnistitch/omnistitch/stitch/event"
)

func TestEndpoints(t *testing.T) {
	store, err := state.Open(t.TempDir(), state.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	eng, err := stitch.New(config.Default(), store)
	if err != nil {
		t.Fatal(err)
	}
	dec := event.NewDecoder(0, nil)
	var evs []event.Event
	for _, l := range []string{
		`{"event_id":"w1","channel":"web","type":"login","ts":1000,"ids":{"cookie":"ck1","email":"A@B.com"}}`,
		`{"event_id":"s1","channel":"store","type":"purchase","ts":2000,"ids":{"email":"a@b.com","phone":"030 1234567"},"props":{"total":5}}`,
	} {
		ev, err := dec.Decode([]byte(l))
		if err != nil {
			t.Fatal(err)
		}
		evs = append(evs, ev)
	}
	if _, err := eng.Apply(evs); err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(prometheus.NewCounter(prometheus.CounterOpts{Name: "omnistitch_test_total", Help: "t"}))
	ready := false
	srv := httptest.NewServer(Handler(Options{Store: store, Engine: eng, Ready: func() bool { return ready }, Gatherer: reg}))
	defer srv.Close()

	get := func(path string) (int, string) {
		t.Helper()
		resp, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, _ := get("/healthz"); code != 200 {
		t.Errorf("healthz %d", code)
	}
	if code, _ := get("/readyz"); code != 503 {
		t.Errorf("readyz before ready %d, want 503", code)
	}
	ready = true
	if code, _ := get("/readyz"); code != 200 {
		t.Errorf("readyz %d", code)
	}
	if code, body := get("/metrics"); code != 200 || !strings.Contains(body, "omnistitch_test_total") {
		t.Errorf("metrics %d %s", code, body)
	}

	// The phone as another system writes it finds the customer.
	code, body := get("/v1/lookup?type=phone&value=" + url.QueryEscape("+49 (0)30 123-4567"))
	if code != 200 {
		t.Fatalf("lookup %d %s", code, body)
	}
	var p stitch.Profile
	if err := json.Unmarshal([]byte(body), &p); err != nil {
		t.Fatal(err)
	}
	if p.Events != 2 || p.Purchases != 1 || strings.Join(p.IDs["email"], ",") != "a@b.com" || strings.Join(p.Channels, ",") != "store,web" {
		t.Errorf("profile %+v", p)
	}
	if code, body := get("/v1/profiles/" + p.CustomerID); code != 200 || !strings.Contains(body, `"customer_id":"`+p.CustomerID) {
		t.Errorf("profile by id %d %s", code, body)
	}
	if code, _ := get("/v1/profiles/c_0000000000000000"); code != 404 {
		t.Errorf("unknown customer %d, want 404", code)
	}
	if code, _ := get("/v1/profiles/nope"); code != 400 {
		t.Errorf("malformed customer id %d, want 400", code)
	}
	if code, _ := get("/v1/lookup?type=email&value=x@y.de"); code != 404 {
		t.Errorf("unknown identifier %d, want 404", code)
	}
	code, body = get("/v1/lookup?type=email&value=null")
	if code != 400 || strings.Contains(body, "null") && !strings.Contains(body, "junk") {
		t.Errorf("junk lookup %d %s", code, body)
	}
	if code, _ := get("/v1/lookup?type=email"); code != 400 {
		t.Errorf("lookup without value %d, want 400", code)
	}
}

// A customer id merged into another answers with the survivor's profile.
func TestProfileOfAbsorbedID(t *testing.T) {
	store, err := state.Open(t.TempDir(), state.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	eng, err := stitch.New(config.Default(), store)
	if err != nil {
		t.Fatal(err)
	}
	dec := event.NewDecoder(0, nil)
	apply := func(l string) string {
		t.Helper()
		ev, err := dec.Decode([]byte(l))
		if err != nil {
			t.Fatal(err)
		}
		res, err := eng.Apply([]event.Event{ev})
		if err != nil {
			t.Fatal(err)
		}
		return res.Outcomes[0].Customer
	}
	first := apply(`{"event_id":"a","channel":"web","type":"page_view","ts":1000,"ids":{"cookie":"ck1"}}`)
	second := apply(`{"event_id":"b","channel":"store","type":"purchase","ts":2000,"ids":{"email":"a@b.com"}}`)
	apply(`{"event_id":"c","channel":"web","type":"login","ts":3000,"ids":{"cookie":"ck1","email":"a@b.com"}}`)
	srv := httptest.NewServer(Handler(Options{Store: store, Engine: eng}))
	defer srv.Close()
	resp, err := http.Get(srv.URL + "/v1/profiles/" + second)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var p stitch.Profile
	if err := json.NewDecoder(resp.Body).Decode(&p); err != nil || resp.StatusCode != http.StatusOK || p.CustomerID != first {
		t.Fatalf("profile of absorbed %s: %s %+v %v (survivor %s)", second, resp.Status, p, err, first)
	}
}
