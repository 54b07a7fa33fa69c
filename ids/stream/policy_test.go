package stream

import (
	"fmt"
	"math"
	"net/netip"
	"strings"
	"testing"

	"github.com/rampart-fw/rampart/packet"
)

// step is one segment of a pattern: data at relative sequence number rel
// (1 is the stream's first byte), and the bytes the destination then
// holds from the first byte on, a hole as '_'.
type step struct {
	rel  uint32
	data string
	want string
}

// The segment patterns of Novak and Sturges, in the form of Suricata's
// stream tests (src/tests/stream-tcp-list.c), whose expected outputs,
// measured on each operating system, are reproduced here. Every segment
// but the last is out of order: byte 1 comes last, so nothing is in order
// while the overlaps are resolved.
var patternStart = []step{
	{2, "AAA", "_AAA"},
	{6, "BB", "_AAA_BB"},
	{8, "CCC", "_AAA_BBCCC"},
	{12, "D", "_AAA_BBCCC_D"},
	{15, "EE", "_AAA_BBCCC_D__EE"},
	{17, "FFF", "_AAA_BBCCC_D__EEFFF"},
	{20, "GG", "_AAA_BBCCC_D__EEFFFGG"},
	{22, "HH", "_AAA_BBCCC_D__EEFFFGGHH"},
	{24, "I", "_AAA_BBCCC_D__EEFFFGGHHI"},
}

// patternEnd gives the later, overlapping segments J to Q and the final
// byte 0 with what each class of system holds after each.
func patternEnd(j, k, l, m, n, o, p, q, zero string) []step {
	return []step{
		{3, "JJJJ", j}, {8, "KKK", k}, {11, "LLL", l}, {14, "MMM", m},
		{18, "N", n}, {21, "O", o}, {22, "P", p}, {24, "QQ", q}, {1, "0", zero},
	}
}

// The systems that behave alike are tested with one set of outputs.
type class struct {
	name                string
	policies            []Policy
	pattern             []step // after patternStart
	before, same, after []step
}

var classes = []class{
	{
		name:     "bsd",
		policies: []Policy{BSD, Windows, HPUX10, IRIX, MacOS},
		pattern: patternEnd(
			"_AAAJJBCCC_D__EEFFFGGHHI", "_AAAJJBCCC_D__EEFFFGGHHI", "_AAAJJBCCCLLL_EEFFFGGHHI",
			"_AAAJJBCCCLLLMMMFFFGGHHI", "_AAAJJBCCCLLLMMMFFFGGHHI", "_AAAJJBCCCLLLMMMFFFGGHHI",
			"_AAAJJBCCCLLLMMMFFFGGHHI", "_AAAJJBCCCLLLMMMFFFGGHHIQ", "0AAAJJBCCCLLLMMMFFFGGHHIQ"),
		before: beforeNew,
		same: []step{
			{1, "CCC", "CCC"}, {15, "HH", "CCC___________HH"}, {17, "II", "CCC___________HHII"},
			{1, "KKK", "CCC___________HHII"}, {1, "LLLL", "CCCL__________HHII"},
			{15, "P", "CCCL__________HHII"}, {15, "QQ", "CCCL__________HHII"},
		},
		after: afterOld,
	},
	{
		name:     "first",
		policies: []Policy{First, Vista},
		pattern: patternEnd(
			"_AAAJBBCCC_D__EEFFFGGHHI", "_AAAJBBCCC_D__EEFFFGGHHI", "_AAAJBBCCCLDL_EEFFFGGHHI",
			"_AAAJBBCCCLDLMEEFFFGGHHI", "_AAAJBBCCCLDLMEEFFFGGHHI", "_AAAJBBCCCLDLMEEFFFGGHHI",
			"_AAAJBBCCCLDLMEEFFFGGHHI", "_AAAJBBCCCLDLMEEFFFGGHHIQ", "0AAAJBBCCCLDLMEEFFFGGHHIQ"),
		before: []step{
			{3, "B", "__B"}, {9, "D", "__B_____D"}, {12, "EE", "__B_____D__EE"},
			{2, "AA", "_AB_____D__EE"}, {1, "JJJJ", "JABJ____D__EE"},
			{8, "LLL", "JABJ___LDL_EE"}, {11, "MMM", "JABJ___LDLMEE"},
		},
		same: []step{
			{1, "CCC", "CCC"}, {15, "HH", "CCC___________HH"}, {17, "II", "CCC___________HHII"},
			{1, "KKK", "CCC___________HHII"}, {1, "LLLL", "CCCL__________HHII"},
			{15, "P", "CCCL__________HHII"}, {15, "QQ", "CCCL__________HHII"},
		},
		after: afterOld,
	},
	{
		name:     "linux",
		policies: []Policy{Linux},
		pattern: patternEnd(
			"_AAAJJBCCC_D__EEFFFGGHHI", "_AAAJJBCCC_D__EEFFFGGHHI", "_AAAJJBCCCLLL_EEFFFGGHHI",
			"_AAAJJBCCCLLLMMMFFFGGHHI", "_AAAJJBCCCLLLMMMFFFGGHHI", "_AAAJJBCCCLLLMMMFFFGGHHI",
			"_AAAJJBCCCLLLMMMFFFGGHHI", "_AAAJJBCCCLLLMMMFFFGGHHQQ", "0AAAJJBCCCLLLMMMFFFGGHHQQ"),
		before: beforeNew,
		same: []step{
			{1, "CCC", "CCC"}, {15, "HH", "CCC___________HH"}, {17, "II", "CCC___________HHII"},
			{1, "KKK", "CCC___________HHII"}, {1, "LLLL", "LLLL__________HHII"},
			{15, "P", "LLLL__________HHII"}, {15, "QQ", "LLLL__________HHII"},
		},
		after: afterOld,
	},
	{
		name:     "old-linux",
		policies: []Policy{OldLinux},
		pattern: patternEnd(
			"_AAAJJBCCC_D__EEFFFGGHHI", "_AAAJJBKKK_D__EEFFFGGHHI", "_AAAJJBKKKLLL_EEFFFGGHHI",
			"_AAAJJBKKKLLLMMMFFFGGHHI", "_AAAJJBKKKLLLMMMFFFGGHHI", "_AAAJJBKKKLLLMMMFFFGGHHI",
			"_AAAJJBKKKLLLMMMFFFGGHHI", "_AAAJJBKKKLLLMMMFFFGGHHQQ", "0AAAJJBKKKLLLMMMFFFGGHHQQ"),
		before: beforeNew,
		same:   sameNew,
		after:  afterOld,
	},
	{
		name:     "solaris",
		policies: []Policy{Solaris, HPUX11},
		pattern: patternEnd(
			"_AJJJBBCCC_D__EEFFFGGHHI", "_AJJJBBKKK_D__EEFFFGGHHI", "_AJJJBBKKKLLL_EEFFFGGHHI",
			"_AJJJBBKKKLLLMMMFFFGGHHI", "_AJJJBBKKKLLLMMMFFFGGHHI", "_AJJJBBKKKLLLMMMFFFGGHHI",
			"_AJJJBBKKKLLLMMMFFFGGHHI", "_AJJJBBKKKLLLMMMFFFGGHHQQ", "0AJJJBBKKKLLLMMMFFFGGHHQQ"),
		before: beforeNew,
		same:   sameNew,
		after: []step{
			{1, "AA", "AA"}, {16, "FFF", "AA_____________FFF"}, {19, "GG", "AA_____________FFFGG"},
			{2, "JJ", "AJJ____________FFFGG"}, {20, "O", "AJJ____________FFFGG"},
			{17, "N", "AJJ____________FFFGG"},
		},
	},
	{
		name:     "last",
		policies: []Policy{Last},
		pattern: patternEnd(
			"_AJJJJBCCC_D__EEFFFGGHHI", "_AJJJJBKKK_D__EEFFFGGHHI", "_AJJJJBKKKLLL_EEFFFGGHHI",
			"_AJJJJBKKKLLLMMMFFFGGHHI", "_AJJJJBKKKLLLMMMFNFGGHHI", "_AJJJJBKKKLLLMMMFNFGOHHI",
			"_AJJJJBKKKLLLMMMFNFGOPHI", "_AJJJJBKKKLLLMMMFNFGOPHQQ", "0AJJJJBKKKLLLMMMFNFGOPHQQ"),
		before: beforeNew,
		same: []step{
			{1, "CCC", "CCC"}, {15, "HH", "CCC___________HH"}, {17, "II", "CCC___________HHII"},
			{1, "KKK", "KKK___________HHII"}, {1, "LLLL", "LLLL__________HHII"},
			{15, "P", "LLLL__________PHII"}, {15, "QQ", "LLLL__________QQII"},
		},
		after: []step{
			{1, "AA", "AA"}, {16, "FFF", "AA_____________FFF"}, {19, "GG", "AA_____________FFFGG"},
			{2, "JJ", "AJJ____________FFFGG"}, {20, "O", "AJJ____________FFFGO"},
			{17, "N", "AJJ____________FNFGO"},
		},
	},
}

// Segments that start before those held, under the systems where they
// win there.
var beforeNew = []step{
	{3, "B", "__B"}, {9, "D", "__B_____D"}, {12, "EE", "__B_____D__EE"},
	{2, "AA", "_AA_____D__EE"}, {1, "JJJJ", "JJJJ____D__EE"},
	{8, "LLL", "JJJJ___LLL_EE"}, {11, "MMM", "JJJJ___LLLMMM"},
}

// Segments that start with those held and end with or after them.
var sameNew = []step{
	{1, "CCC", "CCC"}, {15, "HH", "CCC___________HH"}, {17, "II", "CCC___________HHII"},
	{1, "KKK", "KKK___________HHII"}, {1, "LLLL", "LLLL__________HHII"},
	{15, "P", "LLLL__________HHII"}, {15, "QQ", "LLLL__________QQII"},
}

// Segments that start after those held, under the systems where they
// lose.
var afterOld = []step{
	{1, "AA", "AA"}, {16, "FFF", "AA_____________FFF"}, {19, "GG", "AA_____________FFFGG"},
	{2, "JJ", "AAJ____________FFFGG"}, {20, "O", "AAJ____________FFFGG"},
	{17, "N", "AAJ____________FFFGG"},
}

// TestSegmentPatterns feeds every pattern to every policy, at initial
// sequence numbers that make the stream wrap, and checks what the
// destination holds after each segment; then acknowledges everything and
// checks the bytes handed on.
func TestSegmentPatterns(t *testing.T) {
	covered := map[Policy]bool{}
	for _, cl := range classes {
		for _, pol := range cl.policies {
			covered[pol] = true
			for _, isn := range []uint32{0, 1, math.MaxUint32, math.MaxUint32 - 10} {
				for _, pat := range []struct {
					name  string
					steps []step
				}{
					{"pattern", append(append([]step(nil), patternStart...), cl.pattern...)},
					{"before", cl.before},
					{"same", cl.same},
					{"after", cl.after},
				} {
					t.Run(fmt.Sprintf("%s/%s/isn=%d", pol, pat.name, isn), func(t *testing.T) {
						runSteps(t, pol, isn, pat.steps)
					})
				}
			}
		}
	}
	for p := First; p < numPolicies; p++ {
		if !covered[p] {
			t.Errorf("policy %s has no expected outputs", p)
		}
	}
}

func runSteps(t *testing.T, pol Policy, isn uint32, steps []step) {
	t.Helper()
	c := newConn(t, Config{Policies: NewHostPolicies(pol)})
	c.cisn = isn
	c.handshake()
	s := &c.flow().sides[ToServer]
	for i, st := range steps {
		if r := c.put(ToServer, st.rel, st.data); r.Verdict != Forward {
			t.Fatalf("step %d: %+v", i, r)
		}
		if got := held(s); got != st.want {
			t.Fatalf("step %d (%s at %d): holds %s, want %s", i, st.data, st.rel, got, st.want)
		}
	}
	last := steps[len(steps)-1].want
	c.ackTo(ToServer, uint32(len(last))+1)
	want := strings.ReplaceAll(last, "_", "?")
	if got := string(c.rec.only().data[ToServer]); got != want {
		t.Fatalf("handed on %s, want %s", got, want)
	}
}

// TestOverlapLayouts: each kind of overlap between a segment X held out of
// order and a later segment Y, under every policy, then the first byte;
// the bytes handed on, one letter per 8 bytes.
func TestOverlapLayouts(t *testing.T) {
	type layout struct {
		name       string
		x, y       [2]int // start and length in 8-byte blocks, from block 1
		bsd, first string
		linux      string
		oldLinux   string
		solaris    string
		last       string
	}
	// Block 0 is the last to arrive; X is filled with 'x', Y with 'y'.
	layouts := []layout{
		// Y starts before X and ends inside it.
		{"left", [2]int{2, 3}, [2]int{1, 2}, "0yyxx", "0yxxx", "0yyxx", "0yyxx", "0yxxx", "0yyxx"},
		// Y starts inside X and ends after it.
		{"right", [2]int{1, 3}, [2]int{2, 3}, "0xxxy", "0xxxy", "0xxxy", "0xxxy", "0xyyy", "0xyyy"},
		// Same start, Y shorter.
		{"same start shorter", [2]int{1, 3}, [2]int{1, 2}, "0xxx", "0xxx", "0xxx", "0xxx", "0xxx", "0yyx"},
		// Same start, Y longer.
		{"same start longer", [2]int{1, 2}, [2]int{1, 3}, "0xxy", "0xxy", "0yyy", "0yyy", "0yyy", "0yyy"},
		// Same start and end: a full overlap with other bytes.
		{"full", [2]int{1, 2}, [2]int{1, 2}, "0xx", "0xx", "0xx", "0yy", "0yy", "0yy"},
		// Y inside X.
		{"contained", [2]int{1, 4}, [2]int{2, 2}, "0xxxx", "0xxxx", "0xxxx", "0xxxx", "0xxxx", "0xyyx"},
		// Y around X.
		{"containing", [2]int{2, 2}, [2]int{1, 4}, "0yyyy", "0yxxy", "0yyyy", "0yyyy", "0yyyy", "0yyyy"},
		// Same end, Y starts after X.
		{"same end after", [2]int{1, 3}, [2]int{2, 2}, "0xxx", "0xxx", "0xxx", "0xxx", "0xxx", "0xyy"},
		// Same end, Y starts before X.
		{"same end before", [2]int{2, 2}, [2]int{1, 3}, "0yyy", "0yxx", "0yyy", "0yyy", "0yyy", "0yyy"},
	}
	for _, l := range layouts {
		want := map[Policy]string{
			BSD: l.bsd, Windows: l.bsd, HPUX10: l.bsd, IRIX: l.bsd, MacOS: l.bsd,
			First: l.first, Vista: l.first,
			Linux: l.linux, OldLinux: l.oldLinux,
			Solaris: l.solaris, HPUX11: l.solaris,
			Last: l.last,
		}
		for pol, w := range want {
			t.Run(l.name+"/"+pol.String(), func(t *testing.T) {
				c := newConn(t, Config{Policies: NewHostPolicies(pol)})
				c.handshake()
				blk := func(at, n int, b byte) {
					c.put(ToServer, uint32(at*8+1), strings.Repeat(string(b), n*8))
				}
				blk(l.x[0], l.x[1], 'x')
				blk(l.y[0], l.y[1], 'y')
				blk(0, 1, '0')
				c.ackTo(ToServer, uint32(max(l.x[0]+l.x[1], l.y[0]+l.y[1])*8+1))
				got := squeeze(c.rec.only().data[ToServer])
				if got != w {
					t.Errorf("handed on %s, want %s", got, w)
				}
				if c.count(KindOverlapDiff)+c.count(KindRetransmitDiff) != 1 {
					t.Errorf("events %v, want one overlap with different data", c.kinds())
				}
			})
		}
	}
}

// squeeze writes bytes one letter per 8-byte block.
func squeeze(b []byte) string {
	var s strings.Builder
	for i := 0; i < len(b); i += 8 {
		s.WriteByte(b[i])
	}
	return s.String()
}

// TestIAMBED is the lecture's example: the same segments, sent to two
// hosts that reassemble overlaps differently, spell IAMBED on one and
// IAMBAD on the other; each flow is reassembled as its destination does,
// from a table of host policies, and the ambiguity is reported.
func TestIAMBED(t *testing.T) {
	bsdHost := netip.MustParseAddrPort("10.10.7.10:80")
	solarisHost := netip.MustParseAddrPort("10.10.7.20:80")
	pols := NewHostPolicies(BSD)
	pols.Set(netip.MustParsePrefix("10.10.7.20/32"), Solaris)
	for _, tc := range []struct {
		srv  netip.AddrPort
		want string
	}{{bsdHost, "IAMBED"}, {solarisHost, "IAMBAD"}} {
		c := newConn(t, Config{Policies: pols})
		c.srv = tc.srv
		c.handshake()
		c.put(ToServer, 4, "BED") // out of order: the first three bytes are missing
		c.put(ToServer, 4, "BAD") // the same bytes again, other letters
		c.put(ToServer, 1, "IAM")
		c.ackTo(ToServer, 7)
		if got := string(c.rec.only().data[ToServer]); got != tc.want {
			t.Errorf("%s (%s): handed on %q, want %q", tc.srv, c.flow().Policy(ToServer), got, tc.want)
		}
		if c.count(KindRetransmitDiff) != 1 {
			t.Errorf("%s: events %v, want one retransmission with different data", tc.srv, c.kinds())
		}
	}
}

// TestIAMBEDPrevent: in line, the first bytes forwarded are the ones
// inspected, and the later, contradicting copy never reaches the host:
// a pure retransmission is dropped, a segment that also carries new bytes
// is rewritten to the bytes already forwarded. Whatever the host's
// policy, it reassembles IAMBEDX, the bytes inspected: the host is
// modelled by a second Table in Detect mode with the host's policy, fed
// the packets forwarded.
func TestIAMBEDPrevent(t *testing.T) {
	for _, pol := range []Policy{BSD, Solaris, Last} {
		c := newConn(t, Config{Mode: Prevent, Policies: NewHostPolicies(pol)})
		host := newConn(t, Config{Policies: NewHostPolicies(pol)})
		c.handshake()
		host.handshake()
		send := func(s tcpSeg) Result {
			r, b := c.send(s)
			checkTCPChecksum(t, b)
			if r.Verdict == Forward {
				host.sendRaw(b)
			}
			return r
		}
		send(c.seg(ToServer, packet.TCPACK, 4, 1, "BED"))
		if r := send(c.seg(ToServer, packet.TCPACK, 4, 1, "BAD")); r.Verdict != Drop || !r.Events.Has(KindRetransmitDiff) {
			t.Errorf("%s: a contradicting retransmission: %+v", pol, r)
		}
		if r := send(c.seg(ToServer, packet.TCPACK, 4, 1, "BADX")); r.Verdict != Forward || r.Norm&NormPayload == 0 || !r.Events.Has(KindOverlapDiff) {
			t.Errorf("%s: an overlap with a new byte: %+v", pol, r)
		}
		send(c.seg(ToServer, packet.TCPACK, 1, 1, "IAM"))
		if got, want := string(c.rec.only().data[ToServer]), "IAMBEDX"; got != want {
			t.Errorf("%s: inspected %q, want %q", pol, got, want)
		}
		host.ackTo(ToServer, 8)
		if got, want := string(host.rec.only().data[ToServer]), "IAMBEDX"; got != want {
			t.Errorf("%s: the host reassembled %q, want %q", pol, got, want)
		}
		if host.count(KindOverlapDiff)+host.count(KindRetransmitDiff) != 0 {
			t.Errorf("%s: the host saw ambiguous segments: %v", pol, host.kinds())
		}
	}
}
