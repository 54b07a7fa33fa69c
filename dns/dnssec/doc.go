// Package dnssec validates DNSSEC for rampart's recursive resolver: the
// chain of trust from a trust anchor through DS and DNSKEY RRsets (RFC
// 4033, 4034, 4035 with the RFC 6840 clarifications), RRSIG checks with
// TTL capping and wildcard detection, and the proofs of non-existence made
// of NSEC and NSEC3 records (RFC 5155, with the RFC 9276 iteration limits):
// NXDOMAIN, NODATA, wildcard answers and unsigned delegations, plus the
// RFC 8198 use of cached proofs (Synthesize). Results carry RFC 8914
// Extended DNS Error codes and a reason for the log.
//
// It owns trust anchors (ParseAnchors reads Unbound-style trust-anchor
// files; RootAnchors are IANA's, the default), the validation logic, and
// the work limits against KeyTrap (CVE-2023-50387) and NSEC3 hash
// exhaustion (CVE-2023-50868): a per-client-query Budget plus per-call
// limits on signature checks, key-tag collisions and NSEC3 hashes. The
// cryptographic primitives (RRSIG.Verify, DNSKEY.ToDS) and the wire format
// belong to github.com/miekg/dns, except RSA signatures by keys whose
// public exponent exceeds what crypto/rsa takes (2^31-1; nic.cz. signs
// with 2^32+1), which rsa.go verifies with math/big.
//
// The choices where the RFCs leave room: RSA/SHA-1 (5, 7), DSA, GOST and
// Ed448 (16, which miekg/dns lacks) count as unsupported, so zones that
// depend on them are Insecure. NSEC3 records with more than 150 iterations
// make a proof Insecure with EDE 27 and more than 2500 Bogus with EDE 27
// (RFC 9276 section 3.2 allows both; BIND and Unbound use 150 for the
// first), judged after their signatures and before any hashing. Every
// NSEC and NSEC3 record of the zone in a response must validate, as in
// Unbound, and NXDOMAIN or a wildcard answer in an NSEC3 opt-out span is
// Insecure. Signature times get Unbound's skew: 10% of the validity
// period, between one hour and one day.
//
// It refuses to know about the network, the walk down the hierarchy, caching
// and time-to-live bookkeeping beyond the TTL a result permits: the
// validating layer (dns/validate) fetches DNSKEY, DS and denial records
// through the iterative resolver (dns/resolver), calls the Validator step by
// step (VerifyDNSKEY at each zone, VerifyRRset for each answer, a Prove*
// call for each negative answer or wildcard expansion), caches KeySets, and
// decides what to tell the client. RFC 5011 trust anchor rollover is left to
// the operator's file.
package dnssec
