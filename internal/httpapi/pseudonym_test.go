package httpapi

import (
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/omnistitch/omnistitch/internal/config"
	"github.com/omnistitch/omnistitch/state"
	"github.com/omnistitch/omnistitch/stitch"
	"github.com/omnistitch/omnistitch/stitch/event"
)

// With pseudonymisation on, a lookup by the plain value finds the customer
// (the value is pseudonymised like the engine's), and the answer holds
// pseudonyms only.
func TestLookupPseudonymised(t *testing.T) {
	keyFile := filepath.Join(t.TempDir(), "key")
	os.WriteFile(keyFile, []byte(strings.Repeat("s", 32)), 0o600)
	cfg := config.Default()
	cfg.Identity.Pseudonymise = config.Pseudonymise{KeyFile: keyFile, Types: []string{"email", "phone"}}
	if err := cfg.Identity.Pseudonymise.ReadKey(); err != nil {
		t.Fatal(err)
	}
	store, err := state.Open(t.TempDir(), state.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	eng, err := stitch.New(cfg, store)
	if err != nil {
		t.Fatal(err)
	}
	ev, err := event.NewDecoder(0, nil).Decode([]byte(`{"event_id":"s1","channel":"store","type":"purchase","ts":2000,"ids":{"email":"Ann.Example@Mail.com","phone":"030 1234567","loyalty":"LC-777777"}}`))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := eng.Apply([]event.Event{ev}); err != nil {
		t.Fatal(err)
	}
	c := client{t, serveReal(t, Handler(Options{Store: store, Engine: eng}))}
	for _, q := range []string{"type=email&value=" + url.QueryEscape(" ann.example@mail.com"), "type=phone&value=" + url.QueryEscape("+49 30 1234567"), "type=loyalty&value=LC-777777"} {
		resp, body := c.do("GET", "/v1/lookup?"+q, "", nil)
		if resp.StatusCode != 200 {
			t.Errorf("%s: %d %s", q, resp.StatusCode, body)
			continue
		}
		for _, plain := range []string{"ann.example", "1234567"} {
			if strings.Contains(strings.ToLower(body), plain) {
				t.Errorf("%s: the answer holds %q: %s", q, plain, body)
			}
		}
		if !strings.Contains(body, "LC-777777") {
			t.Errorf("%s: loyalty is not pseudonymised, yet missing: %s", q, body)
		}
	}
}
