package policy

import (
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/rampart-fw/rampart/ipproto"
	"github.com/rampart-fw/rampart/srcpos"
)

// FuzzParse checks that Parse never panics, that failures are located
// errors, and that what it accepts is consistent enough to format.
func FuzzParse(f *testing.F) {
	files, _ := filepath.Glob("testdata/*.rules")
	for _, file := range files {
		if b, err := os.ReadFile(file); err == nil {
			f.Add(b)
		}
	}
	for _, s := range []string{
		"", "allow ssh", "allow 80,443/tcp", "deny 53", "allow from 100.64.0.0/24",
		"route allow in on lan out on wan", "set $a = { 1.2.3.4, ::1 }\nallow from $a",
		"allow proto tcp flags S/SAFR", "allow proto icmpv6 type 1 code 4",
		"set $p = {\n80,\n443 }\nallow to any port $p proto tcp", "allow 'x", "allow\x00",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, src []byte) {
		p, err := Parse("fuzz.rules", src)
		if err != nil {
			list, ok := err.(srcpos.List)
			if !ok || len(list) == 0 || len(list) > MaxErrors+1 {
				t.Fatalf("error %T with %d entries", err, len(list))
			}
			for _, e := range list {
				if e.Pos.Line < 1 || e.Pos.Column < 1 || e.Pos.File != "fuzz.rules" || e.Msg == "" {
					t.Fatalf("badly located error %+v", e)
				}
			}
			return
		}
		for i := range p.Rules {
			r := &p.Rules[i]
			if r.Family == 0 || r.Line < 1 || r.Text == "" {
				t.Fatalf("rule %d: %+v", i, r)
			}
			for _, e := range []*Endpoint{&r.From, &r.To} {
				for _, a := range e.Addrs {
					if r.Family&familyOf(a) == 0 || a != a.Masked() {
						t.Fatalf("rule %d: address %v outside family %v", i, a, r.Family)
					}
				}
				for _, pr := range e.Ports {
					if pr.Lo == 0 || pr.Lo > pr.Hi {
						t.Fatalf("rule %d: port range %v", i, pr)
					}
				}
				if e.Ports != nil && !r.Proto.HasPorts() && r.Proto != ProtoAny {
					t.Fatalf("rule %d: ports with proto %v", i, r.Proto)
				}
			}
			if !r.Flags.Any() && r.Proto != ipproto.TCP {
				t.Fatalf("rule %d: flags with proto %v", i, r.Proto)
			}
		}
		if err := p.Format(io.Discard); err != nil {
			t.Fatal(err)
		}
	})
}
