package config

import (
	"errors"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/rampart-fw/rampart/srcpos"
)

type section struct {
	Listen  []AddrPort     `yaml:"listen"`
	Allow   []Prefix       `yaml:"allow"`
	Via     Addr           `yaml:"via"`
	Workers int            `yaml:"workers"`
	Port    uint16         `yaml:"port"`
	Small   int8           `yaml:"small"`
	Ratio   float64        `yaml:"ratio"`
	Size    Value[string]  `yaml:"size"`
	On      Value[bool]    `yaml:"on"`
	Names   []string       `yaml:"names"`
	Labels  map[string]int `yaml:"labels"`
	Nested  struct {
		Name string `yaml:"name"`
	} `yaml:"nested"`
	Zones []struct {
		File Value[string] `yaml:"file"`
		At   Source        `yaml:"-"`
	} `yaml:"zones"`
}

type file struct {
	Resolver section `yaml:"resolver"`
	Lab      struct {
		Topology string `yaml:"topology"`
	} `yaml:"lab"`
}

// TestDecodeErrors: each kind of bad input gives exactly this message.
func TestDecodeErrors(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{"unknown section", "resolvr:\n  workers: 2\n", `c.yaml:1:1: unknown key "resolvr" in the top level (known keys: lab, resolver)`},
		{"unknown key", "resolver:\n  workers: 2\n  listn: [\"127.0.0.1:53\"]\n",
			`c.yaml:3:3: unknown key "listn" in resolver (known keys: allow, labels, listen, names, nested, on, port, ratio, size, small, via, workers, zones)`},
		{"unknown nested key", "resolver:\n  nested:\n    nam: x\n", `c.yaml:3:5: unknown key "nam" in resolver.nested (known keys: name)`},
		{"unknown key in a list", "resolver:\n  zones:\n    - file: a\n    - fil: b\n", `c.yaml:4:7: unknown key "fil" in resolver.zones[1] (known keys: file)`},
		{"bad int", "resolver:\n  workers: many\n", `c.yaml:2:12: resolver.workers: expected an integer, found "many"`},
		{"int out of range", "resolver:\n  port: 70000\n", `c.yaml:2:9: resolver.port: expected an integer from 0 to 65535, found "70000"`},
		{"negative unsigned", "resolver:\n  port: -1\n", `c.yaml:2:9: resolver.port: expected an integer from 0 to 65535, found "-1"`},
		{"small int", "resolver:\n  small: 200\n", `c.yaml:2:10: resolver.small: expected an integer from -128 to 127, found "200"`},
		{"bad float", "resolver:\n  ratio: half\n", `c.yaml:2:10: resolver.ratio: expected a number, found "half"`},
		{"bad bool", "resolver:\n  on: maybe\n", `c.yaml:2:7: resolver.on: expected true or false, found "maybe"`},
		{"list for a string", "resolver:\n  size: [1, 2]\n", `c.yaml:2:9: resolver.size: expected a string, found a list`},
		{"mapping for a string", "lab:\n  topology: {a: b}\n", `c.yaml:2:13: lab.topology: expected a string, found a mapping`},
		{"string for a list", "resolver:\n  names: one\n", `c.yaml:2:10: resolver.names: expected a list, found "one"`},
		{"list for a map", "resolver:\n  labels: [a]\n", `c.yaml:2:11: resolver.labels: expected a mapping, found a list`},
		{"bad map value", "resolver:\n  labels: {a: x}\n", `c.yaml:2:15: resolver.labels.a: expected an integer, found "x"`},
		{"bad prefix", "resolver:\n  allow: [10.0.0.0/33]\n", `c.yaml:2:11: resolver.allow[0]: invalid prefix "10.0.0.0/33": expected an address prefix such as 10.0.0.0/24`},
		{"list for a prefix", "resolver:\n  allow: [[1]]\n", `c.yaml:2:11: resolver.allow[0]: expected an address prefix such as 10.0.0.0/24, found a list`},
		{"bad addrport", "resolver:\n  listen:\n    - 127.0.0.1\n", `c.yaml:3:7: resolver.listen[0]: invalid address and port "127.0.0.1": expected 192.0.2.1:53 or [2001:db8::1]:53`},
		{"bad addr", "resolver:\n  via: 10.0.0\n", `c.yaml:2:8: resolver.via: invalid IP address "10.0.0"`},
		{"duplicate key", "lab:\n  topology: a\n  topology: b\n", `c.yaml:3:3: duplicate key "topology" in lab`},
		{"syntax", "lab: [\n", "c.yaml:2: did not find expected node content"},
		{"syntax on a later line", "lab:\n  topology: [a\nresolver: {}\n", "c.yaml:2: did not find expected ',' or ']'"},
		{"scanner error", "lab:\n  topology: a\n\ttab: b\n", "c.yaml:2: found a tab character that violates indentation"},
		{"bad indentation", "lab:\n  topology: a\n captures: b\n", "c.yaml:3: did not find expected key"},
		{"section not a mapping", "lab: 3\n", `c.yaml:1:6: lab: expected a mapping, found "3"`},
		{"top level not a mapping", "- a\n", `c.yaml:1:1: the top level: expected a mapping, found a list`},
		{"alias", "lab: &x\n  topology: a\nresolver: *x\n", "c.yaml:3:11: aliases are not allowed in configuration"},
		{"every error, in file order",
			"resolver:\n  workers: many\n  port: x\n  listn: 1\nlab:\n  topolgy: t\n",
			`c.yaml:2:12: resolver.workers: expected an integer, found "many"` + "\n" +
				`c.yaml:3:9: resolver.port: expected an integer from 0 to 65535, found "x"` + "\n" +
				`c.yaml:4:3: unknown key "listn" in resolver (known keys: allow, labels, listen, names, nested, on, port, ratio, size, small, via, workers, zones)` + "\n" +
				`c.yaml:6:3: unknown key "topolgy" in lab (known keys: topology)`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var f file
			err := Decode("c.yaml", []byte(tt.in), &f)
			if err == nil {
				t.Fatalf("no error for %q", tt.in)
			}
			var list srcpos.List
			if !errors.As(err, &list) {
				t.Fatalf("error %T is not a srcpos.List: %v", err, err)
			}
			if err.Error() != tt.want {
				t.Errorf("error\n  %s\nwant\n  %s", err, tt.want)
			}
		})
	}
}

func TestDecodeOK(t *testing.T) {
	var f file
	in := "# comment\nresolver:\n  listen: [\"127.0.0.1:5353\", \"[::1]:5353\"]\n  allow: [10.0.0.0/8]\n  workers: 4\n" +
		"  size: 64MiB\n  on:\n  labels: {a: 1}\n  zones:\n    - file: z.zone\nlab:\n  topology: t.yaml\n"
	if err := Decode("c.yaml", []byte(in), &f); err != nil {
		t.Fatal(err)
	}
	if len(f.Resolver.Listen) != 2 || f.Resolver.Listen[1].Port() != 5353 || f.Resolver.Workers != 4 || f.Lab.Topology != "t.yaml" || f.Resolver.Labels["a"] != 1 {
		t.Fatalf("decoded %+v", f)
	}
	if got := f.Resolver.Allow[0].Pos; got != (srcpos.Pos{File: "c.yaml", Line: 4, Column: 11}) {
		t.Errorf("position of allow[0] = %+v", got)
	}
	if got := f.Resolver.Size; got.V != "64MiB" || got.Src != (Source{Pos: srcpos.Pos{File: "c.yaml", Line: 6, Column: 9}, Key: "resolver.size"}) {
		t.Errorf("size = %+v", got)
	}
	if f.Resolver.On.IsSet() || f.Resolver.On.Or(true) != true {
		t.Errorf("a key without a value is set: %+v", f.Resolver.On)
	}
	if got := f.Resolver.Zones[0].File.Src.Key; got != "resolver.zones[0].file" {
		t.Errorf("key of a list element's field: %q", got)
	}
	if got := f.Resolver.Zones[0].At; got != (Source{Pos: srcpos.Pos{File: "c.yaml", Line: 10, Column: 7}, Key: "resolver.zones[0]"}) {
		t.Errorf("where the list element is: %+v", got)
	}
	if got := f.Resolver.Size.Errorf("invalid size %q", "64MiB").Error(); got != `c.yaml:6:9: resolver.size: invalid size "64MiB"` {
		t.Errorf("error from the file: %q", got)
	}
	flag := FromFlag("lots", "--size")
	if got := flag.Errorf("invalid size %q", flag.V).Error(); got != `--size: invalid size "lots"` || !flag.IsSet() {
		t.Errorf("error from a flag: %q", got)
	}
	var unset Value[string]
	if got := unset.Errorf("missing").Error(); got != "missing" || unset.IsSet() || unset.Or("d") != "d" {
		t.Errorf("error of an unset value: %q", got)
	}
	for _, empty := range []string{"", "# only a comment\n"} {
		if err := Decode("empty.yaml", []byte(empty), &f); err != nil {
			t.Errorf("empty file %q: %v", empty, err)
		}
	}
}

func TestKeys(t *testing.T) {
	got := Keys(reflect.TypeOf(file{}))
	want := []string{"lab.topology", "resolver.allow", "resolver.labels", "resolver.listen", "resolver.names",
		"resolver.nested.name", "resolver.on", "resolver.port", "resolver.ratio", "resolver.size",
		"resolver.small", "resolver.via", "resolver.workers", "resolver.zones", "resolver.zones[].file"}
	if !slices.Equal(got, want) {
		t.Errorf("Keys:\n got %v\nwant %v", got, want)
	}
}

type validated struct {
	Port int `yaml:"port"`
}

func (v *validated) Validate() error {
	var errs srcpos.List
	if v.Port > 65535 {
		errs.Add(srcpos.Pos{Line: 1, Column: 7}.Errorf("port %d out of range", v.Port))
	}
	errs.Add(errors.New("and a problem of the whole file"))
	return errs.Err()
}

func TestValidateNamesFile(t *testing.T) {
	var v validated
	err := Decode("v.yaml", []byte("port: 70000\n"), &v)
	want := "v.yaml: and a problem of the whole file\nv.yaml:1:7: port 70000 out of range"
	if err == nil || err.Error() != want {
		t.Fatalf("got\n%v\nwant\n%s", err, want)
	}
	if !strings.HasPrefix(Decode("v.yaml", []byte("port: x\n"), &v).Error(), "v.yaml:1:7: port: expected an integer") {
		t.Error("Validate ran on a file that did not decode")
	}
}

// FuzzDecode: any text decodes or fails with errors that name the file,
// never a panic.
func FuzzDecode(f *testing.F) {
	f.Add([]byte("resolver:\n  listen: [\"127.0.0.1:53\"]\n  labels: {a: 1}\n  zones: [{file: x}]\nlab: {topology: t}\n"))
	f.Add([]byte("lab: &a [*a]\n"))
	f.Add([]byte("resolver: {workers: 1e99, port: -1, size: [x], on: ~}\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		var v file
		err := Decode("f", data, &v)
		if err == nil {
			return
		}
		list, ok := err.(srcpos.List)
		if !ok || len(list) == 0 {
			t.Fatalf("error %T: %v", err, err)
		}
		for _, e := range list {
			if e.Pos.File != "f" || e.Msg == "" {
				t.Fatalf("badly placed error %+v", e)
			}
		}
	})
}
