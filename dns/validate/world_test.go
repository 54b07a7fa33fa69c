package validate

import (
	"context"
	"fmt"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"
	"github.com/rampart-fw/rampart/dns/authoritative"
	"github.com/rampart-fw/rampart/dns/dnssec"
	"github.com/rampart-fw/rampart/dns/resolver"
)

// The test world: a signed hierarchy . -> lab. -> example.lab. (ECDSA
// P-256, keys made for the test run), with an unsigned delegation, a zone
// signed with NSEC3, a zone whose signatures expired, and names in
// example.lab. whose data was tampered with after signing. Each zone has
// its own server address; worldTransport answers from the zone's Store,
// so a real resolver.Resolver walks it as it would the Internet.

type world struct {
	stores  map[netip.Addr]*authoritative.Store
	all     *authoritative.Store // every zone: the answers of an all-knowing upstream
	rootKSK *authoritative.Key
	ksk     map[string]*authoritative.Key // by zone, for anchors below the root
}

var (
	worldOnce sync.Once
	theWorld  *world
	worldErr  error
)

func testWorld(t testing.TB) *world {
	t.Helper()
	worldOnce.Do(func() { theWorld, worldErr = buildWorld() })
	if worldErr != nil {
		t.Fatal(worldErr)
	}
	return theWorld
}

func parseRRs(origin, text string) ([]dns.RR, error) {
	var out []dns.RR
	zp := dns.NewZoneParser(strings.NewReader(text), origin, origin)
	zp.SetDefaultTTL(3600)
	for rr, ok := zp.Next(); ok; rr, ok = zp.Next() {
		out = append(out, rr)
	}
	return out, zp.Err()
}

type zoneSpec struct {
	origin string
	addr   string
	also   string // a second server's address, or ""
	text   string
	// sign: nil leaves the zone unsigned.
	sign *signSpec
	// tamper changes the signed records before the zone is served.
	tamper func(rrs []dns.RR) ([]dns.RR, error)
	// noDS leaves the zone's DS out of its parent: an island of
	// security, reachable only through a trust anchor of its own.
	noDS bool
}

type signSpec struct {
	inception, expiration time.Time
	opts                  *authoritative.SignOptions
}

func soaNS(origin, ns, addr string) string {
	return fmt.Sprintf("@ 3600 IN SOA %s hostmaster.%s 1 3600 600 86400 300\n@ IN NS %s\n%s IN A %s\n", ns, strings.TrimPrefix(origin, "."), ns, ns, addr)
}

func buildWorld() (*world, error) {
	now := time.Now()
	good := &signSpec{inception: now.Add(-time.Hour), expiration: now.Add(30 * 24 * time.Hour)}
	rogue, err := authoritative.GenerateKey("example.lab.", dns.ECDSAP256SHA256, false)
	if err != nil {
		return nil, err
	}
	specs := []*zoneSpec{
		{origin: ".", addr: "10.53.0.1", sign: good, text: soaNS(".", "ns.root.", "10.53.0.1") +
			"lab. IN NS ns.lab.\nns.lab. IN A 10.53.0.2\n"},
		{origin: "lab.", addr: "10.53.0.2", sign: good, text: soaNS("lab.", "ns.lab.", "10.53.0.2") +
			"example IN NS ns.example\nns.example IN A 10.53.0.3\nexample IN NS ns2.example\nns2.example IN A 10.53.0.9\n" +
			"unsigned IN NS ns.unsigned\nns.unsigned IN A 10.53.0.4\n" +
			"expired IN NS ns.expired\nns.expired IN A 10.53.0.5\n" +
			"nsec3 IN NS ns.nsec3\nns.nsec3 IN A 10.53.0.6\n" +
			"soon IN NS ns.soon\nns.soon IN A 10.53.0.8\n"},
		{origin: "example.lab.", addr: "10.53.0.3", also: "10.53.0.9", sign: good, text: soaNS("example.lab.", "ns.example.lab.", "10.53.0.3") +
			"@ IN NS ns2\nns2 IN A 10.53.0.9\n" +
			"www IN A 192.0.2.80\nalias IN CNAME www\n*.wild IN A 192.0.2.99\n" +
			"forged IN A 192.0.2.1\nstripped IN A 192.0.2.2\nwrongkey IN A 192.0.2.3\n" +
			"out IN CNAME www.unsigned.lab.\nlongttl IN A 192.0.2.4\ndn IN DNAME example.lab.\n",
			tamper: func(rrs []dns.RR) ([]dns.RR, error) {
				var out []dns.RR
				for _, rr := range rrs {
					h := rr.Header()
					switch {
					case h.Name == "longttl.example.lab." && h.Rrtype == dns.TypeA:
						// The TTL is not signed; the RRSIG's Original TTL
						// (3600) is.
						h.Ttl = 86400
					case h.Name == "forged.example.lab." && h.Rrtype == dns.TypeA:
						rr.(*dns.A).A = netip.MustParseAddr("6.6.6.6").AsSlice()
					case h.Name == "stripped.example.lab." && h.Rrtype == dns.TypeRRSIG && rr.(*dns.RRSIG).TypeCovered == dns.TypeA:
						continue
					case h.Name == "wrongkey.example.lab." && h.Rrtype == dns.TypeRRSIG && rr.(*dns.RRSIG).TypeCovered == dns.TypeA:
						sig := rr.(*dns.RRSIG)
						sig.KeyTag = rogue.DNSKEY.KeyTag()
						a, _ := dns.NewRR("wrongkey.example.lab. 3600 IN A 192.0.2.3")
						if err := sig.Sign(rogue.Signer, []dns.RR{a}); err != nil {
							return nil, err
						}
					}
					out = append(out, rr)
				}
				return out, nil
			}},
		{origin: "unsigned.lab.", addr: "10.53.0.4", text: soaNS("unsigned.lab.", "ns.unsigned.lab.", "10.53.0.4") + "www IN A 192.0.2.44\n" +
			"island IN NS ns.island\nns.island IN A 10.53.0.7\n"},
		{origin: "island.unsigned.lab.", addr: "10.53.0.7", sign: good, noDS: true,
			text: soaNS("island.unsigned.lab.", "ns.island.unsigned.lab.", "10.53.0.7") + "www IN A 192.0.2.77\n"},
		{origin: "expired.lab.", addr: "10.53.0.5", sign: &signSpec{inception: now.Add(-60 * 24 * time.Hour), expiration: now.Add(-30 * 24 * time.Hour)},
			text: soaNS("expired.lab.", "ns.expired.lab.", "10.53.0.5") + "www IN A 192.0.2.55\n"},
		{origin: "soon.lab.", addr: "10.53.0.8", sign: &signSpec{inception: now.Add(-30 * 24 * time.Hour), expiration: now.Add(20 * time.Minute)},
			text: soaNS("soon.lab.", "ns.soon.lab.", "10.53.0.8") + "www IN A 192.0.2.88\n"},
		{origin: "nsec3.lab.", addr: "10.53.0.6", sign: &signSpec{inception: good.inception, expiration: good.expiration, opts: &authoritative.SignOptions{NSEC3: true}},
			text: soaNS("nsec3.lab.", "ns.nsec3.lab.", "10.53.0.6") + "www IN A 192.0.2.66\n*.wild IN A 192.0.2.67\n"},
	}
	// Children first, so that each parent gets its children's DS.
	ds := map[string][]dns.RR{}
	w := &world{stores: map[netip.Addr]*authoritative.Store{}, ksk: map[string]*authoritative.Key{}}
	var zones []*authoritative.Zone
	for i := len(specs) - 1; i >= 0; i-- {
		s := specs[i]
		rrs, err := parseRRs(s.origin, s.text)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", s.origin, err)
		}
		for child, set := range ds {
			if parentName(child) == s.origin {
				rrs = append(rrs, set...)
			}
		}
		z, err := authoritative.NewZone(s.origin, s.origin, rrs)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", s.origin, err)
		}
		if s.sign != nil {
			ksk, err := authoritative.GenerateKey(s.origin, dns.ECDSAP256SHA256, true)
			if err != nil {
				return nil, err
			}
			zsk, err := authoritative.GenerateKey(s.origin, dns.ECDSAP256SHA256, false)
			if err != nil {
				return nil, err
			}
			if err := authoritative.SignZone(z, []*authoritative.Key{ksk, zsk}, s.sign.inception, s.sign.expiration, s.sign.opts); err != nil {
				return nil, fmt.Errorf("%s: %w", s.origin, err)
			}
			if !s.noDS {
				ds[s.origin] = []dns.RR{ksk.DS(dns.SHA256)}
			}
			w.ksk[s.origin] = ksk
			if s.origin == "." {
				w.rootKSK = ksk
			}
		}
		if s.tamper != nil {
			rrs, err := s.tamper(z.Records())
			if err != nil {
				return nil, err
			}
			if z, err = authoritative.NewZone(s.origin, s.origin, rrs); err != nil {
				return nil, fmt.Errorf("%s tampered: %w", s.origin, err)
			}
		}
		st, err := authoritative.NewStore(z)
		if err != nil {
			return nil, err
		}
		w.stores[netip.MustParseAddr(s.addr)] = st
		if s.also != "" {
			w.stores[netip.MustParseAddr(s.also)] = st
		}
		zones = append(zones, z)
	}
	if w.all, err = authoritative.NewStore(zones...); err != nil {
		return nil, err
	}
	return w, nil
}

// rootAnchors trusts the world's root KSK.
func (w *world) rootAnchors(t testing.TB) *dnssec.Anchors {
	t.Helper()
	a := dnssec.NewAnchors()
	if err := a.Add(w.rootKSK.DS(dns.SHA256)); err != nil {
		t.Fatal(err)
	}
	return a
}

// worldTransport is the resolver.Transport of the world.
type worldTransport struct{ w *world }

func (t worldTransport) Exchange(ctx context.Context, server netip.AddrPort, q *dns.Msg, tcp bool) (*dns.Msg, error) {
	st := t.w.stores[server.Addr()]
	if st == nil {
		return nil, fmt.Errorf("test world: no server at %s: %w", server, context.DeadlineExceeded)
	}
	if m := dnameAnswer(st, q, tcp); m != nil {
		return m, nil
	}
	return answerFrom(st, q, tcp), nil
}

// dnameAnswer answers a query for a name below a DNAME of the zone (the
// authoritative Store serves DNAMEs as plain data) as RFC 6672 section
// 3.1 says: the signed DNAME and the unsigned CNAME made from it; the
// resolver asks for the target. It returns nil for other queries.
func dnameAnswer(st *authoritative.Store, q *dns.Msg, tcp bool) *dns.Msg {
	name := q.Question[0].Name
	for owner := name; ; {
		off, end := dns.NextLabel(owner, 0)
		if end {
			return nil
		}
		owner = owner[off:]
		dq := q.Copy()
		dq.Question[0] = dns.Question{Name: owner, Qtype: dns.TypeDNAME, Qclass: dns.ClassINET}
		dm := answerFrom(st, dq, tcp)
		if dm.Rcode != dns.RcodeSuccess || !dm.Authoritative {
			return nil
		}
		for _, rr := range dm.Answer {
			d, ok := rr.(*dns.DNAME)
			if !ok {
				continue
			}
			m := new(dns.Msg)
			m.SetReply(q)
			m.Authoritative = true
			m.Answer = append(m.Answer, dm.Answer...)
			m.Answer = append(m.Answer, &dns.CNAME{
				Hdr:    dns.RR_Header{Name: name, Rrtype: dns.TypeCNAME, Class: dns.ClassINET, Ttl: d.Hdr.Ttl},
				Target: strings.TrimSuffix(name, d.Hdr.Name) + d.Target,
			})
			if opt := q.IsEdns0(); opt != nil {
				m.SetEdns0(1232, opt.Do())
			}
			return m
		}
	}
}

func answerFrom(st *authoritative.Store, q *dns.Msg, tcp bool) *dns.Msg {
	m := new(dns.Msg)
	m.SetReply(q)
	do := false
	if opt := q.IsEdns0(); opt != nil {
		do = opt.Do()
	}
	st.Answer(m, do, tcp)
	if q.IsEdns0() != nil {
		m.SetEdns0(1232, do)
	}
	return m
}

// storeInner answers every query from one Store holding all zones, the
// way a recursive upstream that passes whole responses on would: with the
// authority section of positive answers too.
type storeInner struct{ st *authoritative.Store }

func (s storeInner) Resolve(_ context.Context, qname string, qtype, qclass uint16, do bool) (*dns.Msg, error) {
	q := new(dns.Msg)
	q.SetQuestion(dns.Fqdn(qname), qtype)
	q.Question[0].Qclass = qclass
	q.SetEdns0(4096, do)
	m := answerFrom(s.st, q, true)
	m.Authoritative = false
	m.RecursionAvailable = true
	m.Extra = nil
	return m, nil
}

// countingInner counts the queries it passes on, by "qname qtype".
type countingInner struct {
	inner Inner
	mu    sync.Mutex
	calls map[string]int
}

func (c *countingInner) Resolve(ctx context.Context, qname string, qtype, qclass uint16, do bool) (*dns.Msg, error) {
	c.mu.Lock()
	if c.calls == nil {
		c.calls = map[string]int{}
	}
	c.calls[strings.ToLower(dns.Fqdn(qname))+" "+dns.Type(qtype).String()]++
	c.mu.Unlock()
	return c.inner.Resolve(ctx, qname, qtype, qclass, do)
}

func (c *countingInner) take() map[string]int {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := c.calls
	c.calls = nil
	return out
}

func (c *countingInner) count(qtype uint16) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for k, v := range c.calls {
		if strings.HasSuffix(k, " "+dns.Type(qtype).String()) {
			n += v
		}
	}
	return n
}

// newTestResolver builds a validating Resolver over a real iterative
// resolver walking the world. anchors nil means the world's root KSK.
func newTestResolver(t testing.TB, anchors *dnssec.Anchors) (*Resolver, *countingInner) {
	t.Helper()
	w := testWorld(t)
	inner, err := resolver.New(resolver.Config{
		Transport: worldTransport{w},
		RootHints: []dns.RR{mustRR(". 3600000 IN NS ns.root."), mustRR("ns.root. 3600000 IN A 10.53.0.1")},
		DNSSECOK:  true,
	})
	if err != nil {
		t.Fatal(err)
	}
	if anchors == nil {
		anchors = w.rootAnchors(t)
	}
	ci := &countingInner{inner: inner}
	return New(ci, dnssec.New(dnssec.Config{Anchors: anchors}), Config{}), ci
}

func mustRR(s string) dns.RR {
	rr, err := dns.NewRR(s)
	if err != nil {
		panic(err)
	}
	return rr
}

// dnssecKeyDS returns the DS of a fresh key for zone: a trust anchor that
// matches nothing in the world.
func dnssecKeyDS(zone string) (*dns.DS, error) {
	k, err := authoritative.GenerateKey(zone, dns.ECDSAP256SHA256, true)
	if err != nil {
		return nil, err
	}
	return k.DS(dns.SHA256), nil
}
