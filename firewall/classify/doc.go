// Package classify owns the firewall's per-packet decision: it compiles an
// ordered list of rules into a classifier that, given the header fields of
// a packet (a Key), returns the first rule that matches and its action, or
// the default for the packet's direction.
//
// Compiled is the classifier for the packet path. Rules are split by
// direction and address family first, since every packet has exactly one
// of each, and each pair gets an engine of its own.
//
// An IPv4 engine is a decision tree in the manner of HiCuts (Gupta and
// McKeown): every rule becomes a box, one range per field (source and
// destination address, ports, protocol; a rule with lists becomes one box
// per combination), and a node cuts one field of its region into 2^k equal
// parts, until a leaf holds at most six boxes, which the lookup checks in
// rule order; the first that matches is the answer. A lookup is a few
// dependent loads, one per level, and one short scan, and what it touches
// grows with the depth of the tree rather than with the number of rules,
// which is why it replaced bit vectors here: on 10,000 ClassBench ACL rules
// the bit vectors were 16 MiB, and their lookup waited on cache misses in
// five fields' bitmaps, three and a half times slower than at 100 rules;
// the tree takes 2.2 MiB, and a lookup 1.6 times as long as at 100 rules
// (docs/benchmarks.md). What keeps it small is, from HiCuts, region
// compaction (a node's region shrinks to the block its boxes occupy, so
// that cuts fall where the rules are) and the
// pruning of boxes behind one that covers a node; children with the same
// boxes share a subtree; and the choice of cut, which weighs a cut's
// memory (child references and the distinct children's boxes, up to four
// times the node's) against the expected size of the child a packet lands
// in (see chooseCut). Separating rules into several trees by which fields
// are wide (EffiCuts) was measured and lost: every tree is one more walk per
// lookup, and compaction and sharing already keep wide rules from
// multiplying. The one-byte fields (interfaces, TCP flags, ICMP type and
// code) are rare in rules and not cut; a box that constrains them carries a
// flag, and the leaf checks them too.
//
// An IPv6 engine, and an IPv4 engine whose tree would outgrow its bound
// (rules whose boxes overlap so that cuts keep replicating them, or whose
// lists multiply into too many boxes), uses the bit-vector scheme of
// Lakshman and Stiliadis: for every field a lookup structure maps the
// packet's value to the set of rules that accept it, as a bitmap in rule
// order, and the first bit set in all the bitmaps is the answer. Addresses
// are looked up in multibit tries (16-8-8 strides, leaf-pushed) whose
// leaves are the longest matching prefix's class, ports in two-level
// tables of the elementary intervals the rules' ranges cut, and the
// one-byte fields are folded into one field by recursive flow
// classification's cross-products, so that a lookup intersects five
// bitmaps. The bitmaps carry an aggregate (one bit per 64-rule word,
// Baboescu and Varghese's ABV) so the intersection skips the words that
// cannot match and stops at the first hit; rules get their bits in an
// order that keeps rules with nearby destinations together where
// first-match semantics allow it, which keeps the aggregates sparse (see
// clusterOrder). Its memory grows with the number of rules times the
// number of distinct prefixes and port intervals, but not with how the
// rules overlap. IPv6 keeps bit vectors because the tree's boxes hold
// 32-bit fields; a tree over an IPv6 address's four 32-bit words is the
// way to extend it, should IPv6 rule sets grow large.
//
// Lookup allocates nothing and takes no locks; a Compiled is immutable and
// safe for concurrent use. Config bounds the memory Compile may use, and
// Compile refuses a rule set that needs more before it allocates it;
// Stats reports the sizes.
//
// Linear is the reference: it tries the rules in order. The property tests
// check that the two agree on random rule sets and packets.
//
// Matching is literal: each field of a Rule is compared with the same field
// of the Key. The gateway leaves fields that do not apply to a packet at
// zero (TCP flags of a UDP datagram, the ICMP type of a TCP segment) and
// passes the packet's flow key as the decoder made it, so the ports of an
// ICMP query hold its identifier (package flow's convention); FromPolicy
// adds the protocol constraints the rule language implies (ports mean TCP
// or UDP, flags mean TCP), so no rule of a policy reads an ICMP
// identifier as a port, and a literal match is the right one.
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
