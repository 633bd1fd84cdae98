package models

import (
	"crypto/rand"
	"encoding/base32"
	"strings"
)

var idEncoding = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)

// newPublicID returns prefix followed by 130 random bits as 26 lowercase
// base32 characters, e.g. "int_3x7…".
func newPublicID(prefix string) string {
	var b [17]byte // 136 bits; 26 characters carry 130 of them
	if _, err := rand.Read(b[:]); err != nil {
		panic("crypto/rand failed: " + err.Error())
	}
	return prefix + idEncoding.EncodeToString(b[:])[:26]
}

// RandomToken returns n random bytes as lowercase base32 text, for secrets.
func RandomToken(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic("crypto/rand failed: " + err.Error())
	}
	return idEncoding.EncodeToString(b)
}

// LooksLikePublicID reports whether s has the shape of an id with the given
// prefix, so that obviously bad ids are refused without a query.
func LooksLikePublicID(s, prefix string) bool {
	if !strings.HasPrefix(s, prefix) || len(s) != len(prefix)+26 {
		return false
	}
	for _, r := range s[len(prefix):] {
		if !(r >= 'a' && r <= 'z' || r >= '2' && r <= '7') {
			return false
		}
	}
	return true
}
