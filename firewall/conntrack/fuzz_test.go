package conntrack

import (
	"encoding/binary"
	"net/netip"
	"testing"
	"time"

	"github.com/rampart-fw/rampart/clock"
	"github.com/rampart-fw/rampart/flow"
	"github.com/rampart-fw/rampart/ipproto"
	"github.com/rampart-fw/rampart/packet"
)

// fuzzAddrs is a small pool so that fuzzed packets keep hitting the same
// flows, in both directions, with the awkward cases among them.
var fuzzAddrs = [8]netip.Addr{
	netip.MustParseAddr("10.0.0.1"),
	netip.MustParseAddr("192.0.2.80"),
	netip.MustParseAddr("203.0.113.1"),
	netip.MustParseAddr("2001:db8::1"),
	netip.MustParseAddr("2001:db8::80"),
	netip.MustParseAddr("::ffff:10.0.0.1"),
	netip.MustParseAddr("fe80::1%eth0"),
	{},
}

var fuzzProtos = [8]ipproto.Proto{ipproto.TCP, ipproto.TCP, ipproto.DCCP, ipproto.UDP, ipproto.ICMP, ipproto.ICMPv6, ipproto.SCTP, ipproto.GRE}

// fuzzTags is a small pool of SCTP tags, so that fuzzed associations get
// past the tag checks.
var fuzzTags = [4]uint32{0, tagA, tagB, 7}

// fuzzFlow builds a flow key. For ICMP both ports carry the identifier id,
// as package flow says, unless twoIDs asks for a key that breaks the
// convention.
func fuzzFlow(src, dst netip.Addr, proto ipproto.Proto, sport, dport, id uint16, twoIDs bool) flow.Key {
	if proto == ipproto.ICMP || proto == ipproto.ICMPv6 {
		sport, dport = id, id
		if twoIDs {
			dport++
		}
	}
	return flow.Key{Src: netip.AddrPortFrom(src, sport), Dst: netip.AddrPortFrom(dst, dport), Proto: proto}
}

const fuzzRecord = 24

// fuzzPacket decodes one record. Sequence and acknowledgement numbers are
// small offsets from fixed initial numbers so that fuzzed conversations
// can get past the window checks and into the deeper states.
func fuzzPacket(b []byte) Packet {
	p := Packet{
		Flow:       fuzzFlow(fuzzAddrs[b[1]&7], fuzzAddrs[b[1]>>4&7], fuzzProtos[b[2]&7], 1000+uint16(b[4]&3), 80+uint16(b[5]&3), uint16(b[16]&3), b[16]&4 != 0),
		TCPFlags:   packet.TCPFlags(b[3]),
		Seq:        cISN + uint32(int32(int16(binary.BigEndian.Uint16(b[6:])))),
		Ack:        sISN + uint32(int32(int16(binary.BigEndian.Uint16(b[8:])))),
		Window:     binary.BigEndian.Uint16(b[10:]),
		WScale:     int8(b[12]),
		PayloadLen: int(int8(b[13])) * 8,
		ICMPType:   b[14],
		ICMPCode:   b[15] & 1,
	}
	if b[2]&0x80 != 0 {
		p.Seq, p.Ack = p.Ack-sISN+cISN, p.Seq-cISN+sISN
	}
	p.SACKPermitted = b[17]&1 != 0
	p.HasSACK = b[17]&2 != 0
	p.SACKRight = p.Ack + uint32(b[17]>>2)*64
	switch p.Flow.Proto {
	case ipproto.SCTP:
		// Up to four chunks of types 0 to 15 from the sequence bytes,
		// with the T bit now and then.
		s := &packet.SCTPInfo{}
		p.SCTP = s
		s.VTag, s.InitTag = fuzzTags[b[14]&3], fuzzTags[b[14]>>2&3]
		for i := range int(b[12]&3) + int(b[12]>>7) {
			typ := b[6+i] & 0x0f
			flags := b[6+i] >> 4 & 1
			if i == 0 {
				s.First = typ
			}
			s.NumChunks++
			s.Types |= 1 << typ
			if typ != packet.SCTPData && typ != packet.SCTPSACK && typ != packet.SCTPECNE && typ != packet.SCTPCWR && typ != 15 {
				s.Control[s.NumControl] = packet.SCTPChunk{Type: typ, Flags: flags}
				s.NumControl++
			}
		}
	case ipproto.DCCP:
		p.DCCP = &packet.DCCPInfo{Type: b[14] % 11, Extended: true, Seq: uint64(p.Seq), Ack: uint64(p.Ack), HasAck: b[15]&2 != 0}
	}
	if b[18]&1 != 0 {
		p.IsICMPError = true
		p.Inner = Inner{
			Flow:     fuzzFlow(fuzzAddrs[b[19]&7], fuzzAddrs[b[19]>>4&7], fuzzProtos[b[18]>>1&7], 1000+uint16(b[20]&3), 80+uint16(b[20]>>2&3), uint16(b[20]>>4&3), b[20]&0x40 != 0),
			ICMPType: b[21],
			Seq:      cISN + uint32(int32(int16(binary.BigEndian.Uint16(b[22:])))),
		}
	}
	return p
}

// FuzzTrack feeds arbitrary packet sequences and table operations to a
// small table. Whatever the input: no panic, the bound holds, the
// internal lists stay consistent and the counters add up.
func FuzzTrack(f *testing.F) {
	rec := func(op byte, fields ...byte) []byte {
		b := make([]byte, fuzzRecord)
		b[0] = op
		copy(b[1:], fields)
		return b
	}
	// A handshake and some data, as seeds.
	f.Add(append(append(append(
		rec(1, 0x10, 0x00, byte(packet.TCPSYN), 0, 0, 0xff, 0xff, 0, 0, 0xfa, 0xf0, 7),
		rec(0, 0x01, 0x80, byte(packet.TCPSYN|packet.TCPACK), 0, 0, 0xff, 0xff, 0, 1, 0xfe, 0x88, 7)...),
		rec(0, 0x10, 0x00, byte(packet.TCPACK), 0, 0, 0, 1, 0, 1, 0x01, 0xf6, 0xff)...),
		rec(0, 0x10, 0x00, byte(packet.TCPACK|packet.TCPPSH), 0, 0, 0, 1, 0, 1, 0x01, 0xf6, 0xff, 10)...))
	f.Add(append(rec(1, 0x10, 0x03), rec(0, 0x01, 0x03)...))
	f.Add(append(rec(1, 0x10, 0x04, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 8), rec(0, 0x21, 0x04, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 3, 0, 0, 0, 0x01, 0x10)...))
	f.Add(rec(5, 0xff))
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) == 0 {
			return
		}
		clk := clock.NewFake(epoch)
		tbl, err := New(Config{
			MaxEntries: 32,
			Shards:     2,
			Liberal:    data[0]&1 != 0,
			Pickup:     data[0]&2 != 0,
			Clock:      clk,
		})
		if err != nil {
			t.Fatal(err)
		}
		data = data[1:]
		for len(data) >= fuzzRecord {
			b := data[:fuzzRecord]
			data = data[fuzzRecord:]
			p := fuzzPacket(b)
			switch b[0] % 8 {
			case 0, 1, 2:
				r := tbl.Lookup(&p)
				if r.State == StateNew && r.ID == 0 && b[0]%8 != 2 {
					r, _ = tbl.Create(&p)
				}
				if r.State == StateInvalid && r.Reason == ReasonNone {
					t.Fatalf("invalid without a reason: %+v", r)
				}
			case 3:
				tbl.Create(&p)
			case 4:
				clk.Advance(time.Duration(b[1]) * time.Second)
			case 5:
				clk.Advance(time.Duration(b[1]) * time.Minute)
				tbl.Sweep(clk.Now())
			case 6:
				n := 0
				tbl.Range(func(e Entry) bool {
					if n++; n == int(b[1]&31) {
						tbl.Delete(e.ID)
					}
					return true
				})
			case 7:
				tbl.Recheck(func(tp Tuple, _ uint32) bool { return tp.Flow.Src.Port() != 1000+uint16(b[1]&3) })
			}
		}
		if err := tbl.checkInvariants(); err != nil {
			t.Fatal(err)
		}
		st := tbl.Stats()
		if st.Created-st.Deleted-st.Expired-st.EarlyDrop != uint64(st.Entries) || st.Entries > 32 {
			t.Fatalf("counters do not add up: %+v", st)
		}
	})
}
