package server

import (
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/miekg/dns"
	"github.com/rampart-fw/rampart/dns/wire"
)

// TestUDPAnswerWithinEDNSSize: a client that offers a 4096-octet buffer
// gets UDP answers no larger than the server's own EDNS size (1232),
// truncated, from the cache as from the resolver: the first answer and
// later ones alike. (The slow path answered from the entry it had just
// stored at the client's size: 1668 octets in IP fragments, the largest
// answer a reflection attack could ask for; the lab's reflection attack
// found it.)
func TestUDPAnswerWithinEDNSSize(t *testing.T) {
	s := start(t, Config{Resolver: &fakeResolver{}, Cache: newWireCache(t), ACL: NewACL([]netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")})})
	c, err := net.DialUDP("udp", nil, net.UDPAddrFromAddrPort(s.Addrs()[0]))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	buf := make([]byte, 65535)
	for i, name := range []string{"big.example.", "big.example.", "www.example."} {
		q := new(dns.Msg)
		q.SetQuestion(name, dns.TypeTXT)
		if name == "www.example." {
			q.Question[0].Qtype = dns.TypeA
		}
		q.SetEdns0(4096, false)
		qb, _ := q.Pack()
		if _, err := c.Write(qb); err != nil {
			t.Fatal(err)
		}
		c.SetReadDeadline(time.Now().Add(2 * time.Second))
		n, err := c.Read(buf)
		if err != nil {
			t.Fatal(err)
		}
		h := wire.Header(buf[:n])
		big := name == "big.example."
		if n > 1232 || (big && h.Flags()&wire.TC == 0) || (!big && (h.Flags()&wire.TC != 0 || h.ANCount() != 1)) {
			t.Errorf("answer %d (%s): %d octets, TC %v, %d records; want at most 1232, TC only for the big one",
				i, name, n, h.Flags()&wire.TC != 0, h.ANCount())
		}
	}
}
