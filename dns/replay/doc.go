// Package replay runs resolver scenarios written in the .rpl format of
// Unbound's testbound and CZ-NIC's Deckard against an in-process resolver,
// with no network and no waiting.
//
// The package owns three things: the scenario parser ([Parse]), the scripted
// upstream network that answers the resolver from a scenario's RANGE and
// STEP blocks ([Env].Transport), and the step driver that feeds client
// queries to the resolver and judges its answers ([Scenario.Run], [Run]).
// Time is simulated: the [Env].Clock starts at the scenario's
// val-override-date (or [DefaultEpoch]) and moves only on TIME_PASSES steps.
//
// It refuses to know how a resolver works. It does not import the resolver,
// cache or validator packages; a resolver reaches it through the [Resolver]
// interface built by a [Factory], and optional features (DNSSEC validation,
// cache flushing) are discovered through small optional interfaces
// ([DNSSECValidator], [MessageCache]). Scenarios that need a feature the
// resolver lacks are reported as skipped, never as passed.
//
// Where testbound and Deckard disagree the package follows testbound, with
// these deliberate exceptions, all made so that a resolver that behaves
// correctly on a real network also passes here:
//   - RR sections are compared as multisets (order-insensitive, as Deckard
//     does); owner and RDATA names compare case-insensitively; TTLs are
//     compared only when the entry says MATCH ttl.
//   - Message IDs are never compared (the resolver picks random IDs).
//   - MATCH all compares no EDNS at all, as Deckard's does (its "all" is
//     opcode, qtype, qname, flags, rcode and the three sections): the DO
//     bit echoes the client's query (RFC 3225), which many scenarios do
//     not write down, and the UDP payload size is resolver configuration.
//     MATCH DO, noedns and edns compare EDNS when a scenario asks.
//   - ADJUST copy_id also copies the letter case of the query name into the
//     reply's question when the names are equal ignoring case, so that a
//     resolver using 0x20 randomisation accepts scripted replies.
//   - Upstream queries are answered while the QUERY step that caused them
//     is running. Ranges are selected by the number of the next step (the
//     moment testbound would be at), falling back to the QUERY step's own
//     number (Deckard's rule) when no range matches at the next step. Ranges
//     are tried from the last defined to the first, as in testbound.
//
// Within those rules an upstream query is handled as testbound's event loop
// would: a pending CHECK_OUT_QUERY step that matches it is consumed first,
// then the ranges are searched, then the next step applies (REPLY answers,
// TIMEOUT and ERROR fail the query, TIME_PASSES, NOTHING and TRAFFIC pass
// and the search repeats). Anything else leaves the query unanswered, which
// the resolver sees as a time-out. A CHECK_OUT_QUERY step the driver
// reaches after the resolver has answered is checked against the upstream
// queries sent and not yet accounted for; a TIMEOUT or ERROR step there
// accounts for one that got no reply; a REPLY step there fails.
//
// The configuration section is read line by line as "key: value"; a ';'
// starts a comment (except in Deckard's features line, where it separates
// pairs), and so does a '#' at the start of a word. These are the keys of
// Deckard's iter_ and val_ scenarios and what becomes of them:
//   - stub-addr (the root server's address, Config.RootHints) and stub-name
//     (its name, Config.RootName): the resolver's root hints.
//   - trust-anchor and trust-anchor-file: Config.TrustAnchors and
//     TrustAnchorFiles; with any of them the scenario needs a resolver
//     that validates (DNSSECValidator), and the factory validates from
//     those anchors only.
//   - val-override-date and val-override-timestamp: where Env.Clock
//     starts, which is also the clock signatures are judged by.
//   - query-minimization (Deckard) and qname-minimisation (Unbound):
//     Config.QNameMinimisation.
//   - do-ip4 and do-ip6: Config.DoIP4 and DoIP6 (the factory stops using
//     IPv6 name server addresses when do-ip6 is no).
//   - features (Deckard's min_ttl and max_ttl) and cache-min-ttl and
//     cache-max-ttl (Unbound): Config.CacheMinTTL and CacheMaxTTL.
//   - harden-*: Config.Harden. harden-glue: no asks for out-of-zone glue
//     to be trusted, which rampart does not offer; a scenario that depends
//     on it fails and is listed in the repository's expected failures.
//
// Every line, known or not, is kept in Config.Options, so that a factory
// can honour other keys; unknown keys are otherwise ignored, as they
// configure the peer resolvers the suites were written for.
//
// Not replayed: ADJUST sleep and packet_sleep (nothing waits), the extra
// packets of EXTRA_PACKET (the transport returns one message), the client
// address of QUERY ... ADDRESS, TSIG, testbound macros (ASSIGN, EVAL,
// ${...}), CHECK_AUTOTRUST, CHECK_TEMPFILE and INFRA_RTT. Scenarios that
// depend on the last five are skipped.
package replay
