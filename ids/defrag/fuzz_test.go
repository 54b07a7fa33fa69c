package defrag

import (
	"bytes"
	"encoding/binary"
	"math/rand/v2"
	"net/netip"
	"testing"
	"time"

	"github.com/rampart-fw/rampart/ipproto"
	"pgregory.net/rapid"
)

const fuzzMemory = 1 << 20

// FuzzDefrag feeds streams of fragments built from the input: several
// datagrams of both families, any offsets, lengths, flags and policies,
// with time passing. The defragmenter must not panic, must stay within its
// memory cap, and every reassembled packet must be as long as its
// fragments say, with each fragment's bytes where a policy may put them.
func FuzzDefrag(f *testing.F) {
	f.Add([]byte{0, 0, 0, 3, 'A', 1, 0, 3, 3, 'B'})
	f.Add([]byte{0x80, 0, 0, 3, 'A', 0x81, 0, 3, 3, 'B', 0x80, 0, 1, 4, 'C'})
	f.Add([]byte{0x13, 0, 0, 2, 'x', 0x12, 0, 1, 2, 'y', 0x13, 0, 3, 1, 'z', 0x52, 0, 1, 1, 'q'})
	f.Add([]byte{0x40, 0xff, 0xf0, 0xff, 'P', 0x41, 0, 0, 0, 'Q'})
	f.Fuzz(func(t *testing.T, in []byte) {
		var pol Policy
		if len(in) > 0 {
			pol = Policy(in[0] % uint8(numPolicies))
		}
		d := mustNew(t, Config{MaxMemory: fuzzMemory, Shards: 1, MaxPerSource: 256 << 10, MaxDatagramsPerSource: 8, MaxFragments: 16, Policies: NewHostPolicies(pol), Timeout: 10 * time.Second})
		now := t0
		out := make([]byte, 0, 1<<16)
		// 64 fragments are enough to reach every state; longer inputs
		// only slow the fuzzer down.
		for k := 0; len(in) >= 5 && k < 64; k++ {
			// flags: bit 0 more, bit 1 IPv6, bits 2-3 datagram, bit 4 tiny
			// TCP, bits 5-6 time step, bit 7 another source.
			fl, off, n, c := in[0], int(binary.BigEndian.Uint16(in[1:]))&^7, int(in[3])*8, in[4]
			in = in[5:]
			if fl&0x10 != 0 {
				n = int(in0(in)) % 24
			}
			now = now.Add(time.Duration(fl>>5&3) * 3 * time.Second)
			src := src4
			if fl&0x80 != 0 {
				src = netip.MustParseAddr("192.0.2.99")
			}
			id := uint16(fl >> 2 & 3)
			proto := ipproto.UDP
			if fl&0x10 != 0 {
				proto = ipproto.TCP
			}
			var p []byte
			s := spec{off: off, more: fl&1 != 0, data: fill(c, n)}
			if fl&2 != 0 {
				if 40+8+n > 65535 {
					continue
				}
				p = v6(uint32(id), proto, false, s)
				copy(p[8:], src6.AsSlice())
			} else {
				if 20+n > 65535 {
					continue
				}
				p = v4(src, dst4, id, proto, s)
			}
			r := d.Add(ether(p, 1), 14, 0, now)
			if st := d.Stats(); st.Memory > fuzzMemory {
				t.Fatalf("memory %d over the cap %d", st.Memory, fuzzMemory)
			}
			if r.Status != Complete {
				continue
			}
			dg := r.Datagram
			var err error
			out, err = dg.AppendPacket(out[:0])
			if err != nil {
				t.Fatal(err)
			}
			checkReassembled(t, dg, out)
			d.Release(dg)
		}
		d.Sweep(now.Add(time.Minute))
		if st := d.Stats(); st.Memory != 0 || st.Datagrams != 0 {
			t.Fatalf("after the time-out: %+v", st)
		}
	})
}

func in0(b []byte) byte {
	if len(b) == 0 {
		return 0
	}
	return b[0]
}

// checkReassembled checks a reassembled packet against the fragments it
// was made of: its length is the last fragment's end, every fragment lies
// within it, and where a fragment is the only one to cover a byte, the
// byte is that fragment's.
func checkReassembled(t *testing.T, dg *Datagram, pkt []byte) {
	t.Helper()
	if len(pkt) != dg.Len() {
		t.Fatalf("packet of %d bytes, Len %d", len(pkt), dg.Len())
	}
	ip := pkt[dg.L3():]
	var data []byte
	switch ip[0] >> 4 {
	case 4:
		if int(binary.BigEndian.Uint16(ip[2:])) != len(ip) || ipv4Checksum(ip[:20]) != 0 {
			t.Fatalf("IPv4 header: length %d of %d, checksum %#x", binary.BigEndian.Uint16(ip[2:]), len(ip), ipv4Checksum(ip[:20]))
		}
		data = ip[20:]
	case 6:
		if int(binary.BigEndian.Uint16(ip[4:]))+40 != len(ip) || ip[6] == byte(ipproto.Fragment) {
			t.Fatalf("IPv6 header: % x", ip[:8])
		}
		data = ip[40:]
	}
	cover := make([]int, len(data))
	last := false
	type span struct {
		s, e int
		b    []byte
	}
	var spans []span
	for i := range dg.NumFragments() {
		fr, ok := fragOf(dg.Fragment(i)[dg.FragmentL3(i):])
		if !ok {
			t.Fatalf("fragment %d does not parse", i)
		}
		if fr.end > len(data) {
			t.Fatalf("fragment %d ends at %d, past the datagram's %d", i, fr.end, len(data))
		}
		if !fr.more && fr.end == len(data) {
			last = true
		}
		for j := fr.start; j < fr.end; j++ {
			cover[j]++
		}
		spans = append(spans, span{fr.start, fr.end, fr.data})
	}
	if !last {
		t.Fatal("no last fragment ends where the datagram does")
	}
	for _, s := range spans {
		for j := s.s; j < s.e; j++ {
			if cover[j] == 0 {
				t.Fatalf("byte %d covered by no fragment", j)
			}
			if cover[j] == 1 && data[j] != s.b[j-s.s] {
				t.Fatalf("byte %d is %q, its only fragment says %q", j, data[j], s.b[j-s.s])
			}
		}
	}
}

func fragOf(ip []byte) (fragment, bool) {
	f, _, ok := parse(ip, 0)
	return f, ok
}

// TestAgainstNaive: for fragments that do not overlap, in any order, every
// policy gives what a naive reassembler gives (each fragment copied to its
// offset), completes exactly when the last missing fragment arrives, and
// never completes when a fragment is missing.
func TestAgainstNaive(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		v6 := rapid.Bool().Draw(t, "v6")
		pol := Policy(rapid.IntRange(0, int(numPolicies)-1).Draw(t, "policy"))
		blocks := rapid.IntRange(1, 64).Draw(t, "blocks")
		// Cut [0, blocks*8) at random 8-byte boundaries; the last piece may
		// have a ragged end.
		var cuts []int
		for b := 1; b < blocks; b++ {
			if rapid.Bool().Draw(t, "cut") {
				cuts = append(cuts, b*8)
			}
		}
		total := blocks*8 - rapid.IntRange(0, 7).Draw(t, "ragged")
		payload := rapid.SliceOfN(rapid.Byte(), total, total).Draw(t, "payload")
		var frames [][]byte
		prev := 0
		for i, c := range append(cuts, total) {
			s := spec{off: prev, more: i < len(cuts), data: payload[prev:c]}
			if v6 {
				frames = append(frames, v6Plain(5, ipproto.UDP, s))
			} else {
				frames = append(frames, v4(src4, dst4, 5, ipproto.UDP, s))
			}
			prev = c
		}
		seed := rapid.Uint64().Draw(t, "seed")
		rand.New(rand.NewPCG(seed, 1)).Shuffle(len(frames), func(i, j int) { frames[i], frames[j] = frames[j], frames[i] })
		drop := -1
		if rapid.Bool().Draw(t, "drop one") {
			drop = rapid.IntRange(0, len(frames)-1).Draw(t, "dropped")
		}
		d, err := New(Config{Policies: NewHostPolicies(pol)})
		if err != nil {
			t.Fatal(err)
		}
		// The naive reference.
		want := make([]byte, total)
		for i, f := range frames {
			if i == drop {
				continue
			}
			fr, _ := fragOf(f)
			copy(want[fr.start:], fr.data)
		}
		last := len(frames) - 1
		if drop == last {
			last--
		}
		for i, f := range frames {
			if i == drop {
				continue
			}
			r := d.Add(f, 0, 0, t0)
			if len(frames) == 1 {
				if r.Status != NotFragment {
					t.Fatalf("a datagram in one piece: %s", r.Status)
				}
				return
			}
			switch {
			case drop >= 0 || i != last:
				if r.Status != Held {
					t.Fatalf("fragment %d of %d (one dropped: %v): %s/%s", i, len(frames), drop >= 0, r.Status, r.Kind)
				}
			default:
				if r.Status != Complete {
					t.Fatalf("last fragment: %s/%s", r.Status, r.Kind)
				}
				pkt, _ := r.Datagram.AppendPacket(nil)
				hl := 20
				if v6 {
					hl = 40
				}
				got := pkt[hl:]
				if !bytes.Equal(got, want) {
					t.Fatalf("reassembled % x\nwant % x", got, want)
				}
				d.Release(r.Datagram)
			}
		}
	})
}
