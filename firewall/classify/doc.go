// Package classify owns the firewall's per-packet decision: it compiles an
// ordered list of rules into a classifier that, given the header fields of
// a packet (a Key), returns the first rule that matches and its action, or
// the default for the packet's direction.
//
// Compiled is the classifier for the packet path. It uses the bit-vector
// scheme of Lakshman and Stiliadis: for every field a lookup structure maps
// the packet's value to the set of rules that accept it, as a bitmap in rule
// order, and the first bit set in all the bitmaps is the answer. Addresses
// are looked up in multibit tries (16-8-8 strides, leaf-pushed) whose
// leaves are the longest matching prefix's class, ports in two-level tables
// of the elementary intervals the rules' ranges cut, and the one-byte fields
// (interfaces, protocol, TCP flags, ICMP type and code) are folded into one
// field by recursive flow classification's cross-products, so that a lookup
// intersects five bitmaps. The bitmaps carry an aggregate (one bit per
// 64-rule word, Baboescu and Varghese's ABV) so the intersection skips the
// words that cannot match and stops at the first hit; rules get their bits
// in an order that keeps rules with nearby destinations together where
// first-match semantics allow it, which keeps the aggregates sparse (see
// clusterOrder). Rules are split by
// direction and address family before any of this, since every packet has
// exactly one of each. Lookup allocates nothing and takes no locks; a
// Compiled is immutable and safe for concurrent use. Its memory grows with
// the number of rules times the number of distinct prefixes and port
// intervals (16 MiB for 10,000 ClassBench ACL rules); Config bounds it.
//
// Linear is the reference: it tries the rules in order. The property tests
// check that the two agree on random rule sets and packets.
//
// Matching is literal: each field of a Rule is compared with the same field
// of the Key. The gateway leaves fields that do not apply to a packet at
// zero (ports of an ICMP packet, TCP flags of a UDP datagram), and
// FromPolicy adds the protocol constraints the rule language implies (ports
// mean TCP or UDP, flags mean TCP), so a literal match is the right one.
//
// Key.Dir is set by the gateway: In for a packet that arrived on an outside
// interface or is addressed to the gateway itself, Out for one that leaves
// by an outside interface or comes from the gateway, Routed for one
// forwarded between inside interfaces. InIface and OutIface carry the
// interface indices the caller chose when compiling (see Interfaces), with
// IfaceLocal standing for the gateway's own stack.
//
// Limiter keeps the rate state behind the Limit action, with bounded memory.
//
// The package refuses to know about packet bytes, connection state and the
// rule language's syntax: callers decode packets into Keys, conntrack
// decides before the classifier for established flows, and policy parses.
package classify
