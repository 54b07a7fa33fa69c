package gateway

import (
	"net"
	"net/netip"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"

	"github.com/rampart-fw/rampart/clock"
	"github.com/rampart-fw/rampart/datapath"
	"github.com/rampart-fw/rampart/firewall/conntrack"
	"github.com/rampart-fw/rampart/firewall/policy"
	"github.com/rampart-fw/rampart/internal/benchcpu"
	"github.com/rampart-fw/rampart/packet"
)

const testPolicy = `# the lab's gateway policy
default deny incoming
default allow outgoing
allow ssh
allow http
reject proto tcp from 198.51.100.0/24 to any port 8080
limit proto tcp from any to any port 2222
`

func mustPolicy(t testing.TB, text string) *policy.Policy {
	t.Helper()
	p, err := policy.Parse("test.rules", []byte(text))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func newEngine(t testing.TB, text string) (*Engine, *clock.Fake) {
	t.Helper()
	clk := clock.NewFake(time.Date(2026, 11, 25, 0, 0, 0, 0, time.UTC))
	e, err := New(mustPolicy(t, text), Config{Clock: clk})
	if err != nil {
		t.Fatal(err)
	}
	return e, clk
}

type seg struct {
	src, dst string // addr:port
	flags    string // S, SA, A, R, F, P
	seq, ack uint32
	payload  int
}

func tcpFrame(t testing.TB, s seg) []byte {
	t.Helper()
	src, dst := netip.MustParseAddrPort(s.src), netip.MustParseAddrPort(s.dst)
	eth := &layers.Ethernet{SrcMAC: net.HardwareAddr{2, 0, 0, 0, 0, 1}, DstMAC: net.HardwareAddr{2, 0, 0, 0, 0, 2}}
	var ip gopacket.SerializableLayer
	var nl gopacket.NetworkLayer
	if src.Addr().Is4() {
		eth.EthernetType = layers.EthernetTypeIPv4
		v4 := &layers.IPv4{Version: 4, TTL: 64, Protocol: layers.IPProtocolTCP, SrcIP: src.Addr().AsSlice(), DstIP: dst.Addr().AsSlice()}
		ip, nl = v4, v4
	} else {
		eth.EthernetType = layers.EthernetTypeIPv6
		v6 := &layers.IPv6{Version: 6, HopLimit: 64, NextHeader: layers.IPProtocolTCP, SrcIP: src.Addr().AsSlice(), DstIP: dst.Addr().AsSlice()}
		ip, nl = v6, v6
	}
	tcp := &layers.TCP{SrcPort: layers.TCPPort(src.Port()), DstPort: layers.TCPPort(dst.Port()), Seq: s.seq, Ack: s.ack, Window: 64240}
	for _, f := range s.flags {
		switch f {
		case 'S':
			tcp.SYN = true
		case 'A':
			tcp.ACK = true
		case 'R':
			tcp.RST = true
		case 'F':
			tcp.FIN = true
		case 'P':
			tcp.PSH = true
		}
	}
	tcp.SetNetworkLayerForChecksum(nl)
	buf := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}, eth, ip, tcp, gopacket.Payload(make([]byte, s.payload))); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func process(t testing.TB, e *Engine, frame []byte, in datapath.Side) Decision {
	t.Helper()
	var p packet.Parsed
	p.Decode(frame)
	return e.Process(&p, in)
}

const (
	client = "10.10.0.11:40000"
	web    = "203.0.113.80:80"
	server = "10.10.0.20:22"
	remote = "198.51.100.66:50000"
)

func TestStatefulPolicy(t *testing.T) {
	e, _ := newEngine(t, testPolicy)
	steps := []struct {
		name   string
		seg    seg
		in     datapath.Side
		want   Verdict
		reason Reason
	}{
		{"outgoing SYN, default allow outgoing", seg{client, web, "S", 1000, 0, 0}, datapath.LAN, Forward, ReasonDefault},
		{"its SYN-ACK comes back", seg{web, client, "SA", 5000, 1001, 0}, datapath.WAN, Forward, ReasonEstablished},
		{"client ACK", seg{client, web, "A", 1001, 5001, 0}, datapath.LAN, Forward, ReasonEstablished},
		{"reply data", seg{web, client, "PA", 5001, 1001, 100}, datapath.WAN, Forward, ReasonEstablished},
		{"reply out of window", seg{web, client, "PA", 5001 + 1<<30, 1001, 100}, datapath.WAN, Drop, ReasonInvalid},
		{"incoming ssh allowed", seg{remote, server, "S", 77, 0, 0}, datapath.WAN, Forward, ReasonRule},
		{"incoming telnet denied by default", seg{remote, "10.10.0.20:23", "S", 77, 0, 0}, datapath.WAN, Drop, ReasonDefault},
		{"spoofed ACK without a connection", seg{"198.51.100.7:1234", "10.10.0.11:40001", "A", 1, 1, 0}, datapath.WAN, Drop, ReasonInvalid},
		{"reject rule", seg{remote, "10.10.0.20:8080", "S", 9, 0, 0}, datapath.WAN, Reject, ReasonRule},
		{"SYN+FIN scan", seg{remote, server, "SF", 9, 0, 0}, datapath.WAN, Drop, ReasonAnomaly},
		{"IPv6 outgoing", seg{"[fd00:10::11]:40000", "[2001:db8:113::80]:443", "S", 1, 0, 0}, datapath.LAN, Forward, ReasonDefault},
		{"IPv6 incoming http allowed", seg{"[2001:db8:100::66]:4000", "[fd00:10::20]:80", "S", 1, 0, 0}, datapath.WAN, Forward, ReasonRule},
	}
	for _, s := range steps {
		d := process(t, e, tcpFrame(t, s.seg), s.in)
		if d.Verdict != s.want || d.Reason != s.reason {
			t.Errorf("%s: %s/%s, want %s/%s", s.name, d.Verdict, d.Reason, s.want, s.reason)
		}
	}
	hits := e.RuleHits()
	var ssh uint64
	for _, h := range hits {
		if h.Text == "allow ssh" {
			ssh = h.Hits
		}
	}
	if ssh != 1 {
		t.Errorf("allow ssh counted %d hits, want 1: %+v", ssh, hits)
	}
}

func TestLimit(t *testing.T) {
	e, clk := newEngine(t, testPolicy)
	for i := 0; i < 7; i++ {
		src := netip.AddrPortFrom(netip.MustParseAddr("198.51.100.9"), uint16(30000+i)).String()
		d := process(t, e, tcpFrame(t, seg{src, "10.10.0.20:2222", "S", 1, 0, 0}), datapath.WAN)
		want := Forward
		if i >= 5 {
			want = Drop // ufw: the sixth connection within 30 s is denied
		}
		if d.Verdict != want {
			t.Errorf("connection %d: %s/%s, want %s", i+1, d.Verdict, d.Reason, want)
		}
		clk.Advance(time.Second)
	}
	clk.Advance(time.Minute)
	if d := process(t, e, tcpFrame(t, seg{"198.51.100.9:31000", "10.10.0.20:2222", "S", 1, 0, 0}), datapath.WAN); d.Verdict != Forward {
		t.Errorf("after the window: %s/%s", d.Verdict, d.Reason)
	}
}

func TestReloadCutsConnections(t *testing.T) {
	e, _ := newEngine(t, testPolicy)
	for _, s := range []seg{{remote, server, "S", 100, 0, 0}} {
		process(t, e, tcpFrame(t, s), datapath.WAN)
	}
	process(t, e, tcpFrame(t, seg{server, remote, "SA", 900, 101, 0}), datapath.LAN)
	process(t, e, tcpFrame(t, seg{client, web, "S", 1, 0, 0}), datapath.LAN)
	if d := process(t, e, tcpFrame(t, seg{remote, server, "A", 101, 901, 0}), datapath.WAN); d.Verdict != Forward {
		t.Fatalf("established ssh before reload: %s/%s", d.Verdict, d.Reason)
	}
	// A policy with a syntax error is refused and the old one stays.
	if _, err := policy.Parse("bad.rules", []byte("allow shh\n")); err == nil {
		t.Fatal("bad policy parsed")
	}
	cut, err := e.Reload(mustPolicy(t, "default deny incoming\ndefault allow outgoing\nallow http\n"))
	if err != nil {
		t.Fatal(err)
	}
	if cut != 1 {
		t.Errorf("reload cut %d connections, want 1 (the ssh one)", cut)
	}
	if d := process(t, e, tcpFrame(t, seg{remote, server, "A", 101, 901, 0}), datapath.WAN); d.Verdict != Drop {
		t.Errorf("ssh after reload: %s/%s, want drop", d.Verdict, d.Reason)
	}
	if d := process(t, e, tcpFrame(t, seg{web, client, "SA", 5, 2, 0}), datapath.WAN); d.Verdict != Forward {
		t.Errorf("outgoing web connection after reload: %s/%s, want forward", d.Verdict, d.Reason)
	}
}

func TestRejectSendsRST(t *testing.T) {
	e, _ := newEngine(t, testPolicy)
	w := e.NewWorker()
	frame := tcpFrame(t, seg{remote, "10.10.0.20:8080", "S", 4242, 0, 0})
	var lan, wan [][]byte
	src := &sliceSource{frames: [][]byte{frame}}
	_, err := datapath.Replay(t.Context(), src, w, datapath.ReplayConfig{
		Side: func([]byte, *datapath.CaptureInfo) datapath.Side { return datapath.WAN },
		LAN:  sinkFunc(func(b []byte) error { lan = append(lan, append([]byte(nil), b...)); return nil }),
		WAN:  sinkFunc(func(b []byte) error { wan = append(wan, append([]byte(nil), b...)); return nil }),
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(lan) != 0 || len(wan) != 1 {
		t.Fatalf("%d frames to lan, %d to wan; want the RST back out wan only", len(lan), len(wan))
	}
	pkt := gopacket.NewPacket(wan[0], layers.LayerTypeEthernet, gopacket.Default)
	tcp, ok := pkt.Layer(layers.LayerTypeTCP).(*layers.TCP)
	if !ok || !tcp.RST || tcp.Ack != 4243 || tcp.SrcPort != 8080 {
		t.Fatalf("reply is not the RST for the SYN: %v", pkt)
	}
}

type sliceSource struct {
	frames [][]byte
	i      int
}

func (s *sliceSource) Next() ([]byte, datapath.CaptureInfo, error) {
	if s.i >= len(s.frames) {
		return nil, datapath.CaptureInfo{}, errEOF
	}
	s.i++
	f := s.frames[s.i-1]
	return f, datapath.CaptureInfo{CaptureLength: len(f), Length: len(f), LinkType: datapath.LinkTypeEthernet}, nil
}

type sinkFunc func([]byte) error

func (f sinkFunc) Write(b []byte) error { return f(b) }

func TestProcessAllocatesNothing(t *testing.T) {
	e, _ := newEngine(t, testPolicy)
	process(t, e, tcpFrame(t, seg{client, web, "S", 1000, 0, 0}), datapath.LAN)
	process(t, e, tcpFrame(t, seg{web, client, "SA", 5000, 1001, 0}), datapath.WAN)
	frame := tcpFrame(t, seg{client, web, "A", 1001, 5001, 0})
	var p packet.Parsed
	allocs := testing.AllocsPerRun(1000, func() {
		p.Decode(frame)
		if d := e.Process(&p, datapath.LAN); d.Verdict != Forward {
			t.Fatal(d)
		}
	})
	if allocs != 0 {
		t.Errorf("%v allocations per established packet", allocs)
	}
}

func BenchmarkProcessEstablished(b *testing.B) {
	e, _ := newEngine(b, testPolicy)
	process(b, e, tcpFrame(b, seg{client, web, "S", 1000, 0, 0}), datapath.LAN)
	process(b, e, tcpFrame(b, seg{web, client, "SA", 5000, 1001, 0}), datapath.WAN)
	frame := tcpFrame(b, seg{client, web, "A", 1001, 5001, 0})
	var p packet.Parsed
	b.ReportAllocs()
	defer benchcpu.Start(b)()
	for b.Loop() {
		p.Decode(frame)
		e.Process(&p, datapath.LAN)
	}
}

// TestConcurrentWorkers runs several workers on one engine at once, as the
// bridge does, through limit rules and new connections (go test -race).
func TestConcurrentWorkers(t *testing.T) {
	e, _ := newEngine(t, testPolicy)
	var wg sync.WaitGroup
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var p packet.Parsed
			for i := 0; i < 200; i++ {
				src := netip.AddrPortFrom(netip.MustParseAddr("198.51.100.9"), uint16(20000+w*1000+i)).String()
				p.Decode(tcpFrame(t, seg{src, "10.10.0.20:2222", "S", 1, 0, 0}))
				e.Process(&p, datapath.WAN)
				p.Decode(tcpFrame(t, seg{src, server, "S", 1, 0, 0}))
				e.Process(&p, datapath.WAN)
			}
		}()
	}
	wg.Wait()
	if n := e.Counts()["drop/limit"]; n == 0 {
		t.Error("the limit rule never denied the source")
	}
}

// icmpFrame builds an Ethernet frame holding an ICMPv4 or ICMPv6 message
// from src to dst; body follows the 8-byte header (for an error, the
// quoted packet).
func icmpFrame(t testing.TB, src, dst string, typ, code uint8, id, seq uint16, body []byte) []byte {
	t.Helper()
	s, d := netip.MustParseAddr(src), netip.MustParseAddr(dst)
	eth := &layers.Ethernet{SrcMAC: net.HardwareAddr{2, 0, 0, 0, 0, 1}, DstMAC: net.HardwareAddr{2, 0, 0, 0, 0, 2}}
	var l []gopacket.SerializableLayer
	if s.Is4() {
		eth.EthernetType = layers.EthernetTypeIPv4
		ip := &layers.IPv4{Version: 4, TTL: 64, Protocol: layers.IPProtocolICMPv4, SrcIP: s.AsSlice(), DstIP: d.AsSlice()}
		l = []gopacket.SerializableLayer{eth, ip, &layers.ICMPv4{TypeCode: layers.CreateICMPv4TypeCode(typ, code), Id: id, Seq: seq}}
	} else {
		eth.EthernetType = layers.EthernetTypeIPv6
		ip := &layers.IPv6{Version: 6, HopLimit: 64, NextHeader: layers.IPProtocolICMPv6, SrcIP: s.AsSlice(), DstIP: d.AsSlice()}
		icmp := &layers.ICMPv6{TypeCode: layers.CreateICMPv6TypeCode(typ, code)}
		if err := icmp.SetNetworkLayerForChecksum(ip); err != nil {
			t.Fatal(err)
		}
		// ICMPv6 leaves bytes 4-7 to the message: identifier and sequence
		// for echo, unused for errors.
		rest := []byte{byte(id >> 8), byte(id), byte(seq >> 8), byte(seq)}
		l = []gopacket.SerializableLayer{eth, ip, icmp, gopacket.Payload(append(rest, body...))}
		body = nil
	}
	if body != nil {
		l = append(l, gopacket.Payload(body))
	}
	buf := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}, l...); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// TestICMPQueriesAndErrors runs ICMP through the engine: the decoder's
// flow key (the query identifier in both ports) is what conntrack pairs a
// reply with its request by, and an error quoting a query is related.
func TestICMPQueriesAndErrors(t *testing.T) {
	e, _ := newEngine(t, testPolicy)
	const (
		inside, outside, router = "10.10.0.11", "203.0.113.80", "203.0.113.1"
		in6, out6               = "fd00:10::11", "2001:db8:113::80"
	)
	request := icmpFrame(t, inside, outside, 8, 0, 7, 1, make([]byte, 16))
	// The request as the router received it, quoted back (IP header and
	// the first 8 bytes of ICMP, RFC 792).
	quote := request[14 : 14+20+8]
	steps := []struct {
		name   string
		frame  []byte
		in     datapath.Side
		want   Verdict
		reason Reason
	}{
		{"echo request out, the implicit ping rule", request, datapath.LAN, Forward, ReasonRule},
		{"its reply", icmpFrame(t, outside, inside, 0, 0, 7, 1, make([]byte, 16)), datapath.WAN, Forward, ReasonEstablished},
		{"a reply with another identifier", icmpFrame(t, outside, inside, 0, 0, 8, 1, nil), datapath.WAN, Drop, ReasonInvalid},
		{"unreachable quoting the request", icmpFrame(t, router, inside, 3, 1, 0, 0, quote), datapath.WAN, Forward, ReasonRelated},
		{"echo request in, the implicit ping rule", icmpFrame(t, outside, inside, 8, 0, 9, 1, nil), datapath.WAN, Forward, ReasonRule},
		{"the inside host answers", icmpFrame(t, inside, outside, 0, 0, 9, 1, nil), datapath.LAN, Forward, ReasonEstablished},
		{"ICMPv6 echo request out", icmpFrame(t, in6, out6, 128, 0, 3, 1, nil), datapath.LAN, Forward, ReasonRule},
		{"its reply", icmpFrame(t, out6, in6, 129, 0, 3, 1, nil), datapath.WAN, Forward, ReasonEstablished},
		{"an ICMPv6 reply with another identifier", icmpFrame(t, out6, in6, 129, 0, 4, 1, nil), datapath.WAN, Drop, ReasonInvalid},
	}
	for _, s := range steps {
		if d := process(t, e, s.frame, s.in); d.Verdict != s.want || d.Reason != s.reason {
			t.Errorf("%s: %s/%s, want %s/%s", s.name, d.Verdict, d.Reason, s.want, s.reason)
		}
	}
	// The entry holds the flow key the decoder made: the identifier in
	// both ports.
	var p packet.Parsed
	p.Decode(request)
	found := false
	e.Conntrack().Range(func(en conntrack.Entry) bool {
		if en.Orig.Flow == p.Flow() {
			found = en.Orig.ICMPType == 8 && en.Reply.ICMPType == 0 && en.Reply.Flow == p.Flow().Reverse()
		}
		return !found
	})
	if !found || p.Flow().Src.Port() != 7 || p.Flow().Dst.Port() != 7 {
		t.Errorf("no entry for %v with the echo types", p.Flow())
	}
	// A reload keeps the ping (the implicit rules still allow it) and
	// judges it by its ICMP type.
	if cut, err := e.Reload(mustPolicy(t, "default deny incoming\ndefault allow outgoing\n")); err != nil || cut != 0 {
		t.Errorf("reload cut %d connections (%v), want none", cut, err)
	}
	if cut, err := e.Reload(mustPolicy(t, "default deny incoming\ndefault deny outgoing\nicmp-echo deny\n")); err != nil || cut != 3 {
		t.Errorf("reload without echo: cut %d connections (%v), want the three pings cut", cut, err)
	}
}

// TestReloadRacesNewConnections: a connection decided under the old policy
// while a reload swaps it must not outlive the reload when the new policy
// refuses it. The reload's Recheck may pass the connection's shard before
// the worker creates the entry; the worker must then judge it by the
// policy in force. Workers open connections to port 2323 while the policy
// flips between allowing and refusing them; after each refusing reload,
// with the workers stopped, no connection to 2323 may remain. (The
// policies are compiled once and installed as Reload installs them, so
// that many rounds fit in a short test.)
func TestReloadRacesNewConnections(t *testing.T) {
	allow, err := compile(mustPolicy(t, "default deny incoming\nallow 2323/tcp\n"))
	if err != nil {
		t.Fatal(err)
	}
	deny, err := compile(mustPolicy(t, "default deny incoming\n"))
	if err != nil {
		t.Fatal(err)
	}
	e, err := New(deny.pol, Config{Clock: clock.NewFake(time.Date(2026, 11, 25, 0, 0, 0, 0, time.UTC)), Conntrack: conntrack.Config{MaxEntries: 4096}})
	if err != nil {
		t.Fatal(err)
	}
	frames := make([][]byte, 4096)
	for i := range frames {
		src := netip.AddrPortFrom(netip.AddrFrom4([4]byte{198, 51, byte(100 + i>>12), byte(i >> 4)}), uint16(1024+i)).String()
		frames[i] = tcpFrame(t, seg{src, "10.10.0.20:2323", "S", 1, 0, 0})
	}
	rounds := 400
	if testing.Short() {
		rounds = 100
	}
	var processed atomic.Int64
	// busy waits until the workers have processed n more packets, so that
	// the swaps fall while connections are being decided.
	busy := func(n int64) {
		for start := processed.Load(); processed.Load()-start < n; {
			runtime.Gosched()
		}
	}
	for round := range rounds {
		var stop atomic.Bool
		var wg sync.WaitGroup
		for w := range 2 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				var p packet.Parsed
				for i := w + 2*round; !stop.Load(); i += 2 {
					p.Decode(frames[i%len(frames)])
					e.Process(&p, datapath.WAN)
					processed.Add(1)
				}
			}()
		}
		busy(16)
		e.install(allow)
		busy(16)
		e.install(deny)
		stop.Store(true)
		wg.Wait()
		left := 0
		e.Conntrack().Range(func(en conntrack.Entry) bool {
			if en.Orig.Flow.Dst.Port() == 2323 {
				left++
			}
			return true
		})
		if left > 0 {
			t.Fatalf("round %d: %d connections the policy in force refuses outlived the reload", round, left)
		}
	}
}

// BenchmarkWorkerEstablished is the whole per-frame path of a live worker
// (decode, the fragment check, conntrack, the send) for a packet of an
// established connection.
func BenchmarkWorkerEstablished(b *testing.B) {
	e, _ := newEngine(b, testPolicy)
	process(b, e, tcpFrame(b, seg{client, web, "S", 1000, 0, 0}), datapath.LAN)
	process(b, e, tcpFrame(b, seg{web, client, "SA", 5000, 1001, 0}), datapath.WAN)
	frame := tcpFrame(b, seg{client, web, "A", 1001, 5001, 0})
	w := e.NewWorker()
	var out datapath.Sender // no ports: sends go nowhere
	ci := datapath.CaptureInfo{LinkType: datapath.LinkTypeEthernet}
	b.ReportAllocs()
	defer benchcpu.Start(b)()
	for b.Loop() {
		w.Handle(frame, &ci, datapath.LAN, &out)
	}
}

// BenchmarkWorkerChecksums is the worker's per-frame path for packets of
// an established connection, bare ACKs and full-sized data segments, with
// the checksums verified, settled by the kernel (the frame arrives marked
// as verified by the device), and not checked at all (checksums: ignore):
// the differences are what verification costs per packet.
func BenchmarkWorkerChecksums(b *testing.B) {
	for _, c := range []struct {
		name    string
		payload int
		mode    ChecksumMode
		flags   datapath.CaptureFlags
	}{
		{"ack/verify", 0, ChecksumsVerify, 0},
		{"ack/offloaded", 0, ChecksumsVerify, datapath.FlagChecksumValid},
		{"ack/ignore", 0, ChecksumsIgnore, 0},
		{"data1460/verify", 1460, ChecksumsVerify, 0},
		{"data1460/offloaded", 1460, ChecksumsVerify, datapath.FlagChecksumValid},
		{"data1460/ignore", 1460, ChecksumsIgnore, 0},
	} {
		b.Run(c.name, func(b *testing.B) {
			clk := clock.NewFake(time.Date(2026, 11, 25, 0, 0, 0, 0, time.UTC))
			e, err := New(mustPolicy(b, testPolicy), Config{Clock: clk, Checksums: c.mode})
			if err != nil {
				b.Fatal(err)
			}
			process(b, e, tcpFrame(b, seg{client, web, "S", 1000, 0, 0}), datapath.LAN)
			process(b, e, tcpFrame(b, seg{web, client, "SA", 5000, 1001, 0}), datapath.WAN)
			frame := tcpFrame(b, seg{client, web, "PA", 1001, 5001, c.payload})
			if c.payload == 0 {
				frame = tcpFrame(b, seg{client, web, "A", 1001, 5001, 0})
			}
			w := e.NewWorker()
			var out datapath.Sender
			ci := datapath.CaptureInfo{LinkType: datapath.LinkTypeEthernet, Flags: c.flags}
			w.Handle(frame, &ci, datapath.LAN, &out)
			if n := e.Counts()["forward/established"]; n != 2 {
				b.Fatalf("the packet was not forwarded as established: %v", e.Counts())
			}
			b.ReportAllocs()
			defer benchcpu.Start(b)()
			for b.Loop() {
				w.Handle(frame, &ci, datapath.LAN, &out)
			}
		})
	}
}
