package models_test

import (
	"net/url"
	"slices"
	"testing"

	"klaxon/models"
)

// The secret is the last non-empty path segment; a trailing slash must not
// leave it showing.
func TestMaskedWebhookURL(t *testing.T) {
	for raw, want := range map[string]string{
		"https://chat.example.com/hooks/3fjq8kxdyb8r5jfi7wsomqn3uw":               "https://chat.example.com/hooks/••••n3uw",
		"https://chat.example.com/hooks/3fjq8kxdyb8r5jfi7wsomqn3uw/":              "https://chat.example.com/hooks/••••n3uw/",
		"https://chat.example.com/hooks/3fjq8kxdyb8r5jfi7wsomqn3uw//":             "https://chat.example.com/hooks/••••n3uw//",
		"https://chat.example.com/mm/hooks/3fjq8kxdyb8r5jfi7wsomqn3uw":            "https://chat.example.com/mm/hooks/••••n3uw",
		"https://chat.example.com/hooks/3fjq8kxdyb8r5jfi7wsomqn3uw?x=secret#frag": "https://chat.example.com/hooks/••••n3uw",
		"https://user:pass@chat.example.com/hooks/3fjq8kxdyb8r5jfi7wsomqn3uw":     "https://chat.example.com/hooks/••••n3uw",
		"https://chat.example.com/hooks/ключсекретный":                            "https://chat.example.com/hooks/••••тный",
		"https://chat.example.com/hooks/shortsec":                                 "https://chat.example.com/hooks/••••",
		"https://chat.example.com/hooks/abc/":                                     "https://chat.example.com/hooks/••••/",
		"https://chat.example.com/hooks":                                          "https://chat.example.com/••••",
		"https://chat.example.com/":                                               "https://chat.example.com/",
		"https://chat.example.com":                                                "https://chat.example.com",
		"not a url":                                                               "••••",
	} {
		c := models.NotificationChannel{WebhookURL: raw}
		if got := c.MaskedWebhookURL(); got != want {
			t.Errorf("%q: got %q, want %q", raw, got, want)
		}
	}
}

func TestWebhookSecrets(t *testing.T) {
	for raw, want := range map[string][]string{
		"https://chat.example.com/hooks/3fjq8kxdyb8r5jfi7wsomqn3uw/": {"3fjq8kxdyb8r5jfi7wsomqn3uw"},
		"https://chat.example.com/hooks/ab%20cd%20ef":                {"ab cd ef", "ab%20cd%20ef"},
		"https://chat.example.com/hooks/abc":                         nil,
		"https://chat.example.com/":                                  nil,
	} {
		u, err := url.Parse(raw)
		if err != nil {
			t.Fatal(err)
		}
		if got := models.WebhookSecrets(u); !slices.Equal(got, want) {
			t.Errorf("%q: got %q, want %q", raw, got, want)
		}
	}
}
