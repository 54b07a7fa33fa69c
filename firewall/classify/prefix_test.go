package classify

import (
	"math/rand/v2"
	"net/netip"
	"testing"
)

// naiveLPM returns the index of the longest prefix in ps containing a.
func naiveLPM(ps []netip.Prefix, a netip.Addr) int {
	best, bits := -1, -1
	for i, p := range ps {
		if p.Contains(a) && p.Bits() > bits {
			best, bits = i, p.Bits()
		}
	}
	return best
}

func TestPrefixTable(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, v6 := range []bool{false, true} {
		for _, first := range []int{8, 16} {
			for round := 0; round < 50; round++ {
				bitLen := 32
				root := netip.MustParsePrefix("0.0.0.0/0")
				if v6 {
					bitLen = 128
					root = netip.MustParsePrefix("::/0")
				}
				base := make([]byte, bitLen/8)
				for i := range base {
					base[i] = byte(rng.IntN(4))
				}
				randAddr := func() netip.Addr {
					b := append([]byte(nil), base...)
					for i := range b {
						if rng.IntN(3) == 0 {
							b[i] = byte(rng.IntN(256))
						}
					}
					a, _ := netip.AddrFromSlice(b)
					return a
				}
				ps := []netip.Prefix{root}
				seen := map[netip.Prefix]bool{root: true}
				for len(ps) < 1+rng.IntN(200) {
					p := netip.PrefixFrom(randAddr(), rng.IntN(bitLen+1)).Masked()
					if !seen[p] {
						seen[p] = true
						ps = append(ps, p)
					}
				}
				// insert shortest first
				order := make([]int, len(ps))
				for i := range order {
					order[i] = i
				}
				for i := 1; i < len(order); i++ {
					for j := i; j > 0 && ps[order[j]].Bits() < ps[order[j-1]].Bits(); j-- {
						order[j], order[j-1] = order[j-1], order[j]
					}
				}
				tab := newPrefixTable(first, 0)
				for _, i := range order[1:] {
					if err := tab.insert(ps[i], uint32(i)); err != nil {
						t.Fatal(err)
					}
				}
				for q := 0; q < 500; q++ {
					a := randAddr()
					if q%2 == 0 {
						p := ps[rng.IntN(len(ps))]
						a = p.Addr()
					}
					want := naiveLPM(ps, a)
					if got := int(tab.lookup(a)); got != want {
						t.Fatalf("v6=%v first=%d: lookup(%v) = %v (%v), want %v (%v)", v6, first, a, got, ps[got], want, ps[want])
					}
				}
			}
		}
	}
}
