package config

import (
	"errors"
	"fmt"
	"os"
	"reflect"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"github.com/rampart-fw/rampart/srcpos"
	"gopkg.in/yaml.v3"
)

// LoadFile reads the YAML file at path into v (a pointer to a struct) strictly.
// If v has a method Validate() error, it runs after decoding. Every error in
// the file is reported, as a srcpos.List whose entries name path; a file
// that cannot be read gives the error of os.ReadFile.
func LoadFile(path string, v any) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	return Decode(path, data, v)
}

// Decode is LoadFile on bytes; name is used in errors. On failure, the
// values that decoded are in v and the others keep their zero values (a
// Value stays unset), so that a caller may go on to check them.
func Decode(name string, data []byte, v any) error {
	d := &decoder{file: name}
	d.document(data, v)
	if len(d.errs) == 0 {
		if val, ok := v.(interface{ Validate() error }); ok {
			d.errs.Add(val.Validate())
		}
	}
	for _, e := range d.errs {
		if e.Pos.File == "" {
			e.Pos.File = name
		}
	}
	d.errs.Sort()
	return d.errs.Err()
}

// PosOf returns the position of n; the file is left for Decode to fill in.
func PosOf(n *yaml.Node) srcpos.Pos { return srcpos.Pos{Line: n.Line, Column: n.Column} }

// decoder decodes a node tree into a Go value beside its type, collecting
// every error with the key it concerns. yaml.v3 stops at the first unknown
// key, only on a Decoder over a whole stream, and then without the key's
// column, and its type errors read "cannot unmarshal !!seq into string";
// so rampart decodes the node tree itself.
type decoder struct {
	file string
	errs srcpos.List
}

func (d *decoder) pos(n *yaml.Node) srcpos.Pos {
	return srcpos.Pos{File: d.file, Line: n.Line, Column: n.Column}
}

// errorf records an error at n about the value of key ("" for the top
// level): "file:line:col: key: message".
func (d *decoder) errorf(n *yaml.Node, key, format string, args ...any) {
	if key != "" {
		format, args = "%s: "+format, append([]any{key}, args...)
	}
	d.errs.Add(d.pos(n).Errorf(format, args...))
}

var yamlLineRE = regexp.MustCompile(`line (\d+): (.*)`)

// yamlParserProblems are the messages of yaml.v3's parser, as opposed to
// its scanner.
var yamlParserProblems = map[string]bool{
	"did not find expected ',' or ']'":       true,
	"did not find expected ',' or '}'":       true,
	"did not find expected '-' indicator":    true,
	"did not find expected <document start>": true,
	"did not find expected <stream-start>":   true,
	"did not find expected key":              true,
	"did not find expected node content":     true,
	"found duplicate %TAG directive":         true,
	"found duplicate %YAML directive":        true,
	"found incompatible YAML document":       true,
	"found undefined tag handle":             true,
}

func (d *decoder) document(data []byte, v any) {
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		// A syntax error: yaml.v3 says "yaml: line N: ..." without a column.
		msg := strings.TrimPrefix(err.Error(), "yaml: ")
		msg = strings.TrimSpace(strings.SplitN(msg, "\n", 2)[0])
		p := srcpos.Pos{File: d.file}
		if m := yamlLineRE.FindStringSubmatch(msg); m != nil {
			p.Line, _ = strconv.Atoi(m[1])
			msg = m[2]
			if yamlParserProblems[msg] {
				// yaml.v3 counts the lines of its parser's errors from 0
				// (those of its scanner from 1).
				p.Line++
			}
		}
		d.errs.Add(p.Errorf("%s", msg))
		return
	}
	if doc.Kind == 0 { // empty file, or only comments
		return
	}
	root := &doc
	if root.Kind == yaml.DocumentNode && len(root.Content) == 1 {
		root = root.Content[0]
	}
	rv := reflect.ValueOf(v)
	if rv.Kind() != reflect.Pointer || rv.IsNil() {
		panic("config: Decode needs a non-nil pointer, not " + rv.Type().String())
	}
	d.decode(root, rv.Elem(), "")
}

var sourceType = reflect.TypeOf(Source{})

var unmarshalerType = reflect.TypeOf((*yaml.Unmarshaler)(nil)).Elem()

// nodeDecoder is implemented by this package's value types, which keep
// the position and the key they were written at.
type nodeDecoder interface {
	decodeNode(d *decoder, n *yaml.Node, key string)
}

// decode stores n into rv (addressable), the value of key.
func (d *decoder) decode(n *yaml.Node, rv reflect.Value, key string) {
	if n.Kind == yaml.AliasNode {
		d.errorf(n, "", "aliases are not allowed in configuration")
		return
	}
	switch v := rv.Addr().Interface().(type) {
	case nodeDecoder:
		v.decodeNode(d, n, key)
		return
	case netValue:
		if msg := v.parse(n, d.pos(n)); msg != "" {
			d.errorf(n, key, "%s", msg)
		}
		return
	}
	if isNull(n) {
		return // "key:" or "key: ~" leaves the zero value
	}
	if u, ok := rv.Addr().Interface().(yaml.Unmarshaler); ok {
		// A type of another package that decodes itself (the lab's hosts
		// record their position). Its fields are checked here first, so
		// that their errors read as every other error does.
		before := len(d.errs)
		if rv.Kind() == reflect.Struct {
			d.decodeStruct(n, rv, key)
		}
		if len(d.errs) == before {
			if err := u.UnmarshalYAML(n); err != nil {
				d.unmarshalerError(n, key, err)
			}
		}
		return
	}
	switch rv.Kind() {
	case reflect.Pointer:
		p := reflect.New(rv.Type().Elem())
		d.decode(n, p.Elem(), key)
		rv.Set(p)
	case reflect.Struct:
		d.decodeStruct(n, rv, key)
	case reflect.Slice:
		if n.Kind != yaml.SequenceNode {
			d.errorf(n, key, "expected a list, found %s", kindName(n))
			return
		}
		s := reflect.MakeSlice(rv.Type(), len(n.Content), len(n.Content))
		for i, c := range n.Content {
			d.decode(c, s.Index(i), fmt.Sprintf("%s[%d]", key, i))
		}
		rv.Set(s)
	case reflect.Map:
		if n.Kind != yaml.MappingNode {
			d.errorf(n, key, "expected a mapping, found %s", kindName(n))
			return
		}
		if rv.Type().Key().Kind() != reflect.String {
			panic("config: map keys must be strings, not " + rv.Type().Key().String())
		}
		m := reflect.MakeMapWithSize(rv.Type(), len(n.Content)/2)
		seen := map[string]bool{}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, val := n.Content[i], n.Content[i+1]
			if seen[k.Value] {
				d.errorf(k, "", "duplicate key %q in %s", k.Value, pathOr(key))
				continue
			}
			seen[k.Value] = true
			e := reflect.New(rv.Type().Elem()).Elem()
			d.decode(val, e, join(key, k.Value))
			m.SetMapIndex(reflect.ValueOf(k.Value).Convert(rv.Type().Key()), e)
		}
		rv.Set(m)
	default:
		d.decodeScalar(n, rv, key)
	}
}

func (d *decoder) decodeStruct(n *yaml.Node, rv reflect.Value, key string) {
	if n.Kind != yaml.MappingNode {
		d.errorf(n, "", "%s: expected a mapping, found %s", pathOr(key), kindName(n))
		return
	}
	for i := 0; i < rv.NumField(); i++ {
		if f := rv.Type().Field(i); f.Type == sourceType && f.Tag.Get("yaml") == "-" {
			rv.Field(i).Set(reflect.ValueOf(Source{Pos: d.pos(n), Key: key}))
		}
	}
	fields := map[string][]int{}
	collectFields(rv.Type(), nil, fields)
	seen := map[string]bool{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, val := n.Content[i], n.Content[i+1]
		index, ok := fields[k.Value]
		if !ok {
			names := make([]string, 0, len(fields))
			for name := range fields {
				names = append(names, name)
			}
			sort.Strings(names)
			d.errorf(k, "", "unknown key %q in %s (known keys: %s)", k.Value, pathOr(key), strings.Join(names, ", "))
			continue
		}
		if seen[k.Value] {
			d.errorf(k, "", "duplicate key %q in %s", k.Value, pathOr(key))
			continue
		}
		seen[k.Value] = true
		d.decode(val, fieldByIndex(rv, index), join(key, k.Value))
	}
}

// fieldByIndex is reflect.Value.FieldByIndex, allocating the pointers to
// inlined structs on the way.
func fieldByIndex(rv reflect.Value, index []int) reflect.Value {
	for i, x := range index {
		if i > 0 && rv.Kind() == reflect.Pointer {
			if rv.IsNil() {
				rv.Set(reflect.New(rv.Type().Elem()))
			}
			rv = rv.Elem()
		}
		rv = rv.Field(x)
	}
	return rv
}

// decodeScalar stores a string, bool or number, with a message that says
// what was expected and what was found.
func (d *decoder) decodeScalar(n *yaml.Node, rv reflect.Value, key string) {
	t := rv.Type()
	var what string
	switch t.Kind() {
	case reflect.String:
		what = "a string"
	case reflect.Bool:
		what = "true or false"
	case reflect.Int, reflect.Int64:
		what = "an integer"
	case reflect.Int8, reflect.Int16, reflect.Int32:
		bits := t.Bits()
		what = fmt.Sprintf("an integer from %d to %d", int64(-1)<<(bits-1), int64(1)<<(bits-1)-1)
	case reflect.Uint, reflect.Uint64, reflect.Uintptr:
		what = "a non-negative integer"
	case reflect.Uint8, reflect.Uint16, reflect.Uint32:
		what = fmt.Sprintf("an integer from 0 to %d", uint64(1)<<t.Bits()-1)
	case reflect.Float32, reflect.Float64:
		what = "a number"
	default:
		panic("config: cannot decode into " + t.String())
	}
	if n.Kind != yaml.ScalarNode {
		d.errorf(n, key, "expected %s, found %s", what, kindName(n))
		return
	}
	bad := func() { d.errorf(n, key, "expected %s, found %q", what, n.Value) }
	switch t.Kind() {
	case reflect.String:
		rv.SetString(n.Value)
	case reflect.Bool:
		var b bool
		if n.Decode(&b) != nil {
			bad()
			return
		}
		rv.SetBool(b)
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		var x int64
		if n.Decode(&x) != nil || rv.OverflowInt(x) {
			bad()
			return
		}
		rv.SetInt(x)
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		var x uint64
		if n.Decode(&x) != nil || rv.OverflowUint(x) {
			bad()
			return
		}
		rv.SetUint(x)
	case reflect.Float32, reflect.Float64:
		var x float64
		if n.Decode(&x) != nil || rv.OverflowFloat(x) {
			bad()
			return
		}
		rv.SetFloat(x)
	}
}

// unmarshalerError positions an error from a yaml.Unmarshaler of another
// package: its own position when it has one, else n's.
func (d *decoder) unmarshalerError(n *yaml.Node, key string, err error) {
	var pe *srcpos.Error
	if errors.As(err, &pe) && pe.Pos.IsValid() {
		d.errs.Add(err)
		return
	}
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	msg = strings.TrimPrefix(msg, "unmarshal errors:\n")
	msg = strings.TrimSpace(msg)
	if m := yamlLineRE.FindStringSubmatch(msg); m != nil {
		msg = m[2]
	}
	d.errorf(n, key, "%s", msg)
}

func isNull(n *yaml.Node) bool {
	return n.Kind == yaml.ScalarNode && n.Tag == "!!null"
}

// collectFields maps the keys of struct type t to their field indexes;
// fields tagged ",inline" contribute their own keys.
func collectFields(t reflect.Type, prefix []int, out map[string][]int) {
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		tag := f.Tag.Get("yaml")
		if tag == "-" || (!f.IsExported() && !f.Anonymous) {
			continue
		}
		index := append(append([]int{}, prefix...), i)
		name, opts, _ := strings.Cut(tag, ",")
		if strings.Contains(opts, "inline") {
			ft := f.Type
			for ft.Kind() == reflect.Pointer {
				ft = ft.Elem()
			}
			collectFields(ft, index, out)
			continue
		}
		if name == "" {
			name = strings.ToLower(f.Name)
		}
		out[name] = index
	}
}

// Keys lists the keys of the configuration struct type t, dotted: a nested
// struct's keys follow its own and a dot (lab.topology); a list of structs
// is listed itself (authoritative.zones) and so are the keys of its
// elements, after "[]" (authoritative.zones[].file). Value types of this
// package and types that decode themselves are leaves. The documentation test of
// cmd/rampart compares this list with docs/configuration.md.
func Keys(t reflect.Type) []string {
	var out []string
	keys(t, "", &out)
	sort.Strings(out)
	return out
}

func keys(t reflect.Type, path string, out *[]string) {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch {
	case isStruct(t):
		fields := map[string][]int{}
		collectFields(t, nil, fields)
		for name := range fields {
			keys(t.FieldByIndex(fields[name]).Type, join(path, name), out)
		}
	case t.Kind() == reflect.Slice && isStruct(t.Elem()):
		*out = append(*out, path)
		keys(t.Elem(), path+"[]", out)
	default:
		*out = append(*out, path)
	}
}

// isStruct reports whether t is a struct whose keys the decoder walks:
// not one of this package's value types or a type that decodes itself.
func isStruct(t reflect.Type) bool {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	return t.Kind() == reflect.Struct && !reflect.PointerTo(t).Implements(unmarshalerType)
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
