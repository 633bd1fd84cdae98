package web

import "net"

// ParseTrustedProxies exposes parseTrustedProxies to the tests that start
// a whole server.
func ParseTrustedProxies(s string) ([]*net.IPNet, error) { return parseTrustedProxies(s) }
