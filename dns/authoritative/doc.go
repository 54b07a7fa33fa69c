// Package authoritative serves DNS zones with authority: the lab's root, TLD
// and example zones, and any local zone an operator loads from a master file.
//
// It owns four things: loading and checking zone files (Zone, LoadZone,
// ParseZone), choosing the zone for a query name (Store), answering queries
// by the RFC 1034 section 4.3.2 algorithm with RFC 2308 negative answers,
// RFC 4592 wildcards and RFC 4035/5155 denial of existence (Store.Answer,
// Server.Handle), and signing zones with keys made on the fly (GenerateKey,
// SignZone) so tests and the lab can build a signed hierarchy. Server puts
// all of that on UDP and TCP sockets.
//
// It refuses to know about recursion, caching, validation of other
// servers' answers, zone transfers, dynamic update, TSIG and DNAME
// substitution: a DNAME record is served as plain data. A CNAME chain is
// followed across every zone the server is authoritative for, up to
// MaxCNAMEChain links; it stops at a delegation, where the resolver carries
// on. The wire format and the master-file syntax belong to
// github.com/miekg/dns.
package authoritative
