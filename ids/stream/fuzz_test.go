package stream

import (
	"encoding/binary"
	"net/netip"
	"os"
	"slices"
	"testing"
	"time"

	"github.com/rampart-fw/rampart/packet"
	"pgregory.net/rapid"
)

// truth is the byte every honest segment carries at sequence number seq of
// a direction; a corrupted segment carries its complement.
func truth(d Dir, seq uint32) byte { return byte(seq*31+seq>>8) ^ byte(d)*0x55 }

// fuzzCheck is a Consumer that checks, for every byte handed on, that it
// is the byte of some segment sent for its sequence number, and the true
// one where no other was sent; and that each byte comes once, in order.
type fuzzCheck struct {
	recorder
	corrupt map[corruptKey]bool // bytes sent corrupted
	got     map[[2]uint64]byte  // flow ID and direction<<32|offset of bytes handed on (Prevent)
}

// corruptKey names a byte by the client's address and port, the direction
// and the sequence number: flows on the same addresses share marks.
type corruptKey struct {
	client netip.AddrPort
	d      Dir
	seq    uint32
}

func (fc *fuzzCheck) Stream(f *Flow, c Chunk) {
	fc.recorder.Stream(f, c)
	seq := f.sides[c.Dir].seqOf(c.Off)
	// The fuzzer's client is never the server's address; a flow that
	// began with a SYN from the server has the directions the other way.
	client, d := f.Key().Src, c.Dir
	if client == srv4 {
		client, d = f.Key().Dst, 1-c.Dir
	}
	for i, b := range c.Data {
		s := seq + uint32(i)
		k := corruptKey{client, d, s}
		switch b {
		case truth(d, s):
		case ^truth(d, s):
			if !fc.corrupt[k] {
				fc.t.Fatalf("flow %d %s: byte at seq %d handed on corrupted, never sent so", f.ID(), c.Dir, s)
			}
		default:
			fc.t.Fatalf("flow %d %s: byte %#x at seq %d was never sent", f.ID(), c.Dir, b, s)
		}
		if fc.got != nil {
			fc.got[[2]uint64{f.ID(), uint64(c.Dir)<<32 | (c.Off + uint64(i))}] = b
		}
	}
}

const fuzzMemCap = 256 << 10

// trace logs every segment of FuzzStream (STREAM_FUZZ_TRACE=1, with -v).
var trace = os.Getenv("STREAM_FUZZ_TRACE") != ""

// FuzzStream feeds sequences of segments built from the input to a Table:
// three flows on two clients' addresses, either mode, any policy, any
// initial sequence numbers, segments of any flags, offsets, lengths and
// acknowledgements, honest or corrupted, with time passing. The Table must
// not panic and must stay within its caps; every byte handed on must be
// one sent for its place (the true one where no other was sent), once, in
// order; and in line, every copy of a byte forwarded while kept must be
// the same, and the one inspected.
func FuzzStream(f *testing.F) {
	f.Add([]byte{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x04, 0, 0, 0, 0, 0, 0, 0x01, 0x24, 0, 0, 0, 0, 1, 0, 0x10, 0, 1, 10, 0, 0, 0})
	f.Add([]byte{1, 3, 0xff, 0xff, 0xff, 0xf0, 0, 0, 0, 0, 0x04, 0, 0, 0, 0, 0, 0, 0x10, 0, 1, 20, 0, 0, 0, 0x10, 0, 30, 40, 0, 0, 0, 0x81, 0, 10, 30, 0, 0, 0, 0x11, 0, 0, 0, 0, 60, 0})
	f.Add([]byte{2, 5, 0, 0, 1, 0, 0, 0, 2, 0, 0x10, 0, 5, 9, 0, 0, 1, 0x90, 0, 5, 9, 0, 0, 2, 0x08, 0, 14, 0, 0, 0, 3, 0x10, 0, 1, 4, 0, 0, 0})
	f.Fuzz(func(t *testing.T, in []byte) {
		if len(in) < 10 {
			return
		}
		cfg := Config{
			Mode:          Mode(in[0] & 1),
			Midstream:     MidstreamOn,
			Policies:      NewHostPolicies(Policy(in[1] % uint8(numPolicies))),
			MaxBuffer:     64 << 10,
			HoleBytes:     4 << 10,
			HoleSegments:  8,
			HoleTimeout:   5 * time.Second,
			MemCap:        fuzzMemCap,
			MaxFlows:      2,
			Shards:        1,
			NewTimeout:    20 * time.Second,
			ClosedTimeout: 3 * time.Second,
		}
		if in[0]&2 != 0 {
			cfg.Depth = 3000
		} else {
			cfg.Depth = NoDepth
		}
		tsOn := in[0]&4 != 0
		isn := [2]uint32{binary.BigEndian.Uint32(in[2:]), binary.BigEndian.Uint32(in[6:])}
		in = in[10:]
		fc := &fuzzCheck{recorder: *newRecorder(t), corrupt: map[corruptKey]bool{}}
		fc.recorder.depth = ^uint64(0)
		if cfg.Depth > 0 {
			fc.recorder.depth = uint64(cfg.Depth)
		}
		if cfg.Mode == Prevent {
			fc.got = map[[2]uint64]byte{}
		}
		tab, err := New(cfg, fc)
		if err != nil {
			t.Fatal(err)
		}
		clients := [3]netip.AddrPort{cli4, netip.AddrPortFrom(cli4.Addr(), 40001), netip.MustParseAddrPort("192.0.2.11:40000")}
		fwd := map[[2]uint64]byte{} // flow ID and direction<<32|offset of bytes forwarded while kept
		now := t0
		for n := 0; len(in) >= 7 && n < 64; n++ {
			op := in[:7]
			in = in[7:]
			d := Dir(op[0] & 1)
			cli := clients[int(op[0]>>1&3)%3]
			var flags packet.TCPFlags
			if op[0]&0x08 != 0 {
				flags |= packet.TCPSYN
			}
			if op[0]&0x10 == 0 {
				flags |= packet.TCPACK
			}
			if op[0]&0x20 != 0 {
				flags |= packet.TCPFIN
			}
			if op[0]&0x40 != 0 && op[3] < 16 {
				flags |= packet.TCPRST
			}
			corrupt := op[0]&0x80 != 0
			rel := uint32(binary.BigEndian.Uint16(op[1:]))
			size := int(op[3] % 96)
			ack := uint32(op[4])<<6 | uint32(op[5]>>2)
			if op[5]&1 != 0 {
				flags |= packet.TCPURG
			}
			now = now.Add(time.Duration(op[6]&7) * 700 * time.Millisecond)
			src, dst := cli, srv4
			if d == ToClient {
				src, dst = srv4, cli
			}
			seq := isn[d] + rel
			data := make([]byte, size)
			for i := range data {
				data[i] = truth(d, seq+uint32(i))
				if corrupt {
					data[i] = ^data[i]
				}
			}
			s := tcpSeg{src: src, dst: dst, flags: flags, seq: seq, ack: isn[1-d] + ack, win: uint16(op[6]>>3) << 11, wscale: -1, data: data, urg: uint16(op[5] >> 4)}
			if flags&packet.TCPSYN != 0 && op[6]&0x08 != 0 {
				s.wscale = int(op[6] >> 4)
			}
			if tsOn {
				s.ts, s.tsval = true, uint32(op[6])<<8|uint32(n)
			}
			if corrupt {
				for i := range size {
					fc.corrupt[corruptKey{cli, d, seq + uint32(i)}] = true
				}
			}
			b := s.build()
			var p packet.Parsed
			p.DecodeIP(b)
			// What the flow keeps of this direction before the segment:
			// bytes at and after it are held to what was inspected.
			var keep uint64
			var known bool
			tk := keyOf(p.Flow())
			if fl := tab.shardOf(&tk).flows[tk]; fl != nil {
				dd := ToServer
				if fl.key != p.Flow() {
					dd = ToClient
				}
				keep, known = fl.sides[dd].keep, fl.sides[dd].known
			}
			r := tab.Process(&p, now)
			if trace {
				t.Logf("op %d: %s %s seq+%d ack+%d len %d corrupt %v win %d: %s %s norm %d events %b", n, d, flags, rel, ack, size, corrupt, s.win, r.Dir, r.Verdict, r.Norm, r.Events)
				if r.Flow != nil {
					for dd := range r.Flow.sides {
						sd := &r.Flow.sides[dd]
						t.Logf("    %s: dlv %d keep %d next %d have %v fin %v@%d final %v acked %v@%d edge %v state %s", Dir(dd), sd.dlv, sd.keep, sd.next, sd.have, sd.fin, sd.finOff, sd.finFinal, sd.acked, sd.ackOff, sd.edgeOK, r.Flow.state)
					}
				}
			}
			st := tab.Stats()
			if st.Memory > fuzzMemCap || st.Active > cfg.MaxFlows {
				t.Fatalf("op %d: over the caps: %+v", n, st)
			}
			if r.Flow != nil {
				for dd := range r.Flow.sides {
					if sd := &r.Flow.sides[dd]; sd.buf != nil && sd.lastEnd()-sd.keep > uint64(cfg.MaxBuffer) {
						t.Fatalf("op %d: direction %d holds %d bytes", n, dd, sd.lastEnd()-sd.keep)
					}
				}
			}
			if cfg.Mode != Prevent || r.Verdict != Forward || r.Flow == nil || !known || size == 0 || flags&(packet.TCPSYN|packet.TCPRST) != 0 {
				continue
			}
			if !p.VerifyChecksums() {
				t.Fatalf("op %d: forwarded with a bad checksum", n)
			}
			sd := &r.Flow.sides[r.Dir]
			o := sd.offset(p.TCPSeq)
			pay := p.Buf[p.PayloadOff : p.PayloadOff+p.PayloadLen]
			for i, c := range pay {
				k := o + int64(i)
				if k < int64(keep) || k >= cfg.Depth && cfg.Depth != NoDepth {
					continue
				}
				key := [2]uint64{r.Flow.ID(), uint64(r.Dir)<<32 | uint64(k)}
				if prev, ok := fwd[key]; ok && prev != c {
					t.Fatalf("op %d: offset %d forwarded as %#x, earlier as %#x", n, k, c, prev)
				} else if !ok {
					fwd[key] = c
				}
			}
		}
		tab.Flush(now)
		if st := tab.Stats(); st.Active != 0 || st.Memory > fuzzMemCap {
			t.Fatalf("after the flush: %+v", st)
		}
		for i := range tab.shards {
			if u := tab.shards[i].used; u != 0 {
				t.Fatalf("after the flush: %d bytes still charged", u)
			}
		}
		for k, c := range fwd {
			if got, ok := fc.got[k]; ok && got != c {
				t.Fatalf("flow %d: offset %d inspected as %#x, forwarded as %#x", k[0], k[1]&0xffffffff, got, c)
			}
		}
	})
}

// naive reassembles non-overlapping segments: it puts each where it
// belongs.
func naive(segs []seg, n int) []byte {
	out := make([]byte, n)
	for _, s := range segs {
		copy(out[s.off:], s.data)
	}
	return out
}

type seg struct {
	off  int
	data []byte
}

// TestReassemblyProperty: whatever the order in which non-overlapping
// segments (and exact copies of them) arrive, with acknowledgements of
// what the receiver has in order between them, every mode and policy hands
// on the stream that a naive reassembler builds, once, then the FIN.
func TestReassemblyProperty(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) {
		n := rapid.IntRange(1, 20000).Draw(rt, "n")
		stream := make([]byte, n)
		for i := range stream {
			stream[i] = byte(rapid.IntRange(0, 255).Draw(rt, "byte"))
		}
		var segs []seg
		for off := 0; off < n; {
			l := min(rapid.IntRange(1, 1500).Draw(rt, "len"), n-off)
			segs = append(segs, seg{off, stream[off : off+l]})
			off += l
		}
		order := rapid.Permutation(segs).Draw(rt, "order")
		// Some segments twice.
		for _, i := range rapid.SliceOfN(rapid.IntRange(0, len(segs)-1), 0, 5).Draw(rt, "dups") {
			order = slices.Insert(order, rapid.IntRange(0, len(order)).Draw(rt, "at"), segs[i])
		}
		mode := Mode(rapid.IntRange(0, 1).Draw(rt, "mode"))
		pol := Policy(rapid.IntRange(0, int(numPolicies)-1).Draw(rt, "policy"))
		isn := rapid.Uint32().Draw(rt, "isn")
		c := newConn(rt, Config{Mode: mode, Policies: NewHostPolicies(pol), Depth: NoDepth})
		c.cisn = isn
		c.handshake()
		have := make([]bool, n)
		inOrder := 0
		for _, s := range order {
			if r := c.put(ToServer, uint32(s.off+1), string(s.data)); r.Verdict != Forward || r.Events&^(1<<KindOverlap) != 0 {
				rt.Fatalf("segment at %d: %+v", s.off, r)
			}
			for i := range s.data {
				have[s.off+i] = true
			}
			for inOrder < n && have[inOrder] {
				inOrder++
			}
			if rapid.Bool().Draw(rt, "ack") {
				c.ackTo(ToServer, uint32(inOrder+1))
			}
		}
		c.send(c.seg(ToServer, packet.TCPFIN|packet.TCPACK, uint32(n+1), 1, ""))
		c.ackTo(ToServer, uint32(n+2))
		fr := c.rec.only()
		if got := fr.data[ToServer]; string(got) != string(naive(segs, n)) || !fr.fin[ToServer] {
			rt.Fatalf("%s/%s: handed on %d bytes (fin %v), want %d", mode, pol, len(got), fr.fin[ToServer], n)
		}
	})
}
