package gateway

import (
	"github.com/rampart-fw/rampart/datapath"
	"github.com/rampart-fw/rampart/firewall/conntrack"
	"github.com/rampart-fw/rampart/guard"
	"github.com/rampart-fw/rampart/ipproto"
	"github.com/rampart-fw/rampart/packet"
)

// The SYN proxy's part of the pipeline. The proxy answered a client's SYN
// (decide); here are the client's ACK without a connection (cookieACK)
// and every later segment of a spliced connection (spliced).

// cookieACK judges p, a TCP segment to a protected destination without a
// connection: the client's ACK of the proxy's SYN/ACK, if its cookie is
// right. Then, if the policy still allows the connection, the entry is
// created (in the client's name, as its SYN) with the splice, and the SYN
// to the server goes on; the ACK itself is consumed (the proxy's SYN/ACK
// offered no window, so it carries no data). A wrong cookie opens nothing.
func (e *Engine) cookieACK(p *packet.Parsed, in datapath.Side, d Decision, out *emit) Decision {
	px := e.guard.Proxy()
	var cs conntrack.Packet
	var sp conntrack.Splice
	if r := px.CheckACK(p, &cs, &sp); r != guard.Pass {
		d.Verdict, d.Reason, d.Guard = Drop, ReasonGuard, r
		return d
	}
	// The policy decided the SYN; it may have been reloaded since. The
	// hit was counted then.
	k := newKey(p, in)
	k.TCPFlags = packet.TCPSYN
	rs := e.rules.Load()
	idx, act := rs.cls.Lookup(&k)
	d.Rule = idx
	if !admits(act) {
		d.Verdict, d.Reason = Drop, ReasonRule
		if idx < 0 {
			d.Reason = ReasonDefault
		}
		return d
	}
	cs.Side, cs.Zone, cs.Mark = sideOf(in), zoneOf(p), markOf(d.Dir)
	if r, ok := e.ct.Create(&cs); !ok {
		d.Verdict, d.Reason = Drop, refusal(r.Reason)
		return d
	}
	out.on = px.AppendServerSYN(out.on[:0], p, &sp)
	d.Verdict, d.Reason = Proxy, ReasonSYNProxy
	return d
}

// spliced handles p, a segment of a connection the SYN proxy spliced,
// which connection tracking judged as res says:
//   - the server's SYN/ACK completes the splice: the ACK goes back to the
//     server, the window update on to the client, and the SYN/ACK stops
//     here (again, without the update, for a retransmitted one);
//   - the client's segments while the server has not answered bring the
//     SYN to the server again;
//   - everything else of the connection is translated in place and goes
//     on, if the tracker let it.
func (e *Engine) spliced(p *packet.Parsed, res *conntrack.Result, d Decision, out *emit) Decision {
	px := e.guard.Proxy()
	sp, ok := e.ct.Splice(res.ID)
	if px == nil || !ok {
		d.Verdict, d.Reason = Drop, ReasonInvalid
		return d
	}
	synack := p.TCPFlags&(packet.TCPSYN|packet.TCPACK|packet.TCPRST) == packet.TCPSYN|packet.TCPACK
	switch {
	case res.Dir == conntrack.DirReply && synack:
		var r guard.Reason
		active := sp.Active
		out.back, out.on, r = px.ServerSYNACK(out.back[:0], out.on[:0], p, &sp)
		if r != guard.Pass {
			d.Verdict, d.Reason, d.Guard = Drop, ReasonGuard, r
			return d
		}
		if !active {
			e.ct.SetSplice(res.ID, sp)
		}
		d.Verdict, d.Reason = Proxy, ReasonSYNProxy
		return d
	case res.Dir == conntrack.DirOriginal && !sp.Active:
		if p.TCPFlags&packet.TCPRST == 0 {
			out.on = px.RetrySYN(out.on[:0], p, &sp)
		}
		d.Verdict, d.Reason = Proxy, ReasonSYNProxy
		return d
	}
	switch res.State {
	case conntrack.StateInvalid:
		d.Verdict, d.Reason = Drop, ReasonInvalid
		return d
	case conntrack.StateRelated:
		// An ICMP error on its way to the server about a segment of the
		// server's (which the client's side saw translated) quotes it in
		// the client's numbers; the server checks the quoted sequence
		// number (Linux does before it acts on an error, for path MTU
		// discovery too). The client's own segments are not renumbered.
		if sp.Active && res.Dir == conntrack.DirOriginal && p.Quote.Proto == ipproto.TCP {
			if err := p.ShiftQuoteSeq(-sp.SeqDelta); err != nil {
				d.Verdict, d.Reason = Drop, ReasonInvalid
				return d
			}
		}
		d.Reason = ReasonRelated
		return d
	}
	if err := guard.Translate(p, &sp, res.Dir); err != nil {
		d.Verdict, d.Reason = Drop, ReasonInvalid
		return d
	}
	out.rewritten = true
	d.Reason = ReasonEstablished
	return d
}

// translateFragments carries the translation of a spliced connection's
// reassembled segment (whole, translated in place) into the first of its
// original fragments, which go out in its place: every byte the
// translation changes is in the TCP header (numbers, window, options,
// checksum), which the defragmenter's tiny-fragment rule keeps in the
// first fragment whole. It reports false when it is not there (then the
// datagram cannot go out right).
func translateFragments(whole *packet.Parsed, dg fragments, scratch *packet.Parsed) bool {
	hdr := whole.Buf[whole.L4Off : whole.L4Off+int(whole.TCPDataOff)*4]
	for i := range dg.NumFragments() {
		scratch.Decode(dg.Fragment(i))
		if !scratch.IsFragment || !scratch.IsFirstFragment {
			continue
		}
		if scratch.L4Off+len(hdr) > len(scratch.Buf) {
			return false
		}
		copy(scratch.Buf[scratch.L4Off:], hdr)
		return true
	}
	return false
}

// fragments are a reassembled datagram's original fragments
// (defrag.Datagram).
type fragments interface {
	NumFragments() int
	Fragment(i int) []byte
}
