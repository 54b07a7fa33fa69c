package conntrack

import (
	"testing"
	"time"

	"github.com/rampart-fw/rampart/packet"
)

const (
	O = DirOriginal
	R = DirReply

	cISN = 1000       // client's initial sequence number
	sISN = 4000000000 // server's, close to wrap-around on purpose
)

var web = tcpFlow("10.0.0.1:40000", "192.0.2.80:80")

// handshake returns the three steps of a normal open. cws and sws are the
// window scale options (-1: absent); the windows are raw header values.
func handshake(f conn, cws, sws int8, synWin, synAckWin, ackWin uint16) []step {
	syn := f.seg(O, packet.TCPSYN, cISN, 0, synWin, 0)
	syn.WScale, syn.SACKPermitted = cws, true
	synAck := f.seg(R, packet.TCPSYN|packet.TCPACK, sISN, cISN+1, synAckWin, 0)
	synAck.WScale, synAck.SACKPermitted = sws, true
	return []step{
		{name: "SYN", p: syn, create: true, state: StateNew, tcp: TCPSynSent},
		{name: "SYN/ACK", p: synAck, state: StateEstablished, tcp: TCPSynRecv},
		{name: "ACK", p: f.seg(O, packet.TCPACK, cISN+1, sISN+1, ackWin, 0), state: StateEstablished, tcp: TCPEstablished},
	}
}

func cat(parts ...[]step) []step {
	var out []step
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}

func est(name string, p Packet) step {
	return step{name: name, p: p, state: StateEstablished, tcp: TCPEstablished}
}

func TestTCPStateMachine(t *testing.T) {
	f := web
	hs := handshake(f, -1, -1, 64240, 65160, 64240)
	// data: 100 bytes from the client, acknowledged by the server.
	data := []step{
		est("client data", f.seg(O, packet.TCPPSH|packet.TCPACK, cISN+1, sISN+1, 64240, 100)),
		est("server ack", f.seg(R, packet.TCPACK, sISN+1, cISN+101, 65160, 0)),
	}
	teardown := []step{
		{name: "client FIN", p: f.seg(O, packet.TCPFIN|packet.TCPACK, cISN+101, sISN+1, 64240, 0), state: StateEstablished, tcp: TCPFinWait},
		{name: "server ACKs FIN", p: f.seg(R, packet.TCPACK, sISN+1, cISN+102, 65160, 0), state: StateEstablished, tcp: TCPCloseWait},
		{name: "server FIN", p: f.seg(R, packet.TCPFIN|packet.TCPACK, sISN+1, cISN+102, 65160, 0), state: StateEstablished, tcp: TCPLastAck},
		{name: "last ACK", p: f.seg(O, packet.TCPACK, cISN+102, sISN+2, 64240, 0), state: StateEstablished, tcp: TCPTimeWait},
	}
	synOnly := hs[:1]

	tests := []struct {
		name  string
		cfg   Config
		steps []step
	}{
		{"handshake, data both ways, FIN teardown", Config{}, cat(hs, []step{
			est("client data", f.seg(O, packet.TCPPSH|packet.TCPACK, cISN+1, sISN+1, 64240, 100)),
			est("server data", f.seg(R, packet.TCPPSH|packet.TCPACK, sISN+1, cISN+101, 65160, 200)),
			est("client ack", f.seg(O, packet.TCPACK, cISN+101, sISN+201, 64240, 0)),
			{name: "client FIN", p: f.seg(O, packet.TCPFIN|packet.TCPACK, cISN+101, sISN+201, 64240, 0), state: StateEstablished, tcp: TCPFinWait},
			{name: "server ACKs FIN", p: f.seg(R, packet.TCPACK, sISN+201, cISN+102, 65160, 0), state: StateEstablished, tcp: TCPCloseWait},
			{name: "server FIN", p: f.seg(R, packet.TCPFIN|packet.TCPACK, sISN+201, cISN+102, 65160, 0), state: StateEstablished, tcp: TCPLastAck},
			{name: "last ACK", p: f.seg(O, packet.TCPACK, cISN+102, sISN+202, 64240, 0), state: StateEstablished, tcp: TCPTimeWait},
		})},
		{"SYN then reopen from TIME_WAIT", Config{}, cat(hs, data, teardown, []step{
			{name: "new SYN", p: f.seg(O, packet.TCPSYN, cISN+100000, 0, 64240, 0), create: true, state: StateNew, tcp: TCPSynSent},
		})},
		{"RST at the expected sequence closes", Config{}, cat(hs, data, []step{
			{name: "RST", p: f.seg(O, packet.TCPRST, cISN+101, 0, 0, 0), state: StateEstablished, tcp: TCPClose},
		})},
		{"in-window RST off the expected sequence keeps state (challenge ACK)", Config{}, cat(hs, data, []step{
			est("inexact RST", f.seg(O, packet.TCPRST, cISN+1101, 0, 0, 0)),
			est("connection lives on", f.seg(O, packet.TCPACK, cISN+101, sISN+1, 64240, 0)),
		})},
		{"RST below the acknowledged edge is invalid", Config{}, cat(hs, data, []step{
			{name: "blind RST", p: f.seg(O, packet.TCPRST, cISN+50, 0, 0, 0), state: StateInvalid, tcp: TCPEstablished, reason: ReasonRST},
			est("connection lives on", f.seg(O, packet.TCPACK, cISN+101, sISN+1, 64240, 0)),
		})},
		{"RST far outside the window is invalid", Config{}, cat(hs, data, []step{
			{name: "blind RST", p: f.seg(R, packet.TCPRST, sISN+1+1000000, 0, 0, 0), state: StateInvalid, tcp: TCPEstablished, reason: ReasonSeqOver},
		})},
		{"RST answering a SYN removes the entry", Config{}, cat(synOnly, []step{
			{name: "RST/ACK seq 0", p: f.seg(R, packet.TCPRST|packet.TCPACK, 0, cISN+1, 0, 0), state: StateEstablished, tcp: TCPClose},
			{name: "next SYN is new", p: f.seg(O, packet.TCPSYN, cISN+7, 0, 64240, 0), state: StateNew},
		})},
		{"simultaneous open", Config{}, []step{
			{name: "SYN A", p: f.seg(O, packet.TCPSYN, cISN, 0, 64240, 0), create: true, state: StateNew, tcp: TCPSynSent},
			{name: "SYN B", p: f.seg(R, packet.TCPSYN, sISN, 0, 65160, 0), state: StateEstablished, tcp: TCPSynSent2},
			{name: "SYN/ACK A", p: f.seg(O, packet.TCPSYN|packet.TCPACK, cISN, sISN+1, 64240, 0), state: StateEstablished, tcp: TCPSynRecv},
			{name: "SYN/ACK B", p: f.seg(R, packet.TCPSYN|packet.TCPACK, sISN, cISN+1, 65160, 0), state: StateEstablished, tcp: TCPSynRecv, reason: ReasonTCPIgnored, ignored: true},
			est("ACK B", f.seg(R, packet.TCPACK, sISN+1, cISN+1, 65160, 0)),
			est("ACK A", f.seg(O, packet.TCPACK, cISN+1, sISN+1, 64240, 0)),
		}},
		{"retransmitted SYN stays NEW", Config{}, cat(synOnly, []step{
			{name: "SYN again", p: f.seg(O, packet.TCPSYN, cISN, 0, 64240, 0), advance: time.Second, state: StateNew, tcp: TCPSynSent},
			{name: "SYN/ACK", p: f.seg(R, packet.TCPSYN|packet.TCPACK, sISN, cISN+1, 65160, 0), state: StateEstablished, tcp: TCPSynRecv},
		})},
		{"retransmitted SYN/ACK is ignored", Config{}, cat(hs[:2], []step{
			{name: "SYN/ACK again", p: f.seg(R, packet.TCPSYN|packet.TCPACK, sISN, cISN+1, 65160, 0), state: StateEstablished, tcp: TCPSynRecv, reason: ReasonTCPIgnored, ignored: true},
			est("ACK", f.seg(O, packet.TCPACK, cISN+1, sISN+1, 64240, 0)),
		})},
		{"data beyond the receiver's window is invalid", Config{}, cat(hs, []step{
			{name: "far data", p: f.seg(R, packet.TCPACK, sISN+1+70000, cISN+1, 65160, 100), state: StateInvalid, tcp: TCPEstablished, reason: ReasonSeqOver},
		})},
		{"ACK of data never sent is invalid", Config{}, cat(hs, []step{
			{name: "ack ahead", p: f.seg(O, packet.TCPACK, cISN+1, sISN+1+5000, 64240, 0), state: StateInvalid, tcp: TCPEstablished, reason: ReasonAckOver},
		})},
		{"liberal accepts out-of-window data", Config{Liberal: true}, cat(hs, []step{
			est("far data", f.seg(R, packet.TCPACK, sISN+1+70000, cISN+1, 65160, 100)),
		})},
		{"retransmission of acknowledged data is ignored", Config{}, cat(hs, []step{
			est("data 1", f.seg(O, packet.TCPACK, cISN+1, sISN+1, 64240, 60000)),
			est("ack 1", f.seg(R, packet.TCPACK, sISN+1, cISN+60001, 65160, 0)),
			est("data 2", f.seg(O, packet.TCPACK, cISN+60001, sISN+1, 64240, 60000)),
			est("ack 2", f.seg(R, packet.TCPACK, sISN+1, cISN+120001, 65160, 0)),
			{name: "old data again", p: f.seg(O, packet.TCPACK, cISN+1, sISN+1, 64240, 100), state: StateEstablished, tcp: TCPEstablished, reason: ReasonSeqUnder, ignored: true},
			{name: "ancient ack", p: f.seg(O, packet.TCPACK, cISN+120001, sISN+1-70000, 64240, 0), state: StateEstablished, tcp: TCPEstablished, reason: ReasonAckUnder, ignored: true},
		})},
		{"ACK before the SYN/ACK is invalid", Config{}, cat(synOnly, []step{
			{name: "early ACK", p: f.seg(O, packet.TCPACK, cISN+1, sISN+1, 64240, 0), state: StateInvalid, tcp: TCPSynSent, reason: ReasonTCPState},
		})},
		{"SYN/ACK from the client is invalid", Config{}, cat(synOnly, []step{
			{name: "client SYN/ACK", p: f.seg(O, packet.TCPSYN|packet.TCPACK, cISN, 1, 64240, 0), state: StateInvalid, tcp: TCPSynSent, reason: ReasonTCPState},
		})},
		{"SYN on an established connection is ignored", Config{}, cat(hs, []step{
			{name: "SYN", p: f.seg(O, packet.TCPSYN, cISN+5000, 0, 64240, 0), state: StateEstablished, tcp: TCPEstablished, reason: ReasonTCPIgnored, ignored: true},
			est("connection lives on", f.seg(O, packet.TCPACK, cISN+1, sISN+1, 64240, 0)),
		})},
		{"spoofed ACK without an entry is invalid", Config{}, []step{
			{name: "ACK from outside", p: f.seg(R, packet.TCPACK, sISN+1, cISN+1, 65160, 0), create: true, state: StateInvalid, reason: ReasonNoEntry},
			{name: "SYN/ACK from outside", p: f.seg(R, packet.TCPSYN|packet.TCPACK, sISN, cISN+1, 65160, 0), create: true, state: StateInvalid, reason: ReasonNoEntry},
			{name: "FIN from outside", p: f.seg(R, packet.TCPFIN|packet.TCPACK, sISN, cISN+1, 65160, 0), create: true, state: StateInvalid, reason: ReasonNoEntry},
			{name: "RST from outside", p: f.seg(R, packet.TCPRST, sISN, 0, 0, 0), create: true, state: StateInvalid, reason: ReasonNoEntry},
		}},
		{"pickup of a mid-stream connection when enabled", Config{Pickup: true}, []step{
			{name: "mid-stream ACK", p: f.seg(O, packet.TCPACK, cISN+500, sISN+900, 502, 10), create: true, state: StateNew, tcp: TCPEstablished},
			est("reply", f.seg(R, packet.TCPACK, sISN+900, cISN+510, 1000, 0)),
			est("client again", f.seg(O, packet.TCPACK, cISN+510, sISN+900, 502, 0)),
		}},
		{"impossible flag combinations", Config{}, []step{
			{name: "SYN+FIN", p: f.seg(O, packet.TCPSYN|packet.TCPFIN, cISN, 0, 1, 0), create: true, state: StateInvalid, reason: ReasonTCPFlags},
			{name: "SYN+RST", p: f.seg(O, packet.TCPSYN|packet.TCPRST, cISN, 0, 1, 0), create: true, state: StateInvalid, reason: ReasonTCPFlags},
			{name: "FIN alone", p: f.seg(O, packet.TCPFIN, cISN, 0, 1, 0), create: true, state: StateInvalid, reason: ReasonTCPFlags},
			{name: "null", p: f.seg(O, 0, cISN, 0, 1, 0), create: true, state: StateInvalid, reason: ReasonTCPFlags},
			{name: "xmas", p: f.seg(O, packet.TCPFIN|packet.TCPPSH|packet.TCPURG, cISN, 0, 1, 0), create: true, state: StateInvalid, reason: ReasonTCPFlags},
			{name: "SYN+ECE+CWR is a SYN", p: f.seg(O, packet.TCPSYN|packet.TCPECE|packet.TCPCWR, cISN, 0, 1, 0), create: true, state: StateNew, tcp: TCPSynSent},
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tbl, clk := newTable(t, tc.cfg)
			runSteps(t, tbl, clk, tc.steps)
		})
	}
}

func TestTCPMidStreamWithoutPickup(t *testing.T) {
	tbl, _ := newTable(t, Config{})
	p := web.seg(O, packet.TCPACK, cISN+500, sISN+900, 502, 10)
	if r := tbl.Lookup(&p); r.State != StateInvalid || r.Reason != ReasonNoEntry {
		t.Fatalf("Lookup: %+v", r)
	}
	if r, ok := tbl.Create(&p); ok || r.Reason != ReasonNoEntry {
		t.Fatalf("Create: %+v %v", r, ok)
	}
	if tbl.Len() != 0 {
		t.Fatalf("Len = %d", tbl.Len())
	}
}

func TestTCPWindowScaling(t *testing.T) {
	f := web
	tests := []struct {
		name     string
		cws, sws int8
		seqOff   uint32 // server data offset past its ISN+1
		want     State
	}{
		// The client's ACK advertises 502 << 7 = 64256 bytes.
		{"both scale: data within scaled window", 7, 7, 60000, StateEstablished},
		{"both scale: data beyond scaled window", 7, 7, 64300, StateInvalid},
		{"only client offers: no scaling, 502 bytes", 7, -1, 600, StateInvalid},
		{"only server offers: no scaling, 502 bytes", -1, 7, 600, StateInvalid},
		{"no scaling: within 502 bytes", -1, -1, 400, StateEstablished},
		{"shift above 14 counts as 14", 20, 20, 60000, StateEstablished},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tbl, clk := newTable(t, Config{})
			runSteps(t, tbl, clk, handshake(f, tc.cws, tc.sws, 64240, 65160, 502))
			p := f.seg(R, packet.TCPACK, sISN+1+tc.seqOff, cISN+1, 65160, 100)
			r := tbl.Lookup(&p)
			if r.State != tc.want {
				t.Fatalf("got %+v, want %v", r, tc.want)
			}
			if tc.want == StateInvalid && r.Reason != ReasonSeqOver {
				t.Fatalf("reason %v, want seq_over", r.Reason)
			}
		})
	}
}

func TestTCPSACKWidensAck(t *testing.T) {
	// With SACK permitted, the window is judged by the highest SACKed
	// edge, as Linux does: the receiver may SACK data beyond its ACK.
	f := web
	tbl, clk := newTable(t, Config{})
	runSteps(t, tbl, clk, handshake(f, -1, -1, 64240, 65160, 64240))
	runSteps(t, tbl, clk, []step{
		est("data", f.seg(O, packet.TCPACK, cISN+1, sISN+1, 64240, 3000)),
	})
	p := f.seg(R, packet.TCPACK, sISN+1, cISN+1, 1000, 0)
	p.HasSACK, p.SACKRight = true, cISN+3001
	if r := tbl.Lookup(&p); r.State != StateEstablished {
		t.Fatalf("SACK: %+v", r)
	}
	p.SACKRight = cISN + 5001 // beyond anything sent
	if r := tbl.Lookup(&p); r.State != StateInvalid || r.Reason != ReasonAckOver {
		t.Fatalf("SACK beyond data: %+v", r)
	}
}

func TestTCPTimeouts(t *testing.T) {
	f := web
	def := DefaultTimeouts()
	hs := handshake(f, -1, -1, 64240, 65160, 64240)
	tests := []struct {
		name  string
		steps []step
		want  time.Duration
	}{
		{"SYN_SENT", hs[:1], def.TCPSynSent},
		{"SYN_RECV", hs[:2], def.TCPSynRecv},
		{"ESTABLISHED", hs, def.TCPEstablished},
		{"ESTABLISHED with data in flight", cat(hs, []step{
			est("data", f.seg(O, packet.TCPACK, cISN+1, sISN+1, 64240, 10)),
		}), def.TCPUnacknowledged},
		{"ESTABLISHED after the data is acknowledged", cat(hs, []step{
			est("data", f.seg(O, packet.TCPACK, cISN+1, sISN+1, 64240, 10)),
			est("ack", f.seg(R, packet.TCPACK, sISN+1, cISN+11, 65160, 0)),
		}), def.TCPEstablished},
		{"zero window", cat(hs, []step{
			est("window closed", f.seg(R, packet.TCPACK, sISN+1, cISN+1, 0, 0)),
		}), def.TCPRetrans},
		{"FIN_WAIT", cat(hs, []step{
			{name: "FIN", p: f.seg(O, packet.TCPFIN|packet.TCPACK, cISN+1, sISN+1, 64240, 0), state: StateEstablished, tcp: TCPFinWait},
		}), def.TCPFinWait}, // shorter than the unacknowledged cap
		{"CLOSE_WAIT", cat(hs, []step{
			{name: "FIN", p: f.seg(O, packet.TCPFIN|packet.TCPACK, cISN+1, sISN+1, 64240, 0), state: StateEstablished, tcp: TCPFinWait},
			{name: "ACK", p: f.seg(R, packet.TCPACK, sISN+1, cISN+2, 65160, 0), state: StateEstablished, tcp: TCPCloseWait},
		}), def.TCPCloseWait},
		{"TIME_WAIT", cat(hs, []step{
			{name: "FIN", p: f.seg(O, packet.TCPFIN|packet.TCPACK, cISN+1, sISN+1, 64240, 0), state: StateEstablished, tcp: TCPFinWait},
			{name: "FIN/ACK", p: f.seg(R, packet.TCPFIN|packet.TCPACK, sISN+1, cISN+2, 65160, 0), state: StateEstablished, tcp: TCPLastAck},
			{name: "ACK", p: f.seg(O, packet.TCPACK, cISN+2, sISN+2, 64240, 0), state: StateEstablished, tcp: TCPTimeWait},
		}), def.TCPTimeWait},
		{"CLOSE", cat(hs, []step{
			{name: "RST", p: f.seg(O, packet.TCPRST, cISN+1, 0, 0, 0), state: StateEstablished, tcp: TCPClose},
		}), def.TCPClose},
		{"inexact RST caps at unacknowledged", cat(hs, []step{
			est("RST", f.seg(O, packet.TCPRST, cISN+900, 0, 0, 0)),
		}), def.TCPUnacknowledged},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tbl, clk := newTable(t, Config{})
			runSteps(t, tbl, clk, tc.steps)
			var got time.Duration
			n := 0
			tbl.Range(func(e Entry) bool {
				got = e.Expires.Sub(clk.Now())
				n++
				return true
			})
			if n != 1 || got != tc.want {
				t.Fatalf("%d entries, timeout %v, want %v", n, got, tc.want)
			}
		})
	}
}

func TestTCPRetransmittedSYNDoesNotExtendLife(t *testing.T) {
	tbl, clk := newTable(t, Config{})
	syn := web.seg(O, packet.TCPSYN, cISN, 0, 64240, 0)
	r := track(tbl, &syn)
	want := entryOf(t, tbl, r).Expires
	for range 5 {
		clk.Advance(20 * time.Second)
		if r2 := tbl.Lookup(&syn); r2.ID != r.ID || r2.State != StateNew {
			t.Fatalf("retransmission: %+v", r2)
		}
	}
	if got := entryOf(t, tbl, r).Expires; !got.Equal(want) {
		t.Fatalf("expiry moved from %v to %v", want, got)
	}
	clk.Advance(21 * time.Second) // 121s after the first SYN
	if r2 := tbl.Lookup(&syn); r2.ID != 0 || r2.State != StateNew {
		t.Fatalf("after expiry: %+v", r2)
	}
}

func TestTCPAssuredAfterHandshake(t *testing.T) {
	tbl, clk := newTable(t, Config{})
	hs := handshake(web, -1, -1, 64240, 65160, 64240)
	runSteps(t, tbl, clk, hs[:2])
	var e Entry
	tbl.Range(func(x Entry) bool { e = x; return false })
	if e.Assured || !e.Replied {
		t.Fatalf("after SYN/ACK: %+v", e)
	}
	runSteps(t, tbl, clk, hs[2:])
	tbl.Range(func(x Entry) bool { e = x; return false })
	if !e.Assured || e.TCP != TCPEstablished || e.Packets != [2]uint64{2, 1} {
		t.Fatalf("after ACK: %+v", e)
	}
}

func TestTCPResetBeforeAnswer(t *testing.T) {
	tbl, _ := newTable(t, Config{MaxEntries: 64})
	syn := web.seg(O, packet.TCPSYN, cISN, 0, 64240, 0)
	created := track(tbl, &syn)
	rst := web.seg(R, packet.TCPRST|packet.TCPACK, 0, cISN+1, 0, 0)
	r := tbl.Lookup(&rst)
	// The RST belonged to the entry (non-zero ID: nothing to Create),
	// and took it with it.
	if r.State != StateEstablished || r.TCP != TCPClose || r.ID != created.ID || tbl.Len() != 0 {
		t.Fatalf("%+v, Len %d", r, tbl.Len())
	}
	if present(tbl, r.ID) {
		t.Fatal("entry survived")
	}
}

func TestCreateReopensTimeWait(t *testing.T) {
	// A caller that goes straight to Create with a SYN for a tuple still
	// in TIME_WAIT gets a fresh entry, not the dead one.
	tbl, clk := newTable(t, Config{MaxEntries: 64})
	runSteps(t, tbl, clk, handshake(web, -1, -1, 64240, 65160, 64240))
	runSteps(t, tbl, clk, []step{
		{name: "FIN", p: web.seg(O, packet.TCPFIN|packet.TCPACK, cISN+1, sISN+1, 64240, 0), state: StateEstablished, tcp: TCPFinWait},
		{name: "FIN/ACK", p: web.seg(R, packet.TCPFIN|packet.TCPACK, sISN+1, cISN+2, 65160, 0), state: StateEstablished, tcp: TCPLastAck},
		{name: "ACK", p: web.seg(O, packet.TCPACK, cISN+2, sISN+2, 64240, 0), state: StateEstablished, tcp: TCPTimeWait},
	})
	var old ID
	tbl.Range(func(e Entry) bool { old = e.ID; return false })
	syn := web.seg(O, packet.TCPSYN, cISN+99999, 0, 64240, 0)
	r, ok := tbl.Create(&syn)
	if !ok || r.ID == 0 || r.ID == old || r.TCP != TCPSynSent || tbl.Len() != 1 {
		t.Fatalf("%+v %v, Len %d", r, ok, tbl.Len())
	}
}

func TestTCPOutOfSync(t *testing.T) {
	f := web
	hs := handshake(f, -1, -1, 64240, 65160, 64240)
	tests := []struct {
		name  string
		steps []step
	}{
		{"RST right after data (a train) closes", cat(hs, []step{
			est("server data", f.seg(R, packet.TCPPSH|packet.TCPACK, sISN+1, cISN+1, 65160, 19)),
			{name: "server RST after it", p: f.seg(R, packet.TCPRST|packet.TCPACK, sISN+20, cISN+1, 0, 0), state: StateEstablished, tcp: TCPClose},
		})},
		{"client restarted: SYN ignored, server's SYN/ACK resynchronises", cat(hs, []step{
			{name: "new SYN", p: f.seg(O, packet.TCPSYN, cISN+900000, 0, 64240, 0), state: StateEstablished, tcp: TCPEstablished, reason: ReasonTCPIgnored, ignored: true},
			{name: "SYN/ACK for it", p: f.seg(R, packet.TCPSYN|packet.TCPACK, sISN+700000, cISN+900001, 65160, 0), state: StateEstablished, tcp: TCPSynRecv},
			est("ACK", f.seg(O, packet.TCPACK, cISN+900001, sISN+700001, 64240, 0)),
		})},
		{"challenge ACK in LAST_ACK does not end the connection", cat(hs, []step{
			{name: "client FIN", p: f.seg(O, packet.TCPFIN|packet.TCPACK, cISN+1, sISN+1, 64240, 0), state: StateEstablished, tcp: TCPFinWait},
			{name: "server FIN", p: f.seg(R, packet.TCPFIN|packet.TCPACK, sISN+1, cISN+2, 65160, 0), state: StateEstablished, tcp: TCPLastAck},
			{name: "client SYN", p: f.seg(O, packet.TCPSYN, cISN+5000, 0, 64240, 0), state: StateEstablished, tcp: TCPLastAck, reason: ReasonTCPIgnored, ignored: true},
			{name: "server challenge ACK", p: f.seg(R, packet.TCPACK, sISN+2, cISN+2, 65160, 0), state: StateEstablished, tcp: TCPLastAck, reason: ReasonTCPIgnored, ignored: true},
			{name: "real last ACK", p: f.seg(O, packet.TCPACK, cISN+2, sISN+2, 64240, 0), state: StateEstablished, tcp: TCPTimeWait},
		})},
		{"challenge ACK answering a SYN, then the client's RST", []step{
			hs[0],
			{name: "server challenge ACK", p: f.seg(R, packet.TCPACK, sISN+1, 777, 65160, 0), state: StateEstablished, tcp: TCPSynSent, reason: ReasonTCPIgnored, ignored: true},
			{name: "client RST at the acked number", p: f.seg(O, packet.TCPRST, 777, 0, 0, 0), state: StateNew, tcp: TCPClose},
		}},
		{"FIN before the handshake completes is invalid", cat(hs[:1], []step{
			{name: "FIN", p: f.seg(O, packet.TCPFIN|packet.TCPACK, cISN+1, 0, 64240, 0), state: StateInvalid, tcp: TCPSynSent, reason: ReasonTCPState},
		})},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tbl, clk := newTable(t, Config{MaxEntries: 64})
			runSteps(t, tbl, clk, tc.steps)
		})
	}
}

func TestTCPInvalidCloseShortensTimeout(t *testing.T) {
	// Both ends try to close with segments the tracker finds out of
	// window: it is out of sync, and the entry must not linger for days.
	f := web
	tbl, clk := newTable(t, Config{MaxEntries: 64})
	runSteps(t, tbl, clk, handshake(f, -1, -1, 64240, 65160, 64240))
	runSteps(t, tbl, clk, []step{
		{name: "server FIN out of window", p: f.seg(R, packet.TCPFIN|packet.TCPACK, sISN+1+900000, cISN+1, 65160, 0), state: StateInvalid, tcp: TCPEstablished, reason: ReasonSeqOver},
		{name: "client RST out of window", p: f.seg(O, packet.TCPRST, cISN+1+900000, 0, 0, 0), state: StateInvalid, tcp: TCPEstablished, reason: ReasonSeqOver},
	})
	var e Entry
	tbl.Range(func(x Entry) bool { e = x; return false })
	if got := e.Expires.Sub(clk.Now()); got != DefaultTimeouts().TCPUnacknowledged {
		t.Fatalf("timeout %v", got)
	}
}
