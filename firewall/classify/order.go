package classify

import "net/netip"

// clusterOrder returns an order for an engine's rules (given by their
// destination prefixes, nil for any) that puts rules with nearby
// destinations next to each other, while every pair of rules that one
// packet can match both of keeps its relative order.
//
// Bit vectors find the first match fast when the rules a packet's address
// matches are concentrated in few words, so that the aggregate bitmaps rule
// out the rest; in a real rule set they are spread over the whole list.
// The ABV paper suggests rearranging rules; this is the safe version of
// that. Two rules can only match the same packet if their destinations
// share its destination address, that is, if their destination prefixes
// nest. So only rules with nesting destinations need to keep their order,
// and the first rule in the new order that matches a packet is the first
// in the old order too: all the rules that match it nest, and their order
// is kept.
//
// The order is built on a binary trie of the rules' destination covers
// (the longest prefix containing all of a rule's destination prefixes):
// at each trie node, rules whose cover is the node itself stay where they
// are, and between two of them the rules below the node are split by the
// next bit, the zeros first, recursively.
func clusterOrder(dsts [][]netip.Prefix, f int) []int {
	covers := make([]netip.Prefix, len(dsts))
	for i, ps := range dsts {
		covers[i] = coverOf(ps, f)
	}
	all := make([]int, len(dsts))
	for i := range all {
		all[i] = i
	}
	out := make([]int, 0, len(dsts))
	var place func(list []int, depth int)
	place = func(list []int, depth int) {
		if len(list) <= 1 {
			out = append(out, list...)
			return
		}
		var zero, one []int
		flush := func() {
			if len(zero) > 0 {
				place(zero, depth+1)
			}
			if len(one) > 0 {
				place(one, depth+1)
			}
			zero, one = nil, nil
		}
		for _, i := range list {
			c := covers[i]
			if c.Bits() <= depth {
				// The rule's cover is this node: it nests with every rule
				// below, so the rules before it and after it stay so.
				flush()
				out = append(out, i)
				continue
			}
			if addrBit(c.Addr(), depth) == 0 {
				zero = append(zero, i)
			} else {
				one = append(one, i)
			}
		}
		flush()
	}
	place(all, 0)
	return out
}

// coverOf returns the longest prefix that contains every prefix in ps, the
// whole family for nil.
func coverOf(ps []netip.Prefix, f int) netip.Prefix {
	if len(ps) == 0 {
		return rootPrefix(f)
	}
	a := ps[0].Addr()
	bits := ps[0].Bits()
	for _, p := range ps[1:] {
		if p.Bits() < bits {
			bits = p.Bits()
		}
		for i := 0; i < bits; i++ {
			if addrBit(a, i) != addrBit(p.Addr(), i) {
				bits = i
				break
			}
		}
	}
	return netip.PrefixFrom(a, bits).Masked()
}

// addrBit returns bit i of a, counting from the most significant.
func addrBit(a netip.Addr, i int) int {
	if a.Is4() {
		b := a.As4()
		return int(b[i/8]>>(7-i%8)) & 1
	}
	b := a.As16()
	return int(b[i/8]>>(7-i%8)) & 1
}

// permute reorders the parallel slices of an engine's rules by order.
func permute(order []int, index []int32, action []Action, srcs, dsts [][]netip.Prefix, sel []*Rule) {
	index2 := make([]int32, len(order))
	action2 := make([]Action, len(order))
	srcs2 := make([][]netip.Prefix, len(order))
	dsts2 := make([][]netip.Prefix, len(order))
	sel2 := make([]*Rule, len(order))
	for to, from := range order {
		index2[to], action2[to], srcs2[to], dsts2[to], sel2[to] = index[from], action[from], srcs[from], dsts[from], sel[from]
	}
	copy(index, index2)
	copy(action, action2)
	copy(srcs, srcs2)
	copy(dsts, dsts2)
	copy(sel, sel2)
}
