package web_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/browser"
	"github.com/chromedp/chromedp"

	"klaxon/web/webtest"
)

// The browser tests drive Debian's Chromium headless through chromedp. They
// never skip: without Chromium they fail and say how to install it.

const (
	// browserBudget bounds everything a browser test does, browser start
	// and shutdown included, so a hung Chromium cannot hang the suite.
	browserBudget = 90 * time.Second
	// stepBudget bounds one step of a scenario.
	stepBudget = 20 * time.Second

	desktopWidth, desktopHeight = 1280, 900
	phoneWidth, phoneHeight     = 390, 844

	// screenshotsEnv, set to 1, makes the scenario save a PNG of every page
	// it visits, at desktop and phone width, for a visual review.
	screenshotsEnv = "KLAXON_SCREENSHOTS"
)

// chromiumPath finds Chromium on PATH or fails the test.
func chromiumPath(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	t.Fatal("Chromium is not installed (no chromium or chromium-browser on PATH): run `make chromium` to install it")
	return ""
}

// repoRoot is the repository root: tests run in web/.
func repoRoot(t *testing.T) string {
	t.Helper()
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	return root
}

// tab is one headless Chromium tab for a test.
type tab struct {
	t   *testing.T
	ctx context.Context // the tab; bounded by browserBudget
	// log holds Chromium's output and chromedp's errors, shown on failure.
	log *webtest.SyncBuffer
	// shotsDir is where page screenshots go; empty unless screenshotsEnv=1.
	shotsDir string
	shots    int
}

// newTab starts Chromium with a fresh profile and opens a tab sized like a
// laptop screen. The browser is closed when the test ends.
func newTab(t *testing.T) *tab {
	t.Helper()
	log := &webtest.SyncBuffer{}
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(chromiumPath(t)),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		// /dev/shm is small in containers; Chromium crashes when it fills.
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(desktopWidth, desktopHeight),
		chromedp.CombinedOutput(log),
	}
	budget, cancelBudget := context.WithTimeout(context.Background(), browserBudget)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(budget, opts...)
	logf := func(format string, args ...any) { fmt.Fprintf(log, "chromedp: "+format+"\n", args...) }
	ctx, cancelTab := chromedp.NewContext(allocCtx, chromedp.WithErrorf(logf))
	t.Cleanup(func() {
		cancelTab() // closes the tab and, as it started it, the browser
		cancelAlloc()
		cancelBudget()
	})
	b := &tab{t: t, ctx: ctx, log: log}
	if os.Getenv(screenshotsEnv) == "1" {
		b.shotsDir = filepath.Join(repoRoot(t), ".artifacts", "screens")
		if err := os.MkdirAll(b.shotsDir, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	// The first Do starts the browser: it must use the tab's own context,
	// which lives until the test ends.
	if err := chromedp.Do(ctx, chromedp.EmulateViewport(desktopWidth, desktopHeight)); err != nil {
		t.Fatalf("start Chromium: %v\n%s", err, log.String())
	}
	return b
}

// step runs one step of a scenario with its own deadline. When it fails,
// the test stops and names a screenshot and the HTML of the page as it was.
func (b *tab) step(name string, fn func(ctx context.Context) error) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, stepBudget)
	defer cancel()
	start := time.Now()
	err := fn(ctx)
	if err == nil {
		b.t.Logf("step %q: %v", name, time.Since(start).Round(time.Millisecond))
		return
	}
	png, html := b.saveFailure(name)
	b.t.Fatalf("step %q failed after %v: %v\n  screenshot: %s\n  page HTML:  %s\n  browser log:\n%s",
		name, time.Since(start).Round(time.Millisecond), err, png, html, b.browserLog())
}

var unsafeName = regexp.MustCompile(`[^A-Za-z0-9._-]+`)

// saveFailure writes a screenshot and the page's HTML under
// .artifacts/browser/ and returns their paths, or what went wrong instead.
func (b *tab) saveFailure(step string) (png, html string) {
	dir := filepath.Join(repoRoot(b.t), ".artifacts", "browser")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "not saved: " + err.Error(), "not saved: " + err.Error()
	}
	base := filepath.Join(dir, unsafeName.ReplaceAllString(b.t.Name()+"-"+step, "_"))
	// The step's deadline may be what failed: capture with a fresh one.
	ctx, cancel := context.WithTimeout(b.ctx, 10*time.Second)
	defer cancel()
	png, html = base+".png", base+".html"
	if shot, err := chromedp.Run(ctx, chromedp.FullScreenshot(100)); err != nil {
		png = "not saved: " + err.Error()
	} else if err := os.WriteFile(png, shot, 0o644); err != nil {
		png = "not saved: " + err.Error()
	}
	doc, err := chromedp.Run(ctx, chromedp.Evaluate[string](`"<!-- " + location.href + " -->\n" + document.documentElement.outerHTML`))
	if err != nil {
		html = "not saved: " + err.Error()
	} else if err := os.WriteFile(html, []byte(doc), 0o644); err != nil {
		html = "not saved: " + err.Error()
	}
	return png, html
}

// browserLog is the end of the browser's log, without the D-Bus complaints
// every headless Chromium in a container makes.
func (b *tab) browserLog() string {
	var keep []string
	for _, line := range strings.Split(strings.TrimSpace(b.log.String()), "\n") {
		if line != "" && !strings.Contains(line, "dbus/") {
			keep = append(keep, line)
		}
	}
	if len(keep) > 30 {
		keep = append([]string{"…"}, keep[len(keep)-30:]...)
	}
	if len(keep) == 0 {
		return "    (empty)"
	}
	return "    " + strings.Join(keep, "\n    ")
}

// screen saves the page at desktop and phone width when screenshotsEnv=1,
// for people to look at; it checks nothing.
func (b *tab) screen(ctx context.Context, name string) error {
	if b.shotsDir == "" {
		return nil
	}
	b.shots++
	base := filepath.Join(b.shotsDir, fmt.Sprintf("%02d-%s", b.shots, name))
	desktop, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		return fmt.Errorf("screenshot %s: %w", name, err)
	}
	if err := chromedp.Do(ctx, chromedp.EmulateViewport(phoneWidth, phoneHeight, chromedp.EmulateMobile)); err != nil {
		return err
	}
	phone, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	// Back to desktop whatever happened, so later steps see the same page.
	if rerr := chromedp.Do(ctx, chromedp.EmulateViewport(desktopWidth, desktopHeight)); err == nil {
		err = rerr
	}
	if err != nil {
		return fmt.Errorf("phone screenshot %s: %w", name, err)
	}
	return errors.Join(
		os.WriteFile(base+"-desktop.png", desktop, 0o644),
		os.WriteFile(base+"-phone.png", phone, 0o644),
	)
}

// follow clicks the element matching css and waits for the page it leads
// to; it fails unless that page answers with status want (after redirects).
func follow(ctx context.Context, css string, want int64) error {
	resp, err := chromedp.RunResponse(ctx, chromedp.Click(chromedp.CSS(css)))
	if err != nil {
		return fmt.Errorf("click %s: %w", css, err)
	}
	if resp.Status != want {
		return fmt.Errorf("click %s: %s answered %d, want %d", css, resp.URL, resp.Status, want)
	}
	return nil
}

// open navigates to url and fails unless it answers with status want.
func open(ctx context.Context, url string, want int64) error {
	resp, err := chromedp.Run(ctx, chromedp.NavigateResponse(url))
	if err != nil {
		return fmt.Errorf("open %s: %w", url, err)
	}
	if resp.Status != want {
		return fmt.Errorf("open %s: status %d, want %d", url, resp.Status, want)
	}
	return nil
}

// wantPath fails unless the tab shows a page at path.
func wantPath(ctx context.Context, path string) error {
	got, err := chromedp.Run(ctx, chromedp.Evaluate[string](`location.pathname`))
	if err != nil {
		return err
	}
	if got != path {
		return fmt.Errorf("the browser is at %s, want %s", got, path)
	}
	return nil
}

// text is the trimmed textContent of the first element matching css, once
// visible: the words in the HTML, before CSS changes their case.
func text(ctx context.Context, css string) (string, error) {
	s, err := chromedp.Run(ctx, chromedp.TextContent(chromedp.CSS(css), chromedp.NodeVisible))
	return strings.Join(strings.Fields(s), " "), err
}

// typeInto types value into the field matching css, as a user would.
func typeInto(css, value string) chromedp.Action[chromedp.Void] {
	return chromedp.SendKeys(chromedp.CSS(css), value)
}

// grantClipboard lets pages of origin read and write the clipboard without
// asking, as a user who clicked "Allow" would.
func grantClipboard(ctx context.Context, origin string) error {
	for _, name := range []string{"clipboard-read", "clipboard-write"} {
		_, err := chromedp.CallBrowser(ctx, browser.SetPermission, browser.SetPermissionParams{
			Permission: &browser.PermissionDescriptor{Name: name},
			Setting:    browser.PermissionSettingGranted,
			Origin:     origin,
		})
		if err != nil {
			return fmt.Errorf("grant %s: %w", name, err)
		}
	}
	return nil
}

// waitFor polls the JavaScript condition until it is true or the step's
// deadline passes; what names the condition in the error.
func waitFor(ctx context.Context, what, condition string, timeout time.Duration) error {
	_, err := chromedp.Run(ctx, chromedp.Poll[bool](condition,
		chromedp.WithPollingTimeout(timeout), chromedp.WithPollingInterval(100*time.Millisecond)))
	if err != nil {
		return fmt.Errorf("waiting for %s: %w", what, err)
	}
	return nil
}
