// Package deploy_test checks the deployment files of deploy/: that the
// Grafana dashboard and the Prometheus alert rules only name metrics the
// service really exports, that every YAML file parses, and that the
// docker-compose stack and the Kubernetes manifests agree with the service's
// configuration (the files they mount load with internal/config, ports,
// paths and secrets line up). Nothing here needs Docker or a cluster.
package deploy_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io"
	"io/fs"
	"net"
	"os"
	"path"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/plugin/kprom"
	"go.yaml.in/yaml/v3"

	"github.com/omnistitch/omnistitch/internal/config"
)

const repoRoot = ".."

// --- The metrics the service exports ---------------------------------------

type metricKind int

const (
	single metricKind = iota // counter, gauge, untyped: one series name
	histogram
	summary
)

// knownMetrics is every metric name the running service can export:
//   - omnistitch_* from the prometheus.*Opts literals in the repository's Go
//     sources (so a metric renamed in code makes this test fail);
//   - the franz-go client's metrics, by building kprom with the namespace the
//     sources pass to kprom.NewMetrics; its histograms (request latency and
//     the like) only if the sources enable them with kprom.Histograms: they
//     are registered either way, but never observed unless enabled;
//   - the Go and process collectors that `omnistitch run` registers;
//   - "up", which Prometheus itself records for every target.
var knownMetrics = sync.OnceValues(func() (map[string]metricKind, error) {
	known := map[string]metricKind{"up": single}
	uses, err := scanSources(repoRoot, known)
	if err != nil {
		return nil, err
	}
	if len(uses) == 0 {
		return nil, errors.New("no kprom.NewMetrics call found in the sources")
	}
	for _, u := range uses {
		if err := kpromMetrics(u, known); err != nil {
			return nil, err
		}
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	mfs, err := reg.Gather()
	if err != nil {
		return nil, err
	}
	for _, mf := range mfs {
		known[mf.GetName()] = kindOf(mf.GetType().String())
	}
	return known, nil
})

func kindOf(typ string) metricKind {
	switch typ {
	case "HISTOGRAM", "GAUGE_HISTOGRAM":
		return histogram
	case "SUMMARY":
		return summary
	}
	return single
}

// kpromUse is one kprom.NewMetrics call of the sources.
type kpromUse struct {
	namespace  string
	histograms bool // an option enables histograms
}

// scanSources adds the metrics declared in the non-test Go files under root
// and returns the kprom.NewMetrics calls.
func scanSources(root string, known map[string]metricKind) ([]kpromUse, error) {
	var uses []kpromUse
	fset := token.NewFileSet()
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if n := d.Name(); p != root && (strings.HasPrefix(n, ".") || n == "testdata" || n == "vendor" || n == "bin") {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(p, ".go") || strings.HasSuffix(p, "_test.go") {
			return nil
		}
		f, err := parser.ParseFile(fset, p, nil, parser.SkipObjectResolution)
		if err != nil {
			return err
		}
		ast.Inspect(f, func(n ast.Node) bool {
			if err != nil {
				return false
			}
			switch n := n.(type) {
			case *ast.CompositeLit:
				sel, ok := n.Type.(*ast.SelectorExpr)
				if !ok {
					return true
				}
				kind := map[string]metricKind{"CounterOpts": single, "GaugeOpts": single, "HistogramOpts": histogram, "SummaryOpts": summary}
				k, ok := kind[sel.Sel.Name]
				if !ok {
					return true
				}
				parts := map[string]string{}
				for _, e := range n.Elts {
					kv, ok := e.(*ast.KeyValueExpr)
					if !ok {
						continue
					}
					key, ok := kv.Key.(*ast.Ident)
					if !ok || key.Name != "Name" && key.Name != "Namespace" && key.Name != "Subsystem" {
						continue
					}
					s, ok := stringLit(kv.Value)
					if !ok {
						err = fmt.Errorf("%s: %s is not a string literal; teach deploy_test.go to resolve it", fset.Position(kv.Pos()), key.Name)
						return false
					}
					parts[key.Name] = s
				}
				if parts["Name"] != "" {
					known[prometheus.BuildFQName(parts["Namespace"], parts["Subsystem"], parts["Name"])] = k
				}
			case *ast.CallExpr:
				sel, ok := n.Fun.(*ast.SelectorExpr)
				if !ok || sel.Sel.Name != "NewMetrics" || len(n.Args) == 0 {
					return true
				}
				if x, ok := sel.X.(*ast.Ident); !ok || x.Name != "kprom" {
					return true
				}
				s, ok := stringLit(n.Args[0])
				if !ok {
					err = fmt.Errorf("%s: kprom namespace is not a string literal", fset.Position(n.Pos()))
					return false
				}
				u := kpromUse{namespace: s}
				for _, a := range n.Args[1:] {
					ast.Inspect(a, func(n ast.Node) bool {
						if sel, ok := n.(*ast.SelectorExpr); ok && (sel.Sel.Name == "Histograms" || sel.Sel.Name == "HistogramsFromOpts") {
							u.histograms = true
						}
						return true
					})
				}
				uses = append(uses, u)
			}
			return true
		})
		return err
	})
	return uses, err
}

func stringLit(e ast.Expr) (string, bool) {
	lit, ok := e.(*ast.BasicLit)
	if !ok || lit.Kind != token.STRING {
		return "", false
	}
	s, err := strconv.Unquote(lit.Value)
	return s, err == nil
}

// kpromMetrics registers kprom's metrics for a client (which never
// connects) with a registerer that records their names: its vectors have
// no series before traffic, so gathering would not show them.
func kpromMetrics(u kpromUse, known map[string]metricKind) error {
	rec := &recorder{known: known, skipHistograms: !u.histograms}
	cl, err := kgo.NewClient(kgo.SeedBrokers("127.0.0.1:1"), kgo.WithHooks(kprom.NewMetrics(u.namespace, kprom.Registerer(rec))))
	if err != nil {
		return err
	}
	cl.Close()
	if rec.n == 0 {
		return errors.New("kprom registered no metrics")
	}
	return rec.err
}

type recorder struct {
	known          map[string]metricKind
	skipHistograms bool
	n              int
	err            error
}

var fqNameRe = regexp.MustCompile(`^Desc\{fqName: "([^"]+)"`)

func (r *recorder) Register(c prometheus.Collector) error {
	// kprom registers vectors (a plain Histogram and Summary cannot be told
	// apart by type: both are just Observe).
	kind := single
	switch c.(type) {
	case *prometheus.HistogramVec:
		kind = histogram
	case *prometheus.SummaryVec:
		kind = summary
	}
	if kind == histogram && r.skipHistograms {
		return nil
	}
	ch := make(chan *prometheus.Desc)
	go func() {
		c.Describe(ch)
		close(ch)
	}()
	for d := range ch {
		m := fqNameRe.FindStringSubmatch(d.String())
		if m == nil {
			r.err = fmt.Errorf("cannot read the metric name from %s", d)
			continue
		}
		r.known[m[1]] = kind
		r.n++
	}
	return nil
}

func (r *recorder) MustRegister(cs ...prometheus.Collector) {
	for _, c := range cs {
		r.Register(c)
	}
}

func (r *recorder) Unregister(prometheus.Collector) bool { return true }

// exists reports whether a series name is exported: a known metric, or the
// _bucket/_sum/_count series of a histogram (_sum/_count of a summary).
func exists(known map[string]metricKind, name string) bool {
	if k, ok := known[name]; ok {
		return k != histogram
	}
	for _, suffix := range []string{"_bucket", "_sum", "_count"} {
		if base, ok := strings.CutSuffix(name, suffix); ok {
			switch known[base] {
			case histogram:
				return true
			case summary:
				return suffix != "_bucket"
			}
		}
	}
	return false
}

func checkExprs(t *testing.T, where string, exprs []string) {
	t.Helper()
	known, err := knownMetrics()
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range exprs {
		names := metricNames(e)
		if len(names) == 0 {
			t.Errorf("%s: no metric found in %q", where, e)
		}
		for _, n := range names {
			if !exists(known, n) {
				t.Errorf("%s: metric %s does not exist (in %q)", where, n, e)
			}
		}
	}
}

// --- PromQL: the metric names of an expression ------------------------------

var (
	identRe    = regexp.MustCompile(`[A-Za-z_:][A-Za-z0-9_:]*`)
	groupingRe = regexp.MustCompile(`\b(by|without|on|ignoring|group_left|group_right)\s*\([^()]*\)`)
	grafanaVar = regexp.MustCompile(`\$\{[^}]*\}|\$[A-Za-z_]\w*`)
	keywords   = map[string]bool{"and": true, "or": true, "unless": true, "by": true, "without": true, "on": true,
		"ignoring": true, "group_left": true, "group_right": true, "offset": true, "bool": true, "inf": true, "nan": true, "atan2": true}
)

// metricNames returns the metric names an expression selects. It is a
// scanner, not a parser: strings, label matchers, ranges, Grafana variables
// and grouping clauses are blanked out, and what remains that looks like a
// name and is not a function or keyword is a metric.
func metricNames(expr string) []string {
	s := blankStrings(expr)
	s = blankNested(s, '{', '}')
	s = blankNested(s, '[', ']')
	s = grafanaVar.ReplaceAllString(s, " ")
	s = groupingRe.ReplaceAllString(s, " ")
	var names []string
	for _, loc := range identRe.FindAllStringIndex(s, -1) {
		name := s[loc[0]:loc[1]]
		if loc[0] > 0 && (s[loc[0]-1] >= '0' && s[loc[0]-1] <= '9' || s[loc[0]-1] == '.') {
			continue // 1e-9, 5m
		}
		if rest := strings.TrimLeft(s[loc[1]:], " \t\n"); strings.HasPrefix(rest, "(") {
			continue // a function or aggregation
		}
		if keywords[strings.ToLower(name)] || slices.Contains(names, name) {
			continue
		}
		names = append(names, name)
	}
	return names
}

func blankStrings(s string) string {
	b := []byte(s)
	var quote byte
	for i := 0; i < len(b); i++ {
		c := b[i]
		switch {
		case quote == 0 && (c == '"' || c == '\'' || c == '`'):
			quote = c
			b[i] = ' '
		case quote != 0 && c == '\\' && quote != '`' && i+1 < len(b):
			b[i], b[i+1] = ' ', ' '
			i++
		case quote != 0:
			if c == quote {
				quote = 0
			}
			b[i] = ' '
		}
	}
	return string(b)
}

func blankNested(s string, open, close byte) string {
	b := []byte(s)
	depth := 0
	for i, c := range b {
		switch {
		case c == open:
			depth++
		case c == close && depth > 0:
			depth--
			b[i] = ' '
			continue
		}
		if depth > 0 {
			b[i] = ' '
		}
	}
	return string(b)
}

func TestMetricNames(t *testing.T) {
	f := func(expr string, want ...string) {
		t.Helper()
		if got := metricNames(expr); !slices.Equal(got, want) {
			t.Errorf("metricNames(%q) = %q, want %q", expr, got, want)
		}
	}
	f(`sum by (topic) (rate(omnistitch_records_total{instance=~"$instance"}[$__rate_interval]))`, "omnistitch_records_total")
	f(`histogram_quantile(0.99, sum by (instance, le) (rate(a_bucket{x="}"}[5m])))`, "a_bucket")
	f(`a / clamp_min(b, 1e-9) > 0.01`, "a", "b")
	f(`up{job="omnistitch"} == 0`, "up")
	f(`max(x) or sum without (instance) (rate(y[5m] offset 1h)) > 0`, "x", "y")
	f(`a * on(instance) group_left(version) b and bool c`, "a", "b", "c")
	f("sum(rate(a[${__rate_interval}])) / sum(rate(a[$__range]))", "a")
	f(`label_replace(a, "dst", "$1", "src", "(.*)")`, "a")
	f(`{__name__="a"}`)
	f(`rate(a:recorded_rule[1m:10s])`, "a:recorded_rule")
}

func TestExists(t *testing.T) {
	known := map[string]metricKind{"c_total": single, "h_seconds": histogram, "s_seconds": summary}
	f := func(name string, want bool) {
		t.Helper()
		if got := exists(known, name); got != want {
			t.Errorf("exists(%s) = %v, want %v", name, got, want)
		}
	}
	f("c_total", true)
	f("c_total_count", false)
	f("h_seconds", false)
	f("h_seconds_bucket", true)
	f("h_seconds_sum", true)
	f("s_seconds", true)
	f("s_seconds_count", true)
	f("s_seconds_bucket", false)
	f("nope", false)
}

// TestKnownMetrics guards the scan itself: if it stopped finding the
// service's metrics, every dashboard check would fail for the wrong reason.
func TestKnownMetrics(t *testing.T) {
	known, err := knownMetrics()
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"omnistitch_records_total", "omnistitch_batch_seconds_bucket",
		"omnistitch_clickhouse_outbox_bytes", "omnistitch_kafka_buffered_fetch_records_total",
		"go_memstats_heap_inuse_bytes", "process_resident_memory_bytes"} {
		if !exists(known, name) {
			t.Errorf("%s not among the known metrics", name)
		}
	}
}

// --- Grafana ---------------------------------------------------------------

type dsRef struct {
	Type string `json:"type"`
	UID  string `json:"uid"`
}

type panel struct {
	ID          int    `json:"id"`
	Type        string `json:"type"`
	Title       string `json:"title"`
	Datasource  *dsRef `json:"datasource"`
	GridPos     struct{ X, Y, W, H int }
	FieldConfig struct {
		Defaults struct {
			Unit string `json:"unit"`
		} `json:"defaults"`
	} `json:"fieldConfig"`
	Targets []struct {
		Expr       string `json:"expr"`
		RefID      string `json:"refId"`
		Datasource *dsRef `json:"datasource"`
	} `json:"targets"`
	Panels []panel `json:"panels"`
}

type input struct {
	Name     string `json:"name"`
	Type     string `json:"type"`
	PluginID string `json:"pluginId"`
}

type dashboard struct {
	Inputs        []input `json:"__inputs"`
	SchemaVersion int     `json:"schemaVersion"`
	UID           string  `json:"uid"`
	Title         string  `json:"title"`
	Panels        []panel `json:"panels"`
	Templating    struct {
		List []struct {
			Name       string `json:"name"`
			Type       string `json:"type"`
			Query      any    `json:"query"`
			Definition string `json:"definition"`
		} `json:"list"`
	} `json:"templating"`
}

const dashboardFile = "grafana/omnistitch.json"

func loadDashboard(t *testing.T) *dashboard {
	t.Helper()
	b, err := os.ReadFile(dashboardFile)
	if err != nil {
		t.Fatal(err)
	}
	var d dashboard
	if err := json.Unmarshal(b, &d); err != nil {
		t.Fatalf("%s: %v", dashboardFile, err)
	}
	return &d
}

// allPanels flattens rows: a collapsed row holds its panels.
func allPanels(ps []panel) []panel {
	var out []panel
	for _, p := range ps {
		out = append(out, p)
		out = append(out, allPanels(p.Panels)...)
	}
	return out
}

func TestDashboardMetricsExist(t *testing.T) {
	d := loadDashboard(t)
	n := 0
	for _, p := range allPanels(d.Panels) {
		var exprs []string
		for _, tg := range p.Targets {
			exprs = append(exprs, tg.Expr)
		}
		n += len(exprs)
		checkExprs(t, fmt.Sprintf("panel %q", p.Title), exprs)
	}
	if n < 20 {
		t.Errorf("only %d queries in the dashboard", n)
	}
	for _, v := range d.Templating.List {
		if v.Type != "query" {
			continue
		}
		q := v.Definition
		if inner, ok := strings.CutPrefix(q, "label_values("); ok {
			// label_values(metric, label): only the first argument selects.
			inner = strings.TrimSuffix(inner, ")")
			if i := strings.LastIndex(inner, ","); i >= 0 {
				q = inner[:i]
			} else {
				continue
			}
		}
		checkExprs(t, "variable "+v.Name, []string{q})
	}
}

func TestDashboardStructure(t *testing.T) {
	d := loadDashboard(t)
	if d.SchemaVersion < 36 {
		t.Errorf("schemaVersion %d: expected a current dashboard (36+)", d.SchemaVersion)
	}
	if d.UID == "" || d.Title == "" {
		t.Error("dashboard needs a uid and a title")
	}
	if !slices.Contains(d.Inputs, input{Name: "DS_PROMETHEUS", Type: "datasource", PluginID: "prometheus"}) {
		t.Error("no DS_PROMETHEUS data-source input")
	}
	// Provisioned dashboards get no input substitution: a data-source
	// variable of the same name makes ${DS_PROMETHEUS} resolve there too.
	hasVar := false
	for _, v := range d.Templating.List {
		hasVar = hasVar || v.Name == "DS_PROMETHEUS" && v.Type == "datasource"
	}
	if !hasVar {
		t.Error("no DS_PROMETHEUS data-source variable (needed when the dashboard is provisioned)")
	}
	ids := map[int]bool{}
	for _, p := range allPanels(d.Panels) {
		if ids[p.ID] {
			t.Errorf("panel id %d used twice", p.ID)
		}
		ids[p.ID] = true
		if p.Title == "" {
			t.Errorf("panel %d has no title", p.ID)
		}
		if p.GridPos.W <= 0 || p.GridPos.H <= 0 || p.GridPos.X < 0 || p.GridPos.X+p.GridPos.W > 24 {
			t.Errorf("panel %q: gridPos %+v outside the 24-column grid", p.Title, p.GridPos)
		}
		if p.Type == "row" {
			continue
		}
		if p.Datasource == nil || p.Datasource.UID != "${DS_PROMETHEUS}" {
			t.Errorf("panel %q: data source is not ${DS_PROMETHEUS}", p.Title)
		}
		if p.FieldConfig.Defaults.Unit == "" {
			t.Errorf("panel %q: no unit", p.Title)
		}
		if len(p.Targets) == 0 {
			t.Errorf("panel %q: no queries", p.Title)
		}
		refs := map[string]bool{}
		for _, tg := range p.Targets {
			if tg.RefID == "" || refs[tg.RefID] {
				t.Errorf("panel %q: refId %q missing or repeated", p.Title, tg.RefID)
			}
			refs[tg.RefID] = true
			if tg.Datasource != nil && tg.Datasource.UID != "${DS_PROMETHEUS}" {
				t.Errorf("panel %q: a query's data source is not ${DS_PROMETHEUS}", p.Title)
			}
		}
	}
}

// --- Prometheus -------------------------------------------------------------

func decodeYAML(t *testing.T, file string, out any) {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(b, out); err != nil {
		t.Fatalf("%s: %v", file, err)
	}
}

func TestAlertRules(t *testing.T) {
	var rules struct {
		Groups []struct {
			Name  string `yaml:"name"`
			Rules []struct {
				Alert       string            `yaml:"alert"`
				Expr        string            `yaml:"expr"`
				For         string            `yaml:"for"`
				Labels      map[string]string `yaml:"labels"`
				Annotations map[string]string `yaml:"annotations"`
			} `yaml:"rules"`
		} `yaml:"groups"`
	}
	decodeYAML(t, "prometheus/alerts.yml", &rules)
	n := 0
	for _, g := range rules.Groups {
		for _, r := range g.Rules {
			n++
			if r.Alert == "" || r.Expr == "" || r.Labels["severity"] == "" || r.Annotations["summary"] == "" {
				t.Errorf("rule %q: alert, expr, labels.severity and annotations.summary are required", r.Alert)
			}
			if _, err := time.ParseDuration(r.For); err != nil {
				t.Errorf("rule %q: for: %v", r.Alert, err)
			}
			checkExprs(t, "alert "+r.Alert, []string{r.Expr})
		}
	}
	if n == 0 {
		t.Error("no alert rules")
	}
}

type prometheusConfig struct {
	RuleFiles     []string `yaml:"rule_files"`
	ScrapeConfigs []struct {
		JobName       string `yaml:"job_name"`
		MetricsPath   string `yaml:"metrics_path"`
		Authorization struct {
			Type            string `yaml:"type"`
			CredentialsFile string `yaml:"credentials_file"`
		} `yaml:"authorization"`
		StaticConfigs []struct {
			Targets []string `yaml:"targets"`
		} `yaml:"static_configs"`
	} `yaml:"scrape_configs"`
}

// --- docker-compose ---------------------------------------------------------

type composeService struct {
	Image string `yaml:"image"`
	Build *struct {
		Context    string `yaml:"context"`
		Dockerfile string `yaml:"dockerfile"`
	} `yaml:"build"`
	Command         []string          `yaml:"command"`
	Environment     map[string]string `yaml:"environment"`
	Volumes         []string          `yaml:"volumes"`
	Secrets         []string          `yaml:"secrets"`
	StopGracePeriod string            `yaml:"stop_grace_period"`
}

type composeFile struct {
	Services map[string]composeService `yaml:"services"`
	Volumes  map[string]any            `yaml:"volumes"`
	Secrets  map[string]struct {
		Environment string `yaml:"environment"`
		File        string `yaml:"file"`
	} `yaml:"secrets"`
}

// mount is a short-syntax volume: a bind mount when the source is a path.
type mount struct {
	source, target string
	bind           bool
}

func mounts(t *testing.T, s composeService) []mount {
	t.Helper()
	var out []mount
	for _, v := range s.Volumes {
		parts := strings.Split(v, ":")
		if len(parts) < 2 {
			t.Errorf("volume %q: want source:target[:mode]", v)
			continue
		}
		out = append(out, mount{parts[0], parts[1], strings.HasPrefix(parts[0], ".") || strings.HasPrefix(parts[0], "/")})
	}
	return out
}

func loadCompose(t *testing.T) *composeFile {
	t.Helper()
	var c composeFile
	decodeYAML(t, "docker-compose.yml", &c)
	return &c
}

func flagValue(args []string, name string) string {
	for i, a := range args {
		if a == name && i+1 < len(args) {
			return args[i+1]
		}
		if v, ok := strings.CutPrefix(a, name+"="); ok {
			return v
		}
	}
	return ""
}

func TestCompose(t *testing.T) {
	c := loadCompose(t)
	for _, name := range []string{"kafka", "clickhouse", "omnistitch", "prometheus", "grafana"} {
		if _, ok := c.Services[name]; !ok {
			t.Errorf("service %s missing", name)
		}
	}
	for name, s := range c.Services {
		for _, m := range mounts(t, s) {
			if !m.bind {
				if _, ok := c.Volumes[m.source]; !ok {
					t.Errorf("service %s: named volume %s is not declared", name, m.source)
				}
				continue
			}
			if _, err := os.Stat(m.source); err != nil {
				t.Errorf("service %s: bind mount source: %v", name, err)
			}
		}
		if s.Build != nil {
			if _, err := os.Stat(filepath.Join(s.Build.Context, s.Build.Dockerfile)); err != nil {
				t.Errorf("service %s: %v", name, err)
			}
		}
	}
	o := c.Services["omnistitch"]
	grace, err := time.ParseDuration(o.StopGracePeriod)
	if err != nil || grace < 30*time.Second {
		t.Errorf("omnistitch stop_grace_period %q: must cover a clean stop (10 s Kafka drain + 10 s ClickHouse drain + 5 s HTTP)", o.StopGracePeriod)
	}
}

// TestComposeOmnistitchConfig lays the files out as the container sees
// them, loads the configuration the command names, and checks it against
// the rest of the stack.
func TestComposeOmnistitchConfig(t *testing.T) {
	c := loadCompose(t)
	o := c.Services["omnistitch"]
	cfg := loadMounted(t, o.Command, func(yield func(src, dst string) bool) {
		for _, m := range mounts(t, o) {
			if m.bind && !yield(m.source, m.target) {
				return
			}
		}
	})
	if host, _, _ := net.SplitHostPort(cfg.HTTP.Addr); host == "127.0.0.1" || host == "localhost" || cfg.HTTP.Addr == "" {
		t.Errorf("http.addr %q: Prometheus in another container cannot reach it", cfg.HTTP.Addr)
	}
	for _, env := range []string{cfg.ClickHouse.PasswordEnv, cfg.Kafka.SASL.PasswordEnv} {
		if _, ok := o.Environment[env]; env != "" && !ok {
			t.Errorf("the configuration reads the password from $%s, which the service does not set", env)
		}
	}
	stateMounted := false
	for _, m := range mounts(t, o) {
		stateMounted = stateMounted || !m.bind && within(cfg.State.Dir, m.target)
	}
	if !stateMounted {
		t.Errorf("state.dir %s is not on a volume", cfg.State.Dir)
	}
	if len(cfg.Kafka.Brokers) == 0 || !strings.HasPrefix(cfg.Kafka.Brokers[0], "kafka:") {
		t.Errorf("kafka.brokers %v: expected the kafka service", cfg.Kafka.Brokers)
	}
	if !strings.HasPrefix(cfg.ClickHouse.Addr, "clickhouse:") {
		t.Errorf("clickhouse.addr %q: expected the clickhouse service", cfg.ClickHouse.Addr)
	}

	// Prometheus scrapes that port, with the rule file mounted where it looks.
	var pc prometheusConfig
	decodeYAML(t, "prometheus/prometheus.yml", &pc)
	_, port, _ := net.SplitHostPort(cfg.HTTP.Addr)
	scraped := false
	for _, sc := range pc.ScrapeConfigs {
		for _, st := range sc.StaticConfigs {
			scraped = scraped || slices.Contains(st.Targets, "omnistitch:"+port)
		}
	}
	if !scraped {
		t.Errorf("prometheus.yml does not scrape omnistitch:%s", port)
	}

	// Beyond loopback the API needs its bearer token: omnistitch reads it
	// from a Compose secret, and Prometheus sends the same one.
	secret, ok := strings.CutPrefix(cfg.HTTP.TokenFile, "/run/secrets/")
	if !ok {
		t.Fatalf("http.token_file %q: expected a Compose secret under /run/secrets/", cfg.HTTP.TokenFile)
	}
	if d, ok := c.Secrets[secret]; !ok || d.Environment == "" && d.File == "" {
		t.Errorf("secret %s is not declared with a source", secret)
	} else if d.Environment != "" && !composeMentions(t, d.Environment+"=") {
		t.Errorf("secret %s: the setup comment does not say how to set $%s", secret, d.Environment)
	}
	for _, svc := range []string{"omnistitch", "prometheus"} {
		if !slices.Contains(c.Services[svc].Secrets, secret) {
			t.Errorf("service %s does not get secret %s", svc, secret)
		}
	}
	for _, sc := range pc.ScrapeConfigs {
		if sc.JobName == "omnistitch" && (sc.Authorization.Type != "Bearer" || sc.Authorization.CredentialsFile != cfg.HTTP.TokenFile) {
			t.Errorf("prometheus.yml scrapes omnistitch with authorization %+v, want Bearer from %s", sc.Authorization, cfg.HTTP.TokenFile)
		}
	}
	var promTargets []string
	for _, m := range mounts(t, c.Services["prometheus"]) {
		promTargets = append(promTargets, m.target)
	}
	for _, rf := range pc.RuleFiles {
		if !slices.Contains(promTargets, rf) {
			t.Errorf("rule file %s is not mounted into the prometheus service", rf)
		}
	}

	// Grafana loads the dashboard from where it is mounted.
	var prov struct {
		Providers []struct {
			Options struct {
				Path string `yaml:"path"`
			} `yaml:"options"`
		} `yaml:"providers"`
	}
	decodeYAML(t, "grafana/provisioning/dashboards/omnistitch.yml", &prov)
	var ds struct {
		Datasources []struct {
			Type string `yaml:"type"`
			URL  string `yaml:"url"`
		} `yaml:"datasources"`
	}
	decodeYAML(t, "grafana/provisioning/datasources/prometheus.yml", &ds)
	if len(ds.Datasources) == 0 || ds.Datasources[0].Type != "prometheus" {
		t.Error("no Prometheus data source provisioned")
	}
	found := false
	for _, m := range mounts(t, c.Services["grafana"]) {
		if filepath.Clean(m.source) == dashboardFile {
			for _, p := range prov.Providers {
				found = found || path.Dir(m.target) == p.Options.Path
			}
		}
	}
	if !found {
		t.Errorf("the dashboard is not mounted where the Grafana provider reads (%+v)", prov.Providers)
	}
}

func within(p, dir string) bool {
	rel, err := filepath.Rel(dir, p)
	return err == nil && !strings.HasPrefix(rel, "..")
}

// loadMounted copies each (source file, container path) into a temporary
// root and loads the file named by --config in args with config.Load.
func loadMounted(t *testing.T, args []string, files func(yield func(src, dst string) bool)) *config.Config {
	t.Helper()
	root := t.TempDir()
	for src, dst := range files {
		if err := copyFile(src, filepath.Join(root, dst)); err != nil {
			t.Fatal(err)
		}
	}
	cfgPath := flagValue(args, "--config")
	if cfgPath == "" {
		t.Fatalf("command %q has no --config", args)
	}
	cfg, err := config.Load(filepath.Join(root, cfgPath))
	if err != nil {
		t.Fatalf("the mounted configuration does not load: %v", err)
	}
	return cfg
}

func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return err
	}
	out, err := os.Create(dst)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

// --- Kubernetes -------------------------------------------------------------

type k8sObject struct {
	APIVersion string `yaml:"apiVersion"`
	Kind       string `yaml:"kind"`
	Metadata   struct {
		Name      string `yaml:"name"`
		Namespace string `yaml:"namespace"`
	} `yaml:"metadata"`
	Data       map[string]string `yaml:"data"`
	StringData map[string]string `yaml:"stringData"`
	Spec       yaml.Node         `yaml:"spec"`
}

type probe struct {
	HTTPGet *struct {
		Path string `yaml:"path"`
		Port string `yaml:"port"`
	} `yaml:"httpGet"`
}

type containerPort struct {
	Name          string `yaml:"name"`
	ContainerPort int    `yaml:"containerPort"`
}

type statefulSetSpec struct {
	Replicas    int    `yaml:"replicas"`
	ServiceName string `yaml:"serviceName"`
	Template    struct {
		Spec struct {
			TerminationGracePeriodSeconds int `yaml:"terminationGracePeriodSeconds"`
			SecurityContext               struct {
				RunAsNonRoot bool `yaml:"runAsNonRoot"`
				RunAsUser    int  `yaml:"runAsUser"`
			} `yaml:"securityContext"`
			Containers []struct {
				Name  string          `yaml:"name"`
				Args  []string        `yaml:"args"`
				Ports []containerPort `yaml:"ports"`
				Env   []struct {
					Name      string `yaml:"name"`
					ValueFrom *struct {
						SecretKeyRef *struct {
							Name string `yaml:"name"`
							Key  string `yaml:"key"`
						} `yaml:"secretKeyRef"`
					} `yaml:"valueFrom"`
				} `yaml:"env"`
				Resources struct {
					Requests map[string]string `yaml:"requests"`
					Limits   map[string]string `yaml:"limits"`
				} `yaml:"resources"`
				SecurityContext struct {
					AllowPrivilegeEscalation *bool `yaml:"allowPrivilegeEscalation"`
					ReadOnlyRootFilesystem   bool  `yaml:"readOnlyRootFilesystem"`
				} `yaml:"securityContext"`
				StartupProbe   probe `yaml:"startupProbe"`
				LivenessProbe  probe `yaml:"livenessProbe"`
				ReadinessProbe probe `yaml:"readinessProbe"`
				VolumeMounts   []struct {
					Name      string `yaml:"name"`
					MountPath string `yaml:"mountPath"`
				} `yaml:"volumeMounts"`
			} `yaml:"containers"`
			Volumes []struct {
				Name      string `yaml:"name"`
				ConfigMap *struct {
					Name string `yaml:"name"`
				} `yaml:"configMap"`
			} `yaml:"volumes"`
		} `yaml:"spec"`
	} `yaml:"template"`
	VolumeClaimTemplates []struct {
		Metadata struct {
			Name string `yaml:"name"`
		} `yaml:"metadata"`
	} `yaml:"volumeClaimTemplates"`
}

// loadK8s parses every document of every YAML file in k8s/.
func loadK8s(t *testing.T) map[string][]k8sObject {
	t.Helper()
	files, err := filepath.Glob("k8s/*.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no manifests in k8s/: %v", err)
	}
	out := map[string][]k8sObject{}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		dec := yaml.NewDecoder(strings.NewReader(string(b)))
		for i := 0; ; i++ {
			var o k8sObject
			err := dec.Decode(&o)
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				t.Fatalf("%s, document %d: %v", f, i+1, err)
			}
			out[filepath.Base(f)] = append(out[filepath.Base(f)], o)
		}
	}
	return out
}

func TestKubernetesManifests(t *testing.T) {
	docs := loadK8s(t)
	var kust struct {
		Resources []string `yaml:"resources"`
	}
	decodeYAML(t, "k8s/kustomization.yaml", &kust)
	for _, r := range kust.Resources {
		if _, ok := docs[r]; !ok {
			t.Errorf("kustomization.yaml lists %s, which is not in k8s/", r)
		}
	}
	if slices.Contains(kust.Resources, "secret.example.yaml") {
		t.Error("the placeholder Secret must not be applied by kustomize: it would overwrite real credentials")
	}
	byKind := map[string]k8sObject{}
	for file, objs := range docs {
		if file == "kustomization.yaml" {
			continue
		}
		for _, o := range objs {
			if o.APIVersion == "" || o.Kind == "" || o.Metadata.Name == "" {
				t.Errorf("%s: a document without apiVersion, kind or metadata.name", file)
			}
			if o.Kind != "Namespace" && o.Metadata.Namespace != "omnistitch" {
				t.Errorf("%s: %s/%s is not in namespace omnistitch", file, o.Kind, o.Metadata.Name)
			}
			byKind[o.Kind+"/"+o.Metadata.Name] = o
		}
	}

	sts, ok := byKind["StatefulSet/omnistitch"]
	if !ok {
		t.Fatal("no StatefulSet omnistitch")
	}
	var spec statefulSetSpec
	if err := sts.Spec.Decode(&spec); err != nil {
		t.Fatal(err)
	}
	if spec.Replicas != 1 {
		t.Errorf("replicas = %d: the state is per instance, run exactly one", spec.Replicas)
	}
	if _, ok := byKind["Service/"+spec.ServiceName]; !ok {
		t.Errorf("serviceName %s: no such Service", spec.ServiceName)
	}
	pod := spec.Template.Spec
	if pod.TerminationGracePeriodSeconds < 30 {
		t.Errorf("terminationGracePeriodSeconds = %d: a clean stop takes up to 10 s + 10 s + 5 s", pod.TerminationGracePeriodSeconds)
	}
	if !pod.SecurityContext.RunAsNonRoot || pod.SecurityContext.RunAsUser == 0 {
		t.Error("the pod must run as a non-root user")
	}
	if len(pod.Containers) != 1 {
		t.Fatalf("%d containers, want 1", len(pod.Containers))
	}
	ctr := pod.Containers[0]
	if sc := ctr.SecurityContext; sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation || !sc.ReadOnlyRootFilesystem {
		t.Error("container: allowPrivilegeEscalation false and readOnlyRootFilesystem true expected")
	}
	for _, r := range []string{"cpu", "memory"} {
		if ctr.Resources.Requests[r] == "" {
			t.Errorf("no %s request", r)
		}
	}
	if ctr.Resources.Limits["memory"] == "" {
		t.Error("no memory limit")
	}
	for name, p := range map[string]struct {
		probe
		path string
	}{"startup": {ctr.StartupProbe, "/healthz"}, "liveness": {ctr.LivenessProbe, "/healthz"}, "readiness": {ctr.ReadinessProbe, "/readyz"}} {
		if p.HTTPGet == nil || p.HTTPGet.Path != p.path || !slices.ContainsFunc(ctr.Ports, func(cp containerPort) bool { return cp.Name == p.HTTPGet.Port }) {
			t.Errorf("%s probe: want GET %s on a named container port", name, p.path)
		}
	}

	// The ConfigMap, laid out as mounted, loads; its settings fit the pod.
	cmName, cmVolume := "", ""
	for _, v := range pod.Volumes {
		if v.ConfigMap != nil {
			cmName, cmVolume = v.ConfigMap.Name, v.Name
		}
	}
	cm, ok := byKind["ConfigMap/"+cmName]
	if !ok {
		t.Fatalf("the pod mounts ConfigMap %q, which is not among the manifests", cmName)
	}
	mountOf := map[string]string{} // volume name → mount path
	for _, vm := range ctr.VolumeMounts {
		mountOf[vm.Name] = vm.MountPath
	}
	dir := t.TempDir()
	for key, content := range cm.Data {
		if err := os.WriteFile(filepath.Join(dir, key), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	cfg := loadMounted(t, ctr.Args, func(yield func(src, dst string) bool) {
		for key := range cm.Data {
			if !yield(filepath.Join(dir, key), path.Join(mountOf[cmVolume], key)) {
				return
			}
		}
	})
	if want := config.Default().Identity; !reflect.DeepEqual(cfg.Identity, want) {
		t.Error("the ConfigMap's identity.yaml differs from configs/identity.yaml; update the copy (or drop this check when customising)")
	}
	_, port, err := net.SplitHostPort(cfg.HTTP.Addr)
	if err != nil || strings.HasPrefix(cfg.HTTP.Addr, "127.") {
		t.Errorf("http.addr %q: the kubelet's probes and Prometheus cannot reach it", cfg.HTTP.Addr)
	}
	if !slices.ContainsFunc(ctr.Ports, func(cp containerPort) bool { return strconv.Itoa(cp.ContainerPort) == port }) {
		t.Errorf("http.addr port %s is not a container port", port)
	}
	if len(spec.VolumeClaimTemplates) != 1 || !within(cfg.State.Dir, mountOf[spec.VolumeClaimTemplates[0].Metadata.Name]) {
		t.Errorf("state.dir %s is not on the StatefulSet's volume claim", cfg.State.Dir)
	}
	if ca := cfg.Kafka.TLS.CAFile; ca != "" {
		onMount := false
		for _, mp := range mountOf {
			onMount = onMount || within(ca, mp)
		}
		if !onMount {
			t.Errorf("kafka.tls.ca_file %s is on no volume", ca)
		}
	}

	// Passwords: the variables the configuration names are set from keys
	// the Secret template has.
	secret := map[string]k8sObject{}
	for _, o := range docs["secret.example.yaml"] {
		secret[o.Metadata.Name] = o
	}
	env := map[string]bool{}
	for _, e := range ctr.Env {
		env[e.Name] = true
		if e.ValueFrom != nil && e.ValueFrom.SecretKeyRef != nil {
			ref := e.ValueFrom.SecretKeyRef
			if _, ok := secret[ref.Name].StringData[ref.Key]; !ok {
				t.Errorf("env %s: key %s of Secret %s is not in secret.example.yaml", e.Name, ref.Key, ref.Name)
			}
		}
	}
	for _, v := range []string{cfg.ClickHouse.PasswordEnv, cfg.Kafka.SASL.PasswordEnv, cfg.HTTP.TokenEnv} {
		if v != "" && !env[v] {
			t.Errorf("the configuration reads $%s, which the container does not set", v)
		}
	}
}

// The image's user is the one the pod runs as (the volume is writable by it).
func TestDockerfileUser(t *testing.T) {
	b, err := os.ReadFile("Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^USER (\d+)`).FindSubmatch(b)
	if m == nil || string(m[1]) == "0" {
		t.Fatal("the Dockerfile sets no numeric non-root USER")
	}
	var spec statefulSetSpec
	for _, o := range loadK8s(t)["statefulset.yaml"] {
		if o.Kind == "StatefulSet" {
			if err := o.Spec.Decode(&spec); err != nil {
				t.Fatal(err)
			}
		}
	}
	if got := strconv.Itoa(spec.Template.Spec.SecurityContext.RunAsUser); got != string(m[1]) {
		t.Errorf("the pod runs as %s, the image's USER is %s", got, m[1])
	}
}

// composeMentions reports whether docker-compose.yml contains s (e.g. in
// the setup instructions at its top).
func composeMentions(t *testing.T, s string) bool {
	t.Helper()
	b, err := os.ReadFile("docker-compose.yml")
	if err != nil {
		t.Fatal(err)
	}
	return strings.Contains(string(b), s)
}
