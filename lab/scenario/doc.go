// Package scenario holds the lab's scenarios: the traffic and the attacks of
// the course, each run against a live lab with rampart's defences in place,
// each reporting what it tried, what defended, and what came of it. The demo
// is the list of scenarios that exist; it grows as capabilities land.
//
// Scenarios send traffic only between hosts of the lab they are given, and
// every loop in them is bounded in count and time.
package scenario
