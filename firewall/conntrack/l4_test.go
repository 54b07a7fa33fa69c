package conntrack

import (
	"net/netip"
	"testing"
	"time"

	"github.com/rampart-fw/rampart/clock"
	"github.com/rampart-fw/rampart/ipproto"
	"github.com/rampart-fw/rampart/packet"
)

// l4Step is one packet of an SCTP or DCCP scenario, the verdict expected
// for it and, when set, the state and remaining life of the flow's entry
// after it.
type l4Step struct {
	name    string
	p       Packet
	create  bool // call Create when Lookup says New without an entry, as an allowing policy does
	advance time.Duration
	state   State
	reason  Reason
	ignored bool
	sctp    SCTPState
	dccp    DCCPState
	expires time.Duration // 0: not checked
	assured bool
	gone    bool // the flow has no entry afterwards
}

func runL4(t *testing.T, tbl *Table, clk *clock.Fake, f conn, steps []l4Step) {
	t.Helper()
	for i, s := range steps {
		clk.Advance(s.advance)
		p := s.p
		r := tbl.Lookup(&p)
		if s.create && r.State == StateNew && r.ID == 0 {
			r, _ = tbl.Create(&p)
		}
		if r.State != s.state || r.Reason != s.reason || r.Ignored != s.ignored {
			t.Fatalf("step %d (%s): got state=%v reason=%v ignored=%v, want state=%v reason=%v ignored=%v",
				i, s.name, r.State, r.Reason, r.Ignored, s.state, s.reason, s.ignored)
		}
		if err := tbl.checkInvariants(); err != nil {
			t.Fatalf("step %d (%s): %v", i, s.name, err)
		}
		var e Entry
		found := false
		tbl.Range(func(x Entry) bool {
			if x.Orig.Flow == f.pkt(DirOriginal).Flow {
				e, found = x, true
			}
			return true
		})
		switch {
		case s.gone && found:
			t.Fatalf("step %d (%s): entry still there: %+v", i, s.name, e)
		case s.gone:
			continue
		case !found && (s.sctp != SCTPNone || s.dccp != DCCPNone || s.expires != 0):
			t.Fatalf("step %d (%s): no entry", i, s.name)
		}
		if e.SCTP != s.sctp || e.DCCP != s.dccp || e.Assured != s.assured {
			t.Fatalf("step %d (%s): entry in %v/%v assured=%v, want %v/%v assured=%v", i, s.name, e.SCTP, e.DCCP, e.Assured, s.sctp, s.dccp, s.assured)
		}
		if left := e.Expires.Sub(clk.Now()); s.expires != 0 && left != s.expires {
			t.Fatalf("step %d (%s): expires in %v, want %v", i, s.name, left, s.expires)
		}
	}
}

var sctpAssoc = conn{ipproto.SCTP, netip.MustParseAddrPort("10.10.0.5:5000"), netip.MustParseAddrPort("198.51.100.7:9899")}

// sctp builds an SCTP packet of the association in direction dir with
// verification tag vtag and the given control chunks (a negative type
// stands for a DATA chunk).
func sctp(dir Dir, vtag uint32, chunks ...int) Packet {
	p := sctpAssoc.pkt(dir)
	s := &packet.SCTPInfo{VTag: vtag}
	p.SCTP = s
	for i, c := range chunks {
		typ, flags := uint8(c&0xff), uint8(c>>8)
		if c < 0 {
			typ, flags = packet.SCTPData, 3
		}
		if i == 0 {
			s.First = typ
		}
		s.NumChunks++
		s.Types |= 1 << typ
		if typ != packet.SCTPData && typ != packet.SCTPSACK {
			if int(s.NumControl) < len(s.Control) {
				s.Control[s.NumControl] = packet.SCTPChunk{Type: typ, Flags: flags}
			}
			s.NumControl++
		}
	}
	return p
}

// withTag sets the Initiate Tag of an INIT or INIT ACK.
func withTag(p Packet, tag uint32) Packet {
	p.SCTP.InitTag = tag
	return p
}

const (
	tagA, tagB = 0xaaaa0001, 0xbbbb0002 // the client's and the server's Initiate Tags
	data       = -1
	abortT     = int(packet.SCTPAbort) | int(packet.SCTPFlagT)<<8
	init_      = int(packet.SCTPInit)
	initAck    = int(packet.SCTPInitAck)
	cookieEcho = int(packet.SCTPCookieEcho)
	cookieAck  = int(packet.SCTPCookieAck)
	shutdown   = int(packet.SCTPShutdown)
	shutAck    = int(packet.SCTPShutdownAck)
	shutDone   = int(packet.SCTPShutdownComplete)
	heartbeat  = int(packet.SCTPHeartbeat)
	hbAck      = int(packet.SCTPHeartbeatAck)
	abort      = int(packet.SCTPAbort)
)

func TestSCTPTracking(t *testing.T) {
	const O, R = DirOriginal, DirReply
	S := time.Second
	// The handshake every scenario starts with, up to COOKIE WAIT.
	start := []l4Step{
		{name: "INIT", p: withTag(sctp(O, 0, init_), tagA), create: true, state: StateNew, sctp: SCTPClosed, expires: 10 * S},
		{name: "INIT ACK", p: withTag(sctp(R, tagA, initAck), tagB), state: StateEstablished, sctp: SCTPCookieWait, expires: 3 * S},
	}
	established := append(append([]l4Step(nil), start...),
		l4Step{name: "COOKIE ECHO with data", p: sctp(O, tagB, cookieEcho, data), state: StateEstablished, sctp: SCTPCookieEchoed, expires: 3 * S},
		l4Step{name: "COOKIE ACK", p: sctp(R, tagA, cookieAck), state: StateEstablished, sctp: SCTPEstablished, assured: true, expires: 210 * S},
	)
	cat := func(a []l4Step, b ...l4Step) []l4Step { return append(append([]l4Step(nil), a...), b...) }
	cases := []struct {
		name  string
		steps []l4Step
	}{
		{"handshake, data, shutdown", cat(established,
			l4Step{name: "DATA out", p: sctp(O, tagB, data), state: StateEstablished, sctp: SCTPEstablished, assured: true, expires: 210 * S},
			l4Step{name: "DATA back", p: sctp(R, tagA, data), state: StateEstablished, sctp: SCTPEstablished, assured: true},
			l4Step{name: "DATA with another tag", p: sctp(R, tagB, data), state: StateInvalid, reason: ReasonSCTPVTag, sctp: SCTPEstablished, assured: true},
			l4Step{name: "SHUTDOWN", p: sctp(O, tagB, shutdown), state: StateEstablished, sctp: SCTPShutdownSent, assured: true, expires: 3 * S},
			l4Step{name: "SHUTDOWN ACK", p: sctp(R, tagA, shutAck), state: StateEstablished, sctp: SCTPShutdownAckSent, assured: true},
			l4Step{name: "SHUTDOWN COMPLETE", p: sctp(O, tagB, shutDone), state: StateEstablished, sctp: SCTPClosed, assured: true, expires: 10 * S},
		)},
		{"INIT ACK must carry the INIT's tag", cat(start[:1],
			l4Step{name: "INIT ACK, wrong tag", p: withTag(sctp(R, tagA+1, initAck), tagB), state: StateInvalid, reason: ReasonSCTPVTag, sctp: SCTPClosed},
			start[1],
		)},
		{"COOKIE ECHO must carry the INIT ACK's tag", cat(start,
			l4Step{name: "COOKIE ECHO, wrong tag", p: sctp(O, tagA, cookieEcho), state: StateInvalid, reason: ReasonSCTPVTag, sctp: SCTPCookieWait},
		)},
		{"INIT with a tag", []l4Step{
			{name: "INIT, vtag 1", p: withTag(sctp(O, 1, init_), tagA), create: true, state: StateInvalid, reason: ReasonSCTPVTag, gone: true},
		}},
		{"bundling", []l4Step{
			{name: "INIT with DATA", p: withTag(sctp(O, 0, init_, data), tagA), create: true, state: StateInvalid, reason: ReasonSCTPChunks, gone: true},
			{name: "INIT, Initiate Tag 0", p: sctp(O, 0, init_), create: true, state: StateInvalid, reason: ReasonSCTPChunks, gone: true},
			{name: "no chunk", p: sctp(O, 0), create: true, state: StateInvalid, reason: ReasonSCTPChunks, gone: true},
			{name: "COOKIE ECHO second", p: sctp(O, 7, data, cookieEcho), create: true, state: StateInvalid, reason: ReasonSCTPChunks, gone: true},
			{name: "nine control chunks", p: sctp(O, 7, heartbeat, heartbeat, heartbeat, heartbeat, heartbeat, heartbeat, heartbeat, heartbeat, heartbeat), create: true, state: StateInvalid, reason: ReasonSCTPChunks, gone: true},
		}},
		{"out of the blue", []l4Step{
			{name: "DATA", p: sctp(O, 7, data), create: true, state: StateInvalid, reason: ReasonNoEntry, gone: true},
			{name: "ABORT", p: sctp(O, 7, abort), create: true, state: StateInvalid, reason: ReasonNoEntry, gone: true},
			{name: "COOKIE ACK", p: sctp(O, 7, cookieAck), create: true, state: StateInvalid, reason: ReasonNoEntry, gone: true},
			{name: "INIT ACK from the reply side", p: withTag(sctp(R, 7, initAck), tagB), state: StateNew, gone: true},
		}},
		{"ABORT tags", cat(established,
			l4Step{name: "ABORT with the peer's tag, no T bit", p: sctp(R, tagB, abort), state: StateInvalid, reason: ReasonSCTPVTag, sctp: SCTPEstablished, assured: true},
			l4Step{name: "ABORT reflecting the peer's tag (T bit)", p: sctp(R, tagB, abortT), state: StateEstablished, sctp: SCTPClosed, assured: true, expires: 10 * S},
		)},
		{"INIT retransmitted on a closed entry", cat(start[:1],
			l4Step{name: "INIT again", advance: 4 * S, p: withTag(sctp(O, 0, init_), tagA), state: StateNew, reason: ReasonSCTPIgnored, ignored: true, sctp: SCTPClosed, expires: 6 * S},
		)},
		{"a HEARTBEAT with a strange tag does not answer an INIT", cat(start[:1],
			l4Step{name: "HEARTBEAT back, unknown tag", p: sctp(R, 0x5555, heartbeat), state: StateEstablished, reason: ReasonSCTPIgnored, ignored: true, sctp: SCTPClosed, expires: 10 * S},
			l4Step{name: "with data", p: sctp(R, 0x5557, heartbeat, data), state: StateInvalid, reason: ReasonSCTPVTag, sctp: SCTPClosed},
			// Still unanswered: the INIT's retransmission is New.
			l4Step{name: "INIT again", p: withTag(sctp(O, 0, init_), tagA), state: StateNew, reason: ReasonSCTPIgnored, ignored: true, sctp: SCTPClosed},
		)},
		{"new path of a multihomed association", []l4Step{
			{name: "HEARTBEAT", p: sctp(O, tagB, heartbeat), create: true, state: StateNew, sctp: SCTPHeartbeatSent, expires: 30 * S},
			{name: "HEARTBEAT ACK", p: sctp(R, tagA, hbAck), state: StateEstablished, sctp: SCTPEstablished, assured: true, expires: 210 * S},
			{name: "DATA back", p: sctp(R, tagA, data), state: StateEstablished, sctp: SCTPEstablished, assured: true},
			{name: "DATA back, another tag", p: sctp(R, tagA^1, data), state: StateInvalid, reason: ReasonSCTPVTag, sctp: SCTPEstablished, assured: true},
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			tbl, clk := newTable(t, Config{MaxEntries: 1024})
			runL4(t, tbl, clk, sctpAssoc, c.steps)
		})
	}
}

// TestSCTPPorts is the case: one outgoing packet to a peer does
// not open every SCTP port of the sender to it.
func TestSCTPPorts(t *testing.T) {
	tbl, _ := newTable(t, Config{MaxEntries: 1024})
	p := withTag(sctp(DirOriginal, 0, init_), tagA)
	if r := track(tbl, &p); r.State != StateNew || r.ID == 0 {
		t.Fatalf("INIT: %+v", r)
	}
	other := conn{ipproto.SCTP, netip.MustParseAddrPort("10.10.0.5:22"), sctpAssoc.server}
	q := other.pkt(DirReply)
	q.SCTP = withTag(sctp(DirReply, 0, init_), tagB).SCTP
	if r := tbl.Lookup(&q); r.State != StateNew || r.ID != 0 {
		t.Fatalf("INIT to another port: %+v, want New without an entry", r)
	}
}

var dccpConnFlow = conn{ipproto.DCCP, netip.MustParseAddrPort("10.10.0.5:6000"), netip.MustParseAddrPort("198.51.100.7:5001")}

func dccp(dir Dir, typ uint8, seq, ack uint64) Packet {
	p := dccpConnFlow.pkt(dir)
	p.DCCP = &packet.DCCPInfo{Type: typ, Extended: true, Seq: seq, Ack: ack, HasAck: typ != packet.DCCPRequest && typ != packet.DCCPData}
	return p
}

func TestDCCPTracking(t *testing.T) {
	const O, R = DirOriginal, DirReply
	S := time.Second
	const iss, isr = 1000, 5000 // the client's and the server's initial sequence numbers
	handshake := []l4Step{
		{name: "Request", p: dccp(O, packet.DCCPRequest, iss, 0), create: true, state: StateNew, dccp: DCCPRequest, expires: 240 * S},
		{name: "Response", p: dccp(R, packet.DCCPResponse, isr, iss), state: StateEstablished, dccp: DCCPRespond, expires: 480 * S},
		{name: "Ack", p: dccp(O, packet.DCCPAck, iss+1, isr), state: StateEstablished, dccp: DCCPPartOpen, assured: true, expires: 480 * S},
		{name: "DataAck from the server", p: dccp(R, packet.DCCPDataAck, isr+1, iss+1), state: StateEstablished, dccp: DCCPOpen, assured: true, expires: 12 * time.Hour},
	}
	cat := func(a []l4Step, b ...l4Step) []l4Step { return append(append([]l4Step(nil), a...), b...) }
	cases := []struct {
		name  string
		steps []l4Step
	}{
		{"handshake, data, close", cat(handshake,
			l4Step{name: "Data", p: dccp(O, packet.DCCPData, iss+2, 0), state: StateEstablished, dccp: DCCPOpen, assured: true},
			l4Step{name: "CloseReq from the client", p: dccp(O, packet.DCCPCloseReq, iss+3, isr+1), state: StateInvalid, reason: ReasonDCCPState, dccp: DCCPOpen, assured: true},
			l4Step{name: "CloseReq", p: dccp(R, packet.DCCPCloseReq, isr+2, iss+2), state: StateEstablished, dccp: DCCPCloseReq, assured: true, expires: 64 * S},
			l4Step{name: "Close", p: dccp(O, packet.DCCPClose, iss+3, isr+2), state: StateEstablished, dccp: DCCPClosing, assured: true, expires: 64 * S},
			l4Step{name: "Close retransmitted", p: dccp(O, packet.DCCPClose, iss+4, isr+2), state: StateEstablished, dccp: DCCPClosing, assured: true},
			l4Step{name: "Reset", p: dccp(R, packet.DCCPReset, isr+3, iss+4), state: StateEstablished, dccp: DCCPTimeWait, assured: true, expires: 240 * S},
		)},
		{"Ack of another sequence number", []l4Step{
			handshake[0], handshake[1],
			{name: "Ack, not the Response's", p: dccp(O, packet.DCCPAck, iss+1, isr+7), state: StateEstablished, dccp: DCCPPartOpen},
		}},
		{"data before the handshake", []l4Step{
			handshake[0],
			{name: "Data", p: dccp(O, packet.DCCPData, iss+1, 0), state: StateInvalid, reason: ReasonDCCPState, dccp: DCCPRequest},
			{name: "Ack before the Response", p: dccp(O, packet.DCCPAck, iss+1, 0), state: StateInvalid, reason: ReasonDCCPState, dccp: DCCPRequest},
		}},
		{"no entry", []l4Step{
			{name: "Response", p: dccp(R, packet.DCCPResponse, isr, iss), create: true, state: StateInvalid, reason: ReasonNoEntry, gone: true},
			{name: "Data", p: dccp(O, packet.DCCPData, iss, 0), create: true, state: StateInvalid, reason: ReasonNoEntry, gone: true},
			{name: "Sync", p: dccp(O, packet.DCCPSync, iss, 0), create: true, state: StateInvalid, reason: ReasonNoEntry, gone: true},
		}},
		{"refused: a Reset is the only answer", []l4Step{
			handshake[0],
			{name: "Reset", p: dccp(R, packet.DCCPReset, isr, iss), state: StateEstablished, gone: true},
			{name: "Response after it", p: dccp(R, packet.DCCPResponse, isr, iss), state: StateInvalid, reason: ReasonNoEntry, gone: true},
		}},
		{"new incarnation the tracker missed", cat(handshake,
			l4Step{name: "Request on the open connection", p: dccp(O, packet.DCCPRequest, 9000, 0), state: StateEstablished, reason: ReasonDCCPIgnored, ignored: true, dccp: DCCPOpen, assured: true},
			l4Step{name: "its Response", p: dccp(R, packet.DCCPResponse, 7000, 9000), state: StateEstablished, dccp: DCCPRespond, assured: true},
			l4Step{name: "Ack", p: dccp(O, packet.DCCPAck, 9001, 7000), state: StateEstablished, dccp: DCCPPartOpen, assured: true},
		)},
		{"reopened the other way from TIMEWAIT", cat(handshake,
			l4Step{name: "Reset", p: dccp(O, packet.DCCPReset, iss+2, isr+1), state: StateEstablished, dccp: DCCPTimeWait, assured: true},
			l4Step{name: "Request from the server", p: dccp(R, packet.DCCPRequest, 8000, 0), state: StateEstablished, dccp: DCCPRequest, assured: true},
			l4Step{name: "Response from the old client", p: dccp(O, packet.DCCPResponse, 3000, 8000), state: StateEstablished, dccp: DCCPRespond, assured: true},
		)},
		{"Sync ignored", cat(handshake,
			l4Step{name: "Sync", p: dccp(R, packet.DCCPSync, isr+9, iss+1), state: StateEstablished, reason: ReasonDCCPIgnored, ignored: true, dccp: DCCPOpen, assured: true},
		)},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			tbl, clk := newTable(t, Config{MaxEntries: 1024})
			runL4(t, tbl, clk, dccpConnFlow, c.steps)
		})
	}
}

// TestClosingEvictable: an assured SCTP or DCCP flow on its way out may
// be evicted under pressure, as Linux's can_early_drop allows.
func TestClosingEvictable(t *testing.T) {
	for _, c := range []struct {
		name  string
		f     conn
		steps []Packet
	}{
		{"sctp", sctpAssoc, []Packet{withTag(sctp(DirOriginal, 0, init_), tagA), withTag(sctp(DirReply, tagA, initAck), tagB),
			sctp(DirOriginal, tagB, cookieEcho), sctp(DirReply, tagA, cookieAck), sctp(DirOriginal, tagB, shutdown)}},
		{"dccp", dccpConnFlow, []Packet{dccp(DirOriginal, packet.DCCPRequest, 1, 0), dccp(DirReply, packet.DCCPResponse, 9, 1),
			dccp(DirOriginal, packet.DCCPAck, 2, 9), dccp(DirReply, packet.DCCPCloseReq, 10, 2)}},
	} {
		t.Run(c.name, func(t *testing.T) {
			tbl, _ := newTable(t, Config{MaxEntries: 1, Shards: 1})
			var last Result
			for i := range c.steps {
				if last = track(tbl, &c.steps[i]); last.State == StateInvalid {
					t.Fatalf("packet %d: %+v", i, last)
				}
			}
			if e, _ := tbl.Get(last.ID); !e.Assured {
				t.Fatalf("not assured: %+v", e)
			}
			other := udpFlow("10.0.0.9:1", "192.0.2.1:2").pkt(DirOriginal)
			if r, ok := tbl.Create(&other); !ok {
				t.Fatalf("the closing %s flow was not evicted: %+v", c.name, r)
			}
		})
	}
}
