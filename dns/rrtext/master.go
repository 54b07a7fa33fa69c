package rrtext

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/miekg/dns"
	"github.com/rampart-fw/rampart/srcpos"
)

// Record is a resource record read from a master file and the place its
// entry starts: the owner name, or the first token when the owner is left
// out. A record made by $GENERATE is at its directive; one from an
// $INCLUDEd file names that file.
type Record struct {
	RR  dns.RR
	Pos srcpos.Pos
}

// Options say what ReadMaster accepts.
type Options struct {
	// Origin is the origin before any $ORIGIN; empty means that every
	// name must be absolute.
	Origin string
	// Include honours $INCLUDE, a path relative to the including file's
	// folder; only for files that come from the operator.
	Include bool
	// Generate honours $GENERATE.
	Generate bool
	// MaxRecords bounds the records of all files together ($GENERATE
	// makes 65535 a line); zero means no bound.
	MaxRecords int
	// What names the kind of file in errors about refused directives
	// ("$INCLUDE is not allowed in a trust-anchor file"); the default is
	// "this file".
	What string
}

// maxIncludeDepth is miekg's bound on nested $INCLUDEs.
const maxIncludeDepth = 7

// ReadMaster reads a master file (RFC 1035 section 5) named file, whose
// text is text, with github.com/miekg/dns's parser, and returns its records
// in order, each with its position, and every syntax error, each with its
// line and the column where the bad token starts, in file order. After an
// error it goes on with the next entry, so that one run shows every broken
// line; the records of the broken entries are missing from the result.
func ReadMaster(file string, text []byte, opts Options) ([]Record, srcpos.List) {
	if opts.What == "" {
		opts.What = "this file"
	}
	r := &masterReader{opts: opts}
	r.read(file, text, state{origin: opts.Origin}, 0)
	r.errs.Sort()
	return r.recs, r.errs
}

type masterReader struct {
	opts Options
	recs []Record
	errs srcpos.List
	stop bool // an error ended the whole read
}

// state is what miekg's parser carries from one entry to the next, as far
// as a restarted parser must be told about it.
type state struct {
	origin string
	// ttl is the default TTL: set by $TTL (byDirective) or by the last
	// record's TTL when no $TTL was seen (RFC 1035's "last explicit TTL").
	ttl         uint32
	ttlSet      bool
	byDirective bool
	// owner is the owner a record that leaves its owner out inherits.
	owner string
}

// entry is one entry of a master file: a record or a directive, from its
// first token to the newline that ends it outside parentheses and quotes.
type entry struct {
	line, col  int // of its first token
	lineStart  int // offset of the line it starts on
	start, end int // offsets of its text
	directive  string
	blankOwner bool // the record leaves its owner out

	// For $ORIGIN and $TTL, what read found them to say; bad ones are
	// reported there and blanked, and never reach miekg's parser.
	bad    bool
	origin string
	ttl    uint32
}

// scan splits text into entries the way miekg's lexer does: ';' starts a
// comment, parentheses continue an entry over newlines, quotes and
// backslash escapes hide both, and a '$' word at the start of a line is a
// directive.
func scan(text []byte) []entry {
	var out []entry
	line, lineStart := 1, 0
	depth, in := 0, false
	begin := func(i int) {
		if in {
			return
		}
		in = true
		e := entry{line: line, col: i - lineStart + 1, lineStart: lineStart, start: i}
		e.blankOwner = e.col > 1
		if e.col == 1 && text[i] == '$' {
			end := i
			for end < len(text) && !strings.ContainsRune(" \t\r\n;()\"", rune(text[end])) {
				end++
			}
			switch d := strings.ToUpper(string(text[i:end])); d {
			case "$ORIGIN", "$TTL", "$INCLUDE", "$GENERATE":
				e.directive = d
			}
		}
		out = append(out, e)
	}
	finish := func(i int) {
		if in {
			out[len(out)-1].end = i
			in = false
		}
	}
	for i := 0; i < len(text); i++ {
		switch c := text[i]; c {
		case '\n':
			if depth == 0 {
				finish(i)
			}
			line, lineStart = line+1, i+1
		case ' ', '\t', '\r':
		case ';':
			for i+1 < len(text) && text[i+1] != '\n' {
				i++
			}
		case '(':
			depth++
		case ')':
			depth = max(depth-1, 0)
		case '"':
			begin(i)
			for i++; i < len(text) && text[i] != '"'; i++ {
				if text[i] == '\\' && i+1 < len(text) {
					i++
				}
				if text[i] == '\n' {
					line, lineStart = line+1, i+1
				}
			}
		case '\\':
			begin(i)
			if i+1 < len(text) && text[i+1] != '\n' {
				i++
			}
		default:
			begin(i)
		}
	}
	finish(len(text))
	return out
}

// fileReader reads one file: the main one or an $INCLUDEd one.
type fileReader struct {
	*masterReader
	file    string
	text    []byte // the file, for columns of errors
	masked  []byte // the file with $INCLUDE and $GENERATE blanked: those are read here, not by miekg
	entries []entry
	st      state
	depth   int

	zp       *dns.ZoneParser
	lineBase int // add to miekg's line numbers
}

func (r *masterReader) read(file string, text []byte, st state, depth int) {
	f := &fileReader{masterReader: r, file: file, text: text, masked: text, entries: scan(text), st: st, depth: depth}
	// $ORIGIN and $TTL are checked here, in order, so that a bad one is
	// reported once and the parser, which reads ahead, never meets it:
	// when a parser restarts it is told the origin and TTL instead.
	// $INCLUDE and $GENERATE are read by this package, not by miekg.
	origin := st.origin
	for i := range f.entries {
		e := &f.entries[i]
		switch e.directive {
		case "$ORIGIN", "$TTL":
			tail := "\n@ 0 IN TYPE65534 \\# 0\n"
			if e.directive == "$TTL" {
				tail = "\n. IN TYPE65534 \\# 0\n"
			}
			rr, err := f.probe(origin, string(text[e.start:e.end])+tail)
			if err != nil {
				f.report(err, e.line-1, i)
				e.bad = true
				f.blank(e)
				continue
			}
			e.origin, e.ttl = rr.Header().Name, rr.Header().Ttl
			if e.directive == "$ORIGIN" {
				origin = e.origin
			}
		case "$INCLUDE", "$GENERATE":
			f.blank(e)
		}
	}
	f.run()
}

// blank hides an entry from miekg's parser, keeping the lines.
func (f *fileReader) blank(e *entry) {
	if &f.masked[0] == &f.text[0] {
		f.masked = bytes.Clone(f.text)
	}
	for j := e.start; j < e.end; j++ {
		if f.masked[j] != '\n' {
			f.masked[j] = ' '
		}
	}
}

// run walks the entries, taking one record from miekg's parser for each
// record entry. On a syntax error it reports it and restarts the parser
// after the broken entry, telling it the origin, TTL and owner it had.
func (f *fileReader) run() {
	f.restart(0, false)
	lost := -1 // entries up to this index failed; their records are gone
	restart := false
	for i := 0; i < len(f.entries) && !f.stop && !f.errs.Full(); i++ {
		e := &f.entries[i]
		switch e.directive {
		case "$ORIGIN", "$TTL":
			f.directive(e)
			continue
		case "$INCLUDE":
			f.include(e)
			continue
		case "$GENERATE":
			f.generate(e)
			continue
		}
		if i <= lost {
			f.inherit(e)
			continue
		}
		if restart {
			f.restart(i, e.blankOwner)
			restart = false
		}
		rr, ok := f.zp.Next()
		if ok && rr.Header().Name == "" {
			// miekg gives a record that leaves its owner out, with no
			// owner before it, an empty one.
			f.errs.Add(f.pos(e.line, e.col).Errorf("the owner name is left out and there is no earlier one to repeat"))
			continue
		}
		if ok {
			f.add(rr, f.pos(e.line, e.col))
			f.st.owner = rr.Header().Name
			if !f.st.byDirective {
				f.st.ttl, f.st.ttlSet = rr.Header().Ttl, true
			}
			continue
		}
		err := f.zp.Err()
		if err == nil {
			// miekg saw no record where the scan saw one: go on with a
			// new parser rather than give later records wrong lines.
			restart = true
			continue
		}
		at := f.report(err, f.lineBase, len(f.entries))
		restart = true
		if at < i {
			// The error is in a directive before this record, which miekg
			// had not read yet: read this record again.
			i--
			continue
		}
		lost = at
		f.inherit(e)
	}
}

// restart starts miekg's parser at entry i (0: the start of the file),
// after lines that re-establish the default TTL and, when the record
// there leaves its owner out, the owner it inherits.
func (f *fileReader) restart(i int, needOwner bool) {
	var prefix strings.Builder
	synthetic := false
	if f.st.byDirective {
		prefix.WriteString("$TTL " + strconv.FormatUint(uint64(f.st.ttl), 10) + "\n")
	}
	if needOwner && f.st.owner != "" {
		// A record of a private type carries the owner (and the implicit
		// TTL) across; it is read and dropped below.
		prefix.WriteString(f.st.owner)
		if f.st.ttlSet && !f.st.byDirective {
			prefix.WriteString(" " + strconv.FormatUint(uint64(f.st.ttl), 10))
		} else if !f.st.ttlSet {
			prefix.WriteString(" 0")
		}
		prefix.WriteString(" IN TYPE65534 \\# 0\n")
		synthetic = true
	}
	start, line := 0, 1
	if i > 0 {
		start, line = f.entries[i].lineStart, f.entries[i].line
	}
	p := prefix.String()
	f.lineBase = line - 1 - strings.Count(p, "\n")
	f.zp = dns.NewZoneParser(io.MultiReader(strings.NewReader(p), bytes.NewReader(f.masked[start:])), f.st.origin, f.file)
	f.zp.SetIncludeAllowed(false)
	if f.st.ttlSet && !f.st.byDirective {
		f.zp.SetDefaultTTL(f.st.ttl)
	}
	if synthetic {
		f.zp.Next()
	}
}

// report reports a miekg error; lineBase turns its line into one of the
// file, and at is the entry it belongs to when the line says nothing (-1
// or len(entries): look it up). It returns the entry the error is in.
func (f *fileReader) report(err error, lineBase, at int) int {
	_, problem, token, line, col, ok := split(err)
	if !ok {
		f.errs.Add(srcpos.Pos{File: f.file}.Errorf("%v", err))
		return len(f.entries)
	}
	line += lineBase
	if at < 0 || at >= len(f.entries) {
		at = f.entryAt(line)
	}
	if at < 0 || line < 1 {
		line, col, at = 1, 0, 0
	}
	if e := &f.entries[at]; line > e.line+bytes.Count(f.text[e.start:e.end], []byte("\n")) {
		// Past the entry's end: in the lines a probe adds to it.
		line, col = e.line, 0
	}
	if lexerErrors[token] {
		problem, token = token, ""
	}
	f.errs.Add(f.pos(line, f.tokenColumn(at, line, col, token)).Errorf("%s", message(problem, token)))
	return at
}

// lexerErrors are the errors of miekg's lexer, which come as the token
// of a parser error.
var lexerErrors = map[string]bool{
	"unbalanced brace": true, "extra closing brace": true, "unknown RR type": true,
	"unknown class": true, "comment length insufficient for parsing": true,
}

// tokenColumn moves miekg's column, which points at the end of a token or
// just after it, to the token's first byte, when the token is there.
func (f *fileReader) tokenColumn(at, line, col int, token string) int {
	if at < 0 || at >= len(f.entries) {
		return col
	}
	e := &f.entries[at]
	off := e.lineStart
	for l := e.line; l < line; l++ {
		nl := bytes.IndexByte(f.text[off:], '\n')
		if nl < 0 {
			return col
		}
		off += nl + 1
	}
	end := len(f.text)
	if nl := bytes.IndexByte(f.text[off:], '\n'); nl >= 0 {
		end = off + nl
	}
	return tokenStart(string(f.text[off:end]), col, token)
}

// entryAt returns the index of the entry that line is in: the last one
// starting at or before it.
func (f *fileReader) entryAt(line int) int {
	at := -1
	for i := range f.entries {
		if f.entries[i].line > line {
			break
		}
		at = i
	}
	return at
}

func (f *fileReader) pos(line, col int) srcpos.Pos {
	return srcpos.Pos{File: f.file, Line: line, Column: col}
}

func (f *fileReader) add(rr dns.RR, pos srcpos.Pos) {
	if f.opts.MaxRecords > 0 && len(f.recs) >= f.opts.MaxRecords {
		f.errs.Add(pos.Errorf("more than %d records", f.opts.MaxRecords))
		f.stop = true
		return
	}
	f.recs = append(f.recs, Record{RR: rr, Pos: pos})
}

// probe reads a few lines with origin and the current default TTL and
// returns the first record: how miekg understands a directive or an owner.
func (f *fileReader) probe(origin, text string) (dns.RR, error) {
	zp := dns.NewZoneParser(strings.NewReader(text), origin, f.file)
	zp.SetIncludeAllowed(false)
	if f.st.ttlSet {
		zp.SetDefaultTTL(f.st.ttl)
	}
	rr, ok := zp.Next()
	if err := zp.Err(); err != nil {
		return nil, err
	}
	if !ok || rr == nil {
		return nil, errors.New("no record")
	}
	return rr, nil
}

// fields returns the words of an entry after its first, up to a comment.
func (f *fileReader) fields(e *entry) []string {
	text := string(f.text[e.start:e.end])
	if i := strings.IndexByte(text, ';'); i >= 0 {
		text = text[:i]
	}
	return strings.Fields(text)[1:]
}

// directive follows $ORIGIN and $TTL in the state a restarted parser is
// given.
func (f *fileReader) directive(e *entry) {
	switch {
	case e.bad:
	case e.directive == "$ORIGIN":
		f.st.origin = e.origin
	default:
		f.st.ttl, f.st.ttlSet, f.st.byDirective = e.ttl, true, true
	}
}

// inherit notes the owner of a record entry that failed, which the next
// record inherits if it leaves its owner out.
func (f *fileReader) inherit(e *entry) {
	if e.blankOwner {
		return
	}
	text := string(f.text[e.start:e.end])
	end := strings.IndexAny(text, " \t\r\n;(\"")
	if end < 0 {
		end = len(text)
	}
	if rr, err := f.probe(f.st.origin, text[:end]+" 0 IN TYPE65534 \\# 0\n"); err == nil {
		f.st.owner = rr.Header().Name
	}
}

func (f *fileReader) refused(e *entry) bool {
	allowed := f.opts.Include
	if e.directive == "$GENERATE" {
		allowed = f.opts.Generate
	}
	if !allowed {
		f.errs.Add(f.pos(e.line, e.col).Errorf("%s is not allowed in %s", e.directive, f.opts.What))
	}
	return !allowed
}

// generate expands a $GENERATE line with a parser of its own.
func (f *fileReader) generate(e *entry) {
	if f.refused(e) {
		return
	}
	var prefix string
	if f.st.byDirective {
		prefix = "$TTL " + strconv.FormatUint(uint64(f.st.ttl), 10) + "\n"
	}
	zp := dns.NewZoneParser(strings.NewReader(prefix+string(f.text[e.start:e.end])+"\n"), f.st.origin, f.file)
	zp.SetIncludeAllowed(false)
	if f.st.ttlSet && !f.st.byDirective {
		zp.SetDefaultTTL(f.st.ttl)
	}
	pos := f.pos(e.line, e.col)
	for rr, ok := zp.Next(); ok && !f.stop; rr, ok = zp.Next() {
		f.add(rr, pos)
	}
	if err := zp.Err(); err != nil {
		_, problem, token, _, _, _ := split(err)
		f.errs.Add(pos.Errorf("%s", message(problem, token)))
	}
}

// include reads an $INCLUDEd file with the origin (its own, if the
// directive names one) and default TTL of this point; as in miekg, what
// it sets does not come back.
func (f *fileReader) include(e *entry) {
	if f.refused(e) {
		return
	}
	pos := f.pos(e.line, e.col)
	args := f.fields(e)
	if len(args) == 0 || len(args) > 2 {
		f.errs.Add(pos.Errorf("$INCLUDE wants a file name and optionally an origin"))
		return
	}
	if f.depth+1 >= maxIncludeDepth {
		f.errs.Add(pos.Errorf("$INCLUDE nested more than %d deep", maxIncludeDepth))
		return
	}
	st := f.st
	st.owner = ""
	if len(args) == 2 {
		rr, err := f.probe(f.st.origin, "$ORIGIN "+args[1]+"\n@ 0 IN TYPE65534 \\# 0\n")
		if err != nil {
			f.errs.Add(pos.Errorf("$INCLUDE: bad origin %q", args[1]))
			return
		}
		st.origin = rr.Header().Name
	}
	path := args[0]
	if !filepath.IsAbs(path) {
		path = filepath.Join(filepath.Dir(f.file), path)
	}
	text, err := os.ReadFile(path)
	if err != nil {
		f.errs.Add(pos.Errorf("$INCLUDE: %w", err))
		return
	}
	f.masterReader.read(path, text, st, f.depth+1)
}
