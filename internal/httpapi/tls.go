package httpapi

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"sync"
	"time"

	"github.com/omnistitch/omnistitch/internal/config"
)

// ServerTLS returns the TLS configuration of the HTTP listener, or nil when
// http.tls_cert_file is not set (plain HTTP). The certificate is loaded now,
// so that a missing or broken file stops the start with its setting named.
// Later, each handshake looks at the files' modification times and loads
// them again when they changed: a renewed certificate (cert-manager, certbot)
// is served without a restart. A renewal that cannot be loaded (a key not
// yet written beside its new certificate) leaves the last good pair in
// service until the files fit again.
func ServerTLS(h config.HTTP) (*tls.Config, error) {
	if h.TLSCertFile == "" {
		return nil, nil
	}
	r := &certReloader{certFile: h.TLSCertFile, keyFile: h.TLSKeyFile}
	if err := r.load(); err != nil {
		return nil, err
	}
	return &tls.Config{MinVersion: tls.VersionTLS12, GetCertificate: r.get}, nil
}

type certReloader struct {
	certFile, keyFile string

	mu              sync.Mutex
	cert            *tls.Certificate
	certMod, keyMod time.Time
	checked         time.Time
}

// reloadCheckEvery bounds how often a handshake looks at the files: a
// burst of new connections costs one pair of stat calls.
var reloadCheckEvery = time.Second // a variable for tests

func (r *certReloader) load() error {
	cm, km, err := r.modTimes()
	if err != nil {
		return err
	}
	cert, err := tls.LoadX509KeyPair(r.certFile, r.keyFile)
	if err != nil {
		// The key file's content never goes into the message.
		return fmt.Errorf("http.tls_cert_file, http.tls_key_file: %s and %s are not a certificate and its private key in PEM: %w", r.certFile, r.keyFile, err)
	}
	r.mu.Lock()
	r.cert, r.certMod, r.keyMod, r.checked = &cert, cm, km, time.Now()
	r.mu.Unlock()
	return nil
}

func (r *certReloader) modTimes() (cert, key time.Time, err error) {
	ci, err := os.Stat(r.certFile)
	if err != nil {
		return cert, key, fmt.Errorf("http.tls_cert_file: %w", err)
	}
	ki, err := os.Stat(r.keyFile)
	if err != nil {
		return cert, key, fmt.Errorf("http.tls_key_file: %w", err)
	}
	return ci.ModTime(), ki.ModTime(), nil
}

func (r *certReloader) get(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	r.mu.Lock()
	cert, stale := r.cert, time.Since(r.checked) >= reloadCheckEvery
	if stale {
		r.checked = time.Now()
	}
	certMod, keyMod := r.certMod, r.keyMod
	r.mu.Unlock()
	if !stale {
		return cert, nil
	}
	if cm, km, err := r.modTimes(); err == nil && (!cm.Equal(certMod) || !km.Equal(keyMod)) {
		if r.load() == nil {
			r.mu.Lock()
			cert = r.cert
			r.mu.Unlock()
		}
	}
	return cert, nil
}

// ClientTLS is what the command-line tools trust when they call the
// service over HTTPS: the system's roots and the certificates of
// http.tls_cert_file, so that a service with a certificate of a private CA
// (or a self-signed one) is reached without more configuration on the same
// machine.
func ClientTLS(h config.HTTP) (*tls.Config, error) {
	roots, err := x509.SystemCertPool()
	if err != nil || roots == nil {
		roots = x509.NewCertPool()
	}
	b, err := os.ReadFile(h.TLSCertFile)
	if err != nil {
		return nil, fmt.Errorf("http.tls_cert_file: %w", err)
	}
	n := 0
	for {
		var blk *pem.Block
		blk, b = pem.Decode(b)
		if blk == nil {
			break
		}
		if blk.Type != "CERTIFICATE" {
			continue
		}
		c, err := x509.ParseCertificate(blk.Bytes)
		if err != nil {
			return nil, fmt.Errorf("http.tls_cert_file: %w", err)
		}
		roots.AddCert(c)
		n++
	}
	if n == 0 {
		return nil, errors.New("http.tls_cert_file: no PEM certificate in the file")
	}
	return &tls.Config{MinVersion: tls.VersionTLS12, RootCAs: roots}, nil
}
