package applayer

import (
	"encoding/binary"
	"net/netip"
	"strconv"
	"strings"
	"testing"

	"github.com/miekg/dns"
	"github.com/rampart-fw/rampart/flow"
	"github.com/rampart-fw/rampart/ids/buffer"
	"github.com/rampart-fw/rampart/ipproto"
)

func dnsQuery(t testing.TB, name string, qtype uint16) []byte {
	t.Helper()
	m := new(dns.Msg)
	m.SetQuestion(name, qtype)
	m.Id = 0x1234
	m.SetEdns0(1232, true)
	b, err := m.Pack()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func dnsAnswer(t testing.TB, name string) []byte {
	t.Helper()
	q := new(dns.Msg)
	q.SetQuestion(name, dns.TypeA)
	m := new(dns.Msg)
	m.SetReply(q)
	m.Id = 0x1234
	rr, err := dns.NewRR(name + " 300 IN A 192.0.2.7")
	if err != nil {
		t.Fatal(err)
	}
	m.Answer = append(m.Answer, rr)
	m.Compress = true
	b, err := m.Pack()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestDNSDatagram(t *testing.T) {
	p := mustNew(t, Config{})
	got := run(t, p, dnsKey, []section{
		{dir: buffer.ToServer, data: dnsQuery(t, "www.Example.COM.", dns.TypeAAAA)},
		{dir: buffer.ToClient, data: dnsAnswer(t, "www.Example.COM.")},
		{dir: buffer.ToServer, data: dnsQuery(t, ".", dns.TypeNS)},
	}, nil)
	want := `tx dns to_server seq=0 off=0 id=4660 response=false opcode=0 rcode=0 qtype=28 qclass=1
  dns.query "www.Example.COM"
tx dns to_client seq=1 off=0 id=4660 response=true opcode=0 rcode=0 qtype=1 qclass=1
tx dns to_server seq=2 off=0 id=4660 response=false opcode=0 rcode=0 qtype=2 qclass=1
  dns.query ""
`
	if got != want {
		t.Errorf("got:\n%s\nwant:\n%s", got, want)
	}
}

// msg builds a DNS message: a header with the given question count and
// the raw question bytes.
func msg(qd uint16, question ...byte) []byte {
	b := []byte{0xab, 0xcd, 0x01, 0x00, 0, 0, 0, 0, 0, 0, 0, 0}
	binary.BigEndian.PutUint16(b[4:], qd)
	return append(b, question...)
}

func TestDNSMalformed(t *testing.T) {
	long := append([]byte{64}, strings.Repeat("a", 64)...)
	var huge []byte
	for range 5 {
		huge = append(huge, 63)
		huge = append(huge, strings.Repeat("b", 63)...)
	}
	for _, c := range []struct {
		name string
		msg  []byte
		want string
	}{
		{"short header", []byte{1, 2, 3}, "event dns to_server dns_malformed at 0\n"},
		{"truncated question", msg(1, 3, 'w', 'w', 'w', 0, 0, 1), "event dns to_server dns_malformed at 0\n"},
		{"label over 63", msg(1, append(long, 0, 0, 1, 0, 1)...), "event dns to_server dns_malformed at 0\n"},
		{"name over 255", msg(1, append(huge, 0, 0, 1, 0, 1)...), "event dns to_server dns_malformed at 0\n"},
		{"pointer loop", msg(1, 0xc0, 12, 0, 1, 0, 1), "event dns to_server dns_malformed at 0\n"},
		{"extended label", msg(1, 0x41, 0, 0, 1, 0, 1), "event dns to_server dns_malformed at 0\n"},
		{"pointer to a name", msg(2, 3, 'f', 'o', 'o', 0, 0, 1, 0, 1, 1, 'x', 0xc0, 12, 0, 16, 0, 1),
			"tx dns to_server seq=0 off=0 id=43981 response=false opcode=0 rcode=0 qtype=1 qclass=1\n  dns.query \"foo\"\n" +
				"tx dns to_server seq=1 off=0 id=43981 response=false opcode=0 rcode=0 qtype=16 qclass=1\n  dns.query \"x.foo\"\n"},
		{"no question", msg(0), "tx dns to_server seq=0 off=0 id=43981 response=false opcode=0 rcode=0 qtype=0 qclass=0\n"},
		{"binary label", msg(1, 3, 'a', '.', 0, 0, 0, 1, 0, 1),
			"tx dns to_server seq=0 off=0 id=43981 response=false opcode=0 rcode=0 qtype=1 qclass=1\n  dns.query \"a.\\x00\"\n"},
	} {
		t.Run(c.name, func(t *testing.T) {
			p := mustNew(t, Config{})
			w := p.NewWorker()
			f := p.NewFlow(dnsKey)
			f.app, f.final = buffer.AppDNS, true // detection is tested elsewhere
			r := &recorder{}
			w.Datagram(f, buffer.ToServer, c.msg, r)
			if got := r.String(); got != c.want {
				t.Errorf("got:\n%s\nwant:\n%s", got, c.want)
			}
			p.Release(f)
		})
	}
}

// TestDNSTCP frames several messages per chunk and messages split
// anywhere, including inside the length prefix.
func TestDNSTCP(t *testing.T) {
	key := flow.Key{Src: netip.MustParseAddrPort("10.0.0.1:40002"), Dst: netip.MustParseAddrPort("10.0.0.53:53"), Proto: ipproto.TCP}
	var stream []byte
	for _, n := range []string{"a.example.", "b.example.", "c.example."} {
		m := dnsQuery(t, n, dns.TypeA)
		stream = binary.BigEndian.AppendUint16(stream, uint16(len(m)))
		stream = append(stream, m...)
	}
	answer := dnsAnswer(t, "a.example.")
	answerStream := binary.BigEndian.AppendUint16(nil, uint16(len(answer)))
	answerStream = append(answerStream, answer...)
	secs := []section{{dir: buffer.ToServer, data: stream}, {dir: buffer.ToClient, data: answerStream}}
	p := mustNew(t, Config{})
	whole := run(t, p, key, secs, nil)
	if c := strings.Count(whole, "tx dns"); c != 4 || !strings.Contains(whole, `dns.query "c.example"`) || strings.Contains(whole, "event") {
		t.Fatalf("whole:\n%s", whole)
	}
	for k := 1; k < len(stream); k++ {
		if got := run(t, p, key, secs, cutAt(k)); got != whole {
			t.Fatalf("cut at %d:\n%s\nwhole:\n%s", k, got, whole)
		}
	}
	if got := run(t, p, key, secs, bytewise); got != whole {
		t.Fatalf("byte by byte:\n%s", got)
	}
	// A length too short for a header disables the direction.
	bad := append(append([]byte(nil), stream...), 0, 5, 1, 2, 3, 4, 5)
	bad = append(bad, stream...)
	got := run(t, p, key, []section{{dir: buffer.ToServer, data: bad}}, nil)
	if strings.Count(got, "tx dns") != 3 || !strings.HasSuffix(got, "event dns to_server dns_malformed at "+strconv.Itoa(len(stream))+" (parser disabled)\n") {
		t.Errorf("short length: got\n%s", got)
	}
}

func TestDNSDetectionAwayFromPort53(t *testing.T) {
	p := mustNew(t, Config{})
	key := flow.Key{Src: netip.MustParseAddrPort("10.0.0.1:40003"), Dst: netip.MustParseAddrPort("10.0.0.9:5353"), Proto: ipproto.UDP}
	got := run(t, p, key, []section{{dir: buffer.ToServer, data: dnsQuery(t, "printer.local.", dns.TypePTR)}}, nil)
	if !strings.Contains(got, `dns.query "printer.local"`) {
		t.Errorf("a strict DNS query away from port 53 is DNS: got\n%s", got)
	}
	// A datagram that only has a sane header is not, away from port 53.
	noise := []byte{0x12, 0x34, 0x01, 0x00, 0x00, 0x01, 0, 0, 0, 0, 0, 0, 0xff, 0xfe, 0xfd}
	if got := run(t, p, key, []section{{dir: buffer.ToServer, data: noise}}, nil); got != "\n" {
		t.Errorf("noise: got\n%s", got)
	}
	// On port 53 a sane header is enough, and what follows is malformed.
	if got := run(t, p, dnsKey, []section{{dir: buffer.ToServer, data: noise}}, nil); got != "event dns to_server dns_malformed at 0\n" {
		t.Errorf("port 53: got\n%s", got)
	}
}

// TestDNSGarbage: three malformed messages in a row disable the
// direction; a good one between them resets the count.
func TestDNSGarbage(t *testing.T) {
	bad := msg(1, 0xc0, 12, 0, 1, 0, 1)
	good := dnsQuery(t, "ok.example.", dns.TypeA)
	p := mustNew(t, Config{})
	got := run(t, p, dnsKey, []section{
		{dir: buffer.ToServer, data: good},
		{dir: buffer.ToServer, data: bad}, {dir: buffer.ToServer, data: bad}, {dir: buffer.ToServer, data: good},
		{dir: buffer.ToServer, data: bad}, {dir: buffer.ToServer, data: bad}, {dir: buffer.ToServer, data: bad},
		{dir: buffer.ToServer, data: good},
	}, nil)
	if k := kinds(got); strings.Join(k, " ") != "dns_malformed dns_malformed dns_malformed dns_malformed dns_malformed!" ||
		strings.Count(got, "tx dns") != 2 {
		t.Errorf("events %v\n%s", k, got)
	}
}
