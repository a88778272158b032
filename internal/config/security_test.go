package config

import (
	"errors"
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
