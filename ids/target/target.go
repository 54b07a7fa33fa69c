// Package target maps destination hosts to the behaviour an engine must
// model for them, for target-based reassembly: a table of address
// prefixes, each with a policy, the longest prefix holding an address
// deciding, and a default for the rest. The IP defragmenter and the TCP
// reassembler (ids/defrag, ids/stream) each keep one, of their own policy
// type, built from the same configured list of hosts.
//
// It knows nothing of what the policies mean.
package target

import (
	"iter"
	"net/netip"

	"github.com/gaissmai/bart"
)

// Table chooses a policy for each destination: the policy of the longest
// prefix that holds the destination address, else the default. Build it
// completely, then share it: it is read without a lock.
type Table[P any] struct {
	def   P
	table bart.Table[P]
}

// New returns a table whose every destination gets def.
func New[P any](def P) *Table[P] {
	return &Table[P]{def: def}
}

// Set gives the destinations in prefix the policy p; a longer prefix wins
// over a shorter one, whatever the order of the calls. An IPv4-mapped IPv6
// prefix is not an IPv4 one: give IPv4 prefixes as IPv4.
func (t *Table[P]) Set(prefix netip.Prefix, p P) {
	t.table.Insert(prefix.Masked(), p)
}

// Default returns the policy of destinations that no prefix holds.
func (t *Table[P]) Default() P { return t.def }

// Lookup returns the policy for destination dst (an IPv4-mapped address is
// looked up as IPv4). A nil table gives the zero policy.
func (t *Table[P]) Lookup(dst netip.Addr) P {
	if t == nil {
		var zero P
		return zero
	}
	if p, ok := t.table.Lookup(dst.Unmap()); ok {
		return p
	}
	return t.def
}

// All yields every prefix given a policy by Set, with its policy (not
// the default), in no particular order: a caller that needs a bound over
// the table (the largest hop count) takes it once, when the table is
// built.
func (t *Table[P]) All() iter.Seq2[netip.Prefix, P] { return t.table.All() }
