package config

import (
	"errors"
	"fmt"
	"net/netip"
	"os"
	"reflect"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// Error is a configuration problem at a place in a file. Line and Column are
// 1-based; zero means unknown.
type Error struct {
	File   string
	Line   int
	Column int
	Msg    string
}

func (e *Error) Error() string {
	var b strings.Builder
	if e.File != "" {
		b.WriteString(e.File)
		b.WriteByte(':')
	}
	if e.Line > 0 {
		b.WriteString(strconv.Itoa(e.Line))
		b.WriteByte(':')
		if e.Column > 0 {
			b.WriteString(strconv.Itoa(e.Column))
			b.WriteByte(':')
		}
	}
	if b.Len() > 0 {
		b.WriteByte(' ')
	}
	b.WriteString(e.Msg)
	return b.String()
}

// Errorf returns an *Error positioned at node n.
func Errorf(n *yaml.Node, format string, args ...any) error {
	e := &Error{Msg: fmt.Sprintf(format, args...)}
	if n != nil {
		e.Line, e.Column = n.Line, n.Column
	}
	return e
}

// Pos records where a value was written, so that validation that runs after
// decoding can still point at the line.
type Pos struct {
	Line, Column int
}

// Errorf returns an *Error at p.
func (p Pos) Errorf(format string, args ...any) error {
	return &Error{Line: p.Line, Column: p.Column, Msg: fmt.Sprintf(format, args...)}
}

// PosOf returns the position of n.
func PosOf(n *yaml.Node) Pos { return Pos{Line: n.Line, Column: n.Column} }

// LoadFile reads the YAML file at path into v (a pointer to a struct) strictly.
// If v has a method Validate() error, it runs after decoding. Every error is
// an *Error naming path.
func LoadFile(path string, v any) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	return Decode(path, data, v)
}

// Decode is LoadFile on bytes; name is used in errors.
func Decode(name string, data []byte, v any) error {
	err := decode(data, v)
	if err == nil {
		if val, ok := v.(interface{ Validate() error }); ok {
			err = val.Validate()
		}
	}
	if err == nil {
		return nil
	}
	var ce *Error
	if errors.As(err, &ce) {
		if ce.File == "" {
			ce.File = name
		}
		return ce
	}
	return &Error{File: name, Msg: err.Error()}
}

var yamlLineRE = regexp.MustCompile(`line (\d+): (.*)`)

func decode(data []byte, v any) error {
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return fromYAMLError(err)
	}
	if doc.Kind == 0 { // empty file
		return nil
	}
	root := &doc
	if root.Kind == yaml.DocumentNode && len(root.Content) == 1 {
		root = root.Content[0]
	}
	if err := checkKeys(root, reflect.TypeOf(v), ""); err != nil {
		return err
	}
	if err := root.Decode(v); err != nil {
		return fromYAMLError(err)
	}
	return nil
}

// fromYAMLError turns yaml.v3's "line N: ..." messages into *Error values.
func fromYAMLError(err error) error {
	var ce *Error
	if errors.As(err, &ce) {
		return ce
	}
	msg := err.Error()
	msg = strings.TrimPrefix(msg, "yaml: ")
	msg = strings.TrimPrefix(msg, "unmarshal errors:\n")
	msg = strings.TrimSpace(strings.SplitN(msg, "\n", 2)[0])
	if m := yamlLineRE.FindStringSubmatch(msg); m != nil {
		line, _ := strconv.Atoi(m[1])
		return &Error{Line: line, Msg: m[2]}
	}
	return &Error{Msg: msg}
}

var unmarshalerType = reflect.TypeOf((*yaml.Unmarshaler)(nil)).Elem()

// checkKeys walks the node tree beside the Go type and reports the first
// mapping key that the type does not declare. yaml.v3 can only do this on a
// Decoder over a whole stream, and then without the key's column, so we do it
// ourselves.
func checkKeys(n *yaml.Node, t reflect.Type, path string) error {
	for t.Kind() == reflect.Pointer {
		if reflect.PointerTo(t.Elem()).Implements(unmarshalerType) && t.Elem().Kind() != reflect.Struct {
			return nil
		}
		t = t.Elem()
	}
	if n.Kind == yaml.AliasNode {
		return Errorf(n, "aliases are not allowed in configuration")
	}
	switch t.Kind() {
	case reflect.Struct:
		if n.Kind != yaml.MappingNode {
			if reflect.PointerTo(t).Implements(unmarshalerType) {
				return nil
			}
			return Errorf(n, "%s: expected a mapping, found %s", pathOr(path), kindName(n))
		}
		fields := map[string]reflect.StructField{}
		collectFields(t, fields)
		seen := map[string]bool{}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, val := n.Content[i], n.Content[i+1]
			f, ok := fields[k.Value]
			if !ok {
				names := make([]string, 0, len(fields))
				for name := range fields {
					names = append(names, name)
				}
				sort.Strings(names)
				return Errorf(k, "unknown key %q in %s (known keys: %s)", k.Value, pathOr(path), strings.Join(names, ", "))
			}
			if seen[k.Value] {
				return Errorf(k, "duplicate key %q in %s", k.Value, pathOr(path))
			}
			seen[k.Value] = true
			if err := checkKeys(val, f.Type, join(path, k.Value)); err != nil {
				return err
			}
		}
	case reflect.Slice, reflect.Array:
		if n.Kind == yaml.SequenceNode {
			for i, c := range n.Content {
				if err := checkKeys(c, t.Elem(), fmt.Sprintf("%s[%d]", pathOr(path), i)); err != nil {
					return err
				}
			}
		}
	case reflect.Map:
		if n.Kind == yaml.MappingNode {
			for i := 0; i+1 < len(n.Content); i += 2 {
				if err := checkKeys(n.Content[i+1], t.Elem(), join(path, n.Content[i].Value)); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

func collectFields(t reflect.Type, out map[string]reflect.StructField) {
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		tag := f.Tag.Get("yaml")
		if tag == "-" || (!f.IsExported() && !f.Anonymous) {
			continue
		}
		name, opts, _ := strings.Cut(tag, ",")
		if strings.Contains(opts, "inline") {
			ft := f.Type
			for ft.Kind() == reflect.Pointer {
				ft = ft.Elem()
			}
			collectFields(ft, out)
			continue
		}
		if name == "" {
			name = strings.ToLower(f.Name)
		}
		out[name] = f
	}
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

func pathOr(p string) string {
	if p == "" {
		return "the top level"
	}
	return p
}

func kindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.SequenceNode:
		return "a list"
	case yaml.MappingNode:
		return "a mapping"
	case yaml.ScalarNode:
		return fmt.Sprintf("%q", n.Value)
	}
	return "nothing"
}

// Prefix is a netip.Prefix that decodes from YAML with its position.
type Prefix struct {
	netip.Prefix
	Pos Pos
}

// UnmarshalYAML implements yaml.Unmarshaler.
func (p *Prefix) UnmarshalYAML(n *yaml.Node) error {
	p.Pos = PosOf(n)
	if n.Kind != yaml.ScalarNode {
		return Errorf(n, "expected an address prefix such as 10.0.0.0/24, found %s", kindName(n))
	}
	v, err := netip.ParsePrefix(n.Value)
	if err != nil {
		return Errorf(n, "invalid prefix %q: expected an address prefix such as 10.0.0.0/24", n.Value)
	}
	p.Prefix = v
	return nil
}

// Addr is a netip.Addr that decodes from YAML with its position.
type Addr struct {
	netip.Addr
	Pos Pos
}

// UnmarshalYAML implements yaml.Unmarshaler.
func (a *Addr) UnmarshalYAML(n *yaml.Node) error {
	a.Pos = PosOf(n)
	if n.Kind != yaml.ScalarNode {
		return Errorf(n, "expected an IP address, found %s", kindName(n))
	}
	v, err := netip.ParseAddr(n.Value)
	if err != nil {
		return Errorf(n, "invalid IP address %q", n.Value)
	}
	a.Addr = v
	return nil
}

// AddrPort is a netip.AddrPort that decodes from YAML with its position.
type AddrPort struct {
	netip.AddrPort
	Pos Pos
}

// UnmarshalYAML implements yaml.Unmarshaler.
func (a *AddrPort) UnmarshalYAML(n *yaml.Node) error {
	a.Pos = PosOf(n)
	if n.Kind != yaml.ScalarNode {
		return Errorf(n, "expected ADDRESS:PORT, found %s", kindName(n))
	}
	v, err := netip.ParseAddrPort(n.Value)
	if err != nil {
		return Errorf(n, "invalid address and port %q: expected 192.0.2.1:53 or [2001:db8::1]:53", n.Value)
	}
	a.AddrPort = v
	return nil
}
