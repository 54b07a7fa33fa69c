package classify

import (
	"net/netip"
	"testing"

	"pgregory.net/rapid"
)

func TestClusterOrderKeepsNestedRulesInOrder(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		v6 := rapid.Bool().Draw(t, "v6")
		f := 0
		if v6 {
			f = 1
		}
		n := rapid.IntRange(0, 120).Draw(t, "n")
		dsts := make([][]netip.Prefix, n)
		for i := range dsts {
			if rapid.IntRange(0, 9).Draw(t, "any") == 0 {
				continue
			}
			for j := rapid.IntRange(1, 2).Draw(t, "count"); j > 0; j-- {
				dsts[i] = append(dsts[i], genPrefix(t, v6, "dst").Masked())
			}
		}
		order := clusterOrder(dsts, f)
		if len(order) != n {
			t.Fatalf("order has %d rules, want %d", len(order), n)
		}
		pos := make([]int, n)
		seen := make([]bool, n)
		for p, i := range order {
			if seen[i] {
				t.Fatalf("rule %d placed twice", i)
			}
			seen[i] = true
			pos[i] = p
		}
		for i := 0; i < n; i++ {
			for j := i + 1; j < n; j++ {
				if overlap(dsts[i], dsts[j]) && pos[i] > pos[j] {
					t.Fatalf("rules %d (%v) and %d (%v) can match one packet but were swapped", i, dsts[i], j, dsts[j])
				}
			}
		}
	})
}

// overlap reports whether some address lies in both lists (nil is any).
func overlap(a, b []netip.Prefix) bool {
	if a == nil || b == nil {
		return true
	}
	for _, p := range a {
		for _, q := range b {
			if p.Overlaps(q) {
				return true
			}
		}
	}
	return false
}

func TestClusterOrderClusters(t *testing.T) {
	p := func(s string) []netip.Prefix { return []netip.Prefix{netip.MustParsePrefix(s)} }
	dsts := [][]netip.Prefix{
		p("10.0.0.1/32"), p("192.0.2.1/32"), p("10.0.0.2/32"), p("192.0.2.2/32"),
		nil, // any: a barrier
		p("192.0.2.3/32"), p("10.0.0.0/24"), p("10.0.0.3/32"), p("192.0.2.0/24"),
	}
	want := []int{0, 2, 1, 3, 4, 6, 7, 5, 8}
	got := clusterOrder(dsts, 0)
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("order %v, want %v", got, want)
		}
	}
}

func TestCoverOf(t *testing.T) {
	tests := []struct {
		ps   []string
		want string
	}{
		{nil, "0.0.0.0/0"},
		{[]string{"10.0.0.0/8"}, "10.0.0.0/8"},
		{[]string{"10.1.0.0/16", "10.2.0.0/16"}, "10.0.0.0/14"},
		{[]string{"10.0.0.0/8", "10.2.0.0/16"}, "10.0.0.0/8"},
		{[]string{"10.0.0.1/32", "138.0.0.0/8"}, "0.0.0.0/0"},
		{[]string{"2001:db8::/32", "2001:db8:8000::/33"}, "2001:db8::/32"},
	}
	for _, tt := range tests {
		var ps []netip.Prefix
		for _, s := range tt.ps {
			ps = append(ps, netip.MustParsePrefix(s))
		}
		f := 0
		if len(ps) > 0 && ps[0].Addr().Is6() {
			f = 1
		}
		if got := coverOf(ps, f); got != netip.MustParsePrefix(tt.want) {
			t.Errorf("coverOf(%v) = %v, want %v", tt.ps, got, tt.want)
		}
	}
}
