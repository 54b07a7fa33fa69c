package main

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"strings"

	"github.com/rampart-fw/rampart/firewall/classify"
	"github.com/rampart-fw/rampart/firewall/policy"
	"github.com/rampart-fw/rampart/flow"
	"github.com/rampart-fw/rampart/ipproto"
	"github.com/rampart-fw/rampart/packet"
)

// The test traffic: from the outside host web to the inside host client2,
// incoming through the gateway, allowed only by the last rules of the set.
var (
	senderAddr   = netip.MustParseAddr("203.0.113.80") // web
	receiverAddr = netip.MustParseAddr("10.10.0.12")   // client2
)

const (
	udpPort      = 5300 // UDP blast
	tcpPortLo    = 5301 // connection rate: listeners on tcpPortLo..tcpPortHi
	tcpPortHi    = 5308
	iperfPort    = 5201 // bulk throughput
	blockedPort  = 5400 // no rule allows it: the sanity check that a firewall is in force
	nftTable     = "rampart_bench"
	testRuleKeep = 3 // rules at the end that allow the test traffic
	// portRangeLo starts the senders' ephemeral port range, above every
	// port a filler rule names.
	portRangeLo = 10240
)

// benchRule is one rule of the generated set, written out in both
// languages from this one value so that the two sets cannot drift apart.
type benchRule struct {
	allow    bool
	outgoing bool         // from lan; otherwise incoming (from wan)
	proto    string       // "tcp", "udp" or "" for any
	src, dst netip.Prefix // invalid: any
	sport    [2]uint16    // [0,0]: any; lo == hi: one port
	dport    [2]uint16
}

// fillerPools are where rules that the test traffic must not hit take their
// outside addresses: none of them holds web, and all are documentation,
// benchmarking or shared address space that the lab never assigns.
var fillerPools = []netip.Prefix{
	netip.MustParsePrefix("172.16.0.0/12"),
	netip.MustParsePrefix("100.64.0.0/10"),
	netip.MustParsePrefix("198.18.0.0/15"),
	netip.MustParsePrefix("192.0.2.0/24"),
}

// generateRules returns n rules: n-testRuleKeep fillers that no test packet
// matches, then the rules that allow the test traffic. The generator is
// seeded so that every run measures the same set.
func generateRules(n int, seed uint64) []benchRule {
	if n < testRuleKeep {
		n = testRuleKeep
	}
	r := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	rules := make([]benchRule, 0, n)
	for len(rules) < n-testRuleKeep {
		rules = append(rules, fillerRule(r))
	}
	web := netip.PrefixFrom(senderAddr, 32)
	c2 := netip.PrefixFrom(receiverAddr, 32)
	return append(rules,
		benchRule{allow: true, proto: "udp", src: web, dst: c2, dport: [2]uint16{udpPort, udpPort}},
		benchRule{allow: true, proto: "tcp", src: web, dst: c2, dport: [2]uint16{tcpPortLo, tcpPortHi}},
		benchRule{allow: true, proto: "tcp", src: web, dst: c2, dport: [2]uint16{iperfPort, iperfPort}},
	)
}

// fillerRule draws a rule that cannot match the test traffic (web to
// client2 on the test ports, incoming) nor the lab's own checks (inside to
// web, outgoing): each shape names an address or a port the test never uses.
func fillerRule(r *rand.Rand) benchRule {
	b := benchRule{allow: r.IntN(2) == 0}
	switch r.IntN(3) {
	case 0:
		b.proto = "tcp"
	case 1:
		b.proto = "udp"
	}
	port := func() [2]uint16 {
		// Ports below 5000 or in 6000..9999: clear of the test ports and of
		// the ephemeral range the senders draw source ports from.
		p := uint16(1 + r.IntN(4999))
		if r.IntN(2) == 0 {
			p = uint16(6000 + r.IntN(4000))
		}
		if r.IntN(4) == 0 {
			return [2]uint16{p, p + uint16(1+r.IntN(20))}
		}
		return [2]uint16{p, p}
	}
	pooled := func() netip.Prefix {
		pool := fillerPools[r.IntN(len(fillerPools))]
		bits := pool.Bits() + r.IntN(32-pool.Bits()+1)
		a := pool.Addr().As4()
		v := uint32(a[0])<<24 | uint32(a[1])<<16 | uint32(a[2])<<8 | uint32(a[3])
		v |= r.Uint32() & (1<<(32-pool.Bits()) - 1)
		addr := netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)})
		return netip.PrefixFrom(addr, bits).Masked()
	}
	inside := func(avoid bool) netip.Prefix {
		for {
			last := byte(2 + r.IntN(250))
			if !avoid || last != receiverAddr.As4()[3] {
				return netip.PrefixFrom(netip.AddrFrom4([4]byte{10, 10, 0, last}), 32)
			}
		}
	}
	if r.IntN(5) == 0 {
		// Outgoing: towards addresses outside the lab.
		b.outgoing = true
		if r.IntN(2) == 0 {
			b.src = netip.MustParsePrefix("10.10.0.0/24")
		}
		b.dst = pooled()
		if b.proto != "" {
			b.dport = port()
		}
		return b
	}
	switch r.IntN(3) {
	case 0: // from outside addresses the lab does not have
		b.src = pooled()
		if r.IntN(2) == 0 {
			b.dst = inside(false)
		}
		if b.proto != "" {
			b.dport = port()
			if r.IntN(4) == 0 {
				b.sport = port()
			}
		}
	case 1: // to inside hosts other than the receiver
		if r.IntN(2) == 0 {
			b.src = netip.MustParsePrefix("203.0.113.0/24")
		}
		b.dst = inside(true)
		if b.proto != "" {
			b.dport = port()
		}
	default: // to the receiver, on ports the test does not use
		if b.proto == "" {
			b.proto = "tcp"
		}
		b.dst = netip.PrefixFrom(receiverAddr, 32)
		b.dport = port()
	}
	return b
}

func prefixText(p netip.Prefix) string {
	if !p.IsValid() {
		return "any"
	}
	if p.Bits() == p.Addr().BitLen() {
		return p.Addr().String()
	}
	return p.String()
}

func portText(p [2]uint16, sep string) string {
	if p[0] == p[1] {
		return fmt.Sprint(p[0])
	}
	return fmt.Sprintf("%d%s%d", p[0], sep, p[1])
}

// policyText writes the rules in rampart's language with ufw's defaults.
func policyText(rules []benchRule) string {
	var b strings.Builder
	fmt.Fprintf(&b, "# %d rules generated by bench/gateway; the last %d allow the test traffic\n", len(rules), testRuleKeep)
	b.WriteString("default deny incoming\ndefault allow outgoing\n")
	for _, r := range rules {
		if r.allow {
			b.WriteString("allow")
		} else {
			b.WriteString("deny")
		}
		if r.outgoing {
			b.WriteString(" out")
		}
		if r.proto != "" {
			b.WriteString(" proto " + r.proto)
		}
		b.WriteString(" from " + prefixText(r.src))
		if r.sport[0] != 0 {
			b.WriteString(" port " + portText(r.sport, ":"))
		}
		b.WriteString(" to " + prefixText(r.dst))
		if r.dport[0] != 0 {
			b.WriteString(" port " + portText(r.dport, ":"))
		}
		b.WriteByte('\n')
	}
	return b.String()
}

// nftText writes the same rules as an nftables forward chain for a router
// whose inside interface is "lan" and outside one "wan": connection
// tracking first, as rampart's implicit before-rules, then the rules in
// order, then rampart's implicit ICMP rules, then the defaults (allow
// outgoing; the chain policy drops the rest, deny incoming).
func nftText(rules []benchRule) string {
	var b strings.Builder
	fmt.Fprintf(&b, "table inet %s {\n\tchain forward {\n\t\ttype filter hook forward priority filter; policy drop;\n", nftTable)
	b.WriteString("\t\tct state established,related accept\n\t\tct state invalid drop\n")
	for _, r := range rules {
		b.WriteString("\t\t")
		if r.outgoing {
			b.WriteString(`iifname "lan"`)
		} else {
			b.WriteString(`iifname "wan"`)
		}
		if r.src.IsValid() {
			b.WriteString(" ip saddr " + prefixText(r.src))
		}
		if r.dst.IsValid() {
			b.WriteString(" ip daddr " + prefixText(r.dst))
		}
		switch {
		case r.proto != "" && r.sport[0] == 0 && r.dport[0] == 0:
			b.WriteString(" meta l4proto " + r.proto)
		case r.proto != "":
			if r.sport[0] != 0 {
				b.WriteString(" " + r.proto + " sport " + portText(r.sport, "-"))
			}
			if r.dport[0] != 0 {
				b.WriteString(" " + r.proto + " dport " + portText(r.dport, "-"))
			}
		}
		if r.allow {
			b.WriteString(" accept\n")
		} else {
			b.WriteString(" drop\n")
		}
	}
	b.WriteString("\t\tmeta l4proto icmp icmp type { destination-unreachable, time-exceeded, parameter-problem, echo-request } accept\n")
	b.WriteString("\t\tmeta l4proto ipv6-icmp icmpv6 type { destination-unreachable, packet-too-big, time-exceeded, parameter-problem, nd-router-solicit, nd-router-advert, nd-neighbor-solicit, nd-neighbor-advert, echo-request } accept\n")
	b.WriteString("\t\tiifname \"lan\" accept\n\t}\n}\n")
	return b.String()
}

// checkPolicy parses the generated policy with rampart's own parser and
// confirms with the linear reference classifier that every test flow is
// decided by its rule at the end of the set (so each new connection is
// classified against all of them), that the readiness probe passes, and
// that the blocked port is denied.
func checkPolicy(text string, nRules int) error {
	p, err := policy.Parse("bench.rules", []byte(text))
	if err != nil {
		return err
	}
	if len(p.Rules) != nRules {
		return fmt.Errorf("generated policy has %d rules, want %d", len(p.Rules), nRules)
	}
	rules, defaults, err := classify.FromPolicy(p, classify.GatewayInterfaces())
	if err != nil {
		return err
	}
	lin, err := classify.NewLinear(rules, defaults)
	if err != nil {
		return err
	}
	in := func(proto ipproto.Proto, sport, dport uint16) classify.Key {
		k := classify.Key{Dir: classify.In, InIface: classify.IfaceWAN, OutIface: classify.IfaceLAN,
			Flow: flow.Key{Src: netip.AddrPortFrom(senderAddr, sport), Dst: netip.AddrPortFrom(receiverAddr, dport), Proto: proto}}
		if proto == ipproto.TCP {
			k.TCPFlags = packet.TCPSYN
		}
		return k
	}
	checks := []struct {
		name   string
		key    classify.Key
		index  int
		action classify.Action
	}{
		{"udp blast", in(ipproto.UDP, 40000, udpPort), nRules - 3, classify.Allow},
		{"tcp connect low port", in(ipproto.TCP, portRangeLo, tcpPortLo), nRules - 2, classify.Allow},
		{"tcp connect high port", in(ipproto.TCP, 65535, tcpPortHi), nRules - 2, classify.Allow},
		{"iperf3", in(ipproto.TCP, 50000, iperfPort), nRules - 1, classify.Allow},
		{"blocked port", in(ipproto.TCP, 40000, blockedPort), -1, classify.Deny},
		{"readiness probe (client1 to web, outgoing)", classify.Key{Dir: classify.Out, InIface: classify.IfaceLAN, OutIface: classify.IfaceWAN,
			Flow: flow.Key{Src: netip.MustParseAddrPort("10.10.0.11:40000"), Dst: netip.AddrPortFrom(senderAddr, 9), Proto: ipproto.TCP}, TCPFlags: packet.TCPSYN}, -1, classify.Allow},
	}
	for _, c := range checks {
		// Every source port: a filler with a source port must not catch
		// any connection the senders open.
		for _, sport := range []uint16{c.key.Flow.Src.Port(), portRangeLo, 32768, 49152, 65535} {
			k := c.key
			k.Flow.Src = netip.AddrPortFrom(k.Flow.Src.Addr(), sport)
			if i, a := lin.Lookup(&k); i != c.index || a != c.action {
				return fmt.Errorf("%s from port %d: decided by rule %d (%v), want rule %d (%v)", c.name, sport, i, a, c.index, c.action)
			}
		}
	}
	return nil
}
