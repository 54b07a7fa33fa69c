package classify

import (
	"net/netip"
	"testing"

	"github.com/rampart-fw/rampart/firewall/policy"
	"github.com/rampart-fw/rampart/ipproto"
	"github.com/rampart-fw/rampart/packet"
)

// FuzzCompile is a differential fuzz of the whole path from rule text to
// decision: whatever policy.Parse accepts must compile, and the compiled
// classifier must agree with the linear one on keys made from the second
// input, whose addresses and ports are taken from the policy's own
// boundaries so that they hit rules.
func FuzzCompile(f *testing.F) {
	f.Add([]byte(gatewayPolicy), []byte("0123456789abcdefghijklmnopqrstuvwxyz0123456789"))
	f.Add([]byte("allow 80,443/tcp\ndeny from 10.0.0.0/8\nroute allow in on lan out on wan\n"), []byte{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16})
	f.Add([]byte("set $a = { 10.0.0.0/8, fd00::/8 }\nallow from $a to any port 22 proto tcp\nallow proto icmpv6 type 1\n"), []byte{255, 128, 64, 32, 16, 8, 4, 2, 1})
	f.Fuzz(func(t *testing.T, src, keyBytes []byte) {
		p, err := policy.Parse("fuzz.rules", src)
		if err != nil {
			return
		}
		ifaces := Interfaces{"lan": IfaceLAN, "wan": IfaceWAN}
		for _, r := range p.Rules {
			for _, name := range []string{r.InIface, r.OutIface} {
				if _, ok := ifaces[name]; name != "" && !ok && len(ifaces) < 200 {
					ifaces[name] = uint8(len(ifaces) + 1)
				}
			}
		}
		rules, defaults, err := FromPolicy(p, ifaces)
		if err != nil {
			return
		}
		lin, err := NewLinear(rules, defaults)
		if err != nil {
			t.Fatalf("NewLinear refused what FromPolicy made: %v", err)
		}
		c, err := Compile(rules, defaults, Config{MaxMemory: 64 << 20})
		if err != nil {
			t.Fatalf("Compile: %v", err)
		}
		var addrs4, addrs6 []netip.Addr
		ports := []uint16{0, 1, 65535}
		for _, r := range rules {
			for _, ps := range [][]netip.Prefix{r.Src, r.Dst} {
				for _, pfx := range ps {
					a := pfx.Masked().Addr()
					list := &addrs4
					if a.Is6() {
						list = &addrs6
					}
					*list = append(*list, a, a.Prev(), lastAddr(pfx))
				}
			}
			for _, rs := range [][]PortRange{r.SrcPorts, r.DstPorts} {
				for _, pr := range rs {
					ports = append(ports, pr.Lo, pr.Hi, pr.Lo-1, pr.Hi+1)
				}
			}
		}
		addrs4 = append(addrs4, netip.MustParseAddr("192.0.2.1"))
		addrs6 = append(addrs6, netip.MustParseAddr("2001:db8::1"))
		pick := func(b byte, list []netip.Addr) netip.Addr {
			a := list[int(b)%len(list)]
			if !a.IsValid() {
				return list[len(list)-1]
			}
			return a
		}
		for i := 0; i+10 <= len(keyBytes) && i < 4000; i += 10 {
			b := keyBytes[i : i+10]
			list := addrs4
			if b[0]&1 == 1 {
				list = addrs6
			}
			k := Key{
				Dir:      Direction(b[0] >> 1 % 4),
				InIface:  b[1] % 4,
				OutIface: b[1] >> 2 % 4,
				Flow: fk(pick(b[2], list), pick(b[3], list),
					[]ipproto.Proto{1, 6, 17, 47, 50, 51, 58, 41, 0}[int(b[4])%9],
					ports[int(b[5])%len(ports)], ports[int(b[6])%len(ports)]),
				TCPFlags: packet.TCPFlags(b[7]),
				ICMPType: b[8],
				ICMPCode: b[9] % 8,
			}
			wi, wa := lin.Lookup(&k)
			gi, ga := c.Lookup(&k)
			if wi != gi || wa != ga {
				t.Fatalf("key %+v: compiled (%d, %v), linear (%d, %v)", k, gi, ga, wi, wa)
			}
		}
	})
}

// lastAddr returns the last address of p.
func lastAddr(p netip.Prefix) netip.Addr {
	b := p.Masked().Addr().AsSlice()
	for i := p.Bits(); i < len(b)*8; i++ {
		b[i/8] |= 0x80 >> (i % 8)
	}
	a, _ := netip.AddrFromSlice(b)
	return a
}
