package stream

import (
	"bytes"
	"math/rand/v2"
	"testing"

	"github.com/rampart-fw/rampart/packet"
)

// TestRewritePayload: the incrementally adjusted checksum equals the one
// computed from scratch, for rewrites at every alignment and length.
func TestRewritePayload(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	c := newConn(t, Config{})
	for n := 1; n <= 9; n++ {
		for i := 0; i+n <= 11; i++ {
			data := make([]byte, 11)
			for k := range data {
				data[k] = byte(rng.Uint32())
			}
			s := c.seg(ToServer, packet.TCPACK, 1, 1, string(data))
			b := s.build()
			var p packet.Parsed
			p.DecodeIP(b)
			pay := p.Buf[p.PayloadOff : p.PayloadOff+p.PayloadLen]
			want := make([]byte, n)
			for k := range want {
				want[k] = byte(rng.Uint32())
			}
			rewritePayload(pay, i, want, p.Buf[p.L4Off+16:p.L4Off+18])
			if !bytes.Equal(pay[i:i+n], want) || !p.VerifyChecksums() {
				t.Errorf("rewrite of %d bytes at %d: checksum wrong", n, i)
			}
		}
	}
}

// TestNormaliseOverlaps: every way a segment can meet bytes already
// forwarded, in line: the packet forwarded carries the bytes inspected
// wherever it overlaps them, its checksum is right, and the inspected
// stream is what the host gets.
func TestNormaliseOverlaps(t *testing.T) {
	type send struct {
		rel  uint32
		data string
		want string // the payload forwarded; "" for a drop
	}
	for _, tc := range []struct {
		name      string
		sends     []send
		inspected string
	}{
		{"same bytes", []send{{1, "abcdef", "abcdef"}, {1, "abcdef", "abcdef"}}, "abcdef"},
		{"retransmission, other bytes", []send{{1, "abcdef", "abcdef"}, {3, "XY", ""}}, "abcdef"},
		{"left overlap", []send{{4, "defg", "defg"}, {1, "abCDE", "abCde"}}, "abCdefg"},
		{"right overlap", []send{{1, "abcd", "abcd"}, {3, "CDefgh", "cdefgh"}}, "abcdefgh"},
		{"containing", []send{{3, "cd", "cd"}, {1, "abXYef", "abcdef"}}, "abcdef"},
		{"spanning a hole", []send{{1, "ab", "ab"}, {5, "ef", "ef"}, {1, "XYcdZW", "abcdef"}}, "abcdef"},
		{"odd alignment", []send{{2, "bcd", "bcd"}, {1, "aBCDe", "abcde"}}, "abcde"},
	} {
		for _, v6 := range []bool{false, true} {
			c := newConn(t, Config{Mode: Prevent})
			if v6 {
				c.cli, c.srv = cli6, srv6
			}
			c.handshake()
			for i, s := range tc.sends {
				r, b := c.send(c.seg(ToServer, packet.TCPACK, s.rel, 1, s.data))
				if s.want == "" {
					if r.Verdict != Drop || !r.Events.Has(KindRetransmitDiff) {
						t.Errorf("%s v6=%v send %d: %+v, want a drop", tc.name, v6, i, r)
					}
					continue
				}
				checkTCPChecksum(t, b)
				got := string(payloadOf(t, b))
				if r.Verdict != Forward || got != s.want {
					t.Errorf("%s v6=%v send %d: %s forwarding %q, want %q", tc.name, v6, i, r.Verdict, got, s.want)
				}
				if rewritten := s.want != s.data; rewritten != (r.Norm&NormPayload != 0) || rewritten != r.Events.Has(KindOverlapDiff) {
					t.Errorf("%s v6=%v send %d: norm %d, events %v", tc.name, v6, i, r.Norm, c.kinds())
				}
			}
			if got := string(c.rec.only().data[ToServer]); got != tc.inspected {
				t.Errorf("%s v6=%v: inspected %q, want %q", tc.name, v6, got, tc.inspected)
			}
		}
	}
}

// TestNormaliseAcknowledged: bytes the receiver has acknowledged are no
// longer kept; a segment over them is forwarded as it is (the receiver
// drops what it has), and only its new bytes are taken.
func TestNormaliseAcknowledged(t *testing.T) {
	c := newConn(t, Config{Mode: Prevent})
	c.handshake()
	c.put(ToServer, 1, "abcd")
	c.ackTo(ToServer, 5)
	r, b := c.send(c.seg(ToServer, packet.TCPACK, 3, 1, "XYef"))
	if r.Verdict != Forward || r.Norm != 0 || string(payloadOf(t, b)) != "XYef" {
		t.Errorf("%+v forwarding %q", r, payloadOf(t, b))
	}
	// A keep-alive: one byte below the acknowledgement.
	if r := c.put(ToServer, 4, "?"); r.Verdict != Forward || r.Events != 0 {
		t.Errorf("keep-alive: %+v", r)
	}
	if got := string(c.rec.only().data[ToServer]); got != "abcdef" {
		t.Errorf("inspected %q", got)
	}
}
