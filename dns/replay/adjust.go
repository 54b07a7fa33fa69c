package replay

import (
	"net"
	"strings"

	"github.com/miekg/dns"
)

// serverCookie is the server half that ADJUST add_server_cookie appends to
// the client cookie: an RFC 9018 layout (version 1, reserved, timestamp 0,
// hash) with a fixed hash, so that scenarios are reproducible. testbound
// likewise uses a hard-coded server cookie.
const serverCookie = "01000000" + "00000000" + "0011223344556677"

// buildReply applies the entry's ADJUST actions to pkt for query q and
// returns the reply as the resolver would receive it from the wire, with
// its wire form. A raw packet that does not parse yields the wire form and
// the parse error, which the transport reports as a malformed reply.
func buildReply(e *Entry, pkt *Packet, q *dns.Msg) (*dns.Msg, []byte, error) {
	var wire []byte
	if pkt.Raw != nil {
		wire = append([]byte(nil), pkt.Raw...)
		// For raw packets testbound can only patch the ID; so can we.
		if e.Adjust&(AdjustCopyID|AdjustRawID) != 0 && len(wire) >= 2 {
			wire[0], wire[1] = byte(q.Id>>8), byte(q.Id)
		}
	} else {
		m := pkt.Msg.Copy()
		if e.Adjust&AdjustCopyQuery != 0 && len(q.Question) > 0 {
			m.Question = []dns.Question{q.Question[0]}
		}
		if e.Adjust&AdjustCopyID != 0 {
			m.Id = q.Id
			// Keep the query's letter case so that 0x20 checks pass.
			if len(m.Question) > 0 && len(q.Question) > 0 && strings.EqualFold(m.Question[0].Name, q.Question[0].Name) {
				m.Question[0].Name = q.Question[0].Name
			}
		}
		if e.Adjust&AdjustCopyECS != 0 {
			copyECS(m, q, e.Adjust&AdjustIncrementECSScope != 0)
		}
		if e.Adjust&AdjustServerCookie != 0 {
			addServerCookie(m, q)
		}
		m.Compress = true
		var err error
		if wire, err = m.Pack(); err != nil {
			return nil, nil, err
		}
	}
	reply := new(dns.Msg)
	if err := reply.Unpack(wire); err != nil {
		return nil, wire, err
	}
	return reply, wire, nil
}

// replyOPT returns m's OPT record, adding one if it has none.
func replyOPT(m *dns.Msg) *dns.OPT {
	if opt := findOPT(m); opt != nil {
		return opt
	}
	opt := &dns.OPT{Hdr: dns.RR_Header{Name: ".", Rrtype: dns.TypeOPT, Class: replyUDPSize}}
	m.Extra = append(m.Extra, opt)
	return opt
}

func subnet(m *dns.Msg) *dns.EDNS0_SUBNET {
	opt := findOPT(m)
	if opt == nil {
		return nil
	}
	for _, o := range opt.Option {
		if s, ok := o.(*dns.EDNS0_SUBNET); ok {
			return s
		}
	}
	return nil
}

// copyECS implements copy_ednsdata_assume_clientsubnet: the reply carries
// the query's client subnet with the scope set to the source prefix length
// (plus one for increment_ecs_scope).
func copyECS(m, q *dns.Msg, increment bool) {
	qs := subnet(q)
	if qs == nil {
		return
	}
	rs := subnet(m)
	if rs == nil {
		rs = &dns.EDNS0_SUBNET{
			Code:          dns.EDNS0SUBNET,
			Family:        qs.Family,
			SourceNetmask: qs.SourceNetmask,
			Address:       append(net.IP(nil), qs.Address...),
		}
		opt := replyOPT(m)
		opt.Option = append(opt.Option, rs)
	}
	scope := qs.SourceNetmask
	if increment && scope < 128 {
		scope++
	}
	rs.SourceScope = scope
}

// addServerCookie completes the query's client cookie with serverCookie
// when the scripted reply carries no cookie of its own.
func addServerCookie(m, q *dns.Msg) {
	qopt := findOPT(q)
	if qopt == nil {
		return
	}
	var client string
	for _, o := range qopt.Option {
		if c, ok := o.(*dns.EDNS0_COOKIE); ok && len(c.Cookie) >= 16 {
			client = c.Cookie[:16]
		}
	}
	if client == "" {
		return
	}
	opt := replyOPT(m)
	for _, o := range opt.Option {
		if _, ok := o.(*dns.EDNS0_COOKIE); ok {
			return
		}
	}
	opt.Option = append(opt.Option, &dns.EDNS0_COOKIE{Code: dns.EDNS0COOKIE, Cookie: client + serverCookie})
}
