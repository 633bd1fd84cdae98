package models

// MaskTokenAnyBody exposes MaskToken's general path to the tests, which
// check that the fast path gives the same result.
func MaskTokenAnyBody(body string) string { return maskTokenAnyBody(body) }

// MaskPlainJSON exposes MaskToken's fast path, to check that plain bodies
// take it.
func MaskPlainJSON(body string) (string, bool) { return maskPlainJSON(body) }

// ParsePlainJSON and ParseAnyJSON expose ParseMattermostJSON's fast and
// general paths, which the tests check give the same payloads.
func ParsePlainJSON(body []byte) (*MattermostPayload, bool) { return parsePlainJSON(body) }

func ParseAnyJSON(body []byte) (*MattermostPayload, error) { return parseAnyJSON(body) }
