package gateway

import (
	"github.com/rampart-fw/rampart/firewall/conntrack"
	"github.com/rampart-fw/rampart/nat"
	"github.com/rampart-fw/rampart/packet"
)

// createNAT creates the connection of p, which the policy (or the NAT's
// own filtering) let in, through the translator, and rewrites p as its
// translation says. It reports false, with the decision to drop, when the
// NAT or the table refused it.
func (e *Engine) createNAT(p *packet.Parsed, cp *conntrack.Packet, d Decision) (Decision, conntrack.Result, bool) {
	r, out := e.cfg.NAT.Create(e.ct, cp)
	switch {
	case out == nat.Refused:
		d.Verdict, d.Reason = Drop, refusal(r.Reason)
		return d, r, false
	case out.Dropped():
		d.Verdict, d.Reason = Drop, ReasonNAT
		return d, r, false
	}
	if r.NAT && !e.cfg.NAT.Rewrite(p, cp.NAT) {
		e.ct.Delete(r.ID)
		d.Verdict, d.Reason = Drop, ReasonNAT
		return d, r, false
	}
	return d, r, true
}

// NAT returns the translator, nil when the engine does not translate.
func (e *Engine) NAT() *nat.Translator { return e.cfg.NAT }
