package config

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

const shippedMain = "../../configs/omnistitch.yaml"

func shippedIdentity(t testing.TB) []byte {
	t.Helper()
	b, err := os.ReadFile("../../configs/identity.yaml")
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// writeConfig writes the main file and, unless identity is nil, identity.yaml
// next to it, and returns the main file's path.
func writeConfig(t *testing.T, main string, identity []byte) string {
	t.Helper()
	dir := t.TempDir()
	mainPath := filepath.Join(dir, "omnistitch.yaml")
	if err := os.WriteFile(mainPath, []byte(main), 0o600); err != nil {
		t.Fatal(err)
	}
	if identity != nil {
		if err := os.WriteFile(filepath.Join(dir, "identity.yaml"), identity, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return mainPath
}

func TestDefaultEqualsShippedFiles(t *testing.T) {
	got, err := Load(shippedMain)
	if err != nil {
		t.Fatal(err)
	}
	if want := Default(); !reflect.DeepEqual(got, want) {
		t.Errorf("Load(shipped) = %+v\nDefault() = %+v", got, want)
	}
	if p := validate(Default()); p != nil {
		t.Errorf("Default() does not validate: %+v", p)
	}
}

func TestDefaultValues(t *testing.T) {
	c := Default()
	if c.IdentityFile != "identity.yaml" {
		t.Errorf("IdentityFile = %q", c.IdentityFile)
	}
	if want := (State{Dir: "data/state", CustomerCache: 100000, IdentifierCache: 400000, BlockCacheMB: 256, MinFreeMB: 256, HeapLimitMB: 384, GCPercent: 100}); c.State != want {
		t.Errorf("State = %+v, want %+v", c.State, want)
	}
	if c.Input.MaxEventBytes != 1048576 {
		t.Errorf("MaxEventBytes = %d", c.Input.MaxEventBytes)
	}
	if want := []string{"web", "store", "callcentre", "email"}; !reflect.DeepEqual(c.Input.Channels, want) {
		t.Errorf("Channels = %v, want %v", c.Input.Channels, want)
	}
	wantStages := []Stage{
		{"awareness", []string{"page_view", "email_open", "email_click"}},
		{"consideration", []string{"product_view", "add_to_cart", "checkout", "login", "signup"}},
		{"purchase", []string{"purchase"}},
		{"service", []string{"call", "complaint"}},
		{"loyalty", []string{"survey_response"}},
	}
	if !reflect.DeepEqual(c.Journey.Stages, wantStages) {
		t.Errorf("Stages = %+v", c.Journey.Stages)
	}
	if !reflect.DeepEqual(c.Profile, Profile{PurchaseTypes: []string{"purchase"}, RevenueProp: "total"}) {
		t.Errorf("Profile = %+v", c.Profile)
	}
	id := c.Identity
	if id.DefaultCountry != "DE" || id.SharedAfter != 3 || id.JunkValues == nil || len(id.JunkValues) != 0 {
		t.Errorf("Identity = %q %d %#v", id.DefaultCountry, id.SharedAfter, id.JunkValues)
	}
	wantTypes := []IDType{
		{Name: "crm", Kind: "plain", Limit: 1},
		{Name: "user", Kind: "plain", Limit: 1},
		{Name: "loyalty", Kind: "plain", Limit: 1},
		{Name: "email", Kind: "email", Limit: 3, Blocklist: []string{"test@test.com", "test@example.com", "noreply@example.com"}},
		{Name: "phone", Kind: "phone", Limit: 3},
		{Name: "device", Kind: "plain", Limit: 50, DetectShared: true},
		{Name: "cookie", Kind: "plain", Limit: 50, DetectShared: true},
	}
	if !reflect.DeepEqual(id.Types, wantTypes) {
		t.Errorf("Types = %+v\nwant %+v", id.Types, wantTypes)
	}
}

// TestDefaultIsACopy guards against a caller changing the defaults seen by
// later callers: no slice may share memory between two results.
func TestDefaultIsACopy(t *testing.T) {
	a, b := Default(), Default()
	var walk func(x, y reflect.Value, path string)
	walk = func(x, y reflect.Value, path string) {
		switch x.Kind() {
		case reflect.Struct:
			for i := range x.NumField() {
				walk(x.Field(i), y.Field(i), path+"."+x.Type().Field(i).Name)
			}
		case reflect.Slice:
			if x.Len() > 0 && x.Pointer() == y.Pointer() {
				t.Errorf("%s shares its backing array between two Default() results", path)
			}
			for i := 0; i < x.Len() && i < y.Len(); i++ {
				walk(x.Index(i), y.Index(i), path+"[]")
			}
		}
	}
	walk(reflect.ValueOf(*a), reflect.ValueOf(*b), "Config")
	a.Identity.Types[0].Limit = 99
	a.Journey.Stages[0].Types[0] = "changed"
	if c := Default(); c.Identity.Types[0].Limit != 1 || c.Journey.Stages[0].Types[0] != "page_view" {
		t.Error("changing one Default() result changed the next")
	}
}

func TestPartialFilesKeepDefaults(t *testing.T) {
	main := "state:\n  customer_cache: 5\ninput:\n  channels: [web]\n"
	identity := "shared_after: 7\n"
	c, err := Load(writeConfig(t, main, []byte(identity)))
	if err != nil {
		t.Fatal(err)
	}
	want := Default()
	want.State.CustomerCache = 5
	want.Input.Channels = []string{"web"} // a given list replaces the default
	want.Identity.SharedAfter = 7
	if !reflect.DeepEqual(c, want) {
		t.Errorf("got  %+v\nwant %+v", c, want)
	}
}

func TestEmptyFilesKeepDefaults(t *testing.T) {
	for _, tc := range []struct{ main, identity string }{
		{"", ""},
		{"# only a comment\n", "# only a comment\n"},
		{"---\n", "---\n"},
		{"~\n", "~\n"},
		{"state:\n  # dir: x\njourney:\n", "shared_after: 3\n"},
	} {
		c, err := Load(writeConfig(t, tc.main, []byte(tc.identity)))
		if err != nil {
			t.Fatalf("%q, %q: %v", tc.main, tc.identity, err)
		}
		if !reflect.DeepEqual(c, Default()) {
			t.Errorf("%q, %q: got %+v", tc.main, tc.identity, c)
		}
	}
}

func TestTypeListReplacesDefaultsAndKindDefaultsToPlain(t *testing.T) {
	identity := "types:\n  - name: account\n    limit: 2\n  - name: mail\n    kind: email\n    limit: 1\n"
	c, err := Load(writeConfig(t, "", []byte(identity)))
	if err != nil {
		t.Fatal(err)
	}
	want := []IDType{{Name: "account", Kind: "plain", Limit: 2}, {Name: "mail", Kind: "email", Limit: 1}}
	if !reflect.DeepEqual(c.Identity.Types, want) {
		t.Errorf("Types = %+v", c.Identity.Types)
	}
	// No phone type, so no country is needed.
	identity = "default_country: ''\ntypes:\n  - name: account\n    limit: 2\n"
	if _, err := Load(writeConfig(t, "", []byte(identity))); err != nil {
		t.Errorf("no phone type and no country: %v", err)
	}
}

func TestAnchorsAndMerges(t *testing.T) {
	identity := `types:
  - &one {name: crm, limit: 1}
  - <<: *one
    name: user
  - name: email
    kind: email
    limit: 3
    blocklist: &bl [a@b.c]
  - name: work_email
    kind: email
    limit: 3
    blocklist: *bl
`
	c, err := Load(writeConfig(t, "", []byte(identity)))
	if err != nil {
		t.Fatal(err)
	}
	want := []IDType{
		{Name: "crm", Kind: "plain", Limit: 1},
		{Name: "user", Kind: "plain", Limit: 1},
		{Name: "email", Kind: "email", Limit: 3, Blocklist: []string{"a@b.c"}},
		{Name: "work_email", Kind: "email", Limit: 3, Blocklist: []string{"a@b.c"}},
	}
	if !reflect.DeepEqual(c.Identity.Types, want) {
		t.Errorf("Types = %+v", c.Identity.Types)
	}
}

func TestIdentityFileRelativeToMainFile(t *testing.T) {
	dir := t.TempDir()
	if err := os.Mkdir(filepath.Join(dir, "rules"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "rules", "ids.yaml"), []byte("shared_after: 9\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	mainPath := filepath.Join(dir, "main.yaml")
	if err := os.WriteFile(mainPath, []byte("identity_file: rules/ids.yaml\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := Load(mainPath)
	if err != nil {
		t.Fatal(err)
	}
	if c.Identity.SharedAfter != 9 || c.IdentityFile != "rules/ids.yaml" {
		t.Errorf("SharedAfter = %d, IdentityFile = %q", c.Identity.SharedAfter, c.IdentityFile)
	}
}

const mainFile, idFile = "omnistitch.yaml", "identity.yaml"

func typesWith(second string) string {
	return "types:\n  - name: crm\n    limit: 1\n" + second
}

// badFiles are configurations that Load must reject, with where it must say
// the problem is. FuzzLoad uses them as seeds.
var badFiles = []struct {
	name     string
	main     string
	identity string // "" = the shipped identity.yaml
	file     string // base name of the file the error must name
	line     int
	field    string
	msg      string // substring of Msg
}{
	{"unknown field", "state:\n  dir: x\n  custmer_cache: 5\n", "", mainFile, 3, "state.custmer_cache", `unknown field "custmer_cache"`},
	{"unknown top-level field", "identity:\n  shared_after: 3\n", "", mainFile, 1, "identity", `unknown field "identity"`},
	{"unknown field in identity", "", typesWith("  - name: user\n    limit: 1\n    colour: red\n"), idFile, 6, "types[1].colour", `unknown field "colour"`},
	{"wrong type string for int", "state:\n  customer_cache: lots\n", "", mainFile, 2, "state.customer_cache", `expected a whole number, got "lots"`},
	{"wrong type float for int", "input:\n  max_event_bytes: 1.5\n", "", mainFile, 2, "input.max_event_bytes", "whole number"},
	{"wrong type scalar for list", "input:\n  channels: web\n", "", mainFile, 2, "input.channels", "expected a list"},
	{"wrong type list for string", "state:\n  dir:\n    - a\n", "", mainFile, 3, "state.dir", "expected a string"},
	{"wrong type bool", "", typesWith("  - name: device\n    limit: 5\n    detect_shared: maybe\n"), idFile, 6, "types[1].detect_shared", "true or false"},
	{"wrong type section", "state: 5\n", "", mainFile, 1, "state", "expected a mapping"},
	{"int out of range", "state:\n  customer_cache: 99999999999999999999999\n", "", mainFile, 2, "state.customer_cache", "out of range"},
	{"heap limit negative", "state:\n  dir: x\n  heap_limit_mb: -1\n", "", mainFile, 3, "state.heap_limit_mb", "between 0 (no limit)"},
	{"gc percent too large", "state:\n  dir: x\n  gc_percent: 20000\n", "", mainFile, 3, "state.gc_percent", "between 0 (the runtime's default) and 10000"},
	{"null value", "state:\n  dir:\n", "", mainFile, 2, "state.dir", "no value"},
	{"null list entry", "input:\n  channels:\n    - web\n    -\n", "", mainFile, 4, "input.channels[1]", "empty list entry"},
	{"duplicate key", "state:\n  dir: a\n  dir: b\n", "", mainFile, 3, "state.dir", "given twice (first on line 2)"},
	{"top level not a mapping", "- a\n", "", mainFile, 1, "", "expected a mapping"},
	{"two documents", "state:\n  dir: a\n---\nstate:\n  dir: b\n", "", mainFile, 3, "", "second YAML document"},
	{"limit 0", "", typesWith("  - name: user\n    limit: 0\n"), idFile, 5, "types[1].limit", "at least 1"},
	{"limit missing", "", typesWith("  - name: user\n    kind: plain\n"), idFile, 4, "types[1].limit", "at least 1"},
	{"bad kind", "", typesWith("  - name: mail\n    kind: mail\n    limit: 3\n"), idFile, 5, "types[1].kind", `unknown kind "mail"`},
	{"duplicate type", "", typesWith("  - name: crm\n    limit: 1\n"), idFile, 4, "types[1].name", `"crm" is defined twice`},
	{"bad type name", "", typesWith("  - name: E-Mail\n    limit: 1\n"), idFile, 4, "types[1].name", "not a valid name"},
	{"no types", "", "types: []\n", idFile, 1, "types", "at least one"},
	{"shared_after 0", "", "shared_after: 0\n", idFile, 1, "shared_after", "at least 1"},
	{"country lower case", "", "default_country: de\n", idFile, 1, "default_country", "upper case"},
	{"country unknown", "", "\n\ndefault_country: UK\n", idFile, 3, "default_country", "GB not UK"},
	{"country missing for phone", "", "default_country: ''\n", idFile, 1, "default_country", `type "phone" has kind phone`},
	{"empty junk value", "", "junk_values:\n  - nobody\n  - ' '\n", idFile, 3, "junk_values[1]", "must not be empty"},
	{"empty blocklist value", "", typesWith("  - name: email\n    kind: email\n    limit: 3\n    blocklist: ['']\n"), idFile, 7, "types[1].blocklist[0]", "must not be empty"},
	{"bad channel name", "input:\n  channels:\n    - web\n    - Store\n", "", mainFile, 4, "input.channels[1]", `channel "Store" is not a valid name`},
	{"duplicate channel", "input:\n  channels: [web, store, web]\n", "", mainFile, 2, "input.channels[2]", "listed twice"},
	{"no channels", "input:\n  channels: []\n", "", mainFile, 2, "input.channels", "at least one channel"},
	{"max_event_bytes 0", "input:\n  max_event_bytes: 0\n", "", mainFile, 2, "input.max_event_bytes", "between 1 and 67108864"},
	{"max_event_bytes too big", "input:\n  max_event_bytes: 67108865\n", "", mainFile, 2, "input.max_event_bytes", "between 1 and 67108864"},
	{"negative cache", "state:\n  identifier_cache: -1\n", "", mainFile, 2, "state.identifier_cache", "0 or more"},
	{"empty dir", "state:\n  dir: ''\n", "", mainFile, 2, "state.dir", "must not be empty"},
	{"event type in two stages", "journey:\n  stages:\n    - name: a\n      types: [x, y]\n    - name: b\n      types:\n        - z\n        - x\n", "", mainFile, 8, "journey.stages[1].types[1]", `already in stage "a"`},
	{"duplicate stage", "journey:\n  stages:\n    - name: a\n      types: [x]\n    - name: a\n      types: [y]\n", "", mainFile, 5, "journey.stages[1].name", "defined twice"},
	{"stage without types", "journey:\n  stages:\n    - name: a\n", "", mainFile, 3, "journey.stages[0].types", "at least one event type"},
	{"bad event type", "journey:\n  stages:\n    - name: a\n      types: [Page View]\n", "", mainFile, 4, "journey.stages[0].types[0]", "not a valid name"},
	{"empty revenue_prop", "profile:\n  revenue_prop: ''\n", "", mainFile, 2, "profile.revenue_prop", "must not be empty"},
	{"bad purchase type", "profile:\n  purchase_types: [purchase, Order]\n", "", mainFile, 2, "profile.purchase_types[1]", "not a valid name"},
	{"empty identity_file", "\nidentity_file: ''\n", "", mainFile, 2, "identity_file", "must not be empty"},
	{"missing identity file", "state:\n  dir: x\nidentity_file: nope.yaml\n", "", mainFile, 3, "identity_file", "nope.yaml: no such file or directory"},
	{"yaml syntax error", "state:\n  dir: [x\n  customer_cache: 1\n", "", mainFile, 2, "", "invalid YAML"},
	{"yaml syntax error in a later line", "state:\n  dir: x\n customer_cache: 1\n", "", mainFile, 3, "", "invalid YAML"},
	{"control character", "state:\n  dir: x\n  customer_cache: \x01\n", "", mainFile, 3, "", "invalid YAML"},
	{"yaml syntax error in identity", "", "types:\n  - name: crm\n   limit: 1\n", idFile, 3, "", "invalid YAML"},
	{"tab indentation", "state:\n\tdir: x\n", "", mainFile, 2, "", "invalid YAML"},
	{"unknown anchor", "state:\n  dir: x\n  customer_cache: *nope\n", "", mainFile, 3, "", "unknown anchor"},
	{"self-referencing anchor", "state: &s\n  dir: x\n  <<: *s\n", "", mainFile, 3, "state", "contains it"},
	{"bad merge", "state:\n  <<: 5\n", "", mainFile, 2, "state", "merge"},
}

func TestBadFiles(t *testing.T) {
	for _, tc := range badFiles {
		t.Run(tc.name, func(t *testing.T) {
			identity := shippedIdentity(t)
			if tc.identity != "" {
				identity = []byte(tc.identity)
			}
			mainPath := writeConfig(t, tc.main, identity)
			c, err := Load(mainPath)
			if err == nil {
				t.Fatalf("no error; config %+v", c)
			}
			if c != nil {
				t.Errorf("config %+v returned with error", c)
			}
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("error %T %v is not an *Error", err, err)
			}
			if want := filepath.Join(filepath.Dir(mainPath), tc.file); e.File != want {
				t.Errorf("File = %q, want %q", e.File, want)
			}
			if e.Line != tc.line || e.Field != tc.field {
				t.Errorf("Line, Field = %d, %q; want %d, %q (%v)", e.Line, e.Field, tc.line, tc.field, err)
			}
			if !strings.Contains(e.Msg, tc.msg) {
				t.Errorf("Msg = %q, want it to contain %q", e.Msg, tc.msg)
			}
		})
	}
}

func TestMissingFiles(t *testing.T) {
	dir := t.TempDir()
	mainPath := filepath.Join(dir, "absent.yaml")
	_, err := Load(mainPath)
	var e *Error
	if !errors.As(err, &e) || e.File != mainPath || e.Line != 0 || e.Field != "" {
		t.Fatalf("missing main file: %#v", err)
	}
	if !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("missing main file: errors.Is(err, fs.ErrNotExist) = false for %v", err)
	}
	if want := mainPath + ": cannot read: no such file or directory"; err.Error() != want {
		t.Errorf("Error() = %q, want %q", err.Error(), want)
	}

	// The identity file named by default, not by a line of the main file.
	mainPath = writeConfig(t, "state:\n  dir: x\n", nil)
	_, err = Load(mainPath)
	if !errors.As(err, &e) || e.File != mainPath || e.Line != 0 || e.Field != "identity_file" ||
		!strings.Contains(e.Msg, filepath.Join(filepath.Dir(mainPath), "identity.yaml")) {
		t.Fatalf("missing default identity file: %#v", err)
	}
	if !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("missing identity file: errors.Is(err, fs.ErrNotExist) = false for %v", err)
	}
}

func TestErrorString(t *testing.T) {
	tests := []struct {
		e    Error
		want string
	}{
		{Error{File: "a.yaml", Line: 3, Field: "types[3].limit", Msg: "bad"}, "a.yaml:3: types[3].limit: bad"},
		{Error{File: "a.yaml", Field: "identity_file", Msg: "bad"}, "a.yaml: identity_file: bad"},
		{Error{File: "a.yaml", Line: 7, Msg: "bad"}, "a.yaml:7: bad"},
		{Error{File: "a.yaml", Msg: "bad"}, "a.yaml: bad"},
	}
	for _, tc := range tests {
		if got := tc.e.Error(); got != tc.want {
			t.Errorf("Error() = %q, want %q", got, tc.want)
		}
	}
}

func TestPriority(t *testing.T) {
	id := Default().Identity
	for i, name := range []string{"crm", "user", "loyalty", "email", "phone", "device", "cookie"} {
		if got, ok := id.Priority(name); !ok || got != i {
			t.Errorf("Priority(%q) = %d, %v; want %d, true", name, got, ok, i)
		}
	}
	if _, ok := id.Priority("fax"); ok {
		t.Error(`Priority("fax") found`)
	}
	if _, ok := id.Priority(""); ok {
		t.Error(`Priority("") found`)
	}
}

func TestStageOf(t *testing.T) {
	j := Default().Journey
	tests := map[string]string{
		"page_view": "awareness", "email_open": "awareness", "email_click": "awareness",
		"product_view": "consideration", "add_to_cart": "consideration", "checkout": "consideration",
		"login": "consideration", "signup": "consideration",
		"purchase": "purchase", "call": "service", "complaint": "service", "survey_response": "loyalty",
		"email_sent": "", "": "", "Purchase": "",
	}
	for typ, want := range tests {
		if got := j.StageOf(typ); got != want {
			t.Errorf("StageOf(%q) = %q, want %q", typ, got, want)
		}
	}
}
