// Package lab builds real test networks out of Linux network namespaces and
// veth pairs, from a declarative topology: hosts with interfaces, addresses
// and routes, joined by bridged network segments. It runs commands, Go
// functions and background processes inside a host, captures what crosses an
// interface to a pcap file, and crafts arbitrary packets (any source, TTL,
// flags, fragments, overlapping segments) for the attack scenarios.
//
// Everything a run creates carries a per-run prefix ("rp" and four hex
// digits) and is removed on success, on failure and on interrupt; Sweep
// removes what a crashed run left. Lab hosts never get a link to the
// machine's real interfaces and never a route out: a topology may only route
// through addresses the lab itself assigns, and Validate refuses anything
// else before a single namespace is created.
//
// The package knows nothing about rampart's engines; scenarios that exercise
// them live in package lab/scenario and drive the rampart binary.
package lab
