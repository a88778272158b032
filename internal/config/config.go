// Package config loads and validates Omnistitch's configuration: the main
// file (omnistitch.yaml) and the identity rules file it names.
//
// Every field a file leaves out keeps its default from the embedded files in
// configs/, so the shipped files are the single source of the defaults. Any
// problem is reported as an *Error naming the file, line and field, because a
// bad configuration must stop the service at start-up, not misbehave later.
package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"sync"

	"go.yaml.in/yaml/v3"

	"github.com/omnistitch/omnistitch/configs"
)

// Config is the whole configuration: omnistitch.yaml plus the identity file it names.
type Config struct {
	IdentityFile string     `yaml:"identity_file"` // path of the identity rules, relative to the main file; default "identity.yaml"
	SourcesDir   string     `yaml:"sources_dir"`   // directory of source mappings (*.yaml), relative to the main file; "" = the built-in ones
	RulesFile    string     `yaml:"rules_file"`    // trigger rules, relative to the main file; "" = the built-in configs/rules.yaml
	SegmentsFile string     `yaml:"segments_file"` // segments, relative to the main file; "" = the built-in configs/segments.yaml
	State        State      `yaml:"state"`
	Input        Input      `yaml:"input"`
	Journey      Journey    `yaml:"journey"`
	Profile      Profile    `yaml:"profile"`
	Kafka        Kafka      `yaml:"kafka"`
	HTTP         HTTP       `yaml:"http"`
	ClickHouse   ClickHouse `yaml:"clickhouse"`
	Identity     Identity   `yaml:"-"` // loaded from IdentityFile
}

// State configures the embedded Pebble store.
type State struct {
	Dir             string `yaml:"dir"`              // default "data/state"
	CustomerCache   int    `yaml:"customer_cache"`   // decoded customer records kept in memory; default 100000; >= 0
	IdentifierCache int    `yaml:"identifier_cache"` // decoded identifier records kept in memory; default 400000; >= 0
	BlockCacheMB    int    `yaml:"block_cache_mb"`   // Pebble's cache of stored blocks, in MiB; default 256; 8..65536
	// Free space, in MiB, below which consumption pauses (the filesystem
	// holding dir, as statfs reports it to this user): a full disk would
	// fail a commit, so the service stops taking work first and resumes
	// when space returns. Sinks keep draining meanwhile. 0 disables the
	// check; default 256; 0..1048576.
	MinFreeMB int `yaml:"min_free_mb"`
	// Soft limit of the Go runtime's memory, in MiB (debug.SetMemoryLimit):
	// near it the garbage collector runs more often, so the process stays
	// within budget without a smaller cache. Keep it at least twice the
	// heap live after a collection (omnistitch_heap_live_bytes; the service
	// warns in its log while the live heap is over half the limit).
	// Pebble's block cache and memtables are outside it. The environment's
	// GOMEMLIMIT, when set, wins. 0 leaves the runtime's default (no
	// limit); default 384; 0..1048576.
	HeapLimitMB int `yaml:"heap_limit_mb"`
	// The garbage collector's target percentage (debug.SetGCPercent): the
	// heap may grow this much beyond what is live before a collection.
	// Above the runtime's 100 the engine spends less time collecting
	// (about 9% less CPU per event at 200) for more memory (at 1,000,000
	// customers, 200 raised peak RSS from 945 to 999 MiB despite
	// heap_limit_mb; see bench/RESULTS.md). The environment's GOGC, when
	// set, wins. 0 leaves the runtime's default; default 100; 0..10000.
	GCPercent int `yaml:"gc_percent"`
}

// Input configures what the consumers accept.
type Input struct {
	MaxEventBytes int      `yaml:"max_event_bytes"` // larger records are dead-lettered; default 1048576; 1..67108864
	Channels      []string `yaml:"channels"`        // accepted channels; default [web, store, callcentre, email]; non-empty, unique, each a name
}

// Kafka is where the service consumes events and sends dead letters.
type Kafka struct {
	Brokers         []string `yaml:"brokers"`          // seed brokers, host:port; default [127.0.0.1:9092]
	Group           string   `yaml:"group"`            // consumer group; default "omnistitch"
	EventsTopic     string   `yaml:"events_topic"`     // canonical events; default "omni.events"
	DeadLetterTopic string   `yaml:"deadletter_topic"` // bad records; default "omni.deadletter"
	MaxPollRecords  int      `yaml:"max_poll_records"` // records applied per atomic batch at most; default 25000; 1..1000000
	// How far ahead in event time, in ms, a partition's records are applied
	// of the slowest partition that still has a backlog; records further
	// ahead wait, and their partition is not fetched meanwhile. Catching up
	// on a backlog, partitions otherwise arrive out of step (a megabyte of
	// call-centre records spans far more time than a megabyte of web
	// traffic): the watermark runs ahead, absences fire early, and late
	// events rewrite journeys. Partitions at their end hold nobody back.
	// Keep it below the rules' allowed_lateness. 0 applies records as
	// polled; default 60000; 0..86400000.
	AlignWindowMS int `yaml:"align_window_ms"`
	// Static group membership (KIP-345): a name unique to this instance
	// and stable across its restarts (e.g. the StatefulSet pod name). A
	// restarted instance then takes its partitions back at once; without
	// one, an instance killed without leaving the group (kill -9, OOM,
	// power cut) holds them until its session times out (45s) and its
	// successor consumes nothing meanwhile. Default "" (dynamic membership).
	InstanceID string `yaml:"instance_id"`
	TLS        TLS    `yaml:"tls"`
	SASL       SASL   `yaml:"sasl"`
}

// TLS secures connections to the brokers. File paths are relative to the
// working directory.
type TLS struct {
	Enabled    bool   `yaml:"enabled"`     // default false
	CAFile     string `yaml:"ca_file"`     // PEM roots to trust; "" uses the system's
	CertFile   string `yaml:"cert_file"`   // client certificate (PEM), with key_file, for mutual TLS
	KeyFile    string `yaml:"key_file"`    // client key (PEM)
	ServerName string `yaml:"server_name"` // expected name in the brokers' certificates; "" uses the host dialled
}

// SASL authenticates to the brokers. The password is never in the file:
// it comes from the environment variable or the file named.
type SASL struct {
	Mechanism    string `yaml:"mechanism"` // "" (none), "PLAIN", "SCRAM-SHA-256" or "SCRAM-SHA-512"
	Username     string `yaml:"username"`
	PasswordEnv  string `yaml:"password_env"`  // environment variable holding the password
	PasswordFile string `yaml:"password_file"` // or a file holding it (trailing newline ignored)
}

// HTTP is the service's HTTP listener: health, metrics, lookups.
// A listener on any address but loopback needs a bearer token; the token
// is never in the file: it comes from the environment variable or the file
// named, like the passwords.
type HTTP struct {
	Addr          string `yaml:"addr"`           // host:port; default "127.0.0.1:8080" (loopback only); "" disables it; any other host needs token_env or token_file
	TokenEnv      string `yaml:"token_env"`      // environment variable holding the bearer token every endpoint but /healthz and /readyz requires
	TokenFile     string `yaml:"token_file"`     // or a file holding it (trailing newline ignored)
	MaxConcurrent int    `yaml:"max_concurrent"` // requests served at once, beyond which 503 is answered; default 64; 1..10000
	TLSCertFile   string `yaml:"tls_cert_file"`  // HTTPS: the server's certificate chain (PEM), with tls_key_file; re-read when the files change; "" serves plain HTTP
	TLSKeyFile    string `yaml:"tls_key_file"`   // its private key (PEM)
}

// ClickHouse is where journeys, profiles and the identity map are written.
// The password is never in the file: it comes from the environment variable
// or the file named.
type ClickHouse struct {
	Addr            string `yaml:"addr"`              // native protocol host:port; default "127.0.0.1:9000"; "" disables the sink
	Database        string `yaml:"database"`          // default "omnistitch"
	Username        string `yaml:"username"`          // default "default"
	PasswordEnv     string `yaml:"password_env"`      // environment variable holding the password
	PasswordFile    string `yaml:"password_file"`     // or a file holding it (trailing newline ignored)
	TLS             TLS    `yaml:"tls"`               // TLS to the server (its secure native port)
	Compression     string `yaml:"compression"`       // blocks sent to the server: "lz4", "none", or "auto" (none to a loopback address, where compressing only costs CPU; lz4 otherwise); default "auto"
	BatchRows       int    `yaml:"batch_rows"`        // rows per INSERT at most; default 100000; 1000..1000000
	FlushIntervalMS int    `yaml:"flush_interval_ms"` // a partial batch is written after this long (also once 8 MiB of rows wait, as stored (compressed), and whenever the service has caught up, at most every 200 ms); default 1000; 10..60000
	OutboxCapBytes  int    `yaml:"outbox_cap_bytes"`  // bytes of rows waiting on disk (as stored, compressed) beyond which consumption pauses; default 1073741824; >= 1048576
}

// Journey maps event types to funnel stages and bounds each journey.
type Journey struct {
	Stages []Stage `yaml:"stages"` // in funnel order
	// Events kept in one customer's journey at most. Events beyond it (a
	// bot, a shared identifier on millions of events) are still
	// de-duplicated and counted in the profile but not stored in the
	// journey; they are counted as overflow (profile journey_overflow,
	// metric omnistitch_journey_overflow_total). Keeps the work per event
	// and the state of one customer bounded. Default 100000; 1..100000000.
	MaxEvents int `yaml:"max_events"`
}

// Stage is one funnel stage.
type Stage struct {
	Name  string   `yaml:"name"`
	Types []string `yaml:"types"` // event types that put a customer in this stage
}

// Profile configures the purchase figures of profiles.
type Profile struct {
	PurchaseTypes []string `yaml:"purchase_types"` // event types counted as purchases; default [purchase]
	RevenueProp   string   `yaml:"revenue_prop"`   // numeric props field summed as revenue on purchases; default "total"
}

// Identity is the content of the identity rules file.
type Identity struct {
	DefaultCountry string       `yaml:"default_country"`    // ISO 3166-1 alpha-2 region for phone numbers without country code; default "DE"
	SharedAfter    int          `yaml:"shared_after"`       // a detect_shared identifier seen with more than this many distinct values of one higher-priority type is shared; default 3; >= 1
	ForgetLate     string       `yaml:"forget_late_events"` // late events of a forgotten customer: "drop" (default) or "apply" (as a new customer)
	JunkValues     []string     `yaml:"junk_values"`        // extra junk values on top of the built-in list
	Types          []IDType     `yaml:"types"`              // identifier types, highest priority first
	Pseudonymise   Pseudonymise `yaml:"pseudonymise"`
}

// Pseudonymise replaces the values of the listed identifier types, right
// after normalisation and the junk checks, by the first 32 hex digits of
// HMAC-SHA256(key, type + ":" + value): the state, ClickHouse, trigger
// messages and HTTP answers then hold only pseudonyms. The key never sits in
// the file; changing it (or the list) under an existing state is refused at
// start-up, because stored pseudonyms would no longer match new ones.
type Pseudonymise struct {
	KeyFile string   `yaml:"key_file"` // file holding the secret key, at least 32 bytes (trailing newline ignored), relative to the working directory; required with types
	Types   []string `yaml:"types"`    // identifier types whose values are replaced; default [] (off)

	key []byte // read from KeyFile by Load
}

// Key is the secret key read from KeyFile by Load or ReadKey; nil when
// pseudonymisation is off.
func (p *Pseudonymise) Key() []byte { return p.key }

// IDType is one identifier type. After Load or Default, Kind is never empty.
type IDType struct {
	Name         string   `yaml:"name"`
	Kind         string   `yaml:"kind"`          // "plain" (default), "email" or "phone"
	Limit        int      `yaml:"limit"`         // max distinct values per customer; >= 1
	DetectShared bool     `yaml:"detect_shared"` // watch for shared devices/cookies
	Blocklist    []string `yaml:"blocklist"`
}

const (
	kindPlain = "plain"
	kindEmail = "email"
	kindPhone = "phone"

	mainFileName     = "omnistitch.yaml"
	maxEventBytesMax = 64 << 20
	maxJourneyEvents = 100_000_000
	// Configuration files are small; the cap keeps a mistaken path (a log
	// file, /dev/zero) from eating memory before the YAML parser rejects it.
	maxFileBytes = 16 << 20
)

// defaults is parsed once; Default hands out deep copies so that no caller
// can change what another caller (or Load) sees.
var defaults = sync.OnceValue(func() *Config {
	c, err := load(embeddedSource{}, mainFileName, &Config{})
	if err != nil {
		// The embedded files are part of the binary and covered by tests;
		// reaching this is a build defect, not a user error.
		panic("config: embedded configs/ files are invalid: " + err.Error())
	}
	return c
})

// Default returns the configuration of the embedded configs/ files (configs.FS).
// Each call returns a new deep copy that the caller may modify.
func Default() *Config {
	return defaults().clone()
}

// Load reads the main file at path and the identity file it names. Fields missing from a file keep their
// defaults (from the embedded files); a list given in the file replaces the default list.
// Every error is an *Error.
func Load(path string) (*Config, error) {
	c, err := load(osSource{}, path, Default())
	if err != nil {
		return nil, err
	}
	return c, nil
}

// Priority returns the index of an identifier type in Identity.Types (0 = highest), ok=false if unknown.
func (id *Identity) Priority(name string) (int, bool) {
	for i, t := range id.Types {
		if t.Name == name {
			return i, true
		}
	}
	return 0, false
}

// StageOf returns the stage name of an event type, "" if unmapped.
// It scans the (small) stage lists; callers on a hot path may build a map once.
func (j *Journey) StageOf(eventType string) string {
	for _, s := range j.Stages {
		if slices.Contains(s.Types, eventType) {
			return s.Name
		}
	}
	return ""
}

// clone returns a deep copy: no slice of the result shares memory with c.
func (c *Config) clone() *Config {
	d := *c
	d.Input.Channels = slices.Clone(c.Input.Channels)
	d.Journey.Stages = slices.Clone(c.Journey.Stages)
	for i := range d.Journey.Stages {
		d.Journey.Stages[i].Types = slices.Clone(d.Journey.Stages[i].Types)
	}
	d.Profile.PurchaseTypes = slices.Clone(c.Profile.PurchaseTypes)
	d.Kafka.Brokers = slices.Clone(c.Kafka.Brokers)
	d.Identity.JunkValues = slices.Clone(c.Identity.JunkValues)
	d.Identity.Types = slices.Clone(c.Identity.Types)
	d.Identity.Pseudonymise.Types = slices.Clone(c.Identity.Pseudonymise.Types)
	d.Identity.Pseudonymise.key = slices.Clone(c.Identity.Pseudonymise.key)
	for i := range d.Identity.Types {
		d.Identity.Types[i].Blocklist = slices.Clone(d.Identity.Types[i].Blocklist)
	}
	return &d
}

// normalise fills in values whose default is implied rather than inherited
// from the embedded files: a type given in a user's list starts from zero.
func (c *Config) normalise() {
	for i := range c.Identity.Types {
		if c.Identity.Types[i].Kind == "" {
			c.Identity.Types[i].Kind = kindPlain
		}
	}
}

// source abstracts where files come from, so the embedded defaults and the
// user's files go through exactly the same decoding and validation.
type source interface {
	read(name string) ([]byte, error)
	// resolve returns the identity file path named rel in the main file main.
	resolve(main, rel string) string
}

type osSource struct{}

func (osSource) read(name string) ([]byte, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxFileBytes+1))
	if err != nil {
		return nil, err
	}
	if len(data) > maxFileBytes {
		return nil, fmt.Errorf("larger than %d bytes, not a configuration file", maxFileBytes)
	}
	return data, nil
}

func (osSource) resolve(main, rel string) string {
	if filepath.IsAbs(rel) {
		return rel
	}
	return filepath.Join(filepath.Dir(main), rel)
}

type embeddedSource struct{}

func (embeddedSource) read(name string) ([]byte, error) { return fs.ReadFile(configs.FS, name) }

func (embeddedSource) resolve(main, rel string) string { return path.Join(path.Dir(main), rel) }

// load decodes the main file at mainPath and its identity file on top of base
// (which it modifies and returns), then validates the result.
func load(src source, mainPath string, base *Config) (*Config, *Error) {
	data, err := src.read(mainPath)
	if err != nil {
		return nil, &Error{File: mainPath, Msg: "cannot read: " + osMessage(err), err: err}
	}
	mainRoot, e := decodeFile(mainPath, data, base)
	if e != nil {
		return nil, e
	}

	if base.IdentityFile == "" {
		return nil, &Error{File: mainPath, Line: lineOf(mainRoot, fieldPath{"identity_file"}),
			Field: "identity_file", Msg: "must not be empty"}
	}
	idPath := src.resolve(mainPath, base.IdentityFile)
	idData, err := src.read(idPath)
	if err != nil {
		// Point at the field that named the file: that is where a fix goes.
		// The line is 0 when the file was named by default.
		return nil, &Error{File: mainPath, Line: lineOf(mainRoot, fieldPath{"identity_file"}),
			Field: "identity_file", Msg: fmt.Sprintf("cannot read identity file %s: %s", idPath, osMessage(err)), err: err}
	}
	idRoot, e := decodeFile(idPath, idData, &base.Identity)
	if e != nil {
		return nil, e
	}

	base.normalise()
	if base.SourcesDir != "" {
		base.SourcesDir = src.resolve(mainPath, base.SourcesDir)
	}
	if base.RulesFile != "" {
		base.RulesFile = src.resolve(mainPath, base.RulesFile)
	}
	if base.SegmentsFile != "" {
		base.SegmentsFile = src.resolve(mainPath, base.SegmentsFile)
	}
	if p := validate(base); p != nil {
		file, root := mainPath, mainRoot
		if p.identity {
			file, root = idPath, idRoot
		}
		return nil, &Error{File: file, Line: lineOf(root, p.path), Field: p.path.String(), Msg: p.msg}
	}
	if ps := &base.Identity.Pseudonymise; ps.KeyFile != "" {
		if err := ps.ReadKey(); err != nil {
			path := fieldPath{"pseudonymise", "key_file"}
			return nil, &Error{File: idPath, Line: lineOf(idRoot, path), Field: path.String(), Msg: err.Error(), err: errors.Unwrap(err)}
		}
	}
	return base, nil
}

// minKeyBytes matches pseudonym.MinKeyBytes (not imported: config is below
// the engine's packages).
const minKeyBytes = 32

// ReadKey reads the key from KeyFile, for configurations built in code;
// Load calls it. The error never quotes the key.
func (p *Pseudonymise) ReadKey() error {
	f, err := os.Open(p.KeyFile)
	if err != nil {
		return fmt.Errorf("cannot read key file %s: %s: %w", p.KeyFile, osMessage(err), err)
	}
	defer f.Close()
	// A key is short; the cap keeps a mistaken path from eating memory.
	b, err := io.ReadAll(io.LimitReader(f, 64<<10+1))
	if err != nil {
		return fmt.Errorf("cannot read key file %s: %s: %w", p.KeyFile, osMessage(err), err)
	}
	if len(b) > 64<<10 {
		return fmt.Errorf("key file %s is larger than 64 KiB, not a key", p.KeyFile)
	}
	b = bytes.TrimRight(b, "\r\n")
	if len(b) < minKeyBytes {
		return fmt.Errorf("key file %s holds %d bytes; the key must be at least %d (e.g. openssl rand -hex 32 > %s)", p.KeyFile, len(b), minKeyBytes, p.KeyFile)
	}
	p.key = b
	return nil
}

// osMessage drops the operation and path from an *fs.PathError: the *Error
// already names the file, and repeating it makes the message hard to read.
func osMessage(err error) string {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err.Error()
	}
	return err.Error()
}

// decodeFile parses data and decodes it into out (a pointer to a struct that
// already holds the defaults). It returns the document's root node, nil for
// an empty file, so that later validation errors can find their line.
func decodeFile(file string, data []byte, out any) (*yaml.Node, *Error) {
	root, e := parseNode(file, data)
	if e != nil {
		return nil, e
	}
	if root == nil {
		return nil, nil
	}
	if root.Kind != yaml.MappingNode && !isNull(root) {
		return nil, &Error{File: file, Line: root.Line, Msg: "expected a mapping of fields at the top level, got " + Describe(root)}
	}
	// The schema check comes first because it reports the exact field of a
	// mistake; yaml's own errors only carry a line.
	if e := checkSchema(file, root, out); e != nil {
		return nil, e
	}
	err := guard(func() error {
		dec := yaml.NewDecoder(bytes.NewReader(data))
		dec.KnownFields(true)
		return dec.Decode(out)
	})
	if err != nil && !errors.Is(err, io.EOF) {
		return nil, yamlError(file, root, err)
	}
	return root, nil
}
