package packet

import (
	"bytes"
	"encoding/binary"
	"testing"

	"github.com/gopacket/gopacket/layers"
	"pgregory.net/rapid"
)

func TestAppendTCPOptions(t *testing.T) {
	cases := []struct {
		name string
		o    TCPOptions
		want []byte
	}{
		{"none", TCPOptions{}, nil},
		{"mss", TCPOptions{Has: TCPOptMSS, MSS: 1460}, []byte{2, 4, 0x05, 0xb4}},
		{"all", TCPOptions{Has: TCPOptMSS | TCPOptSACKPermitted | TCPOptTimestamps | TCPOptWScale, MSS: 1460, TSval: 0x01020304, TSecr: 0x0a0b0c0d, WScale: 7},
			[]byte{2, 4, 0x05, 0xb4, 4, 2, 8, 10, 1, 2, 3, 4, 0x0a, 0x0b, 0x0c, 0x0d, 1, 3, 3, 7}},
		{"ts alone", TCPOptions{Has: TCPOptTimestamps, TSval: 1, TSecr: 2}, []byte{1, 1, 8, 10, 0, 0, 0, 1, 0, 0, 0, 2}},
		{"sack-permitted alone", TCPOptions{Has: TCPOptSACKPermitted}, []byte{1, 1, 4, 2}},
		{"wscale capped at 14", TCPOptions{Has: TCPOptWScale, WScale: 15}, []byte{1, 3, 3, 14}},
		// SACK blocks and unknown options are never built.
		{"sack blocks", TCPOptions{Has: TCPOptSACK | TCPOptOther, NumSACK: 1}, nil},
	}
	for _, c := range cases {
		got := AppendTCPOptions(nil, &c.o)
		if !bytes.Equal(got, c.want) || len(got)%4 != 0 || len(got) > MaxTCPBuiltOptions {
			t.Errorf("%s: % x, want % x", c.name, got, c.want)
		}
	}
}

func TestAppendTCPReplyAndOnward(t *testing.T) {
	opts := TCPOptions{Has: TCPOptMSS | TCPOptSACKPermitted | TCPOptTimestamps | TCPOptWScale, MSS: 1460, TSval: 77, TSecr: 0x1234, WScale: 7}
	for _, name := range []string{"ipv4/tcp-syn", "qinq/ipv6-tcp", "raw/ipv6-tcp"} {
		t.Run(name, func(t *testing.T) {
			tf := findFrame(t, name)
			var p, r Parsed
			decodeFrame(&p, tf)
			seg := TCPSegment{Seq: 0xdeadbeef, Ack: p.TCPSeq + 1, Flags: TCPSYN | TCPACK, Window: 0, Options: opts}
			b := AppendTCPReply(nil, &p, &seg)
			decodeFrame(&r, testFrame{raw: tf.raw, b: b})
			if r.Invalid != Valid || !r.VerifyChecksums() {
				t.Fatalf("reply invalid (%v) or checksums wrong", r.Invalid)
			}
			gopacketChecksumsOK(t, b, tf.raw)
			eq(t, "Flow", r.Flow(), p.Flow().Reverse())
			eq(t, "TCPSeq", r.TCPSeq, seg.Seq)
			eq(t, "TCPAck", r.TCPAck, seg.Ack)
			eq(t, "TCPFlags", r.TCPFlags, TCPSYN|TCPACK)
			eq(t, "TCPOpts", r.TCPOpts, opts)
			eq(t, "EthDst", r.EthDst, p.EthSrc)
			eq(t, "EthSrc", r.EthSrc, p.EthDst)
			eq(t, "VLAN", r.VLAN, p.VLAN)
			eq(t, "DontFragment", r.DontFragment || r.IPVersion == 6, true)

			seg = TCPSegment{Seq: p.TCPSeq, Flags: TCPSYN | TCPECE | TCPCWR, Window: 64240, Options: TCPOptions{Has: TCPOptMSS, MSS: 536}}
			b = AppendTCPOnward(nil, &p, &seg)
			decodeFrame(&r, testFrame{raw: tf.raw, b: b})
			if r.Invalid != Valid || !r.VerifyChecksums() {
				t.Fatalf("onward segment invalid (%v) or checksums wrong", r.Invalid)
			}
			gopacketChecksumsOK(t, b, tf.raw)
			eq(t, "onward Flow", r.Flow(), p.Flow())
			eq(t, "onward EthDst", r.EthDst, p.EthDst)
			eq(t, "onward EthSrc", r.EthSrc, p.EthSrc)
			eq(t, "onward TCPFlags", r.TCPFlags, TCPSYN|TCPECE|TCPCWR)
			eq(t, "onward MSS", r.TCPOpts.MSS, 536)
			eq(t, "onward Window", r.TCPWindow, 64240)
		})
	}
	// What may not be answered is not built either way.
	for _, name := range []string{"ipv4/udp-dns", "ipv4/fragment-later"} {
		tf := findFrame(t, name)
		var p Parsed
		decodeFrame(&p, tf)
		if b := AppendTCPReply([]byte("x"), &p, &TCPSegment{}); string(b) != "x" {
			t.Errorf("%s: a reply was built", name)
		}
		if b := AppendTCPOnward(nil, &p, &TCPSegment{}); len(b) != 0 {
			t.Errorf("%s: an onward segment was built", name)
		}
	}
}

// drawSegment builds a TCP segment whose timestamp and SACK options sit at
// alignments the draw chooses (NOPs before them), IPv4 or IPv6.
func drawSegment(rt *rapid.T) []byte {
	var o []layers.TCPOption
	nop := layers.TCPOption{OptionType: layers.TCPOptionKindNop}
	for range rapid.IntRange(0, 3).Draw(rt, "nops") {
		o = append(o, nop)
	}
	if rapid.Bool().Draw(rt, "ts") {
		var d [8]byte
		binary.BigEndian.PutUint32(d[:], rapid.Uint32().Draw(rt, "tsval"))
		binary.BigEndian.PutUint32(d[4:], rapid.Uint32().Draw(rt, "tsecr"))
		o = append(o, layers.TCPOption{OptionType: layers.TCPOptionKindTimestamps, OptionLength: 10, OptionData: d[:]})
	}
	for range rapid.IntRange(0, 1).Draw(rt, "nops2") {
		o = append(o, nop)
	}
	if n := rapid.IntRange(0, 2).Draw(rt, "sack"); n > 0 {
		d := rapid.SliceOfN(rapid.Byte(), 8*n, 8*n).Draw(rt, "blocks")
		o = append(o, layers.TCPOption{OptionType: layers.TCPOptionKindSACK, OptionLength: uint8(2 + 8*n), OptionData: d})
	}
	tcp := &layers.TCP{SrcPort: 1234, DstPort: 80, Seq: rapid.Uint32().Draw(rt, "seq"), Ack: rapid.Uint32().Draw(rt, "ack"),
		ACK: rapid.Bool().Draw(rt, "hasack"), PSH: true, Window: rapid.Uint16().Draw(rt, "win"), Options: o}
	pl := payload(rapid.IntRange(0, 33).Draw(rt, "payload"))
	if rapid.Bool().Draw(rt, "v6") {
		return serialize(rt, ethL(layers.EthernetTypeIPv6), ip6L(layers.IPProtocolTCP), tcp, pl)
	}
	return serialize(rt, ethL(layers.EthernetTypeIPv4), ip4L(layers.IPProtocolTCP), tcp, pl)
}

// TestShiftTCP: after a shift the segment's checksum is what a full
// recomputation gives, every field moved by its amount (the acknowledgement
// and the echo reply only with ACK), nothing else changed, and the
// opposite shift restores the original bytes when no window was rescaled.
func TestShiftTCP(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) {
		b := drawSegment(rt)
		orig := append([]byte(nil), b...)
		var p, q Parsed
		p.Decode(b)
		if p.Invalid != Valid {
			rt.Fatalf("drawn segment invalid: %v", p.Invalid)
		}
		before := p
		s := TCPShift{Seq: rapid.Uint32().Draw(rt, "dseq"), Ack: rapid.Uint32().Draw(rt, "dack"),
			TSval: rapid.Uint32().Draw(rt, "dtsval"), TSecr: rapid.Uint32().Draw(rt, "dtsecr")}
		rescale := rapid.Bool().Draw(rt, "rescale")
		if rescale {
			s.WinFrom, s.WinTo = uint8(rapid.IntRange(0, 14).Draw(rt, "from")), uint8(rapid.IntRange(0, 14).Draw(rt, "to"))
		}
		if err := p.ShiftTCP(&s); err != nil {
			rt.Fatal(err)
		}
		q.Decode(b)
		if !q.VerifyChecksums() {
			rt.Fatalf("checksum wrong after the shift")
		}
		checkFullChecksums(rt, &q)
		ack := before.TCPFlags&TCPACK != 0
		want := before.TCPOpts
		wantAck := before.TCPAck
		if ack {
			wantAck += s.Ack
			want.TSecr += s.TSecr
			for i := range want.NumSACK {
				want.SACK[i].Left += s.Ack
				want.SACK[i].Right += s.Ack
			}
		}
		if want.Has&TCPOptTimestamps != 0 {
			want.TSval += s.TSval
		} else {
			want.TSval, want.TSecr = before.TCPOpts.TSval, before.TCPOpts.TSecr
		}
		wantWin := before.TCPWindow
		if s.WinFrom != s.WinTo {
			w := (uint64(before.TCPWindow)<<s.WinFrom + 1<<s.WinTo - 1) >> s.WinTo
			wantWin = uint16(min(w, 0xffff))
		}
		for _, f := range []struct {
			name      string
			got, want any
		}{
			{"seq", q.TCPSeq, before.TCPSeq + s.Seq}, {"ack", q.TCPAck, wantAck}, {"options", q.TCPOpts, want},
			{"window", q.TCPWindow, wantWin}, {"fields kept in step", p.TCPOpts, q.TCPOpts},
			{"payload", string(q.Buf[q.PayloadOff:]), string(orig[before.PayloadOff : before.PayloadOff+before.PayloadLen])},
		} {
			if f.got != f.want {
				rt.Fatalf("%s: %v, want %v", f.name, f.got, f.want)
			}
		}
		if rescale {
			return
		}
		back := TCPShift{Seq: -s.Seq, Ack: -s.Ack, TSval: -s.TSval, TSecr: -s.TSecr}
		if err := p.ShiftTCP(&back); err != nil {
			rt.Fatal(err)
		}
		if !bytes.Equal(b, orig) {
			rt.Fatalf("the opposite shift does not restore the segment:\n% x\n% x", b, orig)
		}
	})
}

func TestShiftTCPRefuses(t *testing.T) {
	for _, name := range []string{"ipv4/udp-dns", "ipv4/fragment-first"} {
		var p Parsed
		decodeFrame(&p, findFrame(t, name))
		if err := p.ShiftTCP(&TCPShift{Seq: 1}); err != ErrNotTCP {
			t.Errorf("%s: %v, want ErrNotTCP", name, err)
		}
	}
}

func TestTCPBuildersAllocateNothing(t *testing.T) {
	var p Parsed
	frame := append([]byte(nil), findFrame(t, "ipv4/tcp-data-sack").b...)
	buf := make([]byte, 0, 256)
	s := TCPSegment{Flags: TCPACK, Options: TCPOptions{Has: TCPOptTimestamps}}
	sh := TCPShift{Seq: 5, Ack: 7, TSval: 9, TSecr: 11, WinFrom: 7, WinTo: 5}
	n := testing.AllocsPerRun(100, func() {
		p.Decode(frame)
		buf = AppendTCPReply(buf[:0], &p, &s)
		buf = AppendTCPOnward(buf[:0], &p, &s)
		_ = p.ShiftTCP(&sh)
	})
	if n != 0 {
		t.Errorf("%v allocations", n)
	}
}

// TestShiftQuoteSeq: an ICMP error quoting a whole TCP segment gets the
// quoted sequence number moved, the quoted segment's checksum still right
// for it, and its own checksum right.
func TestShiftQuoteSeq(t *testing.T) {
	for _, name := range []string{"ipv4/tcp-syn", "qinq/ipv6-tcp"} {
		t.Run(name, func(t *testing.T) {
			tf := findFrame(t, name)
			var seg Parsed
			seg.Decode(tf.b)
			errFrame := AppendICMPUnreachable(nil, &seg, UnreachablePort)
			var p Parsed
			p.Decode(errFrame)
			if p.Quote.Proto != 6 || !p.Quote.HasL4 {
				t.Fatalf("no quoted TCP segment")
			}
			old := p.Quote.TCPSeq
			if err := p.ShiftQuoteSeq(0x80000001); err != nil {
				t.Fatal(err)
			}
			var q Parsed
			q.Decode(errFrame)
			if q.CheckChecksums(true) != ChecksumOK || q.Quote.TCPSeq != old+0x80000001 || p.Quote.TCPSeq != q.Quote.TCPSeq {
				t.Fatalf("after the shift: checksum %v, seq %#x (was %#x)", q.CheckChecksums(true), q.Quote.TCPSeq, old)
			}
			// The quoted segment, whole, still sums to zero with its
			// pseudo-header.
			quoted := errFrame[q.Quote.L4Off:]
			if n := seg.PayloadOff + seg.PayloadLen - seg.L4Off; len(quoted) >= n {
				if c := Checksum(quoted[:n], PseudoHeaderChecksum(6, q.Quote.Src.Addr(), q.Quote.Dst.Addr(), uint16(n))); c != 0 {
					t.Errorf("quoted TCP checksum off: %#x", c)
				}
			}
			if err := seg.ShiftQuoteSeq(1); err != ErrNoQuote {
				t.Errorf("a segment that quotes nothing: %v", err)
			}
		})
	}
}
