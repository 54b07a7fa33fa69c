// Package packet decodes network frames in place into a reusable Parsed
// value, verifies and incrementally updates their checksums, rewrites
// addresses and ports for NAT, translates TCP sequence numbers, timestamps
// and windows for a SYN proxy's spliced connections, and builds the
// packets the gateway originates itself: TCP resets and ICMP destination
// unreachables when it rejects traffic; the segments of a SYN proxy (a
// SYN/ACK in the server's name, the SYN and ACK it opens the server's side
// with) with their TCP options; and as a router the TTL decrement and
// Ethernet rewrite of forwarded packets, ARP requests and replies,
// neighbour solicitations and advertisements (and the reading of those it
// receives), ICMP time exceeded, fragmentation needed and packet too big,
// echo replies, and the fragments of an IPv4 packet too large for a link.
//
// It owns the wire formats of Ethernet II with up to two VLAN tags
// (802.1Q, 802.1ad), ARP for IPv4 over Ethernet, IPv4 with options, IPv6
// with its extension header chain, TCP with its options, UDP, ICMPv4 and
// ICMPv6, including one level of the packet quoted inside an ICMP error.
// Decoding never allocates and never panics: the first malformation found
// is reported in Parsed.Invalid with the offset where it was found, and
// well-formed but suspicious packets (impossible TCP flag combinations,
// LAND, source routing, UDP surplus bytes, ICMP errors about ICMP errors)
// are reported as Anomaly bits.
//
// It refuses to know about policy, state and applications: whether an
// invalid or anomalous packet is dropped, logged or passed is for guard
// and firewall to decide; fragments are described but never reassembled
// (ids/defrag does that); connection state, NAT mappings and everything
// above the transport header live in other packages. It does not read
// from or write to the network.
package packet
