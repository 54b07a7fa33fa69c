// Package stream follows TCP connections and reassembles their byte
// streams as the destination host will, for the IDS: per flow and
// direction, in order, with the overlaps resolved by the destination's
// policy (first, last, bsd, linux, old-linux, windows, vista, solaris,
// hpux10, hpux11, irix, macos, after Novak and Sturges' "Target-Based TCP
// Stream Reassembly", chosen per destination prefix), and with the TCP
// state that decides what a host accepts: the handshake, sequence and
// acknowledgement numbers, receive windows with window scaling, timestamps
// (PAWS), resets and FINs by policy, and flows picked up midstream.
//
// Two modes. Detect (beside the traffic) hands data on once the receiver
// acknowledges it, so that overlapping segments are resolved first, and
// reports every ambiguity as an event. Prevent (in line, the gateway)
// hands data on before the packet that completes it is forwarded, and
// normalises what it forwards after Handley, Paxson and Kreibich: bytes
// that overlap bytes already forwarded are rewritten to them (checksum
// adjusted incrementally), retransmissions that contradict them are
// dropped, urgent pointers are cleared, and segments a host would discard
// (outside the window, failing PAWS, with an impossible acknowledgement,
// resets it would not take) are dropped, so that the destination receives
// exactly the bytes inspected, whatever its own policy.
//
// It owns the flows' TCP state and the bounds on what they hold: a depth
// per direction, a bound on what one direction buffers and on how long
// data waits behind a hole, a memory cap with the heaviest flow paying, a
// bounded flow table with time-outs, typed events and counters. Buffers
// are pooled: steady-state reassembly allocates nothing.
//
// It knows nothing of what the bytes mean: a Consumer (the detection
// engine, the application-layer parsers) receives them. It takes decoded
// packets (package packet) and leaves IP reassembly to package
// ids/defrag, checksums and TTLs to its caller (package ids decides which
// packets reach their destination before it hands them on).
package stream
