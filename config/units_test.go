package config

import (
	"strings"
	"testing"
	"time"
)

func TestDurationAndSize(t *testing.T) {
	type sec struct {
		Wait Value[Duration] `yaml:"wait"`
		Mem  Value[Size]     `yaml:"mem"`
	}
	tests := []struct {
		text string
		wait time.Duration
		mem  int64
		err  string
	}{
		{text: "wait: 30s\nmem: 64MiB\n", wait: 30 * time.Second, mem: 64 << 20},
		{text: "wait: 2h4m\nmem: 4MB\n", wait: 2*time.Hour + 4*time.Minute, mem: 4e6},
		{text: "wait: 1.5s\nmem: 4096\n", wait: 1500 * time.Millisecond, mem: 4096},
		{text: "wait: 0s\n", err: `t.yaml:1:7: wait: invalid duration "0s": want a positive duration such as 30s, 5m or 2h`},
		{text: "wait: 30\n", err: `t.yaml:1:7: wait: invalid duration "30": want a positive duration such as 30s, 5m or 2h`},
		{text: "wait: {a: 1}\n", err: `t.yaml:1:7: wait: expected a duration such as 30s or 5m, found a mapping`},
		{text: "mem: 0\n", err: `t.yaml:1:6: mem: invalid size "0": want a number of bytes with an optional unit (KiB, MiB, GiB, KB, MB, GB)`},
		{text: "mem: 2TiB\n", err: `t.yaml:1:6: mem: invalid size "2TiB": want a number of bytes with an optional unit (KiB, MiB, GiB, KB, MB, GB)`},
	}
	for _, tc := range tests {
		var s sec
		err := Decode("t.yaml", []byte(tc.text), &s)
		if tc.err != "" {
			if err == nil || err.Error() != tc.err {
				t.Errorf("%q: got %v, want %s", tc.text, err, tc.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("%q: %v", tc.text, err)
			continue
		}
		if s.Wait.V.D() != tc.wait || s.Mem.V.Bytes() != tc.mem {
			t.Errorf("%q: got %v and %d", tc.text, s.Wait.V.D(), s.Mem.V.Bytes())
		}
		if !s.Wait.IsSet() || s.Wait.Src.Pos.Line != 1 {
			t.Errorf("%q: wait's source %+v", tc.text, s.Wait.Src)
		}
	}
}

func TestRate(t *testing.T) {
	for in, want := range map[string]float64{"100/s": 100, "30/m": 0.5, "7200/hour": 2, " 2.5 / sec ": 2.5} {
		if got, err := ParseRate(in); err != nil || got != want {
			t.Errorf("ParseRate(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, in := range []string{"100", "0/s", "-1/s", "10/d", "x/s", "2e9/s", "NaN/s"} {
		if _, err := ParseRate(in); err == nil {
			t.Errorf("ParseRate(%q) accepted", in)
		}
	}
	var v struct {
		R Value[Rate] `yaml:"r"`
	}
	if err := Decode("v.yaml", []byte("r: 10/x\n"), &v); err == nil || !strings.HasPrefix(err.Error(), "v.yaml:1:4: r: invalid rate") {
		t.Errorf("error %v", err)
	}
}
