package authoritative

import (
	"bytes"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"
	"github.com/rampart-fw/rampart/srcpos"
)

var (
	fuzzOnce   sync.Once
	fuzzServer *Server
)

// fuzzTarget serves the root unsigned, lab. signed with NSEC3 and
// example.lab. with NSEC, so one input can reach every answering path.
func fuzzTarget(t testing.TB) *Server {
	fuzzOnce.Do(func() {
		root := mustLoad(t, "root.zone", ".")
		lab := mustLoad(t, "lab.zone", "lab.")
		example := mustLoad(t, "example.lab.zone", "example.lab.")
		now := time.Now()
		for _, z := range []*Zone{lab, example} {
			k, err := GenerateKey(z.Origin(), 0, true)
			if err != nil {
				t.Fatal(err)
			}
			var opts *SignOptions
			if z == lab {
				opts = &SignOptions{NSEC3: true}
			}
			if err := SignZone(z, []*Key{k}, now, now.Add(time.Hour), opts); err != nil {
				t.Fatal(err)
			}
		}
		s, err := New(Config{Zones: []*Zone{root, lab, example}})
		if err != nil {
			t.Fatal(err)
		}
		fuzzServer = s
	})
	return fuzzServer
}

func FuzzHandle(f *testing.F) {
	seeds := []query{
		{name: "www.example.lab.", qtype: dns.TypeA},
		{name: "www.example.lab.", qtype: dns.TypeA, edns: 1232, do: true},
		{name: "nope.example.lab.", qtype: dns.TypeA, edns: 4096, do: true},
		{name: "x.wild.example.lab.", qtype: dns.TypeMX, edns: 4096, do: true},
		{name: "b.ent.example.lab.", qtype: dns.TypeA, do: true},
		{name: "big.example.lab.", qtype: dns.TypeTXT, edns: 600},
		{name: "alias.example.lab.", qtype: dns.TypeA},
		{name: "loop1.example.lab.", qtype: dns.TypeA},
		{name: "example.lab.", qtype: dns.TypeANY, do: true},
		{name: "example.lab.", qtype: dns.TypeDS, do: true},
		{name: "x.glueless.lab.", qtype: dns.TypeA, do: true},
		{name: "nope.lab.", qtype: dns.TypeAAAA, do: true},
		{name: "www.example.com.", qtype: dns.TypeA},
		{name: ".", qtype: dns.TypeRRSIG},
	}
	for _, q := range seeds {
		f.Add(q.pack(f), false)
	}
	f.Add([]byte{0, 1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0xc0, 12}, true)
	f.Fuzz(func(t *testing.T, req []byte, tcp bool) {
		s := fuzzTarget(t)
		out := s.Handle(req, tcp, make([]byte, dns.MaxMsgSize))
		if out == nil {
			return
		}
		limit := s.cfg.MaxUDPSize
		if tcp {
			limit = dns.MaxMsgSize
		}
		if len(out) > limit {
			t.Fatalf("response of %d bytes over the %d limit", len(out), limit)
		}
		resp := new(dns.Msg)
		if err := resp.Unpack(out); err != nil {
			t.Fatalf("response does not unpack: %v\n%x", err, out)
		}
		if !resp.Response || resp.Id != uint16(req[0])<<8|uint16(req[1]) {
			t.Fatalf("response header %v", resp.MsgHdr)
		}
	})
}

// FuzzParseZone feeds master-file text to the zone loader: it must fail
// cleanly or produce a zone that writes out and reads back the same.
func FuzzParseZone(f *testing.F) {
	for _, name := range []string{"root.zone", "lab.zone", "example.lab.zone", "warn-glue.zone", "bad/occluded.zone", "bad/cname-other.zone"} {
		b, err := readTestdata(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, text []byte) {
		// $GENERATE turns one line into 65535 records: bounded by
		// MaxZoneRecords and MaxZoneNames, but seconds per input,
		// which would starve the search for crashes.
		if bytes.Contains(bytes.ToUpper(text), []byte("$GENERATE")) {
			return
		}
		z, err := ParseZone(bytes.NewReader(text), "", "fuzz")
		if err != nil {
			list, ok := err.(srcpos.List)
			if !ok || len(list) == 0 || len(list) > srcpos.MaxErrors+1 {
				t.Fatalf("error %T with %d entries: %v", err, len(list), err)
			}
			lines := bytes.Count(text, []byte("\n")) + 1
			for _, e := range list {
				if e.Pos.File != "fuzz" || e.Pos.Line < 0 || e.Pos.Line > lines || e.Msg == "" {
					t.Fatalf("badly placed error %+v", e)
				}
			}
			return
		}
		var buf bytes.Buffer
		if _, err := z.WriteTo(&buf); err != nil {
			t.Fatal(err)
		}
		z2, err := ParseZone(&buf, z.Origin(), "again")
		if err != nil {
			t.Fatalf("zone written out does not read back: %v\n%s", err, buf.String())
		}
		if len(z2.Records()) != len(z.Records()) {
			t.Fatalf("%d records, %d after a round trip", len(z.Records()), len(z2.Records()))
		}
	})
}
