// Package defrag reassembles fragmented IPv4 and IPv6 datagrams, as the
// destination host would: where fragments overlap, the policy of the
// destination (first, last, bsd, bsd-right, linux, windows, solaris, after
// Novak's "Target-Based Fragmentation Reassembly") decides whose bytes
// count, or, under the drop policy, the whole datagram is discarded (RFC
// 5722), which is what a gateway should do.
//
// It owns the reassembly state and its bounds: datagrams keyed as RFC 791
// and RFC 8200 say (an IPv6 fragment's own next-header value plays no
// part), out-of-order fragments held until the datagram completes or
// times out, memory bounded per source and in total with eviction that
// charges the heaviest source, and counters and typed events for every
// anomaly (overlaps, duplicates, oversize datagrams, tiny first
// fragments, identification reuse). A completed Datagram gives the
// reassembled packet and the original fragments as they arrived, so a
// bump in the wire can judge the whole and forward the parts unchanged.
//
// It knows nothing of link layers beyond an offset, of policies beyond
// overlap resolution, or of what its caller does with the datagrams: the
// gateway (package gateway) and the IDS both drive it.
package defrag
