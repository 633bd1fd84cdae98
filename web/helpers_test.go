package web_test

import "strconv"

func strconvUint(n uint64) string { return strconv.FormatUint(n, 10) }
