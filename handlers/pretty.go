package handlers

import (
	"bytes"
	"encoding/json"
	"mime"
	"net/url"
	"sort"
	"strings"
)

// prettyBody formats a stored request body for reading: JSON indented, a
// form one field per line; anything else as it is.
func prettyBody(body, contentType string) string {
	mt, _, _ := mime.ParseMediaType(contentType)
	switch mt {
	case "application/json":
		var buf bytes.Buffer
		if json.Indent(&buf, []byte(body), "", "  ") == nil {
			return buf.String()
		}
	case "application/x-www-form-urlencoded":
		if vals, err := url.ParseQuery(body); err == nil {
			keys := make([]string, 0, len(vals))
			for k := range vals {
				keys = append(keys, k)
			}
			sort.Strings(keys)
			var b strings.Builder
			for _, k := range keys {
				for _, v := range vals[k] {
					b.WriteString(k + " = " + v + "\n")
				}
			}
			return b.String()
		}
	}
	return body
}
