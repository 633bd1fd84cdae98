package models_test

import (
	"context"
	"strings"
	"testing"

	"klaxon/models"
)

// The start-up log shows the database URL without its secrets, wherever
// they are written: the user part, a password parameter, or PostgreSQL's
// key=value form.
func TestRedactURL(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"sqlite:data/klaxon.db", "sqlite:data/klaxon.db"},
		{"postgres://klaxon@db:5432/klaxon?sslmode=disable", "postgres://klaxon@db:5432/klaxon?sslmode=disable"},
		{"postgres://klaxon:s3cret@db:5432/klaxon?sslmode=disable", "postgres://klaxon:xxxxx@db:5432/klaxon?sslmode=disable"},
		{"postgres://db/klaxon?password=s3cret&sslmode=require", "postgres://db/klaxon?password=xxxxx&sslmode=require"},
		{"postgresql://db/klaxon?sslmode=verify-full&sslpassword=s3cret", "postgresql://db/klaxon?sslmode=verify-full&sslpassword=xxxxx"},
		{"postgres://db/klaxon?PassWord=s3cret", "postgres://db/klaxon?PassWord=xxxxx"},
		{"postgres://db/klaxon?pass%77ord=s3cret", "postgres://db/klaxon?pass%77ord=xxxxx"},
		{"postgres://db/klaxon?sslmode=disable;password=s3cret", "postgres://db/klaxon?sslmode=disable;password=xxxxx"},
		{"postgres://u:s3cret@db/klaxon?password=s3cret2", "postgres://u:xxxxx@db/klaxon?password=xxxxx"},
		{"sqlite:data/klaxon.db?_auth_pass=s3cret", "sqlite:data/klaxon.db?_auth_pass=xxxxx"},
		{"host=db user=klaxon password=s3cret dbname=klaxon", "host=db user=klaxon password=xxxxx dbname=klaxon"},
		{"host=db password = 's3 cret \\' still' dbname=klaxon", "host=db password = xxxxx dbname=klaxon"},
		{`host=db password=s3\ cret dbname=klaxon`, "host=db password=xxxxx dbname=klaxon"},
		{"host=db sslpassword=s3cret", "host=db sslpassword=xxxxx"},
		{"host=db password='unterminated s3cret", "host=db password=xxxxx"},
		{"host=db junk password=s3cret", "host=db junk password=xxxxx"},
		{"postgres://klaxon:pa ss@db/klaxon", "(unparseable URL)"},
	} {
		got := models.RedactURL(tc.in)
		if got != tc.want {
			t.Errorf("RedactURL(%q) = %q, want %q", tc.in, got, tc.want)
		}
		if strings.Contains(got, "s3") {
			t.Errorf("RedactURL(%q) = %q shows the secret", tc.in, got)
		}
	}
}

// A database that cannot be opened says why, without the password: the
// PostgreSQL driver quotes the URL in some errors and hides only the user
// part's password there.
func TestOpenErrorsHideSecrets(t *testing.T) {
	for _, tc := range []struct{ url, secret, says string }{
		{"postgres://klaxon@127.0.0.1:1/klaxon?password=s3cret-query&sslmode=bogus", "s3cret-query", "sslmode"},
		{"postgres://127.0.0.1:1/klaxon?sslmode=bogus&sslpassword=s3cret%2Fssl", "s3cret", "sslmode"},
		{"postgres://klaxon:s3cret-user@127.0.0.1:1/klaxon?sslmode=bogus", "s3cret-user", "sslmode"},
		{"host=127.0.0.1 user=klaxon password=s3cret-kv", "s3cret-kv", "want sqlite:PATH or postgres://"},
		// Nothing listens on port 1: the connection is refused.
		{"postgres://klaxon:s3cret-conn@127.0.0.1:1/klaxon?password=s3cret-conn2&connect_timeout=5", "s3cret-conn", "connect"},
		// A password with a raw # or / does not parse as a URL; the
		// driver's error would quote the part before it.
		{"postgres://klaxon:S3cretPw#1@127.0.0.1:1/klaxon", "S3cret", "percent-encode"},
		{"postgres://klaxon:S3cret/Pw@127.0.0.1:1/klaxon", "S3cret", "percent-encode"},
	} {
		db, err := models.Open(context.Background(), tc.url)
		if err == nil {
			db.Close()
			t.Errorf("%s: opened", models.RedactURL(tc.url))
			continue
		}
		if strings.Contains(err.Error(), tc.secret) || !strings.Contains(err.Error(), tc.says) {
			t.Errorf("%s: error %q, want one saying %q without the secret", models.RedactURL(tc.url), err, tc.says)
		}
	}
}
