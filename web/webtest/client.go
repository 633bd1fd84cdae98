package webtest

import (
	"net/http"
	"net/http/cookiejar"
	"strings"
	"testing"
	"time"
)

// NewClientFor returns a browser-like client with an empty cookie jar for a
// Klaxon that was not started by Start, such as a separate klaxon process
// listening at baseURL.
func NewClientFor(tb testing.TB, baseURL string) *Client {
	tb.Helper()
	jar, err := cookiejar.New(nil)
	if err != nil {
		tb.Fatalf("cookie jar: %v", err)
	}
	return &Client{
		HTTP: &http.Client{Jar: jar, Timeout: 30 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		}},
		Base: strings.TrimRight(baseURL, "/"),
		tb:   tb,
	}
}
