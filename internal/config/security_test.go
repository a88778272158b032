package config

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// loadErr loads main (and the shipped identity file, or identity) and
// returns the *Error, failing the test if there is none.
func loadErr(t *testing.T, main, identity string) (*Error, string) {
	t.Helper()
	id := shippedIdentity(t)
	if identity != "" {
		id = []byte(identity)
	}
	mainPath := writeConfig(t, main, id)
	c, err := Load(mainPath)
	if err == nil {
		t.Fatalf("no error; config %+v", c)
	}
	var e *Error
	if !errors.As(err, &e) {
		t.Fatalf("error %T %v is not an *Error", err, err)
	}
	return e, filepath.Dir(mainPath)
}

// A listener beyond loopback without a token must not start: profiles and
// lookups are personal data.
func TestHTTPBeyondLoopbackNeedsToken(t *testing.T) {
	refused := func(addr string) {
		t.Helper()
		e, dir := loadErr(t, "http:\n  addr: \""+addr+"\"\n", "")
		if e.File != filepath.Join(dir, mainFile) || e.Line != 2 || e.Field != "http.addr" ||
			!strings.Contains(e.Msg, "http.token_env or http.token_file") {
			t.Errorf("%s: got %v", addr, e)
		}
	}
	refused(":8080")
	refused("0.0.0.0:8080")
	refused("[::]:8080")
	refused("10.1.2.3:8080")
	refused("api.example.com:8080")

	accepted := func(main string) {
		t.Helper()
		if _, err := Load(writeConfig(t, main, shippedIdentity(t))); err != nil {
			t.Errorf("%q: %v", main, err)
		}
	}
	accepted("http:\n  addr: 127.0.0.1:9999\n")
	accepted("http:\n  addr: \"[::1]:9999\"\n")
	accepted("http:\n  addr: localhost:9999\n")
	accepted("http:\n  addr: \"\"\n")
	accepted("http:\n  addr: 0.0.0.0:8080\n  token_env: OMNISTITCH_HTTP_TOKEN\n")
	accepted("http:\n  addr: \":8080\"\n  token_file: /run/secrets/token\n")
	accepted("http:\n  tls_cert_file: cert.pem\n  tls_key_file: key.pem\n")
}

func TestHTTPBadSettings(t *testing.T) {
	f := func(main string, line int, field, msg string) {
		t.Helper()
		e, _ := loadErr(t, main, "")
		if e.Line != line || e.Field != field || !strings.Contains(e.Msg, msg) {
			t.Errorf("%q: got %v; want line %d field %s msg %q", main, e, line, field, msg)
		}
	}
	f("http:\n  token_env: A\n  token_file: b\n", 2, "http.token_env", "at most one")
	f("http:\n  max_concurrent: 0\n", 2, "http.max_concurrent", "between 1 and 10000")
	f("http:\n  addr: nocolon\n", 2, "http.addr", "host:port")
	f("http:\n  tls_cert_file: cert.pem\n", 2, "http.tls_cert_file", "needs tls_key_file")
	f("http:\n  max_concurrent: 8\n  tls_key_file: key.pem\n", 3, "http.tls_key_file", "needs tls_cert_file")
}

// The check the run command repeats after --http-addr.
func TestCheckHTTP(t *testing.T) {
	h := Default().HTTP
	if field, msg := CheckHTTP(h); field != "" {
		t.Errorf("default: %s %s", field, msg)
	}
	h.Addr = ":8080"
	if field, _ := CheckHTTP(h); field != "addr" {
		t.Errorf(":8080 without token: field %q", field)
	}
	h.TokenEnv = "T"
	if field, msg := CheckHTTP(h); field != "" {
		t.Errorf(":8080 with token: %s %s", field, msg)
	}
}

// identityWith is the shipped identity file with a pseudonymise section.
func identityWith(t *testing.T, section string) string {
	t.Helper()
	s := string(shippedIdentity(t))
	i := strings.Index(s, "\npseudonymise:")
	if i < 0 {
		t.Fatal("the shipped identity file has no pseudonymise section")
	}
	return s[:i+1] + section
}

func TestPseudonymiseKeyLoaded(t *testing.T) {
	keyFile := filepath.Join(t.TempDir(), "key")
	key := strings.Repeat("k", 64)
	if err := os.WriteFile(keyFile, []byte(key+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := Load(writeConfig(t, "", []byte(identityWith(t, "pseudonymise:\n  key_file: "+keyFile+"\n  types: [email, phone]\n"))))
	if err != nil {
		t.Fatal(err)
	}
	if got := string(c.Identity.Pseudonymise.Key()); got != key {
		t.Errorf("key %q, want the file's content without the newline", got)
	}
	if d := Default(); d.Identity.Pseudonymise.Key() != nil || len(d.Identity.Pseudonymise.Types) != 0 {
		t.Errorf("pseudonymisation is on by default: %+v", d.Identity.Pseudonymise)
	}
}

func TestPseudonymiseBadSettings(t *testing.T) {
	dir := t.TempDir()
	short := filepath.Join(dir, "short")
	os.WriteFile(short, []byte(strings.Repeat("k", 31)+"\n"), 0o600)
	good := filepath.Join(dir, "good")
	os.WriteFile(good, []byte(strings.Repeat("k", 32)), 0o600)
	// The section starts on this line of the identity file.
	base := strings.Count(identityWith(t, ""), "\n") + 1
	f := func(section string, line int, field, msg string) {
		t.Helper()
		e, d := loadErr(t, "", identityWith(t, section))
		if e.File != filepath.Join(d, idFile) || e.Line != base+line || e.Field != field || !strings.Contains(e.Msg, msg) {
			t.Errorf("%q: got %v; want %s:%d: %s: …%s…", section, e, idFile, base+line, field, msg)
		}
		if strings.Contains(e.Error(), "kkkk") {
			t.Errorf("the error quotes the key: %v", e)
		}
	}
	f("pseudonymise:\n  key_file: "+short+"\n  types: [email]\n", 1, "pseudonymise.key_file", "holds 31 bytes; the key must be at least 32")
	f("pseudonymise:\n  key_file: "+filepath.Join(dir, "missing")+"\n  types: [email]\n", 1, "pseudonymise.key_file", "cannot read key file")
	f("pseudonymise:\n  types: [email]\n", 0, "pseudonymise.key_file", "must name the key file")
	f("pseudonymise:\n  key_file: "+good+"\n", 0, "pseudonymise.types", "must list the identifier types")
	f("pseudonymise:\n  key_file: "+good+"\n  types: [email, mail]\n", 2, "pseudonymise.types[1]", `"mail" is not an identifier type`)
	f("pseudonymise:\n  key_file: "+good+"\n  types: [email, email]\n", 2, "pseudonymise.types[1]", "listed twice")
}

// Blocks to ClickHouse are compressed unless the server is on loopback
// (auto) or the setting says otherwise; anything else is refused, naming
// the line and field.
func TestClickHouseCompression(t *testing.T) {
	for _, tc := range []struct {
		comp, addr string
		want       bool
	}{
		{"auto", "127.0.0.1:9000", false},
		{"auto", "[::1]:9000", false},
		{"auto", "localhost:9000", false},
		{"auto", "LOCALHOST:9000", false},
		{"auto", "10.1.2.3:9000", true},
		{"auto", "clickhouse.example.com:9000", true},
		{"auto", "", true}, // the sink is off; nothing is sent either way
		{"lz4", "127.0.0.1:9000", true},
		{"none", "10.1.2.3:9000", false},
	} {
		c := ClickHouse{Compression: tc.comp, Addr: tc.addr}
		if got := c.Compressed(); got != tc.want {
			t.Errorf("compression %q to %q: compressed %v, want %v", tc.comp, tc.addr, got, tc.want)
		}
	}
	if got := Default().ClickHouse.Compression; got != "auto" {
		t.Errorf("default compression %q, want auto", got)
	}
	for _, ok := range []string{"auto", "lz4", "none"} {
		if _, err := Load(writeConfig(t, "clickhouse:\n  compression: "+ok+"\n", shippedIdentity(t))); err != nil {
			t.Errorf("compression %s: %v", ok, err)
		}
	}
	e, _ := loadErr(t, "clickhouse:\n  addr: 10.1.2.3:9000\n  compression: zstd\n", "")
	if e.Line != 3 || e.Field != "clickhouse.compression" || !strings.Contains(e.Msg, `"auto", "lz4" or "none"`) || !strings.Contains(e.Msg, "zstd") {
		t.Errorf("compression zstd: got %v", e)
	}
}
