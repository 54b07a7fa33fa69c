package packet

import (
	"net/netip"
	"testing"
)

func FuzzDecode(f *testing.F) {
	for _, tf := range testFrames(f) {
		if !tf.raw {
			f.Add(tf.b)
		}
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var p Parsed
		p.Decode(b)
		checkInvariants(t, b, &p)
		exercise(t, &p, false)
	})
}

func FuzzDecodeIP(f *testing.F) {
	var p Parsed
	for _, tf := range testFrames(f) {
		decodeFrame(&p, tf)
		if p.IPVersion != 0 {
			f.Add(append([]byte(nil), p.Buf[p.L3Off:]...))
		}
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var p Parsed
		p.DecodeIP(b)
		checkInvariants(t, b, &p)
		if p.HasEthernet || p.L3Off != 0 {
			t.Fatalf("DecodeIP reports a link layer")
		}
		exercise(t, &p, true)
	})
}

// exercise runs everything that consumes a Parsed and checks what can be
// checked without knowing the input: replies are well-formed packets that
// answer p, and rewrites keep correct checksums correct.
func exercise(t *testing.T, p *Parsed, raw bool) {
	ok := p.VerifyChecksums()
	_ = p.IsICMPError()
	ft := p.Flow()
	_ = p.Quote.Flow()

	if r := AppendTCPReset(nil, p); len(r) > 0 {
		var q Parsed
		decodeFrame(&q, testFrame{raw: raw, b: r})
		if q.Invalid != Valid || !q.VerifyChecksums() || q.TCPFlags&TCPRST == 0 || q.Flow() != ft.Reverse() {
			t.Fatalf("bad reset: %v at %d, flags %v, flow %v for %v", q.Invalid, q.InvalidOff, q.TCPFlags, q.Flow(), ft)
		}
	}
	if r := AppendICMPUnreachable(nil, p, UnreachablePort); len(r) > 0 {
		var q Parsed
		decodeFrame(&q, testFrame{raw: raw, b: r})
		// An IPv6 header chain longer than the quote can hold leaves the
		// quote undecodable, which the receiver is entitled to reject.
		longChain := p.IPVersion == 6 && p.IPHeaderLen > maxICMPv6Error-ipv6HeaderLen-icmpHeaderLen
		switch {
		case q.Invalid == InvalidICMPQuote && longChain:
		case q.Invalid != Valid || !q.VerifyChecksums() || !q.IsICMPError():
			t.Fatalf("bad ICMP error: %v at %d", q.Invalid, q.InvalidOff)
		case q.Quote.Flow() != ft:
			t.Fatalf("ICMP error quotes %v, answers %v", q.Quote.Flow(), ft)
		}
	}

	if p.Invalid != Valid || p.IPVersion == 0 {
		return
	}
	b := append([]byte(nil), p.Buf...)
	var r Parsed
	decodeFrame(&r, testFrame{raw: raw, b: b})
	na := flipLast(r.Src.Addr())
	switch err := r.SetSrc(netip.AddrPortFrom(na, r.Src.Port())); err {
	case nil:
	case ErrChecksum:
		return
	default:
		t.Fatalf("SetSrc of a valid packet: %v", err)
	}
	quoted := r.Quote.L3Off != 0
	if quoted {
		mustNil(t, r.SetQuoteDst(netip.AddrPortFrom(flipLast(r.Quote.Dst.Addr()), r.Quote.Dst.Port())))
	}
	want := r.Flow()
	decodeFrame(&r, testFrame{raw: raw, b: b})
	if r.Invalid != Valid || r.Flow() != want {
		t.Fatalf("after SetSrc: %v, flow %v, want %v", r.Invalid, r.Flow(), want)
	}
	if ok && !r.VerifyChecksums() {
		t.Fatalf("rewrite broke correct checksums")
	}
}

func flipLast(a netip.Addr) netip.Addr {
	if a.Is4() {
		b := a.As4()
		b[3] ^= 0x55
		return netip.AddrFrom4(b)
	}
	b := a.As16()
	b[15] ^= 0x55
	return netip.AddrFrom16(b)
}
