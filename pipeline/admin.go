package pipeline

import (
	"errors"
	"strings"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/omnistitch/omnistitch/state"
	"github.com/omnistitch/omnistitch/stitch"
)

// Data-subject requests reach the engine between batches: each is one
// atomic batch of its own, with the sink's rows (tombstones, the audit row)
// staged in it like a batch of events, so ClickHouse follows the state
// whatever happens after the commit.

type adminMetrics struct {
	requests      *prometheus.CounterVec // by op and status
	lateForgotten prometheus.Counter
}

func newAdminMetrics(reg prometheus.Registerer) *adminMetrics {
	m := &adminMetrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "omnistitch_requests_total", Help: "Data-subject requests (forget, unmerge), by operation and outcome."}, []string{"op", "status"}),
		lateForgotten: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "omnistitch_forgotten_events_total", Help: "Late events of forgotten customers, dropped instead of bringing them back."}),
	}
	if reg != nil {
		reg.MustRegister(m.requests, m.lateForgotten)
	}
	return m
}

// Forget applies a forget request (see stitch.Engine.Forget).
func (s *Service) Forget(r stitch.Request) (*state.Audit, error) {
	return s.admin("forget", s.eng.Forget, r)
}

// Unmerge applies an unmerge request (see stitch.Engine.Unmerge).
func (s *Service) Unmerge(r stitch.Request) (*state.Audit, error) {
	return s.admin("unmerge", s.eng.Unmerge, r)
}

type adminOp func(stitch.Request, func(*state.Txn, *stitch.Result) error) (*state.Audit, *stitch.Result, error)

func (s *Service) admin(op string, do adminOp, r stitch.Request) (*state.Audit, error) {
	s.engMu.Lock()
	au, res, err := do(r, func(t *state.Txn, res *stitch.Result) error {
		if s.o.Stage != nil {
			return s.o.Stage(t, res)
		}
		return nil
	})
	s.engMu.Unlock()
	if err != nil {
		status := "error"
		for _, e := range []error{stitch.ErrBadRequest, stitch.ErrNotFound, stitch.ErrConflict} {
			if errors.Is(err, e) {
				status = strings.ReplaceAll(e.Error(), " ", "_")
			}
		}
		s.adm.requests.WithLabelValues(op, status).Inc()
		return nil, err
	}
	s.adm.requests.WithLabelValues(op, au.Status).Inc()
	// The audit names the customer and the identifier's type only.
	s.log.Info("data-subject request applied", "op", op, "request_id", au.RequestID, "customer_id", au.Resolved, "status", au.Status, "events", au.Events)
	if len(res.Audits) > 0 && s.o.Staged != nil {
		s.o.Staged(true) // a request's rows go out without waiting for more
	}
	return au, nil
}
