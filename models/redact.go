package models

import (
	"net/url"
	"sort"
	"strings"
)

// redacted stands in for a secret.
const redacted = "xxxxx"

// redactURL hides the secrets in a database URL or a key=value DSN so that
// it can be logged: the password of the user part, and the value of every
// parameter whose name contains "pass" (password, sslpassword, SQLite's
// _auth_pass; passfile, a path, goes too, which costs nothing).
func redactURL(raw string) string {
	if isKeyValueDSN(raw) {
		out, _ := redactKeyValues(raw)
		return out
	}
	u, err := url.Parse(raw)
	if err != nil {
		return "(unparseable URL)"
	}
	u.RawQuery, _ = redactQuery(u.RawQuery)
	return u.Redacted()
}

// RedactURL is redactURL for callers outside the package.
func RedactURL(raw string) string { return redactURL(raw) }

// isKeyValueDSN tells PostgreSQL's "host=… password=…" form from a URL, as
// the driver does: anything that is not a URL and has an = in it.
func isKeyValueDSN(raw string) bool {
	return !strings.Contains(raw, "://") && !strings.HasPrefix(raw, "sqlite:") && strings.Contains(raw, "=")
}

func secretKey(key string) bool {
	if k, err := url.QueryUnescape(key); err == nil {
		key = k
	}
	return strings.Contains(strings.ToLower(key), "pass")
}

// redactQuery hides the values of secret parameters in a URL's raw query,
// keeping everything else as written. It also returns the hidden values, as
// written and decoded.
func redactQuery(rawQuery string) (string, []string) {
	var secrets []string
	var b strings.Builder
	for rest := rawQuery; rest != ""; {
		part := rest
		sep := ""
		if i := strings.IndexAny(rest, "&;"); i >= 0 {
			part, sep, rest = rest[:i], rest[i:i+1], rest[i+1:]
		} else {
			rest = ""
		}
		if key, value, ok := strings.Cut(part, "="); ok && secretKey(key) {
			secrets = append(secrets, value)
			if v, err := url.QueryUnescape(value); err == nil {
				secrets = append(secrets, v)
			}
			part = key + "=" + redacted
		}
		b.WriteString(part + sep)
	}
	return b.String(), secrets
}

// redactKeyValues hides the values of secret keys in a key=value DSN, read
// as the PostgreSQL driver reads it: whitespace around =, values bare up to
// whitespace or in single quotes, with backslash escapes. Malformed input
// errs on the side of hiding: an unterminated quote hides the rest. It also
// returns the hidden values, as written and unescaped.
func redactKeyValues(s string) (string, []string) {
	var b strings.Builder
	var secrets []string
	for {
		eq := strings.IndexByte(s, '=')
		if eq < 0 {
			b.WriteString(s)
			return b.String(), secrets
		}
		key := s[:eq]
		b.WriteString(s[:eq+1])
		s = s[eq+1:]
		ws := len(s) - len(strings.TrimLeft(s, " \t\n\r\v\f"))
		b.WriteString(s[:ws])
		s = s[ws:]
		end := 0 // the value is s[:end]
		if strings.HasPrefix(s, "'") {
			end = 1
			for end < len(s) && s[end] != '\'' {
				if s[end] == '\\' {
					end++
				}
				end++
			}
			end = min(end+1, len(s)) // the closing quote, if any
		} else {
			for end < len(s) && !strings.ContainsRune(" \t\n\r\v\f", rune(s[end])) {
				if s[end] == '\\' {
					end++
				}
				end++
			}
			end = min(end, len(s))
		}
		value := s[:end]
		s = s[end:]
		if !secretKey(strings.TrimSpace(key)) {
			b.WriteString(value)
			continue
		}
		b.WriteString(redacted)
		unquoted := strings.TrimSuffix(strings.TrimPrefix(value, "'"), "'")
		secrets = append(secrets, value, unquoted, strings.ReplaceAll(strings.ReplaceAll(unquoted, `\\`, `\`), `\'`, `'`))
	}
}

// dsnSecrets lists the secrets in a database URL or DSN, in the forms an
// error message may show them (as written, decoded, escaped again), longest
// first.
func dsnSecrets(raw string) []string {
	var found []string
	if isKeyValueDSN(raw) {
		_, found = redactKeyValues(raw)
	} else if u, err := url.Parse(raw); err == nil {
		_, found = redactQuery(u.RawQuery)
		if p, ok := u.User.Password(); ok {
			found = append(found, p)
		}
	}
	seen := map[string]bool{}
	var secrets []string
	for _, s := range found {
		for _, form := range []string{s, url.QueryEscape(s), url.PathEscape(s), url.UserPassword("", s).String()[1:]} {
			if form != "" && !seen[form] {
				seen[form] = true
				secrets = append(secrets, form)
			}
		}
	}
	sort.Slice(secrets, func(i, j int) bool { return len(secrets[i]) > len(secrets[j]) })
	return secrets
}

// redactError keeps the secrets of the database URL raw out of err's
// message (a driver may quote the URL when it cannot use it); errors.Is and
// errors.As still see err.
func redactError(err error, raw string) error {
	if err == nil {
		return nil
	}
	secrets := dsnSecrets(raw)
	if len(secrets) == 0 {
		return err
	}
	msg := err.Error()
	for _, s := range secrets {
		msg = strings.ReplaceAll(msg, s, redacted)
	}
	return &redactedError{msg: msg, err: err}
}

type redactedError struct {
	msg string
	err error
}

func (e *redactedError) Error() string { return e.msg }
func (e *redactedError) Unwrap() error { return e.err }
