package rules

import (
	"flag"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rampart-fw/rampart/ids/buffer"
	"github.com/rampart-fw/rampart/ipproto"
)

var update = flag.Bool("update", false, "rewrite the golden files")

// describe renders what a rule parsed into, for the golden file.
func describe(r *Rule) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s sid:%d gid:%d rev:%d %s", r.Pos, r.SID, r.GID, r.Rev, r.Action)
	var protos []string
	if r.Protos.Any() {
		protos = []string{"ip"}
	} else {
		for p := range 256 {
			if r.Protos.Has(ipproto.Proto(p)) {
				protos = append(protos, ipproto.Proto(p).String())
			}
		}
	}
	fmt.Fprintf(&b, " proto:%s", strings.Join(protos, ","))
	if r.App != buffer.AppNone {
		fmt.Fprintf(&b, " app:%s", r.App)
	}
	dir := "->"
	if r.Bidirectional {
		dir = "<>"
	}
	fmt.Fprintf(&b, " %s %s %s %s %s", r.Src.String(), r.SrcPorts.String(), dir, r.Dst.String(), r.DstPorts.String())
	fmt.Fprintf(&b, "\n\tmsg=%q prio=%d class=%q refs=%v meta=%q", r.Msg, r.Priority, r.Classtype, r.References, r.Metadata)
	for _, l := range r.Lists {
		fmt.Fprintf(&b, "\n\t[%s]", l.Buffer)
		for _, it := range l.Items {
			switch v := it.(type) {
			case *Content:
				fmt.Fprintf(&b, " content%s:%q", map[bool]string{true: "!"}[v.Negated], v.Pattern)
				if v.Nocase {
					b.WriteString(",nocase")
				}
				if v.HasOffset {
					fmt.Fprintf(&b, ",offset %d", v.Offset)
				}
				if v.HasDepth {
					fmt.Fprintf(&b, ",depth %d", v.Depth)
				}
				if v.HasDistance {
					fmt.Fprintf(&b, ",distance %d", v.Distance)
				}
				if v.HasWithin {
					fmt.Fprintf(&b, ",within %d", v.Within)
				}
				if v.StartsWith {
					b.WriteString(",startswith")
				}
				if v.EndsWith {
					b.WriteString(",endswith")
				}
				if v.FastPattern {
					fmt.Fprintf(&b, ",fast_pattern %q", v.FastBytes())
				}
				if v.RetryOnFailure() {
					b.WriteString(",retry")
				}
			case *PCRE:
				fmt.Fprintf(&b, " pcre:%q->%q relative=%v negated=%v", v.Source, v.Re.String(), v.Relative, v.Negated)
			case *ByteTest:
				fmt.Fprintf(&b, " byte_test:%+v", *v)
			case *IsDataAt:
				fmt.Fprintf(&b, " isdataat:%d relative=%v negated=%v", v.N, v.Relative, v.Negated)
			}
		}
	}
	if r.Flow != (Flow{}) {
		fmt.Fprintf(&b, "\n\tflow=%+v", r.Flow)
	}
	for _, f := range r.Flowbits {
		fmt.Fprintf(&b, "\n\tflowbits op=%d names=%v any=%v", f.Op, f.Names, f.Any)
	}
	if r.NoAlert {
		b.WriteString("\n\tnoalert")
	}
	for name, t := range map[string]*IntTest{"dsize": r.Dsize, "flags": r.TCPFlags, "ttl": r.TTL, "itype": r.IType, "icode": r.ICode} {
		_ = name
		_ = t
	}
	for _, nt := range []struct {
		name string
		t    *IntTest
	}{{"dsize", r.Dsize}, {"flags", r.TCPFlags}, {"ttl", r.TTL}, {"itype", r.IType}, {"icode", r.ICode}} {
		if nt.t != nil {
			fmt.Fprintf(&b, "\n\t%s mode=%d a=%#x b=%#x", nt.name, nt.t.Mode, nt.t.A, nt.t.B)
		}
	}
	for _, t := range []*Threshold{r.Threshold, r.DetectionFilter} {
		if t != nil {
			fmt.Fprintf(&b, "\n\tthreshold type=%d track=%d count=%d seconds=%d", t.Type, t.Track, t.Count, t.Seconds)
		}
	}
	return b.String()
}

// TestGolden parses testdata/rules.rules and compares every rule's parse
// and every error with testdata/rules.golden.
func TestGolden(t *testing.T) {
	path := filepath.Join("testdata", "rules.rules")
	src, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	s := Parse(path, src, nil)
	var b strings.Builder
	for _, r := range s.Rules {
		b.WriteString(describe(r))
		b.WriteString("\n")
	}
	b.WriteString("-- errors --\n")
	for _, e := range s.Errors {
		b.WriteString(e.Error())
		b.WriteString("\n")
	}
	golden := filepath.Join("testdata", "rules.golden")
	if *update {
		if err := os.WriteFile(golden, []byte(b.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if got := b.String(); got != string(want) {
		t.Errorf("parse differs from %s (run with -update to see):\n%s", golden, got)
	}
	// Every bad rule is reported: the file has 30 of them (one a duplicate).
	if len(s.Errors) != 30 {
		t.Errorf("got %d errors, want 30", len(s.Errors))
	}
	for _, e := range s.Errors {
		if e.Pos.File != path || e.Pos.Line == 0 || e.Pos.Column == 0 {
			t.Errorf("error without a full position: %v", e)
		}
	}
}

func TestAddressSets(t *testing.T) {
	vars := Vars{"HOME_NET": "[10.0.0.0/8,192.168.0.0/16,2001:db8::/32]", "INNER": "[10.1.0.0/16,!10.1.2.0/24]"}.withDefaults()
	tests := []struct {
		spec string
		in   []string
		out  []string
	}{
		{"any", []string{"1.2.3.4", "::1"}, nil},
		{"$HOME_NET", []string{"10.2.3.4", "192.168.1.1", "2001:db8::1"}, []string{"11.0.0.1", "2001:db9::1"}},
		{"!$HOME_NET", []string{"11.0.0.1", "2001:db9::1"}, []string{"10.2.3.4"}},
		{"$EXTERNAL_NET", []string{"8.8.8.8"}, []string{"10.0.0.1"}},
		{"[10.0.0.0/8,!10.1.0.0/16]", []string{"10.0.0.1", "10.2.0.0"}, []string{"10.1.2.3", "11.0.0.0"}},
		{"[10.0.0.0/8,![$INNER]]", []string{"10.1.2.5", "10.3.0.0"}, []string{"10.1.3.3"}},
		{"[!1.2.3.4]", []string{"1.2.3.5", "::"}, []string{"1.2.3.4"}},
		{"1.2.3.0-1.2.3.9", []string{"1.2.3.0", "1.2.3.9"}, []string{"1.2.3.10"}},
		{"10.0.0.0/255.255.0.0", []string{"10.0.255.255"}, []string{"10.1.0.0"}},
		{"[0.0.0.0/0,!255.255.255.255]", []string{"0.0.0.0", "255.255.255.254"}, []string{"255.255.255.255", "::1"}},
		{"::ffff:1.2.3.4", []string{"1.2.3.4"}, nil},
	}
	for _, tt := range tests {
		s, err := parseAddrSpec(tt.spec, vars, nil)
		if err != nil {
			t.Errorf("%s: %v", tt.spec, err)
			continue
		}
		for _, a := range tt.in {
			if !s.Contains(netip.MustParseAddr(a)) {
				t.Errorf("%s: %s not in %s", tt.spec, a, s.String())
			}
		}
		for _, a := range tt.out {
			if s.Contains(netip.MustParseAddr(a)) {
				t.Errorf("%s: %s in %s", tt.spec, a, s.String())
			}
		}
	}
	for _, bad := range []string{"!any", "[1.1.1.1", "$NOPE", "1.2.3", "[1.1.1.1,]", "1.1.1.9-1.1.1.1", "$LOOP"} {
		v := Vars{"LOOP": "[$LOOP2]", "LOOP2": "$LOOP"}.withDefaults()
		if _, err := parseAddrSpec(bad, v, nil); err == nil {
			t.Errorf("%s: no error", bad)
		}
	}
}

func TestPortSets(t *testing.T) {
	vars := DefaultVars()
	tests := []struct {
		spec    string
		in, out []uint16
	}{
		{"any", []uint16{0, 65535}, nil},
		{"80", []uint16{80}, []uint16{81}},
		{"$HTTP_PORTS", []uint16{80}, []uint16{8080}},
		{"$FILE_DATA_PORTS", []uint16{80, 110, 143}, []uint16{25}},
		{"!$SHELLCODE_PORTS", []uint16{80}, []uint16{81}},
		{"1024:", []uint16{1024, 65535}, []uint16{1023}},
		{":1023", []uint16{0, 1023}, []uint16{1024}},
		{"[1:10,!5]", []uint16{1, 4, 6, 10}, []uint16{5, 0, 11}},
		{"[!80,!443]", []uint16{81, 0}, []uint16{80, 443}},
		{"[80, 443]", []uint16{80, 443}, []uint16{81}},
	}
	for _, tt := range tests {
		s, err := parsePortSpec(tt.spec, vars, nil)
		if err != nil {
			t.Errorf("%s: %v", tt.spec, err)
			continue
		}
		for _, p := range tt.in {
			if !s.Contains(p) {
				t.Errorf("%s: %d not in %s", tt.spec, p, s.String())
			}
		}
		for _, p := range tt.out {
			if s.Contains(p) {
				t.Errorf("%s: %d in %s", tt.spec, p, s.String())
			}
		}
	}
	for _, bad := range []string{"65536", "10:5", ":", "-1", "[80", "!any", "a"} {
		if _, err := parsePortSpec(bad, vars, nil); err == nil {
			t.Errorf("%s: no error", bad)
		}
	}
}
