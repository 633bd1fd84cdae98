package models

// MaskTokenAnyBody exposes MaskToken's general path to the tests, which
// check that the fast path gives the same result.
func MaskTokenAnyBody(body string) string { return maskTokenAnyBody(body) }

// MaskPlainJSON exposes MaskToken's fast path, to check that plain bodies
// take it.
func MaskPlainJSON(body string) (string, bool) { return maskPlainJSON(body) }
