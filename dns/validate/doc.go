// Package validate is the DNSSEC validating layer of rampart's caching
// recursive resolver, in the manner of Unbound's validator module above its
// iterator: dns/server asks it, it asks the iterative resolver (always with
// DO), and it decides what the client is told. A Secure answer carries the
// AD bit, an Insecure or Indeterminate one does not, and a Bogus one
// becomes SERVFAIL with an RFC 8914 Extended DNS Error, so that forged data
// never reaches a client as NOERROR nor a cache as valid.
//
// It owns the walk of the chain of trust (RFC 4035 sections 4 and 5, RFC
// 6840): from the closest trust anchor down through the zone cuts to the
// zone that signed each RRset, fetching DS and DNSKEY RRsets through the
// inner resolver, finding where the chain provably goes insecure (an NSEC
// or NSEC3 proof that a delegation has no DS), and validating every RRset
// of the answer (each CNAME or DNAME link on its own), wildcard expansions
// and negative answers. It also owns the bounded, TTL-aware cache of what
// the walk learnt per zone (validated key sets, insecure cuts, names that
// are no cut), the per-query work limits, the stripping of DNSSEC records
// for clients without DO, and the validation counters.
//
// What it does with what it validated: validated TTLs leave capped by the
// RRSIGs' Original TTL and expiry (RFC 4035 section 5.3.3); the NSEC and
// NSEC3 records of validated denials are kept, bounded, to answer NXDOMAIN
// and NODATA for other names in their spans without asking (RFC 8198,
// aggressive.go); data that fails validation is asked for again through an
// inner resolver that can (Retrier: the bogus records marked in its cache,
// the servers that repeat them passed over), and an answer still bogus is
// remembered for a minute (Unbound's val-bogus-ttl). The DS and DNSKEY
// fetches of one client query share its budget of upstream queries with
// the answer (Budgeter).
//
// It refuses to know about cryptography and proofs (dns/dnssec does them
// without I/O), about how upstream servers are found and asked (the Inner
// resolver, dns/resolver in production), about clients and listeners
// (dns/server), caching of answers (dns/cache), and about where trust
// anchors come from (the caller loads them into the dnssec.Validator).
package validate
