// Package cache is the resolver's memory: an RRset cache, an RFC 2308
// negative cache and a wire-form answer cache for the hit path.
//
// # What it owns
//
//   - RRsets keyed by (owner name, type, class), compared without regard to
//     ASCII case, stored with their covering RRSIGs and a Rank: the RFC 2181
//     §5.4.1 credibility of the section the data came from plus its DNSSEC
//     status. An unexpired RRset is only replaced by one of equal or higher
//     Rank (see Rank.Compare).
//   - Negative answers: NXDOMAIN for a name (covering every type) and NODATA
//     for (name, type), with the SOA and any NSEC/NSEC3/RRSIG records that go
//     into the authority section of a reply. The negative TTL is
//     min(SOA TTL, SOA MINIMUM) as RFC 2308 §5 asks.
//   - Final responses in wire form. PutAnswer packs a response once;
//     AnswerFromWire serves later queries for the same (qname, qtype,
//     qclass, DO, CD) by copying bytes, patching ID, question case (so 0x20
//     randomisation is echoed), TTLs, RD/CD and the OPT record, with no
//     allocation and no exclusive lock.
//   - Time: every read returns the remaining TTL, computed from the caller's
//     clock (Config.Clock, or the now argument), so tests never sleep.
//     Serve-stale (RFC 8767) and a one-shot prefetch signal in the last 10%
//     of a TTL are reported to the caller, which decides what to do.
//   - Memory: Config.MaxBytes bounds the real size of stored entries plus a
//     measured per-entry overhead. The cache is split into shards by a keyed
//     hash of the owner name; each shard evicts with S3-FIFO (a small
//     probationary FIFO, a main FIFO with reinsertion and a ghost filter),
//     dropping expired entries before live ones.
//
// # What it refuses to know about
//
// The cache does not resolve, validate or decide what is true. It does not
// check bailiwick, does not follow CNAMEs, does not synthesise answers from
// NSEC records (RFC 8198) and does not treat an NXDOMAIN as covering the
// names below it (RFC 8020): those are the resolver's and the validator's
// decisions, made before data reaches Put. It does not know about sockets,
// truncation or EDNS options such as cookies and padding: AnswerFromWire
// answers only plain queries and otherwise declines, leaving the slow path
// to handle anything unusual.
//
// # Use from a resolver and a server
//
// The resolver and the server each define the interface they consume;
// ResolverView implements dns/resolver's Cache (translating its RFC 2181
// ranks into this package's) and ServerView the server's Cache, so that a
// program wires them as
//
//	c, _ := cache.New(cache.Config{MaxBytes: size})
//	res, _ := resolver.New(resolver.Config{Cache: c.ResolverView()})
//	srv, _ := server.New(server.Config{Cache: c.ServerView(), Resolver: res})
//
// The server calls AnswerFromWire (through its view) before handing a query
// to the resolver. Put methods return ErrLowerRank or ErrNotCacheable
// (wrapped, with the reason) for data the cache declines by policy; other
// errors mean the input was malformed.
package cache
