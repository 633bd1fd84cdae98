package models

import (
	"regexp"
	"strings"
)

// mattermostUserName is what Mattermost allows in a user name.
var mattermostUserName = regexp.MustCompile(`^[a-z0-9._-]{1,64}$`)

// NormalizeUserNames reads a list of chat user names separated by commas
// or spaces ("@alice, bob"), lower-cases them and drops the "@"s. It
// returns the list as stored ("alice bob") or the first name that cannot be
// one.
func NormalizeUserNames(s string) (list string, bad string) {
	var names []string
	for _, n := range strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == ' ' || r == '\t' || r == '\n' || r == '\r' }) {
		n = strings.ToLower(strings.TrimPrefix(n, "@"))
		if !mattermostUserName.MatchString(n) {
			return "", n
		}
		names = append(names, n)
	}
	return strings.Join(names, " "), ""
}

// UserAllowed reports whether name may act under list (as stored by
// NormalizeUserNames); an empty list allows everyone.
func UserAllowed(list, name string) bool {
	if list == "" {
		return true
	}
	name = strings.ToLower(name)
	for _, n := range strings.Fields(list) {
		if n == name {
			return true
		}
	}
	return false
}

// AllowedUsersError is the form's message for a bad user name.
func allowedUsersError(bad string) string {
	return "“" + bad + "” is not a Mattermost user name (lower-case letters, digits, “.”, “_” and “-”); separate names with commas or spaces."
}
