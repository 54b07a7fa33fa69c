// Package srcpos owns positions in text files and the errors found at them:
// a Pos (file, line, column), an Error at a Pos that reads
// "file:line:col: message", and a List that collects every problem of one
// input in file order. Every reader of rampart's input files (the
// configuration, firewall policies, zone files, trust anchors, replay
// scenarios, and the IDS rules to come) reports through these types, so that
// an error reads the same way whichever file it is about, and errors.As finds
// it whichever package made it.
//
// The package knows nothing about any file format: its callers count the
// lines and columns.
package srcpos

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// Pos is a place in a file. Line and Column are 1-based, the column counting
// bytes; zero means unknown. File is the name the reader was given, empty
// when the text came from no file or the file is not known yet.
type Pos struct {
	File   string
	Line   int
	Column int
}

// IsValid reports whether the line is known.
func (p Pos) IsValid() bool { return p.Line > 0 }

// String returns "file:line:col", leaving out what is unknown: "file:line",
// "file", "line:col", "line" or "". A column without a line is not shown.
func (p Pos) String() string {
	var b strings.Builder
	p.write(&b)
	return b.String()
}

func (p Pos) write(b *strings.Builder) {
	b.WriteString(p.File)
	if p.Line <= 0 {
		return
	}
	if p.File != "" {
		b.WriteByte(':')
	}
	b.WriteString(strconv.Itoa(p.Line))
	if p.Column > 0 {
		b.WriteByte(':')
		b.WriteString(strconv.Itoa(p.Column))
	}
}

// Errorf returns an error at p. As in fmt.Errorf, a %w verb makes the error
// wrap its operand.
func (p Pos) Errorf(format string, args ...any) *Error {
	err := fmt.Errorf(format, args...)
	e := &Error{Pos: p, Msg: err.Error()}
	switch w := err.(type) {
	case interface{ Unwrap() error }:
		e.Err = w.Unwrap()
	case interface{ Unwrap() []error }:
		e.Err = err // errors.Is and errors.As walk its list
	}
	return e
}

// Error is one problem at a place in a file.
type Error struct {
	Pos Pos
	Msg string
	// Err is the error Msg reports, when there is one (a file that could
	// not be opened, a value's own parse error); Unwrap returns it.
	Err error
}

// Error returns "file:line:col: message", leaving out the parts of the
// position that are unknown, and the message alone when nothing is known.
func (e *Error) Error() string {
	var b strings.Builder
	e.Pos.write(&b)
	if b.Len() > 0 {
		b.WriteString(": ")
	}
	b.WriteString(e.Msg)
	return b.String()
}

// Unwrap returns the error e reports, if any.
func (e *Error) Unwrap() error { return e.Err }

// MaxErrors is how many errors a List holds before it stops collecting:
// past a few dozen, later errors are mostly consequences of earlier ones,
// and a hostile input must not make a reader build an endless report.
const MaxErrors = 25

// tooMany is the message of the entry a List ends with when it is full.
const tooMany = "too many errors, stopping"

// List is every problem found in one input, in file order once sorted,
// formatted one per line. A reader that fails returns its List as the
// error; errors.As finds each *Error in it. The zero value is an empty
// list ready to use.
type List []*Error

// Add appends err and reports whether the list takes more. A *Error is
// appended as it is, a List entry by entry, any other error as an Error at
// an unknown position that wraps it; nil is ignored. Once MaxErrors errors
// are in, Add appends one last entry, at the position of the last error,
// saying that it stopped, and takes nothing more.
func (l *List) Add(err error) bool {
	var e *Error
	switch v := err.(type) {
	case nil:
		return !l.Full()
	case *Error:
		if v == nil {
			return !l.Full()
		}
		e = v
	case List:
		for _, e := range v {
			if !l.Add(e) {
				return false
			}
		}
		return !l.Full()
	default:
		e = &Error{Msg: err.Error(), Err: err}
	}
	if l.Full() {
		return false
	}
	*l = append(*l, e)
	if len(*l) == MaxErrors {
		*l = append(*l, &Error{Pos: e.Pos, Msg: tooMany})
		return false
	}
	return true
}

// Full reports whether the list has stopped taking errors.
func (l List) Full() bool { return len(l) > MaxErrors }

// Sort puts the errors in file order: the files in the order in which they
// first appear in the list (a file that includes another comes first),
// and in each file by line and column, an error without a line before
// those with one. The entry saying that the list stopped stays last.
func (l List) Sort() {
	if l.Full() {
		l = l[:len(l)-1]
	}
	rank := map[string]int{}
	for _, e := range l {
		if _, ok := rank[e.Pos.File]; !ok {
			rank[e.Pos.File] = len(rank)
		}
	}
	slices.SortStableFunc(l, func(a, b *Error) int {
		if c := rank[a.Pos.File] - rank[b.Pos.File]; c != 0 {
			return c
		}
		if c := a.Pos.Line - b.Pos.Line; c != 0 {
			return c
		}
		return a.Pos.Column - b.Pos.Column
	})
}

// Err returns nil for an empty list and the list otherwise, so that a
// reader can end with "return result, errs.Err()".
func (l List) Err() error {
	if len(l) == 0 {
		return nil
	}
	return l
}

// Error formats the errors one per line.
func (l List) Error() string {
	var b strings.Builder
	for i, e := range l {
		if i > 0 {
			b.WriteByte('\n')
		}
		b.WriteString(e.Error())
	}
	return b.String()
}

// Unwrap gives errors.Is and errors.As access to each *Error.
func (l List) Unwrap() []error {
	out := make([]error, len(l))
	for i, e := range l {
		out[i] = e
	}
	return out
}

// AsList returns err as a List: nil for nil, the List in err's chain if
// there is one, and otherwise a list holding err as Add takes it.
func AsList(err error) List {
	if err == nil {
		return nil
	}
	var l List
	if errors.As(err, &l) {
		return l
	}
	l.Add(err)
	return l
}
