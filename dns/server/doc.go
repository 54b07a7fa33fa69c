// Package server is the resolver's front door: UDP and TCP listeners (several
// SO_REUSEPORT sockets per address so that every core reads), the access
// control list that keeps rampart from being an open resolver, the checks
// that answer malformed queries with FORMERR, and the hand-off of each query
// to the wire-form cache (the hit path, which allocates nothing) or to the
// resolver (the slow path, bounded in concurrency, run by workers that wait
// for the next query rather than a goroutine per query, and answered from
// the cache entry it has just stored, so that the first answer is the
// bytes of every later hit). It also serves the local
// control socket that `rampart resolver stats` and `flush` talk to.
//
// On Linux each UDP socket is read and answered in batches (recvmmsg and
// sendmmsg, up to 32 datagrams a call) into buffers allocated once, and
// the counters of a batch reach the shared Prometheus metrics in one add
// each: under load a cached answer costs a fraction of a syscall and no
// shared atomic. TuneMemory sets the collector for a process whose heap is
// mostly a long-lived cache: GOGC follows the live heap, so that a young
// cache is not collected dozens of times a second and a large one does not
// keep twice its size in headroom.
//
// It is a DNS cookie server (RFC 7873, with the interoperable server cookie
// of RFC 9018: SipHash-2-4 under a 128-bit secret from crypto/rand, or one
// shared by an anycast set). A query's cookie is judged once, on the wire,
// as none, client only, valid, invalid or malformed; only a malformed one is
// refused (FORMERR), the others are answered with a fresh or echoed server
// cookie, also on cache hits, where the option is appended to the cached
// answer's OPT record in place. A valid cookie proves the client's address
// (CookieVerdict.AddressProven), which exempts it from response rate
// limiting. It keeps no per-client cookie state and is no cookie client.
//
// It limits the rate of UDP responses as BIND's RRL does (RRLConfig), so
// that a flood of queries spoofed from a victim's address is not
// reflected, amplified, onto the victim: per account (client network and
// answer, the zone for negative answers, the network for errors) a rate
// of responses, every Slip-th limited answer sent truncated so that a
// real client retries over TCP, the rest dropped; the accounts live in a
// fixed-size table under a random hash seed. It counts the UDP octets
// received from and sent to each of the heaviest client networks (a
// bounded table), whose ratio is the amplification a reflection through
// the resolver would gain, and exports it as a metric.
//
// It bounds what one client can hold, a client being its network (a /24 or
// a /56 by default): the queries it has waiting for resolution (WaitLimit,
// more with a valid cookie; SERVFAIL beyond it), and its TCP connections
// (TCPPerSource); and it does not send a UDP answer that waited longer than
// DiscardTimeout. Together, as in Unbound 1.20, they stop a client from
// piling up answers to be released in one burst (DNSBomb, CVE-2024-33655)
// or holding every connection slot.
//
// It reads query bytes only through dns/wire's views.
//
// It owns no DNS data: answers come from the cache and the resolver, through
// the two small interfaces declared here.
package server
