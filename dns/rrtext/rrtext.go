// Package rrtext owns DNS presentation-format text as rampart reads it (zone
// files, trust anchor files, the records of replay scenarios): where each
// record stands in a master file, and where an error sits as
// github.com/miekg/dns reports it. miekg keeps the line and column of a
// ParseError in unexported fields and prints them as
// `file: dns: msg: "tok" at line: L:C`; this is the one place that reads
// them back, so that every parser of rampart names the place the same way.
// miekg's parser stops at the first error and says nothing about where a
// record was; ReadMaster goes on after an error and gives each record its
// line, so that zone files and trust anchors report every problem.
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
//
// The message is miekg's with its field names made readable: "bad A A"
// (the A field of an A record) reads "bad A record", and "not a TTL" where
// a type was due reads "neither a type nor a TTL".
func Position(err error) (file, msg string, line, col int, ok bool) {
	file, problem, token, line, col, ok := split(err)
	if !ok {
		return "", err.Error(), 0, 0, false
	}
	return file, message(problem, token), line, col, true
}

// PositionInLine is Position for an error in text, one line that was given
// to miekg/dns alone: the message and the column of the bad token's first
// byte in text (miekg's column points at its end), or 0 when err is not a
// *dns.ParseError.
func PositionInLine(err error, text string) (msg string, col int) {
	_, problem, token, _, col, ok := split(err)
	if !ok {
		return err.Error(), 0
	}
	return message(problem, token), tokenStart(text, col, token)
}

// tokenStart returns the 1-based column where token ends at or before col
// in line, or col when it is not there (a token miekg made up, such as an
// expanded $GENERATE).
func tokenStart(line string, col int, token string) int {
	if token == "" || col < 1 {
		return col
	}
	if i := strings.LastIndex(line[:min(col, len(line))], token); i >= 0 {
		return i + 1
	}
	return col
}

// message is miekg's message as Position gives it.
func message(problem, token string) string {
	if token == "" || token == " " || token == "\n" {
		return problem
	}
	return problem + ": " + strconv.QuoteToASCII(token)
}

// split takes a miekg/dns parse error apart: the file, the problem, the
// token it is about, and where miekg says it is (the column is that of
// the end of the token, or of the character after it).
func split(err error) (file, problem, token string, line, col int, ok bool) {
	var pe *dns.ParseError
	if !errors.As(err, &pe) {
		return "", "", "", 0, 0, false
	}
	msg := pe.Error()
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
	problem = msg
	if i := strings.LastIndex(msg, `: "`); i >= 0 && strings.HasSuffix(msg, `"`) {
		if t, err := strconv.Unquote(msg[i+2:]); err == nil {
			problem, token = msg[:i], t
		}
	}
	return file, readable(problem), token, line, col, true
}

// readable rewords miekg's messages where they name Go struct fields.
func readable(problem string) string {
	if rest, ok := strings.CutPrefix(problem, "bad "); ok {
		// "bad TYPE Field": the Field of a TYPE record. When the field is
		// named for the type (A, AAAA, NS Ns, PTR Ptr), it is the record's
		// one datum.
		if typ, field, ok := strings.Cut(rest, " "); ok && strings.EqualFold(typ, field) {
			return "bad " + typ + " record"
		}
	}
	if problem == "not a TTL" {
		return "neither a type nor a TTL"
	}
	return problem
}
