package rrtext

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// show renders records as "line:col owner ttl type rdata" for comparison.
func show(recs []Record) string {
	var b strings.Builder
	for _, r := range recs {
		b.WriteString(r.Pos.String())
		b.WriteByte(' ')
		b.WriteString(strings.Join(strings.Fields(r.RR.String()), " "))
		b.WriteByte('\n')
	}
	return b.String()
}

func TestReadMaster(t *testing.T) {
	tests := []struct {
		name string
		text string
		opts Options
		recs string // show(records)
		errs string // the error list
	}{
		{
			name: "positions",
			text: "$ORIGIN x.lab.\n$TTL 3600\n; a comment\n@ IN SOA ns hm (\n  1 2 3 4 ; serial refresh retry expire\n  5 )\n  IN NS ns\nns 60 IN A 192.0.2.1\n" +
				"txt IN TXT \"a ; b ( c\" \"d\ne\"\n\t\tIN TXT x\n",
			recs: "z:4:1 x.lab. 3600 IN SOA ns.x.lab. hm.x.lab. 1 2 3 4 5\n" +
				"z:7:3 x.lab. 3600 IN NS ns.x.lab.\n" +
				"z:8:1 ns.x.lab. 60 IN A 192.0.2.1\n" +
				"z:9:1 txt.x.lab. 3600 IN TXT \"a ; b ( c\" \"d\\010e\"\n" +
				"z:11:3 txt.x.lab. 3600 IN TXT \"x\"\n",
		},
		{
			name: "every syntax error, and the records around them",
			text: "$ORIGIN x.lab.\n$TTL 3600\na IN A 192.0.2.1\nb IN A 192.0.2.300\nc IN BOGUS 1\nd IN MX x d\ne IN A 192.0.2.5\n",
			recs: "z:3:1 a.x.lab. 3600 IN A 192.0.2.1\nz:7:1 e.x.lab. 3600 IN A 192.0.2.5\n",
			errs: "z:4:8: bad A record: \"192.0.2.300\"\n" +
				"z:5:6: neither a type nor a TTL: \"BOGUS\"\n" +
				"z:6:9: bad MX Pref: \"x\"",
		},
		{
			name: "a record after a broken one inherits its owner and TTL",
			text: "a 300 IN A 192.0.2.1\nb 600 IN A 192.0.2.300\n IN A 192.0.2.3\nc IN A 192.0.2.4\n",
			opts: Options{Origin: "x.lab."},
			recs: "z:1:1 a.x.lab. 300 IN A 192.0.2.1\nz:3:2 b.x.lab. 300 IN A 192.0.2.3\nz:4:1 c.x.lab. 300 IN A 192.0.2.4\n",
			errs: "z:2:12: bad A record: \"192.0.2.300\"",
		},
		{
			name: "a bad directive changes nothing",
			text: "$ORIGIN a..b\n$TTL forever\nwww IN A 192.0.2.1\n",
			opts: Options{Origin: "x.lab."},
			// miekg gives a record without a TTL, and no TTL before it, 0.
			recs: "z:3:1 www.x.lab. 0 IN A 192.0.2.1\n",
			errs: "z:1:9: bad origin name: \"a..b\"\nz:2:6: expecting $TTL value, not this...: \"forever\"",
		},
		{
			name: "bad owner",
			text: "a..b IN A 192.0.2.1\n IN A 192.0.2.2\nc 60 IN A 192.0.2.3\n",
			opts: Options{Origin: "x.lab."},
			recs: "z:3:1 c.x.lab. 60 IN A 192.0.2.3\n",
			errs: "z:1:1: bad owner name: \"a..b\"\nz:2:2: the owner name is left out and there is no earlier one to repeat",
		},
		{
			name: "unbalanced parenthesis",
			text: "a 60 IN A 192.0.2.1\nb 60 IN SOA ns hm ( 1 2 3 4 5\n",
			opts: Options{Origin: "x.lab."},
			recs: "z:1:1 a.x.lab. 60 IN A 192.0.2.1\n",
			errs: "z:2:29: unbalanced brace",
		},
		{
			name: "refused directives",
			text: "$INCLUDE /etc/passwd\n$GENERATE 1-3 a$ A 192.0.2.$\nb 60 IN A 192.0.2.1\n",
			opts: Options{Origin: "x.lab.", What: "a trust-anchor file"},
			recs: "z:3:1 b.x.lab. 60 IN A 192.0.2.1\n",
			errs: "z:1:1: $INCLUDE is not allowed in a trust-anchor file\nz:2:1: $GENERATE is not allowed in a trust-anchor file",
		},
		{
			name: "generate",
			text: "$TTL 60\n$GENERATE 1-2 h$ A 192.0.2.$\n$GENERATE 1-2 g$ A 192.0.2.30$\n",
			opts: Options{Origin: "x.lab.", Generate: true},
			// miekg's $GENERATE gives its records a TTL of 3600 unless
			// the line names one, whatever $TTL says.
			recs: "z:2:1 h1.x.lab. 3600 IN A 192.0.2.1\nz:2:1 h2.x.lab. 3600 IN A 192.0.2.2\n",
			errs: "z:3:1: bad A record: \"192.0.2.301\"",
		},
		{
			name: "too many records",
			text: "$TTL 60\na A 192.0.2.1\nb A 192.0.2.2\nc A 192.0.2.3\nd A 192.0.2.4\n",
			opts: Options{Origin: "x.lab.", MaxRecords: 2},
			recs: "z:2:1 a.x.lab. 60 IN A 192.0.2.1\nz:3:1 b.x.lab. 60 IN A 192.0.2.2\n",
			errs: "z:4:1: more than 2 records",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			recs, errs := ReadMaster("z", []byte(tt.text), tt.opts)
			if got := show(recs); got != tt.recs {
				t.Errorf("records:\n%s\nwant:\n%s", got, tt.recs)
			}
			if got := errs.Error(); got != tt.errs {
				t.Errorf("errors:\n%s\nwant:\n%s", got, tt.errs)
			}
		})
	}
}

func TestReadMasterInclude(t *testing.T) {
	path := filepath.Join("testdata", "main.zone")
	text, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	recs, errs := ReadMaster(path, text, Options{Include: true})
	want := "testdata/main.zone:3:1 inc.lab. 300 IN SOA ns.inc.lab. hostmaster.inc.lab. 1 7200 3600 1209600 300\n" +
		"testdata/main.zone:5:9 inc.lab. 300 IN NS ns.inc.lab.\n" +
		"testdata/hosts.inc:2:1 ns.inc.lab. 300 IN A 10.0.0.53\n" +
		"testdata/sub.inc:2:1 sub.inc.lab. 60 IN A 10.0.1.1\n" +
		"testdata/sub.inc:3:1 www.sub.inc.lab. 60 IN A 10.0.1.2\n" +
		"testdata/main.zone:8:1 after.inc.lab. 300 IN A 10.0.0.9\n"
	if got := show(recs); got != want {
		t.Errorf("records:\n%s\nwant:\n%s", got, want)
	}
	if got, want := errs.Error(), `testdata/hosts.inc:3:16: bad A record: "10.0.0.300"`; got != want {
		t.Errorf("errors:\n%s\nwant:\n%s", got, want)
	}
	_, errs = ReadMaster(path, []byte("$INCLUDE missing.inc\n"), Options{Include: true})
	if got, want := errs.Error(), "testdata/main.zone:1:1: $INCLUDE: open testdata/missing.inc: no such file or directory"; got != want {
		t.Errorf("missing include: %s", got)
	}
	_, errs = ReadMaster(filepath.Join("testdata", "loop.zone"), []byte("$INCLUDE loop.zone\n"), Options{Include: true})
	if len(errs) == 0 {
		t.Error("no error for an include loop")
	}
}

// FuzzReadMaster checks that ReadMaster never panics or loops, and that
// every record and error has a position in the file.
func FuzzReadMaster(f *testing.F) {
	f.Add([]byte("$TTL 60\na IN A 192.0.2.1\nb IN A 192.0.2.300\n IN A 192.0.2.3\n"))
	f.Add([]byte("a IN SOA ( ns hm 1 2 3 4\n 5 ) )\n\"x\ny\" IN A 1.2.3.4\n\\\n"))
	f.Add([]byte("$ORIGIN a..b\n$GENERATE 1-3 a$ A 10.0.0.$\n"))
	f.Fuzz(func(t *testing.T, text []byte) {
		recs, errs := ReadMaster("f", text, Options{Origin: "x.", Generate: true, MaxRecords: 1000})
		lines := strings.Count(string(text), "\n") + 1
		for _, r := range recs {
			if r.Pos.File != "f" || r.Pos.Line < 1 || r.Pos.Line > lines {
				t.Fatalf("record %v at %v", r.RR, r.Pos)
			}
		}
		for _, e := range errs {
			if e.Pos.File != "f" || e.Pos.Line < 1 || e.Pos.Line > lines {
				t.Fatalf("error %v", e)
			}
		}
		if len(errs) > 26 {
			t.Fatalf("%d errors", len(errs))
		}
	})
}
