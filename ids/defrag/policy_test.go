package defrag

import (
	"bytes"
	"fmt"
	"net/netip"
	"strings"
	"testing"

	"github.com/rampart-fw/rampart/ipproto"
)

// block is one hand-built fragment in units of 8 bytes, filled with one
// letter.
type block struct {
	at, n int  // offset and length, in 8-byte blocks
	c     byte // fill
	more  bool
}

func (b block) spec() spec { return spec{off: b.at * 8, more: b.more, data: fill(b.c, b.n*8)} }

// expand turns "AYX" into 8 A's, 8 Y's, 8 X's.
func expand(s string) []byte {
	var b []byte
	for i := range len(s) {
		b = append(b, fill(s[i], 8)...)
	}
	return b
}

// novak is the test pattern of Novak's "Target-Based Fragmentation
// Reassembly" (and of Suricata's and Snort's defrag tests): nine
// fragments, then seven that overlap them in every way, then the last.
// Offsets and lengths in bytes.
var novak = []block{
	{0, 3, 'A', true},   // <1>
	{4, 2, 'B', true},   // <2>
	{6, 3, 'C', true},   // <3>
	{10, 1, 'D', true},  // <3_1>
	{13, 2, 'E', true},  // <3_2>
	{15, 3, 'F', true},  // <3_3>
	{18, 2, 'G', true},  // <3_4>
	{20, 2, 'H', true},  // <3_5>
	{22, 1, 'I', true},  // <3_6>
	{1, 4, 'J', true},   // <4>
	{6, 3, 'K', true},   // <5>
	{9, 3, 'L', true},   // <6>
	{12, 3, 'M', true},  // <7>
	{16, 1, 'N', true},  // <8>
	{19, 1, 'O', true},  // <9>
	{20, 1, 'P', true},  // <10>
	{22, 2, 'Q', false}, // <11>
}

// novakWant is what each system reassembles from the pattern, one letter
// per 8 bytes: the published outputs (Novak's tables, reproduced in
// Suricata's and Snort's tests); bsd-right is what Snort's frag3 model of
// the HP JetDirect gives.
var novakWant = map[Policy]string{
	First:    "AAAJBBCCCLDLMEEFFFGGHHIQ",
	Last:     "AJJJJBKKKLLLMMMFNFGOPHQQ",
	BSD:      "AAAJJBCCCLLLMMMFFFGGHHIQ",
	Linux:    "AAAJJBKKKLLLMMMFFFGGPHQQ",
	Windows:  "AAAJBBCCCLLLMEEFFFGGHHIQ",
	Solaris:  "AAAJBBCCCLLLMMMFFFGGHHIQ",
	BSDRight: "AJJJBBKKKLLLMMMFFFGGHHQQ",
}

func TestNovakPattern(t *testing.T) {
	for _, v6 := range []bool{false, true} {
		for pol, want := range novakWant {
			t.Run(fmt.Sprintf("%s/v6=%v", pol, v6), func(t *testing.T) {
				d := mustNew(t, Config{Policies: NewHostPolicies(pol)})
				var got []byte
				for i, b := range novak {
					r := d.Add(build(v6, 1, b), 0, 0, t0)
					switch {
					case i < 9 && (r.Status != Held || r.Kind != KindNone):
						t.Fatalf("fragment %d: %s/%s, want held without event", i, r.Status, r.Kind)
					case i >= 9 && i < len(novak)-1 && (r.Status != Held || r.Kind != KindOverlap):
						t.Fatalf("fragment %d: %s/%s, want held with an overlap", i, r.Status, r.Kind)
					case i == len(novak)-1:
						if r.Status != Complete {
							t.Fatalf("last fragment: %s/%s", r.Status, r.Kind)
						}
						pkt, err := r.Datagram.AppendPacket(nil)
						if err != nil {
							t.Fatal(err)
						}
						got = payloadOf(t, pkt)
						d.Release(r.Datagram)
					}
				}
				if !bytes.Equal(got, expand(want)) {
					t.Errorf("reassembled %s, want %s", squeeze(got), want)
				}
				if s := d.Stats(); s.Memory != 0 || s.Datagrams != 0 {
					t.Errorf("after release: %d bytes in %d datagrams held", s.Memory, s.Datagrams)
				}
			})
		}
	}
}

// TestNovakPatternDrop: under RFC 5722 the first overlapping fragment
// discards the datagram, and the rest never complete one.
func TestNovakPatternDrop(t *testing.T) {
	for _, v6 := range []bool{false, true} {
		d := mustNew(t, Config{})
		for i, b := range novak {
			r := d.Add(build(v6, 1, b), 0, 0, t0)
			if i == 9 && (r.Status != Dropped || r.Kind != KindOverlap) {
				t.Fatalf("v6=%v: first overlapping fragment: %s/%s, want dropped for overlap", v6, r.Status, r.Kind)
			}
			if r.Status == Complete {
				t.Fatalf("v6=%v: fragment %d completed a datagram", v6, i)
			}
		}
		if n := d.Stats().Events[KindOverlap]; n == 0 {
			t.Errorf("v6=%v: no overlap counted", v6)
		}
	}
}

func build(v6 bool, id uint32, b block) []byte {
	if v6 {
		return v6Plain(id, ipproto.ICMPv6, b.spec())
	}
	return v4(src4, dst4, uint16(id), ipproto.ICMP, b.spec())
}

// squeeze writes reassembled bytes one letter per 8-byte block.
func squeeze(b []byte) string {
	var s strings.Builder
	for i := 0; i < len(b); i += 8 {
		s.WriteByte(b[i])
	}
	return s.String()
}

// TestOverlapLayouts: each kind of overlap between a held fragment X and
// a later Y, with a first fragment A and a last Z around them, under every
// policy. "" means the datagram is discarded.
func TestOverlapLayouts(t *testing.T) {
	all := func(s string) map[Policy]string {
		m := map[Policy]string{Drop: ""}
		for p := First; p < numPolicies; p++ {
			m[p] = s
		}
		return m
	}
	with := func(m map[Policy]string, kv ...any) map[Policy]string {
		for i := 0; i < len(kv); i += 2 {
			m[kv[i].(Policy)] = kv[i+1].(string)
		}
		return m
	}
	cases := []struct {
		name  string
		frags []block
		want  map[Policy]string
	}{
		{"left overlap", []block{{0, 1, 'A', true}, {2, 2, 'X', true}, {1, 2, 'Y', true}, {4, 1, 'Z', false}},
			with(all("AYXXZ"), Last, "AYYXZ", BSD, "AYYXZ", Linux, "AYYXZ")},
		{"right overlap", []block{{0, 1, 'A', true}, {1, 2, 'X', true}, {2, 2, 'Y', true}, {4, 1, 'Z', false}},
			with(all("AXXYZ"), Last, "AXYYZ", BSDRight, "AXYYZ")},
		{"same start, longer", []block{{0, 1, 'A', true}, {1, 1, 'X', true}, {1, 2, 'Y', true}, {3, 1, 'Z', false}},
			with(all("AXYZ"), Last, "AYYZ", Linux, "AYYZ", BSDRight, "AYYZ")},
		{"same start, shorter", []block{{0, 1, 'A', true}, {1, 2, 'X', true}, {1, 1, 'Y', true}, {3, 1, 'Z', false}},
			with(all("AXXZ"), Last, "AYXZ", Linux, "AYXZ")},
		{"same end, starts before", []block{{0, 1, 'A', true}, {2, 1, 'X', true}, {1, 2, 'Y', true}, {3, 1, 'Z', false}},
			with(all("AYYZ"), First, "AYXZ", Windows, "AYXZ")},
		{"containing", []block{{0, 1, 'A', true}, {2, 1, 'X', true}, {1, 3, 'Y', true}, {4, 1, 'Z', false}},
			with(all("AYYYZ"), First, "AYXYZ")},
		{"contained", []block{{0, 1, 'A', true}, {1, 3, 'X', true}, {2, 1, 'Y', true}, {4, 1, 'Z', false}},
			with(all("AXXXZ"), Last, "AXYXZ")},
		{"full, other data", []block{{0, 1, 'A', true}, {1, 1, 'X', true}, {1, 1, 'Y', true}, {2, 1, 'Z', false}},
			with(all("AXZ"), Last, "AYZ", Linux, "AYZ", BSDRight, "AYZ")},
		{"duplicate", []block{{0, 1, 'A', true}, {1, 1, 'X', true}, {1, 1, 'X', true}, {2, 1, 'Z', false}},
			with(all("AXZ"), Drop, "AXZ")},
		{"overlaps the first fragment", []block{{0, 2, 'A', true}, {1, 2, 'Y', true}, {3, 1, 'Z', false}},
			with(all("AAYZ"), Last, "AYYZ", BSDRight, "AYYZ")},
		{"second first fragment", []block{{0, 2, 'A', true}, {0, 1, 'Y', true}, {2, 1, 'Z', false}},
			with(all("AAZ"), Last, "YAZ", Linux, "YAZ")},
		{"last fragment overlaps", []block{{0, 2, 'A', true}, {2, 2, 'X', true}, {3, 2, 'Z', false}},
			with(all("AAXXZ"), Last, "AAXZZ", BSDRight, "AAXZZ")},
		{"spans a hole and two fragments", []block{{0, 1, 'A', true}, {1, 1, 'X', true}, {3, 1, 'W', true}, {1, 4, 'Y', true}, {5, 1, 'Z', false}},
			with(all("AYYYYZ"), First, "AXYWYZ", BSD, "AXYYYZ", Windows, "AXYYYZ", Solaris, "AXYYYZ")},
		// Suricata's DefragTestJeremyLinux: a later fragment that starts
		// before a held one and ends inside it.
		{"jeremy", []block{{0, 3, 'A', true}, {5, 6, 'B', true}, {3, 6, 'C', true}, {11, 2, 'D', false}},
			with(all("AAACCCCCCBBDD"), First, "AAACCBBBBBBDD", Windows, "AAACCBBBBBBDD", Solaris, "AAACCBBBBBBDD", BSDRight, "AAACCBBBBBBDD")},
		// Suricata's DefragBsdFragmentAfterNoMf: the last fragment first.
		{"last first", []block{{3, 2, 'A', false}, {1, 2, 'B', true}, {2, 2, 'C', true}, {0, 1, 'D', true}},
			with(all("DBBCA"), Last, "DBCCA", BSDRight, "DBCAA", Windows, "DBBAA", Solaris, "DBBAA", First, "DBBAA")},
	}
	for _, tc := range cases {
		for pol := Drop; pol < numPolicies; pol++ {
			want, ok := tc.want[pol]
			if !ok {
				continue
			}
			for _, v6 := range []bool{false, true} {
				t.Run(fmt.Sprintf("%s/%s/v6=%v", tc.name, pol, v6), func(t *testing.T) {
					d := mustNew(t, Config{Policies: NewHostPolicies(pol)})
					var got []byte
					completed := false
					for i, b := range tc.frags {
						r := d.Add(build(v6, 7, b), 0, 0, t0)
						if r.Status == Complete {
							if i != len(tc.frags)-1 {
								t.Fatalf("completed at fragment %d of %d", i, len(tc.frags))
							}
							pkt, err := r.Datagram.AppendPacket(nil)
							if err != nil {
								t.Fatal(err)
							}
							got = payloadOf(t, pkt)
							completed = true
							d.Release(r.Datagram)
						}
					}
					if want == "" {
						if completed {
							t.Fatalf("reassembled %s, want the datagram discarded", squeeze(got))
						}
						return
					}
					if !completed {
						t.Fatalf("never completed, want %s (stats %+v)", want, d.Stats().Events)
					}
					if !bytes.Equal(got, expand(want)) {
						t.Errorf("reassembled %s, want %s", squeeze(got), want)
					}
				})
			}
		}
	}
}

func TestHostPolicies(t *testing.T) {
	h := NewHostPolicies(BSD)
	h.Set(netip.MustParsePrefix("10.10.7.0/24"), Windows)
	h.Set(netip.MustParsePrefix("10.10.7.10/32"), Linux)
	h.Set(netip.MustParsePrefix("2001:db8::/32"), Solaris)
	for _, c := range []struct {
		addr string
		want Policy
	}{
		{"10.10.7.10", Linux}, {"10.10.7.11", Windows}, {"10.10.8.1", BSD},
		{"::ffff:10.10.7.10", Linux}, {"2001:db8::2", Solaris}, {"2001:db9::2", BSD},
	} {
		if got := h.Lookup(netip.MustParseAddr(c.addr)); got != c.want {
			t.Errorf("%s: %s, want %s", c.addr, got, c.want)
		}
	}
	if (*HostPolicies)(nil).Lookup(src4) != Drop {
		t.Error("a nil table is not drop")
	}
	for p := Drop; p < numPolicies; p++ {
		q, err := ParsePolicy(p.String())
		if err != nil || q != p {
			t.Errorf("%s: parsed back as %s, %v", p, q, err)
		}
	}
	if _, err := ParsePolicy("vista"); err == nil || !strings.Contains(err.Error(), `"vista"`) {
		t.Errorf("unknown policy: %v", err)
	}
	// Datagrams to a host follow its policy.
	d := mustNew(t, Config{Policies: h})
	ds := netip.MustParseAddr("10.10.7.10")
	for _, b := range []block{{0, 1, 'A', true}, {1, 1, 'X', true}, {1, 1, 'Y', true}} {
		d.Add(v4(src4, ds, 3, ipproto.UDP, b.spec()), 0, 0, t0)
	}
	r := d.Add(v4(src4, ds, 3, ipproto.UDP, block{2, 1, 'Z', false}.spec()), 0, 0, t0)
	if r.Status != Complete || r.Datagram.Policy() != Linux {
		t.Fatalf("%s, want complete under linux", r.Status)
	}
	pkt, _ := r.Datagram.AppendPacket(nil)
	if got := squeeze(payloadOf(t, pkt)); got != "AYZ" {
		t.Errorf("reassembled %s under linux, want AYZ", got)
	}
}
