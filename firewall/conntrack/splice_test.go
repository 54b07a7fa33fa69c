package conntrack

import (
	"net/netip"
	"testing"

	"github.com/rampart-fw/rampart/packet"
)

// splicedHandshake is what a SYN proxy feeds the table: the SYN it sends
// the server in the client's name (Create, with the splice pending), the
// server's SYN/ACK, then the splice made active, and the client's ACK of
// the handshake in the client's numbers.
func splicedHandshake(t *testing.T, tbl *Table, f conn, cookie, serverISN uint32, sp Splice) ID {
	t.Helper()
	const clientISN = 1000
	syn := f.seg(DirOriginal, packet.TCPSYN, clientISN, 0, 64240, 0)
	syn.WScale = 7
	sp.ISN, sp.ClientISN = cookie, clientISN
	syn.Splice = &sp
	r, ok := tbl.Create(&syn)
	if !ok || !r.Spliced || r.TCP != TCPSynSent {
		t.Fatalf("Create of the proxy's SYN: %+v, %v", r, ok)
	}
	synack := f.seg(DirReply, packet.TCPSYN|packet.TCPACK, serverISN, clientISN+1, 65160, 0)
	synack.WScale = 7
	if r := tbl.Lookup(&synack); r.State != StateEstablished || !r.Spliced || r.TCP != TCPSynRecv {
		t.Fatalf("server SYN/ACK: %+v", r)
	}
	got, ok := tbl.Splice(r.ID)
	if !ok || got.Active || got.ISN != cookie {
		t.Fatalf("pending splice: %+v, %v", got, ok)
	}
	got.Active, got.SeqDelta = true, cookie-serverISN
	if !tbl.SetSplice(r.ID, got) {
		t.Fatal("SetSplice refused")
	}
	ack := f.seg(DirOriginal, packet.TCPACK, clientISN+1, cookie+1, 502, 0)
	if r := tbl.Lookup(&ack); r.State != StateEstablished || r.TCP != TCPEstablished {
		t.Fatalf("the client's ACK in its own numbers: %+v", r)
	}
	return r.ID
}

// TestSpliceTranslatesAcks: the table judges the client's acknowledgements
// and SACK blocks, in the client's view of the server's numbers, against
// the server's numbers; an entry without the splice finds the same ACKs
// beyond anything sent.
func TestSpliceTranslatesAcks(t *testing.T) {
	tbl, _ := newTable(t, Config{Splices: true})
	f := tcpFlow("198.51.100.9:40000", "10.10.0.80:80")
	const cookie, serverISN = 0x80000000, 5000
	id := splicedHandshake(t, tbl, f, cookie, serverISN, Splice{})
	data := f.seg(DirReply, packet.TCPACK|packet.TCPPSH, serverISN+1, 1001, 509, 1400)
	if r := tbl.Lookup(&data); r.State != StateEstablished || r.Reason != ReasonNone || !r.Spliced {
		t.Fatalf("server data in its own numbers: %+v", r)
	}
	ack := f.seg(DirOriginal, packet.TCPACK, 1001, cookie+1+1400, 502, 0)
	ack.HasSACK, ack.SACKRight = true, cookie+1+1400
	if r := tbl.Lookup(&ack); r.State != StateEstablished || r.Ignored {
		t.Fatalf("the client acknowledging it in its numbers: %+v", r)
	}
	beyond := f.seg(DirOriginal, packet.TCPACK, 1001, cookie+1+1400+70000, 502, 0)
	if r := tbl.Lookup(&beyond); r.State != StateInvalid || r.Reason != ReasonAckOver {
		t.Fatalf("an ack beyond what the server sent: %+v", r)
	}
	// An ICMP error about the server's segment, from the client's side,
	// quotes it in the client's numbers.
	q := f.inner(DirReply)
	q.Seq = cookie + 1
	icmp := Packet{Flow: f.pkt(DirOriginal).Flow, WScale: -1, IsICMPError: true, ICMPType: 3, ICMPCode: 4, Inner: q}
	icmp.Flow.Src = netip.AddrPortFrom(netip.MustParseAddr("198.51.100.1"), 0)
	icmp.Flow.Dst = netip.AddrPortFrom(f.server.Addr(), 0)
	icmp.Flow.Proto = 1
	if r := tbl.Lookup(&icmp); r.State != StateRelated || !r.Spliced {
		t.Fatalf("ICMP error quoting the server's segment as the client saw it: %+v", r)
	}
	if e, _ := tbl.Get(id); !e.Spliced {
		t.Error("the snapshot does not say the entry is spliced")
	}

	plain, _ := newTable(t, Config{})
	g := tcpFlow("198.51.100.9:40001", "10.10.0.80:80")
	for _, p := range []Packet{g.seg(DirOriginal, packet.TCPSYN, 1000, 0, 64240, 0), g.seg(DirReply, packet.TCPSYN|packet.TCPACK, serverISN, 1001, 65160, 0)} {
		track(plain, &p)
	}
	ack = g.seg(DirOriginal, packet.TCPACK, 1001, cookie+1, 502, 0)
	if r := plain.Lookup(&ack); r.State != StateInvalid {
		t.Fatalf("without the splice the client's numbers pass: %+v", r)
	}
}

// TestSpliceWindowShift: for a server that refused the window scaling
// the client asked for, the table reads the client's windows scaled up,
// as the proxy rewrites them; without it the server's full-sized data
// would overrun the window the client's small numbers seem to offer.
func TestSpliceWindowShift(t *testing.T) {
	tbl, _ := newTable(t, Config{Splices: true})
	f := tcpFlow("198.51.100.9:40000", "10.10.0.80:80")
	var cookie, serverISN uint32 = 77, 9000
	clientISN := uint32(1000)
	syn := f.seg(DirOriginal, packet.TCPSYN, clientISN, 0, 64240, 0)
	syn.WScale = 7
	syn.Splice = &Splice{ISN: cookie, ClientISN: clientISN}
	r, _ := tbl.Create(&syn)
	synack := f.seg(DirReply, packet.TCPSYN|packet.TCPACK, serverISN, clientISN+1, 65535, 0) // no window scale
	tbl.Lookup(&synack)
	tbl.SetSplice(r.ID, Splice{Active: true, SeqDelta: cookie - serverISN, OrigWinShift: 7})
	// The client advertises 600<<7 = 76,800 bytes as 600.
	ack := f.seg(DirOriginal, packet.TCPACK, clientISN+1, cookie+1, 600, 0)
	if r := tbl.Lookup(&ack); r.State != StateEstablished || r.Reason != ReasonNone {
		t.Fatalf("client ACK: %+v", r)
	}
	for i := uint32(0); i < 40; i++ {
		d := f.seg(DirReply, packet.TCPACK, serverISN+1+i*1460, clientISN+1, 65535, 1460)
		if r := tbl.Lookup(&d); r.State != StateEstablished || r.Reason != ReasonNone {
			t.Fatalf("server segment %d, within the client's real window: %+v", i, r)
		}
	}
}

func TestSpliceNeedsConfig(t *testing.T) {
	tbl, _ := newTable(t, Config{})
	f := tcpFlow("198.51.100.9:40000", "10.10.0.80:80")
	syn := f.seg(DirOriginal, packet.TCPSYN, 1, 0, 64240, 0)
	syn.Splice = &Splice{}
	if r, ok := tbl.Create(&syn); ok || r.Reason != ReasonMalformed {
		t.Fatalf("a splice without Config.Splices: %+v, %v", r, ok)
	}
	syn.Splice = nil
	r, ok := tbl.Create(&syn)
	if !ok || r.Spliced {
		t.Fatalf("a plain SYN: %+v", r)
	}
	if _, ok := tbl.Splice(r.ID); ok || tbl.SetSplice(r.ID, Splice{}) {
		t.Error("an entry without a splice reports or takes one")
	}
}

func TestHalfOpen(t *testing.T) {
	tbl, _ := newTable(t, Config{})
	dsts := []netip.Prefix{netip.MustParsePrefix("10.10.0.80/32"), netip.MustParsePrefix("10.10.1.0/24")}
	for i, d := range []string{"10.10.0.80:80", "10.10.0.80:443", "10.10.1.5:80", "10.10.0.81:80"} {
		f := tcpFlow(netip.AddrPortFrom(netip.MustParseAddr("198.51.100.9"), uint16(1000+i)).String(), d)
		p := f.seg(DirOriginal, packet.TCPSYN, 1, 0, 64240, 0)
		track(tbl, &p)
	}
	// One connection to the first destination completes its handshake.
	f := tcpFlow("198.51.100.9:2000", "10.10.0.80:80")
	for _, p := range []Packet{f.seg(DirOriginal, packet.TCPSYN, 1, 0, 64240, 0), f.seg(DirReply, packet.TCPSYN|packet.TCPACK, 9, 2, 65160, 0), f.seg(DirOriginal, packet.TCPACK, 2, 10, 502, 0)} {
		track(tbl, &p)
	}
	counts := make([]int, len(dsts))
	tbl.HalfOpen(dsts, counts)
	if counts[0] != 2 || counts[1] != 1 {
		t.Errorf("half-open counts %v, want [2 1]", counts)
	}
}
