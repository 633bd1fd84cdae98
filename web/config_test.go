package web

import "testing"

// Cookies are Secure (and HSTS sent) for an https base URL however its
// scheme is spelled.
func TestSecureCookies(t *testing.T) {
	for url, want := range map[string]bool{
		"https://klaxon.example.com": true,
		"HTTPS://klaxon.example.com": true,
		"http://localhost:8080":      false,
		"":                           false,
	} {
		if got := (Config{BaseURL: url}).SecureCookies(); got != want {
			t.Errorf("SecureCookies(%q) = %v, want %v", url, got, want)
		}
	}
}
