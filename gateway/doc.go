// Package gateway is the packet pipeline of rampart's firewall: it joins the
// datapath (live AF_PACKET ports or a capture file), packet decoding, the
// stateful firewall (connection tracking, the compiled ufw-style policy and
// the limit tracker) and hands each frame's verdict back to the datapath.
// The same Engine runs inline in the bridge and offline in `rampart inspect`,
// so there is no second implementation for captures.
//
// Fragments are reassembled first (package ids/defrag, dropping
// overlapping datagrams by default): a fragmented datagram is judged as
// one packet, and if it passes its original fragments are forwarded
// unchanged.
//
// Before a packet may touch connection state its checksums are verified
// (the IPv4 header's, and the transport's unless the kernel says an
// offload owns it): a packet its destination would discard must neither
// create nor change an entry. Entries are bound to the port their first
// packet came in on and to the frame's VLANs.
//
// The order of checks follows ufw's before.rules: malformed frames and
// packets that connection tracking finds invalid are dropped first, packets
// of established and related connections pass, and only packets that would
// start a new connection reach the policy. A policy reload swaps the
// compiled rules atomically and cuts established connections that the new
// policy no longer allows.
//
// In router mode (Config.Router) the gateway is a router between its two
// interfaces: package router takes each frame first (ARP, neighbour
// discovery, pings of the gateway's own addresses, the route) and sends
// what the pipeline lets through (TTL, MTU, the next hop's link-layer
// address). Connection tracking and the policy run on routed packets
// exactly as on bridged ones; address translation, when it comes, rewrites
// a packet between the verdict and the router (Worker.pass).
//
// The package owns no protocol knowledge of its own: decoding is package
// packet's, state is conntrack's, rules are policy's and classify's.
package gateway
