package guard

import (
	"testing"

	"github.com/rampart-fw/rampart/datapath"
	"github.com/rampart-fw/rampart/firewall/conntrack"
	"github.com/rampart-fw/rampart/packet"
)

// FuzzGuard runs every check and the SYN proxy's builders and translation
// over arbitrary frames: nothing panics, and what the proxy builds
// decodes as valid TCP with right checksums.
func FuzzGuard(f *testing.F) {
	f.Add(clientSYN(f), uint32(0), uint8(0))
	f.Add(tcpFrame(f, tcpSpec{src: cli, dst: srv, flags: packet.TCPACK, seq: 1001, ack: 77, win: 502, wscale: -1, ts: true, tsval: 1, tsecr: 2,
		sack: [][2]uint32{{1, 2}, {3, 4}}}), uint32(1<<31), uint8(7))
	f.Add(icmpFrame(f, "198.51.100.9", "10.10.0.255", 8, serverMAC), uint32(5), uint8(3))
	f.Fuzz(func(t *testing.T, frame []byte, delta uint32, shift uint8) {
		g, x := proxyGuard(t, ProxyAlways)
		var p packet.Parsed
		p.Decode(frame)
		if p.Invalid != packet.Valid || p.IPVersion == 0 {
			return
		}
		for _, side := range []datapath.Side{datapath.LAN, datapath.WAN} {
			g.Check(&p, side)
			g.CheckSource(&p, side)
		}
		g.AdmitNew(&p)
		if p.Proto != 6 || !p.HasL4 {
			return
		}
		if out := x.AnswerSYN(nil, &p); len(out) > 0 {
			var q packet.Parsed
			q.Decode(out)
			if q.Invalid != packet.Valid || q.CheckChecksums(true) != packet.ChecksumOK {
				t.Fatalf("the SYN/ACK built for % x is not valid", frame)
			}
		}
		var cs conntrack.Packet
		var sp conntrack.Splice
		x.CheckACK(&p, &cs, &sp)
		sp = conntrack.Splice{Active: shift&1 != 0, ISN: delta, ClientISN: ^delta, SeqDelta: delta, TSDelta: delta >> 3,
			ReplyWinFrom: shift % 15, ReplyWinTo: (shift >> 4) % 15, OrigWinShift: shift % 15, Options: shift, WScale: shift % 15, MSS: 1460}
		x.AppendServerSYN(nil, &p, &sp)
		x.ServerSYNACK(nil, nil, &p, &sp)
		for _, dir := range []conntrack.Dir{conntrack.DirOriginal, conntrack.DirReply} {
			ok := p.CheckChecksums(true) == packet.ChecksumOK
			if err := Translate(&p, &sp, dir); err == nil && ok {
				var q packet.Parsed
				q.Decode(p.Buf)
				if q.CheckChecksums(true) != packet.ChecksumOK {
					t.Fatalf("translation broke the checksum of % x", frame)
				}
			}
		}
	})
}
