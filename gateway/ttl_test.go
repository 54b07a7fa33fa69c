package gateway

import (
	"bytes"
	"fmt"
	"net/netip"
	"slices"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/rampart-fw/rampart/datapath"
	"github.com/rampart-fw/rampart/ids"
	"github.com/rampart-fw/rampart/ids/detect"
	"github.com/rampart-fw/rampart/ids/rules"
	"github.com/rampart-fw/rampart/packet"
)

// evilRules alerts on EVILCMD to port 80.
func evilRules(t *testing.T) *detect.Engine {
	t.Helper()
	set := rules.Parse("ttl.rules", []byte(`alert tcp any any -> any 80 (msg:"evil command"; content:"EVILCMD"; sid:1; rev:1;)`), nil)
	if err := set.Err(); err != nil {
		t.Fatal(err)
	}
	rs, err := detect.Compile(set, detect.Config{})
	if err != nil {
		t.Fatal(err)
	}
	return rs
}

// withTTL returns a copy of frame (IPv4 over Ethernet) with TTL ttl, its
// header checksum computed afresh.
func withTTL(frame []byte, ttl uint8) []byte {
	b := bytes.Clone(frame)
	b[14+8] = ttl
	fixIPv4Checksum(b)
	return b
}

// headerChecksumOK says whether the IPv4 header of frame sums to zero,
// computed from nothing.
func headerChecksumOK(frame []byte) bool {
	ip := frame[14:]
	return packet.Checksum(ip[:int(ip[0]&0xf)*4], 0) == 0
}

// TestTTLEvasionInline: the TTL evasion through the gateway in
// prevention mode, web three routers away. Without min_ttl the junk
// segment, whose TTL (3) runs out on the way, is dropped and the real one
// goes out and is inspected; with min_ttl 16 the junk leaves with TTL 16
// (the header checksum right), reaches the server, and the real segment,
// which contradicts it, is dropped: either way the server receives
// exactly the bytes inspected.
func TestTTLEvasionInline(t *testing.T) {
	rs := evilRules(t)
	for _, minTTL := range []uint8{0, 16} {
		t.Run(fmt.Sprintf("min_ttl=%d", minTTL), func(t *testing.T) {
			log := &alertLog{}
			hops := ids.NewHostHops(0)
			hops.Set(netip.MustParsePrefix("203.0.113.0/24"), 3)
			ie := mustIDS(t, ids.Config{Mode: ids.Prevent, Rules: rs, Output: log, Hops: hops, MinTTL: minTTL})
			e, err := New(mustPolicy(t, testPolicy), Config{IDS: ie})
			if err != nil {
				t.Fatal(err)
			}
			w := e.NewWorker()
			bridge(t, w, from(datapath.LAN, tcpFrame(t, seg{client, web, "S", 1000, 0, 0}))...)
			bridge(t, w, from(datapath.WAN, tcpFrame(t, seg{web, client, "SA", 5000, 1001, 0}))...)
			junk := withTTL(dataFrame(t, seg{client, web, "PA", 1001, 5001, 0}, "EVILXXX!"), 3)
			real := dataFrame(t, seg{client, web, "PA", 1001, 5001, 0}, "EVILCMD!")
			_, wan := bridge(t, w, from(datapath.LAN, bytes.Clone(junk), bytes.Clone(real))...)
			st := ie.Stats()
			m := gather(t, e)
			if m["rampart_ids_ttl_packets_total,raised"] != float64(st.TTLRaised) || m["rampart_ids_ttl_packets_total,unreachable"] != float64(st.TTLUnreachable) {
				t.Errorf("metrics %v, stats %d raised, %d unreachable", m, st.TTLRaised, st.TTLUnreachable)
			}
			if minTTL == 0 {
				if !equalFrames(wan, [][]byte{real}) {
					t.Fatalf("forwarded %x\nwant the real segment %x", wan, real)
				}
				if e.Counts()["drop/ids"] != 1 || st.TTLUnreachable != 1 || st.TTLRaised != 0 {
					t.Errorf("counts %v, %d unreachable, %d raised", e.Counts(), st.TTLUnreachable, st.TTLRaised)
				}
				if want := []string{"1 tcp 10.10.0.11:40000 -> 203.0.113.80:80 blocked=false"}; !slices.Equal(log.alerts, want) {
					t.Errorf("alerts %q, want %q", log.alerts, want)
				}
				if want := []string{"stream ttl_evasion tcp 10.10.0.11:40000 -> 203.0.113.80:80"}; !slices.Equal(log.events, want) {
					t.Errorf("events %q, want %q", log.events, want)
				}
				return
			}
			// The junk, its TTL raised and nothing else changed; the real
			// segment, a retransmission that contradicts bytes already
			// forwarded, dropped.
			raised := withTTL(junk, 16)
			if !equalFrames(wan, [][]byte{raised}) {
				t.Fatalf("forwarded %x\nwant %x", wan, raised)
			}
			if !headerChecksumOK(wan[0]) || wan[0][14+8] != 16 {
				t.Errorf("raised frame: TTL %d, header checksum %x", wan[0][14+8], wan[0][24:26])
			}
			var q packet.Parsed
			q.Decode(wan[0])
			if q.CheckChecksums(true) != packet.ChecksumOK {
				t.Errorf("raised frame: checksums %s", q.CheckChecksums(true))
			}
			if e.Counts()["drop/ids"] != 1 || st.TTLUnreachable != 0 || st.TTLRaised != 1 || len(log.alerts) != 0 ||
				!slices.Equal(log.events, []string{"stream retransmission_different_data tcp 10.10.0.11:40000 -> 203.0.113.80:80"}) {
				t.Errorf("counts %v, %d unreachable, %d raised, alerts %q, events %q", e.Counts(), st.TTLUnreachable, st.TTLRaised, log.alerts, log.events)
			}
		})
	}
}

// newRouterIDSEngine is newRouterEngine with ie inspecting in line.
func newRouterIDSEngine(t *testing.T, ie *ids.Engine) (*Engine, error) {
	t.Helper()
	r, clk := newTestRouter(t)
	return New(mustPolicy(t, testPolicy), Config{Clock: clk, Router: r, IDS: ie})
}

// TestTTLRouterMode: in router mode the IDS never sees a packet whose TTL
// is 1 (the router answers it with time exceeded, as traceroute needs),
// and counts the router's hop for the rest: with web one router beyond
// the gateway, a TTL of 2 expires there (dropped inline), a TTL of 3
// arrives (and leaves the gateway with 2). An engine not built Routed is
// refused.
func TestTTLRouterMode(t *testing.T) {
	if _, err := newRouterIDSEngine(t, mustIDS(t, ids.Config{Mode: ids.Prevent})); err == nil {
		t.Fatal("router mode took an IDS not built Routed")
	}
	log := &alertLog{}
	hops := ids.NewHostHops(0)
	hops.Set(netip.MustParsePrefix("203.0.113.80/32"), 1)
	ie := mustIDS(t, ids.Config{Mode: ids.Prevent, Rules: evilRules(t), Output: log, Hops: hops, Routed: true})
	e, err := newRouterIDSEngine(t, ie)
	if err != nil {
		t.Fatal(err)
	}
	w := e.NewWorker()
	gwLANIP, gwWANIP := netip.MustParseAddr("10.10.0.1"), netip.MustParseAddr("203.0.113.1")
	syn := routed(tcpFrame(t, seg{client, web, "S", 1000, 0, 0}), clientMAC, gwLAN)
	routeAll(t, w,
		sided{arpReply(webMAC, netip.MustParseAddr("203.0.113.80"), gwWAN, gwWANIP), datapath.WAN},
		sided{syn, datapath.LAN},
		sided{arpReply(webMAC, netip.MustParseAddr("203.0.113.80"), gwWAN, gwWANIP), datapath.WAN},
		sided{routed(tcpFrame(t, seg{web, client, "SA", 5000, 1001, 0}), webMAC, gwWAN), datapath.WAN},
		sided{arpReply(clientMAC, netip.MustParseAddr("10.10.0.11"), gwLAN, gwLANIP), datapath.LAN},
	)
	before := ie.Stats()
	probe := withTTL(routed(dataFrame(t, seg{client, web, "PA", 1001, 5001, 0}, "EVILXXX!"), clientMAC, gwLAN), 1)
	lan, wan := routeAll(t, w, sided{probe, datapath.LAN})
	var p packet.Parsed
	if len(lan) == 1 {
		p.Decode(lan[0])
	}
	if len(wan) != 0 || len(lan) != 1 || p.ICMPType != 11 || p.Src.Addr() != gwLANIP {
		t.Fatalf("TTL 1: lan %x, wan %x", lan, wan)
	}
	if st := ie.Stats(); st.Packets != before.Packets || st.TTLUnreachable != 0 || len(log.events) != 0 {
		t.Errorf("the IDS saw the TTL 1 packet: %d packets (was %d), %d unreachable, events %q", st.Packets, before.Packets, st.TTLUnreachable, log.events)
	}
	// TTL 2: one hop left after the gateway, and web is one router
	// further: it never arrives.
	lan, wan = routeAll(t, w, sided{withTTL(probe, 2), datapath.LAN})
	if len(wan) != 0 || len(lan) != 0 || ie.Stats().TTLUnreachable != 1 || e.Counts()["drop/ids"] != 1 {
		t.Errorf("TTL 2: lan %x, wan %x, %d unreachable, counts %v", lan, wan, ie.Stats().TTLUnreachable, e.Counts())
	}
	if want := []string{"stream ttl_evasion tcp 10.10.0.11:40000 -> 203.0.113.80:80"}; !slices.Equal(log.events, want) {
		t.Errorf("events %q, want %q", log.events, want)
	}
	real := withTTL(routed(dataFrame(t, seg{client, web, "PA", 1001, 5001, 0}, "EVILCMD!"), clientMAC, gwLAN), 3)
	_, wan = routeAll(t, w, sided{real, datapath.LAN})
	if !equalFrames(wan, [][]byte{hopped(real, gwWAN, webMAC)}) {
		t.Errorf("TTL 3: wan %x\nwant %x", wan, hopped(real, gwWAN, webMAC))
	}
	if want := []string{"1 tcp 10.10.0.11:40000 -> 203.0.113.80:80 blocked=false"}; !slices.Equal(log.alerts, want) {
		t.Errorf("alerts %q, want %q", log.alerts, want)
	}
}

func mustIDS(t *testing.T, cfg ids.Config) *ids.Engine {
	t.Helper()
	ie, err := ids.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return ie
}

// gather returns e's metrics by name and label values: "name,value,...".
func gather(t *testing.T, e *Engine) map[string]float64 {
	t.Helper()
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(e.Collector())
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			name := mf.GetName()
			for _, l := range m.GetLabel() {
				name += "," + l.GetValue()
			}
			if c := m.GetCounter(); c != nil {
				got[name] = c.GetValue()
			} else if g := m.GetGauge(); g != nil {
				got[name] = g.GetValue()
			}
		}
	}
	return got
}

// TestTTLFragmentsInline: a fragment whose TTL runs out before its
// destination takes no part in the reassembly the IDS inspects and is
// dropped (the datagram waits for one that arrives); with min_ttl it is
// raised before reassembly, and the fragments that go out are the raised
// ones.
func TestTTLFragmentsInline(t *testing.T) {
	whole := udpFrame(t, client, web, 3000, false)
	frags := fragment4(t, whole, 0x4242, 1480)
	if len(frags) != 3 {
		t.Fatalf("%d fragments", len(frags))
	}
	low := withTTL(frags[1], 2)
	for _, minTTL := range []uint8{0, 16} {
		t.Run(fmt.Sprintf("min_ttl=%d", minTTL), func(t *testing.T) {
			log := &alertLog{}
			hops := ids.NewHostHops(0)
			hops.Set(netip.MustParsePrefix("203.0.113.0/24"), 3)
			e, err := New(mustPolicy(t, testPolicy), Config{IDS: mustIDS(t, ids.Config{Mode: ids.Prevent, Output: log, Hops: hops, MinTTL: minTTL})})
			if err != nil {
				t.Fatal(err)
			}
			w := e.NewWorker()
			_, wan := bridge(t, w, from(datapath.LAN, bytes.Clone(frags[0]), bytes.Clone(low), bytes.Clone(frags[2]))...)
			if minTTL == 16 {
				want := [][]byte{frags[0], withTTL(frags[1], 16), frags[2]}
				if !equalFrames(wan, want) {
					t.Fatalf("forwarded %x\nwant %x", wan, want)
				}
				if len(log.events) != 0 {
					t.Errorf("events %q", log.events)
				}
				return
			}
			if len(wan) != 0 || e.Counts()["drop/ids"] != 1 {
				t.Fatalf("forwarded %d frames without the middle fragment, counts %v", len(wan), e.Counts())
			}
			if want := []string{"decode ttl_evasion udp 10.10.0.11:0 -> 203.0.113.80:0"}; !slices.Equal(log.events, want) {
				t.Errorf("events %q, want %q", log.events, want)
			}
			_, wan = bridge(t, w, from(datapath.LAN, bytes.Clone(frags[1]))...)
			if want := [][]byte{frags[0], frags[2], frags[1]}; !equalFrames(wan, want) {
				t.Errorf("after the middle fragment with TTL 64: %d frames forwarded, want the three in the order they came", len(wan))
			}
		})
	}
}

// TestNormaliseInline: in prevention mode a SYN with the IPv4 reserved
// flag and TCP reserved bits set leaves the gateway without them, its
// checksums right: byte for byte the SYN built without them.
func TestNormaliseInline(t *testing.T) {
	e, err := New(mustPolicy(t, testPolicy), Config{IDS: mustIDS(t, ids.Config{Mode: ids.Prevent})})
	if err != nil {
		t.Fatal(err)
	}
	want := tcpFrame(t, seg{client, web, "S", 1000, 0, 0})
	in := bytes.Clone(want)
	in[14+6] |= 0x80 // the IPv4 reserved flag
	fixIPv4Checksum(in)
	in[14+20+12] |= 0x0e // the TCP reserved bits
	var p packet.Parsed
	p.Decode(in)
	p.FillChecksum()
	_, wan := bridge(t, e.NewWorker(), from(datapath.LAN, in)...)
	if !equalFrames(wan, [][]byte{want}) {
		t.Fatalf("forwarded %x\nwant %x", wan, want)
	}
	m := gather(t, e)
	if m["rampart_ids_normalised_packets_total,ipv4_reserved"] != 1 || m["rampart_ids_normalised_packets_total,tcp_reserved"] != 1 || m["rampart_ids_normalised_packets_total,ipv4_options"] != 0 {
		t.Errorf("metrics %v", m)
	}
}

// TestTTLRaiseIPv6: min_ttl raises the hop limit of an IPv6 packet (no
// header checksum; the transport checksum does not cover it), and a hop
// limit that cannot reach is dropped as a TTL is.
func TestTTLRaiseIPv6(t *testing.T) {
	const cli6, web6 = "[fd00:10::11]:40000", "[2001:db8::80]:80"
	hops := ids.NewHostHops(0)
	hops.Set(netip.MustParsePrefix("2001:db8::/32"), 4)
	for _, minTTL := range []uint8{0, 32} {
		e, err := New(mustPolicy(t, testPolicy), Config{IDS: mustIDS(t, ids.Config{Mode: ids.Prevent, Hops: hops, MinTTL: minTTL})})
		if err != nil {
			t.Fatal(err)
		}
		syn := tcpFrame(t, seg{cli6, web6, "S", 1000, 0, 0})
		in := bytes.Clone(syn)
		in[14+7] = 4 // the hop limit: four routers away, it expires at the fourth
		_, wan := bridge(t, e.NewWorker(), from(datapath.LAN, in)...)
		if minTTL == 0 {
			if len(wan) != 0 || e.Counts()["drop/ids"] != 1 {
				t.Errorf("hop limit 4 to a host 4 routers away: %d frames forwarded, counts %v", len(wan), e.Counts())
			}
			continue
		}
		want := bytes.Clone(syn)
		want[14+7] = 32
		if !equalFrames(wan, [][]byte{want}) {
			t.Fatalf("min_ttl 32: forwarded %x\nwant %x", wan, want)
		}
		var p packet.Parsed
		p.Decode(wan[0])
		if p.CheckChecksums(true) != packet.ChecksumOK {
			t.Errorf("checksums %s", p.CheckChecksums(true))
		}
	}
}
