// Package httpapi serves the service's HTTP endpoints: health and readiness
// for orchestrators of the process, Prometheus metrics, and read-only
// lookups of profiles and identities for journey orchestrators at request
// time. Reads go to the committed state in Pebble, never to the writer's
// caches, so they are safe while the engine applies batches.
package httpapi

import (
	"encoding/json"
	"log/slog"
	"net/http"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/omnistitch/omnistitch/state"
	"github.com/omnistitch/omnistitch/stitch"
	"github.com/omnistitch/omnistitch/stitch/normalize"
)

// Options configure the handler.
type Options struct {
	Store    *state.Store
	Engine   *stitch.Engine // for normalising looked-up values like the engine does
	Ready    func() bool    // nil: always ready
	Gatherer prometheus.Gatherer
	Logger   *slog.Logger
	// Token, when set, is the bearer token every endpoint but /healthz and
	// /readyz requires (see Token for where it comes from).
	Token string
	// MaxConcurrent caps the requests in progress; beyond it 503. 0 means
	// DefaultMaxConcurrent.
	MaxConcurrent int
	// Admin, if set, serves POST /v1/forget and POST /v1/unmerge.
	Admin Admin
}

// maxQuery bounds what a request may ask, so that a hostile client cannot
// make the server hash megabytes per request.
const maxQuery = 1024

// Handler returns the HTTP handler: every endpoint behind the token (if
// any), the body cap and the concurrency cap of guard.
func Handler(o Options) http.Handler {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Write([]byte("ok\n"))
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) {
		if o.Ready != nil && !o.Ready() {
			http.Error(w, "not ready", http.StatusServiceUnavailable)
			return
		}
		w.Write([]byte("ready\n"))
	})
	if o.Gatherer != nil {
		mux.Handle("GET /metrics", promhttp.HandlerFor(o.Gatherer, promhttp.HandlerOpts{}))
	}
	mux.HandleFunc("GET /v1/profiles/{customer_id}", func(w http.ResponseWriter, r *http.Request) {
		id := r.PathValue("customer_id")
		if len(id) != state.CustomerIDLen || !strings.HasPrefix(id, "c_") {
			writeError(w, http.StatusBadRequest, "customer_id must be c_ and 16 hex digits")
			return
		}
		profile(w, o, id)
	})
	registerAdmin(mux, o)
	mux.HandleFunc("GET /v1/lookup", func(w http.ResponseWriter, r *http.Request) {
		typ, value := r.URL.Query().Get("type"), r.URL.Query().Get("value")
		if typ == "" || value == "" || len(typ)+len(value) > maxQuery {
			writeError(w, http.StatusBadRequest, "type and value are required (at most 1 KiB)")
			return
		}
		norm, res := o.Engine.Normalize(typ, value)
		if res != normalize.OK {
			// Says why, never echoes the value: it is personal data.
			writeError(w, http.StatusBadRequest, "value is not a usable "+typ+" identifier: "+res.String())
			return
		}
		rec, err := o.Store.Identifier(typ + ":" + norm)
		if err != nil {
			o.Logger.Error("identifier lookup failed", "err", err)
			writeError(w, http.StatusInternalServerError, "state read failed")
			return
		}
		if rec == nil || rec.Customer == "" {
			msg := "no customer has this identifier"
			if rec != nil && rec.Shared {
				msg = "this identifier is shared by several customers and links none"
			}
			writeError(w, http.StatusNotFound, msg)
			return
		}
		profile(w, o, rec.Customer)
	})
	return guard(mux, o.Token, o.MaxConcurrent)
}

func profile(w http.ResponseWriter, o Options, id string) {
	c, err := o.Store.Customer(id)
	if err == nil && c == nil {
		// An id merged into another (an orchestrator may hold the old
		// one) answers with the customer it is part of now: the
		// profile's customer_id says which.
		var now string
		if now, err = o.Store.SurvivorOf(id); err == nil && now != id {
			c, err = o.Store.Customer(now)
		}
	}
	if err != nil {
		o.Logger.Error("profile read failed", "err", err)
		writeError(w, http.StatusInternalServerError, "state read failed")
		return
	}
	if c == nil {
		writeError(w, http.StatusNotFound, "no such customer")
		return
	}
	writeJSON(w, http.StatusOK, stitch.ProfileOf(c))
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

func writeError(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, map[string]string{"error": msg})
}
