package pipeline

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"os"
	"strings"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl/plain"
	"github.com/twmb/franz-go/pkg/sasl/scram"

	"github.com/omnistitch/omnistitch/internal/config"
)

// SecurityOpts turns the kafka.tls and kafka.sasl settings into client
// options. Files and the password are read now, so that a missing secret
// fails at start-up; errors name the setting, never a secret.
func SecurityOpts(k config.Kafka) ([]kgo.Opt, error) {
	var opts []kgo.Opt
	if k.TLS.Enabled {
		cfg := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: k.TLS.ServerName}
		if k.TLS.CAFile != "" {
			pem, err := os.ReadFile(k.TLS.CAFile)
			if err != nil {
				return nil, fmt.Errorf("kafka.tls.ca_file: %w", err)
			}
			pool := x509.NewCertPool()
			if !pool.AppendCertsFromPEM(pem) {
				return nil, fmt.Errorf("kafka.tls.ca_file: %s holds no PEM certificate", k.TLS.CAFile)
			}
			cfg.RootCAs = pool
		}
		if k.TLS.CertFile != "" {
			cert, err := tls.LoadX509KeyPair(k.TLS.CertFile, k.TLS.KeyFile)
			if err != nil {
				return nil, fmt.Errorf("kafka.tls.cert_file/key_file: %w", err)
			}
			cfg.Certificates = []tls.Certificate{cert}
		}
		opts = append(opts, kgo.DialTLSConfig(cfg))
	}
	if k.SASL.Mechanism == "" {
		return opts, nil
	}
	pass, err := password(k.SASL)
	if err != nil {
		return nil, err
	}
	user := k.SASL.Username
	switch k.SASL.Mechanism {
	case "PLAIN":
		opts = append(opts, kgo.SASL(plain.Auth{User: user, Pass: pass}.AsMechanism()))
	case "SCRAM-SHA-256":
		opts = append(opts, kgo.SASL(scram.Auth{User: user, Pass: pass}.AsSha256Mechanism()))
	case "SCRAM-SHA-512":
		opts = append(opts, kgo.SASL(scram.Auth{User: user, Pass: pass}.AsSha512Mechanism()))
	default:
		return nil, fmt.Errorf("kafka.sasl.mechanism: unknown %q", k.SASL.Mechanism)
	}
	return opts, nil
}

func password(a config.SASL) (string, error) {
	if a.PasswordEnv != "" {
		p, ok := os.LookupEnv(a.PasswordEnv)
		if !ok || p == "" {
			return "", fmt.Errorf("kafka.sasl.password_env: environment variable %s is not set", a.PasswordEnv)
		}
		return p, nil
	}
	b, err := os.ReadFile(a.PasswordFile)
	if err != nil {
		return "", fmt.Errorf("kafka.sasl.password_file: %w", err)
	}
	p := strings.TrimRight(string(b), "\r\n")
	if p == "" {
		return "", fmt.Errorf("kafka.sasl.password_file: %s is empty", a.PasswordFile)
	}
	return p, nil
}
