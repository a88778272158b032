package config

import (
	"fmt"
	"net"
	"regexp"
	"strings"

	"github.com/nyaruka/phonenumbers"
)

// Names end up in ClickHouse rows, metric labels and rule files; one simple
// spelling keeps them portable and makes "Web" vs "web" typos impossible.
var nameRe = regexp.MustCompile(`^[a-z][a-z0-9_]*$`)

// problem is a validation failure, located by path in the main file or, when
// identity is set, in the identity file.
type problem struct {
	identity bool
	path     fieldPath
	msg      string
}

func mainProblem(path fieldPath, format string, args ...any) *problem {
	return &problem{path: path, msg: fmt.Sprintf(format, args...)}
}

func identityProblem(path fieldPath, format string, args ...any) *problem {
	return &problem{identity: true, path: path, msg: fmt.Sprintf(format, args...)}
}

// validate checks the decoded configuration and returns the first problem,
// in file order (main file first), or nil.
func validate(c *Config) *problem {
	if c.IdentityFile == "" {
		return mainProblem(fieldPath{"identity_file"}, "must not be empty")
	}
	for _, check := range []func(*Config) *problem{validateState, validateInput, validateJourney, validateProfile, validateKafka, validateHTTP, validateClickHouse} {
		if p := check(c); p != nil {
			return p
		}
	}
	return validateIdentity(&c.Identity)
}

func validateState(c *Config) *problem {
	s := c.State
	if strings.TrimSpace(s.Dir) == "" {
		return mainProblem(fieldPath{"state", "dir"}, "must not be empty")
	}
	if s.CustomerCache < 0 {
		return mainProblem(fieldPath{"state", "customer_cache"}, "must be 0 or more (0 disables the cache), got %d", s.CustomerCache)
	}
	if s.BlockCacheMB < 8 || s.BlockCacheMB > 65536 {
		return mainProblem(fieldPath{"state", "block_cache_mb"}, "must be between 8 and 65536 (MiB), got %d", s.BlockCacheMB)
	}
	if s.MinFreeMB < 0 || s.MinFreeMB > 1<<20 {
		return mainProblem(fieldPath{"state", "min_free_mb"}, "must be between 0 (no check) and 1048576 (MiB), got %d", s.MinFreeMB)
	}
	if s.GCPercent < 0 || s.GCPercent > 10000 {
		return mainProblem(fieldPath{"state", "gc_percent"}, "must be between 0 (the runtime's default) and 10000, got %d", s.GCPercent)
	}
	if s.HeapLimitMB < 0 || s.HeapLimitMB > 1<<20 {
		return mainProblem(fieldPath{"state", "heap_limit_mb"}, "must be between 0 (no limit) and 1048576 (MiB), got %d", s.HeapLimitMB)
	}
	if s.IdentifierCache < 0 {
		return mainProblem(fieldPath{"state", "identifier_cache"}, "must be 0 or more (0 disables the cache), got %d", s.IdentifierCache)
	}
	return nil
}

// Kafka topic names: letters, digits, '.', '_' and '-', at most 249.
var topicRe = regexp.MustCompile(`^[A-Za-z0-9._-]{1,249}$`)

func validateKafka(c *Config) *problem {
	k := c.Kafka
	if len(k.Brokers) == 0 {
		return mainProblem(fieldPath{"kafka", "brokers"}, "must list at least one broker")
	}
	for i, b := range k.Brokers {
		if host, port, ok := strings.Cut(b, ":"); !ok || host == "" || port == "" || strings.ContainsAny(b, " /") {
			return mainProblem(fieldPath{"kafka", "brokers", i}, "must be host:port, got %q", b)
		}
	}
	if strings.TrimSpace(k.Group) == "" {
		return mainProblem(fieldPath{"kafka", "group"}, "must not be empty")
	}
	for _, t := range []struct{ field, v string }{{"events_topic", k.EventsTopic}, {"deadletter_topic", k.DeadLetterTopic}} {
		if !topicRe.MatchString(t.v) {
			return mainProblem(fieldPath{"kafka", t.field}, "must be a Kafka topic name (letters, digits, '.', '_', '-'), got %q", t.v)
		}
	}
	if k.InstanceID != "" && !topicRe.MatchString(k.InstanceID) {
		return mainProblem(fieldPath{"kafka", "instance_id"}, "must be letters, digits, '.', '_' or '-' (at most 249), got %q", k.InstanceID)
	}
	if k.MaxPollRecords < 1 || k.MaxPollRecords > 1000000 {
		return mainProblem(fieldPath{"kafka", "max_poll_records"}, "must be between 1 and 1000000, got %d", k.MaxPollRecords)
	}
	if k.AlignWindowMS < 0 || k.AlignWindowMS > 86400000 {
		return mainProblem(fieldPath{"kafka", "align_window_ms"}, "must be between 0 and 86400000 (a day), got %d", k.AlignWindowMS)
	}
	if t := k.TLS; !t.Enabled && (t.CAFile != "" || t.CertFile != "" || t.KeyFile != "") {
		return mainProblem(fieldPath{"kafka", "tls", "enabled"}, "must be true when TLS files are given")
	}
	if t := k.TLS; (t.CertFile == "") != (t.KeyFile == "") {
		return mainProblem(fieldPath{"kafka", "tls", "cert_file"}, "cert_file and key_file go together")
	}
	switch a := k.SASL; a.Mechanism {
	case "":
		if a.Username != "" || a.PasswordEnv != "" || a.PasswordFile != "" {
			return mainProblem(fieldPath{"kafka", "sasl", "mechanism"}, "must be set when SASL credentials are given")
		}
	case "PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512":
		if a.Username == "" {
			return mainProblem(fieldPath{"kafka", "sasl", "username"}, "must not be empty with mechanism %s", a.Mechanism)
		}
		if (a.PasswordEnv == "") == (a.PasswordFile == "") {
			return mainProblem(fieldPath{"kafka", "sasl", "password_env"}, "exactly one of password_env and password_file must be set")
		}
	default:
		return mainProblem(fieldPath{"kafka", "sasl", "mechanism"}, "must be PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512, got %q", a.Mechanism)
	}
	return nil
}

func validateHTTP(c *Config) *problem {
	if field, msg := CheckHTTP(c.HTTP); field != "" {
		return mainProblem(fieldPath{"http", field}, "%s", msg)
	}
	return nil
}

// CheckHTTP checks the http section as the service will use it, also after
// a command-line override of the address. It returns the field at fault
// (within http) and why, or "" when all is well.
func CheckHTTP(h HTTP) (field, msg string) {
	if h.TokenEnv != "" && h.TokenFile != "" {
		return "token_env", "at most one of token_env and token_file may be set"
	}
	if (h.TLSCertFile == "") != (h.TLSKeyFile == "") {
		// Named at the one that is set: that line exists in the file.
		if h.TLSCertFile == "" {
			return "tls_key_file", "needs tls_cert_file, the certificate, too (or neither, for plain HTTP)"
		}
		return "tls_cert_file", "needs tls_key_file, its private key, too (or neither, for plain HTTP)"
	}
	if h.MaxConcurrent < 1 || h.MaxConcurrent > 10000 {
		return "max_concurrent", fmt.Sprintf("must be between 1 and 10000, got %d", h.MaxConcurrent)
	}
	if h.Addr == "" {
		return "", ""
	}
	host, port, err := net.SplitHostPort(h.Addr)
	if err != nil || port == "" || strings.ContainsAny(h.Addr, " /") {
		return "addr", fmt.Sprintf("must be host:port (or empty to disable), got %q", h.Addr)
	}
	if !isLoopback(host) && h.TokenEnv == "" && h.TokenFile == "" {
		// Profiles and lookups are personal data: anyone who can reach a
		// non-loopback port must prove who they are.
		return "addr", fmt.Sprintf("%q listens beyond loopback, so the API needs a bearer token: set http.token_env or http.token_file (or bind to 127.0.0.1)", h.Addr)
	}
	return "", ""
}

// isLoopback reports whether a listener on host is reachable from this
// machine only. An empty host (":8080") listens on every interface; a host
// name other than localhost may resolve anywhere, so it counts as outside.
func isLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// Compressed reports whether blocks sent to the server are LZ4-compressed
// (see Compression). Over loopback nothing is saved by it, and the CPU it
// takes comes out of the service's: into ClickHouse on this project's
// two-core machine, ~2 µs less per event and ~8% more events/s without it
// (bench/RESULTS.md, medians of eight pairs).
func (c ClickHouse) Compressed() bool {
	switch c.Compression {
	case "lz4":
		return true
	case "none":
		return false
	}
	host, _, err := net.SplitHostPort(c.Addr)
	return err != nil || !isLoopback(host)
}

var dbNameRe = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]{0,63}$`)

func validateClickHouse(c *Config) *problem {
	ch := c.ClickHouse
	if a := ch.Addr; a != "" {
		if host, port, ok := strings.Cut(a, ":"); !ok || host == "" || port == "" || strings.ContainsAny(a, " /") {
			return mainProblem(fieldPath{"clickhouse", "addr"}, "must be host:port (or empty to disable the sink), got %q", a)
		}
	}
	if !dbNameRe.MatchString(ch.Database) {
		return mainProblem(fieldPath{"clickhouse", "database"}, "must be a database name (letters, digits, '_'), got %q", ch.Database)
	}
	if ch.PasswordEnv != "" && ch.PasswordFile != "" {
		return mainProblem(fieldPath{"clickhouse", "password_env"}, "at most one of password_env and password_file may be set")
	}
	if t := ch.TLS; !t.Enabled && (t.CAFile != "" || t.CertFile != "" || t.KeyFile != "") {
		return mainProblem(fieldPath{"clickhouse", "tls", "enabled"}, "must be true when TLS files are given")
	}
	if t := ch.TLS; (t.CertFile == "") != (t.KeyFile == "") {
		return mainProblem(fieldPath{"clickhouse", "tls", "cert_file"}, "cert_file and key_file go together")
	}
	switch ch.Compression {
	case "auto", "lz4", "none":
	default:
		return mainProblem(fieldPath{"clickhouse", "compression"}, `must be "auto", "lz4" or "none", got %q`, ch.Compression)
	}
	if ch.BatchRows < 1000 || ch.BatchRows > 1000000 {
		return mainProblem(fieldPath{"clickhouse", "batch_rows"}, "must be between 1000 and 1000000, got %d", ch.BatchRows)
	}
	if ch.FlushIntervalMS < 10 || ch.FlushIntervalMS > 60000 {
		return mainProblem(fieldPath{"clickhouse", "flush_interval_ms"}, "must be between 10 and 60000, got %d", ch.FlushIntervalMS)
	}
	if ch.OutboxCapBytes < 1<<20 {
		return mainProblem(fieldPath{"clickhouse", "outbox_cap_bytes"}, "must be at least 1048576 (1 MiB), got %d", ch.OutboxCapBytes)
	}
	return nil
}

func validateInput(c *Config) *problem {
	in := c.Input
	if in.MaxEventBytes < 1 || in.MaxEventBytes > maxEventBytesMax {
		return mainProblem(fieldPath{"input", "max_event_bytes"}, "must be between 1 and %d, got %d", maxEventBytesMax, in.MaxEventBytes)
	}
	path := fieldPath{"input", "channels"}
	if len(in.Channels) == 0 {
		return mainProblem(path, "must list at least one channel")
	}
	return checkNames(path, in.Channels, "channel")
}

func validateJourney(c *Config) *problem {
	stageAt := map[string]int{}   // stage name -> index
	typeStage := map[string]int{} // event type -> index of its stage
	for i, s := range c.Journey.Stages {
		path := fieldPath{"journey", "stages", i}
		if p := checkName(path.with("name"), s.Name, "stage name"); p != nil {
			return p
		}
		if first, dup := stageAt[s.Name]; dup {
			return mainProblem(path.with("name"), "stage %q is defined twice (first as stages[%d])", s.Name, first)
		}
		stageAt[s.Name] = i
		if len(s.Types) == 0 {
			return mainProblem(path.with("types"), "must list at least one event type, or the stage can never be reached")
		}
		for j, t := range s.Types {
			tp := path.with("types").with(j)
			if p := checkName(tp, t, "event type"); p != nil {
				return p
			}
			if first, dup := typeStage[t]; dup {
				// One type in two stages would make a journey row's stage
				// depend on the order of this list.
				if first == i {
					return mainProblem(tp, "event type %q is listed twice in this stage", t)
				}
				return mainProblem(tp, "event type %q is already in stage %q; an event type belongs to at most one stage", t, c.Journey.Stages[first].Name)
			}
			typeStage[t] = i
		}
	}
	if m := c.Journey.MaxEvents; m < 1 || m > maxJourneyEvents {
		return mainProblem(fieldPath{"journey", "max_events"}, "must be between 1 and %d, got %d", maxJourneyEvents, m)
	}
	return nil
}

func validateProfile(c *Config) *problem {
	if p := checkNames(fieldPath{"profile", "purchase_types"}, c.Profile.PurchaseTypes, "event type"); p != nil {
		return p
	}
	if strings.TrimSpace(c.Profile.RevenueProp) == "" {
		return mainProblem(fieldPath{"profile", "revenue_prop"}, "must not be empty")
	}
	return nil
}

func validateIdentity(id *Identity) *problem {
	phoneType := ""
	for _, t := range id.Types {
		if t.Kind == kindPhone {
			phoneType = t.Name
			break
		}
	}
	if id.DefaultCountry != "" || phoneType != "" {
		if p := checkCountry(id.DefaultCountry, phoneType); p != nil {
			return p
		}
	}
	if id.SharedAfter < 1 {
		return identityProblem(fieldPath{"shared_after"}, "must be at least 1, got %d", id.SharedAfter)
	}
	if id.ForgetLate != "" && id.ForgetLate != "drop" && id.ForgetLate != "apply" {
		return identityProblem(fieldPath{"forget_late_events"}, "must be drop or apply, got %q", id.ForgetLate)
	}
	for i, v := range id.JunkValues {
		if strings.TrimSpace(v) == "" {
			return identityProblem(fieldPath{"junk_values", i}, "must not be empty (empty values are always junk)")
		}
	}
	if len(id.Types) == 0 {
		return identityProblem(fieldPath{"types"}, "must list at least one identifier type")
	}
	first := map[string]int{}
	for i, t := range id.Types {
		path := fieldPath{"types", i}
		if !nameRe.MatchString(t.Name) {
			p := nameProblem(path.with("name"), t.Name, "identifier type")
			p.identity = true
			return p
		}
		if j, dup := first[t.Name]; dup {
			return identityProblem(path.with("name"), "identifier type %q is defined twice (first as types[%d])", t.Name, j)
		}
		first[t.Name] = i
		switch t.Kind {
		case kindPlain, kindEmail, kindPhone:
		default:
			return identityProblem(path.with("kind"), "unknown kind %q; use plain, email or phone", t.Kind)
		}
		if t.Limit < 1 {
			return identityProblem(path.with("limit"), "must be at least 1 (distinct values per customer), got %d", t.Limit)
		}
		for j, v := range t.Blocklist {
			if strings.TrimSpace(v) == "" {
				return identityProblem(path.with("blocklist").with(j), "must not be empty (empty values are always junk)")
			}
		}
	}
	return validatePseudonymise(id, first)
}

// validatePseudonymise checks the pseudonymise section against the types
// (types maps each name to its index). The key file is read by load.
func validatePseudonymise(id *Identity, types map[string]int) *problem {
	ps := id.Pseudonymise
	path := fieldPath{"pseudonymise"}
	if ps.KeyFile == "" && len(ps.Types) > 0 {
		return identityProblem(path.with("key_file"), "must name the key file when types are listed")
	}
	if ps.KeyFile != "" && len(ps.Types) == 0 {
		return identityProblem(path.with("types"), "must list the identifier types to pseudonymise when key_file is set (an empty list leaves pseudonymisation off)")
	}
	seen := map[string]int{}
	for i, t := range ps.Types {
		if _, ok := types[t]; !ok {
			return identityProblem(path.with("types").with(i), "%q is not an identifier type of types", t)
		}
		if j, dup := seen[t]; dup {
			return identityProblem(path.with("types").with(i), "%q is listed twice (first at [%d])", t, j)
		}
		seen[t] = i
	}
	return nil
}

// checkCountry accepts only regions the phone number library knows, because
// a plausible-looking but unknown code (UK for GB) would make every national
// number fail to normalise at run time instead of at start-up.
func checkCountry(cc, phoneType string) *problem {
	path := fieldPath{"default_country"}
	if cc == "" {
		return identityProblem(path, "must be set because type %q has kind phone", phoneType)
	}
	if len(cc) != 2 || cc[0] < 'A' || cc[0] > 'Z' || cc[1] < 'A' || cc[1] > 'Z' {
		return identityProblem(path, "must be an ISO 3166-1 alpha-2 code in upper case, e.g. DE, got %q", cc)
	}
	if phonenumbers.GetCountryCodeForRegion(cc) == 0 {
		return identityProblem(path, "%q is not a region with a phone numbering plan (ISO 3166-1 alpha-2, e.g. GB not UK)", cc)
	}
	return nil
}

// checkNames checks a list of names: each valid, none twice.
func checkNames(path fieldPath, names []string, what string) *problem {
	first := map[string]int{}
	for i, n := range names {
		if p := checkName(path.with(i), n, what); p != nil {
			return p
		}
		if j, dup := first[n]; dup {
			return mainProblem(path.with(i), "%s %q is listed twice (first at [%d])", what, n, j)
		}
		first[n] = i
	}
	return nil
}

func checkName(path fieldPath, name, what string) *problem {
	if nameRe.MatchString(name) {
		return nil
	}
	return nameProblem(path, name, what)
}

func nameProblem(path fieldPath, name, what string) *problem {
	if name == "" {
		return mainProblem(path, "%s must not be empty", what)
	}
	return mainProblem(path, "%s %q is not a valid name: use a lower-case letter, then lower-case letters, digits or _", what, name)
}
