package stream

import (
	"bytes"
	"fmt"
	"net/netip"
	"testing"
	"time"

	"github.com/rampart-fw/rampart/packet"
)

// TestResetPolicies: which resets each destination takes, by where the
// reset's sequence number lies. The client has sent bytes 1 to 10, the
// server acknowledged 1 to 5 and offers a 65535-byte window.
func TestResetPolicies(t *testing.T) {
	type where struct {
		name string
		rel  uint32
	}
	places := []where{
		{"exact", 11},          // RCV.NXT
		{"ahead", 50},          // in the window, past RCV.NXT
		{"behind", 8},          // before RCV.NXT, not acknowledged yet
		{"acknowledged", 3},    // before the acknowledgement
		{"past window", 70000}, // past the window's right edge (6+65535)
	}
	exact := "T...."
	window := "TTT.."
	hpux := "TT..T"
	want := map[Policy]string{
		First: exact, Last: exact, BSD: exact, Windows: exact, Vista: exact,
		HPUX10: exact, IRIX: exact, MacOS: exact,
		Linux: window, OldLinux: window, Solaris: window,
		HPUX11: hpux,
	}
	for pol, w := range want {
		for i, pl := range places {
			for _, mode := range []Mode{Detect, Prevent} {
				t.Run(fmt.Sprintf("%s/%s/%s", pol, pl.name, mode), func(t *testing.T) {
					c := newConn(t, Config{Mode: mode, Policies: NewHostPolicies(pol)})
					c.handshake()
					c.put(ToServer, 1, "0123456789")
					c.ackTo(ToServer, 6)
					r, _ := c.send(c.seg(ToServer, packet.TCPRST, pl.rel, 0, ""))
					accepted := w[i] == 'T'
					if accepted {
						if r.Verdict != Forward || r.Events != 0 || c.flow().State() != StateReset {
							t.Fatalf("not taken: %+v, state %s", r, c.flow().State())
						}
						if got := string(c.rec.only().data[ToServer]); got != "0123456789" {
							t.Errorf("handed on %q at the reset", got)
						}
						return
					}
					wantV := Forward
					if mode == Prevent {
						wantV = Drop
					}
					if r.Verdict != wantV || !r.Events.Has(KindInvalidRST) || c.flow().State() != StateEstablished {
						t.Errorf("taken: %+v, state %s", r, c.flow().State())
					}
				})
			}
		}
	}
}

// TestResetThenData: a reset taken as accepted ends the flow only after
// Config.ClosedTimeout; data in the meantime (the host ignored the reset,
// or it was injected) is reported and inspected.
func TestResetThenData(t *testing.T) {
	c := newConn(t, Config{ClosedTimeout: 5 * time.Second})
	c.handshake()
	c.put(ToServer, 1, "abc")
	c.send(c.seg(ToServer, packet.TCPRST, 4, 0, ""))
	fr := c.rec.only()
	if fr.ended {
		t.Fatal("ended at the reset")
	}
	r := c.put(ToServer, 4, "def")
	if !r.Events.Has(KindDataAfterReset) || c.flow().State() != StateEstablished {
		t.Fatalf("data after the reset: %+v, state %s", r, c.flow().State())
	}
	c.ackTo(ToServer, 7)
	if got := string(fr.data[ToServer]); got != "abcdef" {
		t.Errorf("handed on %q", got)
	}
	// A second reset, then silence: the flow ends when the time is up.
	c.send(c.seg(ToServer, packet.TCPRST, 7, 0, ""))
	c.tab.Sweep(c.now.Add(4 * time.Second))
	if fr.ended {
		t.Fatal("ended before the time-out")
	}
	c.tab.Sweep(c.now.Add(6 * time.Second))
	if !fr.ended || fr.why != EndReset {
		t.Errorf("ended %v (%s)", fr.ended, fr.why)
	}
	if s := c.tab.Stats(); s.Active != 0 || s.Ended[EndReset] != 1 {
		t.Errorf("stats %+v", s)
	}
}

// TestRefusedSYN: a reset that answers the SYN ends the attempt.
func TestRefusedSYN(t *testing.T) {
	c := newConn(t, Config{})
	c.send(c.seg(ToServer, packet.TCPSYN, 0, 0, ""))
	if r, _ := c.send(c.seg(ToClient, packet.TCPRST|packet.TCPACK, 1, 1, "")); r.Events != 0 || c.flow().State() != StateReset {
		t.Errorf("%+v, state %s", r, c.flow().State())
	}
	// The client tries again at once: a new flow.
	r, _ := c.send(c.seg(ToServer, packet.TCPSYN, 0, 0, ""))
	if r.Flow.State() != StateSynSent || len(c.rec.flows) != 1 || !c.rec.only().ended {
		t.Errorf("%+v", r)
	}
}

// tsConn returns a connection whose both ends use timestamps, after the
// handshake (TSval 100 and 200 from there on).
func tsConn(t *testing.T, pol Policy, synTS uint32) *conn {
	c := newConn(t, Config{Policies: NewHostPolicies(pol)})
	syn := c.seg(ToServer, packet.TCPSYN, 0, 0, "")
	syn.ts, syn.tsval = true, synTS
	synack := c.seg(ToClient, packet.TCPSYN|packet.TCPACK, 0, 1, "")
	synack.ts, synack.tsval = true, 200
	ack := c.seg(ToServer, packet.TCPACK, 1, 1, "")
	ack.ts, ack.tsval = true, 100
	for _, s := range []tcpSeg{syn, synack, ack} {
		c.send(s)
	}
	return c
}

// putTS sends data from the client with timestamp ts.
func (c *conn) putTS(rel uint32, data string, ts uint32) Result {
	s := c.seg(ToServer, packet.TCPACK, rel, 1, data)
	s.ts, s.tsval = true, ts
	r, _ := c.send(s)
	return r
}

// TestPAWS: segments whose timestamp is older than the last are left out,
// as each destination leaves them out.
func TestPAWS(t *testing.T) {
	t.Run("older", func(t *testing.T) {
		for _, pol := range []Policy{BSD, Linux, Windows, Solaris, HPUX11} {
			c := tsConn(t, pol, 50)
			c.putTS(1, "abc", 110)
			r := c.putTS(4, "xyz", 90) // in order, older: left out
			if !r.Events.Has(KindPAWS) {
				t.Errorf("%s: %+v", pol, r)
			}
			c.putTS(4, "def", 120)
			c.ackTo(ToServer, 7)
			if got := string(c.rec.only().data[ToServer]); got != "abcdef" {
				t.Errorf("%s: handed on %q", pol, got)
			}
		}
	})
	t.Run("linux takes one less", func(t *testing.T) {
		for pol, want := range map[Policy]bool{Linux: true, BSD: false} {
			c := tsConn(t, pol, 50)
			c.putTS(1, "abc", 110)
			r := c.putTS(4, "def", 109)
			if r.Events.Has(KindPAWS) == want {
				t.Errorf("%s: %+v", pol, r)
			}
		}
	})
	t.Run("zero", func(t *testing.T) {
		for pol, ok := range map[Policy]bool{OldLinux: true, Windows: true, Vista: true, Solaris: true, BSD: false, Linux: false, HPUX11: false, MacOS: false} {
			c := tsConn(t, pol, 50)
			if r := c.putTS(1, "abc", 0); r.Events.Has(KindPAWS) == ok {
				t.Errorf("%s: TSval 0: %+v", pol, r)
			}
		}
	})
	t.Run("hpux11 ignores out of order", func(t *testing.T) {
		for pol, ok := range map[Policy]bool{HPUX11: true, BSD: false} {
			c := tsConn(t, pol, 50)
			c.putTS(1, "abc", 110)
			if r := c.putTS(10, "xyz", 90); r.Events.Has(KindPAWS) == ok {
				t.Errorf("%s: out of order, older: %+v", pol, r)
			}
		}
	})
	t.Run("24 days", func(t *testing.T) {
		c := tsConn(t, BSD, 50)
		c.putTS(1, "abc", 110)
		c.now = c.now.Add(25 * 24 * time.Hour)
		if r := c.putTS(4, "def", 90); r.Events.Has(KindPAWS) {
			t.Errorf("after 25 idle days: %+v", r)
		}
	})
	t.Run("zero in handshake", func(t *testing.T) {
		// Linux turns timestamps off; BSD keeps checking.
		for pol, paws := range map[Policy]bool{Linux: false, BSD: true} {
			c := tsConn(t, pol, 0)
			c.putTS(1, "abc", 110)
			if r := c.putTS(4, "def", 90); r.Events.Has(KindPAWS) != paws {
				t.Errorf("%s: %+v", pol, r)
			}
		}
	})
	t.Run("solaris stops without", func(t *testing.T) {
		c := tsConn(t, Solaris, 50)
		c.putTS(1, "abc", 110)
		c.put(ToServer, 4, "def") // no timestamp: Solaris stops checking
		if r := c.putTS(7, "ghi", 90); r.Events.Has(KindPAWS) {
			t.Errorf("%+v", r)
		}
	})
	t.Run("prevent drops", func(t *testing.T) {
		c := newConn(t, Config{Mode: Prevent})
		c.ts = true
		c.handshake()
		c.put(ToServer, 1, "abc")
		if r := c.putTS(4, "def", 1); r.Verdict != Drop || !r.Events.Has(KindPAWS) {
			t.Errorf("%+v", r)
		}
	})
}

// TestWindow: data past the receive window's right edge is left out (and
// dropped in line), with the window scaled as the handshake says; a
// one-byte probe of a closed window is not.
func TestWindow(t *testing.T) {
	for _, mode := range []Mode{Detect, Prevent} {
		c := newConn(t, Config{Mode: mode})
		c.win = 100
		c.handshake()
		if r := c.put(ToServer, 1, string(bytes.Repeat([]byte{'a'}, 100))); r.Events != 0 {
			t.Errorf("%s: a full window: %+v", mode, r)
		}
		r := c.put(ToServer, 101, "b")
		if !r.Events.Has(KindBadWindow) || (mode == Prevent) != (r.Verdict == Drop) {
			t.Errorf("%s: past the window: %+v", mode, r)
		}
		// The server acknowledges everything and closes its window; the
		// client probes it with one byte.
		r, _ = c.send(tcpSeg{src: c.srv, dst: c.cli, flags: packet.TCPACK, seq: c.sisn + 1, ack: c.cisn + 101, wscale: -1})
		if r = c.put(ToServer, 101, "p"); r.Events != 0 {
			t.Errorf("%s: a zero-window probe: %+v", mode, r)
		}
	}
	t.Run("scaled", func(t *testing.T) {
		c := newConn(t, Config{})
		syn := c.seg(ToServer, packet.TCPSYN, 0, 0, "")
		syn.wscale = 2
		synack := c.seg(ToClient, packet.TCPSYN|packet.TCPACK, 0, 1, "")
		synack.wscale, synack.win = 3, 1000
		c.send(syn)
		c.send(synack)
		c.send(c.seg(ToServer, packet.TCPACK, 1, 1, ""))
		// The SYN/ACK's window is not scaled: 1000 bytes.
		if r := c.put(ToServer, 1000, "xy"); !r.Events.Has(KindBadWindow) {
			t.Errorf("past the unscaled window: %+v", r)
		}
		// The server's next window is: 1000 << 3.
		ack := c.seg(ToClient, packet.TCPACK, 1, 1, "")
		ack.win = 1000
		c.send(ack)
		if r := c.put(ToServer, 7990, "xy"); r.Events != 0 {
			t.Errorf("in the scaled window: %+v", r)
		}
		if r := c.put(ToServer, 8000, "xy"); !r.Events.Has(KindBadWindow) {
			t.Errorf("past the scaled window: %+v", r)
		}
	})
}

// TestInvalidAck: a segment that acknowledges data its peer never sent is
// discarded by the peer, so its data is left out.
func TestInvalidAck(t *testing.T) {
	for _, mode := range []Mode{Detect, Prevent} {
		c := newConn(t, Config{Mode: mode})
		c.handshake()
		r, _ := c.send(c.seg(ToServer, packet.TCPACK, 1, 100000, "evil"))
		if !r.Events.Has(KindInvalidAck) || (mode == Prevent) != (r.Verdict == Drop) {
			t.Errorf("%s: %+v", mode, r)
		}
		c.put(ToServer, 1, "good")
		c.ackTo(ToServer, 5)
		if got := string(c.rec.only().data[ToServer]); got != "good" {
			t.Errorf("%s: handed on %q", mode, got)
		}
	}
}

// TestDataAfterFIN: data past a FIN that was not acknowledged shows the
// FIN did not count, and the stream goes on; past an acknowledged FIN it
// is left out (dropped in line).
func TestDataAfterFIN(t *testing.T) {
	for _, mode := range []Mode{Detect, Prevent} {
		c := newConn(t, Config{Mode: mode})
		c.handshake()
		c.put(ToServer, 1, "abcd")
		c.send(c.seg(ToServer, packet.TCPFIN|packet.TCPACK, 5, 1, ""))
		if mode == Detect {
			// In line, the FIN was forwarded in order and counts; here it
			// has not been acknowledged.
			if r := c.put(ToServer, 5, "efgh"); !r.Events.Has(KindDataAfterFIN) || r.Verdict != Forward {
				t.Errorf("%s: data after an unacknowledged FIN: %+v", mode, r)
			}
			c.send(c.seg(ToServer, packet.TCPFIN|packet.TCPACK, 9, 1, ""))
			c.ackTo(ToServer, 10)
		} else {
			c.ackTo(ToServer, 6)
		}
		r := c.put(ToServer, 10, "ijkl")
		if !r.Events.Has(KindDataAfterFIN) || (mode == Prevent) != (r.Verdict == Drop) {
			t.Errorf("%s: data after an acknowledged FIN: %+v", mode, r)
		}
		c.ackTo(ToServer, 14)
		fr := c.rec.only()
		want := "abcdefgh"
		if mode == Prevent {
			want = "abcd"
		}
		if got := string(fr.data[ToServer]); got != want || !fr.fin[ToServer] {
			t.Errorf("%s: handed on %q, fin %v", mode, got, fr.fin)
		}
	}
}

// TestTimeouts: flows end after the time-out of their state, handing on
// what they hold.
func TestTimeouts(t *testing.T) {
	c := newConn(t, Config{NewTimeout: 10 * time.Second, EstablishedTimeout: time.Minute})
	c.send(c.seg(ToServer, packet.TCPSYN, 0, 0, ""))
	other := &conn{t: t, tab: c.tab, rec: c.rec, cli: netip.MustParseAddrPort("192.0.2.11:40001"), srv: srv4, cisn: 7, sisn: 9, now: t0, win: 65535}
	other.handshake()
	other.put(ToServer, 1, "abc")
	other.put(ToServer, 7, "ghi") // behind a hole
	c.tab.Sweep(t0.Add(11 * time.Second))
	if s := c.tab.Stats(); s.Active != 1 || s.Ended[EndTimeout] != 1 {
		t.Fatalf("after the half-open time-out: %+v", s)
	}
	c.tab.Sweep(t0.Add(61 * time.Second))
	fr := c.rec.flows[c.rec.order[len(c.rec.order)-1]]
	if !fr.ended || fr.why != EndTimeout || string(fr.data[ToServer]) != "abc???ghi" {
		t.Errorf("the established flow: ended %v (%s), handed on %q", fr.ended, fr.why, fr.data[ToServer])
	}
	if s := c.tab.Stats(); s.Active != 0 {
		t.Errorf("stats %+v", s)
	}
	for i := range c.tab.shards {
		if u := c.tab.shards[i].used; u != 0 {
			t.Errorf("shard %d: %d bytes still charged to flows", i, u)
		}
	}
}

// TestFlowLimit: a full table makes room by ending a closed flow first,
// then a half-open one, then the least recently active.
func TestFlowLimit(t *testing.T) {
	c := newConn(t, Config{MaxFlows: 3, Shards: 1})
	port := uint16(40000)
	mk := func() *conn {
		port++
		n := &conn{t: t, tab: c.tab, rec: c.rec, cli: netip.AddrPortFrom(cli4.Addr(), port), srv: srv4, cisn: 7, sisn: 9, now: t0, win: 65535}
		return n
	}
	est := mk()
	est.handshake()
	est.put(ToServer, 1, "x")
	half := mk()
	half.send(half.seg(ToServer, packet.TCPSYN, 0, 0, ""))
	closed := mk()
	closed.handshake()
	closed.send(closed.seg(ToServer, packet.TCPFIN|packet.TCPACK, 1, 1, ""))
	closed.send(closed.seg(ToClient, packet.TCPFIN|packet.TCPACK, 1, 2, ""))
	closed.ackTo(ToClient, 2)
	if closed.flow().State() != StateClosed {
		t.Fatalf("state %s", closed.flow().State())
	}
	ids := map[*conn]uint64{est: est.flow().ID(), half: half.flow().ID(), closed: closed.flow().ID()}
	for i, victim := range []*conn{closed, half, est} {
		n := mk()
		n.handshake()
		if s := c.tab.Stats(); s.Active != 3 || s.Events[KindFlowLimit] != uint64(i+1) {
			t.Fatalf("flow %d: %+v", i, s)
		}
		if e := c.events[len(c.events)-1]; e.Kind != KindFlowLimit || e.FlowID != ids[victim] {
			t.Errorf("flow %d made room by ending %d, want %d", i, e.FlowID, ids[victim])
		}
	}
	if fr := c.rec.flows[ids[est]]; !fr.ended || fr.why != EndEvicted || string(fr.data[ToServer]) != "x" {
		t.Errorf("the evicted flow: %+v", fr)
	}
}

// TestUrgent: in line, URG and the urgent pointer are cleared, the checksum
// follows; beside the traffic, urgent data is reported.
func TestUrgent(t *testing.T) {
	for _, mode := range []Mode{Detect, Prevent} {
		c := newConn(t, Config{Mode: mode})
		c.handshake()
		s := c.seg(ToServer, packet.TCPACK|packet.TCPURG, 1, 1, "abc!")
		s.urg = 4
		r, b := c.send(s)
		checkTCPChecksum(t, b)
		var p packet.Parsed
		p.DecodeIP(b)
		if !r.Events.Has(KindUrgent) {
			t.Errorf("%s: %+v", mode, r)
		}
		cleared := p.TCPFlags&packet.TCPURG == 0 && p.TCPUrgent == 0
		if cleared != (mode == Prevent) || (r.Norm&NormUrgent != 0) != (mode == Prevent) {
			t.Errorf("%s: flags %s pointer %d, norm %d", mode, p.TCPFlags, p.TCPUrgent, r.Norm)
		}
		c.ackTo(ToServer, 5)
		if got := string(c.rec.only().data[ToServer]); got != "abc!" {
			t.Errorf("%s: handed on %q", mode, got)
		}
	}
}

// TestFastOpen: data on a SYN counts with a Fast Open cookie, and is
// ignored (and reported) without.
func TestFastOpen(t *testing.T) {
	for _, cookie := range []bool{true, false} {
		c := newConn(t, Config{})
		syn := c.seg(ToServer, packet.TCPSYN, 0, 0, "GET")
		syn.tfo = cookie
		r, _ := c.send(syn)
		ackTo := uint32(1)
		if cookie {
			ackTo = 4
		}
		c.send(c.seg(ToClient, packet.TCPSYN|packet.TCPACK, 0, ackTo, ""))
		if !cookie {
			if !r.Events.Has(KindSYNData) {
				t.Errorf("no cookie: %+v", r)
			}
			c.put(ToServer, 1, "GET")
		}
		c.put(ToServer, 4, " /")
		c.ackTo(ToServer, 6)
		if got := string(c.rec.only().data[ToServer]); got != "GET /" {
			t.Errorf("cookie %v: handed on %q", cookie, got)
		}
	}
}

// TestIPv6 follows a flow over IPv6.
func TestIPv6(t *testing.T) {
	c := newConn(t, Config{})
	c.cli, c.srv = cli6, srv6
	c.handshake()
	c.put(ToServer, 1, "over six")
	c.ackTo(ToServer, 9)
	if got := string(c.rec.only().data[ToServer]); got != "over six" {
		t.Errorf("handed on %q", got)
	}
}

// TestFlowDrop: a consumer that drops a packet for what it inspected
// drops every later packet of the flow, the same bytes sent again
// included (they would not be handed on a second time).
func TestFlowDrop(t *testing.T) {
	c := newConn(t, Config{Mode: Prevent})
	c.rec.onPkt = func(f *Flow, p *packet.Parsed, r *Result) {
		if bytes.Contains(p.Buf[p.PayloadOff:], []byte("EVIL")) {
			r.Verdict = Drop
		}
	}
	c.handshake()
	if r := c.put(ToServer, 1, "fine "); r.Verdict != Forward {
		t.Fatalf("%+v", r)
	}
	if r := c.put(ToServer, 6, "EVIL"); r.Verdict != Drop {
		t.Fatalf("%+v", r)
	}
	for _, r := range []Result{c.put(ToServer, 6, "EVIL"), c.ackTo(ToClient, 1), c.put(ToServer, 10, "more")} {
		if r.Verdict != Drop {
			t.Errorf("after the drop: %+v", r)
		}
	}
	if s := c.tab.Stats(); s.Dropped != 4 {
		t.Errorf("dropped %d", s.Dropped)
	}
}

// TestNotFollowed: what is not a valid TCP segment is left alone.
func TestNotFollowed(t *testing.T) {
	c := newConn(t, Config{Mode: Prevent})
	var p packet.Parsed
	p.DecodeIP([]byte{0x45, 0, 0, 20})
	if r := c.tab.Process(&p, t0); r != (Result{}) {
		t.Errorf("invalid packet: %+v", r)
	}
	if r, _ := c.send(c.seg(ToServer, packet.TCPRST, 1, 0, "")); r != (Result{}) {
		t.Errorf("a reset of no flow: %+v", r)
	}
}
