package httpapi

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/omnistitch/omnistitch/internal/config"
	"github.com/omnistitch/omnistitch/state"
	"github.com/omnistitch/omnistitch/stitch"
)

const testToken = "0123456789abcdef0123456789abcdef"

// serveReal serves h with the service's own server settings on a real
// loopback listener and returns its base URL.
func serveReal(t *testing.T, h http.Handler) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := NewServer(h)
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return "http://" + ln.Addr().String()
}

func apiHandler(t *testing.T, token string) http.Handler {
	t.Helper()
	store, err := state.Open(t.TempDir(), state.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	eng, err := stitch.New(config.Default(), store)
	if err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(prometheus.NewCounter(prometheus.CounterOpts{Name: "omnistitch_test_total", Help: "t"}))
	return Handler(Options{Store: store, Engine: eng, Gatherer: reg, Token: token})
}

type client struct {
	t    *testing.T
	base string
}

func (c client) do(method, path, auth string, body io.Reader) (*http.Response, string) {
	c.t.Helper()
	req, err := http.NewRequest(method, c.base+path, body)
	if err != nil {
		c.t.Fatal(err)
	}
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

func TestTokenRequiredExceptHealth(t *testing.T) {
	c := client{t, serveReal(t, apiHandler(t, testToken))}
	for _, path := range []string{"/metrics", "/v1/profiles/c_0000000000000000", "/v1/lookup?type=email&value=a@b.com", "/nonexistent"} {
		for _, auth := range []string{"", "Bearer wrong-token-of-some-length", "Bearer " + testToken + "x", "Basic " + testToken, "Bearer", testToken} {
			resp, body := c.do("GET", path, auth, nil)
			if resp.StatusCode != http.StatusUnauthorized || !strings.HasPrefix(resp.Header.Get("WWW-Authenticate"), "Bearer") {
				t.Errorf("%s with %q: %d %q, WWW-Authenticate %q; want 401 with a Bearer challenge", path, auth, resp.StatusCode, body, resp.Header.Get("WWW-Authenticate"))
			}
			if strings.Contains(body, testToken) {
				t.Errorf("%s: the answer quotes the token", path)
			}
		}
	}
	for path, want := range map[string]int{
		"/metrics":                           200,
		"/v1/profiles/c_0000000000000000":    404,
		"/v1/lookup?type=email&value=a@b.co": 404,
	} {
		for _, auth := range []string{"Bearer " + testToken, "bearer  " + testToken} {
			if resp, body := c.do("GET", path, auth, nil); resp.StatusCode != want {
				t.Errorf("%s with the token (%q): %d %s, want %d", path, auth[:7], resp.StatusCode, body, want)
			}
		}
	}
	for _, path := range []string{"/healthz", "/readyz"} {
		if resp, _ := c.do("GET", path, "", nil); resp.StatusCode != 200 {
			t.Errorf("%s without a token: %d, want 200", path, resp.StatusCode)
		}
	}
}

// Without a token (loopback) every endpoint answers, as before.
func TestNoTokenConfiguredIsOpen(t *testing.T) {
	c := client{t, serveReal(t, apiHandler(t, ""))}
	if resp, _ := c.do("GET", "/metrics", "", nil); resp.StatusCode != 200 {
		t.Errorf("/metrics %d", resp.StatusCode)
	}
}

func TestOversizedRequestsRefused(t *testing.T) {
	c := client{t, serveReal(t, apiHandler(t, testToken))}
	auth := "Bearer " + testToken

	// A body over the cap, with its length announced.
	resp, _ := c.do("POST", "/v1/lookup", auth, strings.NewReader(strings.Repeat("x", MaxBodyBytes+1)))
	if resp.StatusCode != http.StatusRequestEntityTooLarge {
		t.Errorf("body of %d bytes: %d, want 413", MaxBodyBytes+1, resp.StatusCode)
	}
	// Headers over the cap.
	req, _ := http.NewRequest("GET", c.base+"/v1/profiles/c_0000000000000000", nil)
	req.Header.Set("Authorization", auth)
	req.Header.Set("X-Big", strings.Repeat("h", 64<<10))
	r2, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	r2.Body.Close()
	if r2.StatusCode != http.StatusRequestHeaderFieldsTooLarge {
		t.Errorf("64 KiB header: %d, want 431", r2.StatusCode)
	}
	// A query over the lookup's cap.
	if resp, _ := c.do("GET", "/v1/lookup?type=email&value="+strings.Repeat("a", 2000)+"@b.com", auth, nil); resp.StatusCode != http.StatusBadRequest {
		t.Errorf("2 KB lookup value: %d, want 400", resp.StatusCode)
	}
}

// A body without a length (chunked) is cut at the cap when the handler
// reads it: the handler sees an error, never more than MaxBodyBytes.
func TestChunkedBodyCapped(t *testing.T) {
	var got int
	var readErr error
	h := guard(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n, err := io.Copy(io.Discard, r.Body)
		got, readErr = int(n), err
		if err != nil {
			http.Error(w, "too large", http.StatusRequestEntityTooLarge)
		}
	}), "", 4)
	c := client{t, serveReal(t, h)}
	pr, pw := io.Pipe()
	go func() {
		chunk := strings.Repeat("y", 4096)
		for i := 0; i < 40; i++ { // 160 KiB
			if _, err := pw.Write([]byte(chunk)); err != nil {
				return
			}
		}
		pw.Close()
	}()
	resp, _ := c.do("POST", "/x", "", pr)
	if resp.StatusCode != http.StatusRequestEntityTooLarge || readErr == nil || got > MaxBodyBytes {
		t.Errorf("chunked 160 KiB: status %d, read %d bytes, err %v; want 413 after at most %d", resp.StatusCode, got, readErr, MaxBodyBytes)
	}
}

// Beyond max_concurrent requests in progress the answer is 503 at once;
// health checks still answer.
func TestConcurrencyCap(t *testing.T) {
	release := make(chan struct{})
	var entered sync.WaitGroup
	entered.Add(2)
	h := guard(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/healthz" {
			w.Write([]byte("ok"))
			return
		}
		entered.Done()
		<-release
	}), "", 2)
	c := client{t, serveReal(t, h)}
	var wg sync.WaitGroup
	for range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c.do("GET", "/slow", "", nil)
		}()
	}
	entered.Wait()
	resp, _ := c.do("GET", "/slow", "", nil)
	if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" {
		t.Errorf("third request: %d, Retry-After %q; want 503 with Retry-After", resp.StatusCode, resp.Header.Get("Retry-After"))
	}
	if resp, _ := c.do("GET", "/healthz", "", nil); resp.StatusCode != 200 {
		t.Errorf("/healthz at the cap: %d", resp.StatusCode)
	}
	close(release)
	wg.Wait()
	// The slots are given back: both are free again.
	entered.Add(2)
	for range 2 {
		if resp, _ := c.do("GET", "/slow", "", nil); resp.StatusCode != 200 {
			t.Errorf("after release: %d, want 200", resp.StatusCode)
		}
	}
}

// A client that sends its headers slowly is cut off by the server's
// timeouts rather than holding a connection for ever.
func TestSlowClientTimedOut(t *testing.T) {
	if testing.Short() {
		t.Skip("waits for the header timeout")
	}
	base := serveReal(t, apiHandler(t, ""))
	conn, err := net.Dial("tcp", strings.TrimPrefix(base, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "GET /healthz HTTP/1.1\r\nHost: x\r\n") // never finished
	conn.SetReadDeadline(time.Now().Add(15 * time.Second))
	start := time.Now()
	line, _ := bufio.NewReader(conn).ReadString('\n')
	if el := time.Since(start); el > 12*time.Second {
		t.Errorf("connection held %v", el)
	}
	_ = line // the server may answer 408 or just close
}

func TestToken(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "token")
	os.WriteFile(file, []byte(testToken+"\n"), 0o600)
	if tok, err := Token(config.HTTP{TokenFile: file}); err != nil || tok != testToken {
		t.Errorf("file: %q %v", tok, err)
	}
	t.Setenv("OMNISTITCH_TEST_HTTP_TOKEN", testToken)
	if tok, err := Token(config.HTTP{TokenEnv: "OMNISTITCH_TEST_HTTP_TOKEN"}); err != nil || tok != testToken {
		t.Errorf("env: %q %v", tok, err)
	}
	if tok, err := Token(config.HTTP{}); err != nil || tok != "" {
		t.Errorf("none: %q %v", tok, err)
	}
	short := filepath.Join(dir, "short")
	os.WriteFile(short, []byte("secret\n"), 0o600)
	bad := func(h config.HTTP, want string) {
		t.Helper()
		_, err := Token(h)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%+v: %v, want an error containing %q", h, err, want)
		}
		if err != nil && strings.Contains(err.Error(), "secret") {
			t.Errorf("error quotes the token: %v", err)
		}
	}
	bad(config.HTTP{TokenFile: short}, "http.token_file: the token must be at least 16")
	bad(config.HTTP{TokenFile: filepath.Join(dir, "missing")}, "http.token_file")
	bad(config.HTTP{TokenEnv: "OMNISTITCH_TEST_UNSET_VAR"}, "http.token_env: environment variable OMNISTITCH_TEST_UNSET_VAR is not set")
}
