package models

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"regexp"
	"strings"
	"unicode/utf8"
)

// jsonFieldString turns a JSON string, number, null or list of strings into
// text.
func jsonFieldString(v json.RawMessage) (string, error) {
	v = bytes.TrimSpace(v)
	if len(v) == 0 || string(v) == "null" {
		return "", nil
	}
	switch v[0] {
	case '"':
		var s string
		err := json.Unmarshal(v, &s)
		return s, err
	case '[':
		var list []string
		if err := json.Unmarshal(v, &list); err != nil {
			return "", errors.New("must be a list of strings")
		}
		return strings.Join(list, ","), nil
	case '{', 't', 'f':
		return "", errors.New("must be a string")
	default:
		var n json.Number
		if err := json.Unmarshal(v, &n); err != nil {
			return "", errors.New("must be a string or a number")
		}
		return n.String(), nil
	}
}

// JSONText is jsonFieldString for the sources' parsers.
func JSONText(v json.RawMessage) (string, error) { return jsonFieldString(v) }

// jsonTokenField finds token members in bodies that are not valid JSON
// (refused, but still logged); jsonTokenOther finds those whose value is a
// number or a list.
var (
	jsonTokenField = regexp.MustCompile(`(` + jsonTokenKey + `\s*:\s*")((?:[^"\\]|\\.)*)(")`)
	jsonTokenOther = regexp.MustCompile(`(` + jsonTokenKey + `\s*:\s*)(-?[0-9][0-9.eE+-]*|\[[^\]]*\])`)
)

// jsonTokenKey matches a JSON string that decodes to "token", each letter
// plain or \u-escaped, as the parser reads it.
var jsonTokenKey = func() string {
	k := `"`
	for _, c := range "token" {
		k += fmt.Sprintf(`(?:%c|\\u00(?i:%x))`, c, c)
	}
	return k + `"`
}()

// MaskToken hides the value of the token field in a JSON or form body, for
// logs and stored requests, however the field is spelled (escaped keys,
// numbers, repeated fields); a token of 16 or more characters is also hidden
// wherever else it appears. The result is storable text (see CleanText).
func MaskToken(body string) string {
	if masked, ok := maskPlainJSON(body); ok {
		return masked
	}
	return maskTokenAnyBody(body)
}

// maskTokenAnyBody is MaskToken for any body: JSON, form or neither.
func maskTokenAnyBody(body string) string {
	masked, tokens, ok := maskJSONTokens(body)
	if !ok {
		masked = jsonTokenField.ReplaceAllStringFunc(body, func(m string) string {
			parts := jsonTokenField.FindStringSubmatch(m)
			tokens = append(tokens, parts[2])
			return parts[1] + maskSecret(parts[2]) + parts[3]
		})
		masked = jsonTokenOther.ReplaceAllStringFunc(masked, func(m string) string {
			parts := jsonTokenOther.FindStringSubmatch(m)
			value := strings.Trim(parts[2], "[]\" ")
			tokens = append(tokens, value)
			return parts[1] + `"` + maskSecret(value) + `"`
		})
	}
	masked, formTokens := maskFormTokens(masked)
	for _, t := range append(tokens, formTokens...) {
		// Each pass shortens the text, so this ends.
		for len(t) >= 16 && strings.Contains(masked, t) {
			masked = strings.ReplaceAll(masked, t, maskSecret(t))
		}
	}
	return CleanText(masked)
}

// maskPlainJSON is MaskToken's fast path, for what Mattermost sends with
// Content-Type application/json: a valid JSON body without a backslash (so
// no escaped names or quotes) and without "=" (so nothing a form parser would
// take for a field). In such a body every '"' opens or closes a string, so
// one pass finds each member named token (invalid UTF-8, which decoding
// would change, also takes the general path); the result is the same as
// maskTokenAnyBody's. ok is false, and the caller takes the general path,
// for any other body or a token that is not a string.
func maskPlainJSON(body string) (masked string, ok bool) {
	if strings.ContainsAny(body, `\=`) || !utf8.ValidString(body) || !json.Valid([]byte(body)) {
		return "", false
	}
	var out strings.Builder
	var tokens []string
	copied := 0
	for i := 0; i < len(body); i++ {
		if body[i] != '"' {
			continue
		}
		end := i + 1 + strings.IndexByte(body[i+1:], '"') // valid JSON: it is there
		name := body[i : end+1]
		i = end
		if name != `"token"` {
			continue
		}
		j := skipJSONSpace(body, end+1)
		if j >= len(body) || body[j] != ':' {
			continue // a string value that reads "token"
		}
		j = skipJSONSpace(body, j+1)
		if body[j] != '"' {
			return "", false
		}
		valueEnd := j + 1 + strings.IndexByte(body[j+1:], '"')
		value := body[j+1 : valueEnd]
		tokens = append(tokens, value)
		replacement, _ := json.Marshal(maskSecret(value))
		out.WriteString(body[copied:j])
		out.Write(replacement)
		copied = valueEnd + 1
		i = valueEnd
	}
	if len(tokens) == 0 {
		return CleanText(body), true
	}
	out.WriteString(body[copied:])
	masked = out.String()
	for _, t := range tokens {
		for len(t) >= 16 && strings.Contains(masked, t) {
			masked = strings.ReplaceAll(masked, t, maskSecret(t))
		}
	}
	return CleanText(masked), true
}

func skipJSONSpace(s string, i int) int {
	for i < len(s) && (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r') {
		i++
	}
	return i
}

// maskJSONTokens masks the value of every member named token (after
// unescaping its name) in a JSON body. ok is false when body is not JSON.
func maskJSONTokens(body string) (masked string, tokens []string, ok bool) {
	dec := json.NewDecoder(strings.NewReader(body))
	// Numbers stay text: one too large for a float64 (1e400) must not
	// stop the walk.
	dec.UseNumber()
	type frame struct{ object, keyNext bool }
	var stack []frame
	var out strings.Builder
	copied := int64(0)
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			return body, nil, false
		}
		top := len(stack) - 1
		isKey := top >= 0 && stack[top].object && stack[top].keyNext
		if top >= 0 && stack[top].object {
			stack[top].keyNext = !isKey
		}
		switch d := tok.(type) {
		case json.Delim:
			switch d {
			case '{', '[':
				stack = append(stack, frame{object: d == '{', keyNext: true})
			default:
				stack = stack[:len(stack)-1]
				if n := len(stack) - 1; n >= 0 && stack[n].object {
					stack[n].keyNext = true
				}
			}
			continue
		case string:
			if !isKey || d != "token" {
				continue
			}
		default:
			continue
		}
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return body, nil, false
		}
		stack[top].keyNext = true
		end := dec.InputOffset()
		start := end - int64(len(raw))
		if start < copied || body[start:end] != string(raw) {
			return body, nil, false
		}
		value, err := jsonFieldString(raw)
		if err != nil {
			value = string(raw)
		}
		tokens = append(tokens, value)
		replacement, _ := json.Marshal(maskSecret(value))
		out.WriteString(body[copied:start])
		out.Write(replacement)
		copied = end
	}
	out.WriteString(body[copied:])
	return out.String(), tokens, true
}

// maskFormTokens masks the value of every token field of a form body,
// however its name is percent-encoded.
func maskFormTokens(body string) (string, []string) {
	if !strings.Contains(body, "=") {
		return body, nil
	}
	var tokens []string
	var out strings.Builder
	// Pairs end at & or at ; (which Go's parser refuses but others take),
	// so a token after either is masked.
	for rest := body; ; {
		end := strings.IndexAny(rest, "&;")
		pair, sep := rest, ""
		if end >= 0 {
			pair, sep = rest[:end], rest[end:end+1]
		}
		key, value, ok := strings.Cut(pair, "=")
		if k, err := url.QueryUnescape(key); ok && err == nil && k == "token" {
			if v, err := url.QueryUnescape(value); err == nil {
				value = v
			}
			tokens = append(tokens, value)
			pair = key + "=" + url.QueryEscape(maskSecret(value))
		}
		out.WriteString(pair + sep)
		if end < 0 {
			return out.String(), tokens
		}
		rest = rest[end+1:]
	}
}

// maskSecret keeps nothing of short secrets and the last four characters of
// long ones, enough to tell two tokens apart.
func maskSecret(s string) string {
	if s == "" {
		return ""
	}
	r := []rune(s)
	if len(r) < 16 {
		return "****"
	}
	return "****" + string(r[len(r)-4:])
}
