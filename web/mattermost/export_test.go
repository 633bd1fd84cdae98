package mattermost

// ParsePlainJSON and ParseAnyJSON expose ParseJSON's fast and general
// paths, which the tests check give the same payloads.
func ParsePlainJSON(body []byte) (*Outgoing, bool) { return parsePlainJSON(body) }

func ParseAnyJSON(body []byte) (*Outgoing, error) { return parseAnyJSON(body) }
