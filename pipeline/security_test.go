package pipeline

import (
	"context"
	"crypto/tls"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/omnistitch/omnistitch/internal/config"
	"github.com/omnistitch/omnistitch/internal/tlstest"
)

func ping(t *testing.T, c *kfake.Cluster, k config.Kafka) error {
	t.Helper()
	opts, err := SecurityOpts(k)
	if err != nil {
		return err
	}
	cl, err := kgo.NewClient(append(opts, kgo.SeedBrokers(c.ListenAddrs()...))...)
	if err != nil {
		return err
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	return cl.Ping(ctx)
}

func TestSASLAgainstBroker(t *testing.T) {
	for _, mech := range []string{"PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"} {
		t.Run(mech, func(t *testing.T) {
			c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.EnableSASL(), kfake.Superuser(mech, "svc", "s3cret"))
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			t.Setenv("OMNI_TEST_KAFKA_PASSWORD", "s3cret")
			k := config.Kafka{SASL: config.SASL{Mechanism: mech, Username: "svc", PasswordEnv: "OMNI_TEST_KAFKA_PASSWORD"}}
			if err := ping(t, c, k); err != nil {
				t.Fatalf("right password refused: %v", err)
			}
			pf := filepath.Join(t.TempDir(), "pw")
			os.WriteFile(pf, []byte("wrong\n"), 0o600)
			k.SASL.PasswordEnv, k.SASL.PasswordFile = "", pf
			if err := ping(t, c, k); err == nil {
				t.Fatal("wrong password accepted")
			} else if strings.Contains(err.Error(), "wrong") {
				t.Fatalf("error reveals the password: %v", err)
			}
		})
	}
	_, err := SecurityOpts(config.Kafka{SASL: config.SASL{Mechanism: "PLAIN", Username: "u", PasswordEnv: "OMNI_TEST_UNSET_VARIABLE"}})
	if err == nil || !strings.Contains(err.Error(), "kafka.sasl.password_env") {
		t.Fatalf("missing password: %v", err)
	}
}

func TestTLSAgainstBroker(t *testing.T) {
	dir := t.TempDir()
	caPEM, serverCert := selfSigned(t)
	caFile := filepath.Join(dir, "ca.pem")
	os.WriteFile(caFile, caPEM, 0o644)
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.TLS(&tls.Config{Certificates: []tls.Certificate{serverCert}}))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := ping(t, c, config.Kafka{TLS: config.TLS{Enabled: true, CAFile: caFile, ServerName: "127.0.0.1"}}); err != nil {
		t.Fatalf("TLS with the broker's CA: %v", err)
	}
	if err := ping(t, c, config.Kafka{TLS: config.TLS{Enabled: true}}); err == nil {
		t.Fatal("an untrusted broker certificate was accepted")
	}
}

func selfSigned(t *testing.T) ([]byte, tls.Certificate) {
	t.Helper()
	certPEM, keyPEM := tlstest.PEM(t, 1)
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	return certPEM, cert
}
