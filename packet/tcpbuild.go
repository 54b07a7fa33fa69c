package packet

import (
	"encoding/binary"
	"errors"

	"github.com/rampart-fw/rampart/ipproto"
)

// TCP option kinds and lengths (RFC 9293, RFC 7323, RFC 2018).
const (
	tcpOptEOL       = 0
	tcpOptNOP       = 1
	tcpOptMSS       = 2
	tcpOptWScale    = 3
	tcpOptSACKPerm  = 4
	tcpOptSACK      = 5
	tcpOptTimestamp = 8
	tcpOptTSLen     = 10
)

// MaxTCPBuiltOptions is the most option bytes AppendTCPOptions writes:
// MSS, SACK-permitted with timestamps, window scale.
const MaxTCPBuiltOptions = 20

// AppendTCPOptions appends the options o.Has names among MSS, window
// scale, SACK-permitted and timestamps (SACK blocks are never built) in
// the layout Linux sends on a SYN, which middleboxes know best: MSS;
// SACK-permitted and timestamps in one word of twelve bytes, or NOP NOP
// before either alone; NOP and window scale. Every option lands on its
// usual alignment and the whole is a multiple of four bytes, at most
// MaxTCPBuiltOptions.
func AppendTCPOptions(dst []byte, o *TCPOptions) []byte {
	if o.Has&TCPOptMSS != 0 {
		dst = append(dst, tcpOptMSS, 4, byte(o.MSS>>8), byte(o.MSS))
	}
	sack, ts := o.Has&TCPOptSACKPermitted != 0, o.Has&TCPOptTimestamps != 0
	switch {
	case sack && ts:
		dst = append(dst, tcpOptSACKPerm, 2, tcpOptTimestamp, tcpOptTSLen)
	case ts:
		dst = append(dst, tcpOptNOP, tcpOptNOP, tcpOptTimestamp, tcpOptTSLen)
	case sack:
		dst = append(dst, tcpOptNOP, tcpOptNOP, tcpOptSACKPerm, 2)
	}
	if ts {
		dst = binary.BigEndian.AppendUint32(dst, o.TSval)
		dst = binary.BigEndian.AppendUint32(dst, o.TSecr)
	}
	if o.Has&TCPOptWScale != 0 {
		dst = append(dst, tcpOptNOP, tcpOptWScale, 3, min(o.WScale, 14))
	}
	return dst
}

// TCPSegment is a segment without payload for AppendTCPReply and
// AppendTCPOnward to build.
type TCPSegment struct {
	Seq, Ack uint32
	Flags    TCPFlags
	Window   uint16
	// Options are written as AppendTCPOptions writes them.
	Options TCPOptions
}

// AppendTCPReply appends to dst the segment s, from p's destination to
// p's source: the direction of an answer to p, link layer and VLAN tags
// as AppendTCPReset builds them (a raw IP packet when p has no
// Ethernet header). A SYN proxy answers a SYN with it, as the server
// would.
//
// It returns dst unchanged when p may not be answered (see
// AppendTCPReset): p is invalid, not TCP, a non-first fragment, still on a
// source route, or its addresses are not one host's.
// Nothing is allocated when dst has the capacity.
func AppendTCPReply(dst []byte, p *Parsed, s *TCPSegment) []byte {
	return appendTCP(dst, p, s, true)
}

// AppendTCPOnward appends to dst the segment s, from p's source to p's
// destination with p's own link-layer addresses and VLAN tags: a segment
// sent on in p's place, such as the SYN a SYN proxy opens the server's
// side with once the client has proved itself. It refuses what
// AppendTCPReply refuses.
func AppendTCPOnward(dst []byte, p *Parsed, s *TCPSegment) []byte {
	return appendTCP(dst, p, s, false)
}

func appendTCP(dst []byte, p *Parsed, s *TCPSegment, reply bool) []byte {
	if !p.answerable() || p.Proto != ipproto.TCP || !p.HasL4 {
		return dst
	}
	var opts [MaxTCPBuiltOptions]byte
	ob := AppendTCPOptions(opts[:0], &s.Options)
	hl := tcpMinHeader + len(ob)
	dst, l4 := p.appendHeaders(dst, reply, ipproto.TCP, hl, true)
	t := dst[l4:]
	from, to := p.Src, p.Dst
	if reply {
		from, to = to, from
	}
	binary.BigEndian.PutUint16(t[0:], from.Port())
	binary.BigEndian.PutUint16(t[2:], to.Port())
	binary.BigEndian.PutUint32(t[4:], s.Seq)
	binary.BigEndian.PutUint32(t[8:], s.Ack)
	t[12] = byte(hl/4) << 4
	t[13] = byte(s.Flags)
	binary.BigEndian.PutUint16(t[14:], s.Window)
	copy(t[tcpMinHeader:], ob)
	c := Checksum(t, PseudoHeaderChecksum(ipproto.TCP, from.Addr(), to.Addr(), uint16(hl)))
	binary.BigEndian.PutUint16(t[16:], c)
	return dst
}

// TCPShift is a translation of a TCP segment's numbers, as a SYN proxy
// applies it to every segment of a connection it spliced: the two ends
// chose different initial sequence numbers, timestamp clocks and window
// scales, and each must see the numbers it expects.
type TCPShift struct {
	// Seq is added to the sequence number.
	Seq uint32
	// Ack is added, when the segment has ACK, to the acknowledgement
	// number and to both edges of every SACK block.
	Ack uint32
	// TSval is added to the timestamp option's value and TSecr, when the
	// segment has ACK, to its echo reply.
	TSval, TSecr uint32
	// WinFrom and WinTo rescale the window field: a window its sender
	// scaled by 2^WinFrom is rewritten for a receiver that scales by
	// 2^WinTo, rounded up (rounding down could shut a small window), at
	// most 65535. A SYN's window is never scaled (RFC 7323); the caller
	// leaves WinFrom and WinTo equal for one.
	WinFrom, WinTo uint8
}

// ErrNotTCP is returned by ShiftTCP for a packet without a decoded TCP
// header.
var ErrNotTCP = errors.New("packet: not a TCP segment with its header")

// ShiftTCP applies s to the TCP segment p in place and adjusts the TCP
// checksum incrementally (RFC 1624), as NAT does for addresses; p's
// fields (TCPSeq, TCPAck, TCPWindow, TCPOpts) follow. The options are
// walked again for the timestamp and SACK fields, at whatever alignment
// they sit. A fragment cannot be shifted (its header and checksum live in
// the datagram as a whole).
func (p *Parsed) ShiftTCP(s *TCPShift) error {
	if p.Invalid != Valid || p.Proto != ipproto.TCP || !p.HasL4 || p.IsFragment {
		return ErrNotTCP
	}
	b := p.Buf
	t := b[p.L4Off:]
	var d checksumDelta
	hasAck := p.TCPFlags&TCPACK != 0
	if s.Seq != 0 {
		p.TCPSeq = d.put32(t[4:], p.TCPSeq+s.Seq)
	}
	if hasAck && s.Ack != 0 {
		p.TCPAck = d.put32(t[8:], p.TCPAck+s.Ack)
	}
	if s.WinFrom != s.WinTo {
		w := uint32(p.TCPWindow) << s.WinFrom
		if s.WinTo > 0 {
			w = (w + 1<<s.WinTo - 1) >> s.WinTo
		}
		nw := uint16(min(w, 0xffff))
		d.word(p.TCPWindow, nw)
		binary.BigEndian.PutUint16(t[14:], nw)
		p.TCPWindow = nw
	}
	if (s.TSval != 0 || s.TSecr != 0 || (hasAck && s.Ack != 0)) && p.TCPOpts.Has&(TCPOptTimestamps|TCPOptSACK) != 0 {
		p.shiftOptions(s, hasAck, &d)
	}
	c := binary.BigEndian.Uint16(t[16:])
	binary.BigEndian.PutUint16(t[16:], d.apply(c))
	return nil
}

// shiftOptions rewrites the timestamp and SACK options of p, already
// decoded and so well formed.
func (p *Parsed) shiftOptions(s *TCPShift, hasAck bool, d *checksumDelta) {
	t := p.Buf[p.L4Off : p.L4Off+int(p.TCPDataOff)*4]
	for i := tcpMinHeader; i < len(t); {
		switch t[i] {
		case tcpOptEOL:
			return
		case tcpOptNOP:
			i++
			continue
		}
		if i+1 >= len(t) || t[i+1] < 2 || i+int(t[i+1]) > len(t) {
			return
		}
		l := int(t[i+1])
		switch {
		case t[i] == tcpOptTimestamp && l == tcpOptTSLen:
			if s.TSval != 0 {
				p.TCPOpts.TSval = d.put32odd(t, i+2, p.TCPOpts.TSval+s.TSval)
			}
			if hasAck && s.TSecr != 0 {
				p.TCPOpts.TSecr = d.put32odd(t, i+6, p.TCPOpts.TSecr+s.TSecr)
			}
		case t[i] == tcpOptSACK && hasAck && s.Ack != 0:
			n := 0
			for j := i + 2; j+8 <= i+l; j += 8 {
				left := d.put32odd(t, j, binary.BigEndian.Uint32(t[j:])+s.Ack)
				right := d.put32odd(t, j+4, binary.BigEndian.Uint32(t[j+4:])+s.Ack)
				if n < len(p.TCPOpts.SACK) {
					p.TCPOpts.SACK[n] = SACKBlock{Left: left, Right: right}
				}
				n++
			}
		}
		i += l
	}
}

// put32 writes v at b[0:4], which starts at an even offset of the
// checksummed data, and records the change; it returns v.
func (d *checksumDelta) put32(b []byte, v uint32) uint32 {
	old := binary.BigEndian.Uint32(b)
	d.word(uint16(old>>16), uint16(v>>16))
	d.word(uint16(old), uint16(v))
	binary.BigEndian.PutUint32(b, v)
	return v
}

// put32odd writes v at seg[off:off+4], where off counts from the start of
// the checksummed data and may be odd (TCP options need not be aligned),
// and records the change byte by byte, each in its half of a 16-bit word;
// it returns v.
func (d *checksumDelta) put32odd(seg []byte, off int, v uint32) uint32 {
	if off&1 == 0 {
		return d.put32(seg[off:], v)
	}
	var nb [4]byte
	binary.BigEndian.PutUint32(nb[:], v)
	for k := range 4 {
		o, n := uint16(seg[off+k]), uint16(nb[k])
		if (off+k)&1 == 0 {
			o, n = o<<8, n<<8
		}
		d.word(o, n)
		seg[off+k] = nb[k]
	}
	return v
}

// ShiftQuoteSeq adds delta to the sequence number of the TCP segment the
// ICMP error p quotes, and adjusts the quoted TCP checksum (when it is
// quoted; the change is the same whatever part of the segment is) and
// the ICMP checksum incrementally: a SYN proxy puts an error about a
// segment it translated back in the numbers of the host the error goes
// to, which checks them (Linux does before it acts on one).
func (p *Parsed) ShiftQuoteSeq(delta uint32) error {
	q := &p.Quote
	if p.Invalid != Valid || q.L3Off == 0 {
		return ErrNoQuote
	}
	if q.Proto != ipproto.TCP || !q.HasL4 || q.FragOff != 0 {
		return ErrNotTCP
	}
	b := p.Buf
	// The quoted header starts a multiple of four bytes into the ICMP
	// message, so its words are aligned as the checksums count them.
	old := binary.BigEndian.Uint32(b[q.L4Off+4:])
	var outer, l4 checksumDelta
	q.TCPSeq = outer.put32(b[q.L4Off+4:], old+delta)
	if co := q.L4Off + 16; co+2 <= len(b) {
		l4.word(uint16(old>>16), uint16(q.TCPSeq>>16))
		l4.word(uint16(old), uint16(q.TCPSeq))
		oc := binary.BigEndian.Uint16(b[co:])
		nc := l4.apply(oc)
		binary.BigEndian.PutUint16(b[co:], nc)
		outer.word(oc, nc)
	}
	co := p.L4Off + 2
	binary.BigEndian.PutUint16(b[co:], outer.apply(binary.BigEndian.Uint16(b[co:])))
	return nil
}
