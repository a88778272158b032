package httpapi

import (
	"crypto/tls"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/omnistitch/omnistitch/internal/config"
	"github.com/omnistitch/omnistitch/internal/tlstest"
)

// The listener serves the configured certificate, and a renewed one from
// the next handshake on without a restart; a renewal that does not load
// leaves the last good certificate in service.
func TestServerTLSServesAndReloads(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile := tlstest.SelfSigned(t, dir, 1)
	h := config.HTTP{TLSCertFile: certFile, TLSKeyFile: keyFile}
	old := reloadCheckEvery
	reloadCheckEvery = 0
	t.Cleanup(func() { reloadCheckEvery = old })
	tlsCfg, err := ServerTLS(h)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "ok") }))
	go srv.Serve(tls.NewListener(ln, tlsCfg))
	t.Cleanup(func() { srv.Close() })
	url := "https://" + ln.Addr().String() + "/"

	served := func() int64 {
		t.Helper()
		tc, err := ClientTLS(h) // trusts what the file holds now
		if err != nil {
			t.Fatal(err)
		}
		cl := &http.Client{Transport: &http.Transport{TLSClientConfig: tc, DisableKeepAlives: true}}
		res, err := cl.Get(url)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		if b, _ := io.ReadAll(res.Body); string(b) != "ok" {
			t.Fatalf("body %q", b)
		}
		return res.TLS.PeerCertificates[0].SerialNumber.Int64()
	}
	if n := served(); n != 1 {
		t.Fatalf("serial %d served, want 1", n)
	}
	if res, err := http.Get("http://" + ln.Addr().String() + "/"); err == nil {
		res.Body.Close()
		if res.StatusCode == http.StatusOK {
			t.Fatal("plain HTTP answered on the TLS listener")
		}
	}

	tlstest.SelfSigned(t, dir, 2)
	later := time.Now().Add(2 * time.Second) // a new modification time on any filesystem clock
	os.Chtimes(certFile, later, later)
	os.Chtimes(keyFile, later, later)
	if n := served(); n != 2 {
		t.Fatalf("serial %d served after the renewal, want 2", n)
	}

	// A half-written renewal: the key does not fit (or parse).
	if err := os.WriteFile(keyFile, []byte("not a key"), 0o600); err != nil {
		t.Fatal(err)
	}
	later = later.Add(2 * time.Second)
	os.Chtimes(keyFile, later, later)
	if n := served(); n != 2 {
		t.Fatalf("serial %d served with a broken key file, want the last good one (2)", n)
	}
}

// Bad files stop the start with the setting named, never the key's bytes.
func TestServerTLSBadFiles(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile := tlstest.SelfSigned(t, dir, 1)
	if cfg, err := ServerTLS(config.HTTP{}); cfg != nil || err != nil {
		t.Fatalf("no files: %v, %v; want plain HTTP", cfg, err)
	}
	if _, err := ServerTLS(config.HTTP{TLSCertFile: dir + "/missing.pem", TLSKeyFile: keyFile}); err == nil || !strings.Contains(err.Error(), "http.tls_cert_file") || !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing certificate: %v", err)
	}
	if _, err := ServerTLS(config.HTTP{TLSCertFile: certFile, TLSKeyFile: dir + "/missing.pem"}); err == nil || !strings.Contains(err.Error(), "http.tls_key_file") {
		t.Errorf("missing key: %v", err)
	}
	secret := "PRIVATE-BYTES-0123456789"
	os.WriteFile(keyFile, []byte(secret), 0o600)
	_, err := ServerTLS(config.HTTP{TLSCertFile: certFile, TLSKeyFile: keyFile})
	if err == nil || !strings.Contains(err.Error(), "http.tls_key_file") || strings.Contains(err.Error(), secret) {
		t.Errorf("broken key: %v", err)
	}
	if _, err := ClientTLS(config.HTTP{TLSCertFile: keyFile}); err == nil || !strings.Contains(err.Error(), "no PEM certificate") {
		t.Errorf("client trust from a file without certificates: %v", err)
	}
}
