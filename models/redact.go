package models

import (
	"encoding/json"
	"net/url"
	"slices"
	"sort"
	"strconv"
	"strings"
	"unicode/utf16"
	"unicode/utf8"
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

// tokenMask hides one integration's saved token in everything Klaxon keeps
// or shows of a request to it (body, text, any field, content type,
// messages), whatever key, content type or escapes carried it. It costs a
// few strings.Contains over the request: the body was already scanned
// when it was read, and Mattermost's own requests only carry the token in
// their token field, which MaskToken has masked before.
type tokenMask struct {
	token     string
	spellings []string // as JSON, a form or a URL write it, longest first
	masked    string
}

// minMaskedToken is the shortest token masked wherever it appears; shorter
// ones (saved before Klaxon required 16 characters) would garble text.
const minMaskedToken = 6

// withheldBody replaces a body that still spells the token after masking
// (every character escaped differently, say).
const withheldBody = "(Klaxon did not keep this body: it carried the integration's token in a spelling Klaxon could not mask.)"

// newTokenMask returns the mask of token, or nil when there is none.
func newTokenMask(token string) *tokenMask {
	if len(token) < minMaskedToken {
		return nil
	}
	var noHTML strings.Builder
	enc := json.NewEncoder(&noHTML)
	enc.SetEscapeHTML(false)
	enc.Encode(token)
	asJSON, _ := json.Marshal(token)
	m := &tokenMask{token: token, masked: maskSecret(token)}
	for _, s := range []string{token, url.QueryEscape(token), url.PathEscape(token),
		string(asJSON[1 : len(asJSON)-1]), strings.TrimSuffix(noHTML.String(), "\"\n")[1:]} {
		if !slices.Contains(m.spellings, s) {
			m.spellings = append(m.spellings, s)
		}
	}
	sort.Slice(m.spellings, func(i, j int) bool { return len(m.spellings[i]) > len(m.spellings[j]) })
	return m
}

// text masks every spelling of the token in s.
func (m *tokenMask) text(s string) string {
	for _, sp := range m.spellings {
		if strings.Contains(s, sp) {
			s = strings.ReplaceAll(s, sp, m.masked)
		}
	}
	return s
}

// body is text for a raw request body, which may also spell the token
// with escapes (%66…, \u0066…): such a body is withheld.
func (m *tokenMask) body(s string) string {
	s = m.text(s)
	if hasPercentEscape(s) && strings.Contains(percentDecode(s), m.token) ||
		m.jsonEscapable(s) && strings.Contains(jsonUnescape(s), m.token) {
		return withheldBody
	}
	return s
}

// hasPercentEscape reports whether s holds a %XX escape ("95% full" does
// not), so that most bodies are never decoded.
func hasPercentEscape(s string) bool {
	for i := strings.IndexByte(s, '%'); i >= 0 && i+2 < len(s); {
		if isHex(s[i+1]) && isHex(s[i+2]) {
			return true
		}
		next := strings.IndexByte(s[i+1:], '%')
		if next < 0 {
			break
		}
		i += 1 + next
	}
	return false
}

// jsonEscapable reports whether a JSON escape in s could spell a character
// of the token: \u always, the others (\n of a multi-line text is common)
// only for a token holding one of the characters they stand for.
func (m *tokenMask) jsonEscapable(s string) bool {
	return strings.Contains(s, `\u`) || strings.ContainsAny(m.token, "\\\"/\b\f\n\r\t") && strings.Contains(s, `\`)
}

// request masks the token in req, except in its Token field (which is
// compared, never stored). It reports whether anything changed,
// and so whether what was prepared from req must be prepared again.
func (m *tokenMask) request(req *IntakeRequest) bool {
	if m == nil {
		return false
	}
	changed := false
	for _, f := range []*string{&req.Body, &req.Message, &req.ContentType} {
		masked := m.text(*f)
		if f == &req.Body {
			masked = m.body(*f)
		}
		if masked != *f {
			*f, changed = masked, true
		}
	}
	if d := req.Draft; d != nil {
		// The draft is decoded text: the token has one spelling there.
		fields := []*string{&d.Title, &d.Description, &d.DedupKey, &d.ReplyChannel}
		for i := range d.Fields {
			fields = append(fields, &d.Fields[i].Name, &d.Fields[i].Value)
		}
		for i := range d.Links {
			fields = append(fields, &d.Links[i].Label, &d.Links[i].URL)
		}
		for _, f := range fields {
			if strings.Contains(*f, m.token) {
				*f, changed = strings.ReplaceAll(*f, m.token, m.masked), true
			}
		}
	}
	return changed
}

// percentDecode decodes a URL or form's %XX escapes and + signs, leaving
// malformed escapes as they are.
func percentDecode(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '+':
			b.WriteByte(' ')
		case c == '%' && i+2 < len(s) && isHex(s[i+1]) && isHex(s[i+2]):
			b.WriteByte(unhex(s[i+1])<<4 | unhex(s[i+2]))
			i += 2
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}

// jsonUnescape decodes the escapes of JSON strings wherever they are in s.
func jsonUnescape(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '\\' || i+1 >= len(s) {
			b.WriteByte(s[i])
			continue
		}
		i++
		switch c := s[i]; c {
		case 'u':
			r, n := jsonEscapedRune(s[i-1:])
			if n == 0 {
				b.WriteString(`\u`)
				continue
			}
			b.WriteRune(r)
			i += n - 2
		case 'n':
			b.WriteByte('\n')
		case 't':
			b.WriteByte('\t')
		case 'r':
			b.WriteByte('\r')
		case 'b':
			b.WriteByte('\b')
		case 'f':
			b.WriteByte('\f')
		default: // \" \\ \/ and anything else: the character itself
			b.WriteByte(c)
		}
	}
	return b.String()
}

// jsonEscapedRune reads \uXXXX (or a surrogate pair of them) at the start
// of s and returns the rune and the bytes read, 0 if there is none.
func jsonEscapedRune(s string) (rune, int) {
	hex4 := func(s string) (rune, bool) {
		if len(s) < 6 || s[0] != '\\' || s[1] != 'u' {
			return 0, false
		}
		n, err := strconv.ParseUint(s[2:6], 16, 32)
		return rune(n), err == nil
	}
	r, ok := hex4(s)
	if !ok {
		return 0, 0
	}
	if utf16.IsSurrogate(r) {
		if r2, ok := hex4(s[6:]); ok {
			if pair := utf16.DecodeRune(r, r2); pair != utf8.RuneError {
				return pair, 12
			}
		}
	}
	return r, 6
}

func isHex(c byte) bool { return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F' }

func unhex(c byte) byte {
	switch {
	case c <= '9':
		return c - '0'
	case c <= 'F':
		return c - 'A' + 10
	default:
		return c - 'a' + 10
	}
}
