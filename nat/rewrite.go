package nat

import (
	"net/netip"

	"github.com/rampart-fw/rampart/firewall/conntrack"
	"github.com/rampart-fw/rampart/packet"
)

// Rewrite applies rw, the rewrite conntrack wrote for p (Packet.NAT,
// with Result.NAT set), to p's frame in place, and reports whether it
// could. A packet it cannot rewrite (an ICMP error whose quote is cut
// short of the ports it must change) is counted and must be dropped:
// sent half translated it would leak an inside address.
func (t *Translator) Rewrite(p *packet.Parsed, rw *conntrack.Rewrite) bool {
	if Apply(p, rw) != nil {
		t.stats.badRewrite.Add(1)
		return false
	}
	return true
}

// CountBadRewrite counts a packet the caller could not translate (the
// fragments of a translated datagram) and drops.
func (t *Translator) CountBadRewrite() { t.stats.badRewrite.Add(1) }

// Apply rewrites p in place as rw says, adjusting every checksum
// incrementally (RFC 1624): the IPv4 header's and the transport's. It
// allocates nothing.
//
// An ICMP error is translated whole (RFC 5508 REQ-4, RFC 5382 REQ-9):
// the addresses of its own header as rw says, and the packet it quotes,
// which travelled the other way, put back as its sender sent it or as
// its receiver got it: rw.Dst becomes its source, rw.Src its
// destination, with the quoted IPv4 header checksum, the quoted
// transport checksum where the quote holds it, and the ICMP checksum
// following.
func Apply(p *packet.Parsed, rw *conntrack.Rewrite) error {
	if p.IsICMPError() {
		if a := rw.Src; a.IsValid() {
			if err := p.SetSrc(netip.AddrPortFrom(a.Addr(), p.Src.Port())); err != nil {
				return err
			}
		}
		if a := rw.Dst; a.IsValid() {
			if err := p.SetDst(netip.AddrPortFrom(a.Addr(), p.Dst.Port())); err != nil {
				return err
			}
			if err := p.SetQuoteSrc(a); err != nil {
				return err
			}
		}
		if a := rw.Src; a.IsValid() {
			if err := p.SetQuoteDst(a); err != nil {
				return err
			}
		}
		return nil
	}
	if a := rw.Src; a.IsValid() {
		if err := p.SetSrc(a); err != nil {
			return err
		}
	}
	if a := rw.Dst; a.IsValid() {
		if err := p.SetDst(a); err != nil {
			return err
		}
	}
	return nil
}
