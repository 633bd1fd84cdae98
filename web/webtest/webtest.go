// Package webtest starts real Klaxon servers for tests and drives them like a
// browser would: a cookie jar, real CSRF tokens scraped from the forms.
package webtest

import (
	"context"
	"embed"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/PuerkitoBio/goquery"

	"klaxon/models"
	"klaxon/web"
)

// PostgresEnv names the variable holding a PostgreSQL URL for tests; when it
// is set, database tests run against PostgreSQL as well as SQLite.
const PostgresEnv = "KLAXON_TEST_POSTGRES_URL"

// Databases returns database URLs to run a test on: a fresh SQLite file,
// and a fresh PostgreSQL schema when PostgresEnv is set.
func Databases(tb testing.TB) map[string]string {
	tb.Helper()
	dbs := map[string]string{"sqlite": SQLiteURL(tb)}
	if os.Getenv(PostgresEnv) != "" {
		dbs["postgres"] = PostgresURL(tb)
	}
	return dbs
}

// SQLiteURL returns the URL of a new SQLite file in a temporary folder.
func SQLiteURL(tb testing.TB) string {
	tb.Helper()
	return "sqlite:" + filepath.Join(tb.TempDir(), "klaxon.db")
}

// PostgresURL creates a fresh schema on the server named by PostgresEnv and
// returns a URL that uses it; the schema is dropped when the test ends. The
// test fails when PostgresEnv is unset.
func PostgresURL(tb testing.TB) string {
	tb.Helper()
	base := os.Getenv(PostgresEnv)
	if base == "" {
		tb.Fatalf("%s is not set: start PostgreSQL and set it (see README)", PostgresEnv)
	}
	ctx := context.Background()
	admin, err := models.Open(ctx, base)
	if err != nil {
		tb.Fatalf("open PostgreSQL: %v", err)
	}
	schema := "t_" + models.RandomToken(8)
	if err := admin.Exec("CREATE SCHEMA " + schema).Error; err != nil {
		tb.Fatalf("create schema: %v", err)
	}
	tb.Cleanup(func() {
		admin.Exec("DROP SCHEMA " + schema + " CASCADE")
		admin.Close()
	})
	u, err := url.Parse(base)
	if err != nil {
		tb.Fatalf("parse %s: %v", PostgresEnv, err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String()
}

// OpenDB opens (and migrates) the database at url and closes it after the test.
func OpenDB(tb testing.TB, url string) *models.DB {
	tb.Helper()
	db, err := models.Open(context.Background(), url)
	if err != nil {
		tb.Fatalf("open %s: %v", models.RedactURL(url), err)
	}
	tb.Cleanup(func() { db.Close() })
	return db
}

// Server is a Klaxon started for a test on a free loopback port.
type Server struct {
	URL    string
	Config web.Config
	App    *web.App
	// Logs holds everything the server logged.
	Logs *SyncBuffer
	tb   testing.TB
}

// Start starts Klaxon on a fresh SQLite database; options may change the
// configuration (database, signup, limits) before it starts.
func Start(tb testing.TB, options ...func(*web.Config)) *Server {
	tb.Helper()
	s, err := TryStart(tb, options...)
	if err != nil {
		tb.Fatal(err)
	}
	return s
}

// TryStart is Start that returns its error instead of failing the test, for
// use from other goroutines.
func TryStart(tb testing.TB, options ...func(*web.Config)) (*Server, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("listen: %w", err)
	}
	base := "http://" + ln.Addr().String()
	cfg, err := web.ParseConfig([]string{"-base-url", base, "-database", "sqlite:" + filepath.Join(tb.TempDir(), "klaxon.db")}, func(string) string { return "" }, io.Discard)
	if err != nil {
		ln.Close()
		return nil, fmt.Errorf("config: %w", err)
	}
	cfg.Addr = ln.Addr().String()
	cfg.WebhookAllowLoopback = true // the tests' fake Mattermost listens on loopback
	for _, o := range options {
		o(&cfg)
	}
	logs := &SyncBuffer{}
	log := slog.New(slog.NewJSONHandler(logs, nil))
	app, err := web.Start(context.Background(), cfg, log, ln)
	if err != nil {
		ln.Close()
		return nil, fmt.Errorf("start klaxon: %w", err)
	}
	s := &Server{URL: base, Config: cfg, App: app, Logs: logs, tb: tb}
	tb.Cleanup(func() {
		if err := app.Shutdown(10 * time.Second); err != nil {
			tb.Errorf("shutdown: %v", err)
		}
	})
	return s, nil
}

// DB is the server's database.
func (s *Server) DB() *models.DB { return s.App.DB }

// Client is a browser-like HTTP client with its own cookie jar. It does not
// follow redirects, so tests see where each answer points.
type Client struct {
	HTTP *http.Client
	Base string
	tb   testing.TB
}

// NewClient returns a client with an empty cookie jar.
func (s *Server) NewClient() *Client {
	jar, _ := cookiejar.New(nil)
	return &Client{
		HTTP: &http.Client{Jar: jar, Timeout: 30 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		}},
		Base: s.URL,
		tb:   s.tb,
	}
}

// Page is an answered request with its body parsed as HTML.
type Page struct {
	Status   int
	Header   http.Header
	Body     string
	Doc      *goquery.Document
	Location string
}

// CSRF returns the _csrf value of the page's first form.
func (p *Page) CSRF() string {
	v, _ := p.Doc.Find(`input[name="_csrf"]`).First().Attr("value")
	return v
}

// Text returns the trimmed text of the elements matching selector.
func (p *Page) Text(selector string) string {
	return strings.TrimSpace(p.Doc.Find(selector).Text())
}

func (c *Client) do(req *http.Request) *Page {
	c.tb.Helper()
	resp, err := c.HTTP.Do(req)
	if err != nil {
		c.tb.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		c.tb.Fatalf("read %s: %v", req.URL, err)
	}
	doc, err := goquery.NewDocumentFromReader(strings.NewReader(string(body)))
	if err != nil {
		c.tb.Fatalf("parse %s: %v", req.URL, err)
	}
	loc := resp.Header.Get("Location")
	if loc != "" {
		if u, err := url.Parse(loc); err == nil && u.Host != "" {
			loc = u.RequestURI()
		}
	}
	return &Page{Status: resp.StatusCode, Header: resp.Header, Body: string(body), Doc: doc, Location: loc}
}

// Do sends req with the client's cookies and parses the answer.
func (c *Client) Do(req *http.Request) *Page {
	c.tb.Helper()
	return c.do(req)
}

// Get fetches path.
func (c *Client) Get(path string) *Page {
	c.tb.Helper()
	req, err := http.NewRequest(http.MethodGet, c.Base+path, nil)
	if err != nil {
		c.tb.Fatal(err)
	}
	req.Header.Set("Accept", "text/html")
	return c.do(req)
}

// Post submits form to path as a browser would, without adding anything.
func (c *Client) Post(path string, form url.Values) *Page {
	c.tb.Helper()
	req, err := http.NewRequest(http.MethodPost, c.Base+path, strings.NewReader(form.Encode()))
	if err != nil {
		c.tb.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "text/html")
	return c.do(req)
}

// Submit loads formPage, takes the CSRF token from its form, and posts
// form (with that token) to action.
func (c *Client) Submit(formPage, action string, form url.Values) *Page {
	c.tb.Helper()
	p := c.Get(formPage)
	if p.Status != http.StatusOK {
		c.tb.Fatalf("GET %s: status %d", formPage, p.Status)
	}
	token := p.CSRF()
	if token == "" {
		c.tb.Fatalf("GET %s: no _csrf field in the page", formPage)
	}
	if form == nil {
		form = url.Values{}
	}
	form.Set("_csrf", token)
	return c.Post(action, form)
}

// SignUp creates a team and logs the client in.
func (c *Client) SignUp(team, email, password string) {
	c.tb.Helper()
	p := c.Submit("/signup", "/signup", url.Values{"team": {team}, "email": {email}, "password": {password}, "confirm": {password}})
	if p.Status != http.StatusSeeOther {
		c.tb.Fatalf("sign up %s: status %d, want 303\n%s", email, p.Status, p.Body)
	}
}

// CreateIntegration creates a Mattermost integration through the form and
// returns its public id.
func (c *Client) CreateIntegration(name string, urgency models.Urgency) string {
	c.tb.Helper()
	p := c.Submit("/integrations/new/mattermost", "/integrations", url.Values{
		"name": {name}, "default_urgency": {string(urgency)}, "reply_in_channel_present": {"1"}, "reply_in_channel": {"1"},
	})
	if p.Status != http.StatusSeeOther || !strings.HasPrefix(p.Location, "/integrations/int_") {
		c.tb.Fatalf("create integration: status %d location %q\n%s", p.Status, p.Location, p.Body)
	}
	return strings.TrimPrefix(p.Location, "/integrations/")
}

// SetToken pastes token into the integration's Edit form and clicks Update.
func (c *Client) SetToken(integrationID, token string) {
	c.tb.Helper()
	edit := c.Get("/integrations/" + integrationID + "/edit")
	form := url.Values{"_csrf": {edit.CSRF()}, "token": {token}, "reply_in_channel_present": {"1"}}
	edit.Doc.Find("form input, form select").Each(func(_ int, s *goquery.Selection) {
		name, _ := s.Attr("name")
		if name == "" || name == "token" || name == "_csrf" {
			return
		}
		if typ, _ := s.Attr("type"); typ == "checkbox" {
			if _, checked := s.Attr("checked"); !checked {
				return
			}
		}
		val, _ := s.Attr("value")
		if goquery.NodeName(s) == "select" {
			val, _ = s.Find("option[selected]").Attr("value")
		}
		form.Set(name, val)
	})
	p := c.Post("/integrations/"+integrationID, form)
	if p.Status != http.StatusSeeOther {
		c.tb.Fatalf("update token: status %d\n%s", p.Status, p.Body)
	}
}

// Intake posts body to the integration's endpoint as Mattermost would and
// returns the status and body.
func Intake(tb testing.TB, base, integrationID, contentType, body string) (int, string) {
	tb.Helper()
	req, err := http.NewRequest(http.MethodPost, base+"/integration/"+integrationID, strings.NewReader(body))
	if err != nil {
		tb.Fatal(err)
	}
	req.Header.Set("Content-Type", contentType)
	req.Header.Set("User-Agent", "Mattermost-Bot/1.1")
	req.Header.Set("Accept", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		tb.Fatalf("intake: %v", err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// SyncBuffer is a bytes buffer safe for a logger and a test to share.
type SyncBuffer struct {
	mu  sync.Mutex
	buf strings.Builder
}

func (b *SyncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// String returns everything written so far.
func (b *SyncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// fixtures are requests exactly as a real Mattermost server sends them.
//
//go:embed testdata/mattermost
var fixtures embed.FS

// Fixture returns a file of testdata/mattermost: the JSON samples as they
// are, the .http captures as their body only (see FixtureRequest).
func Fixture(tb testing.TB, name string) string {
	tb.Helper()
	b, err := fixtures.ReadFile("testdata/mattermost/" + name)
	if err != nil {
		tb.Fatalf("fixture %s: %v", name, err)
	}
	if strings.HasSuffix(name, ".http") {
		return HTTPBody(string(b))
	}
	return string(b)
}

// FixtureContentType returns the Content-Type a fixture was sent with.
func FixtureContentType(tb testing.TB, name string) string {
	tb.Helper()
	if !strings.HasSuffix(name, ".http") {
		return "application/json"
	}
	b, err := fixtures.ReadFile("testdata/mattermost/" + name)
	if err != nil {
		tb.Fatalf("fixture %s: %v", name, err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if k, v, ok := strings.Cut(line, ":"); ok && strings.EqualFold(k, "Content-Type") {
			return strings.TrimSpace(v)
		}
	}
	tb.Fatalf("fixture %s has no Content-Type", name)
	return ""
}

// HTTPBody returns the body of a captured .http request (after the blank line).
func HTTPBody(raw string) string {
	raw = strings.ReplaceAll(raw, "\r\n", "\n")
	_, body, _ := strings.Cut(raw, "\n\n")
	return strings.TrimRight(body, "\n")
}
