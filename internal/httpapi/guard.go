package httpapi

import (
	"crypto/sha256"
	"crypto/subtle"
	"fmt"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/omnistitch/omnistitch/internal/config"
)

// Request limits. A hostile or broken client gets a clear refusal, never a
// share of memory or goroutines it can grow without bound.
const (
	// MaxBodyBytes caps a request body; the read-only endpoints take none,
	// the administrative ones a small JSON object.
	MaxBodyBytes = 64 << 10
	// maxHeaderBytes caps the request line and headers (431 beyond).
	maxHeaderBytes = 16 << 10
	// DefaultMaxConcurrent is the cap on requests in progress when the
	// options leave it at zero.
	DefaultMaxConcurrent = 64
	// minTokenLen keeps a guessable token (a word, a PIN) out of service.
	minTokenLen = 16
)

// NewServer returns the http.Server for h with the limits every listener of
// the service needs: bounded headers and timeouts on every phase, so that a
// slow or idle client cannot hold a connection (and its goroutine) forever.
func NewServer(h http.Handler) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       10 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       60 * time.Second,
		MaxHeaderBytes:    maxHeaderBytes,
	}
}

// Token reads the bearer token named by http.token_env or http.token_file;
// "" when neither is set. Errors name the setting, never the token.
func Token(h config.HTTP) (string, error) {
	var tok, from string
	switch {
	case h.TokenEnv != "":
		from = "http.token_env"
		v, ok := os.LookupEnv(h.TokenEnv)
		if !ok || v == "" {
			return "", fmt.Errorf("%s: environment variable %s is not set", from, h.TokenEnv)
		}
		tok = v
	case h.TokenFile != "":
		from = "http.token_file"
		b, err := os.ReadFile(h.TokenFile)
		if err != nil {
			return "", fmt.Errorf("%s: %w", from, err)
		}
		tok = strings.TrimRight(string(b), "\r\n")
	default:
		return "", nil
	}
	if len(tok) < minTokenLen {
		return "", fmt.Errorf("%s: the token must be at least %d characters (e.g. openssl rand -hex 32)", from, minTokenLen)
	}
	if strings.ContainsAny(tok, " \t\r\n") {
		// A client cannot send it in one Authorization header.
		return "", fmt.Errorf("%s: the token must not contain spaces or line breaks", from)
	}
	return tok, nil
}

// open reports whether a path is served without a token and outside the
// concurrency cap: process health, asked by orchestrators that carry no
// credentials and must get an answer under load.
func open(path string) bool { return path == "/healthz" || path == "/readyz" }

// guard wraps the whole mux, so that every endpoint, including ones added
// later, is behind the same checks: the token (when one is configured),
// the body cap and the concurrency cap, in that order, so that requests
// without the token never take a slot.
func guard(next http.Handler, token string, maxConcurrent int) http.Handler {
	if maxConcurrent <= 0 {
		maxConcurrent = DefaultMaxConcurrent
	}
	slots := make(chan struct{}, maxConcurrent)
	// Comparing fixed-size digests keeps the comparison constant-time in
	// the token's length too, which subtle.ConstantTimeCompare alone is not.
	want := sha256.Sum256([]byte(token))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if open(r.URL.Path) {
			next.ServeHTTP(w, r)
			return
		}
		if token != "" {
			got, ok := bearer(r.Header.Get("Authorization"))
			sum := sha256.Sum256([]byte(got))
			if subtle.ConstantTimeCompare(sum[:], want[:]) != 1 || !ok {
				w.Header().Set("WWW-Authenticate", `Bearer realm="omnistitch"`)
				writeError(w, http.StatusUnauthorized, "a valid bearer token is required (Authorization: Bearer <token>)")
				return
			}
		}
		if r.ContentLength > MaxBodyBytes {
			writeError(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("request body over %d bytes", MaxBodyBytes))
			return
		}
		// Bodies without a length (chunked) are cut at the same size.
		r.Body = http.MaxBytesReader(w, r.Body, MaxBodyBytes)
		select {
		case slots <- struct{}{}:
			defer func() { <-slots }()
		default:
			w.Header().Set("Retry-After", "1")
			writeError(w, http.StatusServiceUnavailable, "too many requests in progress; retry shortly")
			return
		}
		next.ServeHTTP(w, r)
	})
}

// bearer extracts the token of an "Authorization: Bearer <token>" header;
// the scheme is case-insensitive (RFC 7235).
func bearer(h string) (string, bool) {
	scheme, tok, ok := strings.Cut(h, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	tok = strings.TrimSpace(tok)
	return tok, tok != ""
}
