package stitch_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/omnistitch/omnistitch/internal/config"
	"github.com/omnistitch/omnistitch/stitch/offline"
)

var update = flag.Bool("update", false, "rewrite the want section of golden files from the engine's output (review the diff!)")

// A golden scenario in testdata/*.txt:
//
//	# free text: what the scenario shows
//	orders: shuffled          (optional) also run reversed and shuffled arrival;
//	                          the grouping and order of events must not change
//	-- config --              (optional) YAML lines of identity.yaml overriding the defaults
//	-- input --
//	one canonical event per line (the offline command's input)
//	-- want --
//	the offline command's output with customer ids replaced by A, B, C… in
//	order of first appearance
//
// Every scenario also runs split in two halves over one state directory,
// which must end exactly as the single run.
type scenario struct {
	path     string
	header   []string
	shuffled bool
	identity string
	input    []string
	want     []string
}

func parseScenario(t *testing.T, path string) *scenario {
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	sc := &scenario{path: path}
	section := "header"
	for _, line := range strings.Split(strings.TrimRight(string(data), "\n"), "\n") {
		if strings.HasPrefix(line, "-- ") && strings.HasSuffix(line, " --") {
			section = strings.TrimSuffix(strings.TrimPrefix(line, "-- "), " --")
			continue
		}
		switch section {
		case "header":
			sc.header = append(sc.header, line)
			if strings.TrimSpace(line) == "orders: shuffled" {
				sc.shuffled = true
			}
		case "config":
			sc.identity += line + "\n"
		case "input":
			sc.input = append(sc.input, line)
		case "want":
			sc.want = append(sc.want, line)
		default:
			t.Fatalf("%s: unknown section %q", path, section)
		}
	}
	if len(sc.input) == 0 {
		t.Fatalf("%s: no input", path)
	}
	return sc
}

func (sc *scenario) config(t *testing.T) *config.Config {
	if sc.identity == "" {
		return config.Default()
	}
	dir := t.TempDir()
	def, err := os.ReadFile("../configs/omnistitch.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "omnistitch.yaml"), def, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "identity.yaml"), []byte(sc.identity), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(filepath.Join(dir, "omnistitch.yaml"))
	if err != nil {
		t.Fatalf("%s: config: %v", sc.path, err)
	}
	return cfg
}

func run(t *testing.T, cfg *config.Config, stateDir string, lines ...[]string) []string {
	t.Helper()
	var out bytes.Buffer
	for _, ls := range lines {
		out.Reset()
		in := offline.Input{R: strings.NewReader(strings.Join(ls, "\n") + "\n")}
		if _, err := offline.Run(offline.Options{Config: cfg, StateDir: stateDir, BatchSize: 3}, []offline.Input{in}, &out); err != nil {
			t.Fatal(err)
		}
	}
	return splitLines(out.String())
}

func splitLines(s string) []string {
	var ls []string
	sc := bufio.NewScanner(strings.NewReader(s))
	sc.Buffer(nil, 1<<24)
	for sc.Scan() {
		ls = append(ls, sc.Text())
	}
	return ls
}

var customerID = regexp.MustCompile(`c_[0-9a-f]{16}`)

// alias replaces customer ids by A, B, C… in order of first appearance.
func alias(lines []string) []string {
	names := map[string]string{}
	out := make([]string, len(lines))
	for i, l := range lines {
		out[i] = customerID.ReplaceAllStringFunc(l, func(id string) string {
			if n, ok := names[id]; ok {
				return n
			}
			n := aliasName(len(names))
			names[id] = n
			return n
		})
	}
	return out
}

func aliasName(i int) string {
	if i < 26 {
		return string(rune('A' + i))
	}
	return fmt.Sprintf("%s%d", string(rune('A'+i%26)), i/26)
}

func withoutKind(lines []string, kind string) []string {
	var out []string
	for _, l := range lines {
		if !strings.Contains(l, `"kind":"`+kind+`"`) {
			out = append(out, l)
		}
	}
	return out
}

// grouping is the partition of events into customers, each as its event
// ids in journey order, sorted: what must not depend on arrival order.
func grouping(t *testing.T, lines []string) []string {
	t.Helper()
	byCust := map[string][]string{}
	for _, l := range lines {
		var j struct {
			Kind, CustomerID, EventID string
		}
		var raw map[string]any
		if err := json.Unmarshal([]byte(l), &raw); err != nil {
			t.Fatalf("output line is not JSON: %s", l)
		}
		j.Kind, _ = raw["kind"].(string)
		j.CustomerID, _ = raw["customer_id"].(string)
		j.EventID, _ = raw["event_id"].(string)
		if j.Kind == "journey" {
			byCust[j.CustomerID] = append(byCust[j.CustomerID], j.EventID)
		}
	}
	var groups []string
	for _, evs := range byCust {
		groups = append(groups, strings.Join(evs, " "))
	}
	slices.Sort(groups)
	return groups
}

func TestGolden(t *testing.T) {
	paths, err := filepath.Glob("testdata/*.txt")
	if err != nil || len(paths) == 0 {
		t.Fatalf("no golden files: %v", err)
	}
	for _, path := range paths {
		t.Run(strings.TrimSuffix(filepath.Base(path), ".txt"), func(t *testing.T) {
			sc := parseScenario(t, path)
			cfg := sc.config(t)
			got := run(t, cfg, t.TempDir(), sc.input)
			if *update {
				writeWant(t, sc, alias(got))
				return
			}
			if diff := diffLines(sc.want, alias(got)); diff != "" {
				t.Fatalf("%s: output differs (-want +got):\n%s", path, diff)
			}

			// Resuming from the state of the first half ends as one run.
			half := len(sc.input) / 2
			resumed := run(t, cfg, t.TempDir(), sc.input[:half], sc.input[half:])
			whole := withoutKind(got, "deadletter")
			if diff := diffLines(whole, withoutKind(resumed, "deadletter")); diff != "" {
				t.Fatalf("%s: resumed run differs from one run (-one +resumed):\n%s", path, diff)
			}

			if !sc.shuffled {
				return
			}
			want := grouping(t, got)
			orders := [][]string{slices.Clone(sc.input)}
			slices.Reverse(orders[0])
			rng := rand.New(rand.NewPCG(1, uint64(len(sc.input))))
			for range 8 {
				o := slices.Clone(sc.input)
				rng.Shuffle(len(o), func(i, j int) { o[i], o[j] = o[j], o[i] })
				orders = append(orders, o)
			}
			for i, o := range orders {
				if g := grouping(t, run(t, cfg, t.TempDir(), o)); !slices.Equal(want, g) {
					t.Fatalf("%s: arrival order %d groups events differently:\nwant %q\n got %q\norder:\n%s",
						path, i, want, g, strings.Join(o, "\n"))
				}
			}
		})
	}
}

func writeWant(t *testing.T, sc *scenario, got []string) {
	var b strings.Builder
	for _, l := range sc.header {
		b.WriteString(l + "\n")
	}
	if sc.identity != "" {
		b.WriteString("-- config --\n" + sc.identity)
	}
	b.WriteString("-- input --\n" + strings.Join(sc.input, "\n") + "\n")
	b.WriteString("-- want --\n" + strings.Join(got, "\n") + "\n")
	if err := os.WriteFile(sc.path, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
}

// diffLines is a small line diff, enough to read a failing golden test.
func diffLines(want, got []string) string {
	if slices.Equal(want, got) {
		return ""
	}
	var b strings.Builder
	n := max(len(want), len(got))
	for i := range n {
		var w, g string
		if i < len(want) {
			w = want[i]
		}
		if i < len(got) {
			g = got[i]
		}
		if w != g {
			fmt.Fprintf(&b, "line %d:\n- %s\n+ %s\n", i+1, w, g)
		}
	}
	return b.String()
}
