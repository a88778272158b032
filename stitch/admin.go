package stitch

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/omnistitch/omnistitch/state"
	"github.com/omnistitch/omnistitch/stitch/event"
	"github.com/omnistitch/omnistitch/stitch/normalize"
)

// Data-subject requests: forget (GDPR erasure) and unmerge (an identifier
// wrongly joined people). Each runs as one atomic batch of its own, like a
// batch of events, so a sink's rows and the audit record commit with the
// change or not at all. A request id makes a retry harmless: the same id is
// applied once and its first outcome is returned again.

// Request asks for a forget or an unmerge. A forget names the customer or
// one of its identifiers; an unmerge names both.
type Request struct {
	ID         string // idempotency key; "" = a new random one
	CustomerID string
	IDType     string
	IDValue    string // raw; normalised like events' identifiers
	Actor      string // who asks, as the caller says (kept in the audit)
	At         time.Time
}

// Request errors, for callers to map (HTTP 400, 404, 409).
var (
	ErrBadRequest = errors.New("bad request")
	ErrNotFound   = errors.New("not found")
	ErrConflict   = errors.New("conflict")
)

// Outcomes of requests, in the audit's status column.
const (
	StatusForgotten        = "forgotten"
	StatusAlreadyForgotten = "already_forgotten"
	StatusUnmerged         = "unmerged"
	StatusAlreadyUnmerged  = "already_unmerged"
)

// maxActor bounds what a caller may write into the audit.
const maxActor = 256

func (r *Request) check(op string) error {
	if r.ID == "" {
		var b [8]byte
		rand.Read(b[:])
		r.ID = fmt.Sprintf("r_%x_%s", r.At.UnixMilli(), hex.EncodeToString(b[:]))
	}
	switch {
	case len(r.ID) > 128 || strings.ContainsAny(r.ID, "\x00\n"):
		return fmt.Errorf("%w: request_id must be at most 128 characters, without NUL or newline", ErrBadRequest)
	case len(r.Actor) > maxActor:
		return fmt.Errorf("%w: actor must be at most %d bytes", ErrBadRequest, maxActor)
	case r.CustomerID != "" && (len(r.CustomerID) != state.CustomerIDLen || !strings.HasPrefix(r.CustomerID, "c_")):
		return fmt.Errorf("%w: customer_id must be c_ and 16 hex digits", ErrBadRequest)
	case (r.IDType == "") != (r.IDValue == ""):
		return fmt.Errorf("%w: an identifier needs both type and value", ErrBadRequest)
	case op == opForget && r.CustomerID == "" && r.IDType == "":
		return fmt.Errorf("%w: forget needs a customer_id or an identifier (type and value)", ErrBadRequest)
	case op == opUnmerge && (r.CustomerID == "" || r.IDType == ""):
		return fmt.Errorf("%w: unmerge needs a customer_id and an identifier (type and value)", ErrBadRequest)
	}
	return nil
}

const (
	opForget  = "forget"
	opUnmerge = "unmerge"
)

// identifierKey normalises a requested identifier like the engine does an
// event's. Errors say why, never the value.
func (e *Engine) identifierKey(typ, raw string) (string, error) {
	if e.types[typ] == nil {
		return "", fmt.Errorf("%w: unknown identifier type %q", ErrBadRequest, typ)
	}
	v, res := e.Normalize(typ, raw)
	if res != normalize.OK {
		return "", fmt.Errorf("%w: value is not a usable %s identifier: %s", ErrBadRequest, typ, res)
	}
	return typ + ":" + v, nil
}

// admin runs one request in a batch of its own: body decides and changes,
// then the hook adds the caller's writes (a sink's rows), then the audit is
// committed with both.
func (e *Engine) admin(r Request, op string, hook func(*state.Txn, *Result) error, body func(a *applier, au *state.Audit) error) (*state.Audit, *Result, error) {
	if err := r.check(op); err != nil {
		return nil, nil, err
	}
	t := e.store.Begin()
	prev, err := t.AuditOf(r.ID)
	if err != nil || prev != nil {
		t.Discard()
		if prev != nil && prev.Op != op {
			return nil, nil, fmt.Errorf("%w: request_id %s was used for a %s", ErrConflict, r.ID, prev.Op)
		}
		return prev, &Result{}, err
	}
	res := &Result{}
	a := applier{e: e, t: t, r: res, floor: e.timerFloor}
	au := &state.Audit{RequestID: r.ID, Op: op, Customer: r.CustomerID, IDType: r.IDType, Actor: r.Actor, At: r.At.UnixMilli()}
	if err := body(&a, au); err != nil {
		t.Discard()
		return nil, nil, err
	}
	t.AddAudit(au)
	res.Audits = append(res.Audits, *au)
	if hook != nil {
		if err := hook(t, res); err != nil {
			t.Discard()
			return nil, nil, err
		}
	}
	if err := t.Commit(); err != nil {
		return nil, nil, err
	}
	return au, res, nil
}

// Forget erases a customer: its journey, profile and identifiers, and the
// merges, conflicts and triggers that name it or a customer merged into it.
// Event ids stay marked as applied, so a redelivered event stays a
// duplicate; identifiers and the customer id stay as tombstones (hashes,
// not values), so that late events of the forgotten customer — event time
// up to the forget — are dropped rather than bring it back, while newer
// events with those identifiers make a new customer. Forgetting what is
// already forgotten changes nothing (status already_forgotten); an unknown
// customer or identifier is ErrNotFound.
func (e *Engine) Forget(r Request, hook func(*state.Txn, *Result) error) (*state.Audit, *Result, error) {
	return e.admin(r, opForget, hook, func(a *applier, au *state.Audit) error {
		t := a.t
		cust := r.CustomerID
		if cust == "" {
			k, err := e.identifierKey(r.IDType, r.IDValue)
			if err != nil {
				return err
			}
			rec, err := t.Identifier(k)
			if err != nil {
				return err
			}
			if rec == nil {
				if _, gone, err := t.Tombstone(state.TombIdentifier, k); err != nil || gone {
					au.Status = StatusAlreadyForgotten
					return err
				}
				return fmt.Errorf("%w: no customer has this identifier", ErrNotFound)
			}
			if rec.Shared || rec.Customer == "" {
				return fmt.Errorf("%w: this identifier is shared by several customers and links none; forget by customer_id", ErrConflict)
			}
			cust = rec.Customer
		}
		if _, gone, err := t.Tombstone(state.TombCustomer, cust); err != nil || gone {
			au.Status, au.Resolved = StatusAlreadyForgotten, cust
			return err
		}
		now, err := t.Survivor(cust)
		if err != nil {
			return err
		}
		c, err := t.Customer(now)
		if err != nil {
			return err
		}
		if c == nil {
			if _, gone, err := t.Tombstone(state.TombCustomer, now); err != nil || gone {
				au.Status, au.Resolved = StatusAlreadyForgotten, now
				return err
			}
			return fmt.Errorf("%w: no such customer", ErrNotFound)
		}
		au.Resolved = now
		upTo := c.LastSeen
		if ts, ok := t.EventTime(); ok {
			upTo = max(upTo, ts)
		}
		var entries []*state.Entry
		if err := t.Journey(now, func(en *state.Entry) error {
			entries = append(entries, en)
			return nil
		}); err != nil {
			return err
		}
		for _, en := range entries {
			if err := t.DeleteEntry(now, en.TS, en.EventID); err != nil {
				return err
			}
		}
		for _, k := range c.IDs {
			t.DeleteIdentifier(k)
			t.SetTombstone(state.TombIdentifier, k, upTo)
		}
		er, err := t.EraseCustomer(now)
		if err != nil {
			return err
		}
		t.DeleteCustomer(now)
		t.SetTombstone(state.TombCustomer, now, upTo)
		for _, id := range er.Absorbed {
			t.SetTombstone(state.TombCustomer, id, upTo)
		}
		er.Customers = append([]string{now}, er.Absorbed...)
		er.Identifiers = slices.Clone(c.IDs)
		a.r.Erased = er
		au.Status, au.Events = StatusForgotten, int64(len(entries))
		return nil
	})
}

// Unmerge removes an identifier from a customer, as shared-identifier
// detection does: the identifier links nobody from then on, and the
// customer is recomputed from the links its events recorded, the parts
// no longer connected becoming customers of their own (SPEC "Unmerge").
// Unmerging an identifier already unlinked changes nothing (status
// already_unmerged); one that belongs to another customer is ErrConflict.
func (e *Engine) Unmerge(r Request, hook func(*state.Txn, *Result) error) (*state.Audit, *Result, error) {
	return e.admin(r, opUnmerge, hook, func(a *applier, au *state.Audit) error {
		t := a.t
		k, err := e.identifierKey(r.IDType, r.IDValue)
		if err != nil {
			return err
		}
		now, err := t.Survivor(r.CustomerID)
		if err != nil {
			return err
		}
		c, err := t.Customer(now)
		if err != nil {
			return err
		}
		if c == nil {
			if _, gone, err := t.Tombstone(state.TombCustomer, now); err != nil || gone {
				au.Status, au.Resolved = StatusAlreadyForgotten, now
				return err
			}
			return fmt.Errorf("%w: no such customer", ErrNotFound)
		}
		au.Resolved = now
		rec, err := t.Identifier(k)
		if err != nil {
			return err
		}
		_, held := slices.BinarySearch(c.IDs, k)
		switch {
		case rec == nil:
			return fmt.Errorf("%w: no customer has this identifier", ErrNotFound)
		case rec.Shared && !held:
			au.Status = StatusAlreadyUnmerged
			return nil
		case rec.Customer != now || !held:
			return fmt.Errorf("%w: the identifier belongs to another customer", ErrConflict)
		}
		rec.Customer, rec.Shared, rec.Co = "", true, nil
		t.SetIdentifier(k, rec)
		before := c.Events
		if err := a.detach(now, k); err != nil {
			return err
		}
		for _, sp := range a.r.Splits {
			au.Parts = append(au.Parts, sp.To)
		}
		kept, err := t.Customer(now)
		if err != nil {
			return err
		}
		if kept != nil {
			au.Events = before - kept.Events
		}
		au.Status = StatusUnmerged
		return nil
	})
}

// ofForgotten reports whether an event is a late one of a forgotten
// customer: one of its identifiers was forgotten and has not come back
// since, and the event is no newer than the forget. Only identifiers
// without a record are asked about, so without forgets this costs nothing.
func (a *applier) ofForgotten(ev *event.Event) (bool, error) {
	if a.e.keepForgottenLate {
		return false, nil
	}
	for _, id := range a.ids {
		if id.rec != nil {
			continue
		}
		upTo, gone, err := a.t.Tombstone(state.TombIdentifier, id.key)
		if err != nil || (gone && ev.TS <= upTo) {
			return gone, err
		}
	}
	return false, nil
}
