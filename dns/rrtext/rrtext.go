// Package rrtext owns where an error sits in DNS presentation-format text
// (zone files, trust anchor files, the records of replay scenarios) as
// github.com/miekg/dns reports it. miekg keeps the line and column of a
// ParseError in unexported fields and prints them as
// `file: dns: msg: "tok" at line: L:C`; this is the one place that reads
// them back, so that every parser of rampart names the place the same way.
package rrtext

import (
	"errors"
	"strconv"
	"strings"

	"github.com/miekg/dns"
)

// Position splits a miekg/dns parse error into the file it names (empty
// when the text came from no file), its message without the "dns: " prefix
// and position suffix, and the 1-based line and column (0 when absent). ok
// is false when err is not a *dns.ParseError; then only msg is set.
func Position(err error) (file, msg string, line, col int, ok bool) {
	var pe *dns.ParseError
	if !errors.As(err, &pe) {
		return "", err.Error(), 0, 0, false
	}
	msg = pe.Error()
	if i := strings.Index(msg, "dns: "); i >= 0 {
		file = strings.TrimSuffix(msg[:i], ": ")
		msg = msg[i+len("dns: "):]
	}
	if i := strings.LastIndex(msg, " at line: "); i >= 0 {
		pos := msg[i+len(" at line: "):]
		msg = msg[:i]
		if l, c, found := strings.Cut(pos, ":"); found {
			line, _ = strconv.Atoi(l)
			col, _ = strconv.Atoi(c)
		}
	}
	return file, msg, line, col, true
}
