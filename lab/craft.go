package lab

import (
	"errors"
	"fmt"
	"net/netip"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"golang.org/x/sys/unix"

	"github.com/rampart-fw/rampart/packet"
)

// Spec describes a crafted IP packet. Any field may lie: the source address
// and port are whatever the attack needs.
type Spec struct {
	Src, Dst netip.Addr
	Proto    layers.IPProtocol // TCP, UDP, ICMPv4 or ICMPv6
	TTL      uint8             // 0 means 64
	ID       uint16            // IPv4 identification / IPv6 fragment id
	DF       bool              // IPv4 don't-fragment

	SrcPort, DstPort uint16
	// TCP
	Seq, Ack uint32
	Flags    packet.TCPFlags
	Window   uint16 // 0 means 65535
	// ICMP
	ICMPType, ICMPCode uint8
	ICMPID, ICMPSeq    uint16

	Payload []byte
}

// Build serializes the packet, starting at the IP header, with correct
// lengths and checksums.
func (s Spec) Build() ([]byte, error) {
	if !s.Src.IsValid() || !s.Dst.IsValid() || s.Src.Is4() != s.Dst.Is4() {
		return nil, fmt.Errorf("craft: source %v and destination %v must be valid addresses of one family", s.Src, s.Dst)
	}
	ttl := s.TTL
	if ttl == 0 {
		ttl = 64
	}
	var netLayer gopacket.NetworkLayer
	var ip gopacket.SerializableLayer
	if s.Src.Is4() {
		v4 := &layers.IPv4{Version: 4, TTL: ttl, Id: s.ID, Protocol: s.Proto, SrcIP: s.Src.AsSlice(), DstIP: s.Dst.AsSlice()}
		if s.DF {
			v4.Flags = layers.IPv4DontFragment
		}
		netLayer, ip = v4, v4
	} else {
		v6 := &layers.IPv6{Version: 6, HopLimit: ttl, NextHeader: s.Proto, SrcIP: s.Src.AsSlice(), DstIP: s.Dst.AsSlice()}
		netLayer, ip = v6, v6
	}
	var l4 []gopacket.SerializableLayer
	switch s.Proto {
	case layers.IPProtocolTCP:
		win := s.Window
		if win == 0 {
			win = 65535
		}
		t := &layers.TCP{SrcPort: layers.TCPPort(s.SrcPort), DstPort: layers.TCPPort(s.DstPort), Seq: s.Seq, Ack: s.Ack, Window: win,
			FIN: s.Flags&packet.TCPFIN != 0, SYN: s.Flags&packet.TCPSYN != 0, RST: s.Flags&packet.TCPRST != 0, PSH: s.Flags&packet.TCPPSH != 0,
			ACK: s.Flags&packet.TCPACK != 0, URG: s.Flags&packet.TCPURG != 0, ECE: s.Flags&packet.TCPECE != 0, CWR: s.Flags&packet.TCPCWR != 0}
		if err := t.SetNetworkLayerForChecksum(netLayer); err != nil {
			return nil, err
		}
		l4 = append(l4, t)
	case layers.IPProtocolUDP:
		u := &layers.UDP{SrcPort: layers.UDPPort(s.SrcPort), DstPort: layers.UDPPort(s.DstPort)}
		if err := u.SetNetworkLayerForChecksum(netLayer); err != nil {
			return nil, err
		}
		l4 = append(l4, u)
	case layers.IPProtocolICMPv4:
		l4 = append(l4, &layers.ICMPv4{TypeCode: layers.CreateICMPv4TypeCode(s.ICMPType, s.ICMPCode), Id: s.ICMPID, Seq: s.ICMPSeq})
	case layers.IPProtocolICMPv6:
		ic := &layers.ICMPv6{TypeCode: layers.CreateICMPv6TypeCode(s.ICMPType, s.ICMPCode)}
		if err := ic.SetNetworkLayerForChecksum(netLayer); err != nil {
			return nil, err
		}
		echo := &layers.ICMPv6Echo{Identifier: s.ICMPID, SeqNumber: s.ICMPSeq}
		l4 = append(l4, ic, echo)
	default:
		return nil, fmt.Errorf("craft: protocol %v not supported", s.Proto)
	}
	all := append([]gopacket.SerializableLayer{ip}, l4...)
	all = append(all, gopacket.Payload(s.Payload))
	buf := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}, all...); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// Fragment is one piece of a fragmented packet: Length bytes of the
// original IP payload (the transport header included) starting at Offset,
// which must be a multiple of 8 unless the attack wants otherwise. Data,
// when set, replaces those bytes: that is how overlapping fragments carry
// different contents for the same range.
type Fragment struct {
	Offset int
	Length int
	Data   []byte
	// Last marks the fragment that carries no more-fragments flag; when no
	// fragment is marked, the one that ends furthest is last.
	Last bool
}

// FragmentPacket splits a packet built by Build into IP fragments as
// described, in the order given (send order is the attack's choice). For
// IPv6 it inserts a Fragment extension header with identification id.
func FragmentPacket(pkt []byte, frags []Fragment) ([][]byte, error) {
	if len(pkt) < 1 {
		return nil, errors.New("craft: empty packet")
	}
	switch pkt[0] >> 4 {
	case 4:
		return fragment4(pkt, frags)
	case 6:
		return fragment6(pkt, frags)
	}
	return nil, errors.New("craft: not an IP packet")
}

func lastIndex(frags []Fragment) int {
	last, end := -1, -1
	for i, f := range frags {
		if f.Last {
			return i
		}
		if e := f.Offset + f.Length; e > end {
			last, end = i, e
		}
	}
	return last
}

func pieceOf(payload []byte, f Fragment) ([]byte, error) {
	if f.Data != nil {
		return f.Data, nil
	}
	if f.Offset < 0 || f.Length < 0 || f.Offset+f.Length > len(payload) {
		return nil, fmt.Errorf("craft: fragment %d+%d is outside the %d-byte payload", f.Offset, f.Length, len(payload))
	}
	return payload[f.Offset : f.Offset+f.Length], nil
}

func fragment4(pkt []byte, frags []Fragment) ([][]byte, error) {
	var ip layers.IPv4
	if err := ip.DecodeFromBytes(pkt, gopacket.NilDecodeFeedback); err != nil {
		return nil, err
	}
	payload := ip.Payload
	last := lastIndex(frags)
	out := make([][]byte, 0, len(frags))
	for i, f := range frags {
		piece, err := pieceOf(payload, f)
		if err != nil {
			return nil, err
		}
		h := ip
		h.Options, h.Padding = nil, nil
		h.FragOffset = uint16(f.Offset / 8)
		h.Flags &^= layers.IPv4MoreFragments
		if i != last {
			h.Flags |= layers.IPv4MoreFragments
		}
		buf := gopacket.NewSerializeBuffer()
		if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}, &h, gopacket.Payload(piece)); err != nil {
			return nil, err
		}
		out = append(out, buf.Bytes())
	}
	return out, nil
}

func fragment6(pkt []byte, frags []Fragment) ([][]byte, error) {
	var ip layers.IPv6
	if err := ip.DecodeFromBytes(pkt, gopacket.NilDecodeFeedback); err != nil {
		return nil, err
	}
	payload, next := ip.Payload, ip.NextHeader
	last := lastIndex(frags)
	out := make([][]byte, 0, len(frags))
	id := uint32(0x52a00000) | uint32(len(pkt))
	for i, f := range frags {
		piece, err := pieceOf(payload, f)
		if err != nil {
			return nil, err
		}
		h := ip
		h.NextHeader = layers.IPProtocolIPv6Fragment
		fh := make([]byte, 8)
		fh[0] = byte(next)
		off := uint16(f.Offset/8) << 3
		if i != last {
			off |= 1
		}
		fh[2], fh[3] = byte(off>>8), byte(off)
		fh[4], fh[5], fh[6], fh[7] = byte(id>>24), byte(id>>16), byte(id>>8), byte(id)
		buf := gopacket.NewSerializeBuffer()
		if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true}, &h, gopacket.Payload(append(fh, piece...))); err != nil {
			return nil, err
		}
		out = append(out, buf.Bytes())
	}
	return out, nil
}

// SendRaw sends complete IP packets (as built by Build or FragmentPacket)
// from the node through a raw socket with the header included, so the kernel
// sends the packets exactly as given (it fills only a zero IPv4 checksum and
// the total length) and routes them like any other packet of the host.
func (n *Node) SendRaw(pkts ...[]byte) error {
	return n.Do(func() error {
		var fd4, fd6 = -1, -1
		defer func() {
			if fd4 >= 0 {
				unix.Close(fd4)
			}
			if fd6 >= 0 {
				unix.Close(fd6)
			}
		}()
		for _, p := range pkts {
			if len(p) < 20 {
				return fmt.Errorf("craft: %d-byte packet is too short", len(p))
			}
			var err error
			switch p[0] >> 4 {
			case 4:
				if fd4 < 0 {
					if fd4, err = unix.Socket(unix.AF_INET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.IPPROTO_RAW); err != nil {
						return fmt.Errorf("raw socket: %w", err)
					}
				}
				var sa unix.SockaddrInet4
				copy(sa.Addr[:], p[16:20])
				err = unix.Sendto(fd4, p, 0, &sa)
			case 6:
				if len(p) < 40 {
					return fmt.Errorf("craft: %d-byte IPv6 packet is too short", len(p))
				}
				if fd6 < 0 {
					if fd6, err = unix.Socket(unix.AF_INET6, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.IPPROTO_RAW); err != nil {
						return fmt.Errorf("raw socket: %w", err)
					}
				}
				var sa unix.SockaddrInet6
				copy(sa.Addr[:], p[24:40])
				err = unix.Sendto(fd6, p, 0, &sa)
			default:
				return errors.New("craft: not an IP packet")
			}
			if err != nil {
				return fmt.Errorf("send from %s: %w", n.Name, err)
			}
		}
		return nil
	})
}
