// Package router owns what makes rampart's gateway a router rather than a
// bump in the wire: the addresses of its two interfaces (lan and wan),
// the route table (the connected prefixes of those addresses and static
// routes, longest prefix match, with Linux's local, broadcast and martian
// entries beside them), the neighbour cache (ARP for IPv4, neighbour
// discovery for IPv6; reachability states after Linux's NUD, simplified),
// and the router's own answers: ARP replies and neighbour advertisements
// for its addresses, echo replies, ICMP time exceeded, fragmentation
// needed and packet too big, destination unreachable, and resets for its
// closed ports, each bounded by rate limits after Linux's icmp_ratelimit.
//
// A frame goes through it in three steps, around the gateway's pipeline:
//
//   - Forwarder.Ingress takes what is the router's alone (ARP, neighbour
//     discovery, frames for other hosts, martians, packets with no route
//     or no TTL left, packets too big for the link with DF set) and says
//     where the rest goes: a Hop, out of a side towards a next hop, or to
//     the router itself.
//   - The pipeline (connection tracking, the policy, and what else the
//     gateway runs) judges the packet with its in and out sides known, as
//     it judges a bridged one.
//   - Forwarder.Forward sends a packet the pipeline let through: TTL
//     decremented, fragmented when it is too large and may be, handed to
//     its next hop's link-layer address, resolved first if need be (the
//     packet waits in a small queue). Forwarder.Deliver answers one that
//     was addressed to the router.
//
// The cache learns a neighbour's link-layer address only from an answer
// to a request of its own: ARP replies and advertisements nobody asked for,
// gratuitous announcements and the sender fields of requests never enter
// it or change it; a claim that contradicts a cached address makes the
// router check it with a unicast probe to the address it knows.
//
// It refuses to know about policy, connection state and address
// translation, and neither reads from nor writes to the network: frames
// come from the caller and leave through the caller's Sender (and, for the
// retransmissions of Sweep, through Config.Transmit).
package router
