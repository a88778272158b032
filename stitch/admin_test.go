package stitch_test

import (
	"errors"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/omnistitch/omnistitch/internal/config"
	"github.com/omnistitch/omnistitch/state"
	"github.com/omnistitch/omnistitch/stitch"
	"github.com/omnistitch/omnistitch/stitch/event"
)

func aev(id string, ts int64, typ string, ids ...string) event.Event {
	e := event.Event{ID: id, Channel: "web", Type: typ, TS: ts, Props: []byte(`{"total":10}`)}
	for i := 0; i+1 < len(ids); i += 2 {
		e.IDs = append(e.IDs, event.ID{Type: ids[i], Value: ids[i+1]})
	}
	return e
}

// adminRig is an engine whose every batch — events or requests — is folded
// into the tables model of the ClickHouse views.
type adminRig struct {
	t     *testing.T
	store *state.Store
	eng   *stitch.Engine
	tb    *tables
	res   *stitch.Result // of the last request
}

func newAdminRig(t *testing.T, tune ...func(*config.Config)) *adminRig {
	t.Helper()
	cfg := config.Default()
	for _, f := range tune {
		f(cfg)
	}
	store, err := state.Open(filepath.Join(t.TempDir(), "state"), state.Options{CustomerCache: 8, IdentifierCache: 8})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	set, err := stitch.LoadRules(cfg)
	if err != nil {
		t.Fatal(err)
	}
	eng, err := stitch.NewWithRules(cfg, store, set)
	if err != nil {
		t.Fatal(err)
	}
	return &adminRig{t: t, store: store, eng: eng, tb: newTables()}
}

func (r *adminRig) hook(txn *state.Txn, res *stitch.Result) error {
	ch, err := r.eng.Changes(txn)
	if err != nil {
		return err
	}
	r.tb.apply(r.t, ch)
	return nil
}

func (r *adminRig) apply(evs ...event.Event) *stitch.Result {
	r.t.Helper()
	res, err := r.eng.ApplyWith(evs, r.hook)
	if err != nil {
		r.t.Fatal(err)
	}
	r.tb.check(r.t, r.eng, "after events")
	return res
}

func (r *adminRig) forget(req stitch.Request) (*state.Audit, error) {
	r.t.Helper()
	req.At = time.UnixMilli(1_700_000_000_000)
	au, res, err := r.eng.Forget(req, r.hook)
	r.res = res
	if err == nil {
		r.tb.check(r.t, r.eng, "after forget")
	}
	return au, err
}

func (r *adminRig) unmerge(req stitch.Request) (*state.Audit, error) {
	r.t.Helper()
	req.At = time.UnixMilli(1_700_000_000_000)
	au, res, err := r.eng.Unmerge(req, r.hook)
	r.res = res
	if err == nil {
		r.tb.check(r.t, r.eng, "after unmerge")
	}
	return au, err
}

func (r *adminRig) customerOf(key string) string {
	r.t.Helper()
	rec, err := r.store.Identifier(key)
	if err != nil {
		r.t.Fatal(err)
	}
	if rec == nil {
		return ""
	}
	return rec.Customer
}

// A forgotten customer leaves no trace in the state but event ids and
// hashed tombstones: no identifier value anywhere, no journey, profile,
// merge, conflict or trigger naming it; the sink is told to delete each.
func TestForgetErasesCustomer(t *testing.T) {
	// The offline command keeps triggers whole in a log, which the erasure
	// lists; the service keeps none (its sink finds a forgotten customer's
	// trigger rows itself: sinks/clickhouse).
	t.Run("none", func(t *testing.T) { testForgetErasesCustomer(t, false) })
	t.Run("log", func(t *testing.T) { testForgetErasesCustomer(t, true) })
}

func testForgetErasesCustomer(t *testing.T, triggerLog bool) {
	r := newAdminRig(t)
	if triggerLog {
		r.eng.KeepTriggerLog()
	}
	res := r.apply(
		aev("e0", 500, "call", "phone", "030 111111"),
		aev("e1", 1000, "add_to_cart", "cookie", "ck-ann"),
		aev("e2", 2000, "login", "cookie", "ck-ann", "email", "ann@example.com"),
		aev("e3", 3000, "purchase", "email", "ann@example.com", "phone", "+4930111111"),
		aev("e4", 4000, "purchase", "loyalty", "L-ann", "phone", "+4930111111"),
		aev("e5", 4500, "page_view", "user", "u-ann", "loyalty", "L-ann", "email", "ann.other@example.com"),
		aev("e6", 4600, "page_view", "phone", "+4930111111", "email", "x1@example.com"),
		aev("e7", 4700, "page_view", "loyalty", "L-ann", "email", "x2@example.com"), // refused: a 4th e-mail
		aev("b1", 1500, "page_view", "email", "bob@example.com"),
	)
	ann := r.customerOf("email:ann@example.com")
	bob := r.customerOf("email:bob@example.com")
	if ann == "" || bob == "" || ann == bob {
		t.Fatalf("setup: ann %q bob %q", ann, bob)
	}
	var fired []string
	for _, g := range res.Triggers {
		if g.Customer == ann {
			fired = append(fired, g.ID)
		}
	}
	logged := 0
	r.store.Triggers(func(g *state.Trigger) error {
		logged++
		return nil
	})
	if want := len(res.Triggers) * btoi(triggerLog); logged != want {
		t.Fatalf("%d triggers in the log, want %d", logged, want)
	}

	au, err := r.forget(stitch.Request{ID: "req-1", IDType: "email", IDValue: " ANN@example.com ", Actor: "dpo"})
	if err != nil {
		t.Fatal(err)
	}
	if au.Status != stitch.StatusForgotten || au.Resolved != ann || au.Events != 8 || au.IDType != "email" {
		t.Fatalf("audit %+v", au)
	}
	er := r.res.Erased
	if er == nil || len(er.Merges) == 0 || len(er.Conflicts) != 1 || len(fired) == 0 {
		t.Fatalf("erased %+v (triggers fired %v)", er, fired)
	}
	var erased []string
	for _, g := range er.Triggers {
		if g.Customer != ann {
			t.Errorf("erased trigger %s of %s, not of %s", g.ID, g.Customer, ann)
		}
		erased = append(erased, g.ID)
	}
	slices.Sort(erased)
	want := slices.Sorted(slices.Values(fired))
	if !triggerLog {
		want = nil
	}
	if !slices.Equal(erased, want) {
		t.Errorf("erased triggers %v, want %v (fired %v)", erased, want, fired)
	}
	for _, needle := range []string{"ann@example.com", "ann.other@example.com", "+4930111111", "L-ann", "u-ann", "ck-ann", "x1@example.com", "x2@example.com"} {
		if k, err := r.store.FindBytes([]byte(needle)); err != nil || k != nil {
			t.Errorf("%q still in the state under key %q (err %v)", needle, k, err)
		}
	}
	// Customer ids stay in the audit record ('d') only: it proves the erasure.
	ids := []string{ann}
	for _, m := range r.res.Erased.Merges {
		ids = append(ids, m.Absorbed)
	}
	for _, id := range ids {
		if k, _ := r.store.FindBytes([]byte(id)); k != nil && k[0] != 'd' {
			t.Errorf("customer id %s still under key %q", id, k)
		}
	}
	if c, _ := r.store.Customer(bob); c == nil {
		t.Fatal("bob was forgotten too")
	}
	if audits := collectAudits(t, r.store); len(audits) != 1 || audits[0].RequestID != "req-1" || audits[0].Actor != "dpo" {
		t.Fatalf("audit log %+v", audits)
	}

	// The same request again is answered from the audit; a new one finds
	// the customer already forgotten, by id or by identifier.
	again, err := r.forget(stitch.Request{ID: "req-1", IDType: "email", IDValue: "ann@example.com"})
	if err != nil || again.Status != stitch.StatusForgotten || again.Actor != "dpo" {
		t.Fatalf("retry: %+v %v", again, err)
	}
	for _, req := range []stitch.Request{{CustomerID: ann}, {IDType: "phone", IDValue: "030 111111"}} {
		au, err := r.forget(req)
		if err != nil || au.Status != stitch.StatusAlreadyForgotten {
			t.Fatalf("%+v: %+v %v", req, au, err)
		}
		if r.res.Erased != nil {
			t.Fatalf("%+v erased again: %+v", req, r.res.Erased)
		}
	}
	if n := len(collectAudits(t, r.store)); n != 3 {
		t.Fatalf("%d audit records, want 3", n)
	}
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

func collectAudits(t *testing.T, s *state.Store) []state.Audit {
	t.Helper()
	var out []state.Audit
	if err := s.Audits(func(a *state.Audit) error {
		out = append(out, *a)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return out
}

// Late events of a forgotten customer (event time up to the forget) are
// dropped, a redelivered one stays a duplicate, and a newer event with a
// forgotten identifier starts a new customer.
func TestForgetTombstones(t *testing.T) {
	r := newAdminRig(t)
	r.apply(
		aev("e1", 1000, "page_view", "email", "ann@example.com", "cookie", "ck-1"),
		aev("x1", 5000, "page_view", "email", "carl@example.com"),
	)
	ann := r.customerOf("email:ann@example.com")
	if _, err := r.forget(stitch.Request{CustomerID: ann}); err != nil {
		t.Fatal(err)
	}
	res := r.apply(
		aev("e1", 1000, "page_view", "email", "ann@example.com"),     // redelivered
		aev("late", 4000, "purchase", "cookie", "ck-1"),              // late, before the forget's time (5000)
		aev("late2", 5000, "purchase", "email", "ANN@example.com"),   // at it
		aev("mixed", 4000, "page_view", "email", "carl@example.com"), // unrelated late event
		aev("new", 6000, "page_view", "email", "ann@example.com"),    // after: a new customer
	)
	want := []stitch.Status{stitch.Duplicate, stitch.Forgotten, stitch.Forgotten, stitch.Applied, stitch.Applied}
	for i, o := range res.Outcomes {
		if o.Status != want[i] {
			t.Errorf("event %d: status %d, want %d", i, o.Status, want[i])
		}
	}
	again := r.customerOf("email:ann@example.com")
	if again == "" || again == ann {
		t.Fatalf("ann after the forget: %q (forgotten id %s)", again, ann)
	}
	if r.customerOf("cookie:ck-1") != "" {
		t.Fatal("a late event brought a forgotten cookie back")
	}
}

// With forget_late_events: apply, a late event of a forgotten customer is
// applied like any other: it makes a new customer.
func TestForgetLateEventsApply(t *testing.T) {
	r := newAdminRig(t, func(c *config.Config) { c.Identity.ForgetLate = "apply" })
	r.apply(
		aev("e1", 1000, "page_view", "email", "ann@example.com"),
		aev("x1", 5000, "page_view", "email", "carl@example.com"),
	)
	ann := r.customerOf("email:ann@example.com")
	if _, err := r.forget(stitch.Request{CustomerID: ann}); err != nil {
		t.Fatal(err)
	}
	res := r.apply(aev("late", 4000, "purchase", "email", "ann@example.com"))
	if res.Outcomes[0].Status != stitch.Applied {
		t.Fatalf("late event: status %d, want applied", res.Outcomes[0].Status)
	}
	if c := r.customerOf("email:ann@example.com"); c == "" || c == ann {
		t.Fatalf("ann after the late event: %q", c)
	}
}

// Unmerge of an identifier that joined two people splits the customer
// along the links its events recorded; the identifier links nobody after,
// and the request is idempotent.
func TestUnmergeSplitsCustomer(t *testing.T) {
	r := newAdminRig(t)
	r.apply(
		aev("a1", 1000, "page_view", "email", "ann@example.com", "device", "kiosk-7"),
		aev("a2", 2000, "purchase", "email", "ann@example.com"),
		aev("b1", 3000, "page_view", "email", "bob@example.com", "device", "kiosk-7"),
		aev("b2", 4000, "purchase", "email", "bob@example.com", "phone", "+4930222222"),
	)
	c := r.customerOf("email:ann@example.com")
	if c == "" || r.customerOf("email:bob@example.com") != c {
		t.Fatal("setup: the kiosk should have joined ann and bob")
	}
	if _, err := r.unmerge(stitch.Request{CustomerID: c, IDType: "device", IDValue: "kiosk-7"}); err != nil {
		t.Fatal(err)
	}
	ann, bob := r.customerOf("email:ann@example.com"), r.customerOf("email:bob@example.com")
	if ann != c || bob == "" || bob == c || r.customerOf("phone:+4930222222") != bob {
		t.Fatalf("after unmerge: ann %s bob %s (was %s)", ann, bob, c)
	}
	if r.customerOf("device:kiosk-7") != "" {
		t.Fatal("the unmerged identifier still links a customer")
	}
	var events []string
	r.eng.Journey(bob, func(j *stitch.JourneyRow) error {
		events = append(events, j.EventID)
		return nil
	})
	if !slices.Equal(events, []string{"b1", "b2"}) {
		t.Fatalf("bob's journey %v", events)
	}
	au, err := r.unmerge(stitch.Request{CustomerID: c, IDType: "device", IDValue: "kiosk-7"})
	if err != nil || au.Status != stitch.StatusAlreadyUnmerged {
		t.Fatalf("repeat: %+v %v", au, err)
	}
	// The kiosk joins nobody from now on.
	r.apply(aev("c1", 5000, "page_view", "device", "kiosk-7", "email", "bob@example.com"))
	if r.customerOf("email:ann@example.com") == r.customerOf("email:bob@example.com") {
		t.Fatal("the kiosk merged ann and bob again")
	}
}

func TestRequestErrors(t *testing.T) {
	r := newAdminRig(t)
	r.apply(
		aev("a1", 1000, "page_view", "email", "ann@example.com"),
		aev("b1", 1000, "page_view", "email", "bob@example.com"),
	)
	ann := r.customerOf("email:ann@example.com")
	for _, tc := range []struct {
		name   string
		unmrg  bool
		req    stitch.Request
		target error
	}{
		{"nothing named", false, stitch.Request{}, stitch.ErrBadRequest},
		{"bad customer id", false, stitch.Request{CustomerID: "c_nothex"}, stitch.ErrBadRequest},
		{"unknown type", false, stitch.Request{IDType: "passport", IDValue: "X1"}, stitch.ErrBadRequest},
		{"junk value", false, stitch.Request{IDType: "email", IDValue: "null"}, stitch.ErrBadRequest},
		{"type without value", false, stitch.Request{IDType: "email"}, stitch.ErrBadRequest},
		{"unknown identifier", false, stitch.Request{IDType: "email", IDValue: "zed@example.com"}, stitch.ErrNotFound},
		{"unknown customer", false, stitch.Request{CustomerID: "c_0000000000000000"}, stitch.ErrNotFound},
		{"unmerge without identifier", true, stitch.Request{CustomerID: ann}, stitch.ErrBadRequest},
		{"unmerge of another's identifier", true, stitch.Request{CustomerID: ann, IDType: "email", IDValue: "bob@example.com"}, stitch.ErrConflict},
		{"request id reused for another op", true, stitch.Request{ID: "r1", CustomerID: ann, IDType: "email", IDValue: "ann@example.com"}, stitch.ErrConflict},
	} {
		if tc.req.ID == "r1" {
			if _, err := r.forget(stitch.Request{ID: "r1", CustomerID: r.customerOf("email:bob@example.com")}); err != nil {
				t.Fatal(err)
			}
		}
		var err error
		if tc.unmrg {
			_, err = r.unmerge(tc.req)
		} else {
			_, err = r.forget(tc.req)
		}
		if !errors.Is(err, tc.target) {
			t.Errorf("%s: err %v, want %v", tc.name, err, tc.target)
		}
	}
	if c, _ := r.store.Customer(ann); c == nil {
		t.Fatal("a refused request changed the state")
	}
}
