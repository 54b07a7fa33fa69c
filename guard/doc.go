// Package guard is the gateway's first line against denial of service:
// what runs on a packet before connection tracking may spend state on it.
//
// It owns
//   - source address validation: on the wan side, sources that are
//     inside prefixes, the gateway's own addresses, or special-purpose
//     ranges no Internet host sends from (RFC 6890); on the lan side,
//     sources that are not inside prefixes (egress filtering); a strict
//     reverse-path check where a router says which side a source lives on;
//   - the logic-attack filters, each counted by reason: LAND, impossible
//     TCP flag combinations, IP source routes, ICMP redirects and source
//     quench, neighbour discovery that crossed a router, smurf (an echo
//     request to a broadcast or multicast address); and the names of the
//     defragmenter's refusals that are attacks (ping of death, teardrop
//     and other overlapping fragments, tiny first fragments), whose
//     counts it keeps with its own;
//   - rate limits whose memory does not grow with the sources an attacker
//     can forge: per-source new connections and ICMP, per-destination
//     SYNs, in fixed-size sketches (GCRA buckets, count-min style);
//   - feature rules: a protocol, ports, TCP flags or a payload prefix,
//     dropped or rate-limited;
//   - the SYN proxy with SYN cookies (RFC 4987): it answers a SYN to a
//     protected destination itself with a SYN/ACK whose initial sequence
//     number is a keyed MAC (SipHash-2-4 with rotating keys), keeps no
//     state for it, and only when the client's ACK carries a valid cookie
//     opens the server's side with the client's options and splices the
//     two: the translation of sequence numbers, timestamps, SACK blocks
//     and windows lives in the connection's conntrack entry
//     (conntrack.Splice), as Linux's seqadj and synproxy extensions keep
//     it. Modes: off, always, or auto, engaged per destination while its
//     half-open connections are many, with hysteresis.
//
// It refuses to know about policy (the gateway asks the policy before the
// proxy answers or opens anything), connection state beyond the splice it
// stores in conntrack, and packet I/O: it builds the frames the proxy
// sends into the caller's buffers and the gateway sends them. Decoding is
// package packet's, reassembly ids/defrag's.
package guard
