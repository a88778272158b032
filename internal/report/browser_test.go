package report

import (
	"bytes"
	"context"
	"image"
	"image/png"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// EnvArtifacts names a directory for the reports and screenshots the tests
// make (CI keeps it); without it they go to a temporary directory.
const EnvArtifacts = "OMNISTITCH_ARTIFACTS"

func artifactDir(t *testing.T) string {
	t.Helper()
	dir := os.Getenv(EnvArtifacts)
	if dir == "" {
		return t.TempDir()
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// chromium returns the headless browser to look at reports with, or ""
// when there is none: then the caller skips, except in CI (CI set), where
// a missing browser fails the test rather than hide that nothing was
// looked at.
func chromium(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("CI") != "" {
		t.Fatal("no chromium on PATH: CI is set, so the report must be checked in a browser (apt-get install chromium)")
	}
	return ""
}

// Chromium with --enable-logging=stderr logs every console message of the
// page on a line of its own, as "[pid:tid:time:INFO:CONSOLE(12)] "msg",
// source: URL (12)" (older releases) or "...:INFO:CONSOLE:12] ..." (newer):
// uncaught exceptions, console.* calls and Content-Security-Policy
// violations, that is any request the page would make. The level is not
// reliably there, and the report runs no script, so any console message at
// all is a failure. The rest of stderr is the browser's own noise (D-Bus,
// GPU) and is ignored.
var consoleLine = regexp.MustCompile(`:CONSOLE(?::\d+|\(\d+\))\]\s*(.*)|(Uncaught .*)`)

type browserRun struct {
	stdout  []byte
	console []string
}

// runChromium runs one headless command (--dump-dom, --screenshot) on url
// in a profile of its own and returns stdout and the console messages.
func runChromium(t *testing.T, bin, url string, args ...string) browserRun {
	t.Helper()
	// Not t.TempDir: the browser's helpers may still write to the
	// profile for a moment after it exits, and TempDir fails the test
	// when it cannot remove everything.
	profile, err := os.MkdirTemp("", "omnistitch-chromium-")
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		for i := 0; i < 20 && os.RemoveAll(profile) != nil; i++ {
			time.Sleep(100 * time.Millisecond)
		}
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	all := append([]string{
		"--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
		"--no-first-run", "--no-default-browser-check", "--disable-extensions", "--disable-sync",
		"--disable-background-networking", "--disable-component-update", "--disable-crash-reporter",
		"--enable-logging=stderr", "--v=0", "--user-data-dir=" + profile,
	}, args...)
	cmd := exec.CommandContext(ctx, bin, append(all, url)...)
	cmd.WaitDelay = 10 * time.Second
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("chromium %s: %v\n%s", strings.Join(args, " "), err, lastLines(stderr.String(), 30))
	}
	r := browserRun{stdout: stdout.Bytes()}
	for _, line := range strings.Split(stderr.String(), "\n") {
		if m := consoleLine.FindStringSubmatch(line); m != nil {
			r.console = append(r.console, m[1]+m[2])
		}
	}
	return r
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}

func fileURL(t *testing.T, path string) string {
	t.Helper()
	abs, err := filepath.Abs(path)
	if err != nil {
		t.Fatal(err)
	}
	return (&url.URL{Scheme: "file", Path: abs}).String()
}

// checkInBrowser loads the report file in headless Chromium: the DOM must
// hold the charts, the console must stay silent (no error, no blocked
// request), and the page is saved as a screenshot to png.
func checkInBrowser(t *testing.T, bin, htmlPath, pngPath string) {
	t.Helper()
	u := fileURL(t, htmlPath)
	dom := runChromium(t, bin, u, "--dump-dom")
	if len(dom.console) > 0 {
		t.Errorf("console messages loading %s:\n%s", htmlPath, strings.Join(dom.console, "\n"))
	}
	if n := bytes.Count(dom.stdout, []byte("<svg")); n < 3 {
		t.Errorf("the browser's DOM has %d <svg> elements, want at least 3", n)
	}
	if !bytes.Contains(dom.stdout, []byte(`id="health"`)) || !bytes.Contains(dom.stdout, []byte("</footer>")) {
		t.Error("the browser's DOM lacks the last section or the footer: the page did not load whole")
	}

	shot := runChromium(t, bin, u, "--screenshot="+pngPath, "--window-size=1280,5600", "--hide-scrollbars")
	if len(shot.console) > 0 {
		t.Errorf("console messages taking the screenshot:\n%s", strings.Join(shot.console, "\n"))
	}
	f, err := os.Open(pngPath)
	if err != nil {
		t.Fatalf("no screenshot: %v", err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatalf("screenshot %s: %v", pngPath, err)
	}
	if colours := distinctColours(img, 4096); colours < 50 {
		t.Errorf("screenshot %s has %d distinct colours: blank page?", pngPath, colours)
	}
	t.Logf("screenshot: %s", pngPath)
}

// distinctColours counts the colours of img, stopping at limit.
func distinctColours(img image.Image, limit int) int {
	seen := map[[4]uint32]bool{}
	b := img.Bounds()
	for y := b.Min.Y; y < b.Max.Y; y += 3 {
		for x := b.Min.X; x < b.Max.X; x += 3 {
			r, g, bl, a := img.At(x, y).RGBA()
			seen[[4]uint32{r, g, bl, a}] = true
			if len(seen) >= limit {
				return limit
			}
		}
	}
	return len(seen)
}

// The sample and the empty report load in a browser without a console
// message; and the check would see one: a page that logs an error is
// caught.
func TestRenderInBrowser(t *testing.T) {
	bin := chromium(t)
	if bin == "" {
		t.Skip("no chromium on PATH")
	}
	dir := artifactDir(t)

	probe := filepath.Join(t.TempDir(), "probe.html")
	if err := os.WriteFile(probe, []byte(`<!DOCTYPE html><html><head><meta charset="utf-8"><title>probe</title></head><body><p>probe</p>`+
		`<script>console.error("omnistitch-probe");</script></body></html>`), 0o644); err != nil {
		t.Fatal(err)
	}
	if r := runChromium(t, bin, fileURL(t, probe), "--dump-dom"); !strings.Contains(strings.Join(r.console, "\n"), "omnistitch-probe") {
		t.Fatalf("a console.error went unnoticed (console lines: %q): the console check does not work with this chromium", r.console)
	}

	for name, d := range map[string]*Data{"sample": sampleData(), "large": largeData(), "empty": {}} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			html := filepath.Join(dir, "report-"+name+".html")
			if err := os.WriteFile(html, []byte(render(t, d)), 0o644); err != nil {
				t.Fatal(err)
			}
			checkInBrowser(t, bin, html, filepath.Join(dir, "report-"+name+".png"))
		})
	}
}
