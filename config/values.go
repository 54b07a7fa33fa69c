package config

import (
	"net/netip"
	"reflect"
	"strconv"

	"github.com/rampart-fw/rampart/srcpos"
	"gopkg.in/yaml.v3"
)

// Source says where a configuration value came from, so that validation,
// which runs after the file is decoded and the command line applied, can
// point at it: the place in the file and the key, or the flag. A struct
// field of type Source tagged `yaml:"-"` is set to where the struct itself
// is written, for errors about the struct as a whole (a required key that
// is missing).
type Source struct {
	// Pos is where the file sets the value; zero when it did not.
	Pos srcpos.Pos
	// Key is the value's key in the file, dotted from its section:
	// resolver.cache_size, authoritative.zones[1].file.
	Key string
	// Flag is the command-line flag that set the value, with its dashes
	// (--cache-size); a flag overrides the file.
	Flag string
}

// IsSet reports whether the file or a flag set the value.
func (s Source) IsSet() bool { return s.Flag != "" || s.Pos.IsValid() }

// String names the value's source for a message about another value:
// "--flag", "key (file:line:col)", or "" for a default.
func (s Source) String() string {
	switch {
	case s.Flag != "":
		return s.Flag
	case s.Pos.IsValid():
		return s.Key + " (" + s.Pos.String() + ")"
	}
	return s.Key
}

// Errorf returns an error about the value: "--flag: message" when a flag
// set it, "file:line:col: key: message" when the file did, and the message
// alone for a default. A %w verb wraps its operand.
func (s Source) Errorf(format string, args ...any) *srcpos.Error {
	switch {
	case s.Flag != "":
		return srcpos.Pos{}.Errorf("%s: "+format, append([]any{s.Flag}, args...)...)
	case s.Key != "":
		return s.Pos.Errorf("%s: "+format, append([]any{s.Key}, args...)...)
	}
	return srcpos.Pos{}.Errorf(format, args...)
}

// Value is a configuration value of type T with where it came from.
// Configuration structs use it for every value that validation checks
// after decoding, so that an error names the file, line, column and key,
// or the flag. A key written without a value ("key:" or "key: ~") leaves
// it unset.
type Value[T any] struct {
	V   T
	Src Source
}

// FromFlag is v as set by the command-line flag named flag (with its
// dashes).
func FromFlag[T any](v T, flag string) Value[T] {
	return Value[T]{V: v, Src: Source{Flag: flag}}
}

// IsSet reports whether the file or a flag set v.
func (v Value[T]) IsSet() bool { return v.Src.IsSet() }

// Or returns v's value when it is set and def otherwise.
func (v Value[T]) Or(def T) T {
	if v.IsSet() {
		return v.V
	}
	return def
}

// Errorf returns an error about v; see Source.Errorf.
func (v Value[T]) Errorf(format string, args ...any) *srcpos.Error {
	return v.Src.Errorf(format, args...)
}

func (v *Value[T]) decodeNode(d *decoder, n *yaml.Node, key string) {
	if isNull(n) {
		return
	}
	before := len(d.errs)
	d.decode(n, reflect.ValueOf(&v.V).Elem(), key)
	if len(d.errs) == before {
		v.Src = Source{Pos: d.pos(n), Key: key}
	}
}

// UnmarshalYAML implements yaml.Unmarshaler, for a Value inside a type
// that decodes itself; Decode gives it its key and file as well.
func (v *Value[T]) UnmarshalYAML(n *yaml.Node) error {
	if isNull(n) {
		return nil
	}
	if err := n.Decode(&v.V); err != nil {
		return err
	}
	v.Src = Source{Pos: PosOf(n)}
	return nil
}

// Prefix is a netip.Prefix that decodes from YAML with its position.
type Prefix struct {
	netip.Prefix
	Pos srcpos.Pos
}

// Addr is a netip.Addr that decodes from YAML with its position.
type Addr struct {
	netip.Addr
	Pos srcpos.Pos
}

// AddrPort is a netip.AddrPort that decodes from YAML with its position.
type AddrPort struct {
	netip.AddrPort
	Pos srcpos.Pos
}

// netValue is implemented by Prefix, Addr and AddrPort: parse stores
// the position and the value of n, or returns what is wrong with it.
type netValue interface {
	parse(n *yaml.Node, pos srcpos.Pos) string
}

// parseNode parses a scalar node with parse; on failure it returns the
// message naming what was expected.
func parseNode[T any](n *yaml.Node, parse func(string) (T, error), expected, invalid string) (T, string) {
	var zero T
	if n.Kind != yaml.ScalarNode {
		return zero, "expected " + expected + ", found " + kindName(n)
	}
	v, err := parse(n.Value)
	if err != nil {
		return zero, invalid
	}
	return v, ""
}

func (p *Prefix) parse(n *yaml.Node, pos srcpos.Pos) (msg string) {
	p.Pos = pos
	p.Prefix, msg = parseNode(n, netip.ParsePrefix, "an address prefix such as 10.0.0.0/24",
		"invalid prefix "+strconv.Quote(n.Value)+": expected an address prefix such as 10.0.0.0/24")
	return msg
}

func (a *Addr) parse(n *yaml.Node, pos srcpos.Pos) (msg string) {
	a.Pos = pos
	a.Addr, msg = parseNode(n, netip.ParseAddr, "an IP address", "invalid IP address "+strconv.Quote(n.Value))
	return msg
}

func (a *AddrPort) parse(n *yaml.Node, pos srcpos.Pos) (msg string) {
	a.Pos = pos
	a.AddrPort, msg = parseNode(n, netip.ParseAddrPort, "ADDRESS:PORT",
		"invalid address and port "+strconv.Quote(n.Value)+": expected 192.0.2.1:53 or [2001:db8::1]:53")
	return msg
}

// UnmarshalYAML implements yaml.Unmarshaler, for a Prefix inside a type
// that decodes itself.
func (p *Prefix) UnmarshalYAML(n *yaml.Node) error { return unmarshalNet(n, p) }

// UnmarshalYAML implements yaml.Unmarshaler.
func (a *Addr) UnmarshalYAML(n *yaml.Node) error { return unmarshalNet(n, a) }

// UnmarshalYAML implements yaml.Unmarshaler.
func (a *AddrPort) UnmarshalYAML(n *yaml.Node) error { return unmarshalNet(n, a) }

func unmarshalNet(n *yaml.Node, v netValue) error {
	if msg := v.parse(n, PosOf(n)); msg != "" {
		return PosOf(n).Errorf("%s", msg)
	}
	return nil
}
