// Package conntrack tracks connections for the stateful firewall: it
// decides whether a packet starts a flow (New), belongs to one
// (Established), is an ICMP error about one (Related), or fits none
// (Invalid).
//
// It owns the connection table and everything about a flow's life: the
// TCP state machine and window tracking (a port of Linux's
// nf_conntrack_proto_tcp, itself after Guido van Rooij's "Real Stateful
// TCP Packet Filtering in IP Filter"), the SCTP association and DCCP
// connection state machines of nf_conntrack_proto_sctp and _dccp (SCTP's
// verification tags learnt from INIT and INIT ACK and checked on every
// packet), UDP and UDP-Lite, ICMP and ICMPv6 query tracking, the matching
// of ICMP errors to the flow they quote, the timeouts, the bound on the
// number of entries and what happens under pressure, and the counters
// that describe all of this.
//
// An entry's key is the flow key plus a zone (the gateway's VLAN IDs, as
// Linux's conntrack zones) and the side of the firewall its first packet
// arrived on: a reply belongs to the entry only when it arrives on the
// other side (pf's if-bound states), so a forged "reply" sent from the
// client's side cannot answer a connection.
//
// Under pressure: sources are bounded in the entries they hold, per
// address and per prefix (pf's max-src-states, Linux's connlimit); above
// a fill level every time-out is scaled down (pf's adaptive time-outs);
// a full table makes room with expired entries first, then the oldest
// unassured ones (Linux's early_drop), and when none is left the entry
// idle longest, assured or not, so that no idle connection can hold a
// slot a new one needs.
//
// It refuses to know about policy, NAT, packet decoding and time (it
// takes SCTP's chunks and DCCP's header as package packet summarises
// them, already bounds-checked, and reads nothing from the wire). The
// gateway decodes a frame into a Packet; Lookup classifies it against
// the table; only if the policy accepts a New packet does the gateway
// call Create. A policy reload re-judges existing flows through Recheck.
// Addresses are never rewritten here: a NAT table keeps its own mapping
// and may key it by the entry's ID. The clock is injected, so a capture
// replay runs on capture time.
//
// The table is sharded: both directions of a flow hash to the same
// shard, each shard has its own lock and a preallocated slab of entries,
// so the per-packet path takes one uncontended lock and allocates
// nothing.
package conntrack
