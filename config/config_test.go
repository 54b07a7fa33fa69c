package config

import (
	"errors"
	"strings"
	"testing"
)

type section struct {
	Listen  []AddrPort `yaml:"listen"`
	Allow   []Prefix   `yaml:"allow"`
	Workers int        `yaml:"workers"`
	Nested  struct {
		Name string `yaml:"name"`
	} `yaml:"nested"`
}

type file struct {
	Resolver section `yaml:"resolver"`
	Lab      struct {
		Topology string `yaml:"topology"`
	} `yaml:"lab"`
}

func TestDecodeErrors(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{"unknown section", "resolvr:\n  workers: 2\n", `c.yaml:1:1: unknown key "resolvr" in the top level (known keys: lab, resolver)`},
		{"unknown key", "resolver:\n  workers: 2\n  listn: [\"127.0.0.1:53\"]\n", `c.yaml:3:3: unknown key "listn" in resolver (known keys: allow, listen, nested, workers)`},
		{"unknown nested key", "resolver:\n  nested:\n    nam: x\n", `c.yaml:3:5: unknown key "nam" in resolver.nested`},
		{"bad int", "resolver:\n  workers: many\n", "c.yaml:2: cannot unmarshal !!str `many` into int"},
		{"bad prefix", "resolver:\n  allow: [10.0.0.0/33]\n", `c.yaml:2:11: invalid prefix "10.0.0.0/33"`},
		{"bad addrport", "resolver:\n  listen:\n    - 127.0.0.1\n", `c.yaml:3:7: invalid address and port "127.0.0.1"`},
		{"duplicate key", "lab:\n  topology: a\n  topology: b\n", `c.yaml:3:3: `},
		{"syntax", "lab: [\n", "c.yaml:"},
		{"section not a mapping", "lab: 3\n", `c.yaml:1:6: lab: expected a mapping, found "3"`},
		{"alias", "lab: &x\n  topology: a\nresolver: *x\n", "aliases are not allowed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var f file
			err := Decode("c.yaml", []byte(tt.in), &f)
			if err == nil {
				t.Fatalf("no error for %q", tt.in)
			}
			var ce *Error
			if !errors.As(err, &ce) {
				t.Fatalf("error %T is not *config.Error: %v", err, err)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q does not contain %q", err, tt.want)
			}
		})
	}
}

func TestDecodeOK(t *testing.T) {
	var f file
	in := "# comment\nresolver:\n  listen: [\"127.0.0.1:5353\", \"[::1]:5353\"]\n  allow: [10.0.0.0/8]\n  workers: 4\nlab:\n  topology: t.yaml\n"
	if err := Decode("c.yaml", []byte(in), &f); err != nil {
		t.Fatal(err)
	}
	if len(f.Resolver.Listen) != 2 || f.Resolver.Listen[1].Port() != 5353 || f.Resolver.Workers != 4 || f.Lab.Topology != "t.yaml" {
		t.Fatalf("decoded %+v", f)
	}
	if f.Resolver.Allow[0].Pos.Line != 4 {
		t.Errorf("position of allow[0] = %+v, want line 4", f.Resolver.Allow[0].Pos)
	}
	if err := Decode("empty.yaml", nil, &f); err != nil {
		t.Errorf("empty file: %v", err)
	}
}

type validated struct {
	Port int `yaml:"port"`
}

func (v *validated) Validate() error {
	if v.Port > 65535 {
		return Pos{Line: 1, Column: 7}.Errorf("port %d out of range", v.Port)
	}
	return nil
}

func TestValidateNamesFile(t *testing.T) {
	var v validated
	err := Decode("v.yaml", []byte("port: 70000\n"), &v)
	if err == nil || err.Error() != "v.yaml:1:7: port 70000 out of range" {
		t.Fatalf("got %v", err)
	}
}
