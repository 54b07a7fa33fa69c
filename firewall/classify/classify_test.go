package classify

import (
	"errors"
	"net/netip"
	"os"
	"strings"
	"testing"

	"github.com/rampart-fw/rampart/firewall/policy"
	"github.com/rampart-fw/rampart/flow"
	"github.com/rampart-fw/rampart/ipproto"
	"github.com/rampart-fw/rampart/packet"
)

// both builds the linear and the compiled classifier for a policy, so that
// every table test checks both.
func both(t testing.TB, src string) (*policy.Policy, map[string]Classifier) {
	t.Helper()
	p, err := policy.Parse("t.rules", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	rules, defaults, err := FromPolicy(p, GatewayInterfaces())
	if err != nil {
		t.Fatal(err)
	}
	lin, err := NewLinear(rules, defaults)
	if err != nil {
		t.Fatal(err)
	}
	comp, err := Compile(rules, defaults, Config{})
	if err != nil {
		t.Fatal(err)
	}
	return p, map[string]Classifier{"linear": lin, "compiled": comp}
}

// pkt is a compact way to write a Key in a table.
type pkt struct {
	dir        Direction
	in, out    uint8
	src, dst   string
	proto      ipproto.Proto
	sport      uint16
	dport      uint16
	flags      packet.TCPFlags
	icmp, code uint8
}

func (p pkt) key() Key {
	var src, dst netip.Addr
	if p.src != "" {
		src = netip.MustParseAddr(p.src)
	}
	if p.dst != "" {
		dst = netip.MustParseAddr(p.dst)
	}
	return Key{Dir: p.dir, InIface: p.in, OutIface: p.out, Flow: fk(src, dst, p.proto, p.sport, p.dport),
		TCPFlags: p.flags, ICMPType: p.icmp, ICMPCode: p.code}
}

// fk builds a flow key.
func fk(src, dst netip.Addr, proto ipproto.Proto, sport, dport uint16) flow.Key {
	return flow.Key{Src: netip.AddrPortFrom(src, sport), Dst: netip.AddrPortFrom(dst, dport), Proto: proto}
}

// setPorts sets the ports of k's flow.
func setPorts(k *Key, sport, dport uint16) {
	k.Flow.Src = netip.AddrPortFrom(k.Flow.Src.Addr(), sport)
	k.Flow.Dst = netip.AddrPortFrom(k.Flow.Dst.Addr(), dport)
}

const (
	tcp    = ipproto.TCP
	udp    = ipproto.UDP
	icmp   = ipproto.ICMP
	icmpv6 = ipproto.ICMPv6
	esp    = ipproto.ESP
	syn    = packet.TCPSYN
	ack    = packet.TCPACK
)

// The lab's gateway policy, one rule per line so that rule i is line i+N.
const gatewayPolicy = `default deny incoming
default allow outgoing
default deny routed
set $web = { 203.0.113.10, 203.0.113.11 }
set $webports = { 80, 443, 8000:8080 }
deny in on wan from 10.0.0.0/8
limit in on wan proto tcp from 100.64.0.0/24 to any port ssh
allow in on wan to $web port $webports proto tcp
allow in on lan to any port dns
allow in on wan proto tcp to 203.0.113.25 port smtp flags S/SAFR
reject in on wan proto tcp to 203.0.113.25 port smtp
route deny in on lan out on wan proto tcp to any port 25
route allow in on lan out on wan
deny proto icmp from 198.51.100.0/24 type echo-request
deny out on wan to 192.0.2.0/24 port 1024:65535 proto udp
allow from 2001:db8:100::/48 to any port 22 proto tcp
allow proto esp from 198.51.100.7
`

func TestLookupTable(t *testing.T) {
	_, cls := both(t, gatewayPolicy)
	const (
		lan, wan, local = IfaceLAN, IfaceWAN, IfaceLocal
	)
	tests := []struct {
		name   string
		p      pkt
		index  int
		action Action
	}{
		{"spoofed source dropped", pkt{In, wan, lan, "10.1.2.3", "203.0.113.10", tcp, 1234, 80, syn, 0, 0}, 0, Deny},
		{"spoofed source to the gateway", pkt{In, wan, local, "10.1.2.3", "203.0.113.1", udp, 1234, 53, 0, 0, 0}, 0, Deny},
		{"spoof rule is wan only", pkt{In, lan, local, "10.1.2.3", "192.168.1.1", udp, 1234, 53, 0, 0, 0}, 3, Allow},
		{"office ssh limited", pkt{In, wan, local, "100.64.0.9", "203.0.113.1", tcp, 40000, 22, syn, 0, 0}, 1, Limit},
		{"office ssh over udp is not ssh", pkt{In, wan, local, "100.64.0.9", "203.0.113.1", udp, 40000, 22, 0, 0, 0}, -1, Deny},
		{"web server first address", pkt{In, wan, lan, "198.51.100.1", "203.0.113.10", tcp, 50000, 443, syn, 0, 0}, 2, Allow},
		{"web server second address range", pkt{In, wan, lan, "198.51.100.1", "203.0.113.11", tcp, 50000, 8080, syn, 0, 0}, 2, Allow},
		{"web server range start", pkt{In, wan, lan, "198.51.100.1", "203.0.113.11", tcp, 50000, 8000, syn, 0, 0}, 2, Allow},
		{"web server below range", pkt{In, wan, lan, "198.51.100.1", "203.0.113.11", tcp, 50000, 7999, syn, 0, 0}, -1, Deny},
		{"web server above range", pkt{In, wan, lan, "198.51.100.1", "203.0.113.11", tcp, 50000, 8081, syn, 0, 0}, -1, Deny},
		{"not a web server", pkt{In, wan, lan, "198.51.100.1", "203.0.113.12", tcp, 50000, 443, syn, 0, 0}, -1, Deny},
		{"web over udp", pkt{In, wan, lan, "198.51.100.1", "203.0.113.10", udp, 50000, 443, 0, 0, 0}, -1, Deny},
		{"web from the inside is not incoming on wan", pkt{In, lan, lan, "192.168.1.5", "203.0.113.10", tcp, 50000, 443, syn, 0, 0}, -1, Deny},
		{"dns over udp on lan", pkt{In, lan, local, "192.168.1.5", "192.168.1.1", udp, 5353, 53, 0, 0, 0}, 3, Allow},
		{"dns over tcp on lan", pkt{In, lan, local, "192.168.1.5", "192.168.1.1", tcp, 5353, 53, syn, 0, 0}, 3, Allow},
		{"dns from wan", pkt{In, wan, local, "198.51.100.1", "203.0.113.1", udp, 5353, 53, 0, 0, 0}, -1, Deny},
		{"smtp syn allowed", pkt{In, wan, lan, "198.51.100.1", "203.0.113.25", tcp, 40000, 25, syn, 0, 0}, 4, Allow},
		{"smtp syn with ece allowed", pkt{In, wan, lan, "198.51.100.1", "203.0.113.25", tcp, 40000, 25, syn | packet.TCPECE, 0, 0}, 4, Allow},
		{"smtp syn-ack rejected", pkt{In, wan, lan, "198.51.100.1", "203.0.113.25", tcp, 40000, 25, syn | ack, 0, 0}, 5, Reject},
		{"smtp xmas rejected", pkt{In, wan, lan, "198.51.100.1", "203.0.113.25", tcp, 40000, 25, 0x3f, 0, 0}, 5, Reject},
		{"outbound smtp forwarded denied", pkt{Out, lan, wan, "192.168.1.5", "198.51.100.1", tcp, 40000, 25, syn, 0, 0}, 6, Deny},
		{"outbound web forwarded", pkt{Out, lan, wan, "192.168.1.5", "198.51.100.1", tcp, 40000, 443, syn, 0, 0}, 7, Allow},
		{"route rule ignores the gateway's own traffic", pkt{Out, local, wan, "203.0.113.1", "198.51.100.1", tcp, 40000, 25, syn, 0, 0}, -1, Allow},
		{"route rule needs the right interfaces", pkt{Routed, lan, lan, "192.168.1.5", "192.168.2.5", tcp, 40000, 25, syn, 0, 0}, -1, Deny},
		{"ping from scanners denied", pkt{In, wan, lan, "198.51.100.9", "203.0.113.10", icmp, 0, 0, 0, 8, 0}, 8, Deny},
		{"ping from elsewhere implicit allow", pkt{In, wan, lan, "192.0.2.9", "203.0.113.10", icmp, 0, 0, 0, 8, 0}, 15, Allow},
		{"unreachable from scanners implicit allow", pkt{In, wan, lan, "198.51.100.9", "203.0.113.10", icmp, 0, 0, 0, 3, 4}, 12, Allow},
		{"time exceeded implicit", pkt{In, wan, local, "192.0.2.9", "203.0.113.1", icmp, 0, 0, 0, 11, 0}, 13, Allow},
		{"parameter problem implicit", pkt{In, wan, local, "192.0.2.9", "203.0.113.1", icmp, 0, 0, 0, 12, 0}, 14, Allow},
		{"icmp redirect not implicit", pkt{In, wan, local, "192.0.2.9", "203.0.113.1", icmp, 0, 0, 0, 5, 0}, -1, Deny},
		{"implicit rules apply routed", pkt{Routed, lan, 3, "192.168.1.5", "192.168.2.5", icmp, 0, 0, 0, 8, 0}, 15, Allow},
		{"outgoing udp high ports denied", pkt{Out, local, wan, "203.0.113.1", "192.0.2.53", udp, 5000, 1024, 0, 0, 0}, 9, Deny},
		{"outgoing udp low port by default", pkt{Out, local, wan, "203.0.113.1", "192.0.2.53", udp, 5000, 1023, 0, 0, 0}, -1, Allow},
		{"first match: route allow comes before the deny", pkt{Out, lan, wan, "192.168.1.5", "192.0.2.53", udp, 5000, 1024, 0, 0, 0}, 7, Allow},
		{"v6 office ssh", pkt{In, wan, local, "2001:db8:100::5", "2001:db8::1", tcp, 40000, 22, syn, 0, 0}, 10, Allow},
		{"v6 office other net", pkt{In, wan, local, "2001:db8:101::5", "2001:db8::1", tcp, 40000, 22, syn, 0, 0}, -1, Deny},
		{"v6 packet too big implicit", pkt{In, wan, lan, "2001:db8:5::1", "2001:db8::1", icmpv6, 0, 0, 0, 2, 0}, 17, Allow},
		{"v6 echo implicit", pkt{In, wan, lan, "2001:db8:5::1", "2001:db8::1", icmpv6, 0, 0, 0, 128, 0}, 20, Allow},
		{"v6 neighbour solicitation implicit", pkt{In, lan, local, "fe80::1", "ff02::1:ff00:1", icmpv6, 0, 0, 0, 135, 0}, 23, Allow},
		{"icmpv6 type numbers are not icmp's", pkt{In, wan, lan, "2001:db8:5::1", "2001:db8::1", icmpv6, 0, 0, 0, 8, 0}, -1, Deny},
		{"esp from the peer", pkt{In, wan, local, "198.51.100.7", "203.0.113.1", esp, 0, 0, 0, 0, 0}, 11, Allow},
		{"esp v6 peer is not the peer", pkt{In, wan, local, "2001:db8::7", "2001:db8::1", esp, 0, 0, 0, 0, 0}, -1, Deny},
		{"mixed families match nothing", pkt{In, wan, lan, "10.1.2.3", "2001:db8::1", tcp, 1, 80, 0, 0, 0}, -1, Deny},
		{"invalid addresses match nothing", pkt{In, wan, lan, "", "", tcp, 1, 80, 0, 0, 0}, -1, Deny},
		{"invalid direction denied", pkt{Direction(7), wan, lan, "192.0.2.1", "203.0.113.10", tcp, 1, 443, 0, 0, 0}, -1, Deny},
		{"v4-mapped source is IPv6", pkt{In, wan, lan, "::ffff:10.1.2.3", "::ffff:203.0.113.10", tcp, 1, 80, 0, 0, 0}, -1, Deny},
	}
	for name, c := range cls {
		for _, tt := range tests {
			t.Run(name+"/"+tt.name, func(t *testing.T) {
				k := tt.p.key()
				i, a := c.Lookup(&k)
				if i != tt.index || a != tt.action {
					t.Errorf("Lookup = (%d, %v), want (%d, %v)", i, a, tt.index, tt.action)
				}
			})
		}
	}
}

func TestLookupZone(t *testing.T) {
	_, cls := both(t, "allow from fe80::/64 to any port 22 proto tcp\n")
	k := Key{Dir: In, Flow: fk(netip.MustParseAddr("fe80::1%eth0"), netip.MustParseAddr("fe80::2%eth0"), tcp, 0, 22)}
	for name, c := range cls {
		if i, a := c.Lookup(&k); i != 0 || a != Allow {
			t.Errorf("%s: zoned addresses: (%d, %v)", name, i, a)
		}
	}
}

func TestICMPEchoOption(t *testing.T) {
	_, cls := both(t, "icmp-echo deny\n")
	echo := pkt{In, IfaceWAN, IfaceLocal, "192.0.2.9", "203.0.113.1", icmp, 0, 0, 0, 8, 0}.key()
	unreach := pkt{In, IfaceWAN, IfaceLocal, "192.0.2.9", "203.0.113.1", icmp, 0, 0, 0, 3, 1}.key()
	for name, c := range cls {
		if i, a := c.Lookup(&echo); i != -1 || a != Deny {
			t.Errorf("%s: echo with icmp-echo deny: (%d, %v)", name, i, a)
		}
		if i, a := c.Lookup(&unreach); i != 0 || a != Allow {
			t.Errorf("%s: unreachable: (%d, %v)", name, i, a)
		}
	}
}

func TestEmptyPolicy(t *testing.T) {
	_, cls := both(t, "default allow incoming\n")
	k := pkt{In, IfaceWAN, IfaceLocal, "192.0.2.9", "203.0.113.1", tcp, 1, 2, 0, 0, 0}.key()
	for name, c := range cls {
		if i, a := c.Lookup(&k); i != -1 || a != Allow {
			t.Errorf("%s: (%d, %v)", name, i, a)
		}
	}
	// No rules at all, not even implicit ones.
	c, err := Compile(nil, Defaults{Reject, Allow, Deny}, Config{})
	if err != nil {
		t.Fatal(err)
	}
	if i, a := c.Lookup(&k); i != -1 || a != Reject {
		t.Errorf("no rules: (%d, %v)", i, a)
	}
	if st := c.Stats(); st.Engines != 0 || st.Rules != 0 {
		t.Errorf("stats %+v", st)
	}
}

func TestFromPolicyErrors(t *testing.T) {
	p, err := policy.Parse("t.rules", []byte("allow ssh\nallow in on eth0 to any port 80 proto tcp\n"))
	if err != nil {
		t.Fatal(err)
	}
	_, _, err = FromPolicy(p, GatewayInterfaces())
	if err == nil || err.Error() != `t.rules:2:1: unknown interface "eth0" (known: lan, wan)` {
		t.Errorf("unknown interface: %v", err)
	}
	_, _, err = FromPolicy(p, Interfaces{"eth0": 0})
	if err == nil || !strings.Contains(err.Error(), "reserved for the gateway itself") {
		t.Errorf("index 0: %v", err)
	}
	rules, _, err := FromPolicy(p, Interfaces{"eth0": 7})
	if err != nil {
		t.Fatal(err)
	}
	if len(rules) != p.NumRules() || rules[1].InIface != 7 || rules[1].OutIface != Any {
		t.Errorf("rules %d, rule 1 %+v", len(rules), rules[1])
	}
}

func TestRuleValidation(t *testing.T) {
	good := Rule{Dirs: AllDirs, Family: policy.FamilyBoth, InIface: Any, OutIface: Any, ICMPType: Any, ICMPCode: Any}
	tests := []struct {
		name string
		mod  func(r *Rule)
		want string
	}{
		{"no directions", func(r *Rule) { r.Dirs = 0 }, "invalid direction set"},
		{"bad directions", func(r *Rule) { r.Dirs = 0x10 }, "invalid direction set"},
		{"no family", func(r *Rule) { r.Family = 0 }, "invalid family"},
		{"iface", func(r *Rule) { r.InIface = 256 }, "InIface 256 out of range"},
		{"icmp type", func(r *Rule) { r.ICMPType = -2 }, "ICMPType -2 out of range"},
		{"action", func(r *Rule) { r.Action = 9 }, "invalid action"},
		{"flags", func(r *Rule) { r.Flags = TCPFlags{Value: 2, Mask: 1} }, "outside mask"},
		{"prefix", func(r *Rule) { r.Src = []netip.Prefix{{}} }, "source prefix invalid Prefix is invalid"},
		{"ports", func(r *Rule) { r.DstPorts = []PortRange{{Lo: 9, Hi: 8}} }, "port range 9:8 is empty"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := good
			tt.mod(&r)
			rules := []Rule{good, r}
			if _, err := Compile(rules, Defaults{}, Config{}); err == nil || !strings.Contains(err.Error(), tt.want) || !strings.Contains(err.Error(), "rule 1") {
				t.Errorf("Compile: %v, want %q", err, tt.want)
			}
			if _, err := NewLinear(rules, Defaults{}); err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("NewLinear: %v, want %q", err, tt.want)
			}
		})
	}
}

func TestCompileLimits(t *testing.T) {
	rules, defaults, _ := benchSetRules(t, 2000)
	if _, err := Compile(rules, defaults, Config{MaxRules: 100}); err == nil || !strings.Contains(err.Error(), "more than the limit of 100") {
		t.Errorf("MaxRules: %v", err)
	}
	if _, err := Compile(rules, defaults, Config{MaxMemory: 64 << 10}); err == nil || !strings.Contains(err.Error(), "more table memory than the limit") {
		t.Errorf("MaxMemory: %v", err)
	}
	c, err := Compile(rules, defaults, Config{})
	if err != nil {
		t.Fatal(err)
	}
	st := c.Stats()
	// The IPv4 rules get trees; the implicit ICMPv6 rules bit vectors.
	if st.Rules != len(rules) || st.Bytes <= 0 || c.NumRules() != len(rules) ||
		st.TreeEngines == 0 || st.TreeNodes == 0 || st.TreeLeaves == 0 || st.Boxes < len(rules) || st.TreeDepth == 0 ||
		st.Engines <= st.TreeEngines || st.SrcClasses == 0 || st.DstPortClasses == 0 {
		t.Errorf("stats %+v", st)
	}
	// A quarter of what the tables take: the trees do not fit, nor do the
	// bit vectors Compile falls back to, so the rule set is refused.
	if _, err := Compile(rules, defaults, Config{MaxMemory: st.Bytes / 4}); err == nil || !strings.Contains(err.Error(), "more table memory than the limit") {
		t.Errorf("MaxMemory %d: %v", st.Bytes/4, err)
	}
}

// TestAdversarialCrossProduct builds the rule set that makes the one-byte
// fields' cross-products largest: every rule a different protocol, flag
// pattern, ICMP type and code. Compile must stay within its bounds.
func TestAdversarialCrossProduct(t *testing.T) {
	var rules []Rule
	for i := 0; i < 256; i++ {
		rules = append(rules, Rule{
			Dirs: AllDirs, Family: policy.FamilyIPv4, InIface: int16(i), OutIface: int16(255 - i),
			Protos: []ipproto.Proto{ipproto.Proto(i)}, Flags: TCPFlags{Value: packet.TCPFlags(i), Mask: 0xff},
			ICMPType: int16(i), ICMPCode: int16(255 - i), Action: Allow,
		})
	}
	c, err := Compile(rules, Defaults{}, Config{})
	if err != nil {
		t.Fatal(err)
	}
	lin, _ := NewLinear(rules, Defaults{})
	for i := 0; i < 256; i++ {
		k := Key{Dir: Out, InIface: uint8(i), OutIface: uint8(255 - i), Flow: fk(netip.MustParseAddr("192.0.2.1"),
			netip.MustParseAddr("192.0.2.2"), ipproto.Proto(i), 0, 0), TCPFlags: packet.TCPFlags(i), ICMPType: uint8(i), ICMPCode: uint8(255 - i)}
		gi, ga := c.Lookup(&k)
		wi, wa := lin.Lookup(&k)
		if gi != wi || ga != wa || gi != i {
			t.Fatalf("key %d: compiled (%d, %v), linear (%d, %v)", i, gi, ga, wi, wa)
		}
	}
}

func TestLookupAllocatesNothing(t *testing.T) {
	_, cls := both(t, gatewayPolicy)
	keys := []Key{
		pkt{In, IfaceWAN, IfaceLAN, "198.51.100.1", "203.0.113.10", tcp, 50000, 443, syn, 0, 0}.key(),
		pkt{In, IfaceWAN, IfaceLAN, "2001:db8:5::1", "2001:db8::1", icmpv6, 0, 0, 0, 2, 0}.key(),
		pkt{In, IfaceWAN, IfaceLAN, "fe80::1%eth0", "fe80::2%eth0", tcp, 1, 2, 0, 0, 0}.key(),
	}
	for name, c := range cls {
		for i := range keys {
			if n := testing.AllocsPerRun(100, func() { c.Lookup(&keys[i]) }); n != 0 {
				t.Errorf("%s: %v allocations per lookup of key %d", name, n, i)
			}
		}
	}
}

func TestExplain(t *testing.T) {
	p, cls := both(t, gatewayPolicy)
	tests := []struct {
		p    pkt
		want string
	}{
		{pkt{In, IfaceWAN, IfaceLAN, "198.51.100.1", "203.0.113.10", tcp, 50000, 443, syn, 0, 0},
			"allow: t.rules:8: allow in on wan to $web port $webports proto tcp"},
		{pkt{In, IfaceWAN, IfaceLAN, "192.0.2.9", "203.0.113.10", icmp, 0, 0, 0, 8, 0},
			"allow: implicit rule: allow proto icmp type echo-request"},
		{pkt{In, IfaceWAN, IfaceLAN, "192.0.2.9", "203.0.113.10", udp, 1, 9, 0, 0, 0},
			"deny: default deny incoming"},
		{pkt{Out, IfaceLAN, IfaceWAN, "192.168.1.5", "198.51.100.1", tcp, 40000, 25, syn, 0, 0},
			"deny: t.rules:12: route deny in on lan out on wan proto tcp to any port 25"},
	}
	for name, c := range cls {
		for _, tt := range tests {
			k := tt.p.key()
			d := Explain(c, p, &k)
			if got := d.String(); got != tt.want {
				t.Errorf("%s: Explain = %q, want %q", name, got, tt.want)
			}
		}
	}
	k := tests[0].p.key()
	d := Explain(cls["compiled"], p, &k)
	if d.Index != 2 || d.Line != 8 || d.Default || d.Implicit || d.Action != Allow || d.Dir != In {
		t.Errorf("decision %+v", d)
	}
	other, _ := policy.Parse("other.rules", nil)
	k = pkt{In, IfaceLAN, IfaceLocal, "fe80::1", "ff02::1:ff00:1", icmpv6, 0, 0, 0, 135, 0}.key()
	if got := Explain(cls["compiled"], other, &k).String(); got != "allow: rule 23, which policy other.rules does not have" {
		t.Errorf("foreign policy: %q", got)
	}
}

// TestGatewayRulesFile compiles the policy package's example file.
func TestGatewayRulesFile(t *testing.T) {
	src, err := os.ReadFile("../policy/testdata/gateway.rules")
	if err != nil {
		t.Skip(err)
	}
	p, err := policy.Parse("gateway.rules", src)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := CompilePolicy(p, GatewayInterfaces(), Config{}); err != nil {
		t.Fatal(err)
	}
	if _, err := CompilePolicy(p, Interfaces{"lan": 1}, Config{}); err == nil || !errors.Is(err, err) || !strings.Contains(err.Error(), `unknown interface "wan"`) {
		t.Errorf("missing wan: %v", err)
	}
}
