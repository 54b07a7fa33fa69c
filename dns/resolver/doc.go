// Package resolver is the iterative resolution engine of rampart's caching
// recursive resolver.
//
// It owns the walk down the DNS hierarchy from the root hints: priming
// (RFC 8109), following referrals, choosing among a zone's name servers by
// measured round-trip time with back-off for unresponsive and lame servers
// (the infra cache), resolving name-server addresses that referrals do not
// carry as glue, following CNAME and DNAME chains, QNAME minimisation
// (RFC 9156, relaxed), EDNS0 and its fallbacks (TCP on truncation, no EDNS on
// FORMERR), the per-client-query budget of time and upstream queries, the
// de-duplication of identical work in flight, and the acceptance rules that
// decide which parts of an upstream response may reach the cache (question
// matching, bailiwick, RFC 2181 credibility ranks, glue only for the
// referral's name servers). It remembers, outside the cache and bounded,
// the servers of the zones it found there (the delegations memory, built
// from cached NS and address sets and never outliving them; Forget drops it
// when the cache is flushed), so that a name under a known zone costs no
// decoding of those sets. It also ships IANA's root hints and a parser for
// the named.root format.
//
// It owns the defences against cache poisoning, everything that decides
// whether an upstream answer is believed:
//   - matching (RFC 5452 §9): a CSPRNG query ID and source port (1024-65535)
//     per query, a connected UDP socket with DF set, the exact question;
//     malformed packets are discarded while the wait goes on (TuDoor);
//   - 0x20: the query name's letters in random case, echoed exactly; a
//     server is exempted only after it mangled case over TCP, and only for
//     InfraTTL, so that forged UDP answers cannot turn 0x20 off;
//   - DNS cookies as a client (RFC 7873, RFC 9018);
//   - spoof detection: a near miss (right address and port, wrong ID, case,
//     question or cookie) drops the UDP attempt for TCP and puts the name
//     under suspicion for SpoofHoldDown, during which it is asked over TCP
//     only and nothing from UDP is cached for it;
//   - bailiwick bounded by known zone cuts, so that a server of a parent and
//     a child zone speaks only for the zone it was asked about (MaginotDNS);
//     ranks enforced whatever the Cache does; delegations (NS sets and their
//     glue) never outliving the parent's (ghost and Phoenix domains);
//   - limits on the work one query causes: upstream queries, CNAME links,
//     tries per zone, NS records followed per delegation, glueless lookups
//     per delegation (NXNS), records per RRset.
//   - and, over all queries, a bound on the upstream queries in flight to
//     one zone's servers (FetchesPerZone), so that a flood of random names
//     under one zone cannot take every resolution slot.
//
// It refuses to know about clients and listeners (dns/server owns the wire
// towards clients, the ACL and server cookies), about how answers are stored
// for the hit path (dns/cache implements the Cache interface defined here;
// the in-package MemCache only lets the resolver work standalone), about
// DNSSEC validation (dns/validate above it, with dns/dnssec; this package
// only carries RRSIG, NSEC and NSEC3 records through when asked to), and
// about forwarding or the operating system's resolver: every answer comes
// from walking the hierarchy. The network is reached only through the
// Transport interface, and time only through Config.Clock (a clock.Clock),
// so that tests and the .rpl replayer can script both.
package resolver
