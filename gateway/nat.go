package gateway

import (
	"net/netip"

	"github.com/rampart-fw/rampart/datapath"
	"github.com/rampart-fw/rampart/firewall/conntrack"
	"github.com/rampart-fw/rampart/nat"
	"github.com/rampart-fw/rampart/packet"
)

// markNATMapping marks the connections the NAT's filtering admitted to a
// mapping, which a policy reload does not judge (the policy never did);
// markOf's marks are 1 and 2.
const markNATMapping = 3

// lookupNAT is conntrack's Lookup for an engine that translates: a packet
// of a translated connection is rewritten in place as its entry says. A
// packet that cannot be (an ICMP error whose quote is cut short of the
// ports) comes back invalid with NAT set. Out of line, so that an engine
// that does not translate keeps no Rewrite on its stack.
func (e *Engine) lookupNAT(p *packet.Parsed, cp *conntrack.Packet) conntrack.Result {
	// A copy, to point at rw: storing a pointer into the caller's packet
	// would move rw to the heap.
	q := *cp
	var rw conntrack.Rewrite
	q.NAT = &rw
	res := e.ct.Lookup(&q)
	if res.NAT && !e.cfg.NAT.Rewrite(p, &rw) {
		res.State = conntrack.StateInvalid
	}
	return res
}

// createNAT creates the connection of p, which the policy (or the NAT's
// own filtering) let in, through the translator, and rewrites p as its
// translation says. It reports false, with the decision to drop, when the
// NAT or the table refused it.
func (e *Engine) createNAT(p *packet.Parsed, cp *conntrack.Packet, d Decision) (Decision, conntrack.Result, bool) {
	q := *cp
	var rw conntrack.Rewrite
	q.NAT = &rw
	r, out := e.cfg.NAT.Create(e.ct, &q)
	switch {
	case out == nat.Refused:
		d.Verdict, d.Reason = Drop, refusal(r.Reason)
		return d, r, false
	case out == nat.QuotaExceeded || out == nat.Exhausted:
		// No mapping for want of resources: the sender is told, with an
		// administratively prohibited (RFC 5508 REQ-8).
		d.Verdict, d.Reason = Reject, ReasonNAT
		return d, r, false
	case out.Dropped():
		d.Verdict, d.Reason = Drop, ReasonNAT
		return d, r, false
	}
	if r.NAT && !e.cfg.NAT.Rewrite(p, &rw) {
		e.ct.Delete(r.ID)
		d.Verdict, d.Reason = Drop, ReasonNAT
		return d, r, false
	}
	return d, r, true
}

// NAT returns the translator, nil when the engine does not translate.
func (e *Engine) NAT() *nat.Translator { return e.cfg.NAT }

// translateFragment gives fragment f of the datagram w.whole the
// addresses the NAT gave the datagram, and the first fragment its ports
// too (its transport checksum, which covers the whole datagram, follows
// incrementally). The fragments of a translated ICMP error are not
// translated, the packet it quotes being in the first of them only: it
// reports false and the datagram is dropped.
func (w *Worker) translateFragment(f []byte, ci *datapath.CaptureInfo) bool {
	if w.whole.IsICMPError() {
		w.e.NAT().CountBadRewrite()
		return false
	}
	p := &w.frag
	decode(p, f, ci)
	if p.Invalid != packet.Valid {
		return false
	}
	src, dst := w.whole.Src, w.whole.Dst
	if !p.HasL4 {
		src = netip.AddrPortFrom(src.Addr(), p.Src.Port())
		dst = netip.AddrPortFrom(dst.Addr(), p.Dst.Port())
	}
	if p.SetSrc(src) != nil || p.SetDst(dst) != nil {
		w.e.NAT().CountBadRewrite()
		return false
	}
	return true
}
