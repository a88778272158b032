package httpapi

import (
	"encoding/json"
	"errors"
	"net/http"
	"time"

	"github.com/omnistitch/omnistitch/state"
	"github.com/omnistitch/omnistitch/stitch"
)

// Admin applies data-subject requests; the running service is one
// (pipeline.Service), applying each between two batches.
type Admin interface {
	Forget(stitch.Request) (*state.Audit, error)
	Unmerge(stitch.Request) (*state.Audit, error)
}

// AdminRequest is the body of POST /v1/forget and POST /v1/unmerge. The
// identifier travels in the body, never in the URL, which proxies log.
type AdminRequest struct {
	RequestID  string `json:"request_id,omitempty"` // idempotency key: a retry with the same id is applied once
	CustomerID string `json:"customer_id,omitempty"`
	Type       string `json:"type,omitempty"`
	Value      string `json:"value,omitempty"`
	Actor      string `json:"actor,omitempty"` // who asks, kept in the audit
}

// AdminResponse is the request as applied: the audit record.
type AdminResponse struct {
	RequestID   string   `json:"request_id"`
	Op          string   `json:"op"`
	CustomerID  string   `json:"customer_id,omitempty"` // as asked
	ResolvedID  string   `json:"resolved_id,omitempty"` // the customer it applied to
	IDType      string   `json:"id_type,omitempty"`
	Status      string   `json:"status"`
	Actor       string   `json:"actor,omitempty"`
	Events      int64    `json:"events"`
	Parts       []string `json:"parts,omitempty"` // unmerge: the new customers split off
	RequestedAt string   `json:"requested_at"`
}

// ResponseOf is the response for an audit record.
func ResponseOf(a *state.Audit) AdminResponse {
	return AdminResponse{
		RequestID: a.RequestID, Op: a.Op, CustomerID: a.Customer, ResolvedID: a.Resolved, IDType: a.IDType,
		Status: a.Status, Actor: a.Actor, Events: a.Events, Parts: a.Parts,
		RequestedAt: time.UnixMilli(a.At).UTC().Format(time.RFC3339),
	}
}

// StatusOf maps a request error to its HTTP status.
func StatusOf(err error) int {
	switch {
	case errors.Is(err, stitch.ErrBadRequest):
		return http.StatusBadRequest
	case errors.Is(err, stitch.ErrNotFound):
		return http.StatusNotFound
	case errors.Is(err, stitch.ErrConflict):
		return http.StatusConflict
	}
	return http.StatusInternalServerError
}

func registerAdmin(mux *http.ServeMux, o Options) {
	if o.Admin == nil {
		return
	}
	for path, apply := range map[string]func(stitch.Request) (*state.Audit, error){
		"POST /v1/forget":  o.Admin.Forget,
		"POST /v1/unmerge": o.Admin.Unmerge,
	} {
		mux.HandleFunc(path, func(w http.ResponseWriter, r *http.Request) {
			var req AdminRequest
			dec := json.NewDecoder(r.Body)
			dec.DisallowUnknownFields()
			if err := dec.Decode(&req); err != nil {
				// The decoder's message names fields and offsets; it may
				// quote a value only for a type mismatch, which for these
				// string fields means a non-string was sent.
				writeError(w, http.StatusBadRequest, "body must be a JSON object with request_id, customer_id, type, value, actor: "+err.Error())
				return
			}
			actor := req.Actor
			if actor == "" {
				actor = "http"
			}
			au, err := apply(stitch.Request{ID: req.RequestID, CustomerID: req.CustomerID, IDType: req.Type, IDValue: req.Value, Actor: actor, At: time.Now()})
			if err != nil {
				status := StatusOf(err)
				if status == http.StatusInternalServerError {
					o.Logger.Error("data-subject request failed", "err", err)
					writeError(w, status, "the request could not be applied; see the service log")
					return
				}
				// Request errors name fields and reasons, never values.
				writeError(w, status, err.Error())
				return
			}
			writeJSON(w, http.StatusOK, ResponseOf(au))
		})
	}
}
